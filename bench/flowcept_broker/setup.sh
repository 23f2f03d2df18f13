#!/usr/bin/env bash
# setup.sh [VENV] -- the virtualenv of bench_flowcept_broker.py and
# bench/flowcept_growth/bench_flowcept_growth.py: Flowcept 1.0.3 with its
# Redis MQ and its embedded LMDB document database (MongoDB is not
# available here; its consumer and LMDB DAO import pandas), kept out of
# the test .venv (default bench-out/flowcept-broker-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-bench-out/flowcept-broker-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  "flowcept==1.0.3" redis lmdb pyyaml pandas
"$venv/bin/python" -c "import flowcept; print('flowcept', flowcept.__version__)"

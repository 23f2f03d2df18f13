#!/usr/bin/env bash
# setup.sh [VENV] -- makes a virtual environment of its own (default
# bench-out/flowcept-obs-venv) with Flowcept 1.0.3 and its MLflow and
# TensorBoard adapters (flowcept[mlflow,tensorboard]: SQLAlchemy, watchdog,
# tbparse) and redis (its adapters keep their "seen" sets in Redis), for
# bench_flowcept_observers.py. Kept out of .venv: Flowcept
# pins versions that other tests must not see.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-bench-out/flowcept-obs-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install -q --disable-pip-version-check \
  "flowcept[mlflow,tensorboard]==1.0.3" redis
"$venv/bin/python" -c "import flowcept; print('flowcept', flowcept.__version__)"

#!/usr/bin/env bash
# setup.sh [VENV] -- makes a virtual environment of its own (default
# bench-out/flowcept-venv) with Flowcept 1.0.3 and what its telemetry
# capture imports (psutil, py-cpuinfo), for bench_flowcept.py. Kept out of
# .venv: Flowcept pins versions that other tests must not see.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-bench-out/flowcept-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "flowcept==1.0.3" psutil py-cpuinfo
"$venv/bin/python" -c "import flowcept; print('flowcept', flowcept.__version__)"

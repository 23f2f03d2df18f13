#!/usr/bin/env bash
# setup.sh [VENV] -- the virtualenv for the Flowcept comparisons of
# bench_py_task.py and bench_py_dask.py: Flowcept 1.0.3 with its Dask
# adapter, on the Dask release Flowcept accepts (dask<=2024.10.0), kept out
# of the test .venv. mida itself is used from the build tree (PYTHONPATH),
# so the same venv runs all three Dask variants on one Dask version.
# Flowcept persists the way its "full-online" settings profile does --
# tasks published to its MQ (Redis, localhost:6379, which
# scripts/services.sh runs), Redis as its key-value DB, and its consumer
# inserting them into its document database while the workflow runs --
# with one change: MongoDB is not available here, so the document database
# is Flowcept's embedded LMDB backend. The settings file is written into
# the venv as $VENV/flowcept-settings.yaml (FLOWCEPT_SETTINGS_PATH).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${1:-bench-out/flowcept-dask-venv}
stamp=$venv/.stamp
want="flowcept==1.0.3 dask[distributed]==2024.10.0 redis lmdb pandas v3"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]
then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "flowcept[dask]==1.0.3" "dask[distributed]==2024.10.0" redis lmdb \
    pandas pyyaml
  echo "$want" >"$stamp"
fi
# The settings (rewritten each time, with absolute paths).
venv=$(cd "$venv" && pwd)
"$venv/bin/python" - "$venv/flowcept-settings.yaml" <<'PY'
import os, sys, yaml
import flowcept
sample = os.path.join(os.path.dirname(flowcept.__file__), "..", "resources",
                      "sample_settings.yaml")
with open(sample) as f:
    cfg = yaml.safe_load(f)
cfg["project"]["db_flush_mode"] = "online"          # full-online profile
cfg["project"]["debug"] = False
cfg["mq"]["enabled"] = True
cfg["kv_db"]["enabled"] = True
cfg["databases"]["mongodb"]["enabled"] = False      # no MongoDB here
cfg["databases"]["lmdb"]["enabled"] = True
cfg["databases"]["lmdb"]["path"] = os.path.join(os.path.dirname(
    os.path.abspath(sys.argv[1])), "flowcept_lmdb")
cfg["db_buffer"]["insertion_buffer_time_secs"] = 5
cfg["log"]["log_file_level"] = "disable"
cfg["log"]["log_stream_level"] = "error"
with open(sys.argv[1], "w") as f:
    yaml.safe_dump(cfg, f)
PY


"""Inside observed Dask (issue 14, item 3): under `mida run`, a Dask task
that writes a file and another that reads it are linked to that file
themselves, not only through the worker process that ran them: the worker's
TaskMeter tells the preload library which task each thread runs
(core/thread_task.h)."""

import os
import subprocess
import sys

import pytest

from preload_support import Run, build_dir

SCRIPT = r"""
import sys
from dask.distributed import Client, LocalCluster

def produce(path):
    with open(path, "w") as f:
        f.write("made by a dask task\n")
    return path

def consume(path):
    with open(path) as f:
        return len(f.read())

if __name__ == "__main__":
    out = sys.argv[1]
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                      dashboard_address=None) as c, Client(c) as client:
        made = client.submit(produce, out, key="produce-1")
        n = client.submit(consume, made, key="consume-1")
        assert n.result() == 20
"""


@pytest.mark.skipif(os.environ.get("MIDA_TEST_SCALE") == "sanitizer",
                    reason="Python under the ASan runtime: too slow here")
def test_dask_tasks_own_the_files_they_open(tmp_path):
    r = Run(tmp_path)
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    out = tmp_path / "made.txt"
    env = r.env(PYTHONPATH=os.pathsep.join(
        [str(build_dir() / "python")] +
        ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    mida = str(build_dir() / "src" / "cli" / "mida")
    p = subprocess.run([mida, "run", "--no-mlflow", "--", sys.executable,
                        str(script), str(out)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    rows = r.rows(
        "SELECT t.source_key, t.activity, td.role FROM task_data td"
        " JOIN task t ON t.id = td.task_id JOIN data d ON d.id = td.data_id"
        " WHERE d.uri = ?", "file://" + str(out))
    by_dask = {(key, role) for key, _, role in rows if key is not None}
    assert by_dask == {("produce-1", "generated"), ("consume-1", "used")}
    # ... and to the worker process that ran them.
    procs = {(act, role) for key, act, role in rows if key is None}
    assert {role for _, role in procs} == {"generated", "used"}
    # One version of the file links the two tasks.
    ids = r.rows("SELECT DISTINCT td.data_id FROM task_data td JOIN data d"
                 " ON d.id = td.data_id WHERE d.uri = ?",
                 "file://" + str(out))
    assert len(ids) == 1

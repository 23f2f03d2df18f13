"""Inside observed Dask (issue 14, item 3): under `mida run`, a Dask task
that writes a file and another that reads it are linked to that file
themselves, not only through the worker process that ran them: the worker's
TaskMeter tells the preload library which task each thread runs
(core/thread_task.h).

And a Dask program run by a Python that cannot import mida runs all the
same, unobserved, and says so: `mida run` preloads mida's preload file
(python/dask_preload/mida_dask_preload.py), by its path, rather than the
module mida.dask. Until 2026-12-07 the module name stopped such a
program's LocalCluster from starting ("RuntimeError: Cluster failed to
start: No module named 'mida'"): the build tree's `mida run` with no
PYTHONPATH, or a venv without mida, broke the program it observed."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from preload_support import Run, build_dir, clean_env, dask_preload_file, \
    mida_bin

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


UNOBSERVED_SCRIPT = r"""
import os
from dask.distributed import Client, LocalCluster

if __name__ == "__main__":
    print("scheduler pid", os.getpid())
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as c, Client(c) as client:
        print("result", client.submit(lambda x: x + 1, 1).result())
"""

UNOBSERVED = re.compile(
    r"^mida: this Dask process \(pid (\d+)\) is not observed: (.*) \(the "
    r"Python running it, (.*), cannot import mida; install it there, or use "
    r"mida run --no-dask\)$")


def without_mida(tmp_path):
    """The environment of a Python (this one) that cannot import mida: no
    PYTHONPATH; where mida is installed in it all the same, a package
    mida that raises ModuleNotFoundError shadows it."""
    env = clean_env()
    env.pop("PYTHONPATH", None)
    probe = subprocess.run([sys.executable, "-c", "import mida"], env=env,
                           capture_output=True, text=True, timeout=60)
    if probe.returncode == 0:
        shadow = tmp_path / "no-mida" / "mida"
        shadow.mkdir(parents=True)
        (shadow / "__init__.py").write_text(
            "raise ModuleNotFoundError(\"No module named 'mida'\", "
            "name='mida')\n")
        env["PYTHONPATH"] = str(shadow.parent)
    return env


@pytest.mark.skipif(os.environ.get("MIDA_TEST_SCALE") == "sanitizer",
                    reason="Python under the ASan runtime: too slow here")
def test_a_python_without_mida_runs_its_cluster_unobserved(tmp_path):
    r = Run(tmp_path)
    script = tmp_path / "pipeline.py"
    script.write_text(UNOBSERVED_SCRIPT)
    env = without_mida(tmp_path)
    env["MIDA_STORE"] = r.store
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--",
                        sys.executable, str(script)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    assert "Cluster failed to start" not in p.stderr
    out = dict(line.rsplit(" ", 1) for line in p.stdout.splitlines())
    assert out["result"] == "2"
    # The scheduler (in the script's process) and the worker each say,
    # once, that they are not observed, and why: one line each (Dask
    # imports the preload, then reloads it).
    said = [UNOBSERVED.match(line) for line in p.stderr.splitlines()
            if line.startswith("mida: this Dask process")]
    assert said and all(said), p.stderr
    pids = [m.group(1) for m in said]
    assert len(pids) == len(set(pids)) == 2, p.stderr
    assert out["scheduler pid"] in pids
    assert {m.group(2) for m in said} == {"No module named 'mida'"}
    assert {m.group(3) for m in said} == {sys.executable}
    # The command is a finished run; Dask's computation is not recorded.
    assert r.rows("SELECT status FROM workflow WHERE source = 'run'") == \
        [("FINISHED",)]
    assert r.rows("SELECT count(*) FROM workflow WHERE source = 'dask'") \
        == [(0,)]


@pytest.mark.parametrize("before, after", [
    (None, "{file}"),
    ("['other']", "['{file}', 'other']"),
    ("other", "['{file}', 'other']"),
    # Already there, in either form: not added again.
    ("mida.dask", "mida.dask"),
    ("['x', '{file}']", "['x', '{file}']"),
])
def test_mida_run_puts_its_preload_file_first_once(tmp_path, before, after):
    r = Run(tmp_path)
    file = str(dask_preload_file())
    env = r.env()
    if before is not None:
        env["DASK_DISTRIBUTED__SCHEDULER__PRELOAD"] = before.format(file=file)
    p = r.run("sh", "-c", "echo \"$DASK_DISTRIBUTED__SCHEDULER__PRELOAD\"",
              env=env, options=("--no-files",))
    assert p.returncode == 0, p.stderr
    assert p.stdout == after.format(file=file) + "\n"
    assert p.stderr == ""


def test_a_preload_file_under_a_space_is_not_used(tmp_path):
    # mida, and its preload file where it looks for it, under a directory
    # with a space (`/home/Ann Lee`): Dask would take that path for the
    # text of a script, so the module name goes in, with a note.
    top = tmp_path / "Ann Lee"
    exe = top / "src" / "cli" / "mida"
    exe.parent.mkdir(parents=True)
    shutil.copy2(mida_bin(), exe)
    where = top / "python" / "dask_preload"
    where.mkdir(parents=True)
    shutil.copy2(dask_preload_file(), where)
    r = Run(tmp_path)
    p = subprocess.run([str(exe), "run", "--no-mlflow", "--no-files", "--",
                        "sh", "-c", "echo $DASK_DISTRIBUTED__WORKER__PRELOAD"],
                       env=r.env(), cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "mida.dask\n"
    assert p.stderr == (
        "mida run: the Dask preload file's path (%s) has a space, a quote "
        "or a backslash, which Dask's preload setting misreads: mida.dask "
        "is preloaded instead (a Python that cannot import mida then does "
        "not start a Dask cluster: --no-dask)\n"
        % (where / "mida_dask_preload.py"))

"""`mida diff` and `mida show` on what `mida run` and the Python package
record, read as a new user would (a QA pass):

- the diff of two `mida run` workflows (or of their commands' tasks) shows
  the command's argv and cwd once, as parameters: the workflow's metadata
  keeps them too, and they were shown again under "environment" (and
  counted twice when they differed);
- `mida show` of a short task does not print a host row of empty cells:
  a host's first telemetry sample has no busy share yet (a rate needs
  two), and was counted as one sample with nothing in it."""

import json
import os
import subprocess
import sys

from mida_cli_store import ROOT


def clean_env(store):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and k != "LD_PRELOAD"}
    env["MIDA_STORE"] = "sqlite://" + str(store)
    build = os.environ.get("MIDA_BUILD", str(ROOT / "build"))
    env["PYTHONPATH"] = os.path.join(build, "python")
    return env


def mida(mida_bin, store, *args, cwd=None):
    r = subprocess.run([mida_bin, "--store", str(store), *args],
                       env=clean_env(store), capture_output=True, text=True,
                       timeout=120, cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r.stdout


def python(store, code):
    """Runs code in a Python that records into store; its stdout."""
    r = subprocess.run([sys.executable, "-c", code], env=clean_env(store),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_diff_shows_a_run_s_argv_and_cwd_once(mida_bin, tmp_path):
    store = tmp_path / "s.db"
    for word in ("a", "b"):
        mida(mida_bin, store, "run", "--", "sh", "-c",
             f"echo {word} > f; cat f > g", cwd=tmp_path)
    rows = json.loads(mida(mida_bin, store, "query", "--json",
                           "SELECT id FROM workflow ORDER BY started"))
    wa, wb = (r["id"] for r in rows)
    for a, b in ((wa, wb), tuple(
            r["id"] for r in json.loads(mida(
                mida_bin, store, "query", "--json",
                "SELECT id FROM task WHERE activity = 'sh'"
                " ORDER BY started")))):
        d = json.loads(mida(mida_bin, store, "diff", a, b, "--json"))
        keys = [(x["section"], x["key"]) for x in d["rows"]]
        env = [k for s, k in keys if s == "environment"]
        assert "argv" not in env and "cwd" not in env, keys
        params = [k for s, k in keys if s == "parameter"]
        assert any(k.endswith("argv") for k in params), keys
        differ = [x["key"] for x in d["rows"] if x["key"].endswith("argv")
                  and x["status"] == "differs"]
        assert len(differ) == 1, d["rows"]


def test_show_counts_no_host_sample_without_a_busy_share(mida_bin,
                                                         tmp_path):
    store = tmp_path / "p.db"
    code = ("import time, mida\n"
            "@mida.task\n"
            "def f(x):\n"
            "    time.sleep(1.0)\n"
            "    return x\n"
            "f(1)\n")
    python(store, code)
    (task,) = json.loads(mida(mida_bin, store, "query", "--json",
                              "SELECT id FROM task"))
    # The session's first samples (taken when it opened) fall in f: 1 s
    # of it, as a loaded machine may start the sampler's thread late (with
    # 0.3 s, none fell in it once in a loaded suite).
    first = json.loads(mida(mida_bin, store, "query", "--json",
                            "SELECT count(*) AS n FROM telemetry s, task t"
                            " WHERE s.pid = 0 AND s.ts BETWEEN t.started"
                            " AND t.ended"))
    assert first[0]["n"] >= 1
    out = mida(mida_bin, store, "show", task["id"])
    table = out.split("telemetry samples while it ran\n")[1]
    table = table.split("inputs (data used)")[0]
    for line in table.splitlines():
        cells = line.split()
        assert cells[:1] != ["host"] or len(cells) > 2, out
    assert "process" in table, out


def test_diff_counts_one_value_for_a_version_two_tasks_share(mida_bin,
                                                            tmp_path):
    """A file version that two tasks of a workflow read (`cat in`, `wc
    in`), or generated (dash opens `> a` for sort, and sort writes it), is
    one value of the workflow's input or output: the diff said "2 values,
    X .. X", counting the tasks, as if the file had two contents."""
    store = tmp_path / "s.db"
    for text in ("b\na\n", "c\na\nq\n"):
        (tmp_path / "in").write_text(text)
        mida(mida_bin, store, "run", "--digest", "--", "sh", "-c",
             "sort in > a; wc -c in > n", cwd=tmp_path)
    rows = json.loads(mida(mida_bin, store, "query", "--json",
                           "SELECT id FROM workflow ORDER BY started"))
    wa, wb = (r["id"] for r in rows)
    d = json.loads(mida(mida_bin, store, "diff", wa, wb, "--json"))
    files = {(x["section"], x["key"].rsplit("/", 1)[-1]): x
             for x in d["rows"] if x["section"] in ("input", "output")}
    assert set(files) == {("input", "in"), ("output", "a"),
                          ("output", "n")}, d["rows"]
    for row in files.values():
        for side in ("a", "b"):
            assert "values" not in row[side], row
        assert row["status"] == "differs", row
    assert files[("output", "a")]["a"].startswith("sha256:"), files


def test_show_says_why_each_run_of_a_task_failed(mida_bin, tmp_path):
    """A task that was retried (a Dask task whose first attempt erred)
    showed its runs' statuses, times and workers, not why the failed ones
    failed: that was only in task_run.error. Each run's error is shown
    now, beside it."""
    store = tmp_path / "r.db"
    code = ("import mida\n"
            "from mida import _mida\n"
            "t = _mida.new_id()\n"
            "_mida.task_begin(t, 'flaky')\n"
            "r1, r2 = _mida.new_id(), _mida.new_id()\n"
            "_mida.task_run(r1, t, status=_mida.RUNNING, started=1_000)\n"
            "_mida.task_run(r1, t, status=_mida.ERROR, ended=2_000,\n"
            "               error='ValueError: bad input 5')\n"
            "_mida.task_run(r2, t, status=_mida.RUNNING, started=3_000)\n"
            "_mida.task_run(r2, t, status=_mida.FINISHED, ended=4_000)\n"
            "mida.flush()\n"
            "print(t)\n")
    task = python(store, code).strip()
    out = mida(mida_bin, store, "show", task)
    runs = out.split("runs\n")[1].split("\n\n")[0]
    lines = [l for l in runs.splitlines() if l.strip()]
    assert "error" in lines[0], out  # the header
    failed = [l for l in lines if "ERROR" in l]
    assert len(failed) == 1 and "ValueError: bad input 5" in failed[0], out


def test_show_of_a_failed_workflow_says_why(mida_bin, tmp_path):
    """`mida show WORKFLOW` of a failed run showed its status and its tasks
    by status, not why it failed: the store keeps no error on a workflow.
    It says its root task's error now, as the exports do
    (report/workflow_error.h); a finished one has no error line."""
    store = tmp_path / "w.db"
    r = subprocess.run([mida_bin, "--store", str(store), "run", "--", "sh",
                        "-c", "exit 3"], env=clean_env(store),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    mida(mida_bin, store, "run", "--", "true")
    rows = json.loads(mida(mida_bin, store, "query", "--json",
                           "SELECT id, name FROM workflow"))
    ids = {r["name"]: r["id"] for r in rows}
    out = mida(mida_bin, store, "show", ids["sh"])
    assert "status      ERROR\n" in out, out
    assert "\nerror\n  exit status 3\n" in out, out
    assert "\nerror\n" not in mida(mida_bin, store, "show", ids["true"])

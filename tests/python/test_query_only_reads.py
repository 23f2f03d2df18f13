"""mida.query in a process that records nothing only reads: it opens no
capture session (no journal in the spool, no sampler writing the host's
telemetry into the store, no spool made beside a store it may not write),
unless processes that ended left journals to ship, which a session's flush
ships first so that the query sees them (a multiprocessing worker ends with
os._exit and ships nothing itself)."""

import json
import os
import subprocess
import sys

import midapy_util
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "reliability"))
import reliability_support  # noqa: E402

RECORD = r"""
import mida
@mida.task
def step(x):
    return x + 1
step(1)
print("{}")
"""

QUERY = r"""
import json, os, mida
rows = mida.query("SELECT activity FROM task ORDER BY activity")
print(json.dumps({"pid": os.getpid(), "rows": rows}))
"""

# A child that records a task and ends with os._exit, as a
# multiprocessing worker does, under a parent that records nothing.
FORKED = r"""
import json, os, mida
pid = os.fork()
if pid == 0:
    @mida.task
    def in_child(x):
        return x
    in_child(7)
    os._exit(0)
os.waitpid(pid, 0)
rows = mida.query("SELECT activity, pid FROM task WHERE activity = 'in_child'")
print(json.dumps({"child": pid, "rows": rows}))
"""


def run_py(code, env):
    # No warning either (mida's say why the store cannot be opened for
    # capture; under -W error they are swallowed, never raised).
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def counts(store):
    import sqlite3
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("telemetry", "counter", "workflow", "task")}
    finally:
        db.close()


def test_a_query_that_only_reads_writes_nothing(tmp_path):
    store = tmp_path / "s.db"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="10")
    run_py(RECORD, env)
    before = counts(store)
    spool_before = sorted(os.listdir(str(store) + ".spool"))
    got = run_py(QUERY, env)
    assert got["rows"] == [{"activity": "step"}]
    # No row of the query's process: its session's sampler wrote the
    # host's telemetry, its close the session's counters.
    assert counts(store) == before
    assert sorted(os.listdir(str(store) + ".spool")) == spool_before


def test_a_store_on_a_read_only_file_system_is_queried_without_a_warning(
        tmp_path):
    mnt = tmp_path / "ro"
    if not reliability_support.mount_tmpfs(mnt, "size=64m"):
        pytest.skip("this process may not mount a tmpfs")
    try:
        store = mnt / "s.db"
        env = midapy_util.child_env(store)
        run_py(RECORD, env)
        # The recording process's spool went with it: only the store is
        # left, read by the next process from a file system it cannot write.
        subprocess.run(["rm", "-rf", str(store) + ".spool"], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        got = run_py(QUERY, env)
        assert got["rows"] == [{"activity": "step"}]
    finally:
        reliability_support.umount(mnt)


def test_a_query_ships_what_an_ended_child_left_first(tmp_path):
    store = tmp_path / "s.db"
    env = midapy_util.child_env(store)
    got = run_py(FORKED, env)
    assert got["rows"] == [{"activity": "in_child", "pid": got["child"]}]

"""Truthful state after a crash (docs/reliability.md): when recovery ships
the journal of a process killed with SIGKILL, the workflow and the task it
left running become LOST with the reason, what it finished stays FINISHED,
and an end that arrives later still wins -- the same on SQLite and on
PostgreSQL."""

import json
import subprocess

import pytest

from reliability_support import MIDA_BIN, producer_env, run_producer
from multinode_support import pg_db, psql  # noqa: F401

# A workflow with a task that finishes and one during which the process is
# killed; prints the ids first.
KILLED = """
import json, os, signal, sys, mida
with mida.workflow("doomed") as wf:
    @mida.task
    def done(i):
        return i
    @mida.task
    def dies():
        print(json.dumps({"wf": wf.id, "task": mida.current_task()}))
        sys.stdout.flush()
        mida.flush(10)
        os.kill(os.getpid(), signal.SIGKILL)
    done(1)
    dies()
"""

# Another process ends the lost task for real, afterwards.
LATE_END = """
import sys, mida
mida._mida.task_update(sys.argv[1], status=mida.FINISHED,
                       generated={"late": True})
assert mida.flush(30)
"""


def rows(store, sql):
    r = subprocess.run([MIDA_BIN, "--store", store, "query", "--json", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return "sqlite://" + str(tmp_path / "m.db")
    return request.getfixturevalue("pg_db")


def test_killed_process_leaves_lost_not_running(tmp_path, store):
    spool = tmp_path / "spool"
    env = producer_env(store, spool)
    rc, ids, err = run_producer(KILLED, env)
    assert rc == -9, err
    horizon = rows(store, "SELECT horizon FROM mida_change_horizon")
    r = subprocess.run([MIDA_BIN, "--store", store, "recover", "--spool",
                        str(spool)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr

    wf = rows(store, f"SELECT status FROM workflow WHERE id = '{ids['wf']}'")
    assert wf == [{"status": "LOST"}]
    # Marking LOST is a change (schema.h, version 4): the rows' change
    # numbers move past the horizon seen before, so that the event stream
    # of `mida serve` and its kept answers see it.
    changed = rows(store, "SELECT count(*) AS n FROM task WHERE status ="
                          " 'LOST' AND seq >= %d" % horizon[0]["horizon"])
    assert changed == [{"n": 1}]
    changed = rows(store, "SELECT count(*) AS n FROM workflow WHERE status ="
                          " 'LOST' AND seq >= %d" % horizon[0]["horizon"])
    assert changed == [{"n": 1}]
    tasks = rows(store, "SELECT activity, status, error FROM task WHERE "
                        f"workflow_id = '{ids['wf']}' ORDER BY activity")
    assert [(t["activity"], t["status"]) for t in tasks] == [
        ("dies", "LOST"), ("done", "FINISHED")]
    assert tasks[0]["error"].startswith("lost: the process that ran it")
    assert tasks[1]["error"] is None

    # A real end recorded later wins over LOST.
    p = subprocess.run([__import__("sys").executable, "-c", LATE_END,
                        ids["task"]], env=producer_env(store, spool),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    t = rows(store, f"SELECT status FROM task WHERE id = '{ids['task']}'")
    assert t == [{"status": "FINISHED"}]
    # Recovering again changes nothing.
    r = subprocess.run([MIDA_BIN, "--store", store, "recover", "--spool",
                        str(spool)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert rows(store, f"SELECT status FROM task WHERE id = "
                       f"'{ids['task']}'") == [{"status": "FINISHED"}]

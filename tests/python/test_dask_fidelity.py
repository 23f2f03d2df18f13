"""Dask capture fidelity against Dask's own account, exactly.

dask_fidelity_workload.py runs real Dask workloads under mida's preloads --
a worker SIGKILLed mid-run, retries, a cancel while the task runs, keys
forgotten and computed again by a later graph, dataframe/array/bag graphs
with a P2P shuffle -- and logs every scheduler transition through a plugin
of its own (plus markers that the task functions write for executions the
scheduler cannot see end). The test derives from that log each key's
submissions ("lives"), each life's executions (worker, outcome, compute
times) and final state, and checks that the store holds exactly those:
every key and life, every execution as a run with its worker and outcome
(and the killed one LOST once recovery shipped the dead worker's journal),
nothing invented, each task row the summary of its runs (attempts, the
latest run's times and worker), arguments and telemetry for every task that
ran, and no workflow left RUNNING."""

import collections
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from midapy_util import HERE, MIDA_BIN, child_env, store_rows

WORKLOAD = str(HERE / "dask_fidelity_workload.py")
PRELOAD = {"DASK_DISTRIBUTED__SCHEDULER__PRELOAD": "mida.dask",
           "DASK_DISTRIBUTED__WORKER__PRELOAD": "mida.dask"}
# A run starts after the scheduler sent its task to the worker and ends
# before the scheduler hears of it: one host, one clock; the slack covers
# the rounding of the oracle's float times.
TIME_SLACK_S = 0.002


def oracle_lives(out):
    """{key: [life]}, a life being {"execs": [(status, worker, (sent,
    heard))], "final": status}, from the oracle's log and markers: sent is
    when the scheduler gave the task to the worker, heard when it heard of
    the end (None: unknown)."""
    lives = collections.defaultdict(list)
    alive = {}
    for e in out["log"]:
        if "graph" in e:
            for k in e["graph"]:
                if k not in alive:
                    alive[k] = {"execs": [], "final": None, "memory": False,
                                "erred": False}
                    lives[k].append(alive[k])
            continue
        life = alive.get(e["key"])
        if life is None:
            continue
        start, finish, why = e["start"], e["finish"], e["stimulus"]
        span = (life.get("sent"), e["t"])
        if start == "processing" and why.startswith("task-finished") and \
                finish == "memory":
            life["execs"].append(("FINISHED", e["worker"], span))
        elif start == "processing" and why.startswith("task-erred"):
            # erred, or released to be retried
            life["execs"].append(("ERROR", e.get("worker"), span))
        elif start == "processing" and why.startswith("reschedule"):
            life["execs"].append(("CANCELLED", None, span))
        if finish == "processing":
            life["sent"] = e["t"]
        if finish == "memory":
            life["memory"] = True
        if finish == "erred":
            life["erred"] = True
        if finish == "forgotten":
            del alive[e["key"]]
    # Executions the scheduler did not see end: the block killed with its
    # worker, and the cancelled task that ran on to its end.
    starts = [m.split(".") for m in out["markers"] if m.startswith("start.")]
    ends = {m.split(".")[1] for m in out["markers"] if m.startswith("end.")}
    for _, key, pid, *_ in starts:
        if int(pid) == out.get("killed_pid"):
            lives[key][-1]["execs"].append(("LOST", None, (None, None)))
        elif key in ends:
            lives[key][-1]["execs"].append(("FINISHED", None, (None, None)))
    for ls in lives.values():
        for life in ls:
            life["final"] = ("ERROR" if life["erred"] else "FINISHED"
                             if life["memory"] else "CANCELLED")
    return lives


def store_lives(store):
    tasks = store_rows(store, "SELECT id, workflow_id, source_key, status, "
                       "submitted, started, ended, worker, attempts, used, "
                       "telemetry FROM task WHERE source_key IS NOT NULL "
                       "ORDER BY submitted, id")
    runs = store_rows(store, "SELECT task_id, status, started, ended, "
                      "worker, pid FROM task_run ORDER BY started, id")
    by_task = collections.defaultdict(list)
    for r in runs:
        by_task[r["task_id"]].append(r)
    lives = collections.defaultdict(list)
    for t in tasks:
        t["runs"] = by_task.pop(t["id"], [])
        lives[t["source_key"]].append(t)
    assert not by_task, "runs of no task: %r" % by_task
    return lives


@pytest.fixture(scope="module")
def fidelity_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fidelity")
    store = tmp / "fidelity.db"
    out = tmp / "oracle.json"
    # MIDA_DASK_PYTHON: another Python (another Dask release) for the
    # workload, e.g. bench/flowcept_dask's venv with dask 2024.10.
    python = os.environ.get("MIDA_DASK_PYTHON", sys.executable)
    r = subprocess.run([python, WORKLOAD, str(out), str(tmp / "markers")],
                       env=child_env(store, **PRELOAD), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # The killed worker's journal: shipped, and what it left running LOST.
    rec = subprocess.run([MIDA_BIN, "--store", "sqlite://%s" % store,
                          "recover"], env=child_env(store),
                         capture_output=True, text=True, timeout=120)
    assert rec.returncode == 0, rec.stderr
    return json.loads(out.read_text()), store


def test_every_execution_of_every_key_exactly(fidelity_run):
    out, store = fidelity_run
    want = oracle_lives(out)
    got = store_lives(store)
    assert set(got) == set(want), "keys missing %s, invented %s" % (
        sorted(set(want) - set(got))[:10], sorted(set(got) - set(want))[:10])
    mismatches = []
    for key, olives in want.items():
        mlives = got[key]
        if len(mlives) != len(olives):
            mismatches.append((key, "lives", len(olives), len(mlives)))
            continue
        for o, m in zip(olives, mlives):
            if m["status"] != o["final"]:
                mismatches.append((key, "status", o["final"], m["status"]))
            ostat = sorted(x[0] for x in o["execs"])
            mstat = sorted(r["status"] for r in m["runs"])
            if ostat != mstat:
                mismatches.append((key, "runs", ostat, mstat))
                continue
            # Where the scheduler knows the worker, a run of its own says
            # the same, and ran between the task's dispatch and its report.
            left = list(m["runs"])
            for status, worker, (sent, heard) in o["execs"]:
                if worker is None:
                    continue
                match = [r for r in left if r["status"] == status and
                         r["worker"] == worker and
                         sent - TIME_SLACK_S <= r["started"] / 1e9 <=
                         r["ended"] / 1e9 <= heard + TIME_SLACK_S]
                if not match:
                    mismatches.append((key, "run", status, worker, sent,
                                       heard, m["runs"]))
                else:
                    left.remove(match[0])
    assert not mismatches, mismatches[:20]
    # What the phases were there for.
    assert [len(x["execs"]) for x in want["block-0"]] == [2]
    assert [x[0] for x in want["flaky-0"][0]["execs"]] == ["ERROR"] * 2 + [
        "FINISHED"]
    assert len(want["shared-0"]) == 2
    assert sum(len(x["execs"]) for ls in want.values() for x in ls
               if ls[0] is x and len(x["execs"]) > 1) >= 10


def test_task_rows_summarise_their_runs(fidelity_run):
    out, store = fidelity_run
    for key, lives in store_lives(store).items():
        for t in lives:
            runs = t["runs"]
            if not runs:
                assert t["attempts"] is None and t["started"] is None, t
                continue
            last = max(runs, key=lambda r: r["started"])
            assert t["attempts"] == len(runs), (key, t, runs)
            assert (t["started"], t["ended"], t["worker"]) == (
                last["started"], last["ended"], last["worker"]), (key, t)
    # A key forgotten and computed again by a later graph: two tasks, in
    # two workflows, each with its own one run.
    shared = store_rows(store, "SELECT workflow_id, attempts FROM task "
                        "WHERE source_key = 'shared-0' ORDER BY submitted")
    assert len(shared) == 2 and shared[0]["workflow_id"] != \
        shared[1]["workflow_id"]
    assert [s["attempts"] for s in shared] == [1, 1]
    # The cancelled task ran: its run details stay.
    slow = store_rows(store, "SELECT status, attempts, started, worker "
                      "FROM task WHERE source_key = 'slow-0'")
    assert len(slow) == 1 and slow[0]["status"] == "CANCELLED"
    assert slow[0]["attempts"] == 1 and slow[0]["started"] is not None
    assert slow[0]["worker"] is not None
    wfs = store_rows(store, "SELECT status, count(*) AS n FROM workflow "
                     "WHERE source = 'dask' GROUP BY status")
    assert {w["status"] for w in wfs} <= {"FINISHED", "ERROR"}, wfs


def test_arguments_and_telemetry_for_every_shape(fidelity_run):
    out, store = fidelity_run
    bare = store_rows(store, "SELECT source_key, used, telemetry FROM task "
                      "WHERE attempts IS NOT NULL AND (used IS NULL OR "
                      "telemetry IS NULL OR used LIKE '%\"_mida\"%')")
    assert bare == []
    skipped = store_rows(store, "SELECT name, value FROM counter "
                         "WHERE name = 'dask.telemetry_skipped'")
    assert skipped == []
    # References stay references; a fused task names what it computes.
    used = {r["source_key"]: json.loads(r["used"]) for r in store_rows(
        store, "SELECT source_key, used FROM task WHERE used IS NOT NULL")}
    assert used["block-1"]["name"] == "block-1"
    assert used["block-1"]["arg2"] == {"ref": "inc-1"}
    assert used["flaky-0"]["path"].endswith("flaky.count")


LOST_CLIENT = """
import os, sys, time
from distributed import Client

def block(i, go):
    while not os.path.exists(go):
        time.sleep(0.02)
    return i

def inc(x):
    return x + 1

if __name__ == "__main__":
    sched, go, started = sys.argv[1:4]
    client = Client(scheduler_file=sched)
    done = client.map(inc, range(5), key=["inc-%d" % i for i in range(5)])
    client.gather(done)
    blocked = client.map(block, range(4), go=go,
                         key=["block-%d" % i for i in range(4)])
    more = client.map(inc, blocked, key=["after-%d" % i for i in range(4)])
    open(started, "w").close()
    time.sleep(600)
"""


def test_a_workflow_whose_scheduler_is_killed_is_lost(tmp_path):
    """The scheduler process is SIGKILLed while its workflow runs: once
    recovery ships its journal, the workflow and the tasks that can no
    longer finish are LOST, with the reason; what ran to its end on the
    workers stays FINISHED, with its run."""
    store = tmp_path / "lost.db"
    sched_file = tmp_path / "scheduler.json"
    go, started = tmp_path / "go", tmp_path / "started"
    env = child_env(store)
    dask = str(pathlib.Path(sys.executable).parent / "dask")
    procs = []

    def spawn(*argv):
        p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        return p

    try:
        sched = spawn(dask, "scheduler", "--preload", "mida.dask",
                      "--scheduler-file", str(sched_file), "--no-dashboard",
                      "--port", "0")
        for _ in range(600):
            if sched_file.exists() and sched_file.stat().st_size > 0:
                break
            time.sleep(0.1)
        worker = spawn(dask, "worker", "--preload", "mida.dask",
                       "--scheduler-file", str(sched_file), "--nthreads",
                       "2", "--no-nanny", "--no-dashboard")
        client_py = tmp_path / "client.py"
        client_py.write_text(LOST_CLIENT)
        spawn(sys.executable, str(client_py), str(sched_file), str(go),
              str(started))
        for _ in range(1200):
            if started.exists():
                break
            time.sleep(0.1)
        assert started.exists(), "the client never submitted its graph"
        time.sleep(1.0)  # two blocks start on the worker's two threads
        sched.send_signal(signal.SIGKILL)
        sched.wait(timeout=30)
        go.touch()  # the running blocks end; the worker is left alone
        time.sleep(2.0)
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    rec = subprocess.run([MIDA_BIN, "--store", "sqlite://%s" % store,
                          "recover"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert rec.returncode == 0, rec.stderr
    # The incs' computation ended before; the blocks' lost its scheduler.
    wfs = store_rows(store, "SELECT w.status, min(t.source_key) AS k FROM "
                     "workflow w JOIN task t ON t.workflow_id = w.id "
                     "WHERE w.source = 'dask' GROUP BY w.id ORDER BY k")
    assert wfs == [{"status": "LOST", "k": "after-0"},
                   {"status": "FINISHED", "k": "inc-0"}]
    tasks = {t["source_key"]: t for t in store_rows(
        store, "SELECT source_key, status, error, attempts FROM task")}
    assert set(tasks) == {"inc-%d" % i for i in range(5)} | {
        "block-%d" % i for i in range(4)} | {"after-%d" % i for i in range(4)}
    assert all(tasks["inc-%d" % i]["status"] == "FINISHED" for i in range(5))
    ran = [k for k in tasks if k.startswith("block-")
           and tasks[k]["attempts"]]
    assert len(ran) == 2, tasks  # the two running when it died
    for k, t in tasks.items():
        if k in ran:
            assert t["status"] == "FINISHED", (k, t)
        elif not k.startswith("inc-"):
            assert t["status"] == "LOST" and t["error"], (k, t)


def test_mida_show_lists_a_retried_tasks_attempts_and_runs(fidelity_run):
    """`mida show` of a task that Dask ran three times (retries=2) says so:
    attempts 3 and one row per run, the last FINISHED (a QA pass found
    neither shown)."""
    _, store = fidelity_run
    (row,) = store_rows(store, "SELECT id FROM task "
                        "WHERE source_key = 'flaky-0'")
    shown = subprocess.run([MIDA_BIN, "--store", "sqlite://%s" % store,
                            "show", row["id"]], capture_output=True,
                           text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "\nattempts    3\n" in shown.stdout, shown.stdout
    runs = shown.stdout.split("\nruns\n")[1].split("\nused\n")[0]
    statuses = [ln.split()[0] for ln in runs.splitlines()[2:]]
    assert statuses == ["ERROR", "ERROR", "FINISHED"], runs

"""Zero-code observation of real Dask (dask + distributed from PyPI): the
1,000-key graph of mida_dask_graph.py -- a script with no mida in it -- run
on a 2-worker process cluster, a threads cluster, and separate `dask
scheduler` and `dask worker` processes; then the store is checked against
the graph the script meant: every key once, dependencies exactly, times
ordered, scalar arguments and results exact, the failing task ERROR with
its exception. (Worker kills, retries, cancels and keys computed again are
test_dask_fidelity.py's, against Dask's own transition log.)"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from midapy_util import BUILD, HERE, MIDA_BIN, child_env, store_rows

SCRIPT = str(HERE / "mida_dask_graph.py")
PRELOAD = {"DASK_DISTRIBUTED__SCHEDULER__PRELOAD": "mida.dask",
           "DASK_DISTRIBUTED__WORKER__PRELOAD": "mida.dask"}


def run_script(tmp_path, where, env_extra=PRELOAD):
    store = tmp_path / "dask.db"
    out = tmp_path / "expected.json"
    env = child_env(store, **env_extra)
    p = subprocess.Popen([sys.executable, SCRIPT, str(out), where],
                         env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    text, _ = p.communicate(timeout=300)
    assert p.returncode == 0, text[-4000:]
    return json.loads(out.read_text()), store


def check_store(store, exp):
    rows = store_rows(store, "SELECT id, workflow_id, source_key, activity, "
                      "status, submitted, started, ended, used, generated, "
                      "error, custom, attempts FROM task "
                      "WHERE source_key IS NOT NULL")
    keys = [r["source_key"] for r in rows]
    want = set(exp["keys"]) | {exp["error_key"], exp["error_dependent"]}
    assert len(keys) == len(set(keys)), "a key was recorded twice"
    assert set(keys) == want
    by_key = {r["source_key"]: r for r in rows}

    err = by_key.pop(exp["error_key"])
    assert err["status"] == "ERROR"
    # As its run and @mida.task say it, not Dask's repr of it.
    assert err["error"].startswith(
        "ZeroDivisionError: planned failure for x=5"), err["error"]
    assert err["activity"] == "fails"
    dep = by_key.pop(exp["error_dependent"])
    assert dep["status"] == "ERROR"
    assert "upstream task erred: fails-1" in dep["error"]
    # It never ran (no start), but it ended: when the scheduler erred it.
    assert dep["started"] is None and dep["attempts"] is None, dep
    assert dep["ended"] is not None and dep["ended"] >= dep["submitted"], dep

    for k, r in by_key.items():
        assert r["status"] == "FINISHED", (k, r)
        assert r["activity"] == k.split("-")[0]
        assert r["submitted"] <= r["started"] <= r["ended"], (k, r)
        e = exp["keys"][k]
        if "used" in e:
            assert json.loads(r["used"]) == e["used"], k
        assert json.loads(r["generated"]) == {"return": e["result"]}, k
        custom = json.loads(r["custom"])
        assert custom["typename"] == "int" and r["attempts"] >= 1
    wfs = {r["workflow_id"] for r in by_key.values()}
    assert len(wfs) == 1 and None not in wfs
    wf = store_rows(store, "SELECT source, status FROM workflow WHERE id = ?",
                    [wfs.pop()])
    assert wf == [{"source": "dask", "status": "FINISHED"}]

    # Between Dask's tasks (under mida run, processes depend on the
    # processes whose pipes they read too: test_the_same_script_under_...).
    deps = store_rows(store, "SELECT t.source_key AS k, u.source_key AS up, "
                      "u.ended AS up_ended, t.started AS started "
                      "FROM task_dep d JOIN task t ON t.id = d.task_id "
                      "JOIN task u ON u.id = d.upstream_id "
                      "WHERE t.source_key IS NOT NULL "
                      "AND u.source_key IS NOT NULL")
    got = {}
    for d in deps:
        got.setdefault(d["k"], []).append(d["up"])
        if d["started"] is not None:
            # (a recomputed upstream may end after its user)
            # Dask corrects each worker's times by its estimated clock
            # offset, so two workers' times agree to about a millisecond.
            assert d["up_ended"] <= d["started"] + 50_000_000, d
    want_deps = {k: v for k, v in exp["deps"].items() if v}
    want_deps[exp["error_dependent"]] = [exp["error_key"]]
    assert {k: sorted(v) for k, v in got.items()} == want_deps
    return by_key


def test_graph_of_1000_tasks_on_a_process_cluster(tmp_path):
    exp, store = run_script(tmp_path, "processes")
    rows = check_store(store, exp)
    workers = {r["worker"] for r in store_rows(
        store, "SELECT DISTINCT worker FROM task WHERE worker IS NOT NULL")}
    assert len(workers) == 2
    pids = store_rows(store, "SELECT DISTINCT pid FROM task")
    assert len(pids) >= 2
    assert len(rows) == 1000


def test_the_scheduler_plugin_alone_records_when_and_where_keys_ran(
        tmp_path):
    # Workers without mida's plugin (only the scheduler preloaded): no run
    # of any key is recorded by a worker, so the scheduler's end of each
    # key says when it ran (the worker's "compute" startstop) and where.
    exp, store = run_script(tmp_path, "processes", env_extra={
        "DASK_DISTRIBUTED__SCHEDULER__PRELOAD": "mida.dask"})
    rows = store_rows(store, "SELECT source_key, status, submitted, started,"
                      " ended, worker FROM task WHERE status = 'FINISHED'"
                      " AND source_key IS NOT NULL")
    assert len(rows) == len(exp["keys"])
    workers = set()
    for r in rows:
        assert r["started"] is not None and r["ended"] is not None, r
        # Dask corrects a worker's times by its clock offset: ~1 ms.
        assert r["submitted"] <= r["started"] + 50_000_000, r
        assert r["started"] <= r["ended"], r
        assert r["worker"] is not None and r["worker"].startswith("tcp://")
        workers.add(r["worker"])
    assert len(workers) == 2


def test_graph_on_a_threads_cluster(tmp_path):
    exp, store = run_script(tmp_path, "threads")
    check_store(store, exp)
    # The key Dask names a task by is enough for `mida show`, which says
    # which task it found.
    r = subprocess.run([MIDA_BIN, "--store", "sqlite://%s" % store, "show",
                        exp["error_key"]], capture_output=True, text=True,
                       env=child_env(store))
    assert r.returncode == 0, r.stderr
    assert "ZeroDivisionError: planned failure" in r.stdout
    assert f"'{exp['error_key']}' is the source key of task" in r.stderr


def test_separate_scheduler_and_worker_processes(tmp_path):
    store = tmp_path / "dask.db"
    sched_file = tmp_path / "scheduler.json"
    env = child_env(store)  # no preload variables: --preload instead
    dask = str(pathlib.Path(sys.executable).parent / "dask")
    sched = subprocess.Popen([dask, "scheduler", "--preload", "mida.dask",
                              "--scheduler-file", str(sched_file),
                              "--no-dashboard", "--port", "0"],
                             env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    worker = None
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size > 0:
                break
            time.sleep(0.1)
        worker = subprocess.Popen([dask, "worker", "--preload", "mida.dask",
                                   "--scheduler-file", str(sched_file),
                                   "--nworkers", "2", "--nthreads", "1",
                                   "--no-dashboard"],
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        out = tmp_path / "expected.json"
        r = subprocess.run([sys.executable, SCRIPT, str(out),
                            "file:" + str(sched_file)], env=env,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-4000:]
    finally:
        for p in (worker, sched):
            if p is not None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
    check_store(store, json.loads(out.read_text()))


def test_the_same_script_under_mida_run(tmp_path):
    mida_bin = MIDA_BIN
    store = tmp_path / "dask.db"
    out = tmp_path / "expected.json"
    env = child_env(store)  # no Dask variables: mida run sets them
    r = subprocess.run([mida_bin, "--store", str(store), "run", "--campaign",
                        "camp-run", "--", sys.executable, SCRIPT, str(out),
                        "processes"], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    check_store(store, json.loads(out.read_text()))
    run_wf = store_rows(store, "SELECT id, status, campaign_id FROM workflow "
                        "WHERE source = 'run'")
    assert len(run_wf) == 1 and run_wf[0]["status"] == "FINISHED"
    # The command's task is the root; its processes are tasks under it.
    run_task = store_rows(store, "SELECT id, used, generated FROM task "
                          "WHERE workflow_id = ? AND parent_id IS NULL",
                          [run_wf[0]["id"]])
    assert len(run_task) == 1
    assert json.loads(run_task[0]["generated"]) == {"exit_status": 0}
    assert json.loads(run_task[0]["used"])["argv"][1] == SCRIPT
    dask_wfs = store_rows(store, "SELECT parent_id, campaign_id FROM workflow "
                         "WHERE source = 'dask'")
    assert dask_wfs and all(w["parent_id"] == run_wf[0]["id"] and
                            w["campaign_id"] == run_wf[0]["campaign_id"]
                            for w in dask_wfs)
    parents = store_rows(store, "SELECT DISTINCT parent_id AS p FROM task "
                         "WHERE source_key IS NOT NULL")
    assert parents == [{"p": run_task[0]["id"]}]
    # The processes' own dependencies are pipes: a Python process read the
    # output of a program it started (platform's `uname -p`), written by
    # libc's stdio and announced when that program closed its stdout.
    pipes = store_rows(store, "SELECT t.activity AS reader, "
                       "u.activity AS writer, u.parent_id = t.id AS child "
                       "FROM task_dep d JOIN task t ON t.id = d.task_id "
                       "JOIN task u ON u.id = d.upstream_id "
                       "WHERE t.source_key IS NULL OR u.source_key IS NULL")
    assert all(p["child"] and p["reader"].startswith("python")
               for p in pipes), pipes


def test_mida_run_exit_status_and_signals(tmp_path):
    mida_bin = MIDA_BIN
    store = tmp_path / "run.db"
    env = child_env(store)
    base = [mida_bin, "--store", str(store), "run", "--"]
    assert subprocess.run(base + ["sh", "-c", "exit 3"], env=env).returncode \
        == 3
    assert subprocess.run(base + ["sh", "-c", "kill -TERM $$"],
                          env=env).returncode == 128 + signal.SIGTERM
    r = subprocess.run(base + [str(tmp_path / "missing")], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 127 and "cannot execute" in r.stderr
    # A signal to mida run reaches the command: sent once the command has
    # set its trap (it says so with a file; mida run forwards signals from
    # before it starts the command), not after a fixed second, which on a
    # loaded machine could come before the trap and end the shell with
    # the signal instead of 42.
    trapped = tmp_path / "trapped"
    p = subprocess.Popen(base + ["sh", "-c", "trap 'exit 42' USR1; "
                                 f"touch '{trapped}'; "
                                 "while :; do sleep 0.05; done"], env=env)
    deadline = time.time() + 120
    while not trapped.exists() and p.poll() is None and \
            time.time() < deadline:
        time.sleep(0.02)
    assert trapped.exists(), "the command did not start"
    p.send_signal(signal.SIGUSR1)
    assert p.wait(timeout=30) == 42
    rows = store_rows(store, "SELECT status, generated, error FROM task "
                      "WHERE parent_id IS NULL ORDER BY started")
    assert [r["status"] for r in rows] == ["ERROR"] * 4
    assert [json.loads(r["generated"]) for r in rows] == [
        {"exit_status": 3}, {"signal": signal.SIGTERM},
        {"exit_status": 127}, {"exit_status": 42}]
    env["DASK_DISTRIBUTED__WORKER__PRELOAD"] = "['other.module']"
    r = subprocess.run(base + ["sh", "-c", "echo $DASK_DISTRIBUTED__WORKER"
                               "__PRELOAD; echo $MIDA_PARENT_TASK"],
                       env=env, capture_output=True, text=True)
    lines = r.stdout.splitlines()
    # mida's preload file goes first, by its path (any Python imports it;
    # tests/preload/test_run_dask.py runs one that cannot import mida).
    preload_file = BUILD / "python" / "dask_preload" / "mida_dask_preload.py"
    assert lines[0] == "['%s', 'other.module']" % preload_file
    assert len(lines[1]) == 36


def test_observe_an_existing_client_explicitly(tmp_path):
    store = tmp_path / "observe.db"
    code = """
from dask.distributed import Client, LocalCluster
import mida.dask

def mul(a, b=2):
    return a * b

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as c, Client(c) as client:
        mida.dask.observe(client)
        futs = client.map(mul, range(20), key=["mul-%d" % i for i in range(20)])
        assert sum(client.gather(futs)) == 380
        # Dask processes ship in bigger transactions (mida.dask.DASK_SHIP_MS).
        ship = lambda: __import__("mida").session_info()["ship_ms"]
        assert set(client.run(ship).values()) == {500}
        assert client.run_on_scheduler(ship) == 500
"""
    script = tmp_path / "observe_script.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], env=child_env(store),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    rows = store_rows(store, "SELECT source_key, status, used, generated "
                      "FROM task WHERE activity = 'mul'")
    assert len(rows) == 20
    for row in rows:
        i = int(row["source_key"].split("-")[1])
        assert row["status"] == "FINISHED"
        assert json.loads(row["used"]) == {"a": i}
        assert json.loads(row["generated"]) == {"return": 2 * i}


def test_dask_tasks_get_their_resource_use_from_the_executing_thread(
        tmp_path):
    # The worker plugin puts a TaskMeter around each task's function, so
    # the telemetry is taken on the thread that runs the task: a task that
    # spins 200 ms of its own CPU and one that sleeps 200 ms tell apart.
    store = tmp_path / "tel.db"
    code = """
import time
from dask.distributed import Client, LocalCluster

def spin(ms):
    t = time.thread_time()
    while time.thread_time() - t < ms / 1000.0:
        pass
    return ms

def nap(ms):
    time.sleep(ms / 1000.0)
    return ms

def inc(x):
    return x + 1

def add(*xs):
    return sum(xs)

def fails(x):
    raise ZeroDivisionError("planned")

async def anap(ms):
    return ms

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as c, Client(c) as client:
        a = client.submit(spin, 200, key="spin-0")
        b = client.submit(nap, 200, key="nap-0")
        xs = [client.submit(inc, i, key="inc-%d" % i) for i in range(6)]
        s = client.submit(add, *xs, key="add-0")
        f = client.submit(fails, 1, key="fails-0")
        g = client.submit(anap, 1, key="anap-0")
        assert client.gather([a, b, s, g]) == [200, 200, 21, 1]
        try:
            f.result()
            raise SystemExit("no exception")
        except ZeroDivisionError as e:
            assert str(e) == "planned"
"""
    script = tmp_path / "telemetry_script.py"
    script.write_text(code)
    env = child_env(store, **PRELOAD)
    r = subprocess.run([sys.executable, str(script)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    rows = store_rows(store, "SELECT source_key, status, pid, generated, "
                      "telemetry FROM task WHERE source_key IS NOT NULL")
    by_key = {row["source_key"]: row for row in rows}
    assert set(by_key) == {"spin-0", "nap-0", "add-0", "fails-0",
                           "anap-0"} | {"inc-%d" % i for i in range(6)}
    # An async def task runs on the event loop: not measured, counted.
    assert by_key.pop("anap-0")["telemetry"] is None
    skipped = store_rows(store, "SELECT sum(value) AS n FROM counter "
                         "WHERE name = 'dask.telemetry_skipped'")
    assert skipped == [{"n": 1}]
    tel = {}
    for k, row in by_key.items():
        assert row["telemetry"] is not None, k
        tel[k] = json.loads(row["telemetry"])
        assert tel[k]["maxrss_kb"] > 0, k
    assert by_key["fails-0"]["status"] == "ERROR"
    assert json.loads(by_key["add-0"]["generated"]) == {"return": 21}
    assert tel["spin-0"]["cpu_thread_ns"] > 150_000_000, tel["spin-0"]
    assert tel["nap-0"]["cpu_thread_ns"] < 50_000_000, tel["nap-0"]
    assert tel["nap-0"]["ctx_voluntary"] >= 1, tel["nap-0"]


def test_task_meter_passes_results_and_exceptions_through(tmp_path):
    code = """
import pickle, time, mida
from mida import _mida
tid = _mida.new_id()
def f(a, b=1):
    return (a, b)
m = _mida.TaskMeter(f, tid)
assert m(1, b=2) == (1, 2) and m.__name__ == "f" and m.__wrapped__ is f
exc = ValueError("kept")
def bad():
    raise exc
try:
    _mida.TaskMeter(bad, tid)()
except ValueError as e:
    assert e is exc
else:
    raise SystemExit("no exception")
m2 = pickle.loads(pickle.dumps(_mida.TaskMeter(len, tid)))
assert m2([1, 2, 3]) == 3 and m2.task == tid
_mida.task_begin(tid, activity="meter")
mida.flush()
row = mida.query("SELECT telemetry FROM task WHERE id = ?", [tid])[0]
assert "cpu_thread_ns" in row["telemetry"], row
st = mida.stats()
assert st["task_meter_calls"] == 3 and st["task_meter_no_summary"] == 0
"""
    r = subprocess.run([sys.executable, "-c", code],
                       env=child_env(tmp_path / "meter.db"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]


def test_a_worker_that_records_the_ends_spares_the_scheduler_its_write(
        tmp_path):
    # The hooks called as Dask calls them, on stand-ins for the scheduler's
    # and the worker's task states: once a worker has said that it records
    # the end of the tasks it computes (RECORDS_ENDS), the scheduler
    # records nothing for those; it still does before that, and for a key
    # whose worker only fetched its data.
    code = """
import json, mida
from mida import dask as md

class O:
    def __init__(self, **kw):
        self.__dict__.update(kw)

keys = ["inc-a", "inc-b", "inc-c", "inc-d"]  # d keeps the workflow open
prefix = O(name="inc")
sched = O(id="S", handlers={}, workers={"tcp://w:1": None}, tasks={
    k: O(key=k, prefix=prefix, dependencies=(), annotations=None,
         priority=(i,)) for i, k in enumerate(keys)})
sp = md.MidaSchedulerPlugin(sched)
sp.update_graph(sched, client="C", keys=set(keys), tasks=keys)
worker = O(address="tcp://w:1", state=O(tasks={
    k: O(key=k, run_spec=None, annotations=sched.tasks[k].annotations,
         nbytes=28, type=int) for k in keys}))
wp = md.MidaWorkerPlugin()
wp.worker, wp.address, wp.namespace = worker, worker.address, "S"
compute = [{"action": "compute", "start": 1.0, "stop": 1.1}]

def records():
    return mida.stats()["records"]

def finished(key, startstops):
    n = records()
    sp.transition(key, "processing", "memory", stimulus_id="s",
                  worker="tcp://w:1", nbytes=28, typename="int",
                  startstops=startstops)
    return records() - n

assert finished("inc-a", compute) == 1  # the worker has not said so
sched.handlers[md.RECORDS_ENDS](address="tcp://w:1")
sched.handlers[md.RECORDS_ENDS](address="tcp://not-a-worker:2")
assert sp.ends_on_workers == {"tcp://w:1"}
n = records()
wp.transition("inc-b", "executing", "memory")
assert records() - n == 1
assert finished("inc-b", compute) == 0
transfer = [{"action": "transfer", "start": 1.0, "stop": 1.1}]
assert finished("inc-c", transfer) == 1
sp.remove_worker(sched, "tcp://w:1")
assert "tcp://w:1" not in sp.ends_on_workers
mida.flush()
rows = mida.query("SELECT source_key, status, custom FROM task "
                  "WHERE source_key <> 'inc-d'")
assert sorted(r["source_key"] for r in rows) == keys[:3], rows
for r in rows:
    assert r["status"] == "FINISHED", r
    assert json.loads(r["custom"]) == {"nbytes": 28, "typename": "int"}, r
"""
    # No sampler: its samples are records too, and one that fell between
    # two counts made the count 2 (1 run in 10 to 3 in 10).
    r = subprocess.run([sys.executable, "-c", code],
                       env=child_env(tmp_path / "ends.db", MIDA_SAMPLE_HZ="0"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]


def test_update_graph_gives_ids_in_the_order_dask_runs_the_keys(tmp_path):
    # The scheduler hands update_graph its keys in hash order; the plugin
    # gives the time-ordered ids in the order of the keys' priorities
    # (what Dask runs first gets the smaller id), skips a key the scheduler
    # does not know, and keeps the order it was given when the priorities
    # do not compare.
    code = """
from mida import dask as md

class O:
    def __init__(self, **kw):
        self.__dict__.update(kw)

prefix = O(name="inc")
def graph(priorities):
    return {k: O(key=k, prefix=prefix, dependencies=(), annotations=None,
                 priority=p) for k, p in priorities.items()}

def ids(sched, keys):
    sp = md.MidaSchedulerPlugin(sched)
    sp.update_graph(sched, client="C", keys=set(keys), tasks=keys)
    return {k: v[0] for k, v in sp.tasks.items()}

sched = O(id="S", handlers={}, workers={}, tasks=graph(
    {"c": (0, 3), "a": (0, 1), "d": None, "b": (0, 2)}))
got = ids(sched, ["c", "a", "gone", "d", "b"])
assert sorted(got, key=got.get) == ["d", "a", "b", "c"], got
assert "gone" not in got
sched = O(id="S", handlers={}, workers={}, tasks=graph(
    {"x": (1,), "y": ("one",), "z": (0,)}))
got = ids(sched, ["x", "y", "z"])
assert sorted(got, key=got.get) == ["x", "y", "z"], got
"""
    r = subprocess.run([sys.executable, "-c", code],
                       env=child_env(tmp_path / "order.db", MIDA_SAMPLE_HZ="0"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]


DASK_NESTED = """
import json, sys
import midapy_tasks
from distributed import Client, LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                      dashboard_address=None) as cl, Client(cl) as c:
        print(json.dumps(c.gather(c.map(midapy_tasks.in_dask, range(3)))))
"""


def test_a_dask_task_is_current_while_it_runs(tmp_path):
    # Inside a task mida.dask records, mida.current_task() was None,
    # mida.metric raised "no current task", and a @mida.task called there
    # had no parent and no workflow.
    store = tmp_path / "nested.db"
    r = subprocess.run([sys.executable, "-c", DASK_NESTED],
                       env=child_env(store, **PRELOAD), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert [v for v, _ in out] == [0, 1, 4]
    current = [t for _, t in out]
    rows = store_rows(store, "SELECT id, workflow_id FROM task "
                      "WHERE activity = 'in_dask'")
    dask_tasks = {r["id"]: r["workflow_id"] for r in rows}
    assert sorted(current) == sorted(dask_tasks)
    assert all(dask_tasks.values())
    nested = store_rows(store, "SELECT parent_id, workflow_id FROM task "
                        "WHERE activity = 'square'")
    assert sorted((n["parent_id"], n["workflow_id"]) for n in nested) == \
        sorted(dask_tasks.items())
    points = store_rows(store, "SELECT task_id, step, value FROM metric "
                        "WHERE key = 'in_dask' ORDER BY step")
    assert [(p["step"], p["value"]) for p in points] == [(0, 0), (1, 1),
                                                          (2, 2)]
    assert {p["task_id"] for p in points} == set(dask_tasks)


def test_a_key_whose_workers_all_died_says_so(tmp_path):
    # A key whose every worker died running it errs with KilledWorker, an
    # exception the scheduler makes without a text; its task's error was
    # the bare word "erred".
    code = """
import os, signal, dask
from distributed import Client, LocalCluster
import mida.dask

def die(x):
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=1, threads_per_worker=1,
                          dashboard_address=None) as cl, Client(cl) as c:
            mida.dask.observe(c)
            try:
                c.submit(die, 1, key="die-1").result()
            except Exception as e:
                print(type(e).__name__)
"""
    script = tmp_path / "killed.py"
    script.write_text(code)
    store = tmp_path / "killed.db"
    r = subprocess.run([sys.executable, str(script)], env=child_env(store),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "KilledWorker" in r.stdout, r.stderr[-4000:]
    rows = store_rows(store, "SELECT status, error FROM task"
                      " WHERE source_key = 'die-1'")
    assert len(rows) == 1 and rows[0]["status"] == "ERROR", rows
    assert rows[0]["error"].startswith("KilledWorker: Attempted to run task"
                                       " 'die-1'"), rows


def test_a_key_cancelled_before_it_ran_has_an_end(tmp_path):
    # A key cancelled (client.cancel) or released (its last future
    # dropped) before it ever ran ends CANCELLED at the time the scheduler
    # forgot it: its row had no `ended`, as if it were still going. It
    # never started, so its start (and so its duration) stay NULL. The
    # one worker thread is held by `hold` until both are gone, so neither
    # can run first: a marker file, not a sleep, orders the steps.
    code = """
import os, sys, time
from distributed import Client, LocalCluster
import mida.dask

def hold(started, go):
    open(started, "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    return 1

def quick(x):
    return x

def wait_for(what):
    for _ in range(30000):
        if what():
            return
        time.sleep(0.01)
    sys.exit("timed out")

if __name__ == "__main__":
    started, go = sys.argv[1], sys.argv[2]
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cl, Client(cl) as c:
        mida.dask.observe(c)
        h = c.submit(hold, started, go, key="hold-1")
        wait_for(lambda: os.path.exists(started))
        cancelled = c.submit(quick, 1, key="quick-cancelled")
        released = c.submit(quick, 2, key="quick-released")
        wait_for(lambda: c.run_on_scheduler(
            lambda dask_scheduler: "quick-released" in dask_scheduler.tasks
            and "quick-cancelled" in dask_scheduler.tasks))
        c.cancel(cancelled)
        del released
        wait_for(lambda: c.run_on_scheduler(
            lambda dask_scheduler: not {"quick-cancelled", "quick-released"}
            & set(dask_scheduler.tasks)))
        open(go, "w").close()
        assert h.result() == 1
"""
    script = tmp_path / "cancel.py"
    script.write_text(code)
    store = tmp_path / "cancel.db"
    r = subprocess.run([sys.executable, str(script),
                        str(tmp_path / "started"), str(tmp_path / "go")],
                       env=child_env(store), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    rows = store_rows(store, "SELECT source_key, status, submitted, started,"
                      " ended, attempts FROM task ORDER BY source_key")
    by_key = {row["source_key"]: row for row in rows}
    assert set(by_key) == {"hold-1", "quick-cancelled", "quick-released"}
    assert by_key["hold-1"]["status"] == "FINISHED"
    for key in ("quick-cancelled", "quick-released"):
        row = by_key[key]
        assert row["status"] == "CANCELLED", row
        assert row["started"] is None and row["attempts"] is None, row
        assert row["ended"] is not None, row
        assert row["ended"] >= row["submitted"], row
    # Durations stay NULL (no start): in the view and in `mida tasks`.
    view = store_rows(store, "SELECT source_key, started, ended, duration_s"
                      " FROM task_v WHERE status = 'CANCELLED'")
    assert len(view) == 2
    for row in view:
        assert row["started"] is None and row["duration_s"] is None, row
        assert row["ended"] is not None, row
    listed = subprocess.run([MIDA_BIN, "tasks", "--status", "cancelled",
                             "--json"], env=child_env(store),
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    listed = json.loads(listed.stdout)
    assert len(listed) == 2
    assert all(t["started"] is None and t["duration_s"] is None
               for t in listed), listed


def test_a_key_whose_error_message_python_cannot_encode_ends_error(
        tmp_path):
    # An exception whose message holds a lone surrogate (a file name from
    # os.listdir that is not UTF-8) or a NUL: the scheduler's record of
    # the ERROR raised UnicodeEncodeError or ValueError inside its plugin,
    # and the task stayed RUNNING for good; its run's error said the type
    # alone, or the message up to the NUL. Both are kept whole, written as
    # repr() writes them.
    code = r"""
import os
from distributed import Client, LocalCluster
import mida.dask

def surrogate(x):
    raise ValueError("cannot read " + os.fsdecode(b"/in/\xff.csv"))

def nul(x):
    raise ValueError("bad byte \x00 in header")

if __name__ == "__main__":
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cl, Client(cl) as c:
        mida.dask.observe(c)
        for f, key in ((surrogate, "surrogate-1"), (nul, "nul-1")):
            try:
                c.submit(f, 1, key=key).result()
            except ValueError as e:
                print(key, repr(e))
"""
    script = tmp_path / "messages.py"
    script.write_text(code)
    store = tmp_path / "messages.db"
    r = subprocess.run([sys.executable, str(script)], env=child_env(store),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "surrogate-1 ValueError('cannot read /in/\\udcff.csv')" \
        in r.stdout and "nul-1 ValueError('bad byte \\x00 in header')" \
        in r.stdout, r.stdout
    want = {"surrogate-1": "ValueError: cannot read /in/\\udcff.csv",
            "nul-1": "ValueError: bad byte \\x00 in header"}
    rows = store_rows(store, "SELECT t.source_key, t.status, t.error, "
                      "r.error AS run_error FROM task t JOIN task_run r "
                      "ON r.task_id = t.id ORDER BY t.source_key")
    assert {r["source_key"] for r in rows} == set(want), rows
    for row in rows:
        assert row["status"] == "ERROR", row
        assert row["error"].startswith(want[row["source_key"]]), row
        assert row["run_error"] == want[row["source_key"]], row

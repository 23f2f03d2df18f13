"""The transition hooks of mida.dask's plugins, which are C
(_mida.DaskSchedulerHooks, _mida.DaskWorkerHooks in dask_hooks.c), called
as Dask calls them, on stand-ins for the scheduler's and the worker's task
states (real Dask graph nodes as run specs): the arguments a C parser must
accept or ignore, the records each path makes, what stays in Python
(errors, unmetered runs), subclasses, pickling (observe() sends the
plugins to the scheduler and the workers), and that 100,000 transitions
leak nothing. (Real clusters are test_mida_dask.py's and
test_dask_fidelity.py's.)"""

import subprocess
import sys

from midapy_util import child_env

# The stand-ins: a scheduler with tasks (prefix, dependencies, annotations,
# priority), a worker with a state of tasks (run spec, annotations, type,
# nbytes), as bench/bench_dask_hooks.py has them.
PRELUDE = """
import gc, json, pickle, sys, tracemalloc
import mida
from mida import _mida, dask as md
from dask._task_spec import Task

class O:
    def __init__(self, **kw):
        self.__dict__.update(kw)

def inc(x):
    return x + 1

def cluster(keys, plugin=md.MidaSchedulerPlugin):
    prefix = O(name="inc")
    sched = O(id="S", handlers={}, workers={"tcp://w:1": None}, tasks={
        k: O(key=k, prefix=prefix, dependencies=(), annotations=None,
             priority=(i,), exception_blame=None)
        for i, k in enumerate(keys)})
    sp = plugin(sched)
    sp.update_graph(sched, client="C", keys=set(keys), tasks=list(keys))
    return sched, sp

def worker_of(sched, keys, plugin=md.MidaWorkerPlugin):
    worker = O(address="tcp://w:1", state=O(tasks={
        k: O(key=k, run_spec=Task(k, inc, 1), dependencies=set(),
             annotations=sched.tasks[k].annotations, nbytes=28, type=int)
        for k in keys}))
    wp = plugin()
    wp.worker, wp.address, wp.namespace = worker, worker.address, "S"
    return worker, wp

# step(i) for i in range(times), mida.flush() every flush_every, leaves
# each object of watched with the references it had, and the memory
# traced where it was.
def assert_no_leak(watched, step, times, flush_every):
    mida.flush()
    gc.collect()
    before = [sys.getrefcount(o) for o in watched]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(times):
        step(i)
        if i % flush_every == 0:
            mida.flush()
    mida.flush()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    after = [sys.getrefcount(o) for o in watched]
    assert after == before, [(i, b, a) for i, (b, a) in
                             enumerate(zip(before, after)) if a != b]
    assert grown < 64 * 1024, grown

def rows():
    mida.flush()
    return {r["source_key"]: r for r in mida.query(
        "SELECT source_key, status, custom, error, attempts FROM task "
        "WHERE source_key IS NOT NULL")}
"""


def run(tmp_path, body, **env):
    r = subprocess.run([sys.executable, "-c", PRELUDE + body],
                       env=child_env(tmp_path / "hooks.db",
                                     MIDA_SAMPLE_HZ="0", **env),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r.stdout


def test_the_plugins_transition_is_the_c_method(tmp_path):
    run(tmp_path, """
from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin
assert md.MidaSchedulerPlugin.transition is \\
    _mida.DaskSchedulerHooks.__dict__["transition"]
assert md.MidaWorkerPlugin.transition is \\
    _mida.DaskWorkerHooks.__dict__["transition"]
assert issubclass(md.MidaSchedulerPlugin, SchedulerPlugin)
assert issubclass(md.MidaWorkerPlugin, WorkerPlugin)
# distributed's worker finds the hook by name (_notify_plugins).
assert hasattr(md.MidaWorkerPlugin(), "transition")
""")


def test_the_scheduler_hook_takes_any_arguments_dask_may_pass(tmp_path):
    out = run(tmp_path, """
keys = ["inc-a", "inc-b", "inc-c", "inc-d", "inc-e"]
sched, sp = cluster(keys)
tr = sp.transition
# Ignored transitions, with and without keywords, extra positionals.
tr("inc-a", "released", "waiting")
tr("inc-a", "waiting", "processing", "extra", 2, stimulus_id="s",
   unknown_keyword=object())
# Keys that are not the plugin's, one that cannot be hashed among them.
tr("not-ours", "processing", "memory", stimulus_id="s")
tr(["a", "list"], "processing", "memory", stimulus_id="s")
tr({"a": "dict"}, "released", "forgotten")
# An end with arguments Dask has never passed, and none of the usual.
tr("inc-a", "processing", "memory", stimulus_id="s", worker="tcp://x:9",
   nbytes=7, type=b"int", typename="int", metadata={}, startstops=(),
   run_id=1, something_new=[1, 2])
tr("inc-b", "processing", "memory")
# key, start and finish by keyword; a str equal to an interned state.
tr(key="inc-c", start="processing", finish="".join(["mem", "ory"]),
   nbytes=3)
# A key computed again, and scattered data: no second end.
tr("inc-a", "processing", "memory", nbytes=99)
tr("inc-d", "released", "memory", nbytes=5)
for bad in [(), ("inc-e",), ("inc-e", "processing")]:
    try:
        tr(*bad)
    except TypeError:
        pass
    else:
        raise SystemExit("no TypeError for %r" % (bad,))
got = rows()
assert got["inc-a"]["status"] == "FINISHED", got
assert json.loads(got["inc-a"]["custom"]) == {"nbytes": 7, "typename": "int"}
assert json.loads(got["inc-b"]["custom"] or "{}") == {}, got["inc-b"]
assert got["inc-b"]["status"] == "FINISHED"
assert json.loads(got["inc-c"]["custom"]) == {"nbytes": 3}
assert got["inc-d"]["status"] == "SUBMITTED", got["inc-d"]
assert sp.tasks["inc-a"][2] is True and sp.tasks["inc-d"][2] is False
print("ok")
""")
    assert out.strip() == "ok"


def test_update_graph_records_each_new_key_and_its_known_dependencies(
        tmp_path):
    # update_graph's loop over a graph's new keys (C, _begin_keys): each
    # key an id in self.tasks and in a new dict of its annotations (one
    # shared with other tasks is left as it was), a SUBMITTED row with the
    # prefix's name and the key as text, and a dependency on each upstream
    # key the plugin knows -- of this graph, later in it too, or of an
    # earlier one -- but none on scattered data; a key already known is
    # not given a second id.
    run(tmp_path, """
prefix, other = O(name="inc"), O(name="sum")
shared = {"retries": 2}
def ts(key, deps=(), pre=prefix, ann=None, pri=(0,)):
    return O(key=key, prefix=pre, dependencies=set(deps), annotations=ann,
             priority=pri, exception_blame=None)
sched = O(id="S", handlers={}, workers={}, tasks={})
first = ts("p", pri=(0, 0))
sched.tasks["p"] = first
sp = md.MidaSchedulerPlugin(sched)
sp.update_graph(sched, client="C", keys={"p"}, tasks=["p"])
p_id = sp.tasks["p"][0]
scattered = O(key="scattered")
a = ts("a", ann=shared, pri=(1, 0))
b = ts(("b", 0), deps=[a, first], pre=other, ann=shared, pri=(1, 2))
c = ts("c", deps=[b, scattered], pri=(1, 3))
d = ts("d", deps=[c], pri=(1, 1))  # ordered before its upstream c
sched.tasks.update({"a": a, ("b", 0): b, "c": c, "d": d})
sp.update_graph(sched, client="C", keys={"a", ("b", 0), "c", "d", "p"},
                tasks=["c", ("b", 0), "d", "a", "p"])
ids = {k: sp.tasks[k][0] for k in ("a", ("b", 0), "c", "d")}
assert sorted(ids, key=ids.get) == ["a", "d", ("b", 0), "c"], ids
(wf,) = set(v[1] for v in sp.tasks.values())
# The workflow's id beside the task's: a worker makes both current.
assert sp.tasks["p"][0] == p_id and first.annotations == {
    "mida_task": p_id, "mida_workflow": wf}
assert all(v[2] is False for v in sp.tasks.values())
assert sp.workflows[wf][0] == 5, sp.workflows
assert shared == {"retries": 2}
assert a.annotations == {"retries": 2, "mida_task": ids["a"],
                         "mida_workflow": wf}
assert b.annotations == {"retries": 2, "mida_task": ids[("b", 0)],
                         "mida_workflow": wf}
assert a.annotations is not b.annotations
assert d.annotations == {"mida_task": ids["d"], "mida_workflow": wf}
mida.flush()
got = {r["id"]: r for r in mida.query(
    "SELECT id, activity, status, source_key, workflow_id, submitted "
    "FROM task")}
assert len(got) == 5, got
for k, tid in ids.items():
    row = got[tid]
    assert row["status"] == "SUBMITTED" and row["workflow_id"] == wf, row
    assert row["source_key"] == str(k) and row["submitted"] > 0, row
assert got[ids[("b", 0)]]["activity"] == "sum"
assert got[ids["a"]]["activity"] == "inc"
deps = {(r["task_id"], r["upstream_id"]) for r in mida.query(
    "SELECT task_id, upstream_id FROM task_dep")}
assert deps == {(ids[("b", 0)], ids["a"]), (ids[("b", 0)], p_id),
                (ids["c"], ids[("b", 0)]), (ids["d"], ids["c"])}, deps
""")


def test_update_graph_leaves_data_out_and_records_it_as_used(tmp_path):
    # A graph names data too: a key without a run spec (client.scatter's),
    # and keys in memory or erred already (computed before the plugin saw
    # them). None is a task (no id, no row, not counted into a workflow;
    # a graph of data only opens none); a task that depends on one has it
    # as data used, uri dask://<scheduler>/<key> percent-encoded, size
    # its nbytes, name the key. Checked to fail without _drop_data.
    run(tmp_path, """
prefix = O(name="inc")
def ts(key, deps=(), pri=(0,), **kw):
    return O(key=key, prefix=prefix, dependencies=set(deps),
             annotations=None, priority=pri, exception_blame=None, **kw)
sched = O(id="Scheduler-1", handlers={}, workers={}, tasks={})
sp = md.MidaSchedulerPlugin(sched)
spec = object()
data = ts("int-1", run_spec=None, _state="memory", nbytes=28)
named = ts(("my data", 1), run_spec=None, _state="memory", nbytes=-1)
old = ts("old", run_spec=spec, _state="memory", nbytes=8)
bad = ts("bad", run_spec=spec, _state="erred")
sched.tasks.update({"int-1": data, ("my data", 1): named, "old": old,
                    "bad": bad})
# Data only: nothing, not even a workflow.
sp.update_graph(sched, client="C", keys={"int-1"}, tasks=["int-1"])
assert sp.tasks == {} and sp.workflows == {} and sp.graphs == 0
use = ts("use", deps=[data, named, old], pri=(1,), run_spec=spec,
         _state="released")
sched.tasks["use"] = use
sp.update_graph(sched, client="C", keys={"use"},
                tasks=["use", "int-1", ("my data", 1), "old", "bad"])
assert list(sp.tasks) == ["use"], sp.tasks
assert data.annotations is None and old.annotations is None
(wf,) = sp.workflows
assert sp.workflows[wf][0] == 1
# Released and forgotten, data ends nothing; the task ends the workflow.
for k in ("int-1", ("my data", 1), "old", "bad"):
    sp.transition(k, "memory", "forgotten", stimulus_id="s")
sp.transition("use", "processing", "memory", stimulus_id="s", nbytes=1)
assert sp.workflows == {}
mida.flush()
rows = mida.query("SELECT source_key, status FROM task")
assert rows == [{"source_key": "use", "status": "FINISHED"}], rows
assert mida.query("SELECT count(*) AS n FROM task_dep") == [{"n": 0}]
used = mida.query("SELECT t.source_key AS task, td.role AS role, "
                  "td.name AS name, d.kind AS kind, d.uri AS uri, "
                  "d.size AS size FROM task_data td "
                  "JOIN task t ON t.id = td.task_id "
                  "JOIN data d ON d.id = td.data_id ORDER BY uri")
assert used == [
    {"task": "use", "role": "used", "name": "('my data', 1)",
     "kind": "object",
     "uri": "dask://Scheduler-1/%28%27my%20data%27%2C%201%29", "size": None},
    {"task": "use", "role": "used", "name": "int-1", "kind": "object",
     "uri": "dask://Scheduler-1/int-1", "size": 28},
    {"task": "use", "role": "used", "name": "old", "kind": "object",
     "uri": "dask://Scheduler-1/old", "size": 8}], used
""")


def test_twenty_thousand_graphs_leak_nothing(tmp_path):
    # update_graph's C loop (_begin_keys) takes and drops references to
    # the keys, their task states, annotations, prefixes and upstream
    # task states, and makes the records: a graph of two keys (one with
    # annotations, one depending on it and on scattered data) submitted
    # and forgotten 20,000 times changes no object's count, and the
    # memory traced stays put.
    run(tmp_path, """
prefix = O(name="inc")
ann = {"retries": 1}
scattered = O(key="scattered")
sched = O(id="S", handlers={}, workers={}, tasks={})
sp = md.MidaSchedulerPlugin(sched, per_client=True)
def graph(i):
    a = O(key=("a", i), prefix=prefix, dependencies=set(), annotations=ann,
          priority=(i, 0), exception_blame=None)
    b = O(key=("b", i), prefix=prefix, dependencies={a, scattered},
          annotations=None, priority=(i, 1), exception_blame=None)
    sched.tasks = {a.key: a, b.key: b}
    sp.update_graph(sched, client="C", keys={b.key}, tasks=[b.key, a.key])
    for k in (a.key, b.key):
        sp.transition(k, "processing", "memory", stimulus_id="s", nbytes=1)
        sp.transition(k, "memory", "forgotten", stimulus_id="s")
    assert not sp.tasks, sp.tasks
watched = [prefix, ann, scattered, sched, sp, "C"]
for i in range(1000):
    graph(i)
(wf,) = sp.workflows
watched.append(wf)
assert_no_leak(watched, graph, 20_000, 5_000)
assert ann == {"retries": 1}
(n,) = mida.query("SELECT count(*) AS n FROM task_dep")
assert n["n"] == 21_000, n
""", MIDA_SHIP_MS="50")


def test_the_scheduler_hook_records_errors_cancels_and_workflow_ends(
        tmp_path):
    run(tmp_path, """
keys = ["inc-a", "inc-b", "inc-c", "inc-d"]
sched, sp = cluster(keys)
(wf,) = sp.workflows
tr = sp.transition
tr("inc-a", "processing", "erred", stimulus_id="s", worker="tcp://w:1",
   exception_text="ZeroDivisionError('x')", traceback_text="  line 1")
sched.tasks["inc-b"].exception_blame = O(key="inc-a")
tr("inc-b", "waiting", "erred", stimulus_id="s")
tr("inc-c", "waiting", "released", stimulus_id="s")
tr("inc-c", "released", "forgotten", stimulus_id="s")
assert "inc-c" not in sp.tasks
assert sp.workflows[wf] == [1, True], sp.workflows
tr("inc-d", "processing", "memory", stimulus_id="s", nbytes=1)
assert wf not in sp.workflows  # its last key ended: the workflow too
got = rows()
assert got["inc-a"]["status"] == "ERROR"
# "Type: message", as its runs and @mida.task say it, not Dask's repr.
assert got["inc-a"]["error"] == "ZeroDivisionError: x\\n  line 1"
assert got["inc-b"]["error"] == "an upstream task erred: inc-a", got
assert got["inc-c"]["status"] == "CANCELLED"
(w,) = mida.query("SELECT status FROM workflow WHERE id = ?", [wf])
assert w["status"] == "ERROR", w
""")


def test_the_worker_hook_meters_and_ends_tasks(tmp_path):
    run(tmp_path, """
keys = ["inc-a", "inc-b", "inc-c", "inc-d"]
sched, sp = cluster(keys)
worker, wp = worker_of(sched, keys)
wts = worker.state.tasks
async def coro(x):
    return x
wts["inc-b"].run_spec = Task("inc-b", coro, 1)  # async def: unmetered
wts["inc-c"].annotations = None  # no scheduler plugin: an id of its own
wts["inc-d"].run_spec = (inc, (1,), {})  # dask 2024.11 and older
for k in keys:
    wp.transition(k, "released", "waiting", stimulus_id="s", extra=1)
    wp.transition(k, "ready", "executing")
assert type(wts["inc-a"].run_spec) is _mida.TaskMeter
assert type(wts["inc-c"].run_spec) is _mida.TaskMeter
assert wts["inc-c"].run_spec.task == md.task_id("S", "inc-c")
assert type(wts["inc-d"].run_spec[0]) is _mida.TaskMeter
assert wp.metered == 3 and wp.skipped == 1 and list(wp.unmetered) == ["inc-b"]
assert wts["inc-a"].run_spec({}) == 2
assert wts["inc-d"].run_spec[0](1) == 2
for k in ("inc-a", "inc-b", "inc-d"):
    wp.transition(k, "executing", "memory")
wp.transition(["unhashable"], "executing", "memory")
wp.transition(["unhashable"], "memory", "released")
assert not wp.unmetered
got = rows()
assert got["inc-a"]["status"] == "FINISHED" and got["inc-a"]["attempts"] == 1
assert json.loads(got["inc-a"]["custom"]) == {"nbytes": 28, "typename": "int"}
assert got["inc-b"]["status"] == "FINISHED" and got["inc-b"]["attempts"] == 1
assert got["inc-d"]["status"] == "FINISHED" and got["inc-d"]["attempts"] == 1
assert json.loads(got["inc-d"]["custom"]) == {"nbytes": 28, "typename": "int"}
""")


def test_subclasses_and_pickled_plugins_keep_the_hooks(tmp_path):
    run(tmp_path, """
seen = []
class Counting(md.MidaSchedulerPlugin):
    def transition(self, key, start, finish, *args, **kwargs):
        seen.append(finish)
        return super().transition(key, start, finish, *args, **kwargs)
keys = ["inc-a", "inc-b"]
sched, sp = cluster(keys, Counting)
sp.transition("inc-a", "processing", "memory", stimulus_id="s", nbytes=1)
assert seen == ["memory"] and sp.tasks["inc-a"][2] is True
# observe() pickles the plugins to send them.
for p in (md.MidaSchedulerPlugin(), md.MidaWorkerPlugin()):
    q = pickle.loads(pickle.dumps(p))
    assert type(q) is type(p) and q.__dict__.keys() == p.__dict__.keys()
w = pickle.loads(pickle.dumps(md.MidaWorkerPlugin()))
worker, _ = worker_of(sched, keys)
w.worker, w.address, w.namespace = worker, worker.address, "S"
w.transition("inc-b", "ready", "executing")
assert w.metered == 1
""")


def test_a_hundred_thousand_transitions_leak_nothing(tmp_path):
    # Each path that takes references (the arguments, the records, the
    # task states, the meters made, the calls into dask.py, the errors
    # raised) run many times: no object's count grows, and the memory
    # traced stays put. 100,000 cycles of the C paths: on the scheduler a
    # key's end recorded (FINISHED, custom), an end that its worker
    # records (RECORDS_ENDS, startstops read), a cancel (forgotten before
    # its end); on the worker a node metered and its end, from executing
    # and from a built "long-running", and a call refused (TypeError).
    # Every tenth cycle, the paths through dask.py: an error (_erred), a
    # tuple run spec (_executing, _meter), unmetered runs ended at memory
    # and at error (_begin_unmetered, _end_unmetered), and an end that
    # raises, with its unmetered run. (Checked to fail, one at a time,
    # with a reference leaked to the exception_text in the erred path, to
    # the startstops entry in computed() and to the key in
    # worker_end_unmetered(), and with an int leaked in one_done(); the
    # 7-transition cycle before missed the first two.)
    run(tmp_path, """
keys = ["inc-a", "inc-b", "inc-c", "inc-d", "inc-e", "inc-f", "inc-g",
        "inc-h"]
sched, sp = cluster(keys)
worker, wp = worker_of(sched, keys)
wts = worker.state.tasks
recs = {k: sp.tasks[k] for k in keys}
wf = recs["inc-a"][1]
sp.workflows[wf][0] = 10 ** 9  # the workflow stays open
ours = "tcp://w:1"
sp._worker_records_ends(address=ours)
assert sp.ends_on_workers == {ours}
w, nb, tn = "tcp://w:9", 28, "int"
ss = ({"action": "compute"},)
text, tb = "ZeroDivisionError('x')", "  line 1"
lr = "".join(["long-", "running"])
async def coro(x):
    return x
node = wts["inc-a"].run_spec
old_spec = (inc, (1,), {})  # dask 2024.11 and older: dask.py's path
wts["inc-f"].run_spec = coro_f = Task("inc-f", coro, 1)  # unmetered
wts["inc-g"].run_spec = coro_g = Task("inc-g", coro, 1)
wts["inc-h"].run_spec = coro_h = Task("inc-h", coro, 1)
del wts["inc-h"].nbytes  # its end raises AttributeError
worker.data = {"inc-f": 2}
watched = [w, nb, tn, ss, ss[0], text, tb, lr, ours, node, old_spec, coro_f,
           coro_g, coro_h, wf, sp, wp, worker.data]
watched += list(recs.values()) + [r[0] for r in recs.values()]
watched += list(wts.values()) + keys

def cycle():
    for k in ("inc-a", "inc-b", "inc-d"):
        recs[k][2] = False
        sp.tasks[k] = recs[k]  # inc-d's is dropped when it is forgotten
    sp.transition("inc-a", "processing", "memory", stimulus_id="s",
                  worker=w, nbytes=nb, typename=tn, startstops=ss)
    sp.transition("inc-b", "processing", "memory", stimulus_id="s",
                  worker=ours, nbytes=nb, typename=tn, startstops=ss)
    sp.transition("inc-d", "waiting", "released", stimulus_id="s")
    sp.transition("inc-d", "released", "forgotten", stimulus_id="s")
    sp.transition("inc-a", "memory", "released", stimulus_id="s")
    sp.transition(["x"], "processing", "erred")
    for k in ("inc-a", "inc-e"):
        wts[k].run_spec = node
        wp.transition(k, "ready", "executing")
    wp.transition("inc-a", "executing", "memory")
    wp.transition("inc-a", "memory", "released")
    wp.transition("inc-e", "executing", lr)
    wp.transition("inc-e", lr, "memory")
    try:
        wp.transition("inc-a", "ready", "executing", "extra")
    except TypeError:
        pass

# The unmetered runs' tasks take their ids in turn from 100 annotations:
# the store counts a task's runs at each write of its row, and 10,000
# runs of one task would make the test's time grow with their square.
runs_of = [{"mida_task": _mida.new_id()} for _ in range(100)]
rounds = [0]

def rare():
    # The paths through dask.py, each ~10-20 times a C cycle's cost
    # (the unmetered runs' most of it their records' storing): 10,000
    # rounds, as many leaked references or ~32-byte objects as show
    # plainly in the counts and the 64 KiB.
    rounds[0] += 1
    for k in ("inc-f", "inc-g", "inc-h"):
        wts[k].annotations = runs_of[rounds[0] % 100]
    recs["inc-c"][2] = False
    sp.transition("inc-c", "processing", "erred", stimulus_id="s",
                  worker=w, exception_text=text, traceback_text=tb)
    wts["inc-c"].run_spec = old_spec
    wp.transition("inc-c", "ready", "executing")
    wp.transition("inc-c", "executing", "memory")
    wp.transition("inc-f", "ready", "executing")
    wp.transition("inc-f", "executing", "memory")
    wp.transition("inc-g", "ready", "executing")
    wp.transition("inc-g", "executing", "error")
    wp.transition("inc-h", "ready", "executing")
    try:
        wp.transition("inc-h", "executing", "memory")
    except AttributeError:
        pass

for i in range(1000):
    cycle()
    if i % 10 == 0:
        rare()
assert not wp.unmetered and wp.skipped == 300, (wp.unmetered, wp.skipped)
assert sp.workflows[wf] == [10 ** 9 - 3100, True], sp.workflows[wf]
def step(i):
    cycle()
    if i % 10 == 0:
        rare()
assert_no_leak(watched, step, 100_000, 20_000)
assert wp.metered == 2 * 101_000 + 10_100 and wp.skipped == 3 * 10_100
assert not wp.unmetered
got = rows()
assert got["inc-a"]["status"] == "FINISHED"
assert got["inc-c"]["status"] == "ERROR"
assert got["inc-d"]["status"] == "CANCELLED"
""", MIDA_SHIP_MS="50")


def test_an_erred_hook_that_drops_the_key_s_ids_does_not_crash(tmp_path):
    """The scheduler's end holds the key's task and workflow ids while it
    calls back into Python (_erred): a subclass's _erred that drops them
    from the key's record and the plugin's maps must not leave the C code
    reading freed objects (a Bus error under PYTHONMALLOC=debug before)."""
    out = run(tmp_path, """
class P(md.MidaSchedulerPlugin):
    def _erred(self, key, start, tid, text, tb):
        super()._erred(key, start, tid, text, tb)
        self.tasks[key][1] = None
        self.workflows.clear()
        self.client_wf.clear()
sched, sp = cluster(["k"], plugin=P)
sp.transition("k", "processing", "erred", exception_text="x")
print("survived")
""", PYTHONMALLOC="debug")
    assert "survived" in out


def test_a_failing_end_on_the_worker_still_ends_its_unmetered_run(tmp_path):
    """An exception raised while the worker records a task's end (_ended)
    does not leave the task's unmetered run behind: the run is ended
    (_end_unmetered) all the same, and the end's exception is the one
    raised; one that the run's end raises as well goes to
    sys.unraisablehook, not lost."""
    run(tmp_path, """
keys = ["inc-a", "inc-b"]
sched, sp = cluster(keys)

class W(md.MidaWorkerPlugin):
    def _end_unmetered(self, key, finish):
        super()._end_unmetered(key, finish)
        if key == "inc-b":
            raise RuntimeError("the run's end failed too")

worker, wp = worker_of(sched, keys, plugin=W)
wts = worker.state.tasks
async def coro(x):
    return x
for k in keys:
    wts[k].run_spec = Task(k, coro, 1)  # async def: an unmetered run
    wp.transition(k, "ready", "executing")
    del wts[k].nbytes  # the end's read of it raises AttributeError
assert sorted(wp.unmetered) == keys, wp.unmetered
unraisable = []
sys.unraisablehook = unraisable.append
for k in keys:
    try:
        wp.transition(k, "executing", "memory")
    except AttributeError:
        pass
    else:
        raise SystemExit("the end's AttributeError was not raised")
assert not wp.unmetered, wp.unmetered
assert [type(u.exc_value) for u in unraisable] == [RuntimeError], unraisable
got = rows()
assert got["inc-a"]["status"] == "FINISHED", got["inc-a"]
assert got["inc-a"]["attempts"] == 1, got["inc-a"]
""")


def test_the_worker_hook_refuses_what_its_signature_refuses(tmp_path):
    """The worker's hook is transition(key, start, finish, **kwargs), as
    WorkerPlugin.transition: extra positional arguments, or key, start or
    finish given twice, are a TypeError, as they would be in Python, and
    nothing is recorded. (The scheduler's takes *args, as
    SchedulerPlugin.transition: test_the_scheduler_hook_takes_any_...)"""
    run(tmp_path, """
keys = ["inc-a"]
sched, sp = cluster(keys)
worker, wp = worker_of(sched, keys)
def python_hook(key, start, finish, **kwargs):
    pass
for args, kwargs in [
        (("inc-a", "ready", "executing", "extra"), {}),
        (("inc-a", "ready", "executing", 1, 2), {"stimulus_id": "s"}),
        (("inc-a", "ready", "executing"), {"key": "inc-a"}),
        (("inc-a", "ready"), {"start": "ready", "finish": "executing"}),
        (("inc-a",), {"start": "ready", "finish": "executing",
                      "key": "inc-b"})]:
    for hook in (python_hook, wp.transition):
        try:
            hook(*args, **kwargs)
        except TypeError:
            pass
        else:
            raise SystemExit("no TypeError from %s for %r %r" % (
                hook.__name__, args, kwargs))
assert wp.metered == 0 and not wp.unmetered, (wp.metered, wp.unmetered)
assert type(worker.state.tasks["inc-a"].run_spec) is not _mida.TaskMeter
wp.transition("inc-a", "ready", "executing", stimulus_id="s", key_=1)
wp.transition(key="inc-a", start="executing", finish="memory")
assert wp.metered == 1
""")


def test_the_worker_hook_ends_a_long_running_task_whichever_str_says_so(
        tmp_path):
    """A task that seceded (long-running) ends at memory like one that was
    executing, whether "long-running" comes as Dask's own literal (not
    interned: CPython interns only constants that look like names), as a
    str built at run time, or as an interned one, in any order: the hook
    keeps Dask's str to match it by address, without missing the
    others."""
    run(tmp_path, """
import distributed.worker_state_machine as wsm
code = wsm.WorkerState._transition_executing_long_running.__code__
(dasks,) = {c for c in code.co_consts if c == "long-running"}
built = "".join(["long-", "running"])
assert built is not dasks and sys.intern(built) is not dasks
said = [dasks, built, sys.intern("long-running"), dasks, built, dasks]
keys = ["inc-%d" % i for i in range(len(said))]
sched, sp = cluster(keys)
worker, wp = worker_of(sched, keys)
for k, state in zip(keys, said):
    wp.transition(k, "ready", "executing")
    assert worker.state.tasks[k].run_spec({}) == 2  # the metered run
    wp.transition(k, "executing", state)
    wp.transition(k, state, "memory")
got = rows()
for k in keys:
    assert json.loads(got[k]["custom"]) == {"nbytes": 28, "typename": "int"}, \\
        (k, got[k])
    assert got[k]["status"] == "FINISHED", (k, got[k])
""")

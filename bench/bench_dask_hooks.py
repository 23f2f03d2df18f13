"""bench_dask_hooks.py -- the CPU that mida's Dask plugin hooks add per task,
in one process, without a cluster.

A Dask run's totals move by more between two runs on a shared machine
than the plugins cost, so this times the hooks themselves: the calls a
scheduler and a worker make into MidaSchedulerPlugin and MidaWorkerPlugin
for N tasks of a client.map, in the order Dask makes them, on stand-ins
for the scheduler's and the worker's task states (real dask Task run
specs), and the TaskMeter call on the executing thread. CPU time of the
calling thread (the shipper's is apart: bench_py_dask.py reports it),
per task, median over --rounds; the records go to a throwaway SQLite
store.

  scheduler  update_graph (N keys) + per key released->waiting,
             waiting->processing, processing->memory (with the worker,
             nbytes, typename and startstops, as Dask passes them; the
             worker has told the scheduler that it records the ends, as
             a worker with mida's plugin does), memory->released,
             released->forgotten
  worker     per key released->waiting, waiting->ready, ready->executing
             (the TaskMeter put around the run spec), executing->memory,
             memory->released, released->forgotten; the run spec's is_coro
             asked before, as Dask's worker asks it of every task anyway
  meter      the task's call through its TaskMeter (the run's start and
             end, arguments and result), less the plain call

usage: bench_dask_hooks.py [--tasks N] [--rounds R] [--mida-path DIR]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def inc(x):
    return x + 1


class Prefix:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class SchedTask:  # the fields of distributed.scheduler.TaskState it reads
    __slots__ = ("key", "prefix", "dependencies", "annotations", "priority",
                 "exception_blame", "run_spec", "_state")

    def __init__(self, key, prefix, i):
        self.key = key
        self.prefix = prefix
        self.dependencies = set()
        self.annotations = None
        self.priority = (0, 1, i)
        self.exception_blame = None
        self.run_spec = prefix  # a task's (_drop_data reads it and _state)
        self._state = "released"


class WorkerTask:  # ... of distributed.worker_state_machine.TaskState
    __slots__ = ("key", "run_spec", "annotations", "dependencies", "nbytes",
                 "type")

    def __init__(self, key, run_spec, annotations):
        self.key = key
        self.run_spec = run_spec
        self.annotations = annotations
        self.dependencies = set()
        self.nbytes = 28
        self.type = int


class Holder:
    pass


def one_round(n, base):
    from dask._task_spec import Task
    from mida.dask import MidaSchedulerPlugin, MidaWorkerPlugin

    keys = ["inc-%032x" % (base + i) for i in range(n)]
    prefix = Prefix("inc")
    sched = Holder()
    sched.id = "Scheduler-bench"
    sched.handlers = {}
    sched.tasks = {k: SchedTask(k, prefix, i) for i, k in enumerate(keys)}
    sp = MidaSchedulerPlugin(sched)
    told = getattr(sp, "_worker_records_ends", None)
    if told is not None:  # the worker said it records the ends (RECORDS_ENDS)
        told(address="tcp://w:1")
    clock = time.thread_time_ns
    t0 = clock()
    sp.update_graph(sched, client="Client-bench", keys=set(keys),
                    tasks=list(keys), annotations={}, priority={},
                    stimulus_id="update-graph")
    tr = sp.transition
    for k in keys:
        tr(k, "released", "waiting", stimulus_id="s")
        tr(k, "waiting", "processing", stimulus_id="s")
        tr(k, "processing", "memory", stimulus_id="s", worker="tcp://w:1",
           nbytes=28, type=b"int", typename="int", metadata={},
           startstops=({"action": "compute", "start": 1.0, "stop": 1.1},),
           run_id=1)
    for k in keys:
        tr(k, "memory", "released", stimulus_id="s")
        tr(k, "released", "forgotten", stimulus_id="s")
    sched_ns = clock() - t0

    worker = Holder()
    worker.address = "tcp://127.0.0.1:1"
    worker.state = Holder()
    wtasks = {}
    for k in keys:
        wtasks[k] = WorkerTask(k, Task(k, inc, 1),
                               dict(sched.tasks[k].annotations))
    worker.state.tasks = wtasks
    # Dask's worker asks each task's run spec whether it is a coroutine
    # function before it runs it (Worker.execute: run_spec.is_coro), which
    # the first time per task costs ~15,000 instructions (distributed's
    # iscoroutinefunction) and is then cached on the spec. The plugin asks
    # first, in the executing transition, so unless asked here that cost of
    # plain Dask's would be counted as the plugin's.
    for ts in wtasks.values():
        getattr(ts.run_spec, "is_coro", None)
    wp = MidaWorkerPlugin()
    wp.worker = worker
    wp.address = worker.address
    wp.namespace = "Scheduler-bench"
    wtr = wp.transition
    t0 = clock()
    for k in keys:
        wtr(k, "released", "waiting")
        wtr(k, "waiting", "ready")
        wtr(k, "ready", "executing")
        wtr(k, "executing", "memory")
        wtr(k, "memory", "released")
        wtr(k, "released", "forgotten")
    worker_ns = clock() - t0
    specs = [wtasks[k].run_spec for k in keys]
    plain = [s.__wrapped__ for s in specs]
    t0 = clock()
    for s in specs:
        s({})
    meter_ns = clock() - t0
    t0 = clock()
    for s in plain:
        s({})
    plain_ns = clock() - t0
    return sched_ns / n, worker_ns / n, (meter_ns - plain_ns) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mida-path")
    a = ap.parse_args()
    if a.mida_path:
        sys.path.insert(0, a.mida_path)
    d = tempfile.mkdtemp(prefix="mida-bench-hooks-")
    os.environ["MIDA_STORE"] = "sqlite://%s/bench.db" % d
    import mida
    import mida.dask  # noqa: F401
    one_round(200, 1 << 40)  # warm: session open, imports
    rows = [one_round(a.tasks, (r + 2) << 40) for r in range(a.rounds)]
    mida.flush(60)
    out = {"bench": "dask_hooks", "tasks": a.tasks, "rounds": a.rounds,
           "mida": os.path.dirname(mida.__file__)}
    for i, what in enumerate(("scheduler", "worker", "meter")):
        v = [r[i] for r in rows]
        out[what + "_ns_per_task"] = round(statistics.median(v))
        out[what + "_range"] = [round(min(v)), round(max(v))]
        print("%-9s %7.0f ns a task [%0.f..%0.f]" % (
            what, statistics.median(v), min(v), max(v)))
    out["load"] = [round(x, 2) for x in os.getloadavg()]
    print("load average: %s" % out["load"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()

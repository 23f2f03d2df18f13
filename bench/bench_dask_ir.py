"""bench_dask_ir.py -- the instructions mida adds to a Dask run, counted by
callgrind: deterministic where wall and CPU time are not.

On a shared machine the CPU seconds of two plain Dask runs differ by more
than mida's budget (2 %); instructions do not move with the load. This
runs N small tasks (client.map of a one-line function, wait, release,
until the scheduler has forgotten them) on a LocalCluster with
processes=False (scheduler, one worker of 1 thread and the client in one
process, so that every thread is under one valgrind), under

  valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes

and counts only what runs between two marks (callgrind_marks.c, loaded
with ctypes): imports, the cluster's start and close are not counted.
Variants, each in a fresh process with a fresh store, alternated:

  none  plain Dask
  mida  mida's plugins as users get them (`mida run` sets the preloads
        DASK_DISTRIBUTED__{SCHEDULER,WORKER}__PRELOAD=mida.dask); the
        window ends after mida.flush(), so the shipper's writes of the
        window's records are counted
  empty (with --empty) a scheduler plugin and a worker plugin that do
        nothing (SchedulerPlugin and WorkerPlugin with no method of their
        own): what Dask itself spends on every transition for having a
        plugin at all, which no plugin can avoid; mida less empty is what
        mida's hooks and threads add beyond it

Dask's timers that do more work the longer a run takes (work stealing,
the active memory manager, profiling, the system and GIL monitors, the
tick) are turned off: under callgrind a run is ~50 times slower, and they
would count the slowdown, not the tasks. PYTHONHASHSEED is fixed. What
stays timing-dependent: heartbeats, and mida's shipper batches (a batch
per MIDA_SHIP_MS, 500 ms for Dask: under callgrind far fewer tasks a
batch than at full speed, so --ship-ms scales it; see docs/python.md)
and its sampler.

Per variant: total instructions (all threads) per task, split into mida's
threads (the shipper, sampler and checkpoint threads, found by their
entry functions) and the rest, and the exclusive instructions by ELF
object; then mida's per task as the difference of the medians, with the
plain runs' spread beside it.

  --hooks  instead, the plugin hooks of bench_dask_hooks.py (scheduler,
           worker, TaskMeter call less the plain call) counted a task,
           on the calling thread

Skips with a message (exit 0) where valgrind or callgrind_marks is
missing. Prints the figures and a final JSON line. Figures, not pass/fail.

usage: bench_dask_ir.py [--tasks N] [--repeat R] [--ship-ms MS]
                        [--hooks] [--empty] [--build DIR] [--keep DIR]
"""
import argparse
import collections
import ctypes
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MIDA_THREADS = ("shipper_main", "sampler_main", "checkpoint_main")

# Dask's periodic work, off: under callgrind it would count wall time.
QUIET = {
    "distributed.scheduler.work-stealing": False,
    "distributed.scheduler.active-memory-manager.start": False,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1h",
    "distributed.admin.system-monitor.interval": "1h",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.worker.memory.monitor-interval": "1h",
    "distributed.client.scheduler-info-interval": "1h",
}


def inc(x):
    return x + 1


class Marks:
    """callgrind_marks.c through ctypes."""

    def __init__(self, path):
        lib = ctypes.CDLL(path)
        self.start = lib.callgrind_marks_start
        self.stop = lib.callgrind_marks_stop
        self.zero = lib.callgrind_marks_zero
        self._dump = lib.callgrind_marks_dump
        self._dump.argtypes = [ctypes.c_char_p]

    def dump(self, label):
        self._dump(label.encode())


def child_run(n, variant, marks):
    import dask
    dask.config.set(QUIET)
    from dask.distributed import Client, LocalCluster, wait
    cluster = LocalCluster(n_workers=1, threads_per_worker=1,
                           processes=False, dashboard_address=None)
    client = Client(cluster)
    sched = cluster.scheduler
    if variant == "empty":
        add_empty_plugins(client, sched)

    def forgotten():
        while sched.tasks:
            time.sleep(0.05)

    warm = client.map(inc, range(-50, 0), key="warm")  # code paths, imports
    wait(warm)
    del warm
    forgotten()
    if variant == "mida":  # the warm tasks' records shipped, statements
        import mida        # prepared: a session's first batch is not counted
        mida.flush(600)
    marks.start()
    futures = client.map(inc, range(n))
    wait(futures)
    last = futures[-1].result()
    del futures
    forgotten()
    if variant == "mida":
        import mida
        mida.flush(600)
    marks.stop()
    assert last == n
    stored = None
    if variant == "mida":
        import mida
        stored = mida.query("SELECT count(*) AS n FROM task WHERE status = "
                            "'FINISHED' AND generated IS NOT NULL")[0]["n"]
    client.close()
    cluster.close()
    return {"stored": stored}


def add_empty_plugins(client, sched):
    """A scheduler plugin and a worker plugin with nothing of their own:
    Dask calls their base classes' no-op transition for every transition
    (and copies the task's dependents and dependencies for the
    scheduler's), as it would mida's."""
    from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

    class EmptySchedulerPlugin(SchedulerPlugin):
        name = "bench-empty-scheduler"

    class EmptyWorkerPlugin(WorkerPlugin):
        name = "bench-empty-worker"

    sched.add_plugin(EmptySchedulerPlugin())
    register = getattr(client, "register_plugin", None)
    if register is None:  # distributed before 2023.9
        register = client.register_worker_plugin
    register(EmptyWorkerPlugin())


def child_hooks(n, marks):
    """bench_dask_hooks.one_round under the marks: its clock() calls at
    each phase's start and end become dumps, so parts 2, 4, 6 and 8 are
    the scheduler's hooks, the worker's, the metered calls, the plain
    calls (this thread only: --separate-threads=yes)."""
    sys.path.insert(0, HERE)
    import bench_dask_hooks as hooks
    import mida  # noqa: F401
    import mida.dask  # noqa: F401
    hooks.one_round(200, 1 << 40)  # warm: session open, imports
    calls = [0]

    def clock():
        calls[0] += 1
        marks.dump("phase%d" % calls[0])
        return 0
    hooks.time.thread_time_ns = clock
    marks.start()
    hooks.one_round(n, 2 << 40)
    marks.stop()
    return {"clock_calls": calls[0]}


def parse(path):
    """Exclusive Ir by ELF object and by function of a callgrind file, its
    total, and the functions it names."""
    by_ob = collections.Counter()
    by_fn = collections.Counter()
    names = {"ob": {}, "fn": {}}
    ob = fn = "?"
    total = 0
    skip = False
    fns = set()
    with open(path, errors="replace") as f:
        for line in f:
            c = line[0]
            if c.isdigit() or c in "+-*":
                if skip:  # the inclusive cost of the call above
                    skip = False
                    continue
                parts = line.split()
                if len(parts) > 1:
                    v = int(parts[1])
                    by_ob[ob] += v
                    by_fn[(ob, fn)] += v
                continue
            m = re.match(r"(c?)(ob|fn|fl|fi|fe)=(?:\((\d+)\))?\s*(.*)", line)
            if m:
                called, kind, ident, name = m.groups()
                if kind in ("fl", "fi", "fe"):
                    continue
                table = names[kind]
                if ident is not None:
                    if name:
                        table[ident] = name.strip()
                    name = table.get(ident, "?")
                name = name.strip()
                if kind == "fn":
                    fns.add(name)
                if not called:
                    if kind == "ob":
                        ob = os.path.basename(name)
                    else:
                        fn = name
                continue
            if line.startswith("calls="):
                skip = True
            elif line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total, by_ob, by_fn, fns


def run_child(args, variant, build, ship_ms, workdir):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and not k.startswith("DASK_")}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(build, "python")] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["MIDA_STORE"] = "sqlite://%s/bench.db" % workdir
    if ship_ms:
        env["MIDA_SHIP_MS"] = str(ship_ms)
    if variant == "mida":
        env["DASK_DISTRIBUTED__SCHEDULER__PRELOAD"] = "mida.dask"
        env["DASK_DISTRIBUTED__WORKER__PRELOAD"] = "mida.dask"
    out = os.path.join(workdir, "result.json")
    cg = os.path.join(workdir, "cg.out")
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
           "--separate-threads=yes", "--callgrind-out-file=" + cg,
           sys.executable, os.path.abspath(__file__), "--child", variant,
           "--tasks", str(args.tasks), "--out", out, "--marks",
           os.path.join(build, "bench", "libcallgrind_marks.so")]
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                       timeout=3600, cwd=workdir)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
        raise SystemExit("variant %s failed" % variant)
    with open(out) as f:
        res = json.load(f)
    res["valgrind_s"] = round(time.monotonic() - t0, 1)
    res["files"] = sorted(glob.glob(cg + "*"))
    return res


def count_run(res, n):
    """Per task: all threads, mida's threads, the rest; by object."""
    total = mida_threads = 0
    by_ob = collections.Counter()
    by_thread = collections.Counter()
    for path in res["files"]:
        t, obs, _, fns = parse(path)
        total += t
        by_ob.update(obs)
        entry = [f for f in MIDA_THREADS if f in fns]
        if entry:
            mida_threads += t
            by_thread[entry[0]] += t / n
    return {"total": total / n, "mida_threads": mida_threads / n,
            "rest": (total - mida_threads) / n, "by_thread": by_thread,
            "by_ob": {k: v / n for k, v in by_ob.items()}}


def hooks_counts(res, n):
    parts = {}
    for path in res["files"]:
        t, _, _, _ = parse(path)
        with open(path, errors="replace") as f:
            head = f.read(4096)
        m = re.search(r"Client Request: phase(\d+)", head)
        if m:
            parts[int(m.group(1))] = parts.get(int(m.group(1)), 0) + t
    sched, worker = parts.get(2, 0), parts.get(4, 0)
    meter = parts.get(6, 0) - parts.get(8, 0)
    return {"scheduler": sched / n, "worker": worker / n, "meter": meter / n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--ship-ms", type=int, default=0,
                    help="MIDA_SHIP_MS of the mida runs (0: mida's Dask "
                    "default, 500 ms)")
    ap.add_argument("--hooks", action="store_true")
    ap.add_argument("--empty", action="store_true",
                    help="also run Dask with empty plugins (what any "
                    "plugin costs)")
    ap.add_argument("--keep", help="copy each run's callgrind files into "
                    "this directory (for callgrind_annotate)")
    ap.add_argument("--build", default=os.path.join(HERE, "..",
                                                    "build-release"))
    ap.add_argument("--child")
    ap.add_argument("--out")
    ap.add_argument("--marks")
    a = ap.parse_args()
    if a.ship_ms < 0 or a.ship_ms > 60000:
        ap.error("--ship-ms: 1 to 60000 (MIDA_SHIP_MS), or 0")
    if a.child:
        marks = Marks(a.marks)
        if a.child == "hooks":
            res = child_hooks(a.tasks, marks)
        else:
            res = child_run(a.tasks, a.child, marks)
        with open(a.out, "w") as f:
            json.dump(res, f)
        return
    build = os.path.abspath(a.build)
    lib = os.path.join(build, "bench", "libcallgrind_marks.so")
    if not shutil.which("valgrind"):
        print("bench_dask_ir: skipped, valgrind is not installed")
        return
    if not os.path.exists(lib):
        print("bench_dask_ir: skipped, no %s (valgrind's headers were "
              "missing at build time)" % lib)
        return
    import dask
    res = {"bench": "dask_ir", "tasks": a.tasks, "repeat": a.repeat,
           "dask": dask.__version__, "ship_ms": a.ship_ms or 500}
    if a.hooks:
        runs = []
        for _ in range(a.repeat):
            d = tempfile.mkdtemp(prefix="mida-bench-ir-")
            runs.append(hooks_counts(run_child(a, "hooks", build, 60000,
                                               d), a.tasks))
            shutil.rmtree(d, True)
        res["bench"] = "dask_hooks_ir"
        for what in ("scheduler", "worker", "meter"):
            v = [r[what] for r in runs]
            res[what + "_ir_per_task"] = [round(x) for x in v]
            print("%-9s %8.0f instructions a task (runs: %s)" % (
                what, statistics.median(v), ", ".join("%.0f" % x for x in v)))
        print(json.dumps(res))
        return
    variants = ["none", "mida"] + (["empty"] if a.empty else [])
    counts = {v: [] for v in variants}
    for i in range(a.repeat):  # alternated
        for v in (variants if i % 2 == 0 else variants[::-1]):
            d = tempfile.mkdtemp(prefix="mida-bench-ir-")
            r = run_child(a, v, build, a.ship_ms, d)
            c = count_run(r, a.tasks)
            c["valgrind_s"] = r["valgrind_s"]
            if v == "mida":
                res["mida_tasks_stored"] = r["stored"]
            counts[v].append(c)
            print("%-5s run %d: %9.0f a task (mida's threads %7.0f), "
                  "%.0f s" % (v, i + 1, c["total"], c["mida_threads"],
                              r["valgrind_s"]), flush=True)
            if a.keep:
                to = os.path.join(a.keep, "%s-%d" % (v, i + 1))
                os.makedirs(to, exist_ok=True)
                for path in r["files"]:
                    shutil.copy(path, to)
            shutil.rmtree(d, True)
    med = {}
    for v in variants:
        tot = [c["total"] for c in counts[v]]
        med[v] = statistics.median(tot)
        res[v + "_ir_per_task"] = [round(x) for x in tot]
        res[v + "_threads_ir_per_task"] = [round(c["mida_threads"])
                                           for c in counts[v]]
        res[v + "_rest_ir_per_task"] = [round(c["rest"]) for c in counts[v]]
        for entry in MIDA_THREADS:
            if any(c["by_thread"].get(entry) for c in counts[v]):
                res["%s_%s_ir_per_task" % (v, entry)] = [
                    round(c["by_thread"].get(entry, 0)) for c in counts[v]]
        obs = collections.Counter()
        for c in counts[v]:
            obs.update(c["by_ob"])
        res[v + "_by_object"] = {
            k: round(x / len(counts[v])) for k, x in obs.most_common(12)}
    plain = res["none_ir_per_task"]
    added = med["mida"] - med["none"]
    res["added_ir_per_task"] = round(added)
    res["added_pct"] = round(100 * added / med["none"], 2)
    res["plain_spread_pct"] = round(
        100 * (max(plain) - min(plain)) / med["none"], 2)
    rest = statistics.median(res["mida_rest_ir_per_task"])
    res["added_outside_threads_pct"] = round(
        100 * (rest - med["none"]) / med["none"], 2)
    res["mida_threads_pct"] = round(100 * statistics.median(
        res["mida_threads_ir_per_task"]) / med["none"], 2)
    print("dask %s, %d tasks, 1 worker thread, in one process; "
          "instructions a task, all threads" % (dask.__version__, a.tasks))
    print("plain %.0f [%s], mida %.0f [%s]: %+.2f %% (plain runs spread "
          "%.2f %%)" % (med["none"], ", ".join(map(str, plain)), med["mida"],
                        ", ".join(map(str, res["mida_ir_per_task"])),
                        res["added_pct"], res["plain_spread_pct"]))
    print("mida's threads %.2f %% of plain; the other threads %+.2f %%" % (
        res["mida_threads_pct"], res["added_outside_threads_pct"]))
    if a.empty:
        empty = med["empty"] - med["none"]
        res["empty_added_ir_per_task"] = round(empty)
        res["empty_added_pct"] = round(100 * empty / med["none"], 2)
        res["beyond_empty_pct"] = round(
            100 * (med["mida"] - med["empty"]) / med["none"], 2)
        print("empty plugins (Dask's own price for any plugin) %.0f a task, "
              "%+.2f %%; mida beyond them %+.2f %% of plain" % (
                  empty, res["empty_added_pct"], res["beyond_empty_pct"]))
    print("mida's threads by entry, a task: " + ", ".join(
        "%s %s" % (e, res.get("mida_%s_ir_per_task" % e))
        for e in MIDA_THREADS))
    print("by object, a task (mida): " + ", ".join(
        "%s %d" % kv for kv in res["mida_by_object"].items()))
    print("by object, a task (none): " + ", ".join(
        "%s %d" % kv for kv in res["none_by_object"].items()))
    print(json.dumps(res))


if __name__ == "__main__":
    main()

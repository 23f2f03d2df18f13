"""bench_py_task.py -- the cost that @mida.task adds to a call.

Times a no-op function `f(x, b=1)` called plainly and through @mida.task
(arguments and result recorded into a real SQLite store through the
journal), called positionally `f(i, 2)` and with a keyword `f(i, b=2)`,
with per-task telemetry on (MIDA_TELEMETRY_TASK=1, the default) and off.
Telemetry is read when the session opens, so each setting runs in its own
child process; the children alternate (on, off, on, off, ...) --runs times.
In a child, each figure is the median of --rounds rounds of --calls calls
(the journal is flushed between rounds, untimed, so that a round measures
the caller's cost while the shipper keeps up rather than the store's
ingest rate); the four kinds of call take turns within each round set.

Prints, for each kind of call, the plain call and the added cost per call:
the median over the runs, with the spread (lowest-highest), and a final
JSON line. With --flowcept, the same through Flowcept's @flowcept_task,
when run by Flowcept's own venv (bench/flowcept_dask/setup.sh). Figures,
not pass/fail: on a shared machine read the added cost, a difference
taken within one process, rather than absolute times.

usage: bench_py_task.py [--calls N] [--rounds R] [--runs K] [--flowcept]
"""
import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def scratch_dir(**kw):
    """A temporary directory, removed at exit unless BENCH_KEEP=1."""
    d = tempfile.mkdtemp(**kw)
    if os.environ.get("BENCH_KEEP") != "1":
        atexit.register(shutil.rmtree, d, True)
    return d


def noop(x, b=1):
    return x


def round_ns(fn, calls, keyword):
    """Wall and calling-thread CPU time of one round of calls, ns per
    call."""
    if keyword:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        for i in range(calls):
            fn(i, b=2)
    else:
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        for i in range(calls):
            fn(i, 2)
    t1, c1 = time.perf_counter_ns(), time.thread_time_ns()
    return (t1 - t0) / calls, (c1 - c0) / calls


def measure(fns, calls, rounds, between=None):
    """{name: median wall ns per call, name + "_cpu": median thread CPU ns
    per call} for fns = {name: (fn, keyword)}, the names taking turns in
    each round."""
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(rounds):
        for name, (fn, keyword) in fns.items():
            if between is not None:
                between()  # untimed: let the shipper drain the journal
            w, c = round_ns(fn, calls, keyword)
            wall[name].append(w)
            cpu[name].append(c)
    out = {name: statistics.median(t) for name, t in wall.items()}
    out.update({name + "_cpu": statistics.median(t)
                for name, t in cpu.items()})
    return out


def child_mida(calls, rounds):
    import mida
    d = scratch_dir(prefix="mida-bench-")
    os.environ.setdefault("MIDA_STORE", "sqlite://%s/bench.db" % d)
    task = mida.task(noop)
    task(0)  # opens the session
    out = measure({"plain_pos": (noop, False), "plain_kw": (noop, True),
                   "mida_pos": (task, False), "mida_kw": (task, True)},
                  calls, rounds, between=lambda: mida.flush(60))
    out["flushed"] = mida.flush(60)
    out["tasks_stored"] = mida.query("SELECT count(*) AS n FROM task")[0]["n"]
    return out


def child_flowcept(calls, rounds):
    settings = os.path.join(sys.prefix, "flowcept-settings.yaml")
    if os.path.exists(settings):  # written by bench/flowcept_dask
        os.environ.setdefault("FLOWCEPT_SETTINGS_PATH", settings)
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def fc_noop(x, b=1):
        return x

    with Flowcept(workflow_name="bench"):
        fc_noop(0)
        return measure({"plain_pos": (noop, False), "plain_kw": (noop, True),
                        "flowcept_pos": (fc_noop, False),
                        "flowcept_kw": (fc_noop, True)}, calls, rounds)


def spread(values):
    return {"median": round(statistics.median(values), 1),
            "min": round(min(values), 1), "max": round(max(values), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--runs", type=int, default=3,
                    help="child processes per telemetry setting")
    ap.add_argument("--flowcept", action="store_true",
                    help="time Flowcept's @flowcept_task instead")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        fn = child_flowcept if a.flowcept else child_mida
        print(json.dumps(fn(a.calls, a.rounds)))
        return

    tool = "flowcept" if a.flowcept else "mida"
    settings = ["-"] if a.flowcept else ["1", "0"]
    runs = {s: [] for s in settings}
    for _ in range(a.runs):
        for tel in settings:  # alternated, so that load drifts hit both
            env = dict(os.environ)
            if tel != "-":
                env["MIDA_TELEMETRY_TASK"] = tel
            cmd = [sys.executable, os.path.abspath(__file__), "--child",
                   "--calls", str(a.calls), "--rounds", str(a.rounds)]
            if a.flowcept:
                cmd.append("--flowcept")
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit("bench child failed:\n" + r.stderr[-2000:])
            runs[tel].append(json.loads(r.stdout.strip().splitlines()[-1]))

    out = {"bench": "py_task" if tool == "mida" else "py_task_flowcept",
           "calls": a.calls, "rounds": a.rounds, "runs": a.runs,
           "python": sys.version.split()[0], "budget_added_ns":
           {"telemetry": 2000, "no_telemetry": 1000}}
    try:
        out["load"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    print("added ns per call by %s, median [lowest-highest] of %d runs; "
          "wall time, and CPU time of the calling thread" % (tool, a.runs))
    print("%-26s %8s %22s %22s" % ("call", "plain", "added (wall)",
                                    "added (thread CPU)"))
    for tel in settings:
        label = {"1": "telemetry on", "0": "telemetry off",
                 "-": ""}[tel]
        for kind, how in (("pos", "f(i, 2)"), ("kw", "f(i, b=2)")):
            plain = [r["plain_" + kind] for r in runs[tel]]
            name = "%s_%s" % (tool, kind)
            added = [r[name] - r["plain_" + kind] for r in runs[tel]]
            added_cpu = [r[name + "_cpu"] - r["plain_%s_cpu" % kind]
                         for r in runs[tel]]
            key = "%s_%s" % (kind, {"1": "tel", "0": "notel",
                                    "-": tool}[tel])
            out[key] = {"plain_ns": spread(plain), "added_ns": spread(added),
                        "added_cpu_ns": spread(added_cpu)}
            s, c = out[key]["added_ns"], out[key]["added_cpu_ns"]
            print("%-26s %8.1f %8.1f [%5.0f-%5.0f] %8.1f [%5.0f-%5.0f]" % (
                "%s %s" % (how, label), statistics.median(plain),
                s["median"], s["min"], s["max"],
                c["median"], c["min"], c["max"]))
    if tool == "mida":
        out["tasks_stored"] = [r["tasks_stored"] for r in runs["1"]]
        out["flushed"] = all(r["flushed"] for rs in runs.values() for r in rs)
    if "load" in out:
        print("load average (1, 5, 15 min): %s" % out["load"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""bench_py_task.py -- the cost that @mida.task adds to a call.

Times a no-op function called plainly and through @mida.task (arguments
and result recorded into a real SQLite store through the journal), with
the median of several rounds of N calls each (the journal is flushed
between rounds, untimed, so that a round measures the caller's cost while
the shipper keeps up rather than the store's ingest rate); with
--flowcept, the same through Flowcept's @flowcept_task, when run by
Flowcept's own venv (bench/flowcept_dask/setup.sh).
Prints the figures and a final JSON line. Figures, not pass/fail.

usage: bench_py_task.py [--calls N] [--rounds R] [--flowcept]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time


def per_call_ns(fn, calls, rounds, *args, between=None):
    times = []
    for _ in range(rounds):
        if between is not None:
            between()  # untimed: let the shipper drain the journal
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn(*args)
        times.append((time.perf_counter_ns() - t0) / calls)
    per_call_ns.fastest = min(times)  # the least disturbed round
    return statistics.median(times)


def noop(x):
    return x


def bench_mida(calls, rounds):
    import mida
    f0 = noop
    f1 = mida.task(noop)
    f1(0)  # opens the session
    plain = per_call_ns(f0, calls, rounds, 1)
    plain_min = per_call_ns.fastest
    task = per_call_ns(f1, calls, rounds, 1, between=lambda: mida.flush(60))
    bench_mida.fastest = (plain_min, per_call_ns.fastest)
    ok = mida.flush(60)
    n = mida.query("SELECT count(*) AS n FROM task")[0]["n"]
    return plain, task, n, ok


def bench_flowcept(calls, rounds):
    from flowcept import Flowcept, flowcept_task

    @flowcept_task
    def fc_noop(x):
        return x

    with Flowcept(workflow_name="bench"):
        fc_noop(0)
        t = per_call_ns(fc_noop, calls, rounds, 1)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--flowcept", action="store_true",
                    help="time Flowcept's @flowcept_task instead")
    a = ap.parse_args()
    out = {"bench": "py_task", "calls": a.calls, "rounds": a.rounds,
           "python": sys.version.split()[0]}
    if a.flowcept:
        settings = os.path.join(sys.prefix, "flowcept-settings.yaml")
        if os.path.exists(settings):  # written by bench/flowcept_dask
            os.environ.setdefault("FLOWCEPT_SETTINGS_PATH", settings)
        out["bench"] = "py_task_flowcept"
        plain = per_call_ns(noop, a.calls, a.rounds, 1)
        pmin = per_call_ns.fastest
        fc = bench_flowcept(a.calls, a.rounds)
        out.update(plain_ns=round(plain, 1), flowcept_ns=round(fc, 1),
                   flowcept_added_ns=round(fc - plain, 1),
                   fastest_round_added_ns=round(per_call_ns.fastest - pmin,
                                                1))
        print("plain call          %8.1f ns" % plain)
        print("@flowcept_task      %8.1f ns  (+%.1f ns)" % (fc, fc - plain))
    else:
        d = tempfile.mkdtemp(prefix="mida-bench-")
        os.environ.setdefault("MIDA_STORE", "sqlite://%s/bench.db" % d)
        plain, task, n, ok = bench_mida(a.calls, a.rounds)
        out["telemetry_task"] = os.environ.get("MIDA_TELEMETRY_TASK", "1")
        pmin, tmin = bench_mida.fastest
        out.update(plain_ns=round(plain, 1), mida_ns=round(task, 1),
                   mida_added_ns=round(task - plain, 1),
                   fastest_round_added_ns=round(tmin - pmin, 1),
                   tasks_stored=n, flushed=ok, budget_added_ns=2000)
        print("plain call          %8.1f ns" % plain)
        print("@mida.task          %8.1f ns  (+%.1f ns; budget 2000)" %
              (task, task - plain))
        print("tasks in the store  %8d" % n)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

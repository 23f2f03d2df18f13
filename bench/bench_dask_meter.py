"""bench_dask_meter.py -- what the Dask worker plugin's TaskMeter adds to
each Dask task: the per-call cost of calling a task's function through
mida._mida.TaskMeter (telemetry snapshots on the executing thread plus the
TELEMETRY record) against calling it directly, in process, ns per call.

Each per-task telemetry level (MIDA_TELEMETRY_TASK 0, 1, 2) runs in its own
child process (the level is read when the session opens), on a store in a
temporary directory. Each wrapped call goes through its own meter with its
own task id, as on a worker. Direct and wrapped calls are interleaved in rounds;
the figures are the medians over rounds of ns per call.

usage: PYTHONPATH=BUILD/python python bench/bench_dask_meter.py [CALLS [ROUNDS]]
Prints one line per level and a final JSON line. Figures, not pass/fail.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def child(calls, rounds):
    import mida
    from mida import _mida

    def task(x):
        return x

    _mida.session_info()  # open the session outside the timings
    direct, wrapped = [], []
    plain = [task] * calls
    for _ in range(rounds):
        # One meter, with its own task id, per call, made outside the
        # timings, as the worker plugin makes one per execution: with one
        # id for every call, each run's summary would scan all the earlier
        # runs of that task, and the figure would grow with the calls.
        meters = [_mida.TaskMeter(task, _mida.new_id()) for _ in range(calls)]
        for fns, out in ((plain, direct), (meters, wrapped)):
            t0 = time.perf_counter_ns()
            for i, fn in enumerate(fns):
                fn(i)
            out.append((time.perf_counter_ns() - t0) / calls)
        mida.flush()
    st = mida.stats()
    d, w = statistics.median(direct), statistics.median(wrapped)
    print(json.dumps({"direct_ns": round(d, 1), "wrapped_ns": round(w, 1),
                      "added_ns": round(w - d, 1),
                      "summaries": st["task_meter_calls"]
                      - st["task_meter_no_summary"],
                      "dropped": st["dropped"]}))


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for level in (0, 1, 2):
            env = dict(os.environ)
            env["MIDA_STORE"] = "sqlite://%s/meter%d.db" % (tmp, level)
            env["MIDA_TELEMETRY_TASK"] = str(level)
            env["MIDA_SAMPLE_HZ"] = "0"
            r = subprocess.run([sys.executable, __file__, "--child",
                                str(calls), str(rounds)], env=env,
                               capture_output=True, text=True, check=True)
            res["level%d" % level] = fig = json.loads(r.stdout)
            print("telemetry level %d: direct %.0f ns, through TaskMeter "
                  "%.0f ns, added %.0f ns per call (%d summaries recorded)"
                  % (level, fig["direct_ns"], fig["wrapped_ns"],
                     fig["added_ns"], fig["summaries"]))
    print(json.dumps({"bench": "dask_meter", "calls": calls,
                      "rounds": rounds, **res}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()

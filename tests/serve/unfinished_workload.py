"""The workload of the dashboard's check of tasks without a start or an end
(browser_unfinished.mjs): run with MIDA_SAMPLE_HZ set, so that the host's
telemetry covers all of it, and killed by itself at the end.

1. A Dask computation (threads cluster, mida.dask.observe) whose one
   worker thread is held by `hold` while the key `quick-cancelled` is
   submitted and cancelled: that key ends CANCELLED with an end and no
   start, as a key cancelled before it ran does. A marker file, not a
   sleep, orders the steps (as in tests/python/test_mida_dask.py).
2. A workflow "doomed" of the Python API whose task `dies` is running
   when the process kills itself with SIGKILL: once `mida recover` has
   shipped the journal, that task and its workflow are LOST, with a start
   and no end.

Prints the ids as one JSON line before it dies.

usage: unfinished_workload.py DIR   (DIR: where the marker files go)
"""
import json
import os
import signal
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import mida  # noqa: E402
import mida.dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402


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


def cancel_before_it_runs(where):
    started, go = os.path.join(where, "started"), os.path.join(where, "go")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cl, Client(cl) as c:
        mida.dask.observe(c)
        h = c.submit(hold, started, go, key="hold-1")
        wait_for(lambda: os.path.exists(started))
        cancelled = c.submit(quick, 1, key="quick-cancelled")
        wait_for(lambda: c.run_on_scheduler(
            lambda dask_scheduler: "quick-cancelled" in dask_scheduler.tasks))
        c.cancel(cancelled)
        wait_for(lambda: c.run_on_scheduler(
            lambda dask_scheduler: "quick-cancelled"
            not in dask_scheduler.tasks))
        open(go, "w").close()
        assert h.result() == 1
        assert c.submit(quick, 2, key="quick-ran").result() == 2


def main():
    cancel_before_it_runs(sys.argv[1])
    with mida.workflow("doomed") as wf:
        @mida.task
        def dies():
            print(json.dumps({"wf": wf.id, "task": mida.current_task()}),
                  flush=True)
            time.sleep(0.5)  # a few telemetry samples while it runs
            mida.flush(10)
            os.kill(os.getpid(), signal.SIGKILL)
        dies()


if __name__ == "__main__":
    main()

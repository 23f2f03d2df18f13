"""A Dask workload with no mida in it, and its oracle, for
test_dask_fidelity.py: what Dask itself says happened, to compare with what
mida recorded.

The oracle is a scheduler plugin of this script's own that logs every
transition of every key (start, finish, stimulus, worker, compute times)
and every graph submission. Executions the scheduler cannot see -- a task
killed with its worker, a cancelled task that runs on to its end -- leave
marker files written by the task functions themselves (its key, its
process id, when it started and ended).

Phases, on one LocalCluster of 2 worker processes with 1 thread each:

  kill      40 `inc` keys, then 4 `block` tasks on them that wait for a
            go-file; the worker process running the first block is killed
            with SIGKILL, then go is given: the killed block runs again
            elsewhere, and the incs held by the dead worker are computed
            again (memory -> released -> processing -> memory);
  retries   `flaky` fails twice and then succeeds (retries=2); `fails`
            fails twice (retries=1);
  cancel    `slow` is cancelled while it runs: the function runs on to its
            end on the worker;
  regraph   five keys computed by one graph, forgotten, and computed again
            by a second graph (new tasks, in a second workflow);
  shapes    dask.dataframe groupby and set_index, dask.array rechunk and
            SVD, a dask.bag turned into a frame and shuffled with P2P, a
            bag groupby with a task shuffle, delayed and futures.

usage: dask_fidelity_workload.py OUT.json MARKER_DIR [PHASE,...]
Writes {"log": [...], "markers": [...], "killed_pid": ...} to OUT.json.
"""
import json
import os
import signal
import sys
import time

from distributed import Client, LocalCluster, wait
from distributed.diagnostics.plugin import SchedulerPlugin


class Oracle(SchedulerPlugin):
    """Logs every transition and graph submission of the scheduler."""

    name = "fidelity-oracle"

    def __init__(self):
        self.log = []

    def update_graph(self, scheduler, *args, client=None, keys=None,
                     tasks=None, **kwargs):
        self.log.append({"graph": [str(k) for k in (tasks or keys or ())],
                         "t": time.time()})

    def transition(self, key, start, finish, *args, stimulus_id=None,
                   **kwargs):
        compute = [(ss["start"], ss["stop"])
                   for ss in kwargs.get("startstops") or ()
                   if ss.get("action") == "compute"]
        self.log.append({"key": str(key), "start": start, "finish": finish,
                         "stimulus": str(stimulus_id),
                         "worker": kwargs.get("worker"),
                         "compute": compute, "t": time.time()})


def mark(marker_dir, what, key):
    """A marker of an execution the scheduler cannot see end."""
    path = os.path.join(marker_dir, "%s.%s.%d.%f" % (
        what, key, os.getpid(), time.time()))
    with open(path, "w"):
        pass


def inc(x):
    return x + 1


def block(name, marker_dir, *vals):
    mark(marker_dir, "start", name)
    while not os.path.exists(os.path.join(marker_dir, "go")):
        time.sleep(0.02)
    return sum(vals)


def flaky(path):
    with open(path, "a") as f:
        f.write("x")
    if os.path.getsize(path) <= 2:
        raise RuntimeError("flaky attempt %d" % os.path.getsize(path))
    return "ok"


def fails(x):
    raise ValueError("always fails: %d" % x)


def slow(marker_dir):
    mark(marker_dir, "start", "slow-0")
    time.sleep(1.0)
    mark(marker_dir, "end", "slow-0")
    return 1


def wait_for(pred, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise SystemExit("timed out")


def phase_kill(client, markers, out):
    incs = client.map(inc, range(40), key=["inc-%d" % i for i in range(40)])
    wait(incs)
    blocks = [client.submit(block, "block-%d" % i, markers, *incs[i::4],
                            key="block-%d" % i) for i in range(4)]
    started = wait_for(lambda: sorted(
        f for f in os.listdir(markers) if f.startswith("start.block-")))
    victim = int(started[0].split(".")[2])
    os.kill(victim, signal.SIGKILL)
    out["killed_pid"] = victim
    time.sleep(0.5)
    open(os.path.join(markers, "go"), "w").close()
    assert [b.result() for b in blocks] == [
        sum(range(i + 1, 41, 4)) for i in range(4)]
    del incs, blocks


def phase_retries(client, markers, out):
    f = client.submit(flaky, os.path.join(markers, "flaky.count"),
                      key="flaky-0", retries=2)
    g = client.submit(fails, 7, key="fails-0", retries=1)
    wait([f, g])
    assert f.result() == "ok" and g.status == "error"
    del f, g


def phase_cancel(client, markers, out):
    f = client.submit(slow, markers, key="slow-0")
    wait_for(lambda: any(m.startswith("start.slow-0") for m in
                         os.listdir(markers)))
    f.cancel()
    wait_for(lambda: any(m.startswith("end.slow-0") for m in
                         os.listdir(markers)))
    del f


def phase_regraph(client, markers, out):
    from dask import delayed
    parts = [delayed(inc)(i, dask_key_name="shared-%d" % i) for i in range(5)]
    for n in (1, 2):
        total = delayed(sum)(parts, dask_key_name="total-%d" % n)
        assert client.compute(total).result() == 15
        # Forgotten before the second graph comes: computed anew.
        wait_for(lambda: client.run_on_scheduler(
            lambda dask_scheduler: not any(
                str(k).startswith(("shared-", "total-"))
                for k in dask_scheduler.tasks)))


def phase_shapes(client, markers, out):
    import dask
    import dask.array as da
    import dask.bag as db
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    pdf = pd.DataFrame({"a": np.arange(400) % 7, "b": np.arange(400.0)})
    df = dd.from_pandas(pdf, npartitions=4)
    assert abs(df.groupby("a").b.mean().compute().sum() -
               pdf.groupby("a").b.mean().sum()) < 1e-9
    assert df.set_index("b").a.sum().compute() == pdf.a.sum()
    x = da.from_array(np.arange(400.0).reshape(20, 20), chunks=(5, 10))
    assert x.rechunk((10, 5)).sum().compute() == np.arange(400.0).sum()
    u, s, v = da.linalg.svd(da.from_array(
        np.arange(200.0).reshape(40, 5) % 7, chunks=(10, 5)))
    assert s.compute().shape == (5,)
    b = db.from_sequence(range(100), npartitions=4)
    frame = b.map(lambda i: {"k": i % 5, "v": i}).to_dataframe()
    assert frame.shuffle("k", shuffle_method="p2p").v.sum().compute() == 4950
    assert dict(b.groupby(lambda i: i % 3, shuffle="tasks").map(
        lambda kv: (kv[0], len(kv[1]))).compute()) == {0: 34, 1: 33, 2: 33}
    assert dask.delayed(lambda a, b: a * b)(6, 7).compute() == 42
    futs = client.map(lambda i: i * 2, range(5), key=["double-%d" % i
                                                      for i in range(5)])
    assert client.gather(futs) == [0, 2, 4, 6, 8]


PHASES = {"kill": phase_kill, "retries": phase_retries,
          "cancel": phase_cancel, "regraph": phase_regraph,
          "shapes": phase_shapes}


def main():
    out_path, markers = sys.argv[1], sys.argv[2]
    phases = (sys.argv[3] if len(sys.argv) > 3 else
              "kill,retries,cancel,regraph,shapes").split(",")
    os.makedirs(markers, exist_ok=True)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    oracle = Oracle()
    cluster.scheduler.add_plugin(oracle, name=oracle.name)
    out = {"phases": phases}
    try:
        for p in phases:
            PHASES[p](client, markers, out)
            wait_for(lambda: client.run_on_scheduler(
                lambda dask_scheduler: not dask_scheduler.tasks))
    finally:
        client.close()
        cluster.close()
    out.update(log=oracle.log, markers=sorted(os.listdir(markers)))
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()

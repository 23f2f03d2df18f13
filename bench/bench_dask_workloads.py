"""bench_dask_workloads.py -- what observing Dask costs on real workloads.

Eight workloads in the style of dask-examples (the shapes that
tests/python/dask_fidelity_workload.py checks for fidelity, at sizes that
take seconds rather than milliseconds), on a LocalCluster of 2 worker
processes with 1 thread each:

  df_groupby     a 2,000,000-row frame in 40 partitions, groupby/agg
  df_set_index   the same frame sorted by a column (a shuffle)
  array_rechunk  a 4000x4000 array rechunked from rows to columns, summed
  array_svd      the SVD of a tall-and-skinny 200000x40 array
  bag_p2p        a bag of records turned into a frame, P2P-shuffled
  futures_chain  200 chains of 10 dependent client.submit calls
  retries        200 tasks that fail on their first try (retries=1)
  delayed_tree   a tree reduction of 2,000 delayed leaves

Each variant -- none (plain Dask), mida (the preloads, as `mida run` sets
them, recording into SQLite) -- runs in a fresh process with a fresh
cluster and store; the pairs alternate their order (none, mida; mida,
none; ...) --repeat times, so that a drift of the machine's load hits both.
For each workload: the wall time from submission to the result, and the CPU
seconds of the client (with the scheduler) and the workers in that window.
Prints, per workload, the median over the pairs of the wall and CPU
overhead of mida, with the spread, then the median over the workloads, and
a final JSON line; beside them the CPU of mida's own threads (the shippers
and samplers of all processes, from /proc) as a share of the plain run's
CPU: the part of mida's cost that a busy host does not blur, since it is
measured directly rather than as a difference of two runs. Figures, not
pass/fail.

usage: bench_dask_workloads.py [--repeat R] [--only a,b] [--mida-path DIR]
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_py_dask import cpu_seconds, thread_cpu  # noqa: E402


def scratch_dir(**kw):
    """A temporary directory, removed at exit unless BENCH_KEEP=1."""
    d = tempfile.mkdtemp(**kw)
    if os.environ.get("BENCH_KEEP") != "1":
        atexit.register(shutil.rmtree, d, True)
    return d


def inc(x):
    return x + 1


def flaky_once(marker_dir, i):
    """Fails the first time it runs for i (a marker file remembers)."""
    path = os.path.join(marker_dir, "tried.%d" % i)
    if not os.path.exists(path):
        open(path, "w").close()
        raise RuntimeError("first try of %d" % i)
    return i


def frame():
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd
    n = 2_000_000
    rng = np.random.default_rng(1)
    pdf = pd.DataFrame({"k": rng.integers(0, 1000, n),
                        "x": rng.random(n), "y": rng.random(n)})
    return dd.from_pandas(pdf, npartitions=40)


def w_df_groupby(client, tmp):
    df = frame().persist()
    from distributed import wait
    wait(df)
    t = time.perf_counter()
    r = df.groupby("k").agg({"x": "mean", "y": "sum"}).compute()
    assert len(r) == 1000
    return t


def w_df_set_index(client, tmp):
    df = frame().persist()
    from distributed import wait
    wait(df)
    t = time.perf_counter()
    r = df.set_index("x").y.sum().compute()
    assert r > 0
    return t


def w_array_rechunk(client, tmp):
    import dask.array as da
    x = da.random.default_rng(2).random((4000, 4000), chunks=(250, 4000))
    t = time.perf_counter()
    assert x.rechunk((4000, 250)).sum().compute() > 0
    return t


def w_array_svd(client, tmp):
    import dask.array as da
    x = da.random.default_rng(3).random((200_000, 40), chunks=(5000, 40))
    t = time.perf_counter()
    u, s, v = da.linalg.svd(x)
    assert s.compute().shape == (40,)
    return t


def w_bag_p2p(client, tmp):
    import dask.bag as db
    t = time.perf_counter()
    b = db.from_sequence(range(200_000), npartitions=40)
    df = b.map(lambda i: {"k": i % 97, "v": i}).to_dataframe()
    total = df.shuffle("k", shuffle_method="p2p").v.sum().compute()
    assert total == sum(range(200_000))
    return t


def w_futures_chain(client, tmp):
    t = time.perf_counter()
    heads = client.map(inc, range(200))
    for _ in range(9):
        heads = client.map(inc, heads)
    assert sum(client.gather(heads)) == sum(range(200)) + 200 * 10
    return t


def w_retries(client, tmp):
    d = scratch_dir(dir=tmp)
    t = time.perf_counter()
    futs = client.map(flaky_once, [d] * 200, range(200), retries=1)
    assert client.gather(futs) == list(range(200))
    return t


def w_delayed_tree(client, tmp):
    import dask
    t = time.perf_counter()
    level = [dask.delayed(inc)(i) for i in range(2000)]
    while len(level) > 1:
        level = [dask.delayed(sum)(level[i:i + 8])
                 for i in range(0, len(level), 8)]
    assert level[0].compute() == sum(range(2000)) + 2000
    return t


WORKLOADS = {"df_groupby": w_df_groupby, "df_set_index": w_df_set_index,
             "array_rechunk": w_array_rechunk, "array_svd": w_array_svd,
             "bag_p2p": w_bag_p2p, "futures_chain": w_futures_chain,
             "retries": w_retries, "delayed_tree": w_delayed_tree}


def child(names, out):
    import psutil
    from dask.distributed import Client, LocalCluster
    tmp = scratch_dir(prefix="mida-bench-wl-")
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    client.submit(inc, -1).result()  # warm: workers and plugins ready
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    res = {}
    for name in names:
        c0 = cpu_seconds(procs)
        th0 = thread_cpu(procs)
        t0 = WORKLOADS[name](client, tmp)  # returns when timing started
        wall = time.perf_counter() - t0
        th1 = thread_cpu(procs)
        res[name] = {"wall": wall, "cpu": cpu_seconds(procs) - c0,
                     "mida_threads": sum(v - th0.get(k, 0.0)
                                         for k, v in th1.items()
                                         if "/mida-" in k)}
        # Let the scheduler forget this workload's keys before the next.
        deadline = time.time() + 60
        while time.time() < deadline and client.run_on_scheduler(
                lambda dask_scheduler: len(dask_scheduler.tasks)):
            time.sleep(0.05)
    client.close()
    cluster.close()
    if os.environ.get("DASK_DISTRIBUTED__SCHEDULER__PRELOAD"):
        import mida
        mida.flush(300)
        res["_stored"] = mida.query("SELECT count(*) AS n FROM task")[0]["n"]
    with open(out, "w") as f:
        json.dump(res, f)


def run_variant(names, variant, mida_path):
    d = scratch_dir(prefix="mida-bench-wl-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and not k.startswith("DASK_")}
    env["MIDA_STORE"] = "sqlite://%s/bench.db" % d
    if mida_path:
        env["PYTHONPATH"] = os.pathsep.join(
            [mida_path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                           else []))
    if variant == "mida":
        env["DASK_DISTRIBUTED__SCHEDULER__PRELOAD"] = "mida.dask"
        env["DASK_DISTRIBUTED__WORKER__PRELOAD"] = "mida.dask"
    out = os.path.join(d, "result.json")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                        ",".join(names), "--out", out], env=env,
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
        raise SystemExit("variant %s failed" % variant)
    with open(out) as f:
        return json.load(f)


def pct(a, b):
    return 100.0 * (a - b) / b


def spread(values):
    return {"median": round(statistics.median(values), 2),
            "min": round(min(values), 2), "max": round(max(values), 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default=",".join(WORKLOADS))
    ap.add_argument("--child")
    ap.add_argument("--out")
    ap.add_argument("--mida-path", default=os.environ.get("MIDA_PYTHONPATH"),
                    help="directory holding the mida package (a build's "
                    "python/ folder); default $MIDA_PYTHONPATH")
    a = ap.parse_args()
    if a.child:
        child(a.child.split(","), a.out)
        return
    import dask
    names = a.only.split(",")
    pairs = []
    for i in range(a.repeat):
        order = ("none", "mida") if i % 2 == 0 else ("mida", "none")
        got = {v: run_variant(names, v, a.mida_path) for v in order}
        pairs.append(got)
    res = {"bench": "dask_workloads", "dask": dask.__version__,
           "repeat": a.repeat, "workloads": {}}
    try:
        res["load"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    print("dask %s, 2 worker processes; mida's overhead, median "
          "[lowest-highest] of %d alternated pairs" % (dask.__version__,
                                                      a.repeat))
    print("%-14s %9s %9s %24s %24s %16s" % ("workload", "wall s", "CPU s",
                                             "wall overhead %",
                                             "CPU overhead %",
                                             "mida threads %"))
    walls, cpus, threads = [], [], []
    for n in names:
        w = [pct(p["mida"][n]["wall"], p["none"][n]["wall"]) for p in pairs]
        c = [pct(p["mida"][n]["cpu"], p["none"][n]["cpu"]) for p in pairs]
        base_w = statistics.median(p["none"][n]["wall"] for p in pairs)
        base_c = statistics.median(p["none"][n]["cpu"] for p in pairs)
        th = [100.0 * p["mida"][n].get("mida_threads", 0.0) /
              p["none"][n]["cpu"] for p in pairs]
        res["workloads"][n] = {"none_wall_s": round(base_w, 3),
                               "none_cpu_s": round(base_c, 3),
                               "wall_pct": spread(w), "cpu_pct": spread(c),
                               "mida_threads_pct": spread(th)}
        walls.append(statistics.median(w))
        cpus.append(statistics.median(c))
        threads.append(statistics.median(th))
        print("%-14s %9.2f %9.2f %8.2f [%6.1f-%6.1f] %8.2f [%6.1f-%6.1f] "
              "%6.2f [%4.1f-%4.1f]" % (
                  n, base_w, base_c, statistics.median(w), min(w), max(w),
                  statistics.median(c), min(c), max(c),
                  statistics.median(th), min(th), max(th)))
    res["median_wall_pct"] = round(statistics.median(walls), 2)
    res["median_cpu_pct"] = round(statistics.median(cpus), 2)
    res["median_mida_threads_pct"] = round(statistics.median(threads), 2)
    res["tasks_stored"] = [p["mida"].get("_stored") for p in pairs]
    print("median over the workloads: wall %+.2f %%, CPU %+.2f %%; "
          "mida's threads %.2f %% of the plain CPU" % (
              res["median_wall_pct"], res["median_cpu_pct"],
              res["median_mida_threads_pct"]))
    if "load" in res:
        print("load average (1, 5, 15 min): %s" % res["load"])
    print(json.dumps(res))


if __name__ == "__main__":
    main()

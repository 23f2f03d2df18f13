"""bench_py_dask.py -- wall time of many small Dask tasks, observed or not.

Runs N small tasks (client.map of a one-line function, then wait) on a
LocalCluster of 2 worker processes (1 thread each), once per variant, each
variant in a fresh process with a fresh store:

  none      no observation
  mida      mida's preloads (DASK_DISTRIBUTED__{SCHEDULER,WORKER}__PRELOAD=
            mida.dask), as `mida run` sets them; records flushed to SQLite
  flowcept  Flowcept's Dask adapter (scheduler and worker plugins, its
            documented setup), only in Flowcept's venv
            (bench/flowcept_dask/setup.sh)
  mida@DIR  as mida, with the mida package of DIR (another build's
            python/ folder): two versions of mida side by side in one run

The time is from the submission of the graph to the last result, cluster
start excluded; the median of --repeat runs per variant, the variants'
order turned round each repeat (none, mida; mida, none; ...) so that a
drift of the machine's load hits all alike; beside it the median and the
range over the repeats of each variant's ratio to none of the same repeat; beside it the CPU
seconds that the client (with the scheduler) and the workers used in that
window, which a busy shared host disturbs less than wall time, and those
seconds by process role and thread name (mida's own threads, mida-shipper
and mida-sampler, apart from the rest). The mida figure also checks that
every task reached the store. Prints the figures and a
final JSON line. Figures, not pass/fail.

usage: bench_py_dask.py [--tasks N] [--repeat R] [--variants none,mida,...]
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


HERE = os.path.dirname(os.path.abspath(__file__))


def inc(x):
    return x + 1


def workload(n, variant):
    """Seconds from submission to the last result, and seconds to drain
    (cluster close, then Flowcept's stop or mida's flush)."""
    from dask.distributed import Client, LocalCluster, wait
    fc = None
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    if variant == "flowcept":  # Flowcept's documented Dask setup
        from flowcept import Flowcept, FlowceptDaskWorkerAdapter
        client.register_plugin(FlowceptDaskWorkerAdapter())
        fc = Flowcept("dask", dask_client=client,
                      workflow_name="bench_py_dask")
        fc.start()
    client.submit(inc, -1).result()  # warm: workers and plugins ready
    import psutil
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    c0 = cpu_seconds(procs)
    th0 = thread_cpu(procs)
    t0 = time.perf_counter()
    futures = client.map(inc, range(n))
    wait(futures)
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(procs) - c0
    th1 = thread_cpu(procs)
    workload.threads = {k: round(v - th0.get(k, 0.0), 3)
                        for k, v in th1.items()}
    assert futures[-1].result() == n
    del futures
    t1 = time.perf_counter()
    client.close()
    cluster.close()
    if fc is not None:
        fc.stop()
    if variant == "mida":
        import mida
        mida.flush(300)
    return elapsed, time.perf_counter() - t1, cpu


def thread_cpu(procs):
    """CPU seconds by (process role, thread name), from /proc: where the
    time goes -- mida's own threads (mida-shipper, mida-sampler) beside
    the event loops and the task threads."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for i, p in enumerate(procs):
        role = "client+scheduler" if i == 0 else "worker"
        base = "/proc/%d/task" % p.pid
        try:
            tids = os.listdir(base)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("%s/%s/stat" % (base, tid)) as f:
                    st = f.read()
            except OSError:
                continue
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            secs = (int(fields[11]) + int(fields[12])) / tick
            if name.startswith("Dask-") or name.startswith("ThreadPool"):
                name = name.split("-")[0] + "-*"  # worker task threads
            key = "%s/%s" % (role, name)
            out[key] = out.get(key, 0.0) + secs
    return out


def cpu_seconds(procs):
    """User + system CPU seconds of the client (with the scheduler) and
    the worker processes: less sensitive than wall time to a busy host."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except Exception:
            pass
    return total


def child(n, variant, out):
    t, drain, cpu = workload(n, variant)
    stored = None
    if variant == "mida":
        import mida
        stored = mida.query("SELECT count(*) AS n FROM task "
                            "WHERE status = 'FINISHED' AND generated "
                            "IS NOT NULL")[0]["n"]
    with open(out, "w") as f:
        json.dump({"seconds": t, "drain": drain, "cpu": cpu,
                   "stored": stored,
                   "threads": getattr(workload, "threads", {})}, f)


def run_variant(n, variant, python, mida_path=None):
    d = scratch_dir(prefix="mida-bench-dask-")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and not k.startswith("DASK_")}
    env["MIDA_STORE"] = "sqlite://%s/bench.db" % d
    if variant.startswith("mida@"):
        mida_path, variant = variant[5:], "mida"
    if mida_path:  # the build tree's package (or none: an installed one)
        env["PYTHONPATH"] = os.pathsep.join(
            [mida_path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                           else []))
    if variant == "mida":
        env["DASK_DISTRIBUTED__SCHEDULER__PRELOAD"] = "mida.dask"
        env["DASK_DISTRIBUTED__WORKER__PRELOAD"] = "mida.dask"
    settings = os.path.join(sys.prefix, "flowcept-settings.yaml")
    if variant == "flowcept" and os.path.exists(settings):
        env["FLOWCEPT_SETTINGS_PATH"] = settings  # bench/flowcept_dask
    out = os.path.join(d, "result.json")
    r = subprocess.run([python, os.path.abspath(__file__), "--child",
                        variant, "--tasks", str(n), "--out", out],
                       env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-3000:])
        raise SystemExit("variant %s failed" % variant)
    with open(out) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variants", default="none,mida")
    ap.add_argument("--child")
    ap.add_argument("--out")
    ap.add_argument("--label", default="")
    ap.add_argument("--mida-path", default=os.environ.get("MIDA_PYTHONPATH"),
                    help="directory holding the mida package (a build's "
                    "python/ folder); default $MIDA_PYTHONPATH")
    a = ap.parse_args()
    if a.child:
        child(a.tasks, a.child, a.out)
        return
    import dask
    import distributed
    res = {"bench": "py_dask", "tasks": a.tasks, "repeat": a.repeat,
           "dask": dask.__version__, "distributed": distributed.__version__,
           "label": a.label}
    variants = a.variants.split(",")
    times = {v: [] for v in variants}
    for i in range(a.repeat):  # alternated, so drift hits all alike
        for v in (variants if i % 2 == 0 else variants[::-1]):
            r = run_variant(a.tasks, v, sys.executable, a.mida_path)
            times[v].append(r["seconds"])
            res.setdefault(v + "_drain_s", []).append(round(r["drain"], 3))
            res.setdefault(v + "_cpu_s", []).append(round(r["cpu"], 3))
            res.setdefault(v + "_threads_cpu_s", []).append(r["threads"])
            if v.startswith("mida"):
                res[v + "_tasks_stored"] = r["stored"]
    base = statistics.median(times["none"]) if "none" in times else None
    print("dask %s, %d tasks, 2 worker processes, median of %d" %
          (dask.__version__, a.tasks, a.repeat))
    for v in variants:
        m = statistics.median(times[v])
        res[v + "_s"] = round(m, 3)
        res[v + "_runs_s"] = [round(t, 3) for t in times[v]]
        cpu = statistics.median(res[v + "_cpu_s"])
        line = "%-9s %8.3f s wall  %8.3f s CPU" % (v, m, cpu)
        if base and v != "none":
            res[v + "_overhead_pct"] = round(100 * (m - base) / base, 2)
            cbase = statistics.median(res["none_cpu_s"])
            res[v + "_cpu_overhead_pct"] = round(100 * (cpu - cbase) / cbase,
                                                 2)
            line += "  (wall %+.2f %%, CPU %+.2f %%)" % (
                res[v + "_overhead_pct"], res[v + "_cpu_overhead_pct"])
            for what, key in (("wall", None), ("CPU", "_cpu_s")):
                mine = times[v] if key is None else res[v + key]
                ref = times["none"] if key is None else res["none" + key]
                pcts = [100 * (x - y) / y for x, y in zip(mine, ref)]
                res[v + "_paired_%s_pct" % what.lower()] = [
                    round(x, 2) for x in pcts]
                line += "\n%-9s paired %s %+.2f %% [%+.2f, %+.2f]" % (
                    "", what, statistics.median(pcts), min(pcts), max(pcts))
        print(line)
    res["load"] = [round(x, 2) for x in os.getloadavg()]
    print("load average (1, 5, 15 min): %s" % res["load"])
    print(json.dumps(res))


if __name__ == "__main__":
    main()

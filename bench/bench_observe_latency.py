"""bench_observe_latency.py MIDA_BIN -- how soon what MLflow and TensorBoard
write is queryable in mida, with the observers running as `mida observe`
in the background (inotify wake-ups, default shipping interval).

- MLflow: a metric point is logged with mlflow.log_metric (it returns after
  MLflow's commit); the clock runs until the point is in the mida store
  (polled read-only every 0.5 ms). Median and p99 over N points.
- TensorBoard: PyTorch's SummaryWriter add_scalar + flush(); likewise.
- End to end: `mida observe tensorboard --once` over a file of 100,000
  scalars: scalars/s from start to all of them committed in the store.

Figures, not pass/fail; the last line is JSON. Needs the test venv (.venv
with tests/requirements-observers.txt).
"""

import json
import os
import pathlib
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import bench_args

warnings.filterwarnings("ignore")

MIDA = bench_args.mida_program(__doc__, "[MIDA]")
bench_args.no_more("[MIDA]", 1)
N = int(os.environ.get("BENCH_POINTS", "200"))


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


OBSERVERS = []


def start_observer(store, kind, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    p = subprocess.Popen([MIDA, "--store", store, "observe", kind,
                             *args, "--poll-ms", "1000"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    OBSERVERS.append(p)
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)


def wait_point(con, key, step, timeout=10.0):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if con.execute("SELECT 1 FROM metric WHERE key = ? AND step = ?",
                           (key, step)).fetchone():
                return time.perf_counter()
        except sqlite3.OperationalError:
            pass
        time.sleep(0.0005)
    raise RuntimeError(f"point {key}@{step} never arrived")


def connect(store):
    while not os.path.exists(store):
        time.sleep(0.01)
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
    return con


def mlflow_latency(tmp):
    import mlflow
    db = f"{tmp}/mlflow.db"
    mlflow.set_tracking_uri(f"sqlite:///{db}")
    mlflow.set_experiment("latency")
    store = f"{tmp}/ml.db"
    lat = []
    with mlflow.start_run():
        mlflow.log_metric("warm", 0.0, step=0)
        obs = start_observer(store, "mlflow", "--tracking-uri",
                             f"sqlite:///{db}")
        con = connect(store)
        wait_point(con, "warm", 0, timeout=30)
        for i in range(N):
            mlflow.log_metric("lat", float(i), step=i)
            t0 = time.perf_counter()
            lat.append(wait_point(con, "lat", i) - t0)
            time.sleep(0.005)
    con.close()
    stop(obs)
    return lat


def tensorboard_latency(tmp):
    # PyTorch's SummaryWriter: its flush() returns once the bytes are in
    # the file (tensorboardX's flush() does not: its events reach the file
    # later, so they cannot time a flush).
    from torch.utils.tensorboard import SummaryWriter
    logdir = f"{tmp}/tb"
    store = f"{tmp}/tb.db"
    w = SummaryWriter(logdir)
    w.add_scalar("warm", 0.0, 0)
    w.flush()
    obs = start_observer(store, "tensorboard", "--logdir", logdir)
    con = connect(store)
    wait_point(con, "warm", 0, timeout=30)
    lat = []
    for i in range(N):
        w.add_scalar("lat", float(i), i)
        w.flush()
        t0 = time.perf_counter()
        lat.append(wait_point(con, "lat", i) - t0)
        time.sleep(0.005)
    w.close()
    con.close()
    stop(obs)
    return lat


def tensorboard_bulk(tmp, n=100000):
    import tensorboardX
    logdir = f"{tmp}/bulk"
    w = tensorboardX.SummaryWriter(logdir)
    for i in range(n):
        w.add_scalar("loss", 1.0 / (i + 1), i)
    w.close()
    store = f"{tmp}/bulk.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    t0 = time.perf_counter()
    subprocess.run([MIDA, "--store", store, "observe", "tensorboard",
                    "--logdir", logdir, "--once"], check=True, env=env,
                   capture_output=True)
    secs = time.perf_counter() - t0
    got = sqlite3.connect(store).execute(
        "SELECT count(*) FROM metric").fetchone()[0]
    assert got == n, got
    return n / secs


def main():
    with tempfile.TemporaryDirectory(prefix="mida-obs-bench-") as tmp:
        try:
            ml = mlflow_latency(tmp)
            tb = tensorboard_latency(tmp)
            bulk = tensorboard_bulk(tmp)
        finally:
            for p in OBSERVERS:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    ms = lambda v: v * 1000
    print(f"mlflow commit -> queryable: median {ms(statistics.median(ml)):.1f}"
          f" ms, p99 {ms(pct(ml, 0.99)):.1f} ms ({N} points)")
    print(f"tensorboard flush -> queryable: median "
          f"{ms(statistics.median(tb)):.1f} ms, p99 {ms(pct(tb, 0.99)):.1f}"
          f" ms ({N} points)")
    print(f"tensorboard --once end to end: {bulk:,.0f} scalars/s "
          "(parse, journal, store commit)")
    print(json.dumps({
        "bench": "observe_latency", "points": N,
        "mlflow_median_ms": round(ms(statistics.median(ml)), 2),
        "mlflow_p99_ms": round(ms(pct(ml, 0.99)), 2),
        "tensorboard_median_ms": round(ms(statistics.median(tb)), 2),
        "tensorboard_p99_ms": round(ms(pct(tb, 0.99)), 2),
        "tensorboard_once_scalars_per_s": round(bulk)}))


if __name__ == "__main__":
    main()

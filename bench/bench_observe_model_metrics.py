"""bench_observe_model_metrics.py [MIDA] -- the CPU the MLflow observer
spends on a logged model whose metrics grow while it watches.

A run logs BENCH_POINTS points (default 20,000), in log_batch calls of
BENCH_BATCH (default 100), each point logged against one logged model
(MLflow 3's model_id=, which MLflow keeps both as a run metric and as a
row of logged_model_metrics), while `mida observe mlflow` runs in the
background (default --poll-ms, inotify wake-ups). Then the same points
without model_id, as the baseline of what the run's metrics alone cost.
For each: the observer's CPU seconds (user + system, from wait4), its
summary (passes, records) and the bytes of its journal that reached the
store. Figures, not pass/fail; the last line is JSON. Needs the test venv
(.venv with tests/requirements-observers.txt).
"""

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import tempfile
import time
import warnings

import bench_args

warnings.filterwarnings("ignore")

MIDA = bench_args.mida_program(__doc__, "[MIDA]")
bench_args.no_more("[MIDA]", 1)
N = int(os.environ.get("BENCH_POINTS", "20000"))
BATCH = int(os.environ.get("BENCH_BATCH", "100"))


def observe(tmp, with_model):
    import mlflow
    db = tmp / ("model.db" if with_model else "run.db")
    uri = f"sqlite:///{db}"
    store = tmp / ("store-model.db" if with_model else "store-run.db")
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("bench")
    run = client.create_run(exp, run_name="train").info.run_id
    model_id = None
    if with_model:
        mlflow.set_tracking_uri(uri)
        with mlflow.start_run(run_id=run):
            model_id = mlflow.create_external_model(name="net").model_id
        client = mlflow.MlflowClient(tracking_uri=uri)
        client.update_run(run, status="RUNNING")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp / ("spool-model" if with_model
                                   else "spool-run"))
    obs = subprocess.Popen([MIDA, "--store", str(store), "observe", "mlflow",
                            "--tracking-uri", uri], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    time.sleep(1.0)
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    for b in range(0, N, BATCH):
        client.log_batch(run, metrics=[
            mlflow.entities.Metric("acc", s / N, now + s, s,
                                   model_id=model_id)
            for s in range(b, min(N, b + BATCH))])
    logged = time.perf_counter() - t0
    client.set_terminated(run)
    time.sleep(2.0)
    obs.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(obs.pid, 0)
    out = obs.stdout.read()
    err = obs.stderr.read()
    line = [x for x in out.splitlines() if x.startswith("observed")]
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    points = con.execute("SELECT count(*) FROM metric").fetchone()[0]
    model_points = None
    if with_model:
        meta = con.execute("SELECT metadata FROM data WHERE id = ?",
                           ("mlflow-model:" + model_id,)).fetchone()
        model_points = len(json.loads(meta[0]).get("metrics", []))
    sent = con.execute("SELECT max(value) FROM counter WHERE name ="
                       " 'observe.mlflow.model_metric_rows_sent'").fetchone()
    con.close()
    return {"model_rows_sent": sent[0], "model": with_model, "cpu_s": round(usage.ru_utime +
                                                usage.ru_stime, 3),
            "logging_s": round(logged, 2), "exit": status,
            "summary": line[0] if line else err.strip()[-300:],
            "store_points": points, "model_metric_rows": model_points}


def main():
    with tempfile.TemporaryDirectory() as d:
        tmp = pathlib.Path(d)
        os.chdir(tmp)  # MLflow's artifacts (./mlruns) go there too
        results = [observe(tmp, True), observe(tmp, False)]
    for r in results:
        print(f"{'model' if r['model'] else 'run only':8} cpu {r['cpu_s']}"
              f" s  (logging took {r['logging_s']} s)  {r['summary']}")
    print(json.dumps({"points": N, "batch": BATCH, "results": results}))


if __name__ == "__main__":
    main()

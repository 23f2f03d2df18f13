"""bench_flowcept_observers.py MIDA_BIN FLOWCEPT_PYTHON -- fidelity of
mida's MLflow and TensorBoard observers side by side with Flowcept 1.0.3's
MLflow and TensorBoard adapters, on the same runs, observed at the same
time.

Workload (the observer tests' writers, run from .venv):
- MLflow 3: 3 runs, each 3 params, 200 steps of "loss" and "acc", a dataset
  input and a logged model (tests/observers/mlflow_writer.py);
- TensorBoard: 3 run directories written by PyTorch's SummaryWriter, 200
  steps each of "loss" (simple_value), "acc" (float tensor) and "lr"
  (double tensor), plus hparams and text (tests/observers/tb_writer.py).

Flowcept runs its interceptors (watchdog polling + SQLAlchemy for MLflow,
tbparse for TensorBoard) in offline mode: what they intercept is dumped to
a JSONL buffer at stop, with no MQ and no database (MongoDB is not
available here; Redis is, but the adapters' capture does not depend on
it). Counted from that buffer: tasks (runs), params (keys of used),
metric values (numbers in generated). mida is counted from its store.

Figures, not pass/fail; the last line is JSON.
"""

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIDA = os.path.abspath(sys.argv[1])
FC_PY = sys.argv[2]
OBS = ROOT / "tests" / "observers"
RUNS, STEPS = 3, 200


def settings(tmp, db, logdir, buffer):
    return f"""
flowcept_version: 1.0.3
log: {{log_file_level: disable, log_stream_level: error}}
project:
  db_flush_mode: offline
  dump_buffer: {{enabled: true, path: {buffer}}}
  enrich_messages: false
mq: {{enabled: false}}
kv_db: {{enabled: false}}
databases: {{mongodb: {{enabled: false}}, lmdb: {{enabled: false}}}}
telemetry_capture: {{}}
adapters:
  mlflow:
    kind: mlflow
    file_path: {db}
    log_params: ['*']
    log_metrics: ['*']
    watch_interval_sec: 1
  tensorboard:
    kind: tensorboard
    file_path: {logdir}
    log_tags: ['scalars', 'hparams', 'tensors']
    log_metrics: ['loss', 'acc', 'lr']
    watch_interval_sec: 1
"""


def numbers(d):
    n = 0
    for v in (d or {}).values():
        if isinstance(v, dict):
            n += numbers(v)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            n += 1
        elif isinstance(v, str):
            try:
                float(v)
                n += 1
            except ValueError:
                pass
    return n


def main():
    tmp = tempfile.mkdtemp(prefix="mida-fc-obs-")
    db = f"{tmp}/mlflow.db"
    logdir = f"{tmp}/tb"
    os.makedirs(logdir)
    buffer = f"{tmp}/flowcept_buffer.jsonl"
    cfg = f"{tmp}/settings.yaml"
    pathlib.Path(cfg).write_text(settings(tmp, db, logdir, buffer))
    store = f"{tmp}/mida.db"
    stop_file = f"{tmp}/stop"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    fenv = dict(env, FLOWCEPT_SETTINGS_PATH=cfg)
    # MLflow creates its database first: Flowcept's DAO needs the file.
    subprocess.run([sys.executable, "-c",
                    "import mlflow; mlflow.set_tracking_uri("
                    f"'sqlite:///{db}'); mlflow.search_experiments()"],
                   check=True, capture_output=True)
    procs = [
        subprocess.Popen([MIDA, "--store", store, "observe", "mlflow",
                          "--tracking-uri", f"sqlite:///{db}"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE),
        subprocess.Popen([MIDA, "--store", store, "observe", "tensorboard",
                          "--logdir", logdir], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)]
    fc = subprocess.Popen([FC_PY, str(pathlib.Path(__file__).parent /
                                      "run_flowcept.py"), stop_file,
                           "mlflow", "tensorboard"], env=fenv,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    try:
        run_workload(fc, procs, db, logdir, stop_file, env)
    finally:
        for p in procs + [fc]:
            if p.poll() is None:
                p.kill()
                p.wait()
    report(db, store, buffer, fc)


def run_workload(fc, procs, db, logdir, stop_file, env):
    assert fc.stdout.readline().strip() == "started", fc.stderr.read()
    writers = [subprocess.run([sys.executable, str(OBS / "mlflow_writer.py"),
                               f"sqlite:///{db}", str(RUNS), str(STEPS)],
                              capture_output=True, text=True, env=env)]
    for r in range(RUNS):
        writers.append(subprocess.run(
            [sys.executable, str(OBS / "tb_writer.py"), "torch",
             f"{logdir}/run{r}", str(STEPS), "20", "0.002"],
            capture_output=True, text=True, env=env))
    for w in writers:
        assert w.returncode == 0, w.stderr
    time.sleep(3)
    pathlib.Path(stop_file).touch()
    fc.wait(timeout=120)
    for p in procs:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)


def report(db, store, buffer, fc):
    # What MLflow and the writers produced.
    con = sqlite3.connect(db)
    truth_ml = {
        "runs": con.execute("SELECT count(*) FROM runs").fetchone()[0],
        "params": con.execute("SELECT count(*) FROM params").fetchone()[0],
        "metric_points": con.execute(
            "SELECT count(*) FROM metrics").fetchone()[0]}
    truth_tb = {"runs": RUNS, "params": 3 * RUNS,
                "metric_points": 3 * STEPS * RUNS + RUNS}

    # mida
    m = sqlite3.connect(store)
    q = lambda sql: m.execute(sql).fetchone()[0]
    mida_ml = {
        "runs": q("SELECT count(*) FROM task t JOIN workflow w ON"
                  " w.id = t.workflow_id WHERE w.source = 'mlflow'"),
        "params": q("SELECT coalesce(sum((SELECT count(*) FROM"
                    " json_each(t.used))), 0) FROM task t JOIN workflow w"
                    " ON w.id = t.workflow_id WHERE w.source = 'mlflow'"),
        "metric_points": q("SELECT count(*) FROM metric m JOIN task t ON"
                           " t.id = m.task_id JOIN workflow w ON"
                           " w.id = t.workflow_id WHERE w.source = 'mlflow'"),
    }
    mida_tb = {
        "runs": q("SELECT count(*) FROM task t JOIN workflow w ON"
                  " w.id = t.workflow_id WHERE w.source = 'tensorboard'"
                  " AND t.source_key NOT LIKE '%/%'"),
        "params": q("SELECT coalesce(sum((SELECT count(*) FROM"
                    " json_each(t.used))), 0) FROM task t JOIN workflow w"
                    " ON w.id = t.workflow_id"
                    " WHERE w.source = 'tensorboard'"),
        "metric_points": q("SELECT count(*) FROM metric m JOIN task t ON"
                           " t.id = m.task_id JOIN workflow w ON"
                           " w.id = t.workflow_id"
                           " WHERE w.source = 'tensorboard'"),
    }

    # Flowcept: the interceptors' buffer.
    msgs = []
    if os.path.exists(buffer):
        with open(buffer) as f:
            msgs = [json.loads(line) for line in f if line.strip()]
    tasks = [x for x in msgs if x.get("type", "task") == "task"
             and (x.get("used") is not None or
                  x.get("generated") is not None)]
    is_tb = lambda x: (x.get("custom_metadata") or {}).get("event_file")
    fc_ml = [x for x in tasks if not is_tb(x)]
    fc_tb = [x for x in tasks if is_tb(x)]
    count = lambda ts: {"runs": len(ts),
                        "params": sum(len(x.get("used") or {}) for x in ts),
                        "metric_points": sum(numbers(x.get("generated"))
                                             for x in ts)}
    flow_ml, flow_tb = count(fc_ml), count(fc_tb)

    print(f"{'':28} {'written':>9} {'mida':>9} {'Flowcept':>9}")
    for name, t, a, b in (("MLflow", truth_ml, mida_ml, flow_ml),
                          ("TensorBoard", truth_tb, mida_tb, flow_tb)):
        for k in ("runs", "params", "metric_points"):
            print(f"{name + ' ' + k:28} {t[k]:>9} {a[k]:>9} {b[k]:>9}")
    if fc.returncode != 0:
        print("flowcept exited with", fc.returncode, fc.stderr.read()[-2000:])
    print(json.dumps({"bench": "flowcept_observers",
                      "written": {"mlflow": truth_ml, "tensorboard": truth_tb},
                      "mida": {"mlflow": mida_ml, "tensorboard": mida_tb},
                      "flowcept_1_0_3": {"mlflow": flow_ml,
                                         "tensorboard": flow_tb},
                      "flowcept_messages": len(msgs)}))


if __name__ == "__main__":
    main()

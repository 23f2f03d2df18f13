"""Logs MLflow runs the way a training script does, for the observer tests
and benchmarks: N runs, each with params, a dataset input, STEPS metric
points per key, and (MLflow 3) a logged model with params and a metric.
Run 0 also logs NaN, +inf and -inf. Writes progress lines ("run i step s")
to stdout and, at the end, one JSON line with the run ids.

usage: mlflow_writer.py TRACKING_URI RUNS STEPS [PARENT_TASK] [SLEEP_S]

The dataset's source is /data/train-<run>.csv, a file that does not exist,
or, with MLFLOW_WRITER_DATA_DIR set, that file in this directory, written
first.
"""

import json
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402

uri, runs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
parent = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] != "-" else None
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("observer-test")
ids = []
models = []
for r in range(runs):
    with mlflow.start_run(run_name=f"train-{r}") as run:
        ids.append(run.info.run_id)
        if parent:
            mlflow.set_tag("mida.parent_task", parent)
        mlflow.log_params({"lr": 0.1 * (r + 1), "batch": 32, "opt": "sgd"})
        source = os.path.join(os.environ.get("MLFLOW_WRITER_DATA_DIR",
                                             "/data"), f"train-{r}.csv")
        # (MLflow keeps one dataset per name and digest: a frame of the
        # same content from another file would be the first file.)
        df = pd.DataFrame({"x": [1, 2, 3], "y": [r, r, r],
                           "source": [source] * 3})
        if "MLFLOW_WRITER_DATA_DIR" in os.environ:
            df.to_csv(source, index=False)
        ds = mlflow.data.from_pandas(df, source=source, name=f"train-{r}")
        mlflow.log_input(ds, context="training")
        for s in range(steps):
            mlflow.log_metric("loss", 1.0 / (s + 1) + r, step=s)
            mlflow.log_metric("acc", s / steps, step=s)
            if s % 50 == 0:
                print(f"run {r} step {s}", flush=True)
            if pause:
                time.sleep(pause)
        if r == 0:
            mlflow.log_metric("odd", float("nan"), step=0)
            mlflow.log_metric("odd", float("inf"), step=1)
            mlflow.log_metric("odd", float("-inf"), step=2)
        if hasattr(mlflow, "create_external_model"):
            m = mlflow.create_external_model(name=f"model-{r}")
            mlflow.log_model_params({"depth": str(r + 3)}, model_id=m.model_id)
            mlflow.log_metric("val_acc", 0.5 + r / 10, step=steps,
                              model_id=m.model_id)
            models.append(m.model_id)
print(json.dumps({"runs": ids, "models": models}), flush=True)

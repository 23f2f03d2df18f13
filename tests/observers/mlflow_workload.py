"""An MLflow workload with every kind of record MLflow keeps, for the
fidelity tests and the fidelity benchmark: two experiments; a parent run
with a nested child; params; tags (one holding a NUL, one on two lines);
experiment tags; metric points by the hundred through log_batch, as training loops log
them, plus the points MLflow keeps apart although they share a key, step
and time (two values), negative steps, NaN and infinities; dataset inputs
with their contexts; logged models with params, tags and metrics per
dataset; a failed and a killed run.

It uses the tracking store MLflow resolves by itself (no tracking URI is
set here): MLFLOW_TRACKING_URI, else MLflow's default in the working
directory. Prints one JSON line with the experiment ids at the end.

usage: mlflow_workload.py [STEPS]
"""

import json
import math
import sys
import time
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import pandas as pd  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
client = MlflowClient()
now = int(time.time() * 1000)

train = mlflow.data.from_pandas(
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["a", "b", "c"]}),
    source="/data/train.csv", name="train")
val = mlflow.data.from_pandas(
    pd.DataFrame({"x": [4.0, 5.0], "y": ["d", "e"]}),
    source="/data/val.csv", name="val")

first = mlflow.set_experiment("fidelity-train").experiment_id
mlflow.set_experiment_tags({"team": "vision",
                            "mlflow.note.content": "two\nlines"})
with mlflow.start_run(run_name="parent") as parent:
    rid = parent.info.run_id
    mlflow.log_params({"lr": 0.01, "layers": 3, "opt": "adam"})
    mlflow.set_tags({"team": "vision", "note": "two\nlines: 'quoted'",
                     "nul": "before\x00after"})
    mlflow.log_input(train, context="training")
    mlflow.log_input(val, context="validation")
    batch = []
    for s in range(steps):
        batch.append(Metric("loss", 1.0 / (s + 1), now + s, s))
        batch.append(Metric("acc", s / (steps + 1.0) + 1e-9 * s, now + s, s))
    for i in range(0, len(batch), 500):
        client.log_batch(rid, metrics=batch[i:i + 500])
    # What MLflow keeps apart: two values at one (key, step, time), steps
    # below zero, NaN and infinities.
    client.log_batch(rid, metrics=[
        Metric("dup", 0.5, now, 3), Metric("dup", 0.25, now, 3),
        Metric("neg", 1.5, now, -5), Metric("neg", 2.5, now + 1, -1),
        Metric("odd", math.nan, now, 0), Metric("odd", math.inf, now, 1),
        Metric("odd", -math.inf, now, 2)])
    model = mlflow.create_external_model(
        name="classifier", params={"depth": "4"}, tags={"stage": "test"})
    # One key of one model, per dataset (MLflow keys a model's points by
    # model, key, time, step and run: the datasets need their own times).
    for k, (ds, v) in enumerate(((train, 0.9), (val, 0.75))):
        mlflow.log_metric("model_acc", v, step=steps, timestamp=now + k,
                          model_id=model.model_id, dataset=ds)
    with mlflow.start_run(run_name="child", nested=True) as child:
        client.log_batch(child.info.run_id,
                         metrics=[Metric("loss", 0.1 * s, now + s, s)
                                  for s in range(steps // 2)],
                         params=[Param("fold", "1")],
                         tags=[RunTag("kind", "fold")])

second = mlflow.set_experiment("fidelity-eval").experiment_id
with mlflow.start_run(run_name="fails"):
    mlflow.log_param("seed", 7)
    mlflow.log_metric("loss", 3.0, step=0)
failed = client.search_runs([second])[0].info.run_id
client.set_terminated(failed, status="FAILED")
killed = client.create_run(second, run_name="killed").info.run_id
client.log_metric(killed, "loss", 9.0, step=0)
client.set_terminated(killed, status="KILLED")
print(json.dumps({"experiments": [first, second]}), flush=True)

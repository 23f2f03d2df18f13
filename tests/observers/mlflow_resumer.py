"""Starts an MLflow run and ends it, or resumes one, the way a training
script does, for the observer's tests of resumed runs.

usage: mlflow_resumer.py TRACKING_URI new          -- prints the run id
       mlflow_resumer.py TRACKING_URI resume RUN_ID [STATUS]
                        -- resumes RUN_ID, logs a point, prints "open",
                           and ends the run (with STATUS, default
                           FINISHED) when a line comes on stdin
"""

import sys
import warnings

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402

uri, what = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
if what == "new":
    mlflow.set_experiment("resume-test")
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", 1.0, step=0)
    print(run.info.run_id, flush=True)
else:
    run_id = sys.argv[3]
    status = sys.argv[4] if len(sys.argv) > 4 else "FINISHED"
    mlflow.start_run(run_id=run_id)
    mlflow.log_metric("loss", 0.5, step=1)
    print("open", flush=True)
    sys.stdin.readline()
    mlflow.end_run(status=status)

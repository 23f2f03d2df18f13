"""MLflow experiments as training scripts leave them, for the API's checks
of what `mida observe mlflow` made of them (test_mlflow_api.py), written
with MLflow's own client into the tracking store TRACKING_URI, each run
begun a second after the one before:

- "sweep": run "train-0" FINISHED, then "train-1" FAILED (the newest);
- "tuning": "tune-0" FINISHED, then "tune-1" RUNNING (created and never
  ended, as a training that still runs);
- "done": "final" KILLED, then "final-2" FINISHED;
- "Default", MLflow's own experiment: no run.

Each run logs the parameters lr and batch. Prints one JSON line at the
end: {experiment name: [run ids, oldest first]}.

usage: mlflow_experiments.py TRACKING_URI
"""

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from mlflow import MlflowClient  # noqa: E402

EXPERIMENTS = {
    "sweep": [("train-0", "FINISHED"), ("train-1", "FAILED")],
    "tuning": [("tune-0", "FINISHED"), ("tune-1", None)],
    "done": [("final", "KILLED"), ("final-2", "FINISHED")],
}


def main():
    client = MlflowClient(tracking_uri=sys.argv[1])
    start = int(time.time() * 1000) - 60_000
    ids = {}
    for name, runs in EXPERIMENTS.items():
        experiment = client.create_experiment(name)
        ids[name] = []
        for run_name, status in runs:
            start += 1000
            run = client.create_run(experiment, start_time=start,
                                    run_name=run_name)
            rid = run.info.run_id
            client.log_param(rid, "lr", 0.01 * (len(ids[name]) + 1))
            client.log_param(rid, "batch", 32)
            if status is not None:
                client.set_terminated(rid, status, end_time=start + 500)
            ids[name].append(rid)
    print(json.dumps(ids), flush=True)


if __name__ == "__main__":
    main()

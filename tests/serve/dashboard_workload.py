"""The workload of the browser test (browser.mjs): a small Dask pipeline
and two MLflow runs, with no mida in them; `mida run --mlflow URI --`
observes both.

Dask: 8 `load(i)` -> 8 `square(x)` (each 0.4 s, on 2 threads, so the
overview's counts rise over a few seconds) -> one `total`. MLflow: two runs
of experiment "dashboard" with params lr and batch and STEPS points of
"loss" each.

usage: dashboard_workload.py MLFLOW_URI STEPS
"""
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from dask import delayed  # noqa: E402
from dask.distributed import Client, LocalCluster  # noqa: E402


def load(i):
    return {"n": i}


def square(d):
    time.sleep(0.4)
    return d["n"] * d["n"]


def total(*xs):
    return sum(xs)


def main():
    uri, steps = sys.argv[1], int(sys.argv[2])
    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address=None)
    client = Client(cluster)
    squares = [delayed(square)(delayed(load)(i)) for i in range(8)]
    result = delayed(total)(*squares).compute()
    assert result == sum(i * i for i in range(8)), result
    client.close()
    cluster.close()

    import mlflow
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("dashboard")
    for r in range(2):
        with mlflow.start_run(run_name=f"run-{r}"):
            mlflow.log_params({"lr": 0.01 * (r + 1), "batch": 32 * (r + 1)})
            for s in range(steps):
                mlflow.log_metric("loss", 1.0 / (s + 1) + 0.1 * r, step=s)
    print("workload done", flush=True)


if __name__ == "__main__":
    main()

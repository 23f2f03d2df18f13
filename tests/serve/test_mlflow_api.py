"""The API on what `mida observe mlflow` made of real MLflow experiments
(mlflow_experiments.py, written with MLflow's own client): an experiment
is a workflow, a run a task."""

import json
import os
import subprocess
import sys

import pytest

from serve_support import ROOT

WRITER = str(ROOT / "tests" / "serve" / "mlflow_experiments.py")


@pytest.fixture(scope="module")
def observed(tmp_path_factory, mida_bin):
    """(store path, {experiment: [run ids]}): the experiments, read once
    by the observer into a new store."""
    pytest.importorskip("mlflow")
    d = tmp_path_factory.mktemp("mlflow-api")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    r = subprocess.run([sys.executable, WRITER, uri], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    runs = json.loads(r.stdout.strip().splitlines()[-1])
    store = d / "observed.db"
    env["MIDA_SPOOL"] = str(d / "spool")
    r = subprocess.run([mida_bin, "--store", str(store), "observe", "mlflow",
                        "--tracking-uri", uri, "--once"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return str(store), runs


def test_diff_of_two_runs_names_each_key_once(serve, observed):
    # A run's custom values and its experiment's metadata both hold
    # mlflow.experiment_id and mlflow.lifecycle_stage: the diff listed
    # each twice.
    store, runs = observed
    s = serve(store)
    a, b = runs["sweep"]
    st, d = s.get_json(f"/api/diff?a={a}&b={b}")
    assert st == 200, d
    keys = [(r["section"], r["key"]) for r in d["rows"]]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert twice == [], twice
    env = {r["key"]: r for r in d["rows"] if r["section"] == "environment"}
    assert (env["mlflow.experiment_id"]["a"],
            env["mlflow.experiment_id"]["status"]) == (
        env["mlflow.experiment_id"]["b"], "same")
    assert env["mlflow.run_id"]["a"] == a and env["mlflow.run_id"]["b"] == b

"""The API on what `mida observe mlflow` made of real MLflow experiments
(mlflow_experiments.py, written with MLflow's own client): an experiment
is a workflow, a run a task."""

import json
import os
import subprocess
import sys
import time

import pytest

from serve_support import ROOT, copy_sqlite_to_postgres
from test_events import Stream

WRITER = str(ROOT / "tests" / "serve" / "mlflow_experiments.py")


def observe_experiments(d, mida_bin):
    """(store path, {experiment: [run ids]}): mlflow_experiments.py's
    experiments in folder d, read once by the observer into a new store
    there."""
    pytest.importorskip("mlflow")
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


@pytest.fixture(scope="module")
def observed(tmp_path_factory, mida_bin):
    """observe_experiments(), once for the module."""
    return observe_experiments(tmp_path_factory.mktemp("mlflow-api"),
                               mida_bin)


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


def experiment_statuses(srv, query=""):
    """{experiment name: status} of /api/workflows?source=mlflow..."""
    st, body = srv.get_json("/api/workflows?source=mlflow" + query)
    assert st == 200, body
    return {w["name"]: w["status"] for w in body["items"]}


# MLflow keeps no status for an experiment: RUNNING while a run of it
# runs, else its newest run's, none while it has no run.
STATUSES = {"sweep": "ERROR", "tuning": "RUNNING", "done": "FINISHED",
            "Default": None}


def test_an_experiment_has_the_status_of_its_runs(serve, observed):
    # Every experiment was a workflow of status UNKNOWN (none stored).
    store, runs = observed
    s = serve(store)
    assert experiment_statuses(s) == STATUSES
    for name, want in STATUSES.items():
        wf = [w for w in s.get_json("/api/workflows?source=mlflow")[1]
              ["items"] if w["name"] == name][0]
        st, one = s.get_json(f"/api/workflows/{wf['id']}")
        assert (st, one["status"]) == (200, want), (name, one)
    # The status filter reads the same status.
    assert experiment_statuses(s, "&status=running") == {"tuning": "RUNNING"}
    assert experiment_statuses(s, "&status=ERROR") == {"sweep": "ERROR"}


def test_the_cli_gives_an_experiment_the_same_status(observed, mida_bin):
    # `mida workflows` and `mida show` read the status as the API does:
    # they printed none for every experiment.
    store, _ = observed
    r = subprocess.run([mida_bin, "--store", store, "workflows", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    got = {w["name"]: w["status"] for w in rows if w["source"] == "mlflow"}
    assert got == STATUSES, got
    tuning = [w["id"] for w in rows if w["name"] == "tuning"][0]
    r = subprocess.run([mida_bin, "--store", store, "show", tuning],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert any(line.split()[:2] == ["status", "RUNNING"]
               for line in r.stdout.splitlines()), r.stdout


def test_diff_and_exports_give_an_experiment_the_same_status(
        observed, mida_bin, tmp_path):
    # mida diff, the PROV export and the RO-Crate export read the stored
    # status: none for every experiment.
    store, _ = observed

    def mida(*args):
        r = subprocess.run([mida_bin, "--store", store, *args],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    ids = {w["name"]: w["id"] for w in json.loads(mida("workflows",
                                                       "--json"))}
    diff = mida("diff", ids["sweep"], ids["done"])
    assert any(line.split()[1:] == ["status", "ERROR", "FINISHED"]
               for line in diff.splitlines()), diff
    prov = json.loads(mida("export", "prov", "--workflow", ids["tuning"]))
    wf = [a for a in prov["activity"].values()
          if a.get("mida:status") == "RUNNING" and
          a.get("prov:label", a.get("mida:name")) == "tuning"]
    assert wf, prov["activity"]
    crate = tmp_path / "crate"
    mida("export", "rocrate", "--workflow", ids["sweep"], "-o", str(crate))
    graph = json.loads((crate / "ro-crate-metadata.json").read_text())
    statuses = {e.get("name"): e.get("actionStatus")
                for e in graph["@graph"] if "actionStatus" in e}
    assert statuses["Run of sweep"]["@id"].endswith("/FailedActionStatus"), \
        statuses


def test_an_experiment_status_is_the_same_on_postgres(
        serve, observed, pg_db, produce_bin, fleet, tmp_path):
    store, _ = observed
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(store, pg_db, produce_bin, env)
    pg = serve(pg_db)
    assert experiment_statuses(pg) == STATUSES
    assert experiment_statuses(pg, "&status=RUNNING") == {
        "tuning": "RUNNING"}


def test_an_experiment_whose_last_run_ends_is_sent_live(serve, mida_bin,
                                                        tmp_path):
    # The event stream's workflow rows carry the same status: when the
    # running run ends, the experiment's row comes again, FINISHED.
    pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp_path / "spool")
    r = subprocess.run([sys.executable, WRITER, uri], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    running = json.loads(r.stdout.strip().splitlines()[-1])["tuning"][1]
    store = str(tmp_path / "live.db")
    observe = [mida_bin, "--store", store, "observe", "mlflow",
               "--tracking-uri", uri, "--once"]
    subprocess.run(observe, env=env, check=True, capture_output=True,
                   timeout=300)
    s = serve(store, "--poll-ms", "100")
    stream = Stream(s)
    time.sleep(0.3)
    subprocess.run([sys.executable, "-c",
                    "import sys; from mlflow import MlflowClient\n"
                    "MlflowClient(sys.argv[1]).set_terminated(sys.argv[2],"
                    " 'FINISHED')", uri, running],
                   env=env, check=True, capture_output=True, timeout=300)
    subprocess.run(observe, env=env, check=True, capture_output=True,
                   timeout=300)
    stream.wait_for(lambda e: e[0] == "workflows" and any(
        w["name"] == "tuning" and w["status"] == "FINISHED" for w in e[1]),
        timeout=30)
    stream.close()

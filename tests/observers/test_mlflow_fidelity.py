"""MLflow fidelity: a real MLflow workload with every kind of record MLflow
keeps (mlflow_workload.py) runs under `mida run` with no tracking URI set,
and what mida holds is compared, record by record and exactly, with what
MlflowClient reports (fidelity.py): experiments, runs, params, tags, every
metric point, latest metrics, dataset inputs, logged models with their
params, tags and per-dataset metrics. Once with MLflow 3's default store
(./mlflow.db), once with a file store (./mlruns, which MLflow keeps using
when it finds one); then the file store read on incrementally, the schema
version warned about once, and the messages of stores that are not
there."""

import json
import os
import pathlib
import sqlite3
import subprocess
import time

import pytest

from obs_support import mida_bin, observer, python, store, summary  # noqa
import fidelity

mlflow = pytest.importorskip("mlflow")

HERE = pathlib.Path(__file__).resolve().parent
WORKLOAD = str(HERE / "mlflow_workload.py")
STEPS = 60


def run_workload(mida_bin, store, python, cwd, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and k != "MLFLOW_TRACKING_URI"}
    env["MIDA_SPOOL"] = str(cwd / "spool")
    env.update(env_extra)
    return subprocess.run([mida_bin, "--store", store.path, "run",
                           "--no-dask", "--", python, WORKLOAD, str(STEPS)],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def assert_exact(oracle, held):
    result = fidelity.compare(oracle, held)
    bad = {kind: (counts, fidelity.differences(oracle, held, kind))
           for kind, counts in result.items()
           if counts[1] != counts[0] or counts[2] != 0}
    assert not bad
    # Every kind of record was there to compare.
    assert {k for k, (n, _, _) in result.items() if n > 0} == {
        "experiment", "experiment tag", "run", "param", "tag",
        "metric point",
        "latest metric", "dataset input", "logged model", "model param",
        "model tag", "model metric"}
    return result


def check_points_kept_apart(held):
    points = held["metric point"]
    dup = sorted(v for (_, k, step, _, v) in points if k == "dup")
    assert dup == [0.25, 0.5]  # one key, step and time; two values
    assert {step for (_, k, step, _, _) in points if k == "neg"} == {-5, -1}
    odd = {step: v for (_, k, step, _, v) in points if k == "odd"}
    assert odd[0] == "nan" and odd[1] == float("inf")
    assert any(k == "nul" and v == "before\x00after"
               for (_, k, v) in held["tag"])
    per_dataset = sorted((x[6], x[2]) for x in held["model metric"])
    assert per_dataset == [("train", 0.9), ("val", 0.75)]


def check_datasets_are_their_files(store, oracle):
    # The workload's datasets come from local paths (/data/<name>.csv):
    # each is that file (not on this host: its URI is its id), MLflow's
    # digest in its metadata.
    want = {(f"file:///data/{name}.csv", digest)
            for (_, name, digest, _) in oracle["dataset input"]}
    assert len(want) == 2, oracle["dataset input"]
    files = {(uri, json.loads(meta).get("mlflow.dataset_digest"))
             for uri, meta in store.query(
                 "SELECT d.uri, d.metadata FROM data d WHERE d.kind = 'file'"
                 " AND d.id = d.uri AND d.uri LIKE 'file:///data/%'")}
    assert files == want, files


def test_default_store_observed_exactly(tmp_path, mida_bin, store, python):
    r = run_workload(mida_bin, store, python, tmp_path)
    assert r.returncode == 0, r.stderr
    # MLflow created its database while the observer watched: the
    # migrations' versions are no news.
    assert "schema version" not in r.stderr, r.stderr
    assert (tmp_path / "mlflow.db").exists()
    oracle = fidelity.mlflow_oracle(f"sqlite:///{tmp_path / 'mlflow.db'}")
    held = fidelity.mlflow_held(store.path)
    assert_exact(oracle, held)
    check_points_kept_apart(held)
    check_datasets_are_their_files(store, oracle)
    # The runs are children of the command's task, the nested run a child
    # of its parent run.
    parents = dict(store.query(
        "SELECT t.activity, pw.source FROM task t JOIN task p"
        " ON p.id = t.parent_id JOIN workflow pw ON pw.id = p.workflow_id"
        " JOIN workflow w ON w.id = t.workflow_id WHERE w.source = 'mlflow'"))
    assert parents == {"parent": "run", "fails": "run", "killed": "run",
                       "child": "mlflow"}


def test_file_store_observed_exactly_and_incrementally(
        tmp_path, monkeypatch, mida_bin, store, python, observer):
    mlruns = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    # An mlruns directory with an experiment: MLflow's default stays there.
    mlflow.MlflowClient(tracking_uri=f"file://{mlruns}").search_experiments()
    r = run_workload(mida_bin, store, python, tmp_path,
                     MLFLOW_ALLOW_FILE_STORE="true")
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "mlflow.db").exists()
    oracle = fidelity.mlflow_oracle(f"file://{mlruns}")
    held = fidelity.mlflow_held(store.path)
    assert_exact(oracle, held)
    check_points_kept_apart(held)
    check_datasets_are_their_files(store, oracle)

    # Read on from the cursors mida run's observer left: nothing is read
    # twice, and a point and a param written since are read.
    uri = f"file://{mlruns}"
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 0
    run_dir = next(p.parent.parent for p in mlruns.glob("*/*/metrics/loss"))
    with open(run_dir / "metrics" / "loss", "a") as f:
        f.write("1796000000000 0.0625 999\n1796000000001 0.5")  # + a part
    (run_dir / "params" / "late").write_text("yes")
    rc, out, err = observer("mlflow", "--tracking-uri", str(mlruns)).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 1  # the line being written waits
    assert store.count("SELECT count(*) FROM metric WHERE step = 999"
                       " AND value = 0.0625") == 1
    assert store.count("SELECT count(*) FROM task WHERE"
                       " used->>'late' = 'yes'") == 1


def test_schema_version_warned_once_about_the_one_that_stays(
        tmp_path, observer):
    # The tables the observer needs, then the versions a migration goes
    # through while the observer watches, none of them known to it; the
    # last one stays.
    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(
        "CREATE TABLE alembic_version(version_num TEXT);"
        "INSERT INTO alembic_version VALUES('aaaaaaaaaaa0');"
        "CREATE TABLE experiments(experiment_id INTEGER, name TEXT);"
        "CREATE TABLE runs(run_uuid TEXT, experiment_id INTEGER);"
        "CREATE TABLE metrics(run_uuid TEXT, key TEXT, value REAL);")
    obs = observer("mlflow", "--tracking-uri", f"sqlite:///{db}").start()
    for v in ["aaaaaaaaaaa1", "aaaaaaaaaaa2", "aaaaaaaaaaa3", "ffffffffffff"]:
        time.sleep(0.3)
        con.execute("UPDATE alembic_version SET version_num = ?", (v,))
    time.sleep(6)  # longer than a version must stay to be judged
    con.close()
    rc, out, err = obs.stop()
    assert rc == 0, err
    assert err.count("schema version") == 1, err
    assert "schema version ffffffffffff" in err


def test_no_schema_version_while_mlflow_creates_its_tables_is_no_warning(
        tmp_path, observer):
    # MLflow makes its tables, then the alembic_version table (on
    # PostgreSQL, a window of a second or so): an observer started first
    # said "no alembic_version table" into the stderr of `mida run`'s
    # command, about a database that had one a moment later. Its absence
    # is worth a word once it stays, as a version's is.
    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(
        "CREATE TABLE experiments(experiment_id INTEGER, name TEXT);"
        "CREATE TABLE runs(run_uuid TEXT, experiment_id INTEGER);"
        "CREATE TABLE metrics(run_uuid TEXT, key TEXT, value REAL);")
    obs = observer("mlflow", "--tracking-uri", f"sqlite:///{db}").start()
    time.sleep(1.0)
    con.executescript(
        "CREATE TABLE alembic_version(version_num TEXT);"
        "INSERT INTO alembic_version VALUES('dc11669786a5');")
    time.sleep(0.5)
    con.close()
    rc, out, err = obs.stop()
    assert rc == 0, err
    assert "alembic_version" not in err, err
    # One that stays is still said, at the only pass of --once too.
    os.remove(db)
    con = sqlite3.connect(db, isolation_level=None)
    con.executescript(
        "CREATE TABLE experiments(experiment_id INTEGER, name TEXT);"
        "CREATE TABLE runs(run_uuid TEXT, experiment_id INTEGER);"
        "CREATE TABLE metrics(run_uuid TEXT, key TEXT, value REAL);")
    con.close()
    rc, out, err = observer("mlflow", "--tracking-uri",
                            f"sqlite:///{db}").once()
    assert rc == 0, err
    assert err.count("no alembic_version table") == 1, err


def test_stores_that_are_not_there(tmp_path, observer):
    rc, _, err = observer("mlflow", "--tracking-uri",
                          f"file://{tmp_path}/nope").once()
    assert rc == 1 and "no MLflow file store" in err
    rc, _, err = observer("mlflow", "--tracking-uri",
                          f"sqlite:///{tmp_path}").once()
    assert rc == 1 and "a directory, not an SQLite database" in err
    assert f"file://{tmp_path}" in err
    rc, _, err = observer("mlflow", "--tracking-uri",
                          "file://elsewhere/mlruns").once()
    assert rc == 1 and "not a local file: URI" in err

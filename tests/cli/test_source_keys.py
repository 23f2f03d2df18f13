"""`mida show`, `mida lineage` and `mida diff` named by what a user has at
hand: the source's own key of a task (an MLflow run id, a Dask key, a
TensorBoard run directory: task.source_key) or of an MLflow experiment's
workflow (its experiment id, in the workflow's metadata). `mida show <MLflow
run id>` said "no task or workflow with id"; now a key of one task shows it
and says so on stderr, and a key of several lists them and fails (the real
MLflow and Dask keys: tests/observers/test_mlflow_observer.py,
tests/python/test_mida_dask.py)."""

import shutil
import sqlite3

import pytest

import mida_cli_store as fx
from mida_cli_store import T_CLEAN, T_EVAL, T_FIT, T_LOAD, WF_TRAIN
from pg_database import store_as
from multinode_support import psql  # noqa: E402 (pg_database's path)

# A Dask key as the plugin keeps it (str(key)), submitted twice.
DASK_KEY = "('inc-5f3a', 0)"


@pytest.fixture
def keyed(store, tmp_path):
    """The fixture store with DASK_KEY the key of two tasks (fit, then
    evaluate) and WF_TRAIN the workflow of MLflow experiment 7."""
    path = str(tmp_path / "keyed.db")
    shutil.copyfile(store, path)
    db = sqlite3.connect(path)
    db.execute("UPDATE task SET source_key = ? WHERE id IN (?, ?)",
               (DASK_KEY, T_FIT, T_EVAL))
    db.execute("UPDATE workflow SET metadata = ? WHERE id = ?",
               ('{"mlflow.tracking_db": "/x/mlflow.db",'
                ' "mlflow.experiment_id": "7"}', WF_TRAIN))
    db.commit()
    db.close()
    return path


def test_show_a_task_by_its_source_key(run):
    r = run("show", "load-1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"task        {T_LOAD}\n")
    assert r.stderr == (f"mida show: 'load-1' is the source key of task"
                        f" {T_LOAD} (load)\n")


def test_show_a_workflow_by_its_mlflow_experiment_id(run, keyed):
    r = run("show", "7", store_path=keyed)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"workflow    {WF_TRAIN}\n")
    assert f"source key of workflow {WF_TRAIN} (train)" in r.stderr


def test_a_key_of_several_tasks_lists_them_and_fails(run, keyed):
    for verb in (["show"], ["lineage"]):
        r = run(*verb, DASK_KEY, store_path=keyed)
        assert r.returncode == 1, r.stdout
        assert r.stdout == ""
        lines = r.stderr.splitlines()
        assert lines[0] == (f"mida {verb[0]}: '{DASK_KEY}' is the source key"
                            " of 2 tasks; name one by its id:"), r.stderr
        # The newest first: evaluate started after fit.
        assert T_EVAL in lines[1] and "evaluate" in lines[1]
        assert T_FIT in lines[2] and "fit" in lines[2]
        assert "[mlflow]" in lines[2]
    r = run("diff", DASK_KEY, T_CLEAN, store_path=keyed)
    assert r.returncode == 1
    assert (f"'{DASK_KEY}' is the source key of 2 tasks ({T_EVAL},"
            f" {T_FIT}); name one by its id") in r.stderr


def test_lineage_from_a_task_by_its_source_key(run):
    r = run("lineage", "load-1", "--down")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"task {T_LOAD} load")
    assert T_CLEAN in r.stdout
    assert "is the source key of task" in r.stderr


def test_neither_an_id_nor_a_source_key(run):
    r = run("show", "nope")
    assert r.returncode == 1
    assert r.stderr == ("mida: no task or workflow with id or source key"
                        " 'nope'\n")
    r = run("lineage", "nope")
    assert r.stderr == ("mida: no task or data with id, digest, URI or source"
                        " key 'nope'\n")


@pytest.mark.parametrize("kind, bad", [("sqlite", '{"x":'),
                                       ("postgresql", "[1, 2]")])
def test_a_key_is_found_past_metadata_that_is_no_object(run, tmp_path, kind,
                                                        bad):
    """An MLflow workflow's metadata that is not a JSON object (text that
    is not JSON on SQLite, an array on PostgreSQL) is no experiment's: the
    search of a key passes it by. It failed every search of a key,
    "malformed JSON" or "cannot call jsonb_each on a non-object"
    (test_diff_unreadable_json.py: the same in the diff)."""
    path = tmp_path / "s.db"
    fx.make_store(str(path))
    if kind == "sqlite":
        db = sqlite3.connect(path)
        db.execute("UPDATE workflow SET metadata = ? WHERE id = ?",
                   (bad, WF_TRAIN))
        db.commit()
        db.close()
    with store_as(kind, path, "mida_key_bad", tmp_path / "spool") as url:
        if kind == "postgresql":
            psql(url, f"UPDATE workflow SET metadata = '{bad}'"
                      f" WHERE id = '{WF_TRAIN}'")
        r = run("show", "load-1", store_path=url)
        assert r.returncode == 0, r.stderr
        assert T_LOAD in r.stdout
        r = run("diff", "load-1", T_CLEAN, store_path=url)
        assert r.returncode == 0, r.stderr
        r = run("show", "nosuch", store_path=url)
        assert r.returncode == 1
        assert "source key 'nosuch'" in r.stderr

"""The MLflow observer against real MLflow (from PyPI): runs logged while
the observer runs, every point in the store with its exact value, a
SIGKILL and restart in the middle with nothing missed or repeated, no lock
errors on MLflow's side, and bad databases."""

import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest

# The fixtures are imported so that pytest finds them here.
from obs_support import (  # noqa: F401
    Observer, Store, check_run_tasks, mida_bin, mlflow_history, observer,
    python, same, store, store_points, summary)

mlflow = pytest.importorskip("mlflow")

HERE = pathlib.Path(__file__).resolve().parent
WRITER = str(HERE / "mlflow_writer.py")


@pytest.fixture(scope="module")
def one_run_db(tmp_path_factory):
    """An MLflow database with one run of 5 steps (14 metric points),
    logged by MLflow once for the tests of this module that copy it."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    subprocess.run([sys.executable, WRITER, f"sqlite:///{db}", "1", "5"],
                   check=True, capture_output=True)
    return db


def copy_db(one_run_db, tmp_path):
    db = tmp_path / "mlflow.db"
    shutil.copyfile(one_run_db, db)
    return db



def test_runs_logged_while_observing_killed_and_restarted(
        tmp_path, store, observer, python):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    parent = str(uuid.uuid4())
    # The observer starts before MLflow has created its database.
    obs = observer("mlflow", "--tracking-uri", uri)
    obs.env["MIDA_CAMPAIGN"] = "obs-campaign"
    obs.start()
    writer = subprocess.Popen([python, WRITER, uri, "3", "200", parent],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    # Kill the observer with SIGKILL in the middle of the second run.
    got = store.wait_for("SELECT count(*) FROM metric", 500, timeout=180)
    assert got is not None and got >= 500, "the observer did not keep up"
    obs.kill()
    time.sleep(0.5)  # MLflow keeps writing while no observer runs
    obs2 = observer("mlflow", "--tracking-uri", uri)
    obs2.env["MIDA_CAMPAIGN"] = "obs-campaign"
    obs2.start()
    out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err
    assert "database is locked" not in err.lower()
    ids = json.loads(out.strip().splitlines()[-1])
    time.sleep(1.0)
    rc, sout, serr = obs2.stop()
    assert rc == 0, serr
    second = summary(sout)

    want = mlflow_history(uri, ids["runs"])
    assert len(want) == 3 * 200 * 2 + 3
    have = store_points(store)
    missing = set(want) - set(have)
    extra = set(have) - set(want)
    assert not missing, f"{len(missing)} points missing"
    assert not extra, f"{len(extra)} points the observer made up"
    bad = [k for k in want if not same(want[k], have[k])]
    assert not bad, [(k, want[k], have[k]) for k in bad[:5]]
    # The restarted observer resumed from the cursor the killed one left
    # (shipped from its journal when the new one opened the store) instead
    # of reading every point again; its own cursor ends at the last row.
    total = len(want) + len(ids["models"])  # + one val_acc point per model
    assert second["metrics"] <= total - 500
    rows = sqlite3.connect(db).execute(
        "SELECT max(rowid), count(*) FROM metrics").fetchone()
    assert rows[1] == total
    cursor = store.query("SELECT position FROM source_cursor"
                         " WHERE key = 'metrics.rowid'")
    assert int(cursor[0][0]) == rows[0]

    # Runs -> tasks, with status, times, params, latest values, tags.
    check_run_tasks(store, ids["runs"], parent)
    wf = store.query("SELECT name, source FROM workflow WHERE source ="
                     " 'mlflow' AND name = 'observer-test'")
    assert wf
    # Dataset inputs -> data used; logged models -> data generated.
    # A dataset read from a local file is that file (not here: named by
    # its URI), with MLflow's digest of it in the metadata.
    used = store.query(
        "SELECT t.source_key, d.id, d.uri, json_extract(d.metadata,"
        " '$.\"mlflow.dataset_digest\"')"
        " FROM task_data td JOIN data d ON d.id = td.data_id"
        " JOIN task t ON t.id = td.task_id"
        " WHERE td.role = 'used' AND d.kind = 'file'")
    assert sorted(u[0] for u in used) == sorted(ids["runs"])
    assert all(u[1] == u[2] and u[2].startswith("file:///data/train-")
               and u[3] for u in used)
    if ids["models"]:
        gen = store.query(
            "SELECT d.id, d.metadata FROM task_data td JOIN data d"
            " ON d.id = td.data_id WHERE td.role = 'generated'"
            " AND d.kind = 'model'")
        assert sorted(g[0] for g in gen) == sorted(
            "mlflow-model:" + m for m in ids["models"])
        meta = json.loads(gen[0][1])
        assert "depth" in meta["params"]
        assert any(x["key"] == "val_acc" for x in meta["metrics"])


def observed_once(tmp_path, observer, python, runs, points):
    """(tracking URI, observer's output) after mlflow_writer.py logged runs
    of points each into a new MLflow store and the observer read it once."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    subprocess.run([python, WRITER, uri, str(runs), str(points)],
                   check=True, capture_output=True)
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    return uri, out


def test_numeric_params_compare_as_numbers(tmp_path, store, observer, python,
                                           mida_bin):
    # MLflow keeps every param as text; a steering query on one
    # (where=used.lr<0.25, --where, a key's index, a sort) compares it as a
    # number: lr is 0.1, 0.2 and 0.30000000000000004 in the three runs.
    observed_once(tmp_path, observer, python, runs=3, points=2)

    def tasks(*args):
        r = subprocess.run([mida_bin, "--store", store.path, "tasks",
                            "--json", *args], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    low = tasks("--where", "used.lr<0.25")
    assert sorted(t["activity"] for t in low) == ["train-0", "train-1"]
    assert tasks("--where", "used.batch=32", "--where", "used.opt=sgd")
    subprocess.run([mida_bin, "--store", store.path, "index", "used.lr"],
                   check=True, capture_output=True)
    assert len(tasks("--where", "used.lr>0.25")) == 1  # through the index


def test_once_twice_reads_each_point_once(tmp_path, store, observer, python):
    uri, out = observed_once(tmp_path, observer, python, runs=1, points=20)
    first = summary(out)
    assert first["metrics"] >= 43
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 0  # resumed from the stored cursor
    assert store.count("SELECT count(*) FROM metric") == first["metrics"]


def test_not_a_database(tmp_path, observer):
    bad = tmp_path / "mlflow.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    rc, out, err = observer("mlflow", "--tracking-uri",
                            f"sqlite:///{bad}").once()
    assert rc == 1
    assert "not an SQLite database" in err


def test_sqlite_but_not_mlflow(tmp_path, observer):
    db = tmp_path / "other.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    rc, out, err = observer("mlflow", "--tracking-uri", str(db)).once()
    assert rc == 1
    assert "not an MLflow tracking database" in err


def test_missing_database(tmp_path, observer):
    rc, out, err = observer("mlflow", "--tracking-uri",
                            f"sqlite:///{tmp_path}/nope.db").once()
    assert rc == 1
    assert "no MLflow database" in err


def test_unsupported_uri(observer):
    rc, out, err = observer("mlflow", "--tracking-uri",
                            "http://localhost:5000").once()
    assert rc == 1
    assert "not a tracking URI this observer reads" in err


def test_locked_database_is_waited_out(tmp_path, store, observer, python,
                                       one_run_db):
    # A lock MLflow holds longer than a statement waits is waited out: a
    # wait, not an error, once a later pass gets through (errors=1 in the
    # summary of a pass that then read everything made a user look for a
    # fault). The lock is let go once the observer has said it waits.
    db = copy_db(one_run_db, tmp_path)
    locker = subprocess.Popen(
        [python, "-c",
         "import sqlite3, sys\n"
         f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "c.execute('BEGIN EXCLUSIVE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.readline()\n"
         "c.execute('COMMIT')\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"
    obs = observer("mlflow", "--tracking-uri", f"sqlite:///{db}")
    obs.start(poll_ms=None, extra=["--once"])
    said = obs.wait_stderr("retrying", timeout=60)
    locker.communicate("\n", timeout=30)
    rc, out, err = obs.wait()
    assert said, err
    assert rc == 0, err
    assert "database busy" in err
    s = summary(out)
    assert s["errors"] == 0 and s["waits"] >= 1 and s["metrics"] == 14


def test_show_names_a_run_and_an_experiment_by_mlflow_s_ids(
        tmp_path, store, observer, mida_bin, one_run_db):
    # The ids a user copies from MLflow's UI: `mida show <run id>` said "no
    # task or workflow with id".
    db = copy_db(one_run_db, tmp_path)
    uri = f"sqlite:///{db}"
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    run, experiment = sqlite3.connect(db).execute(
        "SELECT run_uuid, experiment_id FROM runs").fetchone()
    (task,), = store.query("SELECT id FROM task WHERE source_key = ?", (run,))
    (wf,), = store.query("SELECT id FROM workflow WHERE name = ?",
                         ("observer-test",))
    for key, kind, want in ((run, "task", task),
                            (str(experiment), "workflow", wf)):
        r = subprocess.run([mida_bin, "--store", store.path, "show", key],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"{kind:<11s} {want}\n"), r.stdout
        assert f"'{key}' is the source key of {kind} {want}" in r.stderr


def test_ctrl_c_stops_a_first_pass_and_the_next_start_goes_on(
        tmp_path, store, observer, one_run_db):
    # SIGINT during a first pass over a backlog stopped nothing: the pass
    # read everything, then the observer made one more. Now the pass stops
    # at its next safe point, and the next start reads exactly the rest.
    db = copy_db(one_run_db, tmp_path)
    con = sqlite3.connect(db)
    con.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
        " WHERE i < 12000) INSERT INTO metrics(key, value, timestamp,"
        " run_uuid, step, is_nan) SELECT 'bulk', i * 0.5, 1700000000000 + i,"
        " (SELECT run_uuid FROM runs), i, 0 FROM n")
    con.commit()
    con.close()
    uri = f"sqlite:///{db}"
    first = observer("mlflow", "--tracking-uri", uri)
    first.start(pending=[signal.SIGINT])
    rc, out, err = first.wait()
    assert rc == 0, err
    assert "stopping after the batch being read" in err
    read = summary(out)["metrics"]
    assert read < 12014
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert read + summary(out)["metrics"] == 12014  # nothing twice
    assert store.count("SELECT count(*) FROM metric") == 12014


def test_mida_run_observes_the_tracking_uri_it_sees(tmp_path, mida_bin,
                                                    store, python):
    """`mida run` starts the MLflow observer by itself when the command's
    environment has an sqlite: MLFLOW_TRACKING_URI, and the runs become
    children of the command's task."""
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
               MIDA_SPOOL=str(tmp_path / "spool"), MLFLOW_TRACKING_URI=uri)
    r = subprocess.run([mida_bin, "run", "--no-dask", "--", python, WRITER,
                        uri, "2", "20"], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert store.count("SELECT count(*) FROM metric"
                       " WHERE key IN ('loss', 'acc')") == 2 * 20 * 2
    assert store.count(
        "SELECT count(*) FROM task t JOIN workflow w ON w.id = t.workflow_id"
        " JOIN task p ON p.id = t.parent_id"
        " JOIN workflow pw ON pw.id = p.workflow_id"
        " WHERE w.source = 'mlflow' AND pw.source = 'run'") == 2


def test_mida_run_starts_no_observer_before_mlflow_has_a_database(
        tmp_path, mida_bin, store):
    """MLflow's default store (./mlflow.db) that is not there when the
    command starts: no observer process runs beside a command that never
    makes it (it would cost every `mida run` a process and a store
    session); one that makes it is observed (the test above)."""
    env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
               MIDA_SPOOL=str(tmp_path / "spool"), MIDA_SAMPLE_HZ="0")
    env.pop("MLFLOW_TRACKING_URI", None)
    r = subprocess.run([mida_bin, "run", "--no-dask", "--no-files", "--",
                        "sh", "-c", "ps -o args= --ppid $PPID"],
                       env=env, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "observe" not in r.stdout, r.stdout
    assert "sh -c" in r.stdout, r.stdout
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("uri", ["http://127.0.0.1:1/", "databricks",
                                 "databricks://profile"])
def test_mida_run_names_a_tracking_uri_it_cannot_observe(tmp_path, mida_bin,
                                                        store, python, uri):
    # "databricks" (MLflow's name of a Databricks workspace) was taken for
    # a file store in ./databricks, observed without a word: nothing came.
    env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
               MIDA_SPOOL=str(tmp_path / "spool"), MLFLOW_TRACKING_URI=uri)
    r = subprocess.run([mida_bin, "run", "--no-dask", "--", python, "-c",
                        "print('trained'); raise SystemExit(3)"],
                       env=env, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=120)
    # The command runs as it would, its output and exit status its own.
    assert r.returncode == 3, r.stderr
    assert r.stdout == "trained\n"
    said = [ln for ln in r.stderr.splitlines() if "MLFLOW_TRACKING_URI" in ln]
    assert len(said) == 1, r.stderr
    assert f"MLFLOW_TRACKING_URI={uri} is not observed" in said[0]
    assert "warning" in said[0] and "not recorded" in said[0]
    assert not (tmp_path / "databricks").exists()


@pytest.mark.parametrize("uri", ["databricks", "databricks://profile",
                                 "https://u:pw@mlflow.example/"])
def test_mida_run_refuses_an_mlflow_uri_it_cannot_observe(tmp_path, mida_bin,
                                                          store, python, uri):
    # An explicit --mlflow the observer cannot read ran the command, then
    # said "the mlflow observer did not stop cleanly" (its child exited 1):
    # an option given that cannot work is a usage error, said before the
    # command runs, with why (MLFLOW_TRACKING_URI, which the user did not
    # give mida, only warns: above).
    ran = tmp_path / "ran"
    env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
               MIDA_SPOOL=str(tmp_path / "spool"))
    env.pop("MLFLOW_TRACKING_URI", None)
    r = subprocess.run([mida_bin, "run", "--no-dask", "--mlflow", uri, "--",
                        python, "-c", f"open({str(ran)!r}, 'w')"],
                       env=env, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert not ran.exists()
    lines = r.stderr.splitlines()
    assert lines[0].startswith("mida run: --mlflow "), r.stderr
    assert "not a source the mlflow observer reads" in lines[0]
    if uri.startswith("databricks"):
        assert f"--mlflow {uri}: " in lines[0]
        assert "Databricks workspace" in lines[0]
    assert "pw" not in r.stderr
    assert "did not stop cleanly" not in r.stderr
    assert not (tmp_path / "databricks").exists()


@pytest.mark.parametrize("uri", ["databricks", "databricks://profile",
                                 "databricks-uc", "https://mlflow.example",
                                 "mysql://u@db/mlflow"])
@pytest.mark.parametrize("given", ["option", "environment"])
def test_observing_a_tracking_uri_it_cannot_read_is_an_error(
        tmp_path, observer, uri, given):
    # The observer took "databricks" for a file store in ./databricks and
    # waited for it to appear, forever, without a word.
    if given == "option":
        o = observer("mlflow", "--tracking-uri", uri)
    else:
        o = observer("mlflow")
        o.env["MLFLOW_TRACKING_URI"] = uri
    r = subprocess.run(o.argv, env=o.env, cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert f"{uri}: not a tracking URI this observer reads" in r.stderr
    if uri.startswith("databricks"):
        assert "Databricks workspace" in r.stderr
    assert not (tmp_path / "databricks").exists()


def test_each_mida_run_claims_its_own_runs_and_files(tmp_path, mida_bin,
                                                    store, python):
    """Two `mida run` commands in a row over one MLflow database and one
    TensorBoard log directory: each command's observers make the runs it
    logged its children, and leave the earlier command's runs alone. A
    dataset read from a local file is that file's version, the id that
    every source gives a file (core/fileid.h)."""
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    logdir = tmp_path / "tb"
    tb_writer = str(HERE / "tb_writer.py")
    commands = []
    for k in range(2):
        data = tmp_path / f"data{k}"
        data.mkdir()
        env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
                   MIDA_SPOOL=str(tmp_path / "spool"), MLFLOW_TRACKING_URI=uri,
                   MLFLOW_WRITER_DATA_DIR=str(data), MIDA_SAMPLE_HZ="0")
        script = (f"{python} {WRITER} {uri} 1 3 && "
                  f"{python} {tb_writer} tbx {logdir}/cmd{k} 3")
        r = subprocess.run([mida_bin, "run", "--no-dask", "--tensorboard",
                            str(logdir), "--", "sh", "-c", script], env=env,
                           cwd=str(tmp_path), capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        run_id = json.loads(line[-1])["runs"][0]
        commands.append((run_id, f"cmd{k}", data / "train-0.csv"))
    # Each command's task is the root of its process tree (the processes
    # it ran are its descendants, in the same workflow: docs/run.md).
    cmd_tasks = [t[0] for t in store.query(
        "SELECT t.id FROM task t JOIN workflow w ON w.id = t.workflow_id"
        " WHERE w.source = 'run' AND t.parent_id IS NULL ORDER BY t.started")]
    assert len(cmd_tasks) == 2
    for k, (run_id, tb_run, csv) in enumerate(commands):
        parent = store.query("SELECT parent_id FROM task WHERE source_key = ?"
                             " AND activity = 'train-0'", (run_id,))
        assert parent == [(cmd_tasks[k],)]
        parent = store.query("SELECT parent_id FROM task WHERE source_key = ?",
                             (tb_run,))
        assert parent == [(cmd_tasks[k],)]
        st = csv.stat()
        version = (f"inode:{st.st_dev}:{st.st_ino}:{st.st_mtime_ns}:"
                   f"{st.st_size}")
        used = store.query(
            "SELECT d.id, d.kind, d.uri, d.size FROM task_data td"
            " JOIN data d ON d.id = td.data_id JOIN task t ON t.id = td.task_id"
            " WHERE t.source_key = ? AND td.role = 'used' AND d.kind = 'file'",
            (run_id,))
        assert used == [(version, "file", f"file://{csv}", st.st_size)]


def test_a_command_that_ends_at_once_stops_its_observer_cleanly(
        tmp_path, mida_bin, store):
    # The stop comes while the observer still starts: it is kept pending
    # until the observer can handle it, then the observer ends normally.
    env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
               MIDA_SPOOL=str(tmp_path / "spool"), MIDA_SAMPLE_HZ="0")
    for _ in range(3):
        r = subprocess.run([mida_bin, "run", "--no-dask", "--mlflow",
                            f"sqlite:///{tmp_path}/mlflow.db", "--", "true"],
                           env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert "did not stop cleanly" not in r.stderr


def test_a_killed_observer_loses_no_run_it_only_watched(tmp_path, store,
                                                         observer):
    # An observer's death ends none of the runs it watched: MLflow's runs
    # go on without it. Recovery marks LOST what a dead process left
    # unfinished; the observer's records must not be taken for its own.
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("still-going")
    run = client.create_run(exp, run_name="long").info.run_id
    client.log_metric(run, "loss", 1.0, step=0)
    obs = observer("mlflow", "--tracking-uri", uri)
    obs.start()
    assert store.wait_for("SELECT count(*) FROM metric", 1) == 1
    assert store.wait_for("SELECT count(*) FROM workflow WHERE name ="
                          " 'still-going'", 1) == 1
    obs.kill()
    # The next observer ships the killed one's journal (and its LOST
    # marks) when it opens the store, then reads on.
    client.log_metric(run, "loss", 0.5, step=1)
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert store.query("SELECT status FROM task WHERE source_key = ?",
                       (run,)) == [("RUNNING",)]
    assert store.query("SELECT status FROM workflow WHERE name ="
                       " 'still-going'") == [(None,)]
    assert store.count("SELECT count(*) FROM metric") == 2
    client.set_terminated(run, status="FINISHED")
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert store.query("SELECT status FROM task WHERE source_key = ?",
                       (run,)) == [("FINISHED",)]


def test_a_run_too_large_to_keep_whole_stops_nothing(tmp_path, store,
                                                     observer):
    # MLflow keeps any number of params of up to 6,000 characters: 800 of
    # them are 4.8 MB of task.used, past what the observer builds (4 MiB);
    # and with a small journal, a run's record can be larger than a
    # segment. Either failed the whole observer (exit 1), and no point of
    # any run was kept. Now the run is kept without what does not fit,
    # counted, said once, and reading goes on.
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("wide")
    big = client.create_run(exp, run_name="many-params").info.run_id
    for b in range(8):
        client.log_batch(big, params=[
            mlflow.entities.Param(f"p{b}_{i}", "x" * 6000)
            for i in range(100)])
    client.log_metric(big, "loss", 1.0, step=0)
    client.set_tag(big, "team", "vision")
    client.set_terminated(big)
    small = client.create_run(exp, run_name="small").info.run_id
    client.log_metric(small, "loss", 2.0, step=0)
    client.set_terminated(small)
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert summary(out)["skipped"] == 1
    assert err.count("too large") == 1, err
    rows = dict(store.query("SELECT source_key, used FROM task"))
    assert rows == {big: None, small: None}
    assert store.count("SELECT count(*) FROM metric") == 2
    assert store.query("SELECT custom->>'team' FROM task WHERE"
                       " source_key = ?", (big,)) == [("vision",)]
    counters = dict(store.query("SELECT name, value FROM counter"))
    assert counters["observe.mlflow.skipped.too_large"] == 1

    # A journal of 1 MiB: the run's record of 2.4 MB of params does not
    # fit; the run is kept without them.
    db2 = tmp_path / "mlflow2.db"
    uri2 = f"sqlite:///{db2}"
    client = mlflow.MlflowClient(tracking_uri=uri2)
    exp = client.create_experiment("wide")
    big = client.create_run(exp, run_name="many-params").info.run_id
    for b in range(4):
        client.log_batch(big, params=[
            mlflow.entities.Param(f"p{b}_{i}", "x" * 6000)
            for i in range(100)])
    client.log_metric(big, "loss", 3.0, step=0)
    o = observer("mlflow", "--tracking-uri", uri2)
    o.env["MIDA_JOURNAL_BYTES"] = str(1 << 20)
    rc, out, err = o.once()
    assert rc == 0, err
    assert store.query("SELECT status, used FROM task WHERE"
                       " source_key = ?", (big,)) == [("RUNNING", None)]
    assert store.count("SELECT count(*) FROM metric WHERE value = 3") == 1

    # Watched while it runs: each point logged changes the run's latest
    # metrics, so each pass emits the run again, and again without its
    # params. The counter counts the thing skipped (one run's params), not
    # the passes that skipped it (it said 6 here).
    db3 = tmp_path / "mlflow3.db"
    uri3 = f"sqlite:///{db3}"
    client = mlflow.MlflowClient(tracking_uri=uri3)
    exp = client.create_experiment("wide")
    big = client.create_run(exp, run_name="many-params").info.run_id
    for b in range(8):
        client.log_batch(big, params=[
            mlflow.entities.Param(f"p{b}_{i}", "x" * 6000)
            for i in range(100)])
    live = observer("mlflow", "--tracking-uri", uri3).start()
    for step in range(5):
        client.log_metric(big, "live", 10.0 + step, step=step)
        # The pass that read this point emitted the run again.
        assert store.wait_for("SELECT count(*) FROM metric WHERE value"
                              f" = {10.0 + step}", 1) == 1
    rc, out, err = live.stop()
    assert rc == 0, err
    assert summary(out)["passes"] >= 5
    assert summary(out)["skipped"] == 1
    assert store.query("SELECT value FROM counter WHERE name ="
                       " 'observe.mlflow.skipped.too_large' AND pid = ?",
                       (live.proc.pid,)) == [(1,)]


def test_a_model_logged_to_while_observed_is_not_sent_again_per_pass(
        tmp_path, store, observer, mida_bin):
    # A training loop that logs points against a logged model while the
    # observer runs: the model's record (all its metric rows, which the
    # store keeps as one JSON array) was emitted again at each pass that
    # found new rows, 2 x 50 x 100 = 250,000 rows sent for these 5,000
    # (20,000 points: 9 s of CPU). Now the rows sent stay a small
    # multiple of the rows there are, and the store ends up with what one
    # pass over the finished database gives: every row, once.
    if not hasattr(mlflow, "create_external_model"):
        pytest.skip("MLflow 2 has no logged models")
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    n, batch = 5000, 50
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("growing")
    with mlflow.start_run(experiment_id=exp, run_name="train") as run:
        model = mlflow.create_external_model(name="net",
                                             params={"depth": "4"})
        live = observer("mlflow", "--tracking-uri", uri).start()
        now = int(time.time() * 1000)
        for b in range(0, n, batch):
            client.log_batch(run.info.run_id, metrics=[
                mlflow.entities.Metric("acc", s / n, now + s, s,
                                       model_id=model.model_id)
                for s in range(b, b + batch)])
            # The observer reads a burst of commits in one pass (after a
            # settle time of 100 ms): the loop lasts at least 2 s, for
            # enough passes to tell.
            time.sleep(0.02)
    mlflow.set_tracking_uri(None)
    assert store.wait_for("SELECT count(*) FROM metric", n) == n
    rc, out, err = live.stop()
    assert rc == 0, err
    # Sending every row again at each pass would send at least passes *
    # n / 2 rows, over 5 * n from 11 passes on.
    assert summary(out)["passes"] >= 12, "too few passes to tell"
    sent = store.query("SELECT value FROM counter WHERE name ="
                       " 'observe.mlflow.model_metric_rows_sent' AND pid = ?",
                       (live.proc.pid,))
    assert sent and n <= sent[0][0] <= 5 * n, sent

    # Every row once, as MLflow keeps it.
    meta = store.query("SELECT metadata FROM data WHERE id = ?",
                       ("mlflow-model:" + model.model_id,))
    rows = json.loads(meta[0][0])["metrics"]
    mine = sqlite3.connect(db).execute(
        "SELECT metric_name, metric_value, metric_step, metric_timestamp_ms,"
        " run_id FROM logged_model_metrics ORDER BY metric_step").fetchall()
    assert [(r["key"], r["value"], r["step"], r["timestamp"], r["run_id"])
            for r in rows] == mine
    assert len(mine) == n
    # The same metadata as one pass over the finished database gives.
    other = Observer(mida_bin, str(tmp_path / "other.db"),
                     str(tmp_path / "spool2"), "mlflow",
                     ["--tracking-uri", uri])
    rc, out, err = other.once()
    assert rc == 0, err
    one_pass = Store(str(tmp_path / "other.db")).query(
        "SELECT metadata FROM data WHERE id = ?",
        ("mlflow-model:" + model.model_id,))
    assert one_pass == meta


def test_a_model_with_more_points_than_fit_keeps_the_rest(tmp_path, store,
                                                          observer):
    # A training loop that logs a point per step against a logged model
    # (MLflow 3's model_id=) gives the model's metadata a row per point:
    # past what the observer builds (40,000 points: 6 MB) or what the
    # journal takes (here 1 MiB: 8,000 points), the observer stopped, exit
    # 1, and nothing after the model was read. Now the model is kept
    # without its metrics, counted.
    if not hasattr(mlflow, "create_external_model"):
        pytest.skip("MLflow 2 has no logged models")
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("checkpoints")
    with mlflow.start_run(experiment_id=exp, run_name="train") as run:
        model = mlflow.create_external_model(name="net",
                                             params={"depth": "4"})
        now = int(time.time() * 1000)
        for b in range(0, 8000, 1000):
            client.log_batch(run.info.run_id, metrics=[
                mlflow.entities.Metric("acc", s / 8000, now + s, s,
                                       model_id=model.model_id)
                for s in range(b, b + 1000)])
    mlflow.set_tracking_uri(None)
    o = observer("mlflow", "--tracking-uri", uri)
    o.env["MIDA_JOURNAL_BYTES"] = str(1 << 20)
    rc, out, err = o.once()
    assert rc == 0, err
    assert "its metrics too large" in err
    assert store.count("SELECT count(*) FROM metric") == 8000
    meta = store.query("SELECT metadata FROM data WHERE id = ?",
                       ("mlflow-model:" + model.model_id,))
    assert len(meta) == 1
    meta = json.loads(meta[0][0])
    assert meta["params"] == {"depth": "4"} and "metrics" not in meta
    counters = dict(store.query("SELECT name, value FROM counter"))
    assert counters["observe.mlflow.skipped.too_large"] == 1


def test_help_names_every_tracking_store_the_observer_reads(mida_bin,
                                                            observer,
                                                            tmp_path):
    """`mida observe --help` named SQLite and PostgreSQL only, though the
    observer reads a file store too (file:///path/mlruns, or the mlruns
    directory's path): a user with ./mlruns could not tell."""
    r = subprocess.run([mida_bin, "observe", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for form in ("sqlite:///path/mlflow.db", "postgresql://",
                 "file:///path/mlruns (a file store)",
                 "a file store (an mlruns directory)"):
        assert form in r.stdout, (form, r.stdout)
    # As it says: a file: URI is read as a file store.
    missing = tmp_path / "x" / "mlruns"
    rc, out, err = observer("mlflow", "--tracking-uri",
                            f"file://{missing}").once()
    assert rc == 1
    assert "no MLflow file store (mlruns directory) there" in err, err

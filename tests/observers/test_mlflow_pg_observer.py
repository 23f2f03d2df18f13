"""The MLflow observer against real MLflow 3 with a PostgreSQL tracking
store (postgresql://, read through libpq): runs logged while the observer
runs, every point in the store exactly once with its exact value, a SIGKILL
and restart in the middle with nothing missed, no lock or serialization
errors on MLflow's side, rows committed late by a transaction that was
running during a pass (in a savepoint, too), and bad databases. Each test
gets a fresh database on the local server (127.0.0.1:5432, user postgres),
dropped afterwards; the mida store stays SQLite. Skipped when PostgreSQL
cannot be reached or mida was built without libpq."""

import json
import os
import pathlib
import subprocess
import time
import uuid

import pytest

# The fixtures are imported so that pytest finds them here.
from obs_support import (  # noqa: F401
    check_run_tasks, mida_bin, mlflow_history, observer, python, same,
    store, store_points, summary)

mlflow = pytest.importorskip("mlflow")
psycopg2 = pytest.importorskip("psycopg2")

HERE = pathlib.Path(__file__).resolve().parent
WRITER = str(HERE / "mlflow_writer.py")
SERVER = "postgres@127.0.0.1:5432"


def admin():
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres",
                           dbname="postgres", connect_timeout=5)
    con.autocommit = True
    return con


@pytest.fixture
def pgdb(mida_bin, tmp_path):
    """A fresh, empty database: its name."""
    try:
        con = admin()
    except psycopg2.OperationalError as e:
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {e}")
    name = "mlflow_test_" + uuid.uuid4().hex[:12]
    con.cursor().execute(f"CREATE DATABASE {name}")
    # A build without libpq says so; then there is nothing to test.
    r = subprocess.run([mida_bin, "--store", f"sqlite://{tmp_path}/probe.db",
                        "observe", "mlflow", "--tracking-uri",
                        f"postgresql://{SERVER}/{name}", "--once"],
                       capture_output=True, text=True, timeout=60,
                       env={"MIDA_SPOOL": str(tmp_path / "probe-spool"),
                            "PATH": "/usr/bin:/bin"})
    if "without libpq" in r.stderr:
        con.cursor().execute(f"DROP DATABASE {name}")
        pytest.skip("mida was built without libpq")
    try:
        yield name
    finally:
        con.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        con.close()


def mlflow_uri(db):
    # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; MLflow gets
    # the psycopg2 driver, the observer the libpq URI.
    return f"postgresql+psycopg2://{SERVER}/{db}"




def test_runs_logged_while_observing_killed_and_restarted(
        tmp_path, pgdb, store, observer, python):
    uri = mlflow_uri(pgdb)
    obs_uri = f"postgresql://{SERVER}/{pgdb}"
    parent = str(uuid.uuid4())
    # The observer starts before MLflow has created its tables.
    obs = observer("mlflow", "--tracking-uri", obs_uri)
    obs.env["MIDA_CAMPAIGN"] = "obs-campaign"
    obs.start()
    writer = subprocess.Popen([python, WRITER, uri, "3", "200", parent],
                              stdout=subprocess.PIPE, cwd=tmp_path,
                              stderr=subprocess.PIPE, text=True)
    # Kill the observer with SIGKILL in the middle of the second run.
    got = store.wait_for("SELECT count(*) FROM metric", 500, timeout=180)
    if got is None or got < 500:
        obs.kill()
        pytest.fail("the observer did not keep up: " +
                    obs.proc.stderr.read()[-2000:])
    obs.kill()
    time.sleep(0.5)  # MLflow keeps writing while no observer runs
    obs2 = observer("mlflow", "--tracking-uri", obs_uri)
    obs2.env["MIDA_CAMPAIGN"] = "obs-campaign"
    obs2.start()
    out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err
    for bad in ("could not serialize", "deadlock", "lock timeout",
                "canceling statement"):
        assert bad not in err.lower()
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
    # Each point once: the store holds as many rows as MLflow has points.
    total = len(want) + len(ids["models"])  # + one val_acc point per model
    assert store.count("SELECT count(*) FROM metric") == total
    # The restarted observer resumed from the snapshot cursor the killed
    # one left instead of reading every point again.
    assert second["metrics"] <= total - 500
    cursor = store.query("SELECT position FROM source_cursor"
                         " WHERE key = 'metrics.snapshot'")
    assert len(cursor) == 1 and cursor[0][0].count(":") == 2
    src = store.query("SELECT DISTINCT source FROM source_cursor")
    assert src == [(f"mlflow:postgresql://127.0.0.1:5432/{pgdb}",)]

    # Runs -> tasks, with status, times, params, latest values, tags.
    check_run_tasks(store, ids["runs"], parent)
    wf = store.query("SELECT name, source, metadata FROM workflow WHERE"
                     " source = 'mlflow' AND name = 'observer-test'")
    assert wf
    assert json.loads(wf[0][2])["mlflow.tracking_db"] == \
        f"postgresql://127.0.0.1:5432/{pgdb}"
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
    assert ids["models"]
    gen = store.query(
        "SELECT d.id, d.metadata FROM task_data td JOIN data d"
        " ON d.id = td.data_id WHERE td.role = 'generated'"
        " AND d.kind = 'model'")
    assert sorted(g[0] for g in gen) == sorted(
        "mlflow-model:" + m for m in ids["models"])
    meta = json.loads(gen[0][1])
    assert "depth" in meta["params"]
    assert any(x["key"] == "val_acc" for x in meta["metrics"])


def test_once_twice_reads_each_point_once(tmp_path, pgdb, store, observer,
                                          python):
    uri = mlflow_uri(pgdb)
    subprocess.run([python, WRITER, uri, "1", "20"], check=True,
                   capture_output=True, cwd=tmp_path)
    # SQLAlchemy's spelling of the URI works too.
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    first = summary(out)
    assert first["metrics"] == 2 * 20 + 3 + 1
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 0  # resumed from the stored cursor
    subprocess.run([python, WRITER, uri, "1", "10"], check=True,
                   capture_output=True, cwd=tmp_path)
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 2 * 10 + 3 + 1  # only the new run's
    assert store.count("SELECT count(*) FROM metric") == 2 * 30 + 6 + 2


def test_mida_run_observes_a_postgresql_tracking_uri(tmp_path, pgdb, store,
                                                    mida_bin, python):
    """`mida run` starts the observer by itself for a postgresql
    MLFLOW_TRACKING_URI, and the runs become children of the command's
    task."""
    uri = mlflow_uri(pgdb)
    env = dict(os.environ, MIDA_STORE=f"sqlite://{store.path}",
               MIDA_SPOOL=str(tmp_path / "spool"), MLFLOW_TRACKING_URI=uri)
    r = subprocess.run([mida_bin, "run", "--no-dask", "--", python, WRITER,
                        uri, "2", "20"], env=env, capture_output=True,
                       text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "is not observed" not in r.stderr
    assert store.count("SELECT count(*) FROM metric"
                       " WHERE key IN ('loss', 'acc')") == 2 * 20 * 2
    assert store.count(
        "SELECT count(*) FROM task t JOIN workflow w ON w.id = t.workflow_id"
        " JOIN task p ON p.id = t.parent_id"
        " JOIN workflow pw ON pw.id = p.workflow_id"
        " WHERE w.source = 'mlflow' AND pw.source = 'run'") == 2


def test_rows_of_a_transaction_running_during_a_pass_are_read(
        tmp_path, pgdb, store, observer, python):
    """A transaction that was running when a pass took its snapshot, and
    commits later (its rows inserted in a savepoint, a subtransaction that
    the snapshot does not list), is read by the next pass."""
    uri = mlflow_uri(pgdb)
    subprocess.run([python, WRITER, uri, "1", "5"], check=True,
                   capture_output=True, cwd=tmp_path)
    obs_uri = f"postgresql://{SERVER}/{pgdb}"
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres",
                           dbname=pgdb)
    cur = con.cursor()
    cur.execute("SELECT run_uuid FROM runs")
    run = cur.fetchone()[0]
    cur.execute("SELECT txid_current()")  # the transaction has an id now
    cur.execute("SAVEPOINT s1")
    cur.execute("INSERT INTO metrics(key, value, timestamp, run_uuid, step,"
                " is_nan) VALUES ('late', 4.25, 1700000000000, %s, 7, false)",
                (run,))
    cur.execute("RELEASE SAVEPOINT s1")
    # Another writer commits meanwhile, after the long transaction began.
    other = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres",
                             dbname=pgdb)
    with other, other.cursor() as c2:
        c2.execute("INSERT INTO metrics(key, value, timestamp, run_uuid,"
                   " step, is_nan) VALUES ('quick', 1.5, 1700000000001, %s,"
                   " 0, false)", (run,))
    other.close()
    rc, out, err = observer("mlflow", "--tracking-uri", obs_uri).once()
    assert rc == 0, err
    assert store.count("SELECT count(*) FROM metric WHERE key = 'quick'") == 1
    assert store.count("SELECT count(*) FROM metric WHERE key = 'late'") == 0
    con.commit()
    con.close()
    rc, out, err = observer("mlflow", "--tracking-uri", obs_uri).once()
    assert rc == 0, err
    assert store.query("SELECT step, value FROM metric WHERE key = 'late'") \
        == [(7, 4.25)]
    assert store.count("SELECT count(*) FROM metric WHERE key = 'quick'") == 1
    # The cursor listed the quick transaction as read: only the late point
    # was read again, nothing else.
    assert summary(out)["metrics"] == 1


def test_each_point_read_once_while_a_long_transaction_holds_the_horizon(
        tmp_path, pgdb, store, observer, python):
    """A transaction left open elsewhere keeps every pass's snapshot xmin
    where it was, so every pass looks at every row written since; the
    transaction ids the cursor lists as read keep each point to one
    reading."""
    uri = mlflow_uri(pgdb)
    subprocess.run([python, WRITER, uri, "1", "1"], check=True,
                   capture_output=True, cwd=tmp_path)  # MLflow's tables
    idle = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres",
                            dbname=pgdb)
    idle.cursor().execute("SELECT txid_current()")  # holds the horizon
    obs = observer("mlflow", "--tracking-uri",
                   f"postgresql://{SERVER}/{pgdb}").start()
    try:
        r = subprocess.run([python, WRITER, uri, "2", "100"],
                           capture_output=True, text=True, timeout=600,
                           cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        time.sleep(1.0)
    finally:
        idle.rollback()
        idle.close()
    rc, out, err = obs.stop()
    assert rc == 0, err
    points = store.count("SELECT count(*) FROM metric")
    assert points == (2 * 1 + 3 + 1) + (2 * 2 * 100 + 3 + 2)
    assert summary(out)["metrics"] == points  # none read twice


def test_postgres_database_but_not_mlflow(pgdb, observer):
    con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres",
                           dbname=pgdb)
    with con, con.cursor() as cur:
        cur.execute("CREATE TABLE t(x int)")
    con.close()
    rc, out, err = observer("mlflow", "--tracking-uri",
                            f"postgresql://{SERVER}/{pgdb}").once()
    assert rc == 1
    assert "not an MLflow tracking database" in err


def test_missing_database_and_unreachable_server(pgdb, observer):
    rc, out, err = observer("mlflow", "--tracking-uri",
                            f"postgresql://{SERVER}/{pgdb}_nope").once()
    assert rc == 1
    assert "cannot connect" in err and "does not exist" in err
    # A long-running observer fails at once too: MLflow never creates the
    # database itself.
    o = observer("mlflow", "--tracking-uri",
                 "postgresql://postgres:secret@127.0.0.1:1/x").start()
    rc = o.proc.wait(timeout=60)
    err = o.proc.stderr.read()
    assert rc == 1
    assert "cannot connect" in err
    assert "secret" not in err  # the password is not repeated


def test_a_pass_never_waits_for_a_lock_while_it_holds_one(
        tmp_path, pgdb, store, observer, python):
    """MLflow's migration holds one table (ACCESS EXCLUSIVE) and then asks
    for another, one that a pass reads before it. A pass that held that
    other table while it waited for the first would close a deadlock
    cycle, and PostgreSQL cancels the waiter whose deadlock check comes
    first: here the migration's, its deadlock_timeout cut to 50 ms (as
    when, at 1 s, the two waits begin more than 800 ms apart). A pass
    takes every table it reads at its start, without waiting: refused, it
    lets go and comes back at the next pass, and then reads the runs."""
    uri = mlflow_uri(pgdb)
    subprocess.run([python, WRITER, uri, "1", "5"], check=True,
                   capture_output=True, cwd=tmp_path)
    migration = psycopg2.connect(host="127.0.0.1", port=5432,
                                 user="postgres", dbname=pgdb)
    watch = admin()
    obs = None
    try:
        cur = migration.cursor()
        cur.execute("SET deadlock_timeout = '50ms'")
        cur.execute("LOCK TABLE metrics IN ACCESS EXCLUSIVE MODE")
        obs = observer("mlflow", "--tracking-uri",
                       f"postgresql://{SERVER}/{pgdb}").start(poll_ms=50)
        # Wait for a pass to wait for the metrics table, while it holds
        # the tables it read before; a pass that never waits is watched
        # for 5 s.
        waited = False
        deadline = time.time() + 5
        with watch.cursor() as w:
            while not waited and time.time() < deadline:
                w.execute("SELECT count(*) FROM pg_stat_activity WHERE"
                          " datname = %s AND application_name ="
                          " 'mida observe mlflow' AND wait_event_type ="
                          " 'Lock'", (pgdb,))
                waited = w.fetchone()[0] > 0
                if not waited:
                    time.sleep(0.005)
        try:
            cur.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE"
                        " MODE")
            failed = None
        except psycopg2.Error as e:
            failed = e
        migration.rollback()
        assert failed is None, f"MLflow's migration failed: {failed}"
        assert not waited, "a pass waited for a lock"
        want = 2 * 5 + 3 + 1
        got = store.wait_for("SELECT count(*) FROM metric", want, timeout=60)
        assert got == want
        rc, out, err = obs.stop()
        assert rc == 0, err
        assert "retrying" in err  # refused, the pass came back later
    finally:
        if obs is not None and obs.proc.poll() is None:
            obs.kill()
        migration.close()
        watch.close()

"""A resumed MLflow run against the observer, with real MLflow (a SQLite
tracking store and a file store): `mlflow.start_run(run_id=...)` on a run
that ended makes it RUNNING again (MLflow keeps its start_time and its
end_time), until it ends again. mida records each life of the run as a
run of its task (mlflow_lives.h): the task is RUNNING with 2 attempts
while resumed, and takes the status the run ends with; the first run is
kept as it was; reading the run again, by a restarted observer too, makes
no new run; the points logged while resumed are the task's."""

import json
import pathlib
import subprocess
import sys
import uuid

import pytest

# The fixtures are imported so that pytest finds them here.
from obs_support import (  # noqa: F401
    Observer, mida_bin, observer, store)

pytest.importorskip("mlflow")

RESUMER = str(pathlib.Path(__file__).resolve().parent / "mlflow_resumer.py")


@pytest.fixture(params=["sqlite", "file"])
def tracking(request, tmp_path, monkeypatch):
    """A tracking URI of each kind of store the observer reads locally."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    return f"file://{tmp_path / 'mlruns'}"


def new_run(uri):
    r = subprocess.run([sys.executable, RESUMER, uri, "new"], check=True,
                       capture_output=True, text=True, timeout=120)
    return r.stdout.split()[-1]


class Resumed:
    """A run resumed by a script that is still running: end() ends it."""

    def __init__(self, uri, run_id, status="FINISHED"):
        self.proc = subprocess.Popen(
            [sys.executable, RESUMER, uri, "resume", run_id, status],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "open"

    def end(self):
        self.proc.communicate("end\n", timeout=120)
        assert self.proc.returncode == 0


def observe_once(observer, uri):
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err


def task_of(store, run_id):
    """(status, attempts, started, ended) of the run's task, and its runs
    (status, started, ended) by start."""
    (task,) = store.query("SELECT id, status, attempts, started, ended"
                          " FROM task WHERE source_key = ?", (run_id,))
    runs = store.query("SELECT status, started, ended FROM task_run"
                       " WHERE task_id = ? ORDER BY started", (task[0],))
    return task, runs


def test_a_resumed_run_is_a_second_run_of_its_task(tracking, store, observer,
                                                    mida_bin):
    run_id = new_run(tracking)
    observe_once(observer, tracking)
    (task, status, attempts, started, ended), runs = task_of(store, run_id)
    assert (status, attempts) == ("FINISHED", 1)
    first = runs[0]
    assert first == ("FINISHED", started, ended)

    resumed = Resumed(tracking, run_id)
    try:
        observe_once(observer, tracking)
        (_, status, attempts, started2, ended2), runs = task_of(store, run_id)
        assert (status, attempts) == ("RUNNING", 2)
        assert runs[0] == first  # the first run kept as it was
        assert runs[1][0] == "RUNNING" and runs[1][2] is None
        assert runs[1][1] > first[2]  # started after the first ended
        assert (started2, ended2) == (runs[1][1], None)
        # Not the observer's own work: its death would make neither LOST.
        assert store.query("SELECT DISTINCT pid FROM task_run") == [(0,)]
        assert store.query("SELECT pid FROM task WHERE id = ?",
                           (task,)) == [(0,)]
        # What a user asks while it runs.
        show = subprocess.run([mida_bin, "--store", store.path, "show",
                               run_id], capture_output=True, text=True,
                              timeout=60)
        assert show.returncode == 0, show.stderr
        assert "RUNNING" in show.stdout, show.stdout
        listed = subprocess.run([mida_bin, "--store", store.path, "tasks",
                                 "--json"], capture_output=True, text=True,
                                timeout=60)
        assert listed.returncode == 0, listed.stderr
        (row,) = [t for t in json.loads(listed.stdout) if t["id"] == task]
        assert row["status"] == "RUNNING"
        # A restarted observer reads the unchanged run again: no new run.
        observe_once(observer, tracking)
        assert task_of(store, run_id)[1] == runs
    finally:
        resumed.end()

    observe_once(observer, tracking)
    (_, status, attempts, _, ended3), runs3 = task_of(store, run_id)
    assert (status, attempts) == ("FINISHED", 2)
    assert runs3[0] == first
    assert runs3[1][0] == "FINISHED" and runs3[1][1] == runs[1][1]
    assert ended3 == runs3[1][2] and ended3 > runs3[1][1]
    observe_once(observer, tracking)  # and again, after its end
    assert task_of(store, run_id)[1] == runs3
    # The points of both lives are the task's.
    assert store.query("SELECT step, value FROM metric WHERE task_id = ?"
                       " ORDER BY step", (task,)) == [(0, 1.0), (1, 0.5)]


def test_a_run_resumed_and_failed_is_failed(tracking, store, observer):
    run_id = new_run(tracking)
    observe_once(observer, tracking)
    resumed = Resumed(tracking, run_id, "FAILED")
    observe_once(observer, tracking)
    resumed.end()
    observe_once(observer, tracking)
    (_, status, attempts, _, _), runs = task_of(store, run_id)
    assert (status, attempts) == ("ERROR", 2)
    assert [r[0] for r in runs] == ["FINISHED", "ERROR"]


def test_a_resumed_run_in_a_postgresql_store(tmp_path, mida_bin, monkeypatch):
    # The same, with the PostgreSQL store's summary of a task's runs.
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres",
                                 dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as e:
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432: {e}")
    admin.autocommit = True
    name = "mida_resume_" + uuid.uuid4().hex[:12]
    admin.cursor().execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    def observe():
        o = Observer(mida_bin, url, str(tmp_path / "spool"), "mlflow",
                     ["--tracking-uri", uri])
        rc, out, err = o.once()
        assert rc == 0, err

    def task(run_id):
        con = psycopg2.connect(url)
        try:
            cur = con.cursor()
            cur.execute("SELECT t.status, t.attempts, array_agg(r.status"
                        " ORDER BY r.started) FROM task t JOIN task_run r"
                        " ON r.task_id = t.id WHERE t.source_key = %s"
                        " GROUP BY 1, 2", (run_id,))
            return cur.fetchone()
        finally:
            con.close()

    try:
        run_id = new_run(uri)
        observe()
        assert task(run_id) == ("FINISHED", 1, ["FINISHED"])
        resumed = Resumed(uri, run_id, "KILLED")
        try:
            observe()
            assert task(run_id) == ("RUNNING", 2, ["FINISHED", "RUNNING"])
            observe()
            assert task(run_id) == ("RUNNING", 2, ["FINISHED", "RUNNING"])
        finally:
            resumed.end()
        observe()
        assert task(run_id) == ("CANCELLED", 2, ["FINISHED", "CANCELLED"])
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()

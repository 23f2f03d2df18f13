"""Fixtures and helpers of the observer tests: the mida binary, a runner
for `mida observe ...` in the foreground or the background, and read-only
access to the store the observer writes. The test modules import them; this
is not a conftest.py because other test folders import their own conftest
by that module name."""

import json
import math
import os
import pathlib
import select
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def mida_bin():
    path = pathlib.Path(os.environ.get("MIDA_BIN",
                                       ROOT / "build" / "src" / "cli" /
                                       "mida"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        pytest.fail(f"mida binary not found at {path}; build it or set "
                    "MIDA_BIN")
    return str(path)


class Observer:
    """One `mida observe` process, or one --once run."""

    def __init__(self, mida_bin, store, spool, kind, args):
        self.argv = [mida_bin, "--store", store, "observe", kind] + args
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("MIDA_")}
        self.env["MIDA_SPOOL"] = spool
        self.proc = None
        self.early_err = ""  # stderr read by wait_stderr, before stop()

    def once(self, timeout=120):
        r = subprocess.run(self.argv + ["--once"], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def start(self, poll_ms=100, extra=(), pending=()):
        """Starts it in the background; the signals in pending are sent at
        once, and reach it as soon as its handlers are set (it starts with
        them blocked, as mida run starts its observers): so they come
        while its first pass runs, never before or after."""
        argv = self.argv + list(extra)
        if poll_ms is not None:
            argv += ["--poll-ms", str(poll_ms)]
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, set(pending))
        try:
            self.proc = subprocess.Popen(argv, env=self.env,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        for sig in pending:
            self.proc.send_signal(sig)
        return self

    def wait_stderr(self, text, timeout=120):
        """Reads the observer's stderr until it has said text (a sign that
        it is ready, instead of a fixed sleep), until it exits, or until
        timeout; returns whether it said it. What was read is kept: stop()
        returns it with the rest."""
        fd = self.proc.stderr.fileno()  # unbuffered: communicate() reads on
        deadline = time.time() + timeout
        while text not in self.early_err and time.time() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.early_err += chunk.decode(errors="replace")
        return text in self.early_err

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout=60, sig=signal.SIGUSR1):
        """Asks it to stop, then (returncode, stdout, stderr). SIGUSR1 (as
        mida run stops its observers): after a last pass that reads
        everything; SIGTERM or SIGINT: after the batch it is reading."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=60):
        """(returncode, stdout, stderr) once it has exited."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, self.early_err + err


def summary(stdout):
    """The counters of the observer's summary line, as a dict of ints."""
    for line in stdout.splitlines():
        if line.startswith("observed "):
            return {k: int(v) for k, v in
                    (w.split("=") for w in line.split()[2:])}
    raise AssertionError(f"no summary line in {stdout!r}")


class Store:
    def __init__(self, path):
        self.path = path

    def query(self, sql, params=()):
        if not os.path.exists(self.path):
            return []
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                              timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):  # the store is being created
                return []
            raise
        finally:
            con.close()

    def count(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0][0] if rows else 0

    def wait_for(self, sql, want, timeout=60):
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            try:
                got = self.count(sql)
            except sqlite3.OperationalError:
                got = None
            if got is not None and got >= want:
                return got
            time.sleep(0.05)
        return got


@pytest.fixture
def store(tmp_path):
    return Store(str(tmp_path / "obs.db"))


@pytest.fixture
def observer(mida_bin, store, tmp_path):
    made = []

    def _make(kind, *args):
        o = Observer(mida_bin, store.path, str(tmp_path / "spool"), kind,
                     list(args))
        made.append(o)
        return o

    yield _make
    for o in made:
        if o.proc is not None and o.proc.poll() is None:
            o.proc.kill()
            o.proc.wait()


@pytest.fixture
def python():
    return sys.executable


# ---- MLflow: what MLflow reports against what the store holds ----------

def mlflow_history(uri, run_ids, keys=("loss", "acc", "odd")):
    """{(run, key, step, ts_ms): value} as MLflow itself reports it."""
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=uri)
    points = {}
    for rid in run_ids:
        for key in keys:
            for m in client.get_metric_history(rid, key):
                points[(rid, key, m.step, m.timestamp)] = m.value
    return points


def store_points(store):
    rows = store.query(
        "SELECT t.source_key, m.key, m.step, m.ts, m.value FROM metric m"
        " JOIN task t ON t.id = m.task_id")
    return {(r[0], r[1], r[2], r[3] // 1000000): r[4] for r in rows
            if r[1] in ("loss", "acc", "odd")}


def same(mlflow_value, stored):
    if math.isnan(mlflow_value):
        return stored is None          # NaN is stored as NULL
    if mlflow_value >= sys.float_info.max:
        return stored == math.inf      # MLflow keeps +inf as DBL_MAX
    if mlflow_value <= -sys.float_info.max:
        return stored == -math.inf
    return stored == mlflow_value      # exact, not approximately


def check_run_tasks(store, run_ids, parent):
    """The three runs of mlflow_writer.py as tasks: status, times, params
    (used), latest values (generated), tags (custom), the parent task, and
    the campaign "obs-campaign" the tests give the observer."""
    tasks = store.query(
        "SELECT source_key, activity, status, started, ended, used,"
        " generated, custom, parent_id, campaign_id FROM task"
        " WHERE source_key IN (%s)" % ",".join("?" * 3), tuple(run_ids))
    assert len(tasks) == 3
    campaign = store.query("SELECT id FROM campaign WHERE name = ?",
                           ("obs-campaign",))
    assert campaign
    for t in tasks:
        assert t[1].startswith("train-")
        assert t[2] == "FINISHED"
        assert t[3] > 0 and t[4] >= t[3]
        used = json.loads(t[5])
        # A param that is a number's text is that number (its text kept:
        # mlflow_writer.py logs lr 0.1 * (r + 1), 0.30000000000000004 in
        # the third run), any other a string.
        assert used["batch"] == 32 and used["opt"] == "sgd"
        assert '"lr":0.' in t[5].replace(" ", "")
        gen = json.loads(t[6])
        assert gen["acc"] == 199 / 200
        custom = json.loads(t[7])
        assert custom["mlflow.user_id"]
        assert custom["mlflow.source.name"]  # MLflow's tag
        assert custom["mida.parent_task"] == parent
        assert t[8] == parent
        assert t[9] == campaign[0][0]

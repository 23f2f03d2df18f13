"""Helpers and fixtures of the multi-node tests (conftest.py exposes the
fixtures; this module has a unique name because pytest runs every tests/*/
folder in one session, where a second module named conftest would clash): the mida binaries, a fresh PostgreSQL
database per test (dropped afterwards), private broker servers (a Redis and
a NATS of the test's own, on free ports, so that stopping or pausing them
never disturbs anyone else's; a private PostgreSQL for tests that crash
it), and helpers to run producers and `mida
ingest` consumers.

The services are the real ones installed on this machine (scripts/services.sh
starts the shared PostgreSQL; the tests start their own redis-server and
nats-server processes). A test whose service is missing is skipped with the
reason."""

import contextlib
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("MIDA_TEST_PG",
                          "postgresql://postgres@127.0.0.1:5432")


def build_dir():
    b = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
    return b if b.is_absolute() else ROOT / b


def built_with(name):
    """Whether the build under test has the optional backend name (a
    MIDA_HAVE_* of mida_config.h, e.g. "HIREDIS")."""
    conf = build_dir() / "mida_config.h"
    return conf.exists() and f"#define MIDA_HAVE_{name} 1" in conf.read_text()


def require_backend(name, lib):
    if not built_with(name):
        pytest.skip(f"this build has no {lib} backend (install it from "
                    "scripts/deps/brokers.apt and reconfigure)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if port_open(port, host):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def mida_bin():
    p = pathlib.Path(os.environ.get("MIDA_BIN",
                                    build_dir() / "src" / "cli" / "mida"))
    if not p.exists():
        pytest.fail(f"mida binary not found at {p}")
    return str(p)


@pytest.fixture(scope="session")
def produce_bin():
    p = build_dir() / "tests" / "mida_produce"
    if not p.exists():
        pytest.fail(f"mida_produce not found at {p}")
    return str(p)


def psql(url, sql):
    r = subprocess.run(["psql", url, "-AtqX", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {r.stderr}")
    return r.stdout.strip()


# The tables of a store, in an order that copies cleanly.
STORE_TABLES = ["campaign", "workflow", "task", "data", "task_data",
                "task_dep", "metric", "telemetry", "source_cursor", "counter"]


def sql_literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def copy_sqlite_to_postgres(lite, pg_url, produce, env):
    """Gives the fresh database pg_url mida's schema (a first producer,
    run with env, makes it; its own rows are removed), then copies in the
    rows of the SQLite store lite as they are."""
    r = subprocess.run([produce, "0", "schema"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    psql(pg_url, "; ".join(f"DELETE FROM {t}" for t in STORE_TABLES))
    import sqlite3
    db = sqlite3.connect(str(lite))
    stmts = []
    for t in STORE_TABLES:
        cur = db.execute(f"SELECT * FROM {t}")
        # PostgreSQL computes metric.point itself (a generated column).
        keep = [i for i, d in enumerate(cur.description) if d[0] != "point"]
        cols = ", ".join(f'"{cur.description[i][0]}"' for i in keep)
        for row in cur:
            stmts.append(f"INSERT INTO {t}({cols}) VALUES("
                         + ", ".join(sql_literal(row[i]) for i in keep)
                         + ")")
    db.close()
    psql(pg_url, "; ".join(stmts))


@contextlib.contextmanager
def fresh_pg_db():
    """A fresh database; yields its URL; dropped at the end of the with
    block (pg_db's, or a module-scoped fixture's that makes it once)."""
    require_backend("LIBPQ", "libpq")
    if shutil.which("psql") is None or not port_open(5432):
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432 "
                    "(scripts/services.sh starts it)")
    name = f"mida_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    psql(PG_ADMIN + "/postgres", f"CREATE DATABASE {name}")
    try:
        yield f"{PG_ADMIN}/{name}"
    finally:
        psql(PG_ADMIN + "/postgres",
             f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_db():
    """A fresh database; yields its URL; dropped after the test."""
    with fresh_pg_db() as url:
        yield url


class PrivatePostgres:
    """A private PostgreSQL server in a scratch directory, which a test may
    crash (stop -m immediate: every process quits at once, and the WAL not
    yet written out of its buffers is lost, as what is not on disk is in a
    power cut) and start again. Run as the user postgres when the tests
    run as root, since PostgreSQL refuses root. Its WAL buffers are large,
    so that with the WAL writer paused (pause_wal_writer) the commits that
    did not wait for the disk stay there, unwritten, until the crash."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="mida-pg-")
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv):
        subprocess.run(self.as_user + list(argv), check=True,
                       capture_output=True, timeout=120)

    def init(self):
        self._run("initdb", "-D", self.dir + "/data", "-U", "postgres",
                  "-A", "trust", "-N")

    def start(self):
        self._run("pg_ctl", "-D", self.dir + "/data", "-w", "-l",
                  self.dir + "/log", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1"
                  f" -k {self.dir} -c wal_buffers=64MB"
                  " -c shared_buffers=512MB -c bgwriter_lru_maxpages=0",
                  "start")

    def pause_wal_writer(self):
        """Stops (SIGSTOP) the WAL writer, which would otherwise write
        the commits that did not wait for the disk within moments."""
        with open(self.dir + "/data/postmaster.pid") as f:
            postmaster = f.readline().strip()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = f.read().rsplit(")", 1)[1].split()[1]
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if ppid == postmaster and b"walwriter" in cmd:
                os.kill(int(pid), signal.SIGSTOP)
                return
        raise RuntimeError("no WAL writer found")

    def crash(self):
        self._run("pg_ctl", "-D", self.dir + "/data", "-m", "immediate",
                  "stop")

    def stop(self):
        subprocess.run(self.as_user + ["pg_ctl", "-D", self.dir + "/data",
                                       "-m", "fast", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_pg():
    """A PrivatePostgres, started; stopped and removed after the test."""
    require_backend("LIBPQ", "libpq")
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("initdb and pg_ctl are not on PATH")
    pg = PrivatePostgres()
    if pg.as_user and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser for PostgreSQL")
    pg.init()
    pg.start()
    yield pg
    pg.stop()


class Redis:
    """A private redis-server: start(), stop(), cli(). args:
    more of redis-server's options, for each start."""

    def __init__(self, tmp, persistent=False, password=None, args=()):
        self.port = free_port()
        self.dir = tmp
        self.persistent = persistent
        self.password = password
        self.args = list(args)
        self.proc = None

    @property
    def url_base(self):
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def start(self):
        args = ["redis-server", "--port", str(self.port), "--bind",
                "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        args += self.args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_port(self.port), "redis-server did not start"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()  # SIGTERM: Redis shuts down cleanly
            self.proc.wait(timeout=30)
        self.proc = None

    def cli(self, *args):
        argv = ["redis-cli", "-p", str(self.port)]
        if self.password:
            argv += ["-a", self.password, "--no-auth-warning"]
        return subprocess.run(argv + list(args), capture_output=True,
                              timeout=30).stdout


@contextlib.contextmanager
def redis_servers(directory):
    """Yields a factory of private Redis servers, each in a folder of
    directory, all stopped at the end of the with block."""
    require_backend("HIREDIS", "hiredis")
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed "
                    "(scripts/deps/brokers.apt)")
    servers = []

    def make(**kw):
        d = directory / f"redis{len(servers)}"
        d.mkdir()
        r = Redis(d, **kw)
        r.start()
        servers.append(r)
        return r

    try:
        yield make
    finally:
        for r in servers:
            r.stop()


@pytest.fixture
def redis_factory(tmp_path):
    with redis_servers(tmp_path) as make:
        yield make


class Fleet:
    """Producers and consumers of one test, all stopped at the end."""

    def __init__(self, mida_bin, produce_bin, tmp):
        self.mida = mida_bin
        self.produce = produce_bin
        self.tmp = tmp
        self.procs = []

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
        e.update(extra)
        return e

    def producer(self, store, tasks, label, spool, rate=0, timeout_ms=120000):
        env = self.env(MIDA_STORE=store, MIDA_SPOOL=str(spool))
        if rate:
            env["MIDA_PRODUCE_RATE"] = str(rate)
        p = subprocess.Popen([self.produce, str(tasks), label,
                              str(timeout_ms)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.procs.append(p)
        return p

    def produce_all(self, store, tasks, label, spool):
        """A producer of `tasks` tasks, run to its end: it must succeed."""
        p = self.producer(store, tasks, label, spool)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    def ingest(self, source, store, name, *extra):
        log = open(self.tmp / f"ingest-{name}.log", "w")
        p = subprocess.Popen([self.mida, "ingest", "--from", source, "--to",
                              store, "--name", name, *extra],
                             env=self.env(), stdout=log, stderr=log)
        p.log_path = self.tmp / f"ingest-{name}.log"
        self.procs.append(p)
        return p

    def task_count(self, store):
        """How many tasks store holds, as `mida query` reads it."""
        r = subprocess.run([self.mida, "--store", store, "query", "--csv",
                            "SELECT count(*) FROM task"], env=self.env(),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return int(r.stdout.split()[-1])

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@contextlib.contextmanager
def fleet_of(mida_bin, produce_bin, directory):
    """Yields a Fleet whose logs go to directory, all of its processes
    stopped at the end of the with block."""
    f = Fleet(mida_bin, produce_bin, directory)
    try:
        yield f
    finally:
        f.stop_all()


@pytest.fixture
def fleet(mida_bin, produce_bin, tmp_path):
    with fleet_of(mida_bin, produce_bin, tmp_path) as f:
        yield f


def wait_for_log(proc, text, timeout=30.0):
    """Waits until the log of a consumer (Fleet.ingest) holds text, or it
    exited; returns the log."""
    deadline = time.time() + timeout
    log = ""
    while time.time() < deadline:
        log = proc.log_path.read_text()
        if text in log or proc.poll() is not None:
            break
        time.sleep(0.05)
    return log


def wait_until_said(consumer, text):
    """Waits until a consumer's log holds text, and checks that the
    consumer still runs then (it waits, it did not exit). Returns the log."""
    log = wait_for_log(consumer, text)
    assert text in log, log
    assert consumer.poll() is None, log
    return log


def stored_tasks(fleet, store):
    """The store's task count, 0 while it cannot be read yet."""
    r = subprocess.run([fleet.mida, "--store", str(store), "query", "--csv",
                        "SELECT count(*) FROM task"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    return int(r.stdout.split()[-1]) if r.returncode == 0 else 0


def wait_stored_tasks(fleet, store, want, consumer, timeout=60.0):
    """Waits until store holds want tasks; fails with the consumer's log."""
    deadline = time.time() + timeout
    while time.time() < deadline and stored_tasks(fleet, store) < want:
        time.sleep(0.2)
    assert stored_tasks(fleet, store) == want, consumer.log_path.read_text()


def stop_consumer(consumer, said_once=None, then=None, secret=None):
    """Stops a consumer with SIGTERM; it must exit 0. Checks that its log
    holds said_once once and then, and not secret (each when given).
    Returns the log."""
    consumer.send_signal(signal.SIGTERM)
    consumer.wait(timeout=30)
    log = consumer.log_path.read_text()
    assert consumer.returncode == 0, log
    if said_once is not None:
        assert log.count(said_once) == 1, log
    if then is not None:
        assert then in log, log
    if secret is not None:
        assert secret not in log, log
    return log


def wait_for_count(db, sql, want, timeout):
    """Polls sql (one number) until it equals want; returns the last value."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        try:
            got = int(psql(db, sql) or 0)
        except RuntimeError:  # no schema yet: no consumer has opened it
            got = 0
        if got >= want:
            return got
        time.sleep(0.5)
    return got


def wait_for_tasks(db, more_than, timeout=120):
    """Polls the store's count of tasks (0 while no consumer has made the
    schema) until it is more than more_than; returns the last count. What
    a test does midway (a kill, an outage) waits for this progress, not
    for a fixed time, which on a loaded machine may come before anything
    arrived."""
    deadline = time.time() + timeout
    n = 0
    while time.time() < deadline:
        try:
            n = int(psql(db, "SELECT count(*) FROM task"))
        except RuntimeError:  # no schema yet
            n = 0
        if n > more_than:
            break
        time.sleep(0.05)
    return n


class Nats:
    """A private nats-server with JetStream on file storage in a temporary
    directory: stop() and start() again keep what JetStream stored."""

    def __init__(self, tmp, user=None, password=None, token=None):
        self.port = free_port()
        self.dir = tmp
        self.user = user
        self.password = password
        self.token = token  # --auth: the URL's token@
        self.proc = None

    @property
    def url_base(self):
        auth = f"{self.user}:{self.password}@" if self.user else ""
        if self.token:
            auth = f"{self.token}@"
        return f"nats://{auth}127.0.0.1:{self.port}"

    def start(self):
        args = ["nats-server", "-a", "127.0.0.1", "-p", str(self.port),
                "-js", "-sd", str(self.dir)]
        if self.user:
            args += ["--user", self.user, "--pass", self.password]
        if self.token:
            args += ["--auth", self.token]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_port(self.port), "nats-server did not start"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None


@pytest.fixture
def nats_factory(tmp_path):
    require_backend("NATS", "libnats")
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server is not installed "
                    "(scripts/deps/brokers.apt)")
    servers = []

    def make(**kw):
        d = tmp_path / f"nats{len(servers)}"
        d.mkdir()
        n = Nats(d, **kw)
        n.start()
        servers.append(n)
        return n

    yield make
    for n in servers:
        n.stop()


class Mosquitto:
    """A private mosquitto broker. max_queued_messages 0: a consumer's queue
    is not capped (Mosquitto's default of 1000 would drop QoS 1 messages of
    a slow consumer; docs/multinode.md says so). persistent=True: sessions,
    subscriptions and queued messages are kept in the broker's directory
    across stop() and start() (saved at shutdown and every second)."""

    def __init__(self, tmp, user=None, password=None, persistent=False,
                 acl=None, conf=()):
        self.port = free_port()
        self.dir = tmp
        self.user = user
        self.password = password
        self.persistent = persistent
        self.acl = acl  # lines of an acl_file, or None
        self.conf = list(conf)  # more lines of mosquitto.conf
        self.proc = None

    @property
    def url_base(self):
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"mqtt://{auth}127.0.0.1:{self.port}"

    def start(self):
        conf = self.dir / "mosquitto.conf"
        # Run as ourselves: as root, mosquitto would switch to its own user,
        # who cannot read the test's private temporary directory.
        lines = [f"listener {self.port} 127.0.0.1",
                 f"user {pwd.getpwuid(os.getuid()).pw_name}",
                 "max_queued_messages 0",
                 f"log_dest file {self.dir}/mosquitto.log",
                 "log_type error", "log_type warning", "log_type notice",
                 "log_type information", "log_type subscribe",
                 "connection_messages true"]
        if self.persistent:
            lines += ["persistence true", f"persistence_location {self.dir}/",
                      "autosave_interval 1", "sys_interval 1"]
        else:
            lines += ["persistence false"]
        if self.user:
            pw = self.dir / "passwd"
            pw.write_text("")
            subprocess.run(["mosquitto_passwd", "-b", str(pw), self.user,
                            self.password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines += ["allow_anonymous true"]
        if self.acl is not None:
            acl = self.dir / "acl"
            acl.write_text("\n".join(self.acl) + "\n")
            lines += [f"acl_file {acl}"]
        lines += self.conf
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_port(self.port), "mosquitto did not start"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def wait_clients(self, names, timeout=60.0):
        """Waits until clients with these ids have connected since the
        broker last started, from its log. (Not from $SYS/broker/clients/
        connected: Mosquitto 2.0.11 undercounts persistent sessions that
        reconnect after a restart, which made this wait fail now and
        then although the clients were connected.)"""
        return wait_mosquitto_log(self.dir / "mosquitto.log",
                                  [f" as {n} (" for n in names], timeout)

    def wait_subscribed(self, names, topic, group, timeout=60.0):
        """Waits until the consumers with these names have subscribed
        since the broker last started (wait_mqtt_subscribed)."""
        return wait_mqtt_subscribed(self.dir / "mosquitto.log", names, topic,
                                    group, timeout)


def wait_mosquitto_log(log, lines, timeout):
    """Waits until every string of lines occurs in the Mosquitto log file
    log since the broker last started; returns whether they did."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text() if log.exists() else ""
        since = text.rsplit(" starting\n", 1)[-1]
        if all(line in since for line in lines):
            return True
        time.sleep(0.05)
    return False


def wait_mqtt_subscribed(log, names, topic, group, timeout=60.0):
    """Waits until the clients with these ids (`mida ingest --name`) have
    subscribed to $share/group/topic since the broker last started, from
    the broker's log file log ("<id> <qos> <filter>", with log_type
    subscribe, written once the broker has added the subscription). A
    message published before that matches no one and is dropped, so a
    test waits for this, not for a fixed time, before publishing."""
    return wait_mosquitto_log(log, [f": {n} 1 $share/{group}/{topic}\n"
                                    for n in names], timeout)


@pytest.fixture
def mosquitto_factory(tmp_path):
    require_backend("MOSQUITTO", "libmosquitto")
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (scripts/deps/brokers.apt)")
    servers = []

    def make(**kw):
        d = tmp_path / f"mosquitto{len(servers)}"
        d.mkdir()
        m = Mosquitto(d, **kw)
        m.start()
        servers.append(m)
        return m

    yield make
    for m in servers:
        m.stop()


# ---- the workload of the broker tests -----------------------------------

PRODUCERS = 4
TASKS = 50_000
TOTAL = PRODUCERS * TASKS

COMPLETE = ("SELECT count(*) FROM task WHERE status = 'FINISHED'"
            " AND started IS NOT NULL AND ended IS NOT NULL"
            " AND (generated->>'ok') = 'true' AND used ? 'i'")


def assert_each_task_once(db):
    """Exactly TOTAL tasks, each FINISHED with its begin and end merged, and
    for each producer every task number 0..TASKS-1 exactly once."""
    assert int(psql(db, "SELECT count(*) FROM task")) == TOTAL
    assert int(psql(db, COMPLETE)) == TOTAL
    rows = psql(db, "SELECT activity, count(*), count(DISTINCT used->>'i'),"
                    " min((used->>'i')::int), max((used->>'i')::int)"
                    " FROM task GROUP BY 1 ORDER BY 1").splitlines()
    assert rows == [f"p{i}|{TASKS}|{TASKS}|0|{TASKS - 1}"
                    for i in range(PRODUCERS)]
    assert int(psql(db, "SELECT count(*) FROM workflow"
                        " WHERE status = 'FINISHED'")) == PRODUCERS


def start_producers(fleet, url, spool, rate=0):
    return [fleet.producer(url, TASKS, f"p{i}", spool, rate=rate)
            for i in range(PRODUCERS)]


def wait_producers(procs, timeout=180):
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err
        assert out.startswith(f"produced {TASKS} ")

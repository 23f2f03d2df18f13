"""Producers -> Redis Streams -> `mida ingest` consumers -> PostgreSQL, on
the real services: 4 producer processes x 50,000 tasks, 2 consumers of one
group, exactly 200,000 tasks in the store, each complete once; the same
with a consumer killed by SIGKILL midway, with the broker stopped and
started again midway and with PostgreSQL crashed midway; malformed and foreign messages; clear errors for an
unreachable URL and a wrong password; a producer that opens its session
while the broker is still down ships everything once it is up."""

import signal
import subprocess
import sys
import time
import urllib.parse
import uuid

import pytest

import mida_wire as wire
from multinode_support import (COMPLETE, PG_ADMIN, TOTAL,
                               assert_each_task_once, build_dir, psql,
                               start_producers, wait_for_count,
                               wait_for_tasks, wait_producers)
from test_postgres_store import POISON_SCRIPT

def test_redis_two_consumers_exactly_once(fleet, pg_db, redis_factory,
                                          tmp_path):
    redis = redis_factory()
    url = redis.url_base + "/tasks"
    consumers = [fleet.ingest(url, pg_db, n, "--group", "g") for n in "ab"]
    wait_producers(start_producers(fleet, url, tmp_path / "spool"))
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    # Both consumers took part, and everything was acknowledged.
    for c in consumers:
        c.send_signal(signal.SIGINT)
        c.wait(timeout=60)
        assert c.returncode == 0
        assert "records from" in c.log_path.read_text()
    assert redis.cli("XPENDING", "tasks", "g").split(b"\n")[0] == b"0"
    applied = [int(c.log_path.read_text().split("ingest: ")[1].split()[0])
               for c in consumers]
    assert all(a > 0 for a in applied), applied
    assert_each_task_once(pg_db)


def test_redis_consumer_killed_midway(fleet, pg_db, redis_factory,
                                      tmp_path):
    redis = redis_factory()
    url = redis.url_base + "/tasks"
    # Everything is on the stream before the consumers start, so that the
    # kill falls in the middle of consumption.
    wait_producers(start_producers(fleet, url, tmp_path / "spool"))
    a = fleet.ingest(url, pg_db, "a", "--group", "g", "--batch", "4",
                     "--claim-ms", "2000")
    b = fleet.ingest(url, pg_db, "b", "--group", "g", "--batch", "4",
                     "--claim-ms", "2000")
    wait_for_tasks(pg_db, TOTAL // 10)
    a.send_signal(signal.SIGKILL)
    a.wait()
    assert int(psql(pg_db, COMPLETE)) < TOTAL, "the kill came too late"
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    # a's unacknowledged messages were claimed by b: none stay pending.
    # b acknowledges a batch once its transaction has committed, so the
    # last acknowledgements may follow the count by a moment.
    deadline = time.time() + 30
    while True:
        summary = redis.cli("XPENDING", "tasks", "g").split(b"\n")[0]
        if summary == b"0" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert summary == b"0", summary
    assert b.poll() is None
    assert_each_task_once(pg_db)


def test_redis_restarted_midway_loses_nothing(fleet, pg_db, redis_factory,
                                              mida_bin, tmp_path):
    # A Redis that persists what it acknowledges (AOF, fsync always): the
    # realistic setup when a broker restart must lose nothing.
    redis = redis_factory(persistent=True)
    url = redis.url_base + "/tasks"
    spool = tmp_path / "spool"
    fleet.ingest(url, pg_db, "a", "--group", "g")
    fleet.ingest(url, pg_db, "b", "--group", "g")
    producers = start_producers(fleet, url, spool, rate=25_000)
    time.sleep(0.8)  # the producers (rate-limited) need 2 s at least
    redis.stop()
    try:
        down_at = int(psql(pg_db, "SELECT count(*) FROM task"))
    except RuntimeError:  # a loaded machine: no consumer made the schema
        down_at = 0
    assert down_at < TOTAL, "the outage came too late"
    time.sleep(1.5)
    # While the broker is down, the producers go on (never blocked) and
    # their journals hold what the broker has not acknowledged.
    assert all(p.poll() is None or p.returncode == 0 for p in producers)
    stats = subprocess.run([mida_bin, "--store", pg_db, "stats", "--spool",
                            str(spool), "--json"], capture_output=True,
                           text=True, timeout=30)
    assert stats.returncode == 0, stats.stderr
    assert '"backlog_bytes": 0' not in stats.stdout, stats.stdout
    time.sleep(2)
    redis.start()
    wait_producers(producers)
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    assert_each_task_once(pg_db)
    # The shippers' failed attempts are visible in the store (mida stats).
    stats = subprocess.run([mida_bin, "--store", pg_db, "stats", "--spool",
                            str(spool), "--json"], capture_output=True,
                           text=True, timeout=30)
    assert '"ship_retries": ' in stats.stdout, stats.stdout
    assert int(psql(pg_db, "SELECT sum(value) FROM counter"
                           " WHERE name = 'ship_retries'")) > 0


def test_postgres_crashed_midway_loses_nothing(fleet, private_pg,
                                               redis_factory, tmp_path):
    """A private PostgreSQL crashes (every process killed at once, the WAL
    it had not written lost) in the middle of ingestion and starts again.
    The consumers commit a round's transactions without waiting for the
    disk and acknowledge the round only after one wait for all of them
    (mida__sink_sync), so what the crash took back was not acknowledged:
    it is applied again, and every task arrives complete, exactly once.
    The WAL writer is paused for half a second before the crash (more than
    its 200 ms delay), so that the commits that did not wait are still
    unwritten then: a consumer that acknowledged them would lose tasks
    here. Not longer: two consumers on a quiet 2-core machine ingest the
    whole stream (200,000 tasks) in about two seconds, and the crash must
    come midway."""
    redis = redis_factory()
    url = redis.url_base + "/tasks"
    db = private_pg.url
    wait_producers(start_producers(fleet, url, tmp_path / "spool"))
    # Small rounds, so that several are acknowledged while the WAL writer
    # is paused.
    consumers = [fleet.ingest(url, db, n, "--group", "g", "--batch", "2")
                 for n in "ab"]
    wait_for_tasks(db, TOTAL // 10)
    private_pg.pause_wal_writer()
    time.sleep(0.5)
    private_pg.crash()
    private_pg.start()
    assert int(psql(db, COMPLETE)) < TOTAL, "the crash came too late"
    assert wait_for_count(db, COMPLETE, TOTAL, 120) == TOTAL
    assert_each_task_once(db)
    for c in consumers:
        assert c.poll() is None, c.log_path.read_text()
        c.send_signal(signal.SIGINT)
        c.wait(timeout=60)
    assert redis.cli("XPENDING", "tasks", "g").split(b"\n")[0] == b"0"


def test_malformed_messages_are_skipped_counted_and_logged_once(
        fleet, pg_db, redis_factory):
    redis = redis_factory()
    url = redis.url_base + "/mixed"
    now = time.time_ns()

    def good():
        tid = str(uuid.uuid4())
        return tid, wire.message([(wire.REC_TASK, wire.task_record(
            tid, "good", now, now + 1000))])

    ok1, m1 = good()
    ok2, m2 = good()
    _, bad = good()
    bad_tid = str(uuid.uuid4())
    bad_rec = wire.message([(wire.REC_TASK, wire.task_record(
        bad_tid, "bad", now, now))], rec_version=9)
    messages = [
        m1,
        b"hello, not mida at all",                  # foreign
        wire.message([(wire.REC_TASK, b"")], version=2),  # wrong version
        wire.with_bad_crc(bad),                     # bad CRC
        wire.with_bad_crc(good()[1]),               # bad CRC again
        wire.with_bad_length(bad),                  # record past the end
        bad_rec,                                    # record version 9
        m2,
    ]
    for m in messages:
        subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                        "mixed", "*", "d"], input=m, check=True,
                       capture_output=True)
    # An entry without mida's field at all.
    redis.cli("XADD", "mixed", "*", "other", "field")
    c = fleet.ingest(url, pg_db, "a", "--group", "g", "--idle-exit", "2")
    c.wait(timeout=60)
    log = c.log_path.read_text()
    assert c.returncode == 0, log
    # Valid messages applied; nothing of the rejected ones.
    assert psql(pg_db, "SELECT id FROM task ORDER BY id") == "\n".join(
        sorted([ok1, ok2]))
    # Counted, in the store, as this consumer's wire_rejected counter.
    assert psql(pg_db, "SELECT value FROM counter"
                       " WHERE name = 'wire_rejected'") == "7"
    # Logged once per reason: two bad CRCs, one line.
    assert log.count("bad CRC") == 1, log
    for reason in ("bad magic", "unsupported wire version",
                   "bad record lengths", "undecodable record",
                   "too short"):
        assert log.count(reason) == 1, (reason, log)
    assert "2 records from 2 messages applied, 7 messages rejected" in log
    # Acknowledged all the same: nothing stays pending.
    assert redis.cli("XPENDING", "mixed", "g").split(b"\n")[0] == b"0"


def test_interleaved_origins_in_one_round_each_get_their_own(
        fleet, pg_db, redis_factory):
    """One round holds messages of two producing processes interleaved
    (A, B, a rejected one, A, B): ingest decodes each message once and
    applies each origin's records together, though they are not adjacent
    among the round's records (the other tests have one origin a round,
    adjacent). Every task gets its own origin's host and pid, and a task
    begun in one of A's messages and ended in the next is one complete
    row."""
    redis = redis_factory()
    url = redis.url_base + "/interleaved"
    now = time.time_ns()
    split = str(uuid.uuid4())
    a = [str(uuid.uuid4()) for _ in range(3)]
    b = [str(uuid.uuid4()) for _ in range(3)]

    def msg(ids, host, pid, seq, extra=()):
        return wire.message([(wire.REC_TASK, wire.task_record(
            t, "x", now, now + 1000)) for t in ids] + list(extra),
            host=host, pid=pid, seq=seq)

    begin = (wire.REC_TASK, wire.task_record(split, "split", now, None,
                                              status=None))
    end = (wire.REC_TASK, wire.task_record(split, None, None, now + 5))
    messages = [
        msg(a[:2], "host-a", 101, 1, [begin]),
        msg(b[:2], "host-b", 202, 1),
        wire.with_bad_crc(msg([str(uuid.uuid4())], "host-a", 101, 9)),
        msg(a[2:], "host-a", 101, 2, [end]),
        msg(b[2:], "host-b", 202, 2),
    ]
    for m in messages:
        subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                        "interleaved", "*", "d"], input=m, check=True,
                       capture_output=True)
    c = fleet.ingest(url, pg_db, "a", "--group", "g", "--idle-exit", "2")
    c.wait(timeout=60)
    log = c.log_path.read_text()
    assert c.returncode == 0, log
    rows = psql(pg_db, "SELECT id, host, pid FROM task ORDER BY id")
    want = sorted([f"{t}|host-a|101" for t in a + [split]] +
                  [f"{t}|host-b|202" for t in b])
    assert rows == "\n".join(want), rows
    assert psql(pg_db, "SELECT activity, status, started, ended FROM task"
                       f" WHERE id = '{split}'") == \
        f"split|FINISHED|{now}|{now + 5}"
    assert "8 records from 4 messages applied, 1 message rejected" in log, \
        log


def test_unreachable_broker_and_store_give_clear_errors(
        mida_bin, produce_bin, pg_db, redis_factory, tmp_path, fleet):
    # A broker that is down does not stop a producer: the session opens,
    # capture succeeds, and the flush (1.5 s here) says why nothing got
    # through; the records stay in the journal.
    env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"),
                    MIDA_STORE="redis://127.0.0.1:1/x")
    r = subprocess.run([produce_bin, "10", "p", "1500"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stdout.startswith("produced 10 "), r.stderr
    assert "cannot open" not in r.stderr
    assert "the store or broker cannot be reached" in r.stderr
    assert "cannot connect to redis://127.0.0.1:1" in r.stderr
    assert "refused" in r.stderr.lower()
    assert list((tmp_path / "spool").iterdir()), "the journal was removed"
    # A malformed broker URL is still an immediate error.
    env["MIDA_STORE"] = "redis://127.0.0.1:notaport/x"
    r = subprocess.run([produce_bin, "10", "p", "1500"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot open: malformed Redis URL" in r.stderr
    # The form it wants names the ACL user too (Redis 6: user:password@).
    assert "redis[s]://[[user]:password@]host" in r.stderr, r.stderr

    # A consumer waits for a broker that is down (test_ingest_waits_for_
    # broker.py); --idle-exit ends the wait.
    r = subprocess.run([mida_bin, "ingest", "--from", "redis://127.0.0.1:1/x",
                        "--to", pg_db, "--idle-exit", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot read redis://127.0.0.1:1/x" in r.stderr
    assert "gave up after --idle-exit 1 s" in r.stderr

    # ... and for a store that is down (test_ingest_waits_for_broker.py).
    r = subprocess.run([mida_bin, "ingest", "--from", "redis://h/x", "--to",
                        "postgresql://postgres@127.0.0.1:1/nodb",
                        "--idle-exit", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot open store postgresql://postgres@127.0.0.1:1/nodb" in \
        r.stderr
    assert "refused" in r.stderr.lower()
    assert "gave up after --idle-exit 1 s" in r.stderr

    r = subprocess.run([mida_bin, "ingest", "--from", "kafka://h/x", "--to",
                        pg_db], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "not a broker URL this build reads" in r.stderr

    secured = redis_factory(password="right")
    wrong = f"redis://:wrong@127.0.0.1:{secured.port}/x"
    r = subprocess.run([mida_bin, "ingest", "--from", wrong, "--to", pg_db],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "WRONGPASS" in r.stderr or "invalid password" in r.stderr
    assert ":wrong@" not in r.stderr  # the password is not echoed
    # A producer is not stopped by it either (the shipper keeps trying):
    # its flush says why nothing got through.
    env["MIDA_STORE"] = wrong
    r = subprocess.run([produce_bin, "10", "p", "1500"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "refused the connection" in r.stderr


@pytest.mark.parametrize("mistyped", [
    "redis:/:s3cret-pw@127.0.0.1:1/x",     # one '/' short
    "redis//:s3cret-pw@127.0.0.1:1/x",     # no ':'
    "nats:/s3cret-pw@127.0.0.1:1/x",       # a NATS token
    "postgresql:/u:s3cret-pw@127.0.0.1:1/db",
    # A password holding a '#' or '?', which a URL must percent-encode.
    "redis://:ab#s3cret-pw@127.0.0.1:1/x",
    "mqtt://u:ab?s3cret-pw@127.0.0.1:1/x",
    "postgresql://postgres:ab#s3cret-pw@127.0.0.1:1/db",
])
def test_a_mistyped_url_does_not_show_its_password(mida_bin, produce_bin,
                                                   fleet, tmp_path, mistyped):
    """A URL with a typo before its host ('redis:/' for 'redis://') is no
    URL: mida reads it as a file's path, and the messages that name that
    path (the store cannot be created, is not there, is no broker) must
    still not show the password in it, on stderr or in `ps`. Nor may
    those of a URL whose password holds a '#' or '?' unencoded (the
    query's or fragment's start to a URL parser). Until 2026-12-05 they
    showed it whole."""
    env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"), MIDA_STORE=mistyped)
    r = subprocess.run([produce_bin, "3", "p", "500"], env=env,
                       capture_output=True, text=True, timeout=30,
                       cwd=tmp_path)
    assert r.returncode == 1
    assert "s3cret-pw" not in r.stdout + r.stderr, r.stderr
    assert "***" in r.stderr, r.stderr
    # --idle-exit: a store or broker that is down is waited for.
    for argv in (["ingest", "--from", mistyped, "--to",
                  str(tmp_path / "s.db"), "--idle-exit", "1"],
                 ["ingest", "--from", "redis://127.0.0.1:1/x", "--to",
                  mistyped, "--idle-exit", "1"],
                 ["--store", mistyped, "tasks"]):
        r = subprocess.run([mida_bin] + argv, capture_output=True, text=True,
                           timeout=30, cwd=tmp_path)
        assert r.returncode == 1, (argv, r.stderr)
        assert "s3cret-pw" not in r.stdout + r.stderr, r.stderr
    # mida run goes on without a store: its argv, as `ps` shows it.
    p = subprocess.Popen([mida_bin, "run", "--store", mistyped, "--",
                          "sleep", "3"], env=fleet.env(), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    shown = b""
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None \
            and b"sleep" not in shown:
        time.sleep(0.2)
        with open(f"/proc/{p.pid}/cmdline", "rb") as f:
            shown = f.read()
    out, err = p.communicate(timeout=120)
    assert b"sleep" in shown and b"s3cret-pw" not in shown, shown
    assert b"s3cret-pw" not in out + err, err


def test_a_percent_encoded_password_is_decoded(mida_bin, produce_bin,
                                              redis_factory, fleet,
                                              tmp_path):
    """A password holding '@', '/', '#' or '?' can only be written in a URL
    percent-encoded (RFC 3986), as libpq reads a PostgreSQL URL's; the
    broker URLs' are decoded too. Until 2026-12-05 mida sent Redis, NATS
    and Mosquitto the encoded text, which they refused (WRONGPASS)."""
    password = "p@ss/w#rd?1%"
    redis = redis_factory(password=password)
    url = (f"redis://:{urllib.parse.quote(password, safe='')}"
           f"@127.0.0.1:{redis.port}/enc")
    env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"), MIDA_STORE=url)
    r = subprocess.run([produce_bin, "10", "p", "20000"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert int(redis.cli("XLEN", "enc").strip() or 0) > 0
    store = tmp_path / "s.db"
    r = subprocess.run([mida_bin, "ingest", "--from", url, "--to", str(store),
                        "--idle-exit", "2"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([mida_bin, "--store", str(store), "query",
                        "SELECT count(*) FROM task"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split()[-1] == "10", r.stdout + r.stderr


def test_redis_down_when_producer_opens_ships_once_up(
        fleet, pg_db, redis_factory, mida_bin, tmp_path):
    # The broker's port is chosen, but the server is not running yet.
    redis = redis_factory(persistent=True)
    redis.stop()
    url = redis.url_base + "/tasks"
    spool = tmp_path / "spool"
    tasks = 5000
    # First a producer killed while the broker is down: its journal stays
    # in the spool as an orphan, for the next producer's shipper.
    orphan = fleet.producer(url, tasks, "orphan", spool)
    time.sleep(1.0)
    assert orphan.poll() is None  # opened, recorded, waiting for the broker
    orphan.kill()
    orphan.wait()
    p = fleet.producer(url, tasks, "late", spool)
    time.sleep(2.0)
    # Its session opened and capture went on; nothing could be shipped.
    assert p.poll() is None, p.communicate()[1]
    segments = sorted(f.name for f in spool.glob("*.mj"))
    assert len(segments) >= 2, segments  # the orphan's and its own
    redis.start()
    fleet.ingest(url, pg_db, "a", "--group", "g")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert out.startswith(f"produced {tasks} ")
    assert wait_for_count(pg_db, COMPLETE, 2 * tasks, 60) == 2 * tasks
    rows = psql(pg_db, "SELECT activity, count(*), count(DISTINCT used->>'i')"
                       " FROM task GROUP BY 1 ORDER BY 1").splitlines()
    assert rows == [f"late|{tasks}|{tasks}", f"orphan|{tasks}|{tasks}"]
    assert int(psql(pg_db, "SELECT count(*) FROM workflow"
                           " WHERE status = 'FINISHED'")) == 2
    # Both journals were shipped and removed from the spool.
    assert not list(spool.glob("*.mj")), list(spool.iterdir())


def test_store_down_midway_ingest_stops_acknowledging_then_resumes(
        fleet, pg_db, redis_factory, tmp_path):
    """PostgreSQL refuses the consumers for a few seconds in the middle of
    ingestion: they apply nothing and acknowledge nothing meanwhile (the
    messages stay pending or unread on the stream), then resume, and every
    task arrives complete, exactly once."""
    redis = redis_factory()
    url = redis.url_base + "/tasks"
    name = pg_db.rsplit("/", 1)[1]
    wait_producers(start_producers(fleet, url, tmp_path / "spool"))
    consumers = [fleet.ingest(url, pg_db, n, "--group", "g", "--batch", "4")
                 for n in "ab"]
    assert wait_for_count(pg_db, "SELECT count(*) FROM task", TOTAL // 10,
                          60) >= TOTAL // 10
    # The store goes down: no new connections, the consumers' ones cut.
    admin = PG_ADMIN + "/postgres"
    psql(admin, f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    psql(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = '{name}'")
    time.sleep(1.0)
    # The batches the consumers hold are not acknowledged while the store
    # is down: they stay pending in the group, for them or for others.
    time.sleep(2.0)
    pending = int(redis.cli("XPENDING", "tasks", "g").split(b"\n")[0])
    assert pending > 0, "a consumer acknowledged what it could not apply"
    assert all(c.poll() is None for c in consumers), "a consumer gave up"
    psql(admin, f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    assert_each_task_once(pg_db)
    logs = "".join(c.log_path.read_text() for c in consumers)
    assert "not acknowledging" in logs or "retrying" in logs, logs
    for c in consumers:
        c.send_signal(signal.SIGINT)
        c.wait(timeout=60)
    assert redis.cli("XPENDING", "tasks", "g").split(b"\n")[0] == b"0"


def test_store_made_read_only_midway_ingest_resumes_once_writable(
        fleet, pg_db, redis_factory, tmp_path):
    """The database is made read-only under a consumer (ALTER DATABASE ...
    SET default_transaction_read_only, as a failover to a hot standby
    looks to a client), its connection cut: the consumer reconnects to a
    session that takes no writes, says so, and acknowledges nothing. Once
    the database takes writes again, the consumer's next attempt opens a
    new session and every task arrives. Until 2026-12-05 it kept the
    read-only session for good: nothing more was stored until it was
    restarted, and its log said only that the first connection had been
    cut."""
    redis = redis_factory()
    url = redis.url_base + "/tasks"
    name = pg_db.rsplit("/", 1)[1]
    admin = PG_ADMIN + "/postgres"
    tasks = 2000
    done = "SELECT count(*) FROM task WHERE status = 'FINISHED'"

    fleet.produce_all(url, tasks, "before", tmp_path / "spool")
    consumer = fleet.ingest(url, pg_db, "a", "--group", "g")
    assert wait_for_count(pg_db, done, tasks, 60) == tasks
    psql(admin, f"ALTER DATABASE {name}"
                " SET default_transaction_read_only = on")
    psql(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = '{name}'")
    fleet.produce_all(url, tasks, "during", tmp_path / "spool")
    time.sleep(4.0)  # the consumer retries on its read-only session
    assert int(psql(pg_db, done)) == tasks
    assert consumer.poll() is None, "the consumer gave up"
    log = consumer.log_path.read_text()
    assert "read-only" in log, log
    psql(admin, f"ALTER DATABASE {name} RESET default_transaction_read_only")
    assert wait_for_count(pg_db, done, 2 * tasks, 30) == 2 * tasks, \
        consumer.log_path.read_text()
    consumer.send_signal(signal.SIGINT)
    consumer.wait(timeout=60)
    assert redis.cli("XPENDING", "tasks", "g").split(b"\n")[0] == b"0"


def test_store_dropped_and_made_again_ingest_makes_its_schema_there(
        fleet, pg_db, redis_factory, tmp_path):
    """The database is dropped under a consumer and made again, empty (a
    fresh start, a restore): the consumer reconnects to it and makes
    mida's schema there, as at its start, and what arrives since is
    stored. Until 2026-12-05 it reconnected and failed every round on
    'relation "task" does not exist' until it was restarted."""
    redis = redis_factory()
    url = redis.url_base + "/tasks"
    name = pg_db.rsplit("/", 1)[1]
    admin = PG_ADMIN + "/postgres"
    tasks = 500
    done = "SELECT count(*) FROM task WHERE status = 'FINISHED'"

    fleet.produce_all(url, tasks, "before", tmp_path / "spool")
    consumer = fleet.ingest(url, pg_db, "a", "--group", "g")
    assert wait_for_count(pg_db, done, tasks, 60) == tasks
    psql(admin, f"DROP DATABASE {name} WITH (FORCE)")
    psql(admin, f"CREATE DATABASE {name}")
    fleet.produce_all(url, tasks, "after", tmp_path / "spool")
    assert wait_for_count(pg_db, done, tasks, 30) == tasks, \
        consumer.log_path.read_text()
    assert psql(pg_db, "SELECT DISTINCT activity FROM task") == "after"
    assert consumer.poll() is None


def test_rounds_of_large_messages_stay_small(fleet, pg_db, redis_factory,
                                             tmp_path):
    """Messages of 4,096 records (a shipper's full batch) waiting in the
    stream: a consumer's rounds take about 16,384 records, not --batch
    messages (64) -- a round of 64 such messages would hold most of a
    backlog, which one consumer then works through while the others are
    idle. The first round takes one message and each next at most twice
    as many as the last (Redis MONITOR shows XREADGROUP's COUNT); every
    task arrives."""
    redis = redis_factory()
    now = time.time_ns()
    nmsg, per = 8, 4096
    for k in range(nmsg):
        m = wire.message([(wire.REC_TASK, wire.task_record(
            str(uuid.uuid4()), "big", now + i, now + i + 1))
            for i in range(per)], seq=k + 1)
        subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                        "big", "*", "d"], input=m, check=True,
                       capture_output=True)
    monitor_log = open(tmp_path / "monitor.log", "w")
    monitor = subprocess.Popen(["redis-cli", "-p", str(redis.port),
                                "MONITOR"], stdout=monitor_log)
    try:
        time.sleep(0.3)
        c = fleet.ingest(redis.url_base + "/big", pg_db, "r", "--group",
                         "g", "--idle-exit", "2")
        c.wait(timeout=120)
        assert c.returncode == 0, c.log_path.read_text()
    finally:
        monitor.terminate()
        monitor.wait()
        monitor_log.close()
    counts = []
    for line in (tmp_path / "monitor.log").read_text().splitlines():
        words = [w.strip('"') for w in line.split()]
        if "XREADGROUP" in words and ">" in words:
            counts.append(int(words[words.index("COUNT") + 1]))
    assert counts[:3] == [1, 2, 4], counts
    assert max(counts) == 4, counts
    assert psql(pg_db, "SELECT count(*) FROM task WHERE status ="
                       " 'FINISHED'") == str(nmsg * per)


def test_a_record_the_store_refuses_is_counted_not_retried(fleet, pg_db,
                                                           redis_factory):
    """A round holding a record PostgreSQL refuses however it is sent (a
    metric key over the index's row size) was retried for ever,
    unacknowledged, and ingestion stopped there. The other records are stored, the refused
    one is counted (counter refused) and said in the log, the round
    acknowledged."""
    redis = redis_factory()
    url = redis.url_base + "/poison"
    env = fleet.env(MIDA_STORE=url, PYTHONPATH=str(build_dir() / "python"))
    r = subprocess.run([sys.executable, "-c",
                        POISON_SCRIPT.replace("FLUSH_S", "30")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["True", "0"], r.stderr
    c = fleet.ingest(url, pg_db, "a", "--group", "g", "--idle-exit", "2")
    c.wait(timeout=60)
    log = c.log_path.read_text()
    assert c.returncode == 0, log
    assert psql(pg_db, "SELECT count(*) FROM task") == "3"
    assert psql(pg_db, "SELECT count(*) FROM metric WHERE key = 'loss'"
                ) == "3"
    assert psql(pg_db, "SELECT sum(value) FROM counter WHERE name ="
                       " 'refused'") == "1"
    assert log.count("a metric record (SQLSTATE 54000") == 1, log
    assert redis.cli("XPENDING", "poison", "g").split(b"\n")[0] == b"0"


def ingest_until_idle(fleet, url, store, group, idle_s=3):
    r = subprocess.run([fleet.mida, "ingest", "--from", url, "--to", store,
                        "--group", group, "--idle-exit", str(idle_s)],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_acknowledged_entries_are_deleted_from_the_stream(fleet,
                                                          redis_factory,
                                                          tmp_path):
    """What every group has acknowledged is deleted from the stream, so
    that Redis holds what is still to be consumed, not every record ever
    shipped (until 2026-12 nothing was deleted: about 390 bytes of Redis's
    memory a task, for ever, until Redis ran out). An entry that another
    group has not read yet stays until it has."""
    redis = redis_factory()
    url = redis.url_base + "/trim"
    # Group b is made first and reads nothing until later.
    redis.cli("XGROUP", "CREATE", "trim", "b", "0", "MKSTREAM")
    for i in range(3):
        fleet.produce_all(url, 2000, f"p{i}", tmp_path / "spool")
    shipped = int(redis.cli("XLEN", "trim"))
    assert shipped >= 3
    ingest_until_idle(fleet, url, f"sqlite://{tmp_path}/a.db", "a")
    assert int(redis.cli("XLEN", "trim")) == shipped  # b still needs them
    ingest_until_idle(fleet, url, f"sqlite://{tmp_path}/b.db", "b")
    # The last entry delivered stays (the bound is kept, not passed).
    assert int(redis.cli("XLEN", "trim")) <= 1
    for db in ("a", "b"):
        assert fleet.task_count(f"sqlite://{tmp_path}/{db}.db") == 6000, db


def test_a_consumer_that_may_not_trim_says_so_once_and_works_on(
        fleet, redis_factory, tmp_path):
    """An account with the consumer's rights of before 2026-12 (no XINFO,
    XPENDING, XTRIM) consumes as before; that it cannot delete what it
    acknowledged, and which rights would let it, is said once."""
    redis = redis_factory()
    redis.cli("ACL", "SETUSER", "ingest", "on", ">pw-i", "resetkeys",
              "~trim", "-@all", "+ping", "+xgroup|create", "+xreadgroup",
              "+xautoclaim", "+xack")
    for i in range(2):
        fleet.produce_all(redis.url_base + "/trim", 500, f"p{i}",
                          tmp_path / "spool")
    url = f"redis://ingest:pw-i@127.0.0.1:{redis.port}/trim"
    r = ingest_until_idle(fleet, url, f"sqlite://{tmp_path}/s.db", "g")
    assert r.stderr.count("cannot delete acknowledged entries") == 1, \
        r.stderr
    assert "NOPERM" in r.stderr and "+xtrim" in r.stderr, r.stderr
    assert "pw-i" not in r.stderr
    r = subprocess.run([fleet.mida, "--store", f"sqlite://{tmp_path}/s.db",
                        "query", "--csv", "SELECT count(*) FROM task"],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.split()[-1] == "1000", r


def test_ingest_from_a_read_only_replica_says_so_and_what_to_do(
        fleet, redis_factory, tmp_path):
    """`mida ingest --from` a Redis replica exited at once with Redis's
    raw words ("cannot create consumer group mida on s: READONLY You
    can't write against a read only replica."). It still fails at once,
    status 1 (a consumer group lives on the master: waiting on a replica
    that is not being promoted would wait for ever, silent, while the
    stream grows on the master; a supervisor's restart reads a promoted
    one), and says plainly that the URL points at a read-only replica,
    of which master, and what to do. A producer pointed there keeps its
    records in its journal and says the same."""
    master = redis_factory()
    replica = redis_factory(args=["--replicaof", "127.0.0.1",
                                  str(master.port)])
    deadline = time.time() + 30
    while time.time() < deadline and b"connected" not in replica.cli("ROLE"):
        time.sleep(0.05)
    assert b"connected" in replica.cli("ROLE")
    url = replica.url_base + "/s"
    said = (f"redis://127.0.0.1:{replica.port} is a read-only replica of "
            f"127.0.0.1:{master.port} (READONLY): mida writes the stream "
            "and its consumer group on the master only; point the URL at "
            "the master, or at an address that follows it (Sentinel, a "
            "proxy)")

    c = fleet.ingest(url, str(tmp_path / "s.db"), "a")
    c.wait(timeout=30)
    log = c.log_path.read_text()
    assert c.returncode == 1, log
    assert said in log, log
    assert log.count("READONLY") == 1, log

    p = fleet.producer(url, 5, "p", tmp_path / "spool", timeout_ms=1000)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert said in err, err
    assert "input/output error" in err  # a refusal, kept in the journal
    assert master.cli("XLEN", "s").strip() == b"0"


LEFT_AT_EXIT = """
import mida, sys
with mida.workflow("before"):
    pass
print(mida.flush(30), flush=True)
sys.stdin.readline()  # the broker goes away meanwhile
with mida.workflow("after"):
    pass
"""


def test_a_python_producer_that_ends_with_records_unshipped_says_where(
        fleet, redis_factory, tmp_path):
    """A Python producer whose broker went away after its session opened
    (a node cut off, a broker stopped) and that ends before the broker is
    back leaves its last records in its spool. It says so at exit, naming
    the spool and `mida recover`, without the URL's password. Until
    2026-12 the close at exit said nothing: the records waited on the
    node, and no one was told."""
    redis = redis_factory(password="s3cret-pw")
    spool = tmp_path / "spool"
    env = fleet.env(MIDA_STORE=redis.url_base + "/s", MIDA_SPOOL=str(spool),
                    MIDA_SAMPLE_HZ="0",
                    PYTHONPATH=str(build_dir() / "python"))
    p = subprocess.Popen([sys.executable, "-c", LEFT_AT_EXIT], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "True"
    redis.stop()
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, err
    assert f"the rest stays in the spool {spool}" in err, err
    assert f"mida recover --spool {spool}" in err, err
    assert "s3cret-pw" not in err
    assert any(f.suffix == ".mj" for f in spool.iterdir())

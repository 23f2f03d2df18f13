"""A Redis that restarts reads its dataset back from disk before it serves,
and until then answers every command (but AUTH and INFO) with `-LOADING
Redis is loading the dataset in memory`; on a node that reboots, `mida
ingest` may well start in that window, or reconnect in it after its Redis
restarted. It waits, saying once on stderr that Redis is "loading its
data", and reads once Redis is ready, as it waits for a broker that cannot
be reached; so too while a script runs too long (`-BUSY`). Until 2026-12-06
it took these replies for a refusal and exited with status 1 at once.

The Redis is a real redis-server with a real dump: a private instance is
filled with DEBUG POPULATE and SAVEd, then restarted on that dump. To make
the loading last a few seconds on any machine without a dump of gigabytes,
Redis's own test knobs slow it down: key-load-delay (microseconds of sleep
per key loaded) and loading-process-events-interval-bytes (how often a
loading Redis answers its clients; a large real dataset reaches the 2 MB
default in milliseconds, this small one would not).

The producer's side, the shipper of a session sending to that Redis, must
wait too: its records stay in the journal, are tried again, and reach
Redis once it serves; a flush that gives up meanwhile says that Redis is
loading its data, and never "input/output error"."""

import subprocess
import time

import pytest

from multinode_support import (stop_consumer, wait_stored_tasks,
                               wait_until_said)

PASSWORD = "s3cret-pw"
UNREACHABLE = "cannot be reached"
LOADING = "loading its data"
KEYS = 20000  # at key-load-delay 50 us: 1 s at the least, ~4 s here
SLOW_LOADING = ["--enable-debug-command", "local",
                "--key-load-delay", "50",
                "--loading-process-events-interval-bytes", "1024"]


def loading(redis):
    """Whether redis is loading its dataset now (INFO persistence)."""
    info = redis.cli("INFO", "persistence").decode()
    return "loading:1" in info


def restart_loading(redis):
    """Restarts redis on its dump; it must be loading when this returns."""
    redis.stop()
    redis.start()
    if not loading(redis):
        pytest.skip("Redis loaded its dump before it could be watched")


def wait_loaded(redis, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline and loading(redis):
        time.sleep(0.1)
    assert not loading(redis), "Redis is still loading"


@pytest.fixture
def dumped_redis(redis_factory):
    """A private Redis with a password whose dump.rdb holds KEYS keys, each
    start of it with SLOW_LOADING."""
    redis = redis_factory(password=PASSWORD, args=SLOW_LOADING)
    out = redis.cli("DEBUG", "POPULATE", str(KEYS), "filler", "100")
    assert out.strip() == b"OK", out
    assert redis.cli("SAVE").strip() == b"OK"
    assert (redis.dir / "dump.rdb").stat().st_size > 0
    return redis


def test_ingest_started_while_redis_loads_its_data_waits_and_reads(
        dumped_redis, fleet, tmp_path):
    redis = dumped_redis
    url = redis.url_base + "/boot"
    store = tmp_path / "s.db"
    restart_loading(redis)
    c = fleet.ingest(url, str(store), "a", "--group", "g")
    if not loading(redis):
        pytest.skip("Redis loaded its dump before ingest started")

    wait_until_said(c, LOADING)
    # What is produced while Redis loads waits in the producer's journal.
    producer = fleet.producer(url, 10, "p", tmp_path / "spool")
    wait_loaded(redis)
    out, err = producer.communicate(timeout=120)
    assert producer.returncode == 0, err
    wait_stored_tasks(fleet, store, 10, c)

    log = stop_consumer(c, said_once=LOADING, then="ready: reading",
                        secret=PASSWORD)
    assert UNREACHABLE not in log, log
    assert "***@" in log, log


def test_ingest_whose_redis_restarts_waits_while_it_loads(
        dumped_redis, fleet, tmp_path):
    redis = dumped_redis
    url = redis.url_base + "/reboot"
    store = tmp_path / "s.db"
    c = fleet.ingest(url, str(store), "a", "--group", "g")
    fleet.produce_all(url, 5, "before", tmp_path / "spool")
    wait_stored_tasks(fleet, store, 5, c)

    # The stream is lost with the restart (no save since the dump): the
    # consumer makes its group again once Redis serves.
    restart_loading(redis)
    wait_until_said(c, LOADING)
    wait_loaded(redis)
    fleet.produce_all(url, 5, "after", tmp_path / "spool")
    wait_stored_tasks(fleet, store, 10, c)

    stop_consumer(c, said_once=LOADING, then="reading again",
                  secret=PASSWORD)


def test_ingest_started_while_a_script_runs_waits_for_its_end(
        redis_factory, fleet, tmp_path):
    """A script that runs past busy-reply-threshold makes Redis answer
    other clients -BUSY until it ends (here SCRIPT KILL)."""
    redis = redis_factory(password=PASSWORD,
                          args=["--busy-reply-threshold", "100"])
    url = redis.url_base + "/script"
    store = tmp_path / "s.db"
    script = subprocess.Popen(
        ["redis-cli", "-p", str(redis.port), "-a", PASSWORD,
         "--no-auth-warning", "EVAL", "while true do end", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and b"BUSY" not in redis.cli("PING"):
            time.sleep(0.05)
        assert b"BUSY" in redis.cli("PING")
        c = fleet.ingest(url, str(store), "a", "--group", "g")
        wait_until_said(c, "running a script")
    finally:
        redis.cli("SCRIPT", "KILL")
        script.wait(timeout=30)
    fleet.produce_all(url, 10, "p", tmp_path / "spool")
    wait_stored_tasks(fleet, store, 10, c)

    stop_consumer(c, said_once="running a script", then="ready: reading",
                  secret=PASSWORD)


def restart_saved(redis):
    """Restarts redis on a dump of all it holds (SHUTDOWN SAVE: what the
    producer sent is not lost with the restart); it must be loading when
    this returns."""
    redis.cli("SHUTDOWN", "SAVE")
    redis.proc.wait(timeout=60)
    redis.proc = None
    redis.start()
    if not loading(redis):
        pytest.skip("Redis loaded its dump before it could be watched")


@pytest.mark.parametrize("password", [PASSWORD, None],
                         ids=["auth-passes-xadd-loading", "ping-loading"])
def test_producer_whose_redis_restarts_keeps_its_records_until_it_serves(
        redis_factory, fleet, tmp_path, password):
    """A producer connected to Redis when it restarts (and then loads its
    data) got -LOADING from XADD after reconnecting (AUTH passes while
    Redis loads), or from the PING of its reconnection (no password): the
    sink made both MIDA_EIO, and a flush that gave up said "input/output
    error". It is MIDA_EBUSY now, "the resource is busy", with Redis's
    reason once; the records wait in the journal and all arrive once
    Redis serves (the rest shipped by the next session on that spool)."""
    redis = redis_factory(password=password,
                          args=["--enable-debug-command", "local",
                                "--key-load-delay", "200",
                                "--loading-process-events-interval-bytes",
                                "1024"])
    out = redis.cli("DEBUG", "POPULATE", str(KEYS), "filler", "100")
    assert out.strip() == b"OK", out
    url = redis.url_base + "/ship"
    spool = tmp_path / "spool"
    # 300 tasks over about a second, then a flush of at most 1.5 s: it
    # ends while Redis loads its 20,000 keys (4 s at the least).
    first = fleet.producer(url, 300, "first", spool, rate=300,
                           timeout_ms=1500)
    deadline = time.time() + 30
    while time.time() < deadline and redis.cli("XLEN", "ship").strip() in (
            b"", b"0"):
        time.sleep(0.02)
    restart_saved(redis)
    out, err = first.communicate(timeout=120)
    if first.returncode == 0:
        pytest.skip("Redis served again before the producer's flush ended")
    assert loading(redis), "Redis served again before the test could look"
    assert first.returncode == 1, err
    assert "flush: the resource is busy: " in err, err
    assert err.count("Redis is loading its data (LOADING)") == 1, err
    assert "input/output error" not in err, err
    if password:
        assert password not in err, err

    wait_loaded(redis)
    fleet.produce_all(url, 10, "second", spool)  # ships first's rest too
    store = tmp_path / "s.db"
    c = fleet.ingest(url, str(store), "a", "--group", "g")
    wait_stored_tasks(fleet, store, 310, c)
    stop_consumer(c)

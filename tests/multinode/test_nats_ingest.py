"""Producers -> NATS JetStream -> `mida ingest` consumers -> PostgreSQL on
the real nats-server: 4 producers x 50,000 tasks, 2 consumers of one
durable consumer, exactly 200,000 tasks; a consumer killed by SIGKILL (its
unacknowledged messages redelivered after AckWait); the server stopped and
started again midway (JetStream file storage keeps what it acknowledged,
the producers' journals keep the rest); clear errors."""

import shutil
import signal
import subprocess
import time

import pytest

from multinode_support import (COMPLETE, TOTAL, assert_each_task_once, psql,
                               require_backend, start_producers,
                               wait_for_count, wait_for_tasks, wait_port,
                               wait_producers)


def test_nats_two_consumers_exactly_once(fleet, pg_db, nats_factory,
                                         tmp_path):
    nats = nats_factory()
    url = nats.url_base + "/mida.tasks"
    consumers = [fleet.ingest(url, pg_db, n, "--group", "g") for n in "ab"]
    wait_producers(start_producers(fleet, url, tmp_path / "spool"))
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    for c in consumers:
        c.send_signal(signal.SIGTERM)
        c.wait(timeout=60)
        assert c.returncode == 0
    assert_each_task_once(pg_db)


def test_nats_consumer_killed_midway(fleet, pg_db, nats_factory, tmp_path):
    nats = nats_factory()
    url = nats.url_base + "/mida.tasks"
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
    assert b.poll() is None
    assert_each_task_once(pg_db)


def test_nats_restarted_midway_loses_nothing(fleet, pg_db, nats_factory,
                                             mida_bin, tmp_path):
    nats = nats_factory()
    url = nats.url_base + "/mida.tasks"
    spool = tmp_path / "spool"
    consumers = [fleet.ingest(url, pg_db, n, "--group", "g") for n in "ab"]
    producers = start_producers(fleet, url, spool, rate=25_000)
    time.sleep(0.8)  # the producers (rate-limited) need 2 s at least
    nats.stop()
    try:
        down_at = int(psql(pg_db, "SELECT count(*) FROM task"))
    except RuntimeError:
        down_at = 0
    assert down_at < TOTAL, "the outage came too late"
    time.sleep(1.5)
    stats = subprocess.run([mida_bin, "--store", pg_db, "stats", "--spool",
                            str(spool), "--json"], capture_output=True,
                           text=True, timeout=30)
    assert '"backlog_bytes": 0' not in stats.stdout, stats.stdout
    time.sleep(2)
    nats.start()
    wait_producers(producers)
    # (Once, in a combined run at load 10, this wait ran out at 120 s;
    # the consumers' logs say where they were if it does again.)
    got = wait_for_count(pg_db, COMPLETE, TOTAL, 120)
    assert got == TOTAL, (got, [c.log_path.read_text()[-2000:]
                                for c in consumers])
    assert_each_task_once(pg_db)
    # (No ship_retries assertion here: libnats buffers publishes while it
    # reconnects, so a short outage may cost no failed attempt at all --
    # only a longer wait for the PubAck, with the records in the journal
    # meanwhile, as the backlog above shows.)


def test_nats_paused_past_the_publish_wait_loses_nothing(fleet, pg_db,
                                                        nats_factory,
                                                        tmp_path):
    """A server paused (SIGSTOP) longer than a producer waits for its
    PubAck: the publish fails, yet the server stores it once resumed, and
    the producer's retry (more records by then, and its ship_retries
    counter) must not be taken for a duplicate of it and dropped."""
    nats = nats_factory()
    url = nats.url_base + "/mida.tasks"
    consumers = [fleet.ingest(url, pg_db, n, "--group", "g") for n in "ab"]
    # A slow rate: the batch in flight at the pause is not a full one, so
    # the retry's batch holds more records than the publish that failed.
    producers = start_producers(fleet, url, tmp_path / "spool", rate=5_000)
    wait_for_tasks(pg_db, 0)
    nats.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(7)  # past the sink's 5 s wait for a PubAck
    finally:
        nats.proc.send_signal(signal.SIGCONT)
    wait_producers(producers)
    got = wait_for_count(pg_db, COMPLETE, TOTAL, 120)
    assert got == TOTAL, (got, [c.log_path.read_text()[-2000:]
                                for c in consumers])
    assert_each_task_once(pg_db)


def test_nats_bad_url_and_wrong_password(mida_bin, produce_bin, pg_db,
                                         nats_factory, fleet, tmp_path):
    r = subprocess.run([mida_bin, "ingest", "--from",
                        "nats://127.0.0.1:1/x", "--to", pg_db,
                        "--idle-exit", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot connect to nats://127.0.0.1:1" in r.stderr
    assert "gave up after --idle-exit 1 s" in r.stderr
    secured = nats_factory(user="mida", password="right")
    wrong = f"nats://mida:wrong@127.0.0.1:{secured.port}/x"
    r = subprocess.run([mida_bin, "ingest", "--from", wrong, "--to", pg_db],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "authorization" in r.stderr.lower(), r.stderr
    assert ":wrong@" not in r.stderr
    env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"), MIDA_STORE=wrong)
    r = subprocess.run([produce_bin, "10", "p", "1500"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "authorization" in r.stderr.lower(), r.stderr


def test_nats_token_in_the_url(mida_bin, produce_bin, nats_factory, fleet,
                               tmp_path):
    """nats://TOKEN@host is NATS's own way to write a token: it logs in,
    and no message shows it. mida took it for a user name without a
    password: the server refused it, and the message printed it."""
    served = nats_factory(token="t0kenSecret9")
    env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"),
                    MIDA_STORE=served.url_base + "/x")
    r = subprocess.run([produce_bin, "10", "p", "1500"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wrong = f"nats://wr0ngSecret8@127.0.0.1:{served.port}/x"
    r = subprocess.run([mida_bin, "ingest", "--from", wrong, "--to",
                        str(tmp_path / "s.db")], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 1
    assert "authorization" in r.stderr.lower(), r.stderr
    assert "wr0ngSecret8" not in r.stderr and "nats://***@" in r.stderr, \
        r.stderr


def ipv6_loopback():
    import socket
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return None


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_a_broker_at_an_ipv6_address(mida_bin, produce_bin, fleet, tmp_path,
                                     kind):
    """A broker named by its IPv6 address, in brackets as RFC 3986 writes
    it (redis://:pw@[::1]:6379/s): producers ship and `mida ingest`
    reads. Until 2026-12-05 the URL was 'malformed'. (MQTT's client,
    libmosquitto, takes the same host.)"""
    port = ipv6_loopback()
    if port is None:
        pytest.skip("no IPv6 loopback on this machine")
    if shutil.which(f"{kind}-server") is None:
        pytest.skip(f"{kind}-server is not installed")
    if kind == "redis":
        require_backend("HIREDIS", "hiredis")
        argv = ["redis-server", "--port", str(port), "--bind", "::1",
                "--dir", str(tmp_path), "--save", "", "--appendonly", "no",
                "--requirepass", "pw6"]
        url = f"redis://:pw6@[::1]:{port}/v6"
    else:
        require_backend("NATS", "libnats")
        argv = ["nats-server", "-a", "::1", "-p", str(port), "-js", "-sd",
                str(tmp_path / "js"), "--user", "u", "--pass", "pw6"]
        url = f"nats://u:pw6@[::1]:{port}/v6"
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        assert wait_port(port, host="::1"), f"{kind}-server did not start"
        env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"), MIDA_STORE=url)
        r = subprocess.run([produce_bin, "20", "p", "20000"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        store = tmp_path / "s.db"
        r = subprocess.run([mida_bin, "ingest", "--from", url, "--to",
                            str(store), "--idle-exit", "2"],
                           env=fleet.env(), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([mida_bin, "--store", str(store), "query",
                            "SELECT count(*) FROM task"], env=fleet.env(),
                           capture_output=True, text=True, timeout=60)
        assert r.stdout.split()[-1] == "20", r.stdout + r.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)


def stream_messages(nats, stream):
    from test_nats_stream_names import js_api
    return js_api(nats.port, f"$JS.API.STREAM.INFO.{stream}")["state"][
        "messages"]


def nats_ingest_until_idle(fleet, url, store, group):
    r = subprocess.run([fleet.mida, "ingest", "--from", url, "--to", store,
                        "--group", group, "--idle-exit", "3"],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r


def test_acknowledged_messages_are_purged_from_the_stream(fleet, nats_factory,
                                                          tmp_path):
    """What every durable consumer (group) has acknowledged is purged from
    the stream, so that the server's disk holds what is still to be
    consumed, not every record ever shipped (until 2026-12 nothing was
    purged: JetStream kept them all, with no limit). A message that
    another group has not acknowledged yet stays until it has."""
    nats = nats_factory()
    url = nats.url_base + "/trim"
    # Group b joins first (making the stream) and reads nothing until
    # later.
    nats_ingest_until_idle(fleet, url, f"sqlite://{tmp_path}/b.db", "b")
    for i in range(3):
        fleet.produce_all(url, 2000, f"p{i}", tmp_path / "spool")
    shipped = stream_messages(nats, "MIDA_trim")
    assert shipped >= 3
    nats_ingest_until_idle(fleet, url, f"sqlite://{tmp_path}/a.db", "a")
    assert stream_messages(nats, "MIDA_trim") == shipped  # b needs them
    nats_ingest_until_idle(fleet, url, f"sqlite://{tmp_path}/b.db", "b")
    assert stream_messages(nats, "MIDA_trim") == 0
    for db in ("a", "b"):
        assert fleet.task_count(f"sqlite://{tmp_path}/{db}.db") == 6000, db


def test_a_consumer_started_with_another_claim_ms_joins_and_sets_it(
        fleet, nats_factory, tmp_path):
    """--claim-ms is the group's AckWait (one durable consumer a group):
    a consumer started again with another one joins, and the AckWait
    becomes its value. Until 2026-12 it could not join ("configuration
    requests ack wait to be 2000000000, but consumer's value is
    30000000000"), so that changing --claim-ms, as docs/multinode.md
    offers, stopped every consumer restarted with it."""
    from test_nats_stream_names import js_api
    nats = nats_factory()
    url = nats.url_base + "/claims"
    store = f"sqlite://{tmp_path}/s.db"
    nats_ingest_until_idle(fleet, url, store, "g")
    fleet.produce_all(url, 100, "p", tmp_path / "spool")
    r = subprocess.run([fleet.mida, "ingest", "--from", url, "--to", store,
                        "--group", "g", "--idle-exit", "3", "--claim-ms",
                        "2000"], env=fleet.env(), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    info = js_api(nats.port, "$JS.API.CONSUMER.INFO.MIDA_claims.g")
    assert info["config"]["ack_wait"] == 2_000_000_000, info
    r = subprocess.run([fleet.mida, "--store", store, "query", "--csv",
                        "SELECT count(*) FROM task"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.split()[-1] == "100", r


@pytest.mark.parametrize("option", ["--group", "--name"])
def test_an_empty_group_or_name_is_a_usage_error(fleet, nats_factory,
                                                 tmp_path, option):
    """An empty --group or --name (a shell variable that was not set) is
    a usage error. Until 2026-12 NATS took an empty group for no durable
    consumer: each `mida ingest` got an ephemeral one of its own, so that
    consumers did not share the stream and each start applied it all
    again."""
    nats = nats_factory()
    r = subprocess.run([fleet.mida, "ingest", "--from",
                        nats.url_base + "/x", "--to",
                        f"sqlite://{tmp_path}/s.db", option, "",
                        "--idle-exit", "1"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"{option} needs a name" in r.stderr, r.stderr

"""Producers -> MQTT (Mosquitto, QoS 1) -> `mida ingest` consumers sharing
one subscription ($share/group/topic) -> PostgreSQL: 4 producers x 50,000
tasks, 2 consumers, exactly 200,000 tasks; a consumer killed by SIGKILL and
started again with its name gets back what it had not acknowledged (MQTT
has no claim by others: see src/sink/mqtt.c); the broker (with
persistence) stopped and started again midway loses nothing; bad input;
clear errors; a publish the broker's ACL denies is seen (MQTT 5 PUBACK
reason code), counted as dropped and reported once."""

import json
import pathlib
import signal
import sys

import pytest
import subprocess
import time

from multinode_support import (COMPLETE, TOTAL, assert_each_task_once, psql,
                               start_producers, wait_for_count,
                               wait_for_tasks, wait_producers,
                               wait_stored_tasks)


def test_mqtt_two_consumers_exactly_once(fleet, pg_db, mosquitto_factory,
                                         tmp_path):
    broker = mosquitto_factory()
    url = broker.url_base + "/mida/tasks"
    consumers = [fleet.ingest(url, pg_db, n, "--group", "g") for n in "ab"]
    # Subscribed before anything is published (else it is dropped).
    assert broker.wait_subscribed(["a", "b"], "mida/tasks", "g")
    wait_producers(start_producers(fleet, url, tmp_path / "spool"))
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    for c in consumers:
        c.send_signal(signal.SIGINT)
        c.wait(timeout=60)
        assert c.returncode == 0
    assert_each_task_once(pg_db)


def test_mqtt_consumer_killed_and_restarted(fleet, pg_db, mosquitto_factory,
                                            tmp_path):
    broker = mosquitto_factory()
    url = broker.url_base + "/mida/tasks"
    a = fleet.ingest(url, pg_db, "a", "--group", "g")
    fleet.ingest(url, pg_db, "b", "--group", "g")
    assert broker.wait_subscribed(["a", "b"], "mida/tasks", "g")
    producers = start_producers(fleet, url, tmp_path / "spool", rate=25_000)
    wait_for_tasks(pg_db, TOTAL // 10)
    a.send_signal(signal.SIGKILL)
    a.wait()
    assert int(psql(pg_db, COMPLETE)) < TOTAL, "the kill came too late"
    time.sleep(1)
    fleet.ingest(url, pg_db, "a", "--group", "g")  # same name: its session
    wait_producers(producers)
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    assert_each_task_once(pg_db)


def test_mqtt_restarted_midway_loses_nothing(fleet, pg_db, mosquitto_factory,
                                             tmp_path):
    # A Mosquitto that persists sessions and queued messages; consumers with
    # persistent sessions (clean_session false) and QoS 1.
    broker = mosquitto_factory(persistent=True)
    url = broker.url_base + "/mida/tasks"
    fleet.ingest(url, pg_db, "a", "--group", "g")
    fleet.ingest(url, pg_db, "b", "--group", "g")
    # Subscribed before anything is published (else it is dropped).
    assert broker.wait_subscribed(["a", "b"], "mida/tasks", "g")
    producers = start_producers(fleet, url, tmp_path / "spool", rate=25_000)
    time.sleep(0.8)
    broker.stop()
    down_at = int(psql(pg_db, "SELECT count(*) FROM task"))
    assert down_at < TOTAL, "the outage came too late"
    time.sleep(2)
    # While the broker is down, the producers go on (never blocked).
    assert all(p.poll() is None or p.returncode == 0 for p in producers)
    # Mosquitto 2.0 does not restore the shared subscriptions of persistent
    # sessions when it restarts (plain ones it does): what is published
    # after its start and before the consumers have subscribed again
    # matches no one and is dropped; the producers (MQTT 5) see it in the
    # PUBACK's reason code, 0x10, and send it again, but the producers are
    # held all the same (SIGSTOP: their journals keep everything) until
    # both consumers are back, so that this test shows what the broker's
    # persistence keeps (docs/multinode.md).
    running = [p for p in producers if p.poll() is None]
    for p in running:
        p.send_signal(signal.SIGSTOP)
    time.sleep(1.5)
    broker.start()
    # on_connect subscribes right after CONNACK: wait for the subscriptions
    # themselves, which a message published before them would miss.
    assert broker.wait_subscribed(["a", "b"], "mida/tasks", "g"), \
        "the consumers did not reconnect and subscribe"
    for p in running:
        p.send_signal(signal.SIGCONT)
    wait_producers(producers)
    assert wait_for_count(pg_db, COMPLETE, TOTAL, 120) == TOTAL
    assert_each_task_once(pg_db)
    assert int(psql(pg_db, "SELECT sum(value) FROM counter"
                           " WHERE name = 'ship_retries'")) > 0


def test_mqtt_foreign_message_and_errors(fleet, pg_db, mosquitto_factory,
                                         mida_bin, produce_bin, tmp_path):
    broker = mosquitto_factory()
    url = broker.url_base + "/mida/mixed"
    c = fleet.ingest(url, pg_db, "a", "--group", "g")
    # Published once the consumer has subscribed (a message before that
    # matches no one and is dropped), and the consumer stopped once it has
    # stored its rejection, not after fixed times, which a loaded machine
    # overran (the message came before the subscription, or after an
    # --idle-exit of 2 s).
    assert broker.wait_subscribed(["a"], "mida/mixed", "g")
    subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-q", "1",
                    "-t", "mida/mixed", "-m", "not mida"], check=True,
                   timeout=60)
    rejected = ("SELECT coalesce(sum(value), 0) FROM counter"
                " WHERE name = 'wire_rejected'")
    assert wait_for_count(pg_db, rejected, 1, 120) == 1
    c.send_signal(signal.SIGINT)
    c.wait(timeout=60)
    log = c.log_path.read_text()
    assert c.returncode == 0, log
    assert "bad magic" in log and "1 message rejected" in log
    assert psql(pg_db, "SELECT value FROM counter"
                       " WHERE name = 'wire_rejected'") == "1"

    r = subprocess.run([mida_bin, "ingest", "--from",
                        "mqtt://127.0.0.1:1/x", "--to", pg_db,
                        "--idle-exit", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot connect to mqtt://127.0.0.1:1" in r.stderr
    assert "gave up after --idle-exit 1 s" in r.stderr
    secured = mosquitto_factory(user="mida", password="right")
    wrong = f"mqtt://mida:wrong@127.0.0.1:{secured.port}/x"
    env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"), MIDA_STORE=wrong)
    r = subprocess.run([produce_bin, "10", "p", "1500"], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "refused the connection" in r.stderr, r.stderr
    assert ":wrong@" not in r.stderr


def test_mqtt_records_published_before_any_consumer_wait_for_one(
        fleet, mosquitto_factory, tmp_path):
    """A producer that starts before the first `mida ingest` of its topic
    (the README's order: producers, then consumers) keeps its records:
    the broker's PUBACK says 0x10, no matching subscribers, the batch
    stays in the journal, and a `mida recover` once a consumer has
    subscribed ships it. Until 2026-12 the producer took that PUBACK for
    a delivery, released the records, and Mosquitto dropped them: all
    lost, with exit status 0."""
    broker = mosquitto_factory()
    url = broker.url_base + "/mida/early"
    spool = tmp_path / "spool"
    env = fleet.env(MIDA_STORE=url, MIDA_SPOOL=str(spool))
    r = subprocess.run([fleet.produce, "20", "early", "300"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert "has no subscriber" in r.stderr, r.stderr
    store = f"sqlite://{tmp_path}/s.db"
    c = fleet.ingest(url, store, "a", "--group", "g")
    assert broker.wait_subscribed(["a"], "mida/early", "g")
    r = subprocess.run([fleet.mida, "recover", "--spool", str(spool)],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    wait_stored_tasks(fleet, store, 20, c)


DENIED_PRODUCER = """
import json, mida
with mida.workflow("denied"):
    pass
for attempt in range(2):
    try:
        print(json.dumps({"flush": mida.flush(20)}))
    except mida.Error as e:
        print(json.dumps({"flush": str(e)}))
print(json.dumps(mida.stats()))
"""


def test_mqtt_publish_denied_by_the_acl_is_counted_and_reported_once(
        fleet, mosquitto_factory, tmp_path):
    # The user may read the topic but not write it: under MQTT 3.1.1
    # Mosquitto acknowledges such a publish and drops it without a word.
    # (MIDA_STRICT=1: a failed flush raises, with the message.)
    broker = mosquitto_factory(user="mida", password="pw",
                               acl=["user mida", "topic read mida/#"])
    pydir = pathlib.Path(__file__).resolve().parents[2] / "build" / "python"
    env = fleet.env(MIDA_STORE=broker.url_base + "/mida/denied",
                    MIDA_SPOOL=str(tmp_path / "spool"),
                    MIDA_SAMPLE_HZ="0", MIDA_STRICT="1",
                    PYTHONPATH=str(pydir))
    r = subprocess.run([sys.executable, "-c", DENIED_PRODUCER], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = [json.loads(line) for line in r.stdout.splitlines()]
    first, second, stats = out[0]["flush"], out[1]["flush"], out[2]
    assert "not authorized" in first.lower(), first
    assert "dropped and counted" in first, first
    assert ":pw@" not in first
    assert second is True, (first, second)  # said once
    assert stats["dropped"] >= 2, stats  # the workflow's begin and end


@pytest.mark.parametrize("group", ["a/b", "g+", "#"])
def test_mqtt_group_that_cannot_name_a_shared_subscription_is_refused(
        fleet, mosquitto_factory, tmp_path, group):
    """A group of no shared subscription ($share/<group>/<topic>: a group
    holds no '/', '+' or '#' and is not empty, which `mida ingest` checks
    for every broker) is an error of `mida ingest`. Until 2026-12 the consumer subscribed to another topic ('a/b':
    group a, topic b/<topic>) or to nothing, and ran on, applying nothing,
    while the broker acknowledged the producers' records and dropped
    them: all lost, without a word."""
    broker = mosquitto_factory()
    r = subprocess.run([fleet.mida, "ingest", "--from",
                        broker.url_base + "/mida/t", "--to",
                        f"sqlite://{tmp_path}/s.db", "--group", group,
                        "--idle-exit", "1"], env=fleet.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    assert f"group '{group}'" in r.stderr, r.stderr


def test_mqtt_topic_with_a_wildcard_is_an_error_where_it_cannot_work(
        fleet, mosquitto_factory, tmp_path):
    """A producer cannot publish to a topic with a wildcard: its URL is
    an error of mida_open, as a malformed URL is (until 2026-12 the
    session opened and every flush failed on "Invalid function arguments
    provided", the records kept for ever). A consumer may subscribe to
    one ('mida/+'), but not to a filter that MQTT refuses ('a+b', where
    it consumed nothing, without a word)."""
    broker = mosquitto_factory()
    for topic in ["mida/+", "a+b"]:
        env = fleet.env(MIDA_SPOOL=str(tmp_path / "spool"),
                        MIDA_STORE=f"{broker.url_base}/{topic}")
        r = subprocess.run([fleet.produce, "10", "w", "1500"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert "cannot open" in r.stderr and "wildcard" in r.stderr, r.stderr
    r = subprocess.run([fleet.mida, "ingest", "--from",
                        broker.url_base + "/a+b", "--to",
                        f"sqlite://{tmp_path}/s.db", "--idle-exit", "1"],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stderr
    assert "a+b" in r.stderr, r.stderr
    r = subprocess.run([fleet.mida, "ingest", "--from",
                        broker.url_base + "/mida/+", "--to",
                        f"sqlite://{tmp_path}/s.db", "--idle-exit", "1"],
                       env=fleet.env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr

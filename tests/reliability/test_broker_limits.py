"""A record larger than a broker takes in one message (NATS's max_payload,
1 MiB by default; Mosquitto's message_size_limit) is left out and
counted, and every other record of its process reaches the store
(docs/reliability.md). Until 2026-12-06 NATS failed the whole batch on it
for ever: not one record of the process, before or after it, left its
journal, and `mida recover` failed the same way; MQTT dropped every
record of the message that carried it, and said to check the ACL."""

import json
import subprocess

from reliability_support import (MIDA_BIN, producer_env, run_producer)
from multinode_support import mosquitto_factory, nats_factory  # noqa: F401

# Five tasks, the third returning 2 MB of text (the caps raised so that
# the binding keeps it): its end record cannot go in one NATS message.
BIG_RESULT = """
import json, mida
mida.configure(max_str=3_000_000, max_bytes=4_000_000)

@mida.task
def step(i):
    return {"blob": "x" * 2_000_000} if i == 2 else {"i": i}

with mida.workflow("big-result"):
    for i in range(5):
        step(i)
first = mida.flush(20)
second = mida.flush(20)
print(json.dumps({"first": first, "second": second, "stats": mida.stats()}))
"""


def ingest_until_idle(source, store):
    r = subprocess.run([MIDA_BIN, "ingest", "--from", source, "--to", store,
                        "--name", "a", "--idle-exit", "3", "--quiet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def produce_the_big_result(source, spool):
    """Runs BIG_RESULT into source: one record left out, said once."""
    rc, out, err = run_producer(BIG_RESULT, producer_env(source, spool))
    assert rc == 0, err
    stats = out["stats"]
    # The big record is left out and said once (flush False, then True);
    # the other records are all published, none waits in the journal.
    assert stats["refused"] == 1, (stats, err)
    assert stats["backlog_bytes"] == 0, stats
    assert stats["dropped"] == 0, stats
    assert out["first"] is False and out["second"] is True, out


def query(store, sql):
    r = subprocess.run([MIDA_BIN, "--store", store, "query", "--json", sql],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_a_record_over_natss_max_payload_is_counted_not_fatal(
        tmp_path, nats_factory):
    nats = nats_factory()
    source = nats.url_base + "/walk.big"
    produce_the_big_result(source, tmp_path / "spool")
    store = f"sqlite://{tmp_path}/m.db"
    ingest_until_idle(source, store)
    assert_all_but_the_big_record(store)


def assert_all_but_the_big_record(store):
    tasks = query(store, "SELECT status, count(*) AS n FROM task"
                         " GROUP BY status ORDER BY status")
    # The task whose end was left out stays RUNNING; the four others end.
    assert tasks == [{"status": "FINISHED", "n": 4},
                     {"status": "RUNNING", "n": 1}], tasks
    wf = query(store, "SELECT status FROM workflow")
    assert wf == [{"status": "FINISHED"}], wf
    refused = query(store, "SELECT sum(value) AS n FROM counter"
                           " WHERE name = 'refused'")
    assert refused == [{"n": 1}], refused


def test_a_record_over_mosquittos_size_limit_leaves_the_others_alone(
        tmp_path, mosquitto_factory):
    broker = mosquitto_factory(conf=["message_size_limit 1000000"])
    source = broker.url_base + "/walk/big"
    store = f"sqlite://{tmp_path}/m.db"
    # MQTT keeps messages for the subscriptions there are: the consumer
    # subscribes before anything is published.
    ingest = subprocess.Popen([MIDA_BIN, "ingest", "--from", source, "--to",
                               store, "--name", "a", "--idle-exit", "5",
                               "--quiet"], stderr=subprocess.PIPE, text=True)
    try:
        assert broker.wait_subscribed(["a"], "walk/big", "mida")
        produce_the_big_result(source, tmp_path / "spool")
        _, err = ingest.communicate(timeout=120)
        assert ingest.returncode == 0, err
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    assert_all_but_the_big_record(store)

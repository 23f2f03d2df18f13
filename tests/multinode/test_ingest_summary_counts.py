"""mida ingest's closing summary makes each count agree with its noun: a
stream of one message holding one record reads "1 record from 1 message
applied, 0 messages rejected", not "1 records from 1 messages applied";
one foreign message more reads "1 message rejected". The messages applied
are those that were: a round of one record and one foreign message is
"1 record from 1 message applied, 1 message rejected", so that the two
counts add up to what was taken (it said "from 2 messages applied")."""

import subprocess
import time
import uuid

import mida_wire as wire


def test_ingest_summary_says_one_record_and_one_message(fleet, redis_factory,
                                                        tmp_path):
    redis = redis_factory()
    url = redis.url_base + "/one"
    store = f"sqlite://{tmp_path / 'one.db'}"
    now = time.time_ns()
    one = wire.message([(wire.REC_TASK, wire.task_record(
        str(uuid.uuid4()), "x", now, now + 1000))])
    # The second consumer of the group reads only what the first left: the
    # foreign message and another record.
    for name, messages, said in (
            ("a", [one], "1 record from 1 message applied, 0 messages "
                         "rejected"),
            ("b", [b"hello, not mida at all", one],
             "1 record from 1 message applied, 1 message rejected")):
        for m in messages:
            subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                            "one", "*", "d"], input=m, check=True,
                           capture_output=True)
        c = fleet.ingest(url, store, name, "--group", "g", "--idle-exit", "2")
        c.wait(timeout=60)
        log = c.log_path.read_text()
        assert c.returncode == 0, log
        assert f"mida ingest: {said}\n" in log, log

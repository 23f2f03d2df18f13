"""`mida show TASK` sums up the telemetry samples taken while the task ran
(the largest CPU % and resident memory, by scope). One sample it could not
read failed the whole verb after the task's fields: "mida: show:
malformed JSON" on an SQLite store holding a sample that is not JSON (its
column is unchecked text: a row written by hand or by another tool), and
on PostgreSQL "invalid input syntax for type numeric" for a sample whose
cpu_pct is not a number. Such a sample is counted and adds no value; the
sections after it (inputs, outputs, lineage) still print."""

import json
import sqlite3

import pytest

import mida_cli_store as fx
from pg_database import store_as

# In T_LOAD's run (node1, pid 100, from T0 + 1 s to T0 + 2 s).
START = fx.T0 + fx.SEC
GOOD = {"cpu_pct": 40.5, "rss_kb": 4096}


def make_store(path, odd):
    fx.make_store(str(path))
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO telemetry VALUES ('node1', 100, ?, NULL,"
                   " NULL, ?)", [(START + 1, json.dumps(GOOD)),
                                 (START + 2, odd)])
    db.commit()
    db.close()


def samples_section(out):
    table = out.split("telemetry samples while it ran\n")[1]
    return table.split("inputs (data used)")[0]


def check_show(run, store):
    r = run("show", fx.T_LOAD, store_path=store)
    assert r.returncode == 0, r.stderr
    assert "downstream (one hop)" in r.stdout, r.stdout
    rows = [line.split() for line in samples_section(r.stdout).splitlines()]
    assert ["process", "2", "40.5", "4096"] in rows, r.stdout


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_show_reads_past_a_sample_value_that_is_not_a_number(run, tmp_path,
                                                             kind):
    path = tmp_path / "odd.db"
    make_store(path, '{"cpu_pct": "high", "rss_kb": true}')
    with store_as(kind, path, "mida_odd_sample", tmp_path / "spool") as url:
        check_show(run, url)


@pytest.mark.parametrize("odd", ['{"cpu_pct": 1', "not json", "[1, 2]"])
def test_show_reads_past_a_sample_that_is_not_json(run, tmp_path, odd):
    path = tmp_path / "malformed.db"
    make_store(path, odd)
    check_show(run, str(path))

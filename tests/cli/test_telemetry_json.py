"""`mida telemetry --json` gives each sample as a nested JSON object, so
that `jq '.[].sample.cpu_pct'` reaches into it; it gave the sample as a
string holding JSON text. A sample that is not a JSON object (an array
here; the stores keep only checked JSON, and the verb's SQL reads the
sample with the store's JSON functions) stays a string, as it is stored.
--csv is unchanged: the sample's text in one field.

One sample the verb cannot read must not fail the whole listing: a
scalar sample (42 stayed a JSON number in --json), a sample whose
headline values are not numbers (PostgreSQL failed the query on
"cpu_pct": "high"; SQLite showed it as 0.0) and, on SQLite, where a
sample is stored as text, a sample that is not JSON at all ("malformed
JSON" failed the query after the rows before it)."""

import csv
import io
import json
import sqlite3

import pytest

import mida_cli_store as fx
from pg_database import store_as

SAMPLE = {"cpu_pct": 12.5, "rss_kb": 2048, "gpu": [{"util_pct": 7}]}
# pid -> a sample that is JSON but not one the sampler writes.
ODD = {102: '"x"', 103: "42", 104: '{"cpu_pct": "high", "rss_kb": true}'}


@pytest.fixture(params=["sqlite", "postgresql"])
def samples_store(request, tmp_path):
    """The fixture store and three samples, as an SQLite file or copied
    into PostgreSQL."""
    path = tmp_path / "samples.db"
    fx.make_store(str(path))
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO telemetry VALUES ('node1', ?, ?, NULL, NULL,"
                   " ?)", [(100, fx.T0, json.dumps(SAMPLE)),
                           (101, fx.T0 + 1, "[1, 2]")] +
                   [(pid, fx.T0 + pid, text) for pid, text in ODD.items()])
    db.commit()
    db.close()
    with store_as(request.param, path, "mida_samples",
                  tmp_path / "spool") as url:
        yield url


def test_telemetry_json_nests_the_sample(run, samples_store):
    r = run("telemetry", "--json", store_path=samples_store)
    assert r.returncode == 0, r.stderr
    rows = {s["pid"]: s for s in json.loads(r.stdout)}
    sample = rows[100]["sample"]
    assert isinstance(sample, dict), sample
    assert sample == SAMPLE
    assert sample["gpu"][0]["util_pct"] == 7
    assert rows[101]["sample"] == "[1, 2]"
    assert rows[102]["sample"] == '"x"'
    assert rows[103]["sample"] == "42"
    assert rows[104]["sample"] == json.loads(ODD[104])
    for pid in ODD:
        assert rows[pid]["cpu_pct"] is None and rows[pid]["mem_kb"] is None


def test_telemetry_csv_keeps_the_sample_text(run, samples_store):
    r = run("telemetry", "--csv", store_path=samples_store)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert json.loads(rows[0]["sample"]) == SAMPLE
    assert rows[1]["sample"] == "[1, 2]"
    odd = {int(row["pid"]): row for row in rows[2:]}
    assert sorted(odd) == sorted(ODD)
    for pid, text in ODD.items():
        assert json.loads(odd[pid]["sample"]) == json.loads(text)
        assert odd[pid]["cpu_pct"] == "" and odd[pid]["mem_kb"] == ""


def test_telemetry_table_lists_every_sample(run, samples_store):
    r = run("telemetry", store_path=samples_store)
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()[2:]]
    assert [cells[2] for cells in lines] == ["100", "101", "102", "103",
                                             "104"]
    assert lines[0][4:6] == ["12.5", "2048"]  # not 2048.0


# Samples an SQLite store can hold, written by hand or by another tool:
# its telemetry column is text, unchecked.
MALFORMED = ['{"cpu_pct": 1', "not json", ""]


@pytest.fixture
def malformed_store(tmp_path):
    path = tmp_path / "malformed.db"
    fx.make_store(str(path))
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO telemetry VALUES ('node1', ?, ?, NULL, NULL,"
                   " ?)", [(100, fx.T0, json.dumps(SAMPLE))] +
                   [(101 + i, fx.T0 + 1 + i, text)
                    for i, text in enumerate(MALFORMED)] +
                   [(200, fx.T0 + 9, json.dumps(SAMPLE))])
    db.commit()
    db.close()
    return str(path)


def test_telemetry_json_gives_a_malformed_sample_as_a_string(
        run, malformed_store):
    r = run("telemetry", "--json", store_path=malformed_store)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [s["pid"] for s in rows] == [100, 101, 102, 103, 200]
    assert [s["sample"] for s in rows[1:4]] == MALFORMED
    assert rows[0]["sample"] == rows[4]["sample"] == SAMPLE
    assert rows[4]["cpu_pct"] == 12.5 and rows[4]["mem_kb"] == 2048


def test_telemetry_csv_and_table_survive_a_malformed_sample(
        run, malformed_store):
    r = run("telemetry", "--csv", store_path=malformed_store)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert [row["sample"] for row in rows[1:4]] == MALFORMED
    assert [row["pid"] for row in rows] == ["100", "101", "102", "103",
                                            "200"]
    r = run("telemetry", store_path=malformed_store)
    assert r.returncode == 0, r.stderr
    assert "not json" in r.stdout
    assert r.stdout.splitlines()[-1].split()[2] == "200"

"""`mida telemetry --json` gives each sample as a nested JSON object, so
that `jq '.[].sample.cpu_pct'` reaches into it; it gave the sample as a
string holding JSON text. A sample that is not a JSON object (an array
here; the stores keep only checked JSON, and the verb's SQL reads the
sample with the store's JSON functions) stays a string, as it is stored.
--csv is unchanged: the sample's text in one field."""

import csv
import io
import json
import sqlite3

import pytest

import mida_cli_store as fx
from pg_database import store_as

SAMPLE = {"cpu_pct": 12.5, "rss_kb": 2048, "gpu": [{"util_pct": 7}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def samples_store(request, tmp_path):
    """The fixture store and three samples, as an SQLite file or copied
    into PostgreSQL."""
    path = tmp_path / "samples.db"
    fx.make_store(str(path))
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO telemetry VALUES ('node1', ?, ?, NULL, NULL,"
                   " ?)", [(100, fx.T0, json.dumps(SAMPLE)),
                           (101, fx.T0 + 1, "[1, 2]")])
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


def test_telemetry_csv_keeps_the_sample_text(run, samples_store):
    r = run("telemetry", "--csv", store_path=samples_store)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout, newline="")))
    assert json.loads(rows[0]["sample"]) == SAMPLE
    assert [row["sample"] for row in rows[1:]] == ["[1, 2]"]

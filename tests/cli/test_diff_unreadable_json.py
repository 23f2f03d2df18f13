"""`mida diff WF_A WF_B` of two workflows when one task's used or telemetry
is not a JSON object: on SQLite text that is not JSON at all (set with
sqlite3), on PostgreSQL a JSON array, number or string (jsonb keeps only
JSON, but any JSON). The whole diff failed: "mida: diff: malformed JSON"
(SQLite's json_each) or "cannot call jsonb_each on a non-object"
(PostgreSQL). Now the other tasks' keys are compared as before, and the
value that is not an object is shown whole, as the task diff shows it:
under the task's activity among the parameters, under "value" among the
resources (docs/cli.md)."""

import json
import sqlite3

import pytest

import mida_cli_store as fx
from pg_database import store_as
from multinode_support import psql  # noqa: E402 (pg_database's path)

# (store, the bad used and telemetry as stored, as mida prints them back)
CASES = [("sqlite", '{"lr": 0.01', '{"lr": 0.01'),
         ("sqlite", "[1, 2]", "[1, 2]"),
         ("postgresql", "[1, 2]", "[1, 2]"),
         ("postgresql", '"s"', '"s"')]


@pytest.fixture(params=CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def bad_store(request, tmp_path):
    """(store URL, the bad value as printed): the fixture store with load's
    used and telemetry the bad value, clean's and fit's telemetry
    objects."""
    kind, bad, shown = request.param
    path = tmp_path / "s.db"
    fx.make_store(str(path))
    db = sqlite3.connect(path)
    db.execute("UPDATE task SET telemetry = '{\"utime_s\": 2}'"
               " WHERE id = ?", (fx.T_CLEAN,))
    db.execute("UPDATE task SET telemetry = '{\"utime_s\": 3}'"
               " WHERE id = ?", (fx.T_FIT,))
    if kind == "sqlite":
        db.execute("UPDATE task SET used = ?1, telemetry = ?1 WHERE id = ?2",
                   (bad, fx.T_LOAD))
    db.commit()
    db.close()
    with store_as(kind, path, "mida_diff_bad", tmp_path / "spool") as url:
        if kind == "postgresql":
            literal = bad.replace("'", "''")
            psql(url, f"UPDATE task SET used = '{literal}',"
                      f" telemetry = '{literal}' WHERE id = '{fx.T_LOAD}'")
        yield url, shown


def test_workflow_diff_shows_the_other_keys(run, bad_store):
    url, shown = bad_store
    r = run("diff", fx.WF_PREP, fx.WF_TRAIN, "--json", store_path=url)
    assert r.returncode == 0, r.stderr
    rows = {(x["section"], x["key"]): x for x in json.loads(r.stdout)["rows"]}
    assert rows[("parameter", "clean.threshold")]["a"] == "0.5"
    assert rows[("parameter", "fit.lr")]["b"] == "0.01"
    assert rows[("parameter", "load")]["a"] == shown
    assert not [k for s, k in rows if k.startswith("load.")]
    assert rows[("resource", "utime_s")]["a"] == "2"
    assert rows[("resource", "utime_s")]["b"] == "3"
    assert rows[("resource", "value")]["a"] == shown
    assert rows[("resource", "value")]["b"] is None  # train has none
    text = run("diff", fx.WF_PREP, fx.WF_TRAIN, store_path=url)
    assert text.returncode == 0, text.stderr
    assert "fit.lr" in text.stdout

"""Every verb prints one instant as the same time.

`mida diff` and the exports (PROV, RO-Crate, OpenLineage) cut a
nanosecond time to the millisecond below it, as PostgreSQL's store prints
it too; `mida show`, `mida tasks`, `mida workflows` and `mida telemetry`
on an SQLite store took SQLite's strftime of the seconds, which rounds to
the nearest millisecond. A task that began at 22:13:20.9996 was
`22:13:21.000Z` in `mida show` and `22:13:21Z` in `mida tasks`, but
`22:13:20.999Z` in `mida diff` and the exports: a new user comparing them
saw two times, a second apart in the list. The same rows copied into
PostgreSQL print the same text."""

import json
import sqlite3

import pytest

import mida_cli_store as fx
from pg_database import store_as
from multinode_support import psql  # noqa: E402 (pg_database's path)

# 0.4 ms before a whole second: rounding and cutting disagree on the second.
LATE = fx.SEC - 400_000
# 0.4 us before one: rounding to the microsecond first (PostgreSQL's
# to_timestamp) and cutting disagree too.
LATER = fx.SEC - 400


def late_store(path):
    fx.make_store(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE task SET started = ?, ended = ? WHERE id = ?",
               (fx.T0 + LATE, fx.T0 + fx.SEC + LATE, fx.T_LOAD))
    db.execute("UPDATE workflow SET started = ?, ended = ? WHERE id = ?",
               (fx.T0 - fx.SEC + LATE, fx.T0 + 9 * fx.SEC + LATER,
                fx.WF_PREP))
    db.execute("INSERT INTO telemetry VALUES ('node1', 100, ?, ?, NULL,"
               " '{\"rss_kb\": 1}')", (fx.T0 + LATE, fx.WF_PREP))
    db.commit()
    db.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def late(request, tmp_path):
    """The late store, as an SQLite file or copied into PostgreSQL."""
    lite = tmp_path / "late.db"
    late_store(str(lite))
    with store_as(request.param, lite, "mida_times",
                  tmp_path / "spool") as url:
        yield url


def field(text, name):
    """The value of a `name  value` line of `mida show`."""
    for line in text.splitlines():
        if line.split(None, 1)[:1] == [name]:
            return line.split(None, 1)[1].strip()
    raise AssertionError(f"no {name} line in:\n{text}")


def test_show_list_telemetry_diff_and_export_print_one_time(run, late):
    def ok(*args):
        r = run(*args, store_path=late)
        assert r.returncode == 0, r.stderr
        return r.stdout

    started, ended = "2023-11-14T22:13:20.999Z", "2023-11-14T22:13:21.999Z"
    wf_started = "2023-11-14T22:13:19.999Z"

    show = ok("show", fx.T_LOAD)
    assert (field(show, "started"), field(show, "ended")) == (started, ended)
    assert field(ok("show", fx.WF_PREP), "started") == wf_started

    tasks = {t["id"]: t for t in json.loads(ok("tasks", "--json"))}
    assert tasks[fx.T_LOAD]["started"] == "2023-11-14T22:13:20Z"
    workflows = {w["id"]: w for w in json.loads(ok("workflows", "--json"))}
    assert workflows[fx.WF_PREP]["started"] == "2023-11-14T22:13:19Z"

    samples = json.loads(ok("telemetry", "--json"))
    assert [s["time"] for s in samples] == [started]

    rows = json.loads(ok("diff", fx.T_LOAD, fx.T_CLEAN, "--json"))["rows"]
    times = {r["key"]: r["a"] for r in rows if r["section"] == "run"}
    assert (times["started"], times["ended"]) == (started, ended)

    events = [json.loads(line) for line in
              ok("export", "openlineage", "--workflow",
                 fx.WF_PREP).splitlines()]
    load = [e["eventTime"] for e in events
            if e["job"]["name"].endswith("load")]
    assert sorted(load) == [started, ended], load


# The times of T_LOAD and WF_PREP as every verb prints them.
CUT = {"task_started": "2023-11-14T22:13:20.999Z",
       "task_ended": "2023-11-14T22:13:21.999Z",
       "wf_started": "2023-11-14T22:13:19.999Z",
       "wf_ended": "2023-11-14T22:13:29.999Z"}


def view_times(run, store):
    """The times of T_LOAD in task_v and of WF_PREP in workflow_v, keyed
    as CUT."""
    r = run("query", "--json",
            "SELECT t.started AS task_started, t.ended AS task_ended,"
            " w.started AS wf_started, w.ended AS wf_ended"
            f" FROM task_v t, workflow_v w WHERE t.id = '{fx.T_LOAD}'"
            f" AND w.id = '{fx.WF_PREP}'", store_path=store)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def test_views_print_the_time_the_verbs_print(run, late):
    """The views task_v and workflow_v print started and ended as the verbs
    do, cut to the millisecond below: SQLite's view rounded a task begun at
    20.9996 s to 21.000, where `mida show` says 20.999, and PostgreSQL's a
    workflow ended at 29.9999996 s to 30.000. (The SQLite fixture is made
    from the schema's tables alone: a writer's open, here `mida recover
    --settle`, makes the views.)"""
    r = run("recover", "--settle", store_path=late)
    assert r.returncode == 0, r.stderr
    assert view_times(run, late) == CUT
    r = run("show", fx.WF_PREP, store_path=late)
    assert field(r.stdout, "ended") == CUT["wf_ended"]


def put_back_version_16_views(store):
    """Makes store's views what schema version 16 made (the times as
    seconds with a fraction, which each store's strftime rounds) and its
    version 16."""
    pg = store.startswith("postgresql:")
    times = ("{fn}('%Y-%m-%dT%H:%M:%fZ', started / 1e9, 'unixepoch') AS"
             " started, {fn}('%Y-%m-%dT%H:%M:%fZ', ended / 1e9, 'unixepoch')"
             " AS ended, (ended - started) / 1e9 AS duration_s").format(
                 fn="mida.strftime" if pg else "strftime")
    sql = ("CREATE OR REPLACE VIEW task_v AS SELECT id, workflow_id,"
           f" campaign_id, parent_id, activity, status, {times}, host, pid,"
           " worker, source_key, used, generated, custom, error, telemetry,"
           " attempts FROM task;"
           " CREATE OR REPLACE VIEW workflow_v AS SELECT id, campaign_id,"
           f" parent_id, name, source, \"user\", host, pid, status, {times},"
           " metadata FROM workflow;"
           " UPDATE mida_meta SET value = '16' WHERE key = 'schema_version';")
    if pg:
        psql(store, sql)
        return
    db = sqlite3.connect(store)
    db.executescript("DROP VIEW task_v; DROP VIEW workflow_v;" +
                     sql.replace("CREATE OR REPLACE", "CREATE") +
                     " PRAGMA user_version = 0;")
    db.close()


def test_a_version_16_store_gets_views_that_cut(run, late):
    """A store made by version 16 of the schema, whose views round, gets
    the views that cut when a writer opens it, on either store."""
    assert run("recover", "--settle", store_path=late).returncode == 0
    put_back_version_16_views(late)
    # What version 16 printed: SQLite rounds to the millisecond, PostgreSQL
    # to the microsecond first.
    assert view_times(run, late)["wf_ended"] == "2023-11-14T22:13:30.000Z"
    r = run("recover", "--settle", store_path=late)
    assert r.returncode == 0, r.stderr
    assert view_times(run, late) == CUT

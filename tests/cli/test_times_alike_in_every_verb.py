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

# 0.4 ms before a whole second: rounding and cutting disagree on the second.
LATE = fx.SEC - 400_000


def late_store(path):
    fx.make_store(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE task SET started = ?, ended = ? WHERE id = ?",
               (fx.T0 + LATE, fx.T0 + fx.SEC + LATE, fx.T_LOAD))
    db.execute("UPDATE workflow SET started = ? WHERE id = ?",
               (fx.T0 - fx.SEC + LATE, fx.WF_PREP))
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

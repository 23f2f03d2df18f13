"""The JSON API of `mida serve` on the fixture store of the CLI tests
(tests/cli/mida_cli_store.py): what each endpoint answers, and that SQLite
and PostgreSQL holding the same rows answer every request the same."""

import json
import os
import sqlite3
import time
import urllib.parse

import pytest

import mida_cli_store as fx
from serve_support import copy_sqlite_to_postgres, psql


@pytest.fixture
def both(lite, pg_db, produce_bin, fleet, tmp_path, serve):
    """A server on the SQLite fixture and one on its PostgreSQL copy."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    return serve(lite), serve(pg_db)


def q(s):
    return urllib.parse.quote(s, safe="")


# Every endpoint that reads the store, with the parameters the dashboard
# uses; each must give the same answer on both stores.
TARGETS = [
    "/api/stats",
    "/api/counters",
    "/api/campaigns",
    f"/api/campaigns/{fx.CAMPAIGN}",
    "/api/workflows",
    "/api/workflows?sort=name&limit=1",
    f"/api/workflows?campaign={fx.CAMPAIGN}&status=RUNNING",
    f"/api/workflows/{fx.WF_TRAIN}",
    f"/api/workflows/{fx.WF_TRAIN}/graph",
    f"/api/workflows/{fx.WF_PREP}/graph",
    "/api/tasks",
    "/api/tasks?sort=started&limit=2",
    f"/api/tasks?sort=started&limit=2&after={fx.T_CLEAN}",
    "/api/tasks?sort=-duration",
    "/api/tasks?status=ERROR",
    f"/api/tasks?workflow={fx.WF_TRAIN}&sort=activity",
    "/api/tasks?activity=fit.epoch",
    "/api/tasks?where=" + q("used.lr>0.001"),
    "/api/tasks?where=" + q("used.threshold<=0.5") + "&where="
    + q("used.drop=nulls"),
    "/api/tasks?where=" + q("generated.loss!=1"),
    "/api/tasks?where=custom.tag",
    f"/api/tasks?since={fx.T0 + 21 * fx.SEC}&until={fx.T0 + 40 * fx.SEC}",
    f"/api/tasks?parent={fx.T_FIT}",
    f"/api/tasks/{fx.T_FIT}",
    f"/api/tasks/{fx.T_LOAD}",
    f"/api/lineage?id={fx.T_CLEAN}",
    f"/api/lineage?id={fx.T_CLEAN}&direction=up&depth=1",
    "/api/lineage?id=" + q(fx.D_RAW),
    f"/api/lineage?id={fx.T_LOAD}&direction=down&max_nodes=3",
    f"/api/metrics?task={fx.T_FIT}&key=loss",
    f"/api/metrics?task={fx.T_FIT}&key=loss&key=acc&x=time",
    f"/api/metrics?task={fx.T_FIT}&key=loss&points=2",
    f"/api/metrics?task={fx.T_FIT}&key=loss&points=2&x=time",
    "/api/telemetry/sources",
    f"/api/diff?a={fx.T_LOAD}&b={fx.T_FIT}",
    f"/api/telemetry?task={fx.T_FIT}",
    "/api/sql?q=" + q("SELECT activity, status FROM task ORDER BY id"),
    "/api/sql?q=" + q("SELECT count(*) AS n FROM metric") + "&format=csv",
]


def test_stats_stop_at_a_bound_on_both_stores(lite, pg_db, produce_bin, fleet,
                                             tmp_path, serve):
    # /api/stats reads at most 10,000 rows a count (src/sink/counts.h)
    # and names the counts that reached it, on either store.
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    fill = ("INSERT INTO telemetry(host, pid, ts) SELECT 'h', 1, n FROM"
            " (WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1"
            " FROM i WHERE n < 10001) SELECT n FROM i) x")
    con = sqlite3.connect(lite)
    con.execute(fill)
    con.commit()
    con.close()
    psql(pg_db, fill)
    for srv in (serve(lite), serve(pg_db)):
        status, _, body = srv.request("/api/stats")
        assert status == 200, body
        s = json.loads(body)
        assert s["exact"] is False and s["at_least"] == ["telemetry"]
        assert s["rows"]["telemetry"] == 10000
        assert s["rows"]["task"] == 5
        assert {x["status"]: x["tasks"] for x in s["tasks_by_status"]} == {
            "ERROR": 1, "FINISHED": 3, "RUNNING": 1}
        assert {x["name"]: x["value"] for x in s["counters"]} == {
            "corrupt": 1, "dropped": 5}
        status, _, body = srv.request("/api/stats?exact=true")
        assert status == 200, body
        s = json.loads(body)
        assert s["exact"] is True and s["at_least"] == []
        assert s["rows"]["telemetry"] == 10001
        status, _, body = srv.request("/api/stats?exact=yes")
        assert status == 400 and b"exact" in body, body


def test_every_endpoint_answers_the_same_on_both_stores(both):
    lite, pg = both
    for target in TARGETS:
        s1, h1, b1 = lite.request(target)
        s2, h2, b2 = pg.request(target)
        assert s1 == 200, (target, b1)
        assert s2 == 200, (target, b2)
        if h1["content-type"].startswith("application/json"):
            assert json.loads(b1) == json.loads(b2), target
        else:
            assert b1 == b2, target


def test_lists_filters_and_details(serve, lite):
    s = serve(lite)
    st, body = s.get_json("/api/workflows")
    assert st == 200
    train = [w for w in body["items"] if w["id"] == fx.WF_TRAIN][0]
    assert (train["tasks"], train["running_tasks"], train["error_tasks"],
            train["finished_tasks"]) == (3, 1, 1, 1)
    st, body = s.get_json("/api/tasks?where=" + q("used.lr>0.001"))
    assert [t["id"] for t in body["items"]] == [fx.T_FIT]
    st, body = s.get_json("/api/tasks?where=" + q("used.lr>0.5"))
    assert body["items"] == []
    # Keyset pages cover every task once, in order.
    seen, after = [], None
    while True:
        target = "/api/tasks?sort=started&limit=2" + (
            f"&after={after}" if after else "")
        st, body = s.get_json(target)
        seen += [t["id"] for t in body["items"]]
        after = body["next"]
        if after is None:
            break
    assert seen == [fx.T_LOAD, fx.T_CLEAN, fx.T_FIT, fx.T_EPOCH, fx.T_EVAL]
    st, t = s.get_json(f"/api/tasks/{fx.T_FIT}")
    assert t["task"]["error"] == "CUDA out of memory"
    assert t["task"]["used"] == {"lr": 0.01, "epochs": 3}
    assert {d["role"] for d in t["data"]} == {"used", "generated"}
    assert [c["id"] for c in t["children"]] == [fx.T_EPOCH]
    assert [d["id"] for d in t["downstream"]] == [fx.T_EVAL]
    assert {m["key"]: m["points"] for m in t["metrics"]} == {"loss": 3,
                                                             "acc": 1}
    st, g = s.get_json(f"/api/workflows/{fx.WF_TRAIN}/graph")
    assert len(g["nodes"]) == 3
    assert {(e["from"], e["to"], e["kind"]) for e in g["edges"]} == {
        (fx.T_FIT, fx.T_EVAL, "dep"), (fx.T_FIT, fx.T_EPOCH, "parent"),
        (fx.T_FIT, fx.T_EVAL, "data")}
    st, lin = s.get_json(f"/api/lineage?id={fx.T_EVAL}&direction=up")
    ids = {n["id"] for n in lin["nodes"]}
    # Across workflows: evaluate <- model <- fit <- clean data <- clean.
    assert {fx.T_EVAL, fx.D_MODEL, fx.T_FIT, fx.D_CLEAN, fx.T_CLEAN,
            fx.D_RAW, fx.T_LOAD, fx.D_SRC} <= ids
    st, m = s.get_json(f"/api/metrics?task={fx.T_FIT}&key=loss")
    assert [(p["step"], p["value"]) for p in m["series"][0]["points"]] == [
        (0, 0.9), (1, 0.5), (2, 0.25)]
    st, m = s.get_json(f"/api/metrics?task={fx.T_FIT}&key=loss&points=2")
    series = m["series"][0]
    assert series["downsampled"] is True
    assert min(b["lo"] for b in series["buckets"]) == 0.25
    assert max(b["hi"] for b in series["buckets"]) == 0.9
    assert sum(b["n"] for b in series["buckets"]) == 3
    st, m = s.get_json(f"/api/metrics?task={fx.T_FIT}&key=loss&points=2"
                       "&x=time")
    series = m["series"][0]
    assert series["downsampled"] is True
    assert [(b["x0"], b["x1"], b["lo"], b["hi"], b["n"])
            for b in series["buckets"]] == [
        (fx.T0 + 22 * fx.SEC, fx.T0 + 24 * fx.SEC, 0.25, 0.9, 3)]


def test_reports(both):
    lite, pg = both
    for s in both:
        st, d = s.get_json(f"/api/diff?a={fx.T_LOAD}&b={fx.T_FIT}")
        assert st == 200
        rows = {(r["section"], r["key"]): r for r in d["rows"]}
        assert rows[("parameter", "lr")]["b"] == "0.01"
        assert s.get_json("/api/diff?a=nope&b=nope")[0] == 404
        st, prov = s.get_json(f"/api/prov?workflow={fx.WF_TRAIN}")
        assert st == 200 and "activity" in prov and "entity" in prov
    # The same PROV document from both stores (its JSON strings aside, whose
    # keys jsonb orders its own way).
    p1 = lite.get_json("/api/prov")[1]
    p2 = pg.get_json("/api/prov")[1]
    assert {k: sorted(v) for k, v in p1.items()} == {
        k: sorted(v) for k, v in p2.items()}


def test_diff_of_workflows_shows_a_used_that_is_no_object(both, lite,
                                                           pg_db):
    # The compare view (/api/diff, src/report/diff.c) of two workflows,
    # one task's used text that is not JSON (SQLite) or a JSON array
    # (PostgreSQL): the other keys compared, that one shown whole. Both
    # answered 500, "malformed JSON" and "cannot call jsonb_each on a
    # non-object" (tests/cli/test_diff_unreadable_json.py).
    con = sqlite3.connect(lite)
    con.execute("UPDATE task SET used = '{\"n\": 1' WHERE id = ?",
                (fx.T_LOAD,))
    con.commit()
    con.close()
    psql(pg_db, f"UPDATE task SET used = '[1, 2]' WHERE id = '{fx.T_LOAD}'")
    for s, shown in zip(both, ['{"n": 1', "[1, 2]"]):
        st, d = s.get_json(f"/api/diff?a={fx.WF_PREP}&b={fx.WF_TRAIN}")
        assert st == 200, d
        rows = {(r["section"], r["key"]): r for r in d["rows"]}
        assert rows[("parameter", "fit.lr")]["b"] == "0.01"
        assert rows[("parameter", "clean.drop")]["a"] == "nulls"
        assert rows[("parameter", "load")]["a"] == shown


def test_sql_endpoint_is_read_only(serve, lite):
    s = serve(lite)
    st, body = s.get_json("/api/sql?q=" + q("SELECT count(*) AS n FROM task"))
    assert (st, body["rows"]) == (200, [[5]])
    for stmt in ["DELETE FROM task", "UPDATE task SET status = 'X'",
                 "DROP TABLE task", "INSERT INTO campaign(id) VALUES('x')",
                 "ATTACH DATABASE '/tmp/x.db' AS x",
                 "PRAGMA journal_mode = DELETE",
                 "SELECT 1; DELETE FROM task",
                 "CREATE TABLE x(a)"]:
        st, body = s.get_json("/api/sql?q=" + q(stmt))
        assert st == 400, (stmt, body)
    st, body = s.get_json("/api/sql?q=" + q("SELECT count(*) FROM task"))
    assert body["rows"] == [[5]]
    st, _, csv = s.request("/api/sql?format=csv&q="
                           + q("SELECT id, activity FROM task ORDER BY id"))
    assert csv.decode().splitlines()[0] == "id,activity"
    assert len(csv.decode().splitlines()) == 6


def test_sql_csv_keeps_an_observed_formula_from_running(serve, lite):
    """The CSV download of the SQL console writes a cell a spreadsheet
    would run (a task's activity =HYPERLINK(...), OWASP's CSV injection)
    with a ' before it, as text, and a negative number as it is; the JSON
    answer keeps the value as it is."""
    fx.add_hostile_task(lite)
    s = serve(lite)
    st, headers, body = s.request("/api/sql?format=csv&q="
                                  + q(fx.HOSTILE_SQL))
    assert (st, body.decode()) == (200, fx.HOSTILE_CSV)
    st, body = s.get_json("/api/sql?q=" + q(fx.HOSTILE_SQL))
    assert (st, body["rows"]) == (200, [[fx.HOSTILE_ACTIVITY, -1.5]])


def test_sql_endpoint_names_the_columns_of_a_result_without_rows(both):
    """The SQL console's answer to a query that matched nothing has its
    columns, in JSON and as a CSV header line, on both stores (they were
    [] and an empty file: the names came with the first row)."""
    stmt = q("SELECT id, activity AS what FROM task WHERE activity = 'x y'")
    for s in both:
        st, body = s.get_json("/api/sql?q=" + stmt)
        assert st == 200, body
        assert body == {"columns": ["id", "what"], "rows": [],
                        "truncated": False}
        st, _, csv = s.request("/api/sql?format=csv&q=" + stmt)
        assert (st, csv.decode()) == (200, "id,what\r\n")


# The escapes of a superuser connection that issue 11 item 1 lists: the
# query guard (src/sink, the security work) must refuse each.
PG_ESCAPES = [
    "COPY (SELECT 1) TO PROGRAM 'true'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('/')",
    "SELECT pg_terminate_backend(0)",
    "COPY (SELECT 1) TO '/tmp/mida-serve-escape'",
]


def test_sql_endpoint_refuses_writes_on_postgres(both):
    _, pg = both
    for stmt in ["DELETE FROM task", "DROP TABLE task",
                 "INSERT INTO campaign(id) VALUES('x')",
                 "SELECT 1; DELETE FROM task"]:
        st, body = pg.get_json("/api/sql?q=" + q(stmt))
        assert st == 400, (stmt, body)
    st, body = pg.get_json("/api/sql?q=" + q("SELECT count(*) FROM task"))
    assert body["rows"] == [[5]]


def test_sql_endpoint_refuses_postgres_escapes(both):
    _, pg = both
    for stmt in PG_ESCAPES:
        st, body = pg.get_json("/api/sql?q=" + q(stmt))
        assert st == 400, (stmt, body)


# What a READ ONLY transaction still lets any role do on PostgreSQL: a
# logical message (pg_logical_emit_message, PUBLIC may call it) is a WAL
# record, and one sent non-transactionally stays after the rollback; the
# large-object writers insert rows into pg_largeobject and take a
# transaction id for it. Each answered 200 through /api/sql.
PG_WRITERS = [
    "SELECT pg_logical_emit_message(false, 'x', repeat('x', 1000))",
    "SELECT pg_catalog.pg_logical_emit_message(true, 'x', 'y')",
    "SELECT lo_create(0)",
    "SELECT lo_creat(-1)",
    "SELECT lowrite(lo_open(42, 131072), 'abc')",
    "SELECT lo_truncate(lo_open(42, 131072), 1)",
    "SELECT lo_unlink(42)",
]


def test_sql_endpoint_refuses_what_writes_despite_read_only(both):
    _, pg = both
    for stmt in PG_WRITERS:
        st, body = pg.get_json("/api/sql?q=" + q(stmt))
        assert st == 400, (stmt, body)
        assert "query guard refuses" in body["error"]["message"], body
    st, body = pg.get_json("/api/sql?q=" + q("SELECT count(*) FROM task"))
    assert body["rows"] == [[5]]


def test_sql_endpoint_stops_at_its_time_limit(lite, pg_db, produce_bin, fleet,
                                              tmp_path, serve):
    """/api/sql reads through the query guard: a statement past the time
    limit (MIDA_QUERY_TIMEOUT_MS) is a 400 that says so, on both stores,
    and the server goes on answering."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    limited = dict(env, MIDA_QUERY_TIMEOUT_MS="1000")
    forever = {pg_db: "SELECT pg_sleep(60)",
               lite: "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
                     " SELECT i + 1 FROM c) SELECT count(*) FROM c"}
    for store, stmt in forever.items():
        s = serve(store, env=limited)
        t0 = time.monotonic()
        st, body = s.get_json("/api/sql?q=" + q(stmt))
        assert st == 400 and "time limit of 1000 ms" in json.dumps(body), body
        assert time.monotonic() - t0 < 30
        st, body = s.get_json("/api/sql?q=" + q("SELECT count(*) FROM task"))
        assert body["rows"] == [[5]]


def test_sql_endpoint_leaves_store_connections_to_the_rest(serve, lite):
    """Each /api/sql statement holds a store connection up to the time
    limit (30 s): as many slow statements as connections (8) made every
    other request wait 5 s and get a 503 ("every store connection is in
    use"), the live updates stopped, and a page of statements sent again
    and again kept the dashboard down. The statements may hold half of
    the connections; one more is a 503 at once that says so."""
    import threading
    s = serve(lite, "--connections", "2",
              env=dict(os.environ, MIDA_QUERY_TIMEOUT_MS="6000"))
    slow = q("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
             " SELECT i + 1 FROM c) SELECT count(*) FROM c")
    first = {}
    t = threading.Thread(target=lambda: first.update(
        r=s.get_json("/api/sql?q=" + slow)))
    t.start()
    time.sleep(1)
    try:
        t0 = time.monotonic()
        st, body = s.get_json("/api/sql?q=" + slow)
        assert st == 503, body
        assert "SQL statements" in body["error"]["message"], body
        assert time.monotonic() - t0 < 3
        st, body = s.get_json("/api/tasks?limit=1")
        assert st == 200, body
    finally:
        t.join()
    assert first["r"][0] == 400 and "time limit" in json.dumps(first["r"])
    st, body = s.get_json("/api/sql?q=" + q("SELECT count(*) FROM task"))
    assert (st, body["rows"]) == (200, [[5]])


def test_lineage_starts_from_a_digest_on_both_stores(lite, pg_db, produce_bin,
                                                     fleet, tmp_path, serve):
    """/api/lineage?id= takes a digest as docs/serve.md says: a file that
    `mida run --digest` saw has its version as id and its content's
    digest in data.digest, and starting there was a 404."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    rows = ("INSERT INTO data(id, kind, uri, digest) VALUES"
            " ('inode:1:2:3:4', 'file', 'file:///tmp/out.txt', 'sha256:ccc');"
            " INSERT INTO task_data(task_id, data_id, role) VALUES"
            f" ('{fx.T_EVAL}', 'inode:1:2:3:4', 'generated')")
    con = sqlite3.connect(lite)
    con.executescript(rows)
    con.close()
    psql(pg_db, rows)
    for s in (serve(lite), serve(pg_db)):
        st, lin = s.get_json("/api/lineage?id=sha256:ccc&direction=up")
        assert st == 200, lin
        ids = {n["id"] for n in lin["nodes"]}
        assert {"inode:1:2:3:4", fx.T_EVAL, fx.D_MODEL} <= ids
        st, body = s.get_json("/api/lineage?id=sha256:ddd")
        assert st == 404 and "digest" in body["error"]["message"], body


def test_lineage_finds_a_file_by_a_path_that_is_not_clean(serve, lite):
    """`mida run` records a file's path with ".", ".." and "//" taken out
    lexically (core/path.h); the lineage view takes a path or file:// URI
    that has them and finds the file, as `mida lineage` does."""
    con = sqlite3.connect(lite)
    con.execute("INSERT INTO data(id, kind, uri) VALUES ('inode:9:9:9:9',"
                " 'file', 'file:///d/x/in.txt')")
    con.execute("INSERT INTO task_data(task_id, data_id, role)"
                " VALUES (?, 'inode:9:9:9:9', 'used')", (fx.T_EVAL,))
    con.commit()
    con.close()
    s = serve(lite)
    for start in ("/d/x/../x/in.txt", "/d/./x//in.txt",
                  "file:///d/y/../x/in.txt"):
        st, lin = s.get_json("/api/lineage?id=" + q(start))
        assert st == 200, (start, lin)
        assert lin["nodes"][0]["id"] == "inode:9:9:9:9"


def test_lineage_walks_from_any_data_id(serve, lite):
    """Data ids are the URIs and paths the workflow gave (mida.data(
    "s3://bucket/my data/\u00e9.csv"), a path of 300 bytes), and the
    lineage view walks on from a data node by its id: /api/lineage?id=
    took 200 bytes of ASCII without spaces or quotes, a task id's shape,
    and was a 400 for those. It takes any text of up to 4,096 bytes."""
    ids = ["s3://bucket/my data/\u00e9.csv", "/d/" + "long/" * 60 + "f.csv",
           "it's \"quoted\""]
    con = sqlite3.connect(lite)
    for i in ids:
        con.execute("INSERT INTO data(id, kind, uri) VALUES (?, 'file', ?)",
                    (i, i))
        con.execute("INSERT INTO task_data(task_id, data_id, role)"
                    " VALUES (?, ?, 'generated')", (fx.T_EVAL, i))
    con.commit()
    con.close()
    s = serve(lite)
    for i in ids:
        st, lin = s.get_json("/api/lineage?id=" + q(i) + "&direction=up")
        assert st == 200, (i, lin)
        assert lin["nodes"][0]["id"] == i
        assert fx.T_EVAL in {n["id"] for n in lin["nodes"]}
    st, body = s.get_json("/api/lineage?id=" + q("x" * 4097))
    assert st == 400 and "4096 bytes" in body["error"]["message"], body
    st, body = s.get_json("/api/lineage?id=" + q("no such data"))
    assert st == 404, body


def test_diff_takes_a_dask_key(serve, lite):
    """mida diff takes a task's source key, and a Dask task's is its key,
    "('fit-3f2a', 0)": /api/diff took only ids of a UUID's shape (no
    spaces or quotes) and was a 400 for it."""
    keys = {fx.T_FIT: "('fit-3f2a', 0)", fx.T_EVAL: "('fit-3f2a', 1)"}
    con = sqlite3.connect(lite)
    for task, key in keys.items():
        con.execute("UPDATE task SET source_key = ? WHERE id = ?",
                    (key, task))
    con.commit()
    con.close()
    s = serve(lite)
    st, body = s.get_json("/api/diff?a=" + q(keys[fx.T_FIT]) + "&b="
                          + q(keys[fx.T_EVAL]))
    assert st == 200, body
    st, want = s.get_json(f"/api/diff?a={fx.T_FIT}&b={fx.T_EVAL}")
    assert body == want
    st, body = s.get_json("/api/diff?a=" + q("('nope', 0)") + "&b=x")
    assert st == 404, body


def test_a_repeated_single_value_parameter_is_a_400(serve, lite):
    """/api/tasks?limit=1&limit=2 answered one task: the first of a
    doubled parameter was taken and the other dropped, where docs/serve.md
    says no parameter is ignored. The repeatable ones (where, task, key)
    still repeat."""
    s = serve(lite)
    for target, name in [("/api/tasks?limit=1&limit=2", "limit"),
                         ("/api/tasks?status=ERROR&status=RUNNING",
                          "status"),
                         ("/api/workflows?sort=name&sort=id", "sort"),
                         (f"/api/lineage?id={fx.T_FIT}&id={fx.T_LOAD}", "id"),
                         (f"/api/metrics?task={fx.T_FIT}&key=loss&x=step"
                          "&x=time", "x")]:
        st, body = s.get_json(target)
        assert st == 400, (target, body)
        msg = body["error"]["message"]
        assert f"'{name}' is given more than once" in msg, msg
    st, body = s.get_json("/api/tasks?where=" + q("used.lr>0.001")
                          + "&where=" + q("used.epochs=3"))
    assert st == 200 and [t["id"] for t in body["items"]] == [fx.T_FIT]
    st, body = s.get_json(f"/api/metrics?task={fx.T_FIT}&key=loss&key=acc")
    assert st == 200 and len(body["series"]) == 2


def test_an_unknown_workflow_or_task_is_a_404_everywhere(both):
    """/api/workflows/zzz was a 404 and /api/workflows/zzz/graph a 200
    with an empty graph; /api/metrics of a task the store does not know
    was a 200 with empty series. Both are 404s now, on both stores; a key
    the task has no point of stays an empty series."""
    for s in both:
        for target, what in [
                ("/api/workflows/zzz", "workflow"),
                ("/api/workflows/zzz/graph", "workflow"),
                ("/api/metrics?task=zzz&key=loss", "task"),
                (f"/api/metrics?task={fx.T_FIT}&task=zzz&key=loss", "task")]:
            st, body = s.get_json(target)
            assert st == 404, (target, body)
            assert body["error"]["message"] == f"no {what} with id 'zzz'"
        st, body = s.get_json(f"/api/workflows/{fx.WF_PREP}/graph")
        assert st == 200 and len(body["nodes"]) == 2
        st, body = s.get_json(f"/api/metrics?task={fx.T_EVAL}&key=loss")
        assert st == 200 and body["series"][0]["points"] == [], body


def test_a_cursor_that_names_no_row_is_a_400(both):
    """/api/tasks?after=zzz answered 200 with an empty list, as if the
    list had ended: the keyset condition compares with the row the cursor
    names, and there is none. A cursor that names no row of its list is a
    400 naming the parameter now, on tasks, workflows and campaigns, on
    both stores; a cursor of another list (a workflow's id for tasks) is
    one too, and a real cursor still pages."""
    for s in both:
        for path, what, bad in [("/api/tasks", "task", "zzz"),
                                ("/api/tasks?sort=started", "task", "zzz"),
                                ("/api/tasks?where=" + q("used.lr>0"),
                                 "task", "zzz"),
                                ("/api/tasks", "task", fx.WF_TRAIN),
                                ("/api/workflows", "workflow", "zzz"),
                                ("/api/workflows?sort=name", "workflow",
                                 fx.T_FIT),
                                ("/api/campaigns", "campaign", "zzz")]:
            sep = "&" if "?" in path else "?"
            st, body = s.get_json(f"{path}{sep}after={bad}")
            assert st == 400, (path, bad, body)
            assert body["error"]["message"] == (
                f"parameter 'after' must be the id of a {what} (the 'next'"
                f" of an earlier page): there is no {what} '{bad}'"), body
        for target in [f"/api/tasks?sort=started&after={fx.T_CLEAN}",
                       f"/api/workflows?after={fx.WF_TRAIN}",
                       f"/api/campaigns?after={fx.CAMPAIGN}"]:
            st, body = s.get_json(target)
            assert st == 200, (target, body)
        st, body = s.get_json(f"/api/tasks?sort=started&after={fx.T_CLEAN}")
        assert [t["id"] for t in body["items"]][:1] == [fx.T_FIT]


def test_telemetry_of_an_unknown_task_is_a_404(serve, lite):
    """/api/telemetry?task=zzz was a 200 with no samples, as if the task
    had run without any, where /api/metrics?task=zzz and the workflow
    endpoints answer 404 for what the store does not know."""
    s = serve(lite)
    st, body = s.get_json("/api/telemetry?task=zzz")
    assert st == 404, body
    assert body["error"]["message"] == "no task with id 'zzz'"
    st, body = s.get_json(f"/api/telemetry?task={fx.T_FIT}")
    assert st == 200 and "samples" in body, body


def test_a_tasks_samples_cut_at_the_limit_say_how_many_there_are(serve,
                                                                 lite):
    """The task page reads 5,000 of a task's samples, and the answer said
    only "truncated": the page could not tell how many it left out. Cut,
    the answer says how many the task has (its process's and its host's
    while it ran, as the samples sent); whole, it has no count to add."""
    db = sqlite3.connect(lite)
    # fit ran on host "gpu 1" as pid 200 from T0 + 21 s to T0 + 31 s: 8
    # samples in that time (process and host), 2 of another process and 1
    # after its end.
    rows = ([("gpu 1", pid, fx.T0 + (22 + i) * fx.SEC) for pid in (200, 0)
             for i in range(4)]
            + [("gpu 1", 201, fx.T0 + 22 * fx.SEC),
               ("gpu 1", 201, fx.T0 + 23 * fx.SEC),
               ("gpu 1", 0, fx.T0 + 40 * fx.SEC)])
    db.executemany("INSERT INTO telemetry (host, pid, ts, sample) VALUES"
                   " (?, ?, ?, '{}')", rows)
    db.commit()
    db.close()
    s = serve(lite)
    st, body = s.get_json(f"/api/telemetry?task={fx.T_FIT}&limit=3")
    assert st == 200, body
    assert (len(body["samples"]), body["truncated"], body["total"]) == (
        3, True, 8), body
    st, body = s.get_json(f"/api/telemetry?task={fx.T_FIT}&limit=8")
    assert (len(body["samples"]), body["truncated"]) == (8, False), body
    assert "total" not in body


def test_the_status_filter_takes_every_status(serve, lite):
    """LOST (what a dead process left unfinished) is a status the store
    holds, and /api/tasks?status=LOST was a 400; the filter now takes the
    list `mida tasks --status` takes (src/sink/merge.h)."""
    s = serve(lite)
    for target in ["/api/tasks?status=LOST", "/api/workflows?status=LOST"]:
        st, body = s.get_json(target)
        assert (st, body["items"]) == (200, []), body
    st, body = s.get_json("/api/tasks?status=bogus")
    assert st == 400
    assert body["error"]["message"] == (
        "parameter 'status' must be one of: UNKNOWN, SUBMITTED, RUNNING,"
        " FINISHED, CANCELLED, ERROR, LOST (any case)")


def test_the_status_filter_takes_any_case(serve, lite):
    """`mida tasks --status error` takes a status in any case, and
    /api/tasks?status=error was a 400 (upper case only): the API takes
    any case too, on tasks and workflows, and still refuses a name that
    is no status."""
    s = serve(lite)
    for path, want in [("/api/tasks", [fx.T_FIT]),
                       ("/api/workflows", [fx.WF_PREP])]:
        upper = "ERROR" if path == "/api/tasks" else "FINISHED"
        for spelt in [upper, upper.lower(), upper.capitalize()]:
            st, body = s.get_json(f"{path}?status={spelt}")
            assert st == 200, (path, spelt, body)
            assert [i["id"] for i in body["items"]] == want, (path, spelt)
        st, body = s.get_json(f"{path}?status=erro")
        assert st == 400 and "(any case)" in body["error"]["message"], body


def test_status_unknown_finds_rows_without_a_status(lite, pg_db, produce_bin,
                                                   fleet, tmp_path, serve):
    """A task or workflow with no status reads UNKNOWN (the dashboard's
    badge, /api/stats' counts), and ?status=UNKNOWN found none of them
    (it compared with the text 'UNKNOWN'): it finds them now, on both
    stores; an MLflow experiment with no run, which reads "no run yet",
    is not among them. Sorted by status, such a task came first, above
    CANCELLED and ERROR, though it reads UNKNOWN: it sorts as UNKNOWN."""
    db = sqlite3.connect(lite)
    db.execute("INSERT INTO task (id, workflow_id, activity) VALUES"
               f" ('t-none', '{fx.WF_PREP}', 'plain')")
    db.execute("INSERT INTO workflow (id, name, source) VALUES"
               " ('wf-none', 'plain', 'api'), ('wf-exp', 'exp', 'mlflow')")
    db.commit()
    db.close()
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    for s in [serve(lite), serve(pg_db)]:
        for target, want in [("/api/tasks?status=UNKNOWN", ["t-none"]),
                             ("/api/tasks?status=unknown&workflow="
                              + fx.WF_PREP, ["t-none"]),
                             ("/api/workflows?status=UNKNOWN", ["wf-none"])]:
            st, body = s.get_json(target)
            assert st == 200, (target, body)
            assert [i["id"] for i in body["items"]] == want, target
            assert [i["status"] for i in body["items"]] == [None], target
        st, body = s.get_json("/api/tasks?status=FINISHED&workflow="
                              + fx.WF_PREP)
        assert "t-none" not in [i["id"] for i in body["items"]], body
        for sort in ["status", "-status"]:
            read, after = [], None
            while True:  # pages of 2: the cursor on either side of it
                st, body = s.get_json(f"/api/tasks?sort={sort}&limit=2"
                                      + (f"&after={after}" if after else ""))
                assert st == 200, body
                read += [i["status"] or "UNKNOWN" for i in body["items"]]
                after = body["next"]
                if after is None:
                    break
            assert len(read) == 6 and "UNKNOWN" in read, read
            assert read == sorted(read, reverse=sort[0] == "-"), (sort, read)


def test_an_experiment_whose_newest_run_has_no_status(lite, pg_db,
                                                    produce_bin, fleet,
                                                    tmp_path, serve):
    """An MLflow experiment reads the status of its newest run; a newest
    run with no status made it read as having no run at all ("no run
    yet", status null) though it had runs. It reads the newest run that
    has a status now, and UNKNOWN where none of its runs has one (found
    by ?status=UNKNOWN); one with no run is still null; on both stores."""
    db = sqlite3.connect(lite)
    db.execute("INSERT INTO workflow (id, name, source) VALUES"
               " ('wf-e1', 'e1', 'mlflow'), ('wf-e2', 'e2', 'mlflow'),"
               " ('wf-e3', 'e3', 'mlflow')")
    db.execute("INSERT INTO task (id, workflow_id, activity, status, started)"
               " VALUES ('r-old', 'wf-e1', 'run', 'ERROR', 100),"
               " ('r-new', 'wf-e1', 'run', NULL, 200),"
               " ('r-only', 'wf-e2', 'run', NULL, 100)")
    db.commit()
    db.close()
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    for s in [serve(lite), serve(pg_db)]:
        st, body = s.get_json("/api/workflows?source=mlflow")
        assert st == 200, body
        got = {w["id"]: w["status"] for w in body["items"]
               if w["id"].startswith("wf-e")}
        assert got == {"wf-e1": "ERROR", "wf-e2": "UNKNOWN",
                       "wf-e3": None}, got
        st, body = s.get_json("/api/workflows?source=mlflow&status=UNKNOWN")
        assert st == 200, body
        assert [w["id"] for w in body["items"]] == ["wf-e2"], body


def test_the_activity_filter_finds_part_of_a_name_in_any_case(both):
    """The dashboard's activity filter sent activity=, an exact match: a
    user who typed "fit" never saw "fit.epoch". activity_contains= finds
    a part of the name in any case, activity= takes a glob pattern as
    `mida tasks --activity` does, and is exact without a wildcard; the
    same on both stores."""
    def ids(srv, target):
        st, body = srv.get_json(target)
        assert st == 200, (target, body)
        return sorted(t["id"] for t in body["items"])
    fits = sorted([fx.T_FIT, fx.T_EPOCH])
    for s in both:
        for part in ["fit", "FIT", "Fi", "t.ep"]:
            want = fits if part != "t.ep" else [fx.T_EPOCH]
            assert ids(s, "/api/tasks?activity_contains=" + q(part)) == want
        # '_' and '%' are themselves, not LIKE's wildcards.
        for part in ["t_e", "%", "fit%"]:
            assert ids(s, "/api/tasks?activity_contains=" + q(part)) == []
        assert ids(s, "/api/tasks?activity=fit") == [fx.T_FIT]
        assert ids(s, "/api/tasks?activity=FIT") == []
        assert ids(s, "/api/tasks?activity=" + q("fit*")) == fits
        assert ids(s, "/api/tasks?activity=" + q("?it.[de]poch")) == [
            fx.T_EPOCH]
        assert ids(s, f"/api/tasks?workflow={fx.WF_TRAIN}"
                   "&activity_contains=E") == sorted([fx.T_EPOCH, fx.T_EVAL])
        st, body = s.get_json("/api/tasks?activity=" + q("fit[a"))
        assert st == 400 and "'['" in body["error"]["message"], body


def test_counters_are_summed_over_processes_per_host_and_overall(both):
    """A row of the counter table is one process's total (the largest
    value it wrote): /api/counters adds them up, over all hosts and per
    host, with the number of processes (and hosts) behind each sum. The
    fixture: dropped 2 on node1 (pid 100) and 3 on "gpu 1" (pid 200),
    corrupt 1 on node1."""
    for s in both:
        st, body = s.get_json("/api/counters")
        assert st == 200, body
        assert body["counters"] == [
            {"name": "corrupt", "total": 1, "processes": 1, "hosts": 1},
            {"name": "dropped", "total": 5, "processes": 2, "hosts": 2}]
        assert body["by_host"] == [
            {"host": "gpu 1", "name": "dropped", "total": 3, "processes": 1},
            {"host": "node1", "name": "corrupt", "total": 1, "processes": 1},
            {"host": "node1", "name": "dropped", "total": 2, "processes": 1}]
        assert not body["counters_truncated"] and not body["by_host_truncated"]
        st, body = s.get_json("/api/counters?host=node1")
        assert st == 400, body


def test_sql_endpoint_keeps_nul_bytes_and_writes_blobs_in_hex(serve, lite):
    """/api/sql reads through the same cells as `mida query`: a NUL byte in
    a text is kept (\\u0000), and a BLOB is "\\x" and its hex, where it was
    cut at the NUL and written as U+FFFD."""
    s = serve(lite)
    st, body = s.get_json("/api/sql?q=" + q("SELECT char(0) || 'x' AS n,"
                                            " x'ff00' AS b"))
    assert st == 200, body
    assert body["rows"] == [["\x00x", "\\xff00"]]
    st, _, csv = s.request("/api/sql?format=csv&q="
                           + q("SELECT char(0) || 'x' AS n, x'ff' AS b"))
    assert csv == b'n,b\r\n"\x00x",\\xff\r\n'

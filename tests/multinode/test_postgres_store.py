"""The PostgreSQL store: every `mida` verb answers on PostgreSQL what it
answers on SQLite (the same fixture store, tests/cli/mida_cli_store.py,
copied row by row into a fresh database), `mida query` is read-only there
too, and the merge semantics of put_batch (status rank, first start, last
end, JSON objects merged, idempotent repeats) hold through the real
capture path."""

import json
import re
import subprocess
import sys

import pytest

from multinode_support import ROOT, build_dir, copy_sqlite_to_postgres, psql

sys.path.insert(0, str(ROOT / "tests" / "cli"))
import mida_cli_store as fx  # noqa: E402

# The schema version schema.h defines, whatever it is now: a migrated store
# ends at it.
SCHEMA_VERSION = re.search(
    r"#define MIDA_SCHEMA_VERSION (\d+)",
    (ROOT / "src" / "sink" / "schema.h").read_text())[1]


@pytest.fixture
def stores(pg_db, produce_bin, fleet, tmp_path):
    """(sqlite path, postgres URL) holding the same fixture rows."""
    lite = tmp_path / "fixture.db"
    fx.make_store(str(lite))
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    copy_sqlite_to_postgres(lite, pg_db, produce_bin, env)
    return str(lite), pg_db


def run(mida_bin, store, *args):
    r = subprocess.run([mida_bin, "--store", store, *args],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def tokens(text):
    """The words of a verb's output, numbers compared by value and rules
    by kind: PostgreSQL prints round(x, 3) as 10.000 where SQLite prints
    10.0, which also changes the table's column widths."""
    out = []
    for t in text.split():
        if set(t) == {"-"}:
            t = "-"
        else:
            try:
                t = "%g" % float(t)
            except ValueError:
                pass
        out.append(t)
    return out


def _deep(v):
    """JSON values with embedded JSON object texts parsed too: jsonb keeps
    an object's keys in its own order ({"drop":..., "threshold":...})."""
    if isinstance(v, dict):
        return {k: _deep(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_deep(x) for x in v]
    if isinstance(v, str) and v.startswith("{"):
        try:
            return _deep(json.loads(v, parse_int=float))
        except ValueError:
            return v
    return v


def same_document(a, b):
    """Two JSON texts equal, numbers compared by value."""
    return _deep(json.loads(a, parse_int=float)) == _deep(
        json.loads(b, parse_int=float))


def normalize_json_text(text):
    """JSON objects printed by each store, with keys sorted and spacing
    made the same (jsonb keeps its own key order)."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("{") and s.endswith("}"):
            try:
                line = line[:len(line) - len(line.lstrip())] + json.dumps(
                    json.loads(s), sort_keys=True)
            except ValueError:
                pass
        out.append(line)
    return out


@pytest.mark.parametrize("args", [
    ("workflows",),
    ("workflows", "--campaign", "climate", "--json"),
    ("workflows", "--campaign", "climat"),
    ("tasks",),
    ("tasks", "--status", "error", "--csv"),
    ("tasks", "--activity", "fit*"),
    ("tasks", "--limit", "2", "--json"),
    ("show", fx.T_EPOCH),
    ("show", fx.WF_PREP),
    ("lineage", fx.T_EVAL),
    ("lineage", fx.D_RAW, "--dot"),
    ("lineage", fx.T_LOAD, "--down", "--depth", "3"),
    ("stats", "--json", "--spool", "{empty_spool}"),
    ("diff", fx.WF_PREP, fx.WF_TRAIN),
])
def test_verbs_answer_the_same_on_postgresql(mida_bin, stores, args,
                                            tmp_path):
    lite, pg = stores
    # stats reads the spool named (which must exist): an empty one, so
    # that both stores report the same zeros.
    (tmp_path / "empty-spool").mkdir()
    args = [a.replace("{empty_spool}", str(tmp_path / "empty-spool"))
            for a in args]
    want = run(mida_bin, lite, *args)
    got = run(mida_bin, pg, *args)
    assert got[0] == want[0], got[2]
    if args[0] == "stats":  # the store's URL is part of the report
        want_doc = json.loads(want[1])
        got_doc = json.loads(got[1])
        for d in (want_doc, got_doc):
            d.pop("store")
        assert got_doc == want_doc
    elif "--json" in args:
        assert same_document(got[1], want[1])
    elif "--csv" in args:
        assert [tokens(x.replace(",", " ")) for x in got[1].splitlines()] \
            == [tokens(x.replace(",", " ")) for x in want[1].splitlines()]
    else:
        assert tokens(got[1]) == tokens(want[1])


def test_show_task_with_json_fields(mida_bin, stores):
    lite, pg = stores
    want = run(mida_bin, lite, "show", fx.T_FIT)
    got = run(mida_bin, pg, "show", fx.T_FIT)
    assert got[0] == want[0] == 0, got[2]
    # jsonb orders an object's keys its own way: compare the key/value
    # lines of each section as sets, and everything else exactly.
    assert sorted(tokens("\n".join(normalize_json_text(got[1])))) == sorted(
        tokens("\n".join(normalize_json_text(want[1]))))


def test_export_prov_is_the_same_document(mida_bin, stores, tmp_path):
    lite, pg = stores
    want = run(mida_bin, lite, "export", "prov")
    got = run(mida_bin, pg, "export", "prov")
    assert got[0] == want[0] == 0, got[2]
    assert same_document(got[1], want[1])


@pytest.mark.parametrize("sql", [
    "DELETE FROM task",
    "INSERT INTO counter VALUES ('h', 1, 'x', 1)",
    "DROP TABLE task",
    "CREATE TABLE evil(x int)",
    "UPDATE task SET status = 'FINISHED'",
    "SELECT nextval('no_such_seq')",
])
def test_query_refuses_writes_on_postgresql(mida_bin, stores, sql):
    _, pg = stores
    before = psql(pg, "SELECT count(*) FROM task")
    code, out, err = run(mida_bin, pg, "query", sql)
    assert code == 1
    assert err.startswith("mida: ")
    assert psql(pg, "SELECT count(*) FROM task") == before
    assert psql(pg, "SELECT to_regclass('evil') IS NULL") == "t"


def test_query_one_statement_and_json_operators(mida_bin, stores):
    _, pg = stores
    code, _, err = run(mida_bin, pg, "query", "SELECT 1; DELETE FROM task")
    assert code == 1 and "one statement" in err
    code, out, err = run(mida_bin, pg, "query", "--csv",
                         "SELECT activity, used->>'lr' AS lr FROM task"
                         " WHERE used ? 'lr'")
    assert code == 0, err
    assert out.splitlines() == ["activity,lr", "fit,0.01"]


def test_reals_print_as_on_sqlite_and_read_back_exactly(mida_bin, stores):
    lite, pg = stores
    body = (" 1.0 / i AS inv, i * 0.1 AS tenth, (i + 0.1) * 1e-300 AS tiny,"
            " i * 1.1e300 AS huge")
    lite_sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                " FROM n WHERE i < 300) SELECT i," + body + " FROM n")
    pg_sql = ("SELECT i," + body.replace("1.0", "1.0::float8")
              .replace("0.1", "0.1::float8").replace("e-300", "e-300::float8")
              .replace("e300", "e300::float8")
              + " FROM generate_series(1, 300) AS i")
    want = run(mida_bin, lite, "query", "--csv", lite_sql)
    got = run(mida_bin, pg, "query", "--csv", pg_sql)
    assert got[0] == 0, got[2]
    assert got[1] == want[1]
    rows = [r.split(",") for r in got[1].splitlines()[1:]]
    assert [float(r[1]) for r in rows] == [1.0 / i for i in range(1, 301)]
    assert rows[2][2] == "0.30000000000000004"
    code, out, err = run(mida_bin, pg, "query", "--csv",
                         "SELECT 'NaN'::float8 AS n, 'Infinity'::float8 AS i,"
                         " 3::float8 AS t")
    assert out.splitlines() == ["n,i,t", "NaN,Inf,3.0"]


def test_missing_database_and_schema_are_clear_errors(mida_bin, pg_db):
    code, _, err = run(mida_bin, pg_db, "tasks")
    assert code == 1
    assert "holds no mida schema" in err and "mida_test_" in err
    bad = pg_db.rsplit("/", 1)[0] + "/no_such_database_here"
    code, _, err = run(mida_bin, bad, "tasks")
    assert code == 1
    assert "does not exist" in err


def schema_of(url):
    """What a database's schema is, to show that mida left it alone: its
    schemas, relations and functions, with their grants."""
    return psql(url, "SELECT string_agg(x, ' ' ORDER BY x) FROM ("
                " SELECT 'n:' || nspname || coalesce(nspacl::text, '') AS x"
                " FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                " AND nspname <> 'information_schema'"
                " UNION ALL SELECT 'r:' || n.nspname || '.' || c.relname"
                " || ':' || c.relkind::text || coalesce(c.relacl::text, '')"
                " FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname NOT LIKE 'pg\\_%'"
                " AND n.nspname <> 'information_schema'"
                " UNION ALL SELECT 'f:' || n.nspname || '.' || p.proname"
                " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
                " WHERE n.nspname NOT LIKE 'pg\\_%'"
                " AND n.nspname <> 'information_schema') AS s")


def test_a_database_of_another_program_is_refused_and_left_alone(
        mida_bin, pg_db, tmp_path):
    """A database without mida's schema is no store, whatever its tables:
    the readers said 'no store at' of one with unrelated tables, but read
    one with a table named task as a store ('column "activity" does not
    exist') after setting their query guard up in it (a schema mida, its
    functions, GRANT SELECT on that task table); a writer failed on 'column
    "workflow_id" does not exist'. Each now says what it is, exits 1 and
    changes nothing in it."""
    psql(pg_db, "CREATE TABLE customers(id int PRIMARY KEY, name text)")
    spool = tmp_path / "spool"
    spool.mkdir()
    for tables in ("unrelated", "task"):
        if tables == "task":
            psql(pg_db, "CREATE TABLE task(id serial PRIMARY KEY, title text,"
                 " done boolean); INSERT INTO task(title, done)"
                 " VALUES ('x', false);"
                 " CREATE VIEW task_v AS SELECT title FROM task")
        before = schema_of(pg_db)
        for verb in (["tasks"], ["stats"], ["workflows"]):
            code, out, err = run(mida_bin, pg_db, *verb)
            assert code == 1, (tables, verb, out)
            assert "holds no mida schema" in err, (tables, verb, err)
            assert "is it the store your workflows write?" in err, err
            assert schema_of(pg_db) == before, (tables, verb)
        if tables == "task":
            assert ('the names "task", "task_v" there are another'
                    ' program\'s') in err, err
            code, out, err = run(mida_bin, pg_db, "recover", "--spool",
                                 str(spool))
            assert code == 1, out
            assert "is not a mida store" in err, err
            assert schema_of(pg_db) == before
    assert psql(pg_db, "SELECT title || done FROM task") == "xfalse"


def test_capture_straight_into_postgresql(produce_bin, fleet, pg_db,
                                          tmp_path):
    """A producer whose MIDA_STORE is PostgreSQL: each task's begin and end
    records merge into one complete row."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    r = subprocess.run([produce_bin, "3000", "direct"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    q = ("SELECT count(*), count(*) FILTER (WHERE status = 'FINISHED'"
         " AND started <= ended AND generated->>'ok' = 'true'"
         " AND (used->>'i') IS NOT NULL AND host IS NOT NULL"
         " AND pid IS NOT NULL) FROM task")
    assert psql(pg_db, q) == "3000|3000"


def test_new_tasks_copied_straight_keep_a_declared_key(mida_bin, produce_bin,
                                                     fleet, pg_db, tmp_path):
    """Tasks that begin and end in one batch go by COPY straight into table
    task (postgres.c, flush_direct): the triggers of a key declared with
    `mida index` keep its side table as for rows the merge inserts, and
    the rows are those the merge makes."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"))
    r = subprocess.run([produce_bin, "0", "schema"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([mida_bin, "--store", pg_db, "index", "used.i"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([produce_bin, "2000", "keyed"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    held = psql(pg_db, "SELECT task_id || '=' || value FROM task_key_num"
                       " ORDER BY 1")
    wanted = psql(pg_db, "SELECT id || '=' || mida.mida_num(used, 'i')"
                         " FROM task WHERE activity = 'keyed' ORDER BY 1")
    assert held == wanted and len(held.split()) == 2000
    q = ("SELECT count(*) FILTER (WHERE status = 'FINISHED' AND seq IS NOT"
         " NULL AND host IS NOT NULL AND pid IS NOT NULL AND telemetry IS"
         " NOT NULL) FROM task WHERE activity = 'keyed'")
    assert psql(pg_db, q) == "2000"
    # They were copied inside the savepoint: their xmin is its
    # subtransaction's, not the transaction's own id (seq), as the merge's
    # rows have.
    assert psql(pg_db, "SELECT count(*) FROM task WHERE activity = 'keyed'"
                       " AND xmin::text::bigint <> seq % 4294967296") == "2000"


METRIC_SCRIPT = """
import math, mida
with mida.workflow("points"):
    @mida.task
    def log():
        mida.metric("m", 0.5, step=1)
        mida.metric("m", -5.0, step=-5)
        mida.metric("m", 1.0, step=None)
        mida.metric("m", math.nan, step=2)
    log()
mida.flush(30)
"""


def test_metric_points_migrate_and_stay_apart(fleet, pg_db, tmp_path):
    """A version 1 store (the old metric key, -1 for "no step") is migrated
    by the first writer; afterwards negative steps, missing steps and NaN
    are stored as the SQLite store stores them, with the same point."""
    psql(pg_db, "CREATE TABLE metric(task_id TEXT NOT NULL, key TEXT NOT"
                " NULL, step BIGINT NOT NULL, ts BIGINT NOT NULL, value"
                " DOUBLE PRECISION, PRIMARY KEY(task_id, key, step, ts));"
                " CREATE TABLE mida_meta(key TEXT PRIMARY KEY, value TEXT);"
                " INSERT INTO mida_meta VALUES('schema_version', '1');"
                " INSERT INTO metric VALUES('t', 'old', -1, 5, 2.5),"
                " ('t', 'old', 3, 6, 'NaN')")
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"),
                    PYTHONPATH=str(build_dir() / "python"))
    r = subprocess.run([sys.executable, "-c", METRIC_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert psql(pg_db, "SELECT value FROM mida_meta") == SCHEMA_VERSION
    assert psql(pg_db, "SELECT step, value, point FROM metric WHERE"
                       " key = 'old' ORDER BY ts").splitlines() == [
        "|2.5|:4004000000000000", "3|NaN|3:7ff8000000000000"]
    rows = psql(pg_db, "SELECT coalesce(step::text, 'none'), value, point"
                       " FROM metric WHERE key = 'm' ORDER BY point")
    assert sorted(rows.splitlines()) == sorted([
        "1|0.5|1:3fe0000000000000", "-5|-5|-5:c014000000000000",
        "none|1|:3ff0000000000000", "2|NaN|2:7ff8000000000000"])


# A task's pid said by one record of a process (another's, 1), then by a
# later one: its own, which is also the batch's origin default.
MOVED_PID_SCRIPT = """
import os, mida
from mida import _mida
t = _mida.new_id()
_mida.task_begin(t, activity="moved")
_mida.task_update(t, pid=1)
assert _mida.flush(30)
_mida.task_update(t, pid=os.getpid())
assert _mida.flush(30)
print(os.getpid(), mida.query("SELECT pid FROM task")[0]["pid"])
"""


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_an_explicit_pid_equal_to_the_origin_s_still_wins(fleet, request,
                                                          tmp_path, store):
    """An origin default (the batch's host and pid) only fills an empty
    column, and a record's own value wins -- also when it equals the
    default. PostgreSQL's merge told the two apart by the value alone, so
    the later explicit pid was taken for a default and the stored 1 was
    kept (until 2026-12); both stores keep the last pid said."""
    url = (request.getfixturevalue("pg_db") if store == "postgresql"
           else f"sqlite://{tmp_path}/s.db")
    env = fleet.env(MIDA_STORE=url, MIDA_SPOOL=str(tmp_path / "spool"),
                    PYTHONPATH=str(build_dir() / "python"))
    r = subprocess.run([sys.executable, "-c", MOVED_PID_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    own, stored = r.stdout.split()
    assert stored == own


# mida's functions outside the schema mida (none may be).
OUTSIDE_MIDA = ("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON"
                " n.oid = p.pronamespace WHERE p.proname LIKE 'mida%'"
                " AND n.nspname NOT IN ('mida', 'pg_catalog')")
# The blocks of the metric series (rollup.h) as stored, and as computed
# afresh from the points.
BLOCKS = ("SELECT task_id, key, axis, shift, block, x0, x1, t0, t1, lo, hi,"
          " n FROM metric_block ORDER BY 1, 2, 3, 4, 5")
BLOCKS_FRESH = (
    "SELECT p.task_id, p.key, l.axis, l.shift, (CASE WHEN l.axis = 0 THEN"
    " p.step ELSE p.ts END) >> l.shift, min(CASE WHEN l.axis = 0 THEN"
    " p.step ELSE p.ts END), max(CASE WHEN l.axis = 0 THEN p.step ELSE p.ts"
    " END), min(p.ts), max(p.ts), min(nullif(p.value, 'NaN')),"
    " max(nullif(p.value, 'NaN')), count(*) FROM metric p CROSS JOIN"
    " (SELECT 0 AS axis, s AS shift FROM generate_series(6, 18, 6) s"
    " UNION ALL SELECT 1, s FROM generate_series(26, 38, 6) s) l"
    " WHERE l.axis = 1 OR p.step IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
    " ORDER BY 1, 2, 3, 4, 5")


def test_helpers_in_schema_mida_and_version_6_migrated(fleet, pg_db,
                                                       tmp_path):
    """Every function of mida's is in the schema mida, none in the user's;
    a version 6 store, which had mida_point in the user's schema and no
    blocks of its metric series, is migrated by the first writer: the
    function moves (metric.point, computed by it, stays) and the blocks of
    its points are computed."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"),
                    PYTHONPATH=str(build_dir() / "python"))
    r = subprocess.run([sys.executable, "-c", METRIC_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert psql(pg_db, OUTSIDE_MIDA) == "0"
    assert psql(pg_db, "SELECT count(*) FROM pg_proc p JOIN pg_namespace n"
                       " ON n.oid = p.pronamespace WHERE n.nspname ="
                       " 'public'") == "0"
    assert psql(pg_db, BLOCKS) == psql(pg_db, BLOCKS_FRESH) != ""
    blocks = psql(pg_db, BLOCKS)
    # What version 6 left.
    psql(pg_db, "ALTER FUNCTION mida.mida_point(bigint, double precision)"
                " SET SCHEMA public; DROP TABLE metric_block;"
                " UPDATE mida_meta SET value = '6' WHERE key ="
                " 'schema_version'")
    assert psql(pg_db, OUTSIDE_MIDA) == "1"
    r = subprocess.run([sys.executable, "-c", METRIC_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                       " 'schema_version'") == SCHEMA_VERSION
    assert psql(pg_db, OUTSIDE_MIDA) == "0"
    assert psql(pg_db, "SELECT count(*) FROM metric WHERE point ="
                       " mida.mida_point(step, value)") == psql(
        pg_db, "SELECT count(*) FROM metric") == "8"
    assert psql(pg_db, BLOCKS) == psql(pg_db, BLOCKS_FRESH)
    assert psql(pg_db, BLOCKS) != blocks  # the second run's points too


def test_merge_is_order_independent_and_idempotent(fleet, pg_db,
                                                   redis_factory):
    """Records of one task delivered out of order, in separate messages and
    twice (as redelivery does): the row is the merge -- the highest status,
    the first start, the last end, JSON objects merged key by key, the
    activity from the record that has it."""
    import mida_wire as wire
    redis = redis_factory()
    tid = "0190a4c2-0000-7000-8000-0000000000aa"
    end = wire.message([(wire.REC_TASK, wire.task_record(
        tid, started=150, ended=500, status=wire.FINISHED,
        generated='{"loss": 0.5}'))], seq=1)
    begin = wire.message([(wire.REC_TASK, wire.task_record(
        tid, activity="fit", started=100, status=wire.RUNNING))], seq=2)
    late = wire.message([(wire.REC_TASK, wire.task_record(
        tid, status=wire.RUNNING, ended=400,
        generated='{"acc": 0.9, "loss": 0.25}'))], seq=3)
    for m in (end, begin, end, late, begin):
        subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                        "merge", "*", "d"], input=m, check=True,
                       capture_output=True)
    c = fleet.ingest(redis.url_base + "/merge", pg_db, "m", "--batch", "1",
                     "--idle-exit", "2")
    c.wait(timeout=60)
    assert c.returncode == 0, c.log_path.read_text()
    row = psql(pg_db, "SELECT activity, status, started, ended,"
                      " generated->>'loss', generated->>'acc', host, pid"
                      " FROM task")
    assert row == "fit|FINISHED|100|500|0.25|0.9|testhost|4242"


def test_runs_summarise_their_task_under_two_consumers(fleet, pg_db,
                                                       redis_factory):
    """Each of 60 tasks runs twice, on two hosts; every run's begin and end
    is its own message, sent out of order and some twice, and two
    consumers apply them at once (a task's runs side by side). Every run is kept, and each task's row is
    their summary -- two attempts, the second run's times, host, pid and
    worker -- as on SQLite, however the two consumers interleave."""
    import mida_wire as wire
    redis = redis_factory()
    tasks, runs = [], []
    n = 60
    for i in range(n):
        tid = "0190a4c2-0000-7000-8000-%012x" % i
        r1 = "0190a4c2-0000-7000-9000-%012x" % (2 * i)
        r2 = "0190a4c2-0000-7000-9000-%012x" % (2 * i + 1)
        tasks.append(wire.message([(wire.REC_TASK, wire.task_record(
            tid, activity="inc", status=wire.FINISHED, started=1))],
            host="sched", pid=1))
        # A task's runs side by side in the stream, so that the two
        # consumers take them at the same time.
        runs += [
            wire.message([(wire.REC_RUN, wire.run_record(
                r2, tid, wire.FINISHED, started=300, ended=400,
                worker="wb"))], host="hb", pid=22),
            wire.message([(wire.REC_RUN, wire.run_record(
                r1, tid, wire.FINISHED, started=100, ended=200,
                worker="wa"))], host="ha", pid=21),
            wire.message([(wire.REC_RUN, wire.run_record(
                r1, tid, wire.RUNNING, started=100, worker="wa"))],
                host="ha", pid=21),
            wire.message([(wire.REC_RUN, wire.run_record(
                r2, tid, wire.RUNNING, started=300, worker="wb"))],
                host="hb", pid=22)]
    import random
    random.Random(7).shuffle(tasks)
    msgs = tasks[:n // 2] + runs + tasks[n // 2:] + runs[:40]  # redelivered
    for m in msgs:
        subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                        "runs", "*", "d"], input=m, check=True,
                       capture_output=True)
    consumers = [fleet.ingest(redis.url_base + "/runs", pg_db, "c%d" % k,
                              "--batch", "1", "--idle-exit", "3")
                 for k in range(2)]
    for c in consumers:
        c.wait(timeout=120)
        assert c.returncode == 0, c.log_path.read_text()
    assert psql(pg_db, "SELECT count(*), count(DISTINCT task_id) FROM"
                       " task_run") == "%d|%d" % (2 * n, n)
    rows = psql(pg_db, "SELECT activity, status, started, ended, host, pid,"
                       " worker, attempts, count(*) FROM task GROUP BY 1, 2,"
                       " 3, 4, 5, 6, 7, 8")
    assert rows == "inc|FINISHED|300|400|hb|22|wb|2|%d" % n


def test_telemetry_is_json_merged_indexed_and_migrated(mida_bin, fleet, pg_db,
                                                       redis_factory):
    """A task's telemetry is stored as json (schema 12: checked, not parsed
    into jsonb), its begin's and end's objects, applied in two rounds,
    merged key by key; mida_num and a declared index read into it; a
    version 11 store, whose column was jsonb, is migrated by the first
    writer and keeps its values, and gets its partial indexes made again
    (version 14)."""
    import mida_wire as wire
    redis = redis_factory()
    tid = "0190a4c2-0000-7000-8000-0000000000bb"

    seq = [0]

    def send(*records):
        for rec in records:
            seq[0] += 1
            subprocess.run(["redis-cli", "-p", str(redis.port), "-x", "XADD",
                            "tel", "*", "d"],
                           input=wire.message([(wire.REC_TASK, rec)],
                                              seq=seq[0]),
                           check=True, capture_output=True)
        c = fleet.ingest(redis.url_base + "/tel", pg_db, "t", "--batch", "1",
                         "--idle-exit", "2")
        c.wait(timeout=60)
        assert c.returncode == 0, c.log_path.read_text()

    send(wire.task_record(tid, activity="fit", started=100,
                          status=wire.RUNNING,
                          telemetry='{"maxrss_kb": 10, "cpu_thread_ns": 5}'),
         wire.task_record(tid, ended=200,
                          telemetry='{"cpu_thread_ns": 7, "read_bytes": 1}'))
    fields = ("SELECT telemetry->>'maxrss_kb', telemetry->>'cpu_thread_ns',"
              " telemetry->>'read_bytes' FROM task")
    assert psql(pg_db, "SELECT pg_typeof(telemetry) FROM task") == "json"
    assert psql(pg_db, "SELECT pg_typeof(telemetry) FROM task_run"
                       " UNION ALL SELECT pg_typeof(telemetry) FROM task_v"
                       " LIMIT 1") == "json"
    assert psql(pg_db, fields) == "10|7|1"
    r = subprocess.run([mida_bin, "--store", pg_db, "index",
                        "telemetry.maxrss_kb"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert psql(pg_db, "SELECT value FROM task_key_num") == "10"
    r = subprocess.run([mida_bin, "--store", pg_db, "query", "--csv",
                        "SELECT mida_num(telemetry, 'cpu_thread_ns') FROM"
                        " task"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split()[-1]) == 7
    # What version 11 left: the column jsonb.
    psql(pg_db, "DROP VIEW task_v; ALTER TABLE task ALTER COLUMN telemetry"
                " TYPE jsonb USING telemetry::jsonb; ALTER TABLE task_run"
                " ALTER COLUMN telemetry TYPE jsonb USING telemetry::jsonb;"
                " DROP INDEX task_unfinished; CREATE INDEX task_unfinished"
                " ON task(host, pid) WHERE (status IS NULL OR status IN"
                " ('UNKNOWN', 'SUBMITTED', 'RUNNING'));"
                " UPDATE mida_meta SET value = '11' WHERE key ="
                " 'schema_version'")
    send(wire.task_record(tid, telemetry='{"write_bytes": 3}'))
    assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                       " 'schema_version'") == SCHEMA_VERSION
    # Version 14: the partial indexes' condition spelled with equalities,
    # as the LOST updates spell it (PostgreSQL writes an IN list = ANY).
    assert psql(pg_db, "SELECT count(*) FROM pg_indexes WHERE indexname IN"
                       " ('task_unfinished', 'workflow_unfinished',"
                       " 'task_run_unfinished') AND indexdef NOT LIKE"
                       " '%ANY%'") == "3"
    assert psql(pg_db, "SELECT pg_typeof(telemetry) FROM task_v") == "json"
    assert psql(pg_db, fields + " WHERE telemetry->>'write_bytes' = '3'"
                ) == "10|7|1"
    assert psql(pg_db, "SELECT value FROM task_key_num") == "10"


NUL_SCRIPT = """
import mida
@mida.task
def step(name, opts):
    return {"out": name}
with mida.workflow("nul"):
    step("a\\x00b", {"k\\x00": 1})
    step("plain", {})
mida.flush(30)
"""


def test_a_nul_character_in_a_value_does_not_block_the_journal(fleet, pg_db,
                                                               tmp_path):
    """jsonb has no NUL character: a Python string holding one (written
    "\\u0000", valid JSON, kept as it is by SQLite) made the server refuse
    the whole batch, and the journal stayed stuck behind it, so that not
    even the plain task after it was stored. It is stored with U+FFFD in
    the NUL's place."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"),
                    PYTHONPATH=str(build_dir() / "python"))
    r = subprocess.run([sys.executable, "-c", NUL_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = psql(pg_db, "SELECT used->>'name', used->'opts',"
                       " generated->>'out' FROM task ORDER BY started")
    assert rows.splitlines() == [
        "a\ufffdb|{\"k\ufffd\": 1}|a\ufffdb", "plain|{}|plain"]


# A metric key over PostgreSQL's largest index row (8,191 bytes after
# compression, which hex digits of a hash chain defeat): the server
# refuses its row (SQLSTATE 54000, "index row requires ... bytes"), fitted
# or not. The tasks around it, and a plain point after it, are fine.
POISON_SCRIPT = """
import hashlib, mida
link = [hashlib.sha512(b"0").hexdigest()]
while len(link) < 80:
    link.append(hashlib.sha512(link[-1].encode()).hexdigest())
huge_key = "".join(link)
@mida.task
def step(name, poison):
    if poison:
        mida.metric(huge_key, 1.0, step=1)
    mida.metric("loss", 0.5, step=1)
    return name
with mida.workflow("poison"):
    step("before", False)
    step("poisoned", True)
    step("after", False)
print(mida.flush(FLUSH_S), mida.stats()["refused"])
"""


def test_a_refused_record_does_not_hold_back_the_others(fleet, pg_db,
                                                        mida_bin, tmp_path):
    """A record the server refuses however it is sent (here a metric key
    over the index's row size) failed its whole batch for ever: the
    shipper sent it again and again, and no record of the process after
    it was stored (the journal would fill, then capture be dropped); nor
    could `mida recover` ship that journal. The batch is now applied in
    halves: every other record is stored, the refused one is counted in
    the counter `refused`, and the journal empties."""
    env = fleet.env(MIDA_STORE=pg_db, MIDA_SPOOL=str(tmp_path / "spool"),
                    PYTHONPATH=str(build_dir() / "python"))
    script = POISON_SCRIPT.replace("FLUSH_S", "30").replace(
        "print(mida.flush(30), ", "print(mida.flush(30), mida.flush(30), ")
    r = subprocess.run([sys.executable, "-c", script], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    # The first flush says that a record was left out (MIDA_EREFUSED:
    # False), once; counted in the program too (mida_stats_t.refused).
    assert r.stdout.split() == ["False", "True", "1"], r.stdout + r.stderr
    assert psql(pg_db, "SELECT activity || ':' || status FROM task"
                       " ORDER BY started").splitlines() == [
        "step:FINISHED"] * 3
    assert psql(pg_db, "SELECT generated->>'return', count(m.*) FROM task t"
                       " LEFT JOIN metric m ON m.task_id = t.id AND m.key ="
                       " 'loss' GROUP BY 1 ORDER BY 1").splitlines() == [
        "after|1", "before|1", "poisoned|1"]
    assert psql(pg_db, "SELECT count(*) FROM metric WHERE key <> 'loss'"
                ) == "0"
    assert psql(pg_db, "SELECT sum(value) FROM counter WHERE name ="
                       " 'refused'") == "1"
    assert not list((tmp_path / "spool").glob("*.mj"))
    s = subprocess.run([mida_bin, "--store", pg_db, "stats", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert s.returncode == 0, s.stderr
    assert json.loads(s.stdout)["counters"]["refused"] == 1


def test_recover_ships_a_journal_with_a_refused_record(fleet, pg_db,
                                                       mida_bin, tmp_path):
    """The same journal left in the spool (the store down while the
    program ran) is shipped by `mida recover`, which failed on it for
    ever before: the refused record is counted, the rest stored."""
    spool = tmp_path / "spool"
    env = fleet.env(MIDA_STORE="postgresql://postgres@127.0.0.1:1/none",
                    MIDA_SPOOL=str(spool),
                    PYTHONPATH=str(build_dir() / "python"))
    r = subprocess.run([sys.executable, "-c",
                        POISON_SCRIPT.replace("FLUSH_S", "0")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert list(spool.glob("*.mj")), r.stderr
    rec = subprocess.run([mida_bin, "--store", pg_db, "recover", "--spool",
                          str(spool)], capture_output=True, text=True,
                         timeout=120)
    assert rec.returncode == 0, rec.stderr
    # Said once, with the record's type and the server's reason.
    assert rec.stderr.count("mida: warning: store ") == 1, rec.stderr
    assert "refused 1 of a batch's" in rec.stderr
    assert "a metric record (SQLSTATE 54000: index row" in rec.stderr
    assert psql(pg_db, "SELECT count(*) FROM task") == "3"
    assert psql(pg_db, "SELECT count(*) FROM metric WHERE key = 'loss'"
                ) == "3"
    assert psql(pg_db, "SELECT sum(value) FROM counter WHERE name ="
                       " 'refused'") == "1"

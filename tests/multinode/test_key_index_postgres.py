"""`mida index` on the PostgreSQL store: the index is an expression index
on the key (mida.mida_num, inlined by the planner), PostgreSQL's planner
reads it for the query forms that `mida tasks` and the API write
(src/sink/key.h and predicate.c; serve_request_test pins those texts), and
the answers are those of SQLite."""

import csv
import io
import subprocess

from multinode_support import psql

# The forms of src/sink/key.h and predicate.c, with the bound values
# written in: a top 10 by the key, its next page, a range filter that the
# probe found narrow, a range that is not.
TOP = ("SELECT t.id FROM task t WHERE mida_num(t.used, 'lr') IS NOT NULL"
       " ORDER BY mida_num(t.used, 'lr') DESC, t.id DESC LIMIT 11")
NEXT = ("SELECT t.id FROM task t WHERE mida_num(t.used, 'lr') IS NOT NULL"
        " AND (mida_num(t.used, 'lr'), t.id) < (SELECT mida_num(used, 'lr'),"
        " id FROM task WHERE id = 'k000100') ORDER BY mida_num(t.used, 'lr')"
        " DESC, t.id DESC LIMIT 11")
NARROW = ("SELECT t.id FROM task t WHERE unlikely(mida_num(t.used, 'lr') >="
          " CAST('0.9995' AS DOUBLE PRECISION) + 0) ORDER BY t.id DESC"
          " LIMIT 101")
# A range sorted by its key, as the API writes it (no probe, no hint).
BY_KEY = ("SELECT t.id FROM task t WHERE mida_num(t.used, 'lr') IS NOT NULL"
          " AND mida_num(t.used, 'lr') >= CAST('0.5' AS DOUBLE PRECISION) + 0"
          " AND mida_num(t.used, 'lr') < CAST('0.6' AS DOUBLE PRECISION) + 0"
          " ORDER BY mida_num(t.used, 'lr') ASC, t.id ASC LIMIT 101")
TEXT = ("SELECT t.id FROM task t WHERE unlikely(mida_text(t.used, 'opt') ="
        " 'adam-7') ORDER BY t.id DESC LIMIT 101")


def explain(url, sql):
    return psql(url, "SET search_path = public, mida; EXPLAIN " + sql)


def mida(mida_bin, url, *args):
    r = subprocess.run([mida_bin, "--store", url, *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_postgres_plans_read_the_key_index(mida_bin, pg_db, tmp_path):
    (tmp_path / "spool").mkdir()
    mida(mida_bin, pg_db, "recover", "--spool", str(tmp_path / "spool"))
    psql(pg_db, "INSERT INTO task(id, activity, status, started, used)"
                " SELECT 'k' || lpad(g::text, 6, '0'), 'sweep', 'FINISHED', g,"
                " jsonb_build_object('lr', g / 20000.0, 'opt', 'adam-' || g)"
                " FROM generate_series(1, 20000) g; ANALYZE task")
    for sql in (TOP, NEXT, NARROW, BY_KEY, TEXT):
        assert "mida_key_" not in explain(pg_db, sql)
    out = mida(mida_bin, pg_db, "index", "used.lr")
    assert out.startswith("indexed used.lr (numbers, mida_key_num_used_lr_")
    mida(mida_bin, pg_db, "index", "--text", "used.opt")
    for sql in (TOP, NEXT, NARROW, BY_KEY):
        assert "mida_key_num_used_lr_" in explain(pg_db, sql), sql
    # Sorted by the key, the range walks the index in its order: no sort
    # of all its matches, nor a read of the whole table.
    plan = explain(pg_db, BY_KEY)
    assert "Sort" not in plan and "Seq Scan" not in plan, plan
    assert "mida_key_text_used_opt_" in explain(pg_db, TEXT)

    listed = list(csv.DictReader(io.StringIO(
        mida(mida_bin, pg_db, "index", "--list", "--csv"))))
    assert [(x["key"], x["kind"]) for x in listed] == [
        ("used.lr", "num"), ("used.opt", "text")]
    top = list(csv.DictReader(io.StringIO(mida(
        mida_bin, pg_db, "tasks", "--sort", "-used.lr", "--limit", "3",
        "--csv"))))
    assert [x["id"] for x in top] == ["k020000", "k019999", "k019998"]
    few = list(csv.DictReader(io.StringIO(mida(
        mida_bin, pg_db, "tasks", "--where", "used.lr>=0.9999", "--csv"))))
    assert sorted(x["id"] for x in few) == ["k019998", "k019999", "k020000"]

    mida(mida_bin, pg_db, "index", "--drop", "used.lr")
    assert "mida_key_num_used_lr_" not in explain(pg_db, TOP)
    assert psql(pg_db, "SELECT count(*) FROM pg_indexes WHERE indexname"
                       " LIKE 'mida_key_num_%'") == "0"

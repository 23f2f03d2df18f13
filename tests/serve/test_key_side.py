"""A range on a declared numeric key, newest first (GET /api/tasks?where=
used.lr>=A&where=used.lr<B): read from the key's side table task_key_num
(src/sink/key_side.h) on SQLite and PostgreSQL, its pages give exactly the
rows that a full scan of the task table gives, in id order; the side table
holds exactly the tasks' numbers (its backfill, and on PostgreSQL the
statement-level triggers of later inserts, upserts and changes);
dropping the index empties it; and PostgreSQL stores of version 7, 8 and
9 with a declared key are migrated, twice without change. (The SQLite triggers and its migration from version 7:
src/sink/sqlite_test.c.)"""

import pathlib
import random
import re
import sqlite3
import subprocess
import urllib.parse

from serve_support import psql

N = 3000
SCHEMA_VERSION = re.search(
    r"#define MIDA_SCHEMA_VERSION (\d+)",
    (pathlib.Path(__file__).resolve().parents[2] / "src" / "sink"
     / "schema.h").read_text())[1]
LO, HI = 0.3, 0.34  # about 4 % of the tasks


def task_rows(seed, first):
    """(id, started, used) of N tasks, ids in time order; some with a text
    lr, some without one."""
    rnd = random.Random(seed)
    out = []
    for i in range(first, first + N):
        tid = f"0190a4c2-0000-7000-8000-{i:012d}"
        if i % 17 == 0:
            used = '{"lr": "high"}'
        elif i % 13 == 0:
            used = '{"batch": 4}'
        else:
            used = '{"lr": %r}' % round(rnd.random(), 6)
        out.append((tid, 1_700_000_000_000_000_000 + i, used))
    return out


def mida(mida_bin, store, *args):
    r = subprocess.run([mida_bin, "--store", store, *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_schema(mida_bin, store, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    mida(mida_bin, store, "recover", "--spool", str(spool))


def wanted(rows):
    """The full scan: ids whose lr is a number in [LO, HI), newest first."""
    import json
    ids = []
    for tid, _, used in rows:
        lr = json.loads(used).get("lr")
        if isinstance(lr, float) and LO <= lr < HI:
            ids.append(tid)
    return sorted(ids, reverse=True)


def paged(server, limit=37, lo=LO, hi=HI):
    where = ("where=" + urllib.parse.quote(f"used.lr>={lo}") + "&where="
             + urllib.parse.quote(f"used.lr<{hi}"))
    seen, after = [], None
    while True:
        target = f"/api/tasks?{where}&limit={limit}" + (
            f"&after={after}" if after else "")
        st, body = server.get_json(target)
        assert st == 200, body
        seen += [t["id"] for t in body["items"]]
        after = body["next"]
        if after is None:
            return seen


def test_sqlite_range_newest_first_is_exact(serve, mida_bin, tmp_path):
    store = str(tmp_path / "keys.db")
    make_schema(mida_bin, store, tmp_path)
    rows = task_rows(1, 0)
    db = sqlite3.connect(store)
    db.executemany("INSERT INTO task(id, status, started, used)"
                   " VALUES (?, 'FINISHED', ?, ?)", rows)
    db.commit()
    db.close()
    mida(mida_bin, store, "index", "used.lr")
    db = sqlite3.connect(store)
    held = db.execute("SELECT count(*) FROM task_key_num").fetchone()[0]
    db.close()
    assert held == sum(1 for r in rows if '"lr": 0' in r[2]
                       or '"lr": 1' in r[2])
    s = serve(store)
    want = wanted(rows)
    assert len(want) > 37
    assert paged(s) == want
    assert paged(s, limit=1000) == want


SIDE_HELD = "SELECT task_id || '=' || value FROM task_key_num ORDER BY 1"
SIDE_WANTED = ("SELECT id || '=' || mida.mida_num(used, 'lr') FROM task"
               " WHERE mida.mida_num(used, 'lr') IS NOT NULL ORDER BY 1")


# The key's triggers that fire once per statement (tgtype bit 0 clear).
STATEMENT_TRIGGERS = ("SELECT count(*) FROM pg_trigger WHERE tgname IN"
                      " ('{name}_i', '{name}_u', '{name}_d')"
                      " AND tgtype & 1 = 0 AND NOT tgisinternal")


def pg_insert(url, rows):
    for i in range(0, len(rows), 500):
        values = ", ".join(f"('{t}', 'FINISHED', {s}, '{u}')"
                           for t, s, u in rows[i:i + 500])
        psql(url, "INSERT INTO task(id, status, started, used) VALUES "
             + values)


def test_postgres_side_table_and_range_newest_first(serve, mida_bin, pg_db,
                                                    tmp_path):
    make_schema(mida_bin, pg_db, tmp_path)
    rows = task_rows(2, 0)
    pg_insert(pg_db, rows)
    mida(mida_bin, pg_db, "index", "used.lr")
    assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)
    # Kept by the trigger: later tasks, a number changed, one turned text,
    # one deleted.
    more = task_rows(3, N)
    pg_insert(pg_db, more)
    psql(pg_db, "UPDATE task SET used = '{\"lr\": 0.31}' WHERE id ="
                f" '{rows[1][0]}'; UPDATE task SET used = '{{\"lr\": \"x\"}}'"
                f" WHERE id = '{rows[2][0]}'; DELETE FROM task WHERE id ="
                f" '{rows[3][0]}'")
    assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)
    # An upsert as the store's merge writes it (ON CONFLICT DO UPDATE):
    # rows updated (a number changed, one gone, one added) and one new.
    psql(pg_db, "INSERT INTO task(id, status, used) VALUES"
                f" ('{rows[4][0]}', 'FINISHED', '{{\"lr\": 0.32}}'),"
                f" ('{rows[5][0]}', 'FINISHED', '{{\"batch\": 1}}'),"
                f" ('{rows[13][0]}', 'FINISHED', '{{\"lr\": 0.33}}'),"
                " ('0190a4c2-0000-7000-8000-999999999999', 'FINISHED',"
                " '{\"lr\": 0.305}') ON CONFLICT(id) DO UPDATE SET"
                " used = excluded.used")
    # A statement that changes many rows but not the key.
    psql(pg_db, "UPDATE task SET status = 'LOST' WHERE started % 3 = 0")
    assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)
    s = serve(pg_db)
    # A range of about 4 % and one of 0.3 % in small pages: the first
    # entries of the side table in id order hold enough matches that it is
    # walked by id (key_index.h); 0.3 % in a page of 100 (one page): read
    # by value.
    for lo, hi, limit in ((LO, HI, 37), (0.5, 0.503, 4), (0.5, 0.503, 100)):
        full = psql(pg_db, "SELECT id FROM task WHERE"
                           f" mida.mida_num(used, 'lr') >= {lo} AND"
                           f" mida.mida_num(used, 'lr') < {hi}"
                           " ORDER BY id DESC").split("\n")
        assert len(full) > min(limit, 4)
        assert paged(s, limit, lo, hi) == full
    s.stop()
    mida(mida_bin, pg_db, "index", "--drop", "used.lr")
    assert psql(pg_db, "SELECT count(*) FROM task_key_num") == "0"
    assert psql(pg_db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE"
                       " 'mida_key_%'") == "0"


def test_postgres_schema_7_migrated(mida_bin, pg_db, tmp_path):
    make_schema(mida_bin, pg_db, tmp_path)
    rows = task_rows(4, 0)[:500]
    pg_insert(pg_db, rows)
    mida(mida_bin, pg_db, "index", "used.lr")
    name = psql(pg_db, "SELECT name FROM mida_index")
    # What version 7 had: the declared key's row and expression index.
    psql(pg_db, f"DROP TRIGGER {name}_i ON task; DROP TRIGGER {name}_u ON"
                f" task; DROP TRIGGER {name}_d ON task;"
                " DROP TABLE task_key_num;"
                " UPDATE mida_meta SET value = '7' WHERE key ="
                " 'schema_version'")
    for _ in range(2):
        make_schema(mida_bin, pg_db, tmp_path)
        assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                           " 'schema_version'") == SCHEMA_VERSION
        assert psql(pg_db, STATEMENT_TRIGGERS.format(name=name)) == "3"
        assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)
    pg_insert(pg_db, task_rows(5, 1000)[:10])
    assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)


def test_postgres_schema_8_migrated(mida_bin, pg_db, tmp_path):
    """A version 8 store: the key's row trigger (the function
    mida.task_key_num_sync) becomes three statement-level triggers, its
    rows stay, and the functions made since version 8 first appeared
    (mida.likely, which a store made by 2c20987 lacks) are made."""
    make_schema(mida_bin, pg_db, tmp_path)
    rows = task_rows(6, 0)[:500]
    pg_insert(pg_db, rows)
    mida(mida_bin, pg_db, "index", "used.lr")
    name = psql(pg_db, "SELECT name FROM mida_index")
    # What version 8 had: a row trigger named as the index (its function
    # here a stand-in), and at first no mida.likely.
    psql(pg_db, f"DROP TRIGGER {name}_i ON task; DROP TRIGGER {name}_u ON"
                f" task; DROP TRIGGER {name}_d ON task;"
                " DROP FUNCTION mida.likely(boolean);"
                " CREATE FUNCTION mida.task_key_num_sync() RETURNS trigger"
                " LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;"
                f" CREATE TRIGGER {name} AFTER INSERT OR DELETE OR UPDATE OF"
                " used ON task FOR EACH ROW EXECUTE FUNCTION"
                " mida.task_key_num_sync();"
                " UPDATE mida_meta SET value = '8' WHERE key ="
                " 'schema_version'")
    for _ in range(2):
        make_schema(mida_bin, pg_db, tmp_path)
        assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                           " 'schema_version'") == SCHEMA_VERSION
        assert psql(pg_db, STATEMENT_TRIGGERS.format(name=name)) == "3"
        assert psql(pg_db, "SELECT count(*) FROM pg_trigger WHERE tgname ="
                           f" '{name}'") == "0"
        assert psql(pg_db, "SELECT count(*) FROM pg_proc WHERE proname ="
                           " 'task_key_num_sync'") == "0"
        assert psql(pg_db, "SELECT mida.likely(true)") == "t"
        assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)
    pg_insert(pg_db, task_rows(7, 1000)[:10])
    psql(pg_db, f"DELETE FROM task WHERE id = '{rows[0][0]}'")
    assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)


def test_postgres_schema_9_migrated(mida_bin, pg_db, tmp_path):
    """A version 9 store: the side table gets its index in id order
    (task_key_num_by_task, version 10), its rows and triggers stay."""
    make_schema(mida_bin, pg_db, tmp_path)
    rows = task_rows(8, 0)[:500]
    pg_insert(pg_db, rows)
    mida(mida_bin, pg_db, "index", "used.lr")
    name = psql(pg_db, "SELECT name FROM mida_index")
    psql(pg_db, "DROP INDEX task_key_num_by_task;"
                " UPDATE mida_meta SET value = '9' WHERE key ="
                " 'schema_version'")
    for _ in range(2):
        make_schema(mida_bin, pg_db, tmp_path)
        assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                           " 'schema_version'") == SCHEMA_VERSION
        assert psql(pg_db, "SELECT indexdef FROM pg_indexes WHERE indexname"
                           " = 'task_key_num_by_task'").endswith(
            "(name, task_id, value)")
        assert psql(pg_db, STATEMENT_TRIGGERS.format(name=name)) == "3"
        assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)
    pg_insert(pg_db, task_rows(9, 1000)[:10])
    assert psql(pg_db, SIDE_HELD) == psql(pg_db, SIDE_WANTED)

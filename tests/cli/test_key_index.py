"""`mida index` and the queries on a key of the task documents (SQLite):
an index is made, listed, dropped and declared by MIDA_INDEX at a writer's
open; `mida tasks --where/--sort` give the same answers with and without
it, and with it SQLite's plan of the query that `mida tasks` runs reads the
index (src/sink/key.h writes the one expression both use)."""

import csv
import io
import json
import sqlite3

import pytest

from mida_cli_store import make_store

LRS = [round(0.001 * i, 3) for i in range(1, 41)]  # 40 tasks with used.lr


@pytest.fixture
def keyed(tmp_path):
    """The fixture store plus 40 tasks whose used.lr is 0.001 .. 0.040 (and
    one whose lr is text, which numeric queries leave out)."""
    path = tmp_path / "keyed.db"
    make_store(str(path))
    db = sqlite3.connect(path)
    rows = [(f"0190a4c2-0000-7000-8000-0000000b{i:04d}", "sweep", "FINISHED",
             1_700_000_100_000_000_000 + i, '{"lr": %s}' % lr)
            for i, lr in enumerate(LRS)]
    rows.append(("0190a4c2-0000-7000-8000-0000000bffff", "sweep", "FINISHED",
                 1_700_000_200_000_000_000, '{"lr": "high"}'))
    db.executemany("INSERT INTO task(id, activity, status, started, used)"
                   " VALUES (?,?,?,?,?)", rows)
    db.commit()
    db.close()
    return str(path)


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def indexes(path):
    db = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in db.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'index'"
            " AND name LIKE 'mida_key_%'"))
    finally:
        db.close()


def test_index_is_made_listed_and_dropped(run, keyed):
    r = run("index", "used.lr", "generated.loss", store_path=keyed)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("indexed used.lr (numbers, mida_key_num_used_lr_")
    r = run("index", "--text", "custom.tag", store_path=keyed)
    assert r.returncode == 0, r.stderr
    listed = rows(run("index", "--list", "--csv", store_path=keyed).stdout)
    assert [(x["key"], x["kind"]) for x in listed] == [
        ("custom.tag", "text"), ("generated.loss", "num"), ("used.lr", "num")]
    assert sorted(x["name"] for x in listed) == indexes(keyed)
    # Again: nothing changes.
    assert run("index", "used.lr", store_path=keyed).returncode == 0
    assert len(indexes(keyed)) == 3
    r = run("index", "--drop", "used.lr", store_path=keyed)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("dropped used.lr")
    listed = rows(run("index", "--list", "--csv", store_path=keyed).stdout)
    assert [x["key"] for x in listed] == ["custom.tag", "generated.loss"]
    assert len(indexes(keyed)) == 2


def test_dropping_an_index_that_is_not_there_says_so(run, keyed, tmp_path):
    """`mida index --drop used.x` printed 'dropped used.x (numbers, ...)'
    and exit 0 for a key that had no index, and on a store that was not
    there it made an empty store first."""
    r = run("index", "--drop", "used.nope", store_path=keyed)
    assert r.returncode == 1, r.stdout
    assert r.stdout == ""
    assert r.stderr == ("mida: no index on used.nope (numbers); "
                        "'mida index --list' lists them\n")
    assert run("index", "used.lr", store_path=keyed).returncode == 0
    r = run("index", "--drop", "--text", "used.lr", store_path=keyed)
    assert r.returncode == 1 and "no index on used.lr (text)" in r.stderr
    assert len(indexes(keyed)) == 1
    missing = tmp_path / "missing.db"
    r = run("index", "--drop", "used.lr", store_path=str(missing))
    assert r.returncode == 1, r.stdout
    assert r.stderr == (f"mida: no store at {missing} "
                        "(set --store or MIDA_STORE)\n")
    assert not missing.exists()


@pytest.mark.parametrize("args", [
    [], ["lr"], ["used."], ["used.a..b"], ["x.lr"], ["used.a'b"],
    ["--list", "used.lr"], ["--csv", "used.lr"]])
def test_index_usage_errors(run, keyed, args):
    r = run("index", *args, store_path=keyed)
    assert r.returncode == 2, r.stdout
    assert "mida index: " in r.stderr
    assert indexes(keyed) == []


def answers(run, store):
    """What the key queries of `mida tasks` answer, as comparable values."""
    top = rows(run("tasks", "--sort", "-used.lr", "--limit", "3", "--csv",
                   store_path=store).stdout)
    low = rows(run("tasks", "--sort", "used.lr", "--limit", "2", "--csv",
                   store_path=store).stdout)
    rng = rows(run("tasks", "--where", "used.lr<=0.003", "--csv",
                   store_path=store).stdout)
    few = rows(run("tasks", "--where", "used.lr>0.0385", "--csv",
                   store_path=store).stdout)
    text = rows(run("tasks", "--where", "used.lr=high", "--csv",
                    store_path=store).stdout)
    # A range sorted by its own key: the index walked in order, no probe
    # (the fixture store has a task of lr 0.01 too).
    ranged = rows(run("tasks", "--where", "used.lr>=0.010", "--sort",
                      "used.lr", "--limit", "3", "--csv",
                      store_path=store).stdout)
    return ([float(x["used.lr"]) for x in top],
            [float(x["used.lr"]) for x in low],
            sorted(float(x["used.lr"]) for x in rng),
            sorted(float(x["used.lr"]) for x in few),
            [x["used.lr"] for x in text],
            [float(x["used.lr"]) for x in ranged])


@pytest.mark.parametrize("spaced, tight", [
    ("used.lr > 0.0385", "used.lr>0.0385"),
    ("used.lr <= 0.003", "used.lr<=0.003"),
    ("used.lr = high", "used.lr=high"),
    ("used.lr= high", "used.lr=high"),
    ("used.lr != high", "used.lr!=high")])
def test_a_where_with_spaces_around_its_operator_reads_alike(run, keyed,
                                                            spaced, tight):
    """'used.lr > 0.01' was refused with 'the operator must be one of = !=
    < <= > >=', which it is; 'used.lr= high' compared with ' high' and
    matched nothing."""
    want = run("tasks", "--where", tight, "--csv", store_path=keyed)
    assert want.returncode == 0 and len(rows(want.stdout)) > 0
    got = run("tasks", "--where", spaced, "--csv", store_path=keyed)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want.stdout


def test_the_key_column_keeps_every_digit_of_a_number(run, tmp_path):
    """The column --where and --sort add printed SQLite's 15-digit text of
    the number: 0.30000000000000004 as 0.3, 1/3 as 0.333333333333333,
    123456789.12345679 as 123456789.123457 (docs/cli.md: a real prints as
    the shortest text that reads back to it), and in JSON as those wrong
    numbers."""
    path = tmp_path / "digits.db"
    make_store(str(path))
    lrs = [0.1 + 0.2, 1 / 3, 123456789.12345679, 1e-07, 10]
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO task(id, activity, status, started, used)"
                   " VALUES (?,?,?,?,?)",
                   [(f"0190a4c2-0000-7000-8000-0000000c{i:04d}", "digits",
                     "FINISHED", 1_700_000_300_000_000_000 + i,
                     json.dumps({"lr": lr})) for i, lr in enumerate(lrs)])
    db.commit()
    db.close()
    want = sorted((repr(lr) for lr in lrs), key=float, reverse=True)
    r = run("tasks", "--activity", "digits", "--sort", "-used.lr", "--csv",
            store_path=str(path))
    assert r.returncode == 0, r.stderr
    assert [x["used.lr"] for x in rows(r.stdout)] == want
    r = run("tasks", "--activity", "digits", "--where", "used.lr>0",
            "--json", store_path=str(path))
    got = sorted((x["used.lr"] for x in json.loads(r.stdout)), reverse=True)
    assert got == sorted(lrs, reverse=True)


def test_tasks_by_key_same_with_and_without_the_index(run, keyed):
    want = ([0.04, 0.039, 0.038], [0.001, 0.002], [0.001, 0.002, 0.003],
            [0.039, 0.04], ["high"], [0.01, 0.01, 0.011])
    assert answers(run, keyed) == want
    assert run("index", "used.lr", store_path=keyed).returncode == 0
    assert run("index", "--text", "used.lr", store_path=keyed).returncode == 0
    assert answers(run, keyed) == want


def plan(run, store, sql):
    r = run("query", "EXPLAIN QUERY PLAN " + sql, "--csv", store_path=store)
    assert r.returncode == 0, r.stderr
    return " | ".join(x["detail"] for x in rows(r.stdout))


def test_sqlite_plans_read_the_index(run, keyed):
    """The forms key.h and predicate.c write (pinned by serve_request_test,
    whose test_key_index_serves_where_and_sort explains the API's own
    queries)."""
    top = ("SELECT id FROM task WHERE TRUE AND mida_num(task.used, 'lr')"
           " IS NOT NULL ORDER BY mida_num(task.used, 'lr') DESC, id DESC"
           " LIMIT 10")
    rng = ("SELECT id FROM task t WHERE unlikely(mida_num(t.used, 'lr') >="
           " CAST('0.039' AS DOUBLE PRECISION) + 0) ORDER BY t.id DESC"
           " LIMIT 101")
    assert "mida_key" not in plan(run, keyed, top)
    assert run("index", "used.lr", store_path=keyed).returncode == 0
    assert "USING INDEX mida_key_num_used_lr_" in plan(run, keyed, top)
    assert "USING INDEX mida_key_num_used_lr_" in plan(run, keyed, rng)


def test_mida_index_declares_indexes_at_a_writers_open(run, keyed, tmp_path):
    spool = tmp_path / "empty-spool"
    spool.mkdir()
    env = {"MIDA_INDEX": " used.lr, text:custom.tag ,generated.loss"}
    r = run("recover", "--spool", str(spool), store_path=keyed, env=env)
    assert r.returncode == 0, r.stderr
    listed = rows(run("index", "--list", "--csv", store_path=keyed).stdout)
    assert [(x["key"], x["kind"]) for x in listed] == [
        ("custom.tag", "text"), ("generated.loss", "num"), ("used.lr", "num")]
    assert len(indexes(keyed)) == 3
    # A reader does not make them; a wrong key fails the writer's open
    # with a message that names it.
    r = run("tasks", store_path=keyed, env={"MIDA_INDEX": "used.x"})
    assert r.returncode == 0
    assert len(indexes(keyed)) == 3
    r = run("recover", "--spool", str(spool), store_path=keyed,
            env={"MIDA_INDEX": "used.lr,nokey"})
    assert r.returncode == 1
    assert "MIDA_INDEX: 'nokey'" in r.stderr

"""`mida tasks --where` may be given several times: the tasks where all
the predicates hold, as the HTTP API's several where= parameters (the same
parser, src/sink/predicate.h), with and without `mida index` on the keys;
a bad predicate, first or second, is a usage error that names it; more
than 8 is a usage error. Until 2026-12-06 a second --where was refused as
"given twice"."""

import csv
import io
import sqlite3

import pytest

from mida_cli_store import make_store


@pytest.fixture
def grid(tmp_path):
    """The fixture store plus 20 tasks "grid": used.lr 0.01 .. 0.05 for
    each used.bs 1 .. 4."""
    path = tmp_path / "grid.db"
    make_store(str(path))
    db = sqlite3.connect(path)
    rows = []
    for i in range(20):
        lr, bs = round(0.01 * (i % 5 + 1), 2), i // 5 + 1
        rows.append((f"0190a4c2-0000-7000-8000-0000000c{i:04d}", "grid",
                     "FINISHED", 1_700_000_100_000_000_000 + i,
                     '{"lr": %s, "bs": %d}' % (lr, bs)))
    db.executemany("INSERT INTO task(id, activity, status, started, used)"
                   " VALUES (?,?,?,?,?)", rows)
    db.commit()
    db.close()
    return str(path)


def listed(run, store, *wheres, sort=None):
    args = ["tasks", "--csv"]
    for w in wheres:
        args += ["--where", w]
    if sort:
        args += ["--sort", sort]
    r = run(*args, store_path=store)
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


@pytest.mark.parametrize("indexed", [False, True])
def test_several_where_keep_the_tasks_where_all_hold(run, grid, indexed):
    if indexed:
        r = run("index", "used.lr", "used.bs", store_path=grid)
        assert r.returncode == 0, r.stderr
    got = listed(run, grid, "used.lr>0.03", "used.bs<2")
    assert sorted((t["used.lr"], t["used.bs"]) for t in got) == [
        ("0.04", "1"), ("0.05", "1")]
    # Two on one key: a range; the key's column is shown once.
    got = listed(run, grid, "used.lr>=0.02", "used.lr<=0.03")
    assert len(got) == 8 and {t["used.lr"] for t in got} == {"0.02", "0.03"}
    assert list(got[0]) == ["id", "activity", "status", "started",
                            "duration_s", "host_pid", "used.lr"]
    # Three, with the sort on one of their keys.
    got = listed(run, grid, "used.lr>0.01", "used.bs>=3", "used.bs!=4",
                 sort="-used.lr")
    assert [(t["used.lr"]) for t in got] == ["0.05", "0.04", "0.03", "0.02"]
    # None match all.
    assert listed(run, grid, "used.lr>0.04", "used.lr<0.02") == []
    # One alone is as before.
    assert len(listed(run, grid, "used.bs=2")) == 5


def test_a_bad_where_first_or_second_is_a_usage_error(run, grid):
    single = run("tasks", "--where", "used.bs<<2", store_path=grid)
    assert single.returncode == 2, single.stderr
    for args in (("--where", "used.lr>0.03", "--where", "used.bs<<2"),
                 ("--where", "used.bs<<2", "--where", "used.lr>0.03")):
        r = run("tasks", *args, store_path=grid)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stdout == ""
        assert "mida tasks: --where 'used.bs<<2': " in r.stderr, r.stderr
        assert r.stderr == single.stderr
    r = run("tasks", "--where", "used.lr>0.03", "--where", "nodoc.x=1",
            store_path=grid)
    assert r.returncode == 2 and "--where 'nodoc.x=1'" in r.stderr, r.stderr


def test_more_than_eight_where_is_a_usage_error(run, grid):
    args = ["tasks"]
    for i in range(9):
        args += ["--where", f"used.lr>0.00{i}"]
    r = run(*args, store_path=grid)
    assert r.returncode == 2, r.stderr
    assert "option '--where' given more than 8 times" in r.stderr, r.stderr
    # Eight are taken: the 20 tasks of the grid and the fixture's "fit".
    assert len(listed(run, grid, *[f"used.lr>0.00{i}" for i in range(8)])) \
        == 21


def test_the_help_says_what_where_and_activity_take(run, grid):
    """`--where used.bs` (a key alone) keeps the tasks that have the key
    and `--activity 'gr[i]d'` is a glob, as the API's where= and
    activity= are; `mida tasks --help` said only DOC.KEY OP VALUE and
    "'*' and '?' are wildcards". And `mida recover --help`'s usage line
    lacked two of its options."""
    got = listed(run, grid, "used.bs")
    assert len(got) == 20 and {t["activity"] for t in got} == {"grid"}
    r = run("tasks", "--csv", "--activity", "gr[i]d", store_path=grid)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 21, r.stdout
    help_text = " ".join(run("tasks", "--help").stdout.split())
    assert "DOC.KEY alone: tasks that have the key" in help_text, help_text
    assert "'*', '?' and '[...]' are wildcards" in help_text, help_text
    usage = run("recover", "--help").stdout.splitlines()[0]
    assert usage == ("usage: mida recover [--spool DIR] [--settle]"
                     " [--after-fd N]"), usage

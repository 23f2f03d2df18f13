"""Every reading verb of `mida` on both stores (issue 11, item 8).

The fixture store of these tests (mida_cli_store.py) is copied as it is
into a fresh PostgreSQL database, and each reading verb -- workflows,
tasks, show, lineage, telemetry, stats, query, diff, export -- runs on
both: it must succeed on each, and where the verb's output is the same
data it must be the same text. (`mida telemetry` and `mida diff` failed on
PostgreSQL 15: a subquery without an alias, and sum() of text.) Numbers
are compared by value: PostgreSQL's round() keeps its scale (10.000 where
SQLite prints 10.0, docs/cli.md), which also moves a table's columns."""

import re
import subprocess
import sys

import pytest

import mida_cli_store as fx
from pg_database import copy_store, pg_database
from multinode_support import psql  # noqa: E402 (pg_database's path)

# (arguments, whether both stores print the very same text)
VERBS = [
    (["workflows"], True),
    (["workflows", "--json"], True),
    (["tasks"], True),
    (["tasks", "--json", "--workflow", fx.WF_TRAIN], True),
    (["show", fx.T_FIT], True),
    (["show", fx.WF_PREP], True),
    (["show", "load-1"], True),  # a source key (test_source_keys.py)
    (["lineage", fx.T_CLEAN], True),
    (["lineage", "load-1", "--down"], True),
    (["lineage", fx.D_CLEAN, "--dot"], True),
    (["telemetry"], True),
    (["telemetry", "--json", "--limit", "5"], True),
    (["stats"], False),  # names the store
    (["stats", "--json"], False),
    (["query", "SELECT activity, count(*) AS n FROM task GROUP BY 1"
      " ORDER BY 1"], True),
    (["diff", fx.WF_PREP, fx.WF_TRAIN], True),
    (["diff", fx.WF_TRAIN, fx.WF_TRAIN, "--json"], True),
    (["export", "prov", "--workflow", fx.WF_PREP], False),  # generated ids
    (["export", "prov"], False),  # campaigns and metric series too
    (["export", "openlineage", "--workflow", fx.WF_TRAIN], False),
]


def by_value(text):
    """text with decimals written without trailing zeros, and runs of
    blanks and of dashes (a table's alignment) made one."""
    text = re.sub(r"(\d\.\d*?)0+(?!\d)", r"\1", text)
    text = re.sub(r"(\d)\.(?!\d)", r"\1", text)
    text = re.sub(r"-{2,}", "-", text)
    return re.sub(r"[ \t]+", " ", text)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """(sqlite URL, postgresql URL) holding the same rows."""
    tmp = tmp_path_factory.mktemp("both")
    lite = tmp / "fixture.db"
    fx.make_store(str(lite))
    with pg_database("mida_verbs") as pg:
        copy_store(lite, pg, tmp / "spool")
        yield f"sqlite://{lite}", pg


@pytest.mark.parametrize("args, same", VERBS,
                         ids=[" ".join(a[:2]) for a, _ in VERBS])
def test_reading_verb_on_both_stores(run, stores, args, same):
    lite, pg = stores
    a = run(*args, store_path=lite)
    b = run(*args, store_path=pg)
    assert a.returncode == 0, a.stderr
    assert b.returncode == 0, b.stderr
    assert b.stdout.strip(), "no output on PostgreSQL"
    if same:
        assert by_value(a.stdout) == by_value(b.stdout)


@pytest.mark.parametrize("fmt", ["--csv", "--json", None])
def test_a_result_without_rows_says_its_columns_on_both_stores(run, stores,
                                                               fmt):
    """A query that matches nothing: its CSV is still a header line (a
    file that a CSV reader takes as a table of those columns, where an
    empty file is an error), its JSON an empty array, its table "(no
    rows)" -- the same on both stores. The store's query path announces
    the columns before the rows, or alone when there are none."""
    sql = "SELECT id, activity AS what FROM task WHERE activity = 'none such'"
    args = ["query"] + ([fmt] if fmt else []) + [sql]
    want = {"--csv": "id,what\r\n", "--json": "[]\n", None: "(no rows)\n"}
    for store in stores:
        r = run(*args, store_path=store)
        assert r.returncode == 0, r.stderr
        assert r.stdout == want[fmt], store


@pytest.fixture
def empty_stores(tmp_path):
    """(sqlite URL, postgresql URL) of two new, empty stores."""
    with pg_database("mida_empty") as pg:
        yield f"sqlite://{tmp_path / 'empty.db'}", pg


def test_lineage_starts_from_a_digest_on_both_stores(run, empty_stores,
                                                     tmp_path):
    """A file that `mida run --digest` saw is data whose id is its
    version (inode:...) and whose digest is its content's: the lineage
    starts from that digest as it does from the id or the URI
    (docs/cli.md), found through the index data_by_digest."""
    (tmp_path / "p.py").write_text(
        "open('out.txt', 'w').write('hello')\n")
    want = ("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e"
            "1b161e5c1fa7425e73043362938b9824")
    for store in empty_stores:
        r = run("run", "--digest", "--", sys.executable, "p.py",
                store_path=store)
        assert r.returncode == 0, r.stderr
        r = run("query", "--csv", "SELECT id, digest FROM data"
                " WHERE uri LIKE '%/out.txt'", store_path=store)
        assert r.returncode == 0, r.stderr
        data_id, digest = r.stdout.splitlines()[1].split(",")
        assert digest == want and data_id != want, store
        r = run("lineage", want, store_path=store)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"data {data_id} file://"), store
        assert "<- generated by task" in r.stdout, store
        assert "p.py (file)" in r.stdout, store
    plan = run("query", "EXPLAIN QUERY PLAN SELECT id FROM data"
               f" WHERE digest = '{want}'", store_path=empty_stores[0])
    assert "data_by_digest" in plan.stdout, plan.stdout


def test_query_keeps_every_byte_and_every_column_on_both_stores(stores,
                                                                 mida_bin):
    """`mida query` lost data three ways: a text with a NUL byte ended at
    it (char(0)||'x' printed ""), a BLOB was written as its raw bytes (0xff
    in CSV, U+FFFD in JSON), and a repeated column name made a JSON object
    with a duplicate key, which a reader keeps one of. Now the NUL is kept
    (\\u0000 in JSON, as it is in a quoted CSV field), a BLOB is "\\x" and
    its hex as PostgreSQL writes a bytea (the same text on both stores),
    and a repeated name becomes a key of its own (a, a_2)."""
    lite, pg = stores

    def query(store, fmt, sql):
        r = subprocess.run([mida_bin, "--store", store, "query", fmt, sql],
                           capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    # PostgreSQL's text holds no NUL byte: SQLite only.
    nul = "SELECT char(0) || 'x' AS nul, 'y' AS after"
    assert query(lite, "--csv", nul) == b'nul,after\r\n"\x00x",y\r\n'
    assert query(lite, "--json", nul) == (
        b'[\n  {"nul": "\\u0000x", "after": "y"}\n]\n')
    blob = {lite: "SELECT x'ff00' AS b, x'' AS e",
            pg: "SELECT '\\xff00'::bytea AS b, ''::bytea AS e"}
    for store, sql in blob.items():
        assert query(store, "--csv", sql) == b"b,e\r\n\\xff00,\\x\r\n", store
        assert query(store, "--json", sql) == (
            b'[\n  {"b": "\\\\xff00", "e": "\\\\x"}\n]\n'), store
        dup = "SELECT 1 AS a, 2 AS a, 3 AS a_2, 4 AS a"
        assert query(store, "--json", dup) == (
            b'[\n  {"a": 1, "a_3": 2, "a_2": 3, "a_4": 4}\n]\n'), store
        assert query(store, "--csv", dup) == b"a,a,a_2,a\r\n1,2,3,4\r\n"


def test_exports_give_the_same_metric_series_on_both_stores(run, stores,
                                                            tmp_path):
    """The metric series of the OpenLineage events (mida_metrics facet) and
    of the RO-Crate (PropertyValues of a task's result) come from one query
    of the task walk, with each series' last point: the same on both, as
    are the crate's campaigns and what its runs are part of."""
    import json
    seen = []
    for n, store in enumerate(stores):
        r = run("export", "openlineage", store_path=store)
        assert r.returncode == 0, r.stderr
        facets = [e["run"]["facets"]["mida_metrics"] for e in
                  map(json.loads, r.stdout.splitlines())
                  if "mida_metrics" in e["run"]["facets"]]
        crate = tmp_path / f"crate{n}"
        r = run("export", "rocrate", str(crate), store_path=store)
        assert r.returncode == 0, r.stderr
        pvs = {e["@id"]: (e.get("value"), e.get("isPartOf"))
               for e in json.loads(
                   (crate / "ro-crate-metadata.json").read_text())["@graph"]
               if "-metric-" in e["@id"] or "isPartOf" in e or
               e["@id"].startswith("#campaign-")}
        seen.append(([f["metrics"] for f in facets], pvs))
    assert seen[0] == seen[1]
    assert seen[0][0] == [[
        {"key": "acc", "value": 0.75, "step": 2,
         "time": "2023-11-14T22:13:44.000Z", "points": 1},
        {"key": "loss", "value": 0.25, "step": 2,
         "time": "2023-11-14T22:13:44.000Z", "points": 3}]]
    # 2 series, each with step, points, time; the campaign, the 2
    # workflow runs and the 5 tasks that are part of it
    assert len(seen[0][1]) == 8 + 1 + 2 + 5


def test_prov_is_written_in_one_order_on_both_stores(run, stores):
    """PROV's tasks, workflows and associations came in the order the
    store read them: on PostgreSQL its heap's, which an update changes
    (the row updated moves to its end), so the same store gave another
    document, its associations numbered otherwise. Ordered by id now."""
    import json
    lite, pg = stores
    first = "(SELECT min(id) FROM task)"
    psql(pg, f"UPDATE task SET activity = activity WHERE id = {first}")
    psql(pg, "UPDATE workflow SET name = name"
             " WHERE id = (SELECT min(id) FROM workflow)")
    docs = []
    for store in (lite, pg):
        r = run("export", "prov", store_path=store)
        assert r.returncode == 0, r.stderr
        d = json.loads(r.stdout)
        docs.append((list(d["activity"]), list(d["wasAssociatedWith"].items())))
    assert docs[0] == docs[1]
    tasks = [k for k in docs[1][0] if k.startswith("mida:task-")]
    assert tasks == sorted(tasks) and len(tasks) > 2

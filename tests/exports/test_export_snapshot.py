"""An export reads one snapshot of the store, on both stores: what a writer
commits while the export runs is in none of its parts, so that no relation
of a PROV document names an entity or activity the document lacks, and no
OpenLineage event names a parent run that no event starts.

Each export ran several queries, each its own snapshot: during a busy
`mida run`, 2 of ~150 PROV exports named 54-57 ids they did not hold. Here
the export is held between its parts deterministically: its standard output
is a pipe that the test stops reading once the first part's rows come (the
export then waits in its write, its pipe full), and the rows of a new
workflow -- its tasks, their data, the links between them -- are committed
before the test reads on."""

import json
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys

import pytest

from mida_cli_store import ROOT, SEC, T0, schema_sql

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "multinode"))
from multinode_support import STORE_TABLES, sql_literal  # noqa: E402
from pg_database import pg_database  # noqa: E402

# Enough rows that each part of an export is far more than a pipe holds
# (64 KiB) and stdio's buffer: the export waits inside its first part.
WORKFLOWS = 400
TASKS_PER_WORKFLOW = 4

# Relation members that name an entity, activity or agent of the document.
PROV_REFS = ("prov:activity", "prov:entity", "prov:agent", "prov:informed",
             "prov:informant", "prov:generatedEntity", "prov:usedEntity")


def uid(kind, n):
    """A UUID-shaped id: kind 1 workflow, 2 task; n its number."""
    return f"0190a4c2-0000-7000-800{kind}-{n:012x}"


def rows(first, count):
    """INSERTs of count workflows from number first: each with its tasks,
    a task using the output of the one before it, and their data."""
    out = []
    for w in range(first, first + count):
        wf = uid(1, w)
        out.append("INSERT INTO workflow (id, name, source, \"user\", host,"
                   " pid, started, ended, status) VALUES ("
                   + ", ".join(sql_literal(v) for v in (
                       wf, f"wf {w}", "api", "alice", "node1", 100,
                       T0 + w * SEC, T0 + w * SEC + 5, "FINISHED")) + ")")
        prev = None
        for t in range(TASKS_PER_WORKFLOW):
            n = w * TASKS_PER_WORKFLOW + t
            task = uid(2, n)
            out.append("INSERT INTO task (id, workflow_id, activity, status,"
                       " started, ended, host, pid) VALUES ("
                       + ", ".join(sql_literal(v) for v in (
                           task, wf, f"step{t}", "FINISHED", T0 + n,
                           T0 + n + 1, "node1", 100)) + ")")
            src = prev or f"file:///in/{n}.csv"
            dst = f"file:///out/{n}.parquet"
            for data in (dst,) if prev else (src, dst):
                out.append("INSERT INTO data (id, kind, uri, size) VALUES ("
                           + ", ".join(sql_literal(v) for v in (
                               data, "file", data, 100 + n))
                           + ") ON CONFLICT DO NOTHING")
            out.append("INSERT INTO task_data (task_id, data_id, role, name)"
                       f" VALUES ({sql_literal(task)}, {sql_literal(src)},"
                       " 'used', 'in')")
            out.append("INSERT INTO task_data (task_id, data_id, role, name)"
                       f" VALUES ({sql_literal(task)}, {sql_literal(dst)},"
                       " 'generated', 'out')")
            if t > 0:
                upstream = sql_literal(uid(2, n - 1))
                out.append("INSERT INTO task_dep VALUES ("
                           f"{sql_literal(task)}, {upstream})")
            prev = dst
    return out


def commit(kind, url, stmts):
    """Runs stmts in one transaction of the store at url."""
    text = "BEGIN;\n" + ";\n".join(stmts) + ";\nCOMMIT;\n"
    if kind == "postgresql":
        r = subprocess.run(["psql", url, "-AtqX", "-v", "ON_ERROR_STOP=1"],
                           input=text, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        return
    db = sqlite3.connect(url)
    db.executescript(text)
    db.close()


@pytest.fixture(scope="module")
def lite(tmp_path_factory):
    path = tmp_path_factory.mktemp("snapshot") / "base.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")  # as mida makes its stores
    db.executescript(schema_sql())
    db.close()
    commit("sqlite", str(path), rows(0, WORKFLOWS))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, lite, tmp_path):
    """(kind, URL): a store of its own holding lite's rows, for the test's
    writes."""
    if request.param == "sqlite":
        mine = tmp_path / "store.db"
        shutil.copyfile(lite, mine)
        yield "sqlite", str(mine)
        return
    with pg_database("export_snapshot") as pg:
        # mida's schema, made by a first producer (its own rows removed).
        build = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("MIDA_")}
        env.update(MIDA_STORE=pg, MIDA_SPOOL=str(tmp_path / "spool"))
        r = subprocess.run([str(build / "tests" / "mida_produce"), "0",
                            "schema"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        commit("postgresql", pg, [f"DELETE FROM {t}" for t in STORE_TABLES]
               + rows(0, WORKFLOWS))
        yield "postgresql", pg


def export_while_writing(mida_bin, tmp_path, kind, url, fmt, first_part):
    """Runs `mida export fmt` on url; once first_part is in its output,
    commits a new workflow of tasks while it waits on its full pipe;
    returns the whole output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp_path / "spool")
    export = subprocess.Popen([mida_bin, "--store", url, "export", fmt],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, cwd=tmp_path)
    try:
        head = b""
        while first_part not in head:  # the first part's rows are coming
            chunk = os.read(export.stdout.fileno(), 4096)
            assert chunk, export.stderr.read().decode()
            head += chunk
        commit(kind, url, rows(WORKFLOWS, 1))
        rest = export.stdout.read()
        assert export.wait(timeout=120) == 0, export.stderr.read().decode()
    finally:
        export.kill()
        export.wait()
        export.stdout.close()
        export.stderr.close()
    return (head + rest).decode()


def test_prov_relations_name_only_what_the_document_holds(mida_bin, store,
                                                         tmp_path):
    text = export_while_writing(mida_bin, tmp_path, *store, "prov",
                                b'"mida:data-')
    doc = json.loads(text)
    held = set()
    for section in ("entity", "activity", "agent"):
        held.update(doc.get(section, {}))
    assert len(doc["activity"]) >= WORKFLOWS * (TASKS_PER_WORKFLOW + 1)
    dangling = sorted({(section, ref) for section, members in doc.items()
                       if section not in ("prefix", "entity", "activity",
                                          "agent")
                       for member in members.values()
                       for key, ref in member.items()
                       if key in PROV_REFS and ref not in held})
    assert dangling == []


def test_openlineage_parents_are_runs_of_the_export(mida_bin, store,
                                                    tmp_path):
    text = export_while_writing(mida_bin, tmp_path, *store, "openlineage",
                                b'"eventType"')
    events = [json.loads(line) for line in text.splitlines()]
    runs = {e["run"]["runId"] for e in events}
    assert len(runs) >= WORKFLOWS * (TASKS_PER_WORKFLOW + 1)
    orphans = sorted({e["run"]["runId"] for e in events
                      if e["run"].get("facets", {}).get("parent", {})
                      .get("run", {}).get("runId", next(iter(runs)))
                      not in runs})
    assert orphans == []

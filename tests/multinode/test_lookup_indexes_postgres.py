"""The two lookups of the task table that users make on big stores, on
the PostgreSQL store: a campaign's tasks (`mida export --campaign`) and a
source's key (`mida show KEY`). Schema version 16 gives them the indexes
task_by_campaign and task_by_source_key (src/sink/schema.h); before it the
statements read the whole task table. What the server counts for the
table and its indexes (pg_stat_user_tables, pg_stat_user_indexes, sent by
each mida process when it ends) says what the statements that mida runs
read. A store of version 15 is read as before, and gets the indexes from
the next writer. The SQLite store's are checked in
src/report/lookup_index_test.c."""

import json
import re
import subprocess

from multinode_support import ROOT, psql

SCHEMA_VERSION = re.search(
    r"#define MIDA_SCHEMA_VERSION (\d+)",
    (ROOT / "src" / "sink" / "schema.h").read_text())[1]

# Campaign "big": 20,000 tasks in 2,000 workflows, each with a source key;
# campaign "small": a workflow of 3 tasks and 2 tasks of its own in a
# workflow of "big".
ROWS = """
INSERT INTO campaign(id, name) VALUES ('c-big', 'big'), ('c-small', 'small');
INSERT INTO workflow(id, campaign_id, name, source)
  SELECT 'wf-' || g, 'c-big', 'big', 'dask' FROM generate_series(1, 2000) g;
INSERT INTO workflow(id, campaign_id, name, source)
  VALUES ('wf-small', 'c-small', 'small', 'mlflow');
INSERT INTO task(id, workflow_id, campaign_id, activity, status, started,
                 source_key)
  SELECT 'big-' || lpad(g::text, 5, '0'), 'wf-' || (g % 2000 + 1), 'c-big',
         'step', 'FINISHED', g, 'step-' || g
  FROM generate_series(1, 20000) g;
INSERT INTO task(id, workflow_id, campaign_id, activity, status, started,
                 source_key) VALUES
  ('small-1', 'wf-small', 'c-small', 'fit', 'FINISHED', 10, 'run-a'),
  ('small-2', 'wf-small', NULL, 'fit', 'FINISHED', 20, 'run-b'),
  ('small-3', 'wf-small', 'c-small', 'fit', 'FINISHED', 30, 'run-b'),
  ('lent-1', 'wf-1', 'c-small', 'eval', 'FINISHED', 40, NULL),
  ('lent-2', 'wf-2', 'c-small', 'eval', 'FINISHED', 50, NULL);
ANALYZE;
"""

READS = ("SELECT (SELECT seq_scan FROM pg_stat_user_tables WHERE relname ="
         " 'task'), (SELECT coalesce(sum(idx_scan), 0) FROM"
         " pg_stat_user_indexes WHERE indexrelname IN ('task_by_campaign',"
         " 'task_by_source_key'))")


def mida(mida_bin, url, *args):
    r = subprocess.run([mida_bin, "--store", url, *args], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def reads(url):
    """(full scans of task, scans of the two indexes) so far."""
    scans, indexed = psql(url, READS).split("|")
    return int(scans), int(indexed)


def lookups(mida_bin, url, out):
    """The export of campaign "small" and the task of key run-a, with the
    full scans of task and scans of the two indexes they made."""
    before = reads(url)
    mida(mida_bin, url, "export", "prov", "--campaign", "small", "-o", out)
    shown = mida(mida_bin, url, "show", "run-a")
    after = reads(url)
    # The document's members in the order the plan gives them: JSON
    # objects, compared as such.
    return (json.loads(out.read_text()), shown, after[0] - before[0],
            after[1] - before[1])


def test_campaign_and_source_key_read_by_index_and_migrated(mida_bin, pg_db,
                                                            tmp_path):
    (tmp_path / "spool").mkdir()
    writer = ("recover", "--spool", str(tmp_path / "spool"))
    mida(mida_bin, pg_db, *writer)
    psql(pg_db, ROWS)

    doc, shown, scans, indexed = lookups(mida_bin, pg_db, tmp_path / "a.json")
    tasks = {k for k in doc["activity"] if k.startswith("mida:task-")}
    assert tasks == {"mida:task-" + t for t in ("small-1", "small-2",
                                                 "small-3", "lent-1",
                                                 "lent-2")}
    assert "small-1" in shown, shown
    assert scans == 0 and indexed > 0, (scans, indexed)

    # What version 15 left: neither index.
    psql(pg_db, "DROP INDEX task_by_campaign; DROP INDEX task_by_source_key;"
                " UPDATE mida_meta SET value = '15' WHERE key ="
                " 'schema_version'")
    old = lookups(mida_bin, pg_db, tmp_path / "b.json")
    assert old[:2] == (doc, shown)  # a reader reads it as it is
    assert old[2] > 0 and old[3] == 0, old[2:]
    assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                       " 'schema_version'") == "15"

    mida(mida_bin, pg_db, *writer)  # a writer: the migration
    assert psql(pg_db, "SELECT value FROM mida_meta WHERE key ="
                       " 'schema_version'") == SCHEMA_VERSION
    assert psql(pg_db, "SELECT string_agg(indexname, ' ' ORDER BY indexname)"
                       " FROM pg_indexes WHERE indexname IN"
                       " ('task_by_campaign', 'task_by_source_key')") == (
        "task_by_campaign task_by_source_key")
    new = lookups(mida_bin, pg_db, tmp_path / "c.json")
    assert new[:2] == (doc, shown)
    assert new[2] == 0 and new[3] > 0, new[2:]

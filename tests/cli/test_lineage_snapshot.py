"""`mida lineage` reads one snapshot of the store, as the exports and
`mida show` do (sink.h, mida__sink_snapshot_begin): what a writer commits
while the walk runs is in none of its answer, never in part of it.

The walk is one query per node and edge kind. It used to run each query on
its own snapshot, so that a transaction committed during a walk showed in
the queries after it and not in those before: a mixed answer, with some of
that transaction's edges and not others. Here the walk is held between its
queries deterministically on PostgreSQL: the test locks the table task_dep
(ACCESS EXCLUSIVE), so the walk waits in its first query of that table; the
test sees it waiting (pg_stat_activity), adds in the same transaction a
"used" edge to the start (read before the wait) and one to a task the walk
expands after it, and commits. (SQLite's readers never wait on a writer;
its snapshot is tested in src/sink/sqlite_snapshot_test.c, and the verb
reads through the same calls on both stores.)"""

import subprocess
import time

import mida_cli_store as fx
from pg_database import copy_store, pg_database
from multinode_support import psql  # noqa: E402 (pg_database's path)

EXTRA_START = "file:///data/extra-of-clean.csv"  # used by the start
EXTRA_LATER = "file:///data/extra-of-load.csv"  # used by load, walked later


def wait_for(pg, sql, what):
    """Polls sql on pg until it answers a count above 0."""
    for _ in range(600):
        if int(psql(pg, sql) or 0) > 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_lineage_answers_from_one_state_of_the_store(mida_bin, tmp_path):
    lite = tmp_path / "fixture.db"
    fx.make_store(str(lite))
    with pg_database("lineage_snapshot") as pg:
        copy_store(lite, pg, tmp_path / "spool")
        writer = subprocess.Popen(["psql", pg, "-AtqX", "-v",
                                   "ON_ERROR_STOP=1"],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        lineage = None
        try:
            writer.stdin.write("BEGIN;\n"
                               "LOCK TABLE task_dep IN ACCESS EXCLUSIVE"
                               " MODE;\n")
            writer.stdin.flush()
            wait_for(pg, "SELECT count(*) FROM pg_locks l JOIN pg_class c"
                     " ON c.oid = l.relation WHERE c.relname = 'task_dep'"
                     " AND l.mode = 'AccessExclusiveLock' AND l.granted",
                     "the lock on task_dep")
            lineage = subprocess.Popen(
                [mida_bin, "--store", pg, "lineage", fx.T_CLEAN, "--up"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={"MIDA_SPOOL": str(tmp_path / "spool"),
                     "PATH": "/usr/bin:/bin"})
            wait_for(pg, "SELECT count(*) FROM pg_stat_activity"
                     " WHERE datname = current_database()"
                     " AND wait_event_type = 'Lock'"
                     " AND query LIKE '%task_dep%'",
                     "the walk to wait on task_dep")
            rows = []
            for task, data in ((fx.T_CLEAN, EXTRA_START),
                               (fx.T_LOAD, EXTRA_LATER)):
                rows.append(f"INSERT INTO data (id, kind, uri) VALUES"
                            f" ('{data}', 'file', '{data}');")
                rows.append(f"INSERT INTO task_data (task_id, data_id, role,"
                            f" name) VALUES ('{task}', '{data}', 'used',"
                            f" 'extra');")
            writer.stdin.write("\n".join(rows) + "\nCOMMIT;\n")
            writer.stdin.close()
            assert writer.wait(timeout=60) == 0, writer.stderr.read()
            out, err = lineage.communicate(timeout=60)
        finally:
            for p in (writer, lineage):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
        assert lineage.returncode == 0, err
        assert "depends on task " + fx.T_LOAD in out  # the walk went on
        assert "s3://bucket/raw" in out  # load's own input, read after
        # The transaction committed during the walk is in none of it.
        shown = [d for d in (EXTRA_START, EXTRA_LATER) if d in out]
        assert shown == [], out

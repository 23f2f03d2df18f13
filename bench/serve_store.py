"""serve_store.py PATH [MIDA] -- the store of the `mida serve` benchmark
(bench_serve.py), made fast with SQL in SQLite itself: 100 workflows of
10,000 tasks each (1,000,000 tasks; used/generated documents; each task
depends on the one 100 before it in its workflow, a chain for lineage),
and one task ("the series task", printed) with a 10,000,000-point metric
series "loss". Leaves a store that `mida serve` opens as any other: made
at schema version 4, then brought up to the current one by a writer (the
binary MIDA, `mida recover` with an empty spool), whose migration to
version 7 computes the blocks of the series (src/sink/rollup.h); the time
it takes is printed.

The point column (mida_point(step, value) in the store) only needs to keep
points apart here; it is the step."""

import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tests/cli")
import mida_cli_store as fx  # noqa: E402

TASKS = 1_000_000
WORKFLOWS = 100
POINTS = 10_000_000
T0 = 1_700_000_000 * 10**9


def task_id(i):
    return f"{i:08x}-0000-7000-8000-{i:012x}"


def main():
    path = sys.argv[1]
    t = time.time()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.executescript(fx.schema_sql())
    # What a writer adds after the tables (schema.h): the change numbers'
    # indexes and horizon.
    db.executescript(
        "CREATE INDEX IF NOT EXISTS task_by_seq ON task(seq);"
        "CREATE INDEX IF NOT EXISTS workflow_by_seq ON workflow(seq);"
        "CREATE VIEW IF NOT EXISTS mida_change_horizon AS SELECT coalesce("
        "(SELECT CAST(value AS INTEGER) FROM mida_meta WHERE key ="
        " 'change_seq'), 0) + 1 AS horizon;")
    db.execute("INSERT OR REPLACE INTO mida_meta VALUES('schema_version', '4')")
    db.execute("INSERT OR REPLACE INTO mida_meta VALUES('change_seq', '1')")
    db.execute(
        "INSERT INTO workflow(id, name, source, host, status, started, ended,"
        " seq) WITH RECURSIVE w(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM w"
        f" WHERE i < {WORKFLOWS - 1}) SELECT printf('wf-%03d', i),"
        " 'bench-' || i, 'api', 'node' || (i % 4), 'FINISHED',"
        f" {T0} + i * 1000000000, {T0} + i * 1000000000 + 3600000000000, 1"
        " FROM w")
    db.execute(
        "INSERT INTO task(id, workflow_id, activity, status, submitted,"
        " started, ended, host, pid, worker, used, generated, seq)"
        " WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t"
        f" WHERE i < {TASKS - 1}) SELECT printf('%08x-0000-7000-8000-%012x',"
        f" i, i), printf('wf-%03d', i % {WORKFLOWS}),"
        " 'step' || (i % 7), CASE WHEN i % 97 = 0 THEN 'ERROR' ELSE"
        f" 'FINISHED' END, {T0} + i * 1000000, {T0} + i * 1000000 + 1000,"
        f" {T0} + i * 1000000 + 500000 + (i % 13) * 10000, 'node' || (i % 4),"
        " 1000 + i % 50, 'w' || (i % 16),"
        " json_object('lr', (i % 1000) / 1000.0, 'batch', 32 * (1 + i % 4),"
        " 'i', i), json_object('loss', (i % 997) / 997.0), 1 FROM t")
    db.execute(
        "INSERT INTO task_dep(task_id, upstream_id)"
        f" WITH RECURSIVE t(i) AS (SELECT {WORKFLOWS} UNION ALL SELECT i + 1"
        f" FROM t WHERE i < {TASKS - 1}) SELECT"
        " printf('%08x-0000-7000-8000-%012x', i, i),"
        f" printf('%08x-0000-7000-8000-%012x', i - {WORKFLOWS},"
        f" i - {WORKFLOWS}) FROM t")
    db.execute(
        "INSERT INTO metric(task_id, key, step, ts, value, point)"
        f" WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s"
        f" WHERE i < {POINTS - 1}) SELECT '{task_id(0)}', 'loss', i,"
        f" {T0} + i * 1000, 1.0 / (1 + i / 100000.0) + ((i * 7919) % 10007)"
        " / 100070.0, i FROM s")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"made {path} in {time.time() - t:.0f} s; series task {task_id(0)}")
    if len(sys.argv) > 2:
        t = time.time()
        with tempfile.TemporaryDirectory() as spool:
            subprocess.run([sys.argv[2], "--store", path, "recover",
                            "--spool", spool], check=True)
        print(f"migrated (the blocks of {POINTS} points) in"
              f" {time.time() - t:.0f} s")


if __name__ == "__main__":
    main()

/*
 * schema.h -- the store schema, version 17, as SQL text for SQLite.
 *
 * This is the one definition of the tables every store holds (DESIGN.md,
 * "Data model"); the PostgreSQL store (src/sink/postgres.c) mirrors it with
 * its own types. Users query these tables directly (`mida query`), so the
 * column names are part of mida's interface: change them only with a new
 * schema version and a migration.
 *
 * Conventions:
 * - ids are text UUIDs (36 characters, lowercase);
 * - times are integers, nanoseconds since the Unix epoch (UTC);
 * - status is text: UNKNOWN SUBMITTED RUNNING FINISHED CANCELLED ERROR
 *   LOST (what a dead process left unfinished, docs/reliability.md);
 * - used, generated, custom, metadata, telemetry are JSON objects as text,
 *   queryable with json_extract(used, '$.lr') or used->>'lr';
 * - data.id is the content digest when known, else the URI; a file seen by
 *   `mida run` (src/preload) is identified by its version,
 *   "inode:<dev>:<inode>:<mtime_ns>:<size>", with its path in uri;
 * - task_data.bytes: the bytes the task read (used) or wrote (generated)
 *   through that link, where known; NULL otherwise;
 * - task_run holds every execution (run) of a task that its source reports
 *   (mida_task_run; e.g. a Dask key run again after its worker died,
 *   retried, or cancelled while it ran): id (the run's own), task_id,
 *   status (RUNNING while it runs, then FINISHED, ERROR or CANCELLED; LOST
 *   when its process died first), started, ended, host, pid, worker,
 *   error, telemetry, merged like a task's row. A task with runs
 *   summarises them: task.attempts = its runs that started; task.started,
 *   ended, host, pid, worker and telemetry = those of the run that started
 *   last (ties: the larger run id); task.status at least RUNNING, and at
 *   least FINISHED once one of its runs finished, but that of its latest
 *   run (RUNNING until it ends) where that run started after every other
 *   run had ended: it reopened the task (a resumed MLflow run). The store recomputes the
 *   summary from task_run whenever a run record arrives, and a task's own
 *   records no longer change those six columns once it has runs, so the
 *   row is the same whatever the order in which its records arrive.
 *   task.attempts is NULL for a task without runs;
 * - metric holds every point of every time series: step is the source's
 *   step as it is (negative steps included), NULL when the point has none;
 *   value is the value, NULL for NaN (SQLite has no NaN REAL); point is
 *   what keeps two points of one series at one time apart, computed by the
 *   store from step and value (mida_point(step, value): the step, ':', the
 *   value's IEEE 754 bits in 16 hex digits, NaN and -0 made canonical; not
 *   for reading). A point applied twice is one row; two points with the
 *   same step and time but different values are two rows, as MLflow keeps
 *   them.
 *
 * Versions (a writer brings an older store up to this one in its first
 * transaction; a newer one is refused):
 *   1  the first.
 *   2  adds task_data.bytes.
 *   3  metric: step nullable (was -1 for "no step" and for every negative
 *      step), column point, key (task_id, key, ts, point) (was (task_id,
 *      key, step, ts): a second value at the same step and time was lost).
 *      Migration: MIDA_SCHEMA_SQLITE_2_TO_3; steps -1 become NULL.
 *   4  task.seq and workflow.seq, the change numbers (below), with their
 *      indexes (and task_by_workflow_id, a workflow's tasks by id)
 *      indexes and the view mida_change_horizon
 *      (MIDA_SCHEMA_SQLITE_CHANGES). Migration: MIDA_SCHEMA_SQLITE_3_TO_4.
 *   5  adds table task_run and column task.attempts (task_v shows it).
 *      Migration: MIDA_SCHEMA_SQLITE_4_TO_5. Dask tasks recorded before it
 *      keep their attempts in custom.attempts.
 *   6  adds table mida_index: the indexes declared on keys of the task
 *      documents (`mida index`, MIDA_INDEX; src/sink/key_index.h): name
 *      (the index's), key ("used.lr"), kind ("num" or "text"), created
 *      (ns). Each is an index on task(mida_num(used, 'lr'), id) or
 *      task(mida_text(...), id). Migration: MIDA_SCHEMA_SQLITE_5_TO_6.
 *   7  adds table metric_block, the per-block summaries of the metric
 *      series (below; src/sink/rollup.h). Migration: the blocks of the
 *      stored points computed (mida__rollup_build_sql), then
 *      MIDA_SCHEMA_SQLITE_6_TO_7. On PostgreSQL the function mida_point
 *      moves from the user's schema into the schema mida.
 *   8  adds table task_key_num(name, value, task_id): the numeric values
 *      of the keys declared with `mida index`, one row per task that holds
 *      a number at the key, name being the key's index name; kept by
 *      triggers on task that `mida index` makes with the index
 *      (src/sink/key_side.h), so that a range on a key is read newest
 *      first from its primary key alone. Migration: the triggers and rows
 *      of every numeric key mida_index records (mida__key_side_migrate_sql),
 *      then MIDA_SCHEMA_SQLITE_7_TO_8.
 *   9  PostgreSQL: the side table's triggers are statement-level, three
 *      per key (insert, update, delete), each one set-based statement over
 *      the statement's transition tables, in place of version 8's row
 *      trigger (a PL/pgSQL call per task); its schema's functions are made
 *      again, among them likely(), which a store made at version 8 before
 *      likely() existed lacks. SQLite: no change but the number (its
 *      triggers are row triggers, SQLite has no others). Migration: the
 *      triggers of every numeric key mida_index records, without a
 *      backfill; MIDA_SCHEMA_SQLITE_8_TO_9.
 *  10  adds the index task_key_num_by_task(name, task_id, value) of the
 *      side table: a range on a key read newest first walks a key's
 *      entries in id order, comparing the value, and stops after a page
 *      (src/sink/key_index.h, "by id"), where the primary key gives every
 *      match to sort. Migration: the index (MIDA_SCHEMA_SQLITE makes it),
 *      then MIDA_SCHEMA_SQLITE_9_TO_10.
 *  11  adds the partial indexes task_unfinished, workflow_unfinished and
 *      task_run_unfinished, on (host, pid) of the rows not yet over
 *      (status NULL, UNKNOWN, SUBMITTED or RUNNING): a LOST record (merge.h,
 *      recovery.h) updates those of one process, and each of its three
 *      UPDATEs read the whole table without them -- one LOST record per
 *      process of a `mida run` command, so a make of 180 processes into a
 *      store of 100,000 earlier tasks took 15 G instructions to recover
 *      instead of 0.24 G. Migration: the indexes (MIDA_SCHEMA_SQLITE makes
 *      them), then MIDA_SCHEMA_SQLITE_10_TO_11.
 *  12  PostgreSQL: task.telemetry and task_run.telemetry are json, not
 *      jsonb: the server checks the text and keeps it, where jsonb built a
 *      binary tree of every task's telemetry on ingest, the largest part
 *      of a task's write after the indexes (docs/performance.md); nothing
 *      reads into it but mida_num and mida_text, which get json forms.
 *      SQLite: no change but the number (its JSON is text already).
 *      Migration: the two columns' type (a rewrite of both tables), then
 *      MIDA_SCHEMA_SQLITE_11_TO_12.
 *  13  SQLite: data is a table WITHOUT ROWID, keyed by its id: a file
 *      record's upsert of its data row wrote two B-trees (the rows by
 *      rowid, and the index of the primary key) and now writes one (`mida
 *      run -- tar c`: ~29,000 -> ~27,000 instructions a file record).
 *      PostgreSQL: no change but the number. Migration: the table rebuilt
 *      (MIDA_SCHEMA_SQLITE_12_TO_13), once.
 *  14  the condition of version 11's partial indexes is spelled with
 *      equalities, status = 'UNKNOWN' OR ..., instead of status IN
 *      (three literals): SQLite evaluates an index's condition at every
 *      write of a row that may change it, and for an IN list of more than
 *      two values it builds a temporary B-tree of the list first, each
 *      time -- three per row upsert (the old row's, the new row's, the
 *      conflict's), about a third of what a Dask task's rows cost the
 *      shipper (callgrind: ~4 temporary B-trees, ~110,000 of ~300,000
 *      instructions a task). Same rows, same queries using the indexes.
 *      Migration: the three indexes made again
 *      (MIDA_SCHEMA_SQLITE_13_TO_14 on SQLite; dropped before the schema
 *      on PostgreSQL, which makes them again).
 *  15  adds the partial index data_by_digest on data(digest), of the rows
 *      that have one: `mida lineage` and /api/lineage start from a
 *      digest, which read the whole table without it. Only a row with a
 *      digest (`mida run --digest`, a source that gives one) pays for it.
 *      Migration: the index (MIDA_SCHEMA_SQLITE makes it), then
 *      MIDA_SCHEMA_SQLITE_14_TO_15.
 *  16  adds the partial indexes task_by_campaign on task(campaign_id) and
 *      task_by_source_key on task(source_key), of the rows that have one:
 *      `mida export --campaign` found a campaign's tasks, and `mida show`,
 *      `mida lineage` and `mida diff` a source's key (an MLflow run id, a
 *      Dask key), by reading the whole task table. A task without a
 *      campaign or a source key pays nothing for them. Migration: the
 *      indexes (MIDA_SCHEMA_SQLITE makes them; on PostgreSQL in the
 *      writer's schema transaction, a plain CREATE INDEX: see postgres.c),
 *      then MIDA_SCHEMA_SQLITE_15_TO_16. A reader of an older store reads
 *      it without them, as before.
 *  17  the views task_v and workflow_v print started and ended cut to the
 *      millisecond below, as the verbs print them (sink/iso_time_sql.h):
 *      SQLite's view rounded to the nearest millisecond (20.9996 s was
 *      21.000) and PostgreSQL's to the nearest microsecond first
 *      (20.9999996 s was 21.000), where `mida show` says 20.999. SQLite:
 *      workflow_v is made after the migrations with task_v
 *      (MIDA_SCHEMA_SQLITE_VIEWS); migration: both views dropped
 *      (MIDA_SCHEMA_SQLITE_16_TO_17) and made again. PostgreSQL: its
 *      schema, run again at the new version, replaces them.
 *
 * Change numbers (version 4): task.seq and workflow.seq hold the change
 * number of the batch that last wrote the row -- or, for a task, that added
 * metric points to it, or that marked it LOST (a LOST record of recovery,
 * merge.h) -- so that a reader (the event stream of `mida
 * serve`) finds what changed since it last looked with an index range
 * scan. The view mida_change_horizon gives the number below which every
 * change is committed and visible: a reader takes the rows with
 * seq >= its cursor and seq < horizon, then moves its cursor to horizon.
 * In SQLite the change number is a counter in mida_meta ('change_seq')
 * that each batch increments inside its write transaction; PostgreSQL
 * (postgres.c) uses the writing transaction's id and the snapshot's xmin.
 * A change number is not data: applying a record again moves it forward,
 * which can only make a reader look at the row once more.
 *
 * metric_block (version 7) summarises each metric series (task_id, key)
 * by blocks, so that `mida serve` downsamples a long series without
 * reading its points: on axis 0 (the step) and 1 (ts), block = x >> shift
 * (x / 2^shift rounded down) for shift 6, 12 and 18 on steps and 26, 32
 * and 38 on times (ns); each row holds the least and greatest x (x0,
 * x1) and ts (t0, t1) of the block's points, the least and greatest value
 * (lo, hi; NaN left out, NULL when there is none) and the number of points
 * (n; on the step axis, those with a step). The writers keep it exact in
 * the transaction that adds the points; a point applied again adds
 * nothing.
 *
 * The views task_v and workflow_v add readable times (ISO 8601) and
 * durations in seconds. The view task_telemetry_v joins each task to the
 * telemetry samples taken while it ran (between started and ended, or
 * until now while it runs) on its host: its own process's samples
 * (scope 'process', telemetry.pid = task.pid) and the host-wide ones
 * (scope 'host', telemetry.pid = 0; see src/telemetry/telemetry.h). It is
 * two index range scans per task, one per scope.
 */
#ifndef MIDA_SINK_SCHEMA_H
#define MIDA_SINK_SCHEMA_H

#include "sink/iso_time_sql.h"

#define MIDA_SCHEMA_VERSION 17

/* The rows a LOST record may still mark (version 11's partial indexes):
 * the same text as the condition of the LOST updates (merge.h,
 * MIDA_LOST_NOT_OVER), which is what lets a query use such an index.
 * MIDA_SCHEMA_SQLITE spells it out (tests read that schema's string
 * literals); sqlite_test checks that the LOST updates use the indexes. */
#define MIDA_SCHEMA_NOT_OVER                                                   \
  "(status IS NULL OR status = 'UNKNOWN' OR status = 'SUBMITTED'"              \
  " OR status = 'RUNNING')"

/* The views task_v and workflow_v: made after the migrations (the column
 * attempts may be added by one), and made again by the migrations to
 * versions 5 (task_v) and 17 (both). */
#define MIDA_SCHEMA_SQLITE_VIEWS                                               \
  "CREATE VIEW IF NOT EXISTS task_v AS SELECT id, workflow_id, campaign_id,\n" \
  "  parent_id, activity, status,\n"                                           \
  "  " MIDA_ISO_MS_SQL("started") " AS started,\n"                             \
  "  " MIDA_ISO_MS_SQL("ended") " AS ended,\n"                                 \
  "  (ended - started) / 1e9 AS duration_s, host, pid, worker, source_key,\n"  \
  "  used, generated, custom, error, telemetry, attempts FROM task;\n"         \
  "CREATE VIEW IF NOT EXISTS workflow_v AS SELECT id, campaign_id,\n"          \
  "  parent_id, name, source, user, host, pid, status,\n"                      \
  "  " MIDA_ISO_MS_SQL("started") " AS started,\n"                             \
  "  " MIDA_ISO_MS_SQL("ended") " AS ended,\n"                                 \
  "  (ended - started) / 1e9 AS duration_s, metadata FROM workflow;\n"

#define MIDA_SCHEMA_SQLITE                                                     \
  "CREATE TABLE IF NOT EXISTS campaign(\n"                                     \
  "  id TEXT PRIMARY KEY,\n"                                                   \
  "  name TEXT,\n"                                                             \
  "  created INTEGER,\n"                                                       \
  "  metadata TEXT);\n"                                                        \
  "CREATE TABLE IF NOT EXISTS workflow(\n"                                     \
  "  id TEXT PRIMARY KEY,\n"                                                   \
  "  campaign_id TEXT,\n"                                                      \
  "  parent_id TEXT,\n"                                                        \
  "  name TEXT,\n"                                                             \
  "  source TEXT,\n"                                                           \
  "  user TEXT,\n"                                                             \
  "  host TEXT,\n"                                                             \
  "  pid INTEGER,\n"                                                           \
  "  started INTEGER,\n"                                                       \
  "  ended INTEGER,\n"                                                         \
  "  status TEXT,\n"                                                           \
  "  metadata TEXT,\n"                                                         \
  "  seq INTEGER);\n"                                                          \
  "CREATE TABLE IF NOT EXISTS task(\n"                                         \
  "  id TEXT PRIMARY KEY,\n"                                                   \
  "  workflow_id TEXT,\n"                                                      \
  "  campaign_id TEXT,\n"                                                      \
  "  parent_id TEXT,\n"                                                        \
  "  activity TEXT,\n"                                                         \
  "  status TEXT,\n"                                                           \
  "  submitted INTEGER,\n"                                                     \
  "  started INTEGER,\n"                                                       \
  "  ended INTEGER,\n"                                                         \
  "  host TEXT,\n"                                                             \
  "  pid INTEGER,\n"                                                           \
  "  worker TEXT,\n"                                                           \
  "  source_key TEXT,\n"                                                       \
  "  used TEXT,\n"                                                             \
  "  generated TEXT,\n"                                                        \
  "  custom TEXT,\n"                                                           \
  "  error TEXT,\n"                                                            \
  "  telemetry TEXT,\n"                                                        \
  "  seq INTEGER,\n"                                                           \
  "  attempts INTEGER) WITHOUT ROWID;\n"                                       \
  "CREATE TABLE IF NOT EXISTS task_run(\n"                                     \
  "  id TEXT PRIMARY KEY,\n"                                                   \
  "  task_id TEXT NOT NULL,\n"                                                 \
  "  status TEXT,\n"                                                           \
  "  started INTEGER,\n"                                                       \
  "  ended INTEGER,\n"                                                         \
  "  host TEXT,\n"                                                             \
  "  pid INTEGER,\n"                                                           \
  "  worker TEXT,\n"                                                           \
  "  error TEXT,\n"                                                            \
  "  telemetry TEXT) WITHOUT ROWID;\n"                                         \
  "CREATE INDEX IF NOT EXISTS task_run_by_task ON task_run(task_id, "          \
  "started);\n"                                                                \
  "CREATE TABLE IF NOT EXISTS data(\n"                                         \
  "  id TEXT PRIMARY KEY,\n"                                                   \
  "  kind TEXT,\n"                                                             \
  "  uri TEXT,\n"                                                              \
  "  size INTEGER,\n"                                                          \
  "  digest TEXT,\n"                                                           \
  "  metadata TEXT) WITHOUT ROWID;\n"                                          \
  "CREATE TABLE IF NOT EXISTS task_data(\n"                                    \
  "  task_id TEXT NOT NULL,\n"                                                 \
  "  data_id TEXT NOT NULL,\n"                                                 \
  "  role TEXT NOT NULL,\n"                                                    \
  "  name TEXT,\n"                                                             \
  "  bytes INTEGER,\n"                                                         \
  "  PRIMARY KEY(task_id, data_id, role)) WITHOUT ROWID;\n"                    \
  "CREATE TABLE IF NOT EXISTS task_dep(\n"                                     \
  "  task_id TEXT NOT NULL,\n"                                                 \
  "  upstream_id TEXT NOT NULL,\n"                                             \
  "  PRIMARY KEY(task_id, upstream_id)) WITHOUT ROWID;\n"                      \
  "CREATE TABLE IF NOT EXISTS metric(\n"                                       \
  "  task_id TEXT NOT NULL,\n"                                                 \
  "  key TEXT NOT NULL,\n"                                                     \
  "  step INTEGER,\n"                                                          \
  "  ts INTEGER NOT NULL,\n"                                                   \
  "  value REAL,\n"                                                            \
  "  point TEXT NOT NULL,\n"                                                   \
  "  PRIMARY KEY(task_id, key, ts, point)) WITHOUT ROWID;\n"                   \
  "CREATE TABLE IF NOT EXISTS metric_block(\n"                                 \
  "  task_id TEXT NOT NULL,\n"                                                 \
  "  key TEXT NOT NULL,\n"                                                     \
  "  axis INTEGER NOT NULL,\n"                                                 \
  "  shift INTEGER NOT NULL,\n"                                                \
  "  block INTEGER NOT NULL,\n"                                                \
  "  x0 INTEGER NOT NULL,\n"                                                   \
  "  x1 INTEGER NOT NULL,\n"                                                   \
  "  t0 INTEGER NOT NULL,\n"                                                   \
  "  t1 INTEGER NOT NULL,\n"                                                   \
  "  lo REAL,\n"                                                               \
  "  hi REAL,\n"                                                               \
  "  n INTEGER NOT NULL,\n"                                                    \
  "  PRIMARY KEY(task_id, key, axis, shift, block)) WITHOUT ROWID;\n"          \
  "CREATE TABLE IF NOT EXISTS telemetry(\n"                                    \
  "  host TEXT NOT NULL,\n"                                                    \
  "  pid INTEGER NOT NULL,\n"                                                  \
  "  ts INTEGER NOT NULL,\n"                                                   \
  "  workflow_id TEXT,\n"                                                      \
  "  task_id TEXT,\n"                                                          \
  "  sample TEXT,\n"                                                           \
  "  PRIMARY KEY(host, pid, ts)) WITHOUT ROWID;\n"                             \
  "CREATE TABLE IF NOT EXISTS source_cursor(\n"                                \
  "  source TEXT NOT NULL,\n"                                                  \
  "  key TEXT NOT NULL,\n"                                                     \
  "  position TEXT,\n"                                                         \
  "  updated INTEGER,\n"                                                       \
  "  PRIMARY KEY(source, key)) WITHOUT ROWID;\n"                               \
  "CREATE TABLE IF NOT EXISTS counter(\n"                                      \
  "  host TEXT NOT NULL,\n"                                                    \
  "  pid INTEGER NOT NULL,\n"                                                  \
  "  name TEXT NOT NULL,\n"                                                    \
  "  value INTEGER NOT NULL,\n"                                                \
  "  PRIMARY KEY(host, pid, name)) WITHOUT ROWID;\n"                           \
  "CREATE TABLE IF NOT EXISTS mida_meta(\n"                                    \
  "  key TEXT PRIMARY KEY,\n"                                                  \
  "  value TEXT);\n"                                                           \
  "CREATE TABLE IF NOT EXISTS mida_index(\n"                                   \
  "  name TEXT PRIMARY KEY,\n"                                                 \
  "  key TEXT NOT NULL,\n"                                                     \
  "  kind TEXT NOT NULL,\n"                                                    \
  "  created INTEGER);\n"                                                      \
  "CREATE TABLE IF NOT EXISTS task_key_num(\n"                                 \
  "  name TEXT NOT NULL,\n"                                                    \
  "  value REAL NOT NULL,\n"                                                   \
  "  task_id TEXT NOT NULL,\n"                                                 \
  "  PRIMARY KEY(name, value, task_id)) WITHOUT ROWID;\n"                      \
  "CREATE INDEX IF NOT EXISTS task_key_num_by_task\n"                          \
  "  ON task_key_num(name, task_id, value);\n"                                 \
  "CREATE INDEX IF NOT EXISTS task_by_workflow ON task(workflow_id, "          \
  "status);\n"                                                                 \
  "CREATE INDEX IF NOT EXISTS task_by_workflow_id ON task(workflow_id, id);\n" \
  "CREATE INDEX IF NOT EXISTS task_by_activity ON task(activity);\n"           \
  "CREATE INDEX IF NOT EXISTS task_by_parent ON task(parent_id)\n"             \
  "  WHERE parent_id IS NOT NULL;\n"                                           \
  "CREATE INDEX IF NOT EXISTS task_by_campaign ON task(campaign_id)\n"         \
  "  WHERE campaign_id IS NOT NULL;\n"                                         \
  "CREATE INDEX IF NOT EXISTS task_by_source_key ON task(source_key)\n"        \
  "  WHERE source_key IS NOT NULL;\n"                                          \
  "CREATE INDEX IF NOT EXISTS task_unfinished ON task(host, pid)\n"            \
  "  WHERE (status IS NULL OR status = 'UNKNOWN' OR status = 'SUBMITTED'"      \
  " OR status = 'RUNNING');\n"                                                 \
  "CREATE INDEX IF NOT EXISTS workflow_unfinished ON workflow(host, pid)\n"    \
  "  WHERE (status IS NULL OR status = 'UNKNOWN' OR status = 'SUBMITTED'"      \
  " OR status = 'RUNNING');\n"                                                 \
  "CREATE INDEX IF NOT EXISTS task_run_unfinished ON task_run(host, pid)\n"    \
  "  WHERE (status IS NULL OR status = 'UNKNOWN' OR status = 'SUBMITTED'"      \
  " OR status = 'RUNNING');\n"                                                 \
  "CREATE INDEX IF NOT EXISTS workflow_by_campaign ON "                        \
  "workflow(campaign_id);\n"                                                   \
  "CREATE INDEX IF NOT EXISTS task_data_by_data ON task_data(data_id, "        \
  "role);\n"                                                                   \
  "CREATE INDEX IF NOT EXISTS data_by_digest ON data(digest)\n"                \
  "  WHERE digest IS NOT NULL;\n"                                              \
  "CREATE INDEX IF NOT EXISTS task_dep_by_upstream ON "                        \
  "task_dep(upstream_id);\n"                                                   \
  "CREATE INDEX IF NOT EXISTS telemetry_by_time ON telemetry(ts);\n"           \
  "CREATE VIEW IF NOT EXISTS task_telemetry_v AS\n"                            \
  "  SELECT t.id AS task_id, t.activity, t.host, t.pid, 'process' AS scope,\n" \
  "  s.ts, s.sample FROM task t JOIN telemetry s ON s.host = t.host\n"         \
  "  AND s.pid = t.pid AND s.ts BETWEEN t.started\n"                           \
  "  AND coalesce(t.ended, 9223372036854775807)\n"                             \
  "  UNION ALL\n"                                                              \
  "  SELECT t.id, t.activity, t.host, t.pid, 'host', s.ts, s.sample\n"         \
  "  FROM task t JOIN telemetry s ON s.host = t.host AND s.pid = 0\n"          \
  "  AND s.ts BETWEEN t.started AND coalesce(t.ended, 9223372036854775807);\n"

/* From version 2 to 3, in the writer's transaction (mida_point() is the
 * store's SQL function). */
#define MIDA_SCHEMA_SQLITE_2_TO_3                                             \
  "ALTER TABLE metric RENAME TO metric_v1;\n"                                 \
  "CREATE TABLE metric(\n"                                                    \
  "  task_id TEXT NOT NULL,\n"                                                \
  "  key TEXT NOT NULL,\n"                                                    \
  "  step INTEGER,\n"                                                         \
  "  ts INTEGER NOT NULL,\n"                                                  \
  "  value REAL,\n"                                                           \
  "  point TEXT NOT NULL,\n"                                                  \
  "  PRIMARY KEY(task_id, key, ts, point)) WITHOUT ROWID;\n"                  \
  "INSERT OR IGNORE INTO metric(task_id, key, step, ts, value, point)\n"      \
  "  SELECT task_id, key, nullif(step, -1), ts, value,\n"                     \
  "  mida_point(nullif(step, -1), value) FROM metric_v1;\n"                   \
  "DROP TABLE metric_v1;\n"                                                   \
  "UPDATE mida_meta SET value = '3' WHERE key = 'schema_version';\n"

/* From version 3 to 4, in the writer's transaction: the column seq
 * INTEGER is added to task and workflow where it is missing (sqlite_schema.c,
 * as SQLite has no ADD COLUMN IF NOT EXISTS), then: */
#define MIDA_SCHEMA_SQLITE_3_TO_4                                             \
  "UPDATE mida_meta SET value = '4' WHERE key = 'schema_version';\n"

/* From version 4 to 5, in the writer's transaction, after
 * MIDA_SCHEMA_SQLITE (which made table task_run) and after the column
 * task.attempts was added (if the table lacked it); MIDA_SCHEMA_SQLITE_VIEWS
 * then makes the view again. */
#define MIDA_SCHEMA_SQLITE_4_TO_5                                             \
  "DROP VIEW IF EXISTS task_v;\n"                                             \
  "UPDATE mida_meta SET value = '5' WHERE key = 'schema_version';\n"

/* From version 5 to 6, in the writer's transaction, after
 * MIDA_SCHEMA_SQLITE (which made table mida_index). */
#define MIDA_SCHEMA_SQLITE_5_TO_6                                             \
  "UPDATE mida_meta SET value = '6' WHERE key = 'schema_version';\n"

/* From version 6 to 7, in the writer's transaction, after
 * MIDA_SCHEMA_SQLITE (which made table metric_block) and the statements of
 * mida__rollup_build_sql (which computed its rows from the points). */
#define MIDA_SCHEMA_SQLITE_6_TO_7                                             \
  "UPDATE mida_meta SET value = '7' WHERE key = 'schema_version';\n"

/* From version 7 to 8, in the writer's transaction, after
 * MIDA_SCHEMA_SQLITE (which made table task_key_num) and the triggers and
 * rows of the declared numeric keys (key_side.h). */
#define MIDA_SCHEMA_SQLITE_7_TO_8                                             \
  "UPDATE mida_meta SET value = '8' WHERE key = 'schema_version';\n"
#define MIDA_SCHEMA_SQLITE_8_TO_9                                              \
  "UPDATE mida_meta SET value = '9' WHERE key = 'schema_version';\n"

/* From version 9 to 10, after MIDA_SCHEMA_SQLITE (which made the index
 * task_key_num_by_task). */
#define MIDA_SCHEMA_SQLITE_9_TO_10                                             \
  "UPDATE mida_meta SET value = '10' WHERE key = 'schema_version';\n"
#define MIDA_SCHEMA_SQLITE_10_TO_11                                            \
  "UPDATE mida_meta SET value = '11' WHERE key = 'schema_version';\n"
#define MIDA_SCHEMA_SQLITE_11_TO_12                                            \
  "UPDATE mida_meta SET value = '12' WHERE key = 'schema_version';\n"

/* Version 12 to 13: data without a rowid (the table rebuilt once; nothing
 * refers to its rowid, and no view or trigger to the table). */
#define MIDA_SCHEMA_SQLITE_12_TO_13                                            \
  "CREATE TABLE data_13(id TEXT PRIMARY KEY, kind TEXT, uri TEXT,"             \
  " size INTEGER, digest TEXT, metadata TEXT) WITHOUT ROWID;\n"                \
  "INSERT INTO data_13 SELECT id, kind, uri, size, digest, metadata"           \
  " FROM data WHERE id IS NOT NULL;\n"                                         \
  "DROP TABLE data;\n"                                                         \
  "ALTER TABLE data_13 RENAME TO data;\n"                                      \
  "UPDATE mida_meta SET value = '13' WHERE key = 'schema_version';\n"

/* Version 13 to 14: the partial indexes of version 11 made again with
 * their condition spelled with equalities (MIDA_SCHEMA_NOT_OVER); after
 * MIDA_SCHEMA_SQLITE, whose CREATE INDEX IF NOT EXISTS left the old ones. */
#define MIDA_SCHEMA_SQLITE_13_TO_14                                            \
  "DROP INDEX IF EXISTS task_unfinished;\n"                                    \
  "DROP INDEX IF EXISTS workflow_unfinished;\n"                                \
  "DROP INDEX IF EXISTS task_run_unfinished;\n"                                \
  "CREATE INDEX task_unfinished ON task(host, pid)"                            \
  " WHERE " MIDA_SCHEMA_NOT_OVER ";\n"                                         \
  "CREATE INDEX workflow_unfinished ON workflow(host, pid)"                    \
  " WHERE " MIDA_SCHEMA_NOT_OVER ";\n"                                         \
  "CREATE INDEX task_run_unfinished ON task_run(host, pid)"                    \
  " WHERE " MIDA_SCHEMA_NOT_OVER ";\n"                                         \
  "UPDATE mida_meta SET value = '14' WHERE key = 'schema_version';\n"

/* Version 14 to 15, after MIDA_SCHEMA_SQLITE (which made the index
 * data_by_digest). */
#define MIDA_SCHEMA_SQLITE_14_TO_15                                            \
  "UPDATE mida_meta SET value = '15' WHERE key = 'schema_version';\n"

/* Version 15 to 16, after MIDA_SCHEMA_SQLITE (which made the indexes
 * task_by_campaign and task_by_source_key). */
#define MIDA_SCHEMA_SQLITE_15_TO_16                                            \
  "UPDATE mida_meta SET value = '16' WHERE key = 'schema_version';\n"

/* From version 16 to 17, in the writer's transaction:
 * MIDA_SCHEMA_SQLITE_VIEWS then makes both views again, with their times
 * cut to the millisecond. */
#define MIDA_SCHEMA_SQLITE_16_TO_17                                            \
  "DROP VIEW IF EXISTS task_v;\n"                                             \
  "DROP VIEW IF EXISTS workflow_v;\n"                                         \
  "UPDATE mida_meta SET value = '17' WHERE key = 'schema_version';\n"

/* What reads the change numbers; after the migrations, whose columns its
 * indexes need. */
#define MIDA_SCHEMA_SQLITE_CHANGES                                            \
  "CREATE INDEX IF NOT EXISTS task_by_seq ON task(seq);\n"                    \
  "CREATE INDEX IF NOT EXISTS workflow_by_seq ON workflow(seq);\n"            \
  "CREATE VIEW IF NOT EXISTS mida_change_horizon AS SELECT coalesce((SELECT\n" \
  "  CAST(value AS INTEGER) FROM mida_meta WHERE key = 'change_seq'), 0)\n"   \
  "  + 1 AS horizon;\n"

#endif /* MIDA_SINK_SCHEMA_H */

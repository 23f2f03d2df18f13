/*
 * sqlite_test.c -- unit tests of the SQLite store (sqlite.c and its
 * neighbours) and of the sink dispatch (sink.c); those of the run
 * summaries are in sqlite_summary_test.c, the helpers both use in
 * store_helpers.h.
 *
 * Each test opens fresh stores in its own temporary directory, applies
 * decoded records through mida__sink_put_batch() and reads the result back
 * through mida__sink_query(), the same path the `mida` command uses. The
 * merge tests check the store's central promise: records of one task give
 * the same row in whatever order and however often they arrive.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/counts.h"
#include "sink/key_index.h"
#include "sink/merge.h"
#include "sink/rollup.h"
#include "sink/schema.h"
#include "sink/sink.h"
#include "sink/store_fixture.h"

#include "core/buf.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink/store_helpers.h"

/* The row of mida_meta's schema_version in a store of this version. */
#define VERSION_TEXT(v) #v
#define VERSION_ROW_OF(v) VERSION_TEXT(v) "\n"
#define VERSION_ROW VERSION_ROW_OF(MIDA_SCHEMA_VERSION)

/* ---- tests: dispatch --------------------------------------------------- */

static void test_unknown_scheme(void **state) {
  (void)state;
  char err[256] = "";
  mida__sink *sink = (mida__sink *)1;
  int rc = mida__sink_open("nosuch://host/x", 0, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_EURL);
  assert_null(sink);
  assert_non_null(strstr(err, "nosuch"));
  assert_non_null(strstr(err, "sqlite://"));
}

/* ---- tests: schema ----------------------------------------------------- */

static void test_schema_created(void **state) {
  fixture *fx = *state;
  char url[200];
  snprintf(url, sizeof url, "sqlite://%s", fx->path);
  mida__sink *sink = open_store(url, 0);
  assert_query(
      sink,
      "SELECT name FROM sqlite_schema WHERE type = 'table'"
      " ORDER BY name",
      "campaign\ncounter\ndata\nmetric\nmetric_block\nmida_index\nmida_meta\n"
      "source_cursor\ntask\ntask_data\ntask_dep\ntask_key_num\ntask_run\n"
      "telemetry\n"
      "workflow\n");
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  mida__sink_close(sink);
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_step(st), SQLITE_ROW);
  assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  /* Opening again keeps the store as it is. */
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT count(*) FROM mida_meta", "1\n");
  mida__sink_close(sink);
}

/* A reader that stays open (`mida serve`) learns that its file was
 * deleted, or that another one was put at its path. */
static void test_reader_sees_its_store_moved(void **state) {
  fixture *fx = *state;
  mida__sink_close(open_store(fx->path, 0));
  mida__sink *reader = open_store(fx->path, MIDA_SINK_READONLY);
  assert_false(mida__sink_moved(reader));
  char moved_to[1100];
  snprintf(moved_to, sizeof moved_to, "%s.old", fx->path);
  assert_int_equal(rename(fx->path, moved_to), 0);
  assert_true(mida__sink_moved(reader));
  mida__sink_close(open_store(fx->path, 0)); /* another store there */
  assert_true(mida__sink_moved(reader));
  mida__sink_close(reader);
  reader = open_store(fx->path, MIDA_SINK_READONLY);
  assert_false(mida__sink_moved(reader));
  mida__sink_close(reader);
  unlink(moved_to);
}

static void test_newer_schema_refused(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida__sink_close(sink);
  exec_on(fx->path, "UPDATE mida_meta SET value = '99'"
                    " WHERE key = 'schema_version'");
  char err[512] = "";
  int rc = mida__sink_open(fx->path, 0, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ESTORE);
  assert_null(sink);
  assert_non_null(strstr(err, "newer"));
  rc = mida__sink_open(fx->path, MIDA_SINK_READONLY, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ESTORE);
}

/* ---- tests: metric points ---------------------------------------------- */

static void metric_rec(mida__rec *r, const mida_id_t *task, const char *key,
                       int has_step, int64_t step, int64_t ts, double v) {
  rec_init(r, MIDA_REC_METRIC);
  set_id(r, MIDA_F_TASK, task);
  set_str(r, MIDA_F_KEY, key);
  if (has_step)
    set_i64(r, MIDA_F_STEP, step);
  set_i64(r, MIDA_F_TS, ts);
  set_f64(r, MIDA_F_VALUE, v);
}

/* Points MLflow keeps apart stay apart; a point applied again is one. */
static void test_metric_points_kept_apart(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t task = mida_id_new();
  mida__rec r[8];
  metric_rec(&r[0], &task, "m", 1, 1, 100, 0.5);
  metric_rec(&r[1], &task, "m", 1, 1, 100, 0.25); /* same step and time */
  metric_rec(&r[2], &task, "m", 1, -5, 101, 1.0); /* a negative step */
  metric_rec(&r[3], &task, "m", 1, -1, 102, 1.0);
  metric_rec(&r[4], &task, "m", 0, 0, 102, 1.0); /* no step */
  metric_rec(&r[5], &task, "m", 1, 0, 103, -0.0);
  metric_rec(&r[6], &task, "m", 1, 0, 103, 0.0); /* equal to -0 */
  metric_rec(&r[7], &task, "m", 0, 0, 104, NAN);
  for (int k = 0; k < 2; k++)
    put(sink, r, 8);
  assert_query(sink,
               "SELECT step, ts, value, point FROM metric ORDER BY ts, value",
               "1|100|0.25|1:3fd0000000000000\n"
               "1|100|0.5|1:3fe0000000000000\n"
               "-5|101|1.0|-5:3ff0000000000000\n"
               "-1|102|1.0|-1:3ff0000000000000\n"
               "~|102|1.0|:3ff0000000000000\n"
               "0|103|0.0|0:0000000000000000\n"
               "~|104|~|:7ff8000000000000\n");
  mida__sink_close(sink);
}

/* A version-1 store (no task_data.bytes) is brought to version 2 when it
 * is opened for writing, and keeps its rows. */
/* A version 2 store: its metric table is rebuilt with the new key, its
 * steps -1 ("none" then) become NULL, and records apply as before. */
static void test_schema_2_metric_migrated(void **state) {
  fixture *fx = *state;
  exec_on(fx->path,
          "CREATE TABLE metric(task_id TEXT NOT NULL, key TEXT NOT"
          " NULL, step INTEGER NOT NULL, ts INTEGER NOT NULL, value"
          " REAL, PRIMARY KEY(task_id, key, step, ts)) WITHOUT ROWID;"
          "CREATE TABLE mida_meta(key TEXT PRIMARY KEY, value TEXT);"
          "INSERT INTO mida_meta VALUES('schema_version', '2');"
          "INSERT INTO metric VALUES"
          "('0190a4c2-0000-7000-8000-000000000001', 'm', -1, 5, 2.5),"
          "('0190a4c2-0000-7000-8000-000000000001', 'm', 3, 6, NULL)");
  mida__sink *sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  assert_query(sink, "SELECT step, ts, value, point FROM metric ORDER BY ts",
               "~|5|2.5|:4004000000000000\n3|6|~|3:7ff8000000000000\n");
  mida_id_t task;
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-000000000001", &task), MIDA_OK);
  mida__rec r[2];
  metric_rec(&r[0], &task, "m", 0, 0, 5, 2.5);
  metric_rec(&r[1], &task, "m", 1, 3, 6, NAN);
  put(sink, r, 2);
  assert_query(sink, "SELECT count(*) FROM metric", "2\n");
  mida__sink_close(sink);
}

static void test_schema_1_migrated(void **state) {
  fixture *fx = *state;
  exec_on(fx->path, "CREATE TABLE task_data(task_id TEXT NOT NULL,"
                    " data_id TEXT NOT NULL, role TEXT NOT NULL, name TEXT,"
                    " PRIMARY KEY(task_id, data_id, role)) WITHOUT ROWID;"
                    "INSERT INTO task_data VALUES('t', 'd', 'used', 'n');"
                    "CREATE TABLE mida_meta(key TEXT PRIMARY KEY, value TEXT);"
                    "INSERT INTO mida_meta VALUES('schema_version', '1');");
  /* Read-only, it is read as it is. */
  mida__sink *sink = open_store(fx->path, MIDA_SINK_READONLY);
  assert_query(sink, "SELECT value FROM mida_meta", "1\n");
  mida__sink_close(sink);
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT value FROM mida_meta", VERSION_ROW);
  assert_query(sink, "SELECT task_id, data_id, role, name, bytes"
                     " FROM task_data",
               "t|d|used|n|~\n");
  mida__sink_close(sink);
  sink = open_store(fx->path, 0); /* a second open changes nothing */
  assert_query(sink, "SELECT value FROM mida_meta", VERSION_ROW);
  mida__sink_close(sink);
}

/* ---- tests: task merge ------------------------------------------------- */

typedef struct task_recs {
  mida_id_t id, wf, camp;
  mida__rec begin, end, annotate;
} task_recs;

static void make_task_recs(task_recs *t) {
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-000000000001", &t->id), MIDA_OK);
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-0000000000f1", &t->wf), MIDA_OK);
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-0000000000c1", &t->camp), MIDA_OK);
  rec_init(&t->begin, MIDA_REC_TASK);
  set_id(&t->begin, MIDA_F_ID, &t->id);
  set_id(&t->begin, MIDA_F_WORKFLOW, &t->wf);
  set_id(&t->begin, MIDA_F_CAMPAIGN, &t->camp);
  set_str(&t->begin, MIDA_F_ACTIVITY, "train");
  set_i64(&t->begin, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  set_i64(&t->begin, MIDA_F_STARTED, 1000);
  set_str(&t->begin, MIDA_F_USED, "{\"lr\": 0.1, \"epochs\": 3}");
  set_str(&t->begin, MIDA_F_WORKER, "w1");

  rec_init(&t->end, MIDA_REC_TASK);
  set_id(&t->end, MIDA_F_ID, &t->id);
  set_i64(&t->end, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  set_i64(&t->end, MIDA_F_ENDED, 5000);
  set_str(&t->end, MIDA_F_GENERATED, "{\"loss\": 0.25}");

  rec_init(&t->annotate, MIDA_REC_TASK);
  set_id(&t->annotate, MIDA_F_ID, &t->id);
  set_str(&t->annotate, MIDA_F_GENERATED, "{\"model\": \"m.pt\", \"acc\": 1}");
  set_str(&t->annotate, MIDA_F_CUSTOM, "{\"note\": \"late\"}");
}

/* Every batch gets a change number; the rows it wrote carry it, a task
 * that got metric points is renumbered, and the horizon is past all. */
static void test_change_numbers(void **state) {
  fixture *fx = *state;
  task_recs t;
  make_task_recs(&t);
  mida__sink *sink = open_store(fx->path, 0);
  put(sink, &t.begin, 1);
  assert_query(sink, "SELECT seq FROM task", "1\n");
  assert_query(sink, "SELECT horizon FROM mida_change_horizon", "2\n");
  mida__rec wf;
  rec_init(&wf, MIDA_REC_WORKFLOW);
  set_id(&wf, MIDA_F_ID, &t.wf);
  set_str(&wf, MIDA_F_NAME, "w");
  put(sink, &wf, 1);
  assert_query(sink, "SELECT seq FROM workflow", "2\n");
  assert_query(sink, "SELECT seq FROM task", "1\n");
  mida__rec m;
  rec_init(&m, MIDA_REC_METRIC);
  set_id(&m, MIDA_F_TASK, &t.id);
  set_str(&m, MIDA_F_KEY, "loss");
  set_i64(&m, MIDA_F_STEP, 0);
  set_i64(&m, MIDA_F_TS, 10);
  set_f64(&m, MIDA_F_VALUE, 0.5);
  put(sink, &m, 1);
  assert_query(sink, "SELECT seq FROM task", "3\n");
  assert_query(sink,
               "SELECT count(*) FROM task WHERE seq >= 3 AND seq <"
               " (SELECT horizon FROM mida_change_horizon)",
               "1\n");
  /* Recovery marks what the dead process left running LOST: a change of
   * the task and of the workflow, numbered like any other. */
  mida__rec lost;
  rec_init(&lost, MIDA_REC_LOST);
  set_i64(&lost, MIDA_F_STARTED, 0);
  set_str(&lost, MIDA_F_ERROR, "the process died");
  put(sink, &lost, 1);
  assert_query(sink, "SELECT status, seq FROM task", "LOST|4\n");
  assert_query(sink, "SELECT status, seq FROM workflow", "LOST|4\n");
  mida__sink_close(sink);
}

/* The statements that mark rows LOST, by the start of their text. */
static int count_lost_update(unsigned type, void *ctx, void *p, void *x) {
  (void)type;
  (void)x;
  const char *sql = sqlite3_sql(p);
  if (strstr(sql, "SET status = 'LOST'") != NULL)
    ++*(int *)ctx;
  return 0;
}

/* A LOST record of a process that ended what it began (every process of
 * a `mida run` that exits) writes nothing: a read of the unfinished
 * indexes finds no row, and the three updates, each of which made and
 * zeroed a temporary table first (~80,000 instructions a process), do
 * not run. One that left a task running marks it, as before. */
static void
test_lost_record_of_a_finished_process_writes_nothing(void **state) {
  fixture *fx = *state;
  task_recs t;
  make_task_recs(&t);
  mida__sink *sink = open_store(fx->path, 0);
  mida__rec done[2] = {t.begin, t.end};
  put(sink, done, 2);
  mida__rec lost;
  rec_init(&lost, MIDA_REC_LOST);
  set_i64(&lost, MIDA_F_STARTED, 0);
  set_str(&lost, MIDA_F_ERROR, "the process died");
  int updates = 0;
  sqlite3_trace_v2(mida__sqlite_connection(sink), SQLITE_TRACE_STMT,
                   count_lost_update, &updates);
  put(sink, &lost, 1);
  assert_int_equal(updates, 0);
  assert_query(sink, "SELECT status, seq FROM task", "FINISHED|1\n");
  /* A second task, left running by the same process. */
  mida__rec running = t.begin;
  mida_id_t other = mida_id_new();
  set_id(&running, MIDA_F_ID, &other);
  put(sink, &running, 1);
  put(sink, &lost, 1);
  assert_int_equal(updates, 3);
  sqlite3_trace_v2(mida__sqlite_connection(sink), 0, NULL, NULL);
  assert_query(sink, "SELECT status, count(*) FROM task GROUP BY 1 ORDER BY 1",
               "FINISHED|1\nLOST|1\n");
  mida__sink_close(sink);
}

/* A store of schema version 1 (task and workflow without seq) gets the
 * change numbers when a writer opens it, and keeps its rows. */
static void test_migrates_version_1(void **state) {
  fixture *fx = *state;
  exec_on(fx->path, "CREATE TABLE workflow(id TEXT PRIMARY KEY, campaign_id"
                    " TEXT, parent_id TEXT, name TEXT, source TEXT, user TEXT,"
                    " host TEXT, pid INTEGER, started INTEGER, ended INTEGER,"
                    " status TEXT, metadata TEXT);"
                    "CREATE TABLE task(id TEXT PRIMARY KEY, workflow_id TEXT,"
                    " campaign_id TEXT, parent_id TEXT, activity TEXT, status"
                    " TEXT, submitted INTEGER, started INTEGER, ended INTEGER,"
                    " host TEXT, pid INTEGER, worker TEXT, source_key TEXT,"
                    " used TEXT, generated TEXT, custom TEXT, error TEXT,"
                    " telemetry TEXT) WITHOUT ROWID;"
                    "CREATE TABLE task_data(task_id TEXT NOT NULL,"
                    " data_id TEXT NOT NULL, role TEXT NOT NULL, name TEXT,"
                    " PRIMARY KEY(task_id, data_id, role)) WITHOUT ROWID;"
                    "CREATE TABLE mida_meta(key TEXT PRIMARY KEY, value TEXT);"
                    "INSERT INTO mida_meta VALUES('schema_version', '1');"
                    "INSERT INTO task(id, activity) VALUES('old', 'kept');");
  mida__sink *sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  assert_query(sink, "SELECT id, activity, seq FROM task", "old|kept|~\n");
  task_recs t;
  make_task_recs(&t);
  put(sink, &t.begin, 1);
  assert_query(sink, "SELECT count(*) FROM task WHERE seq = 1", "1\n");
  mida__sink_close(sink);
}

/* mida_num() and mida_text(): the values at a key path, as the API's
 * where= predicates use them. */
static void test_json_path_functions(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  assert_query(sink,
               "SELECT mida_num('{\"a\": {\"b\": 2.5}}', 'a.b'),"
               " mida_num('{\"a\": \"x\"}', 'a'),"
               " mida_text('{\"a\": \"x\"}', 'a'),"
               " mida_text('{\"a\": true}', 'a'),"
               " mida_text('{\"a\": [1]}', 'a'),"
               " mida_num('{\"a\": 1}', 'b'), mida_num(NULL, 'a'),"
               " mida_num('not json', 'a')",
               "2.5|~|x|true|~|~|~|~\n");
  mida__sink_close(sink);
}

static void test_task_begin_end(void **state) {
  fixture *fx = *state;
  task_recs t;
  make_task_recs(&t);
  mida__sink *sink = open_store(fx->path, 0);
  put(sink, &t.begin, 1);
  assert_query(sink, "SELECT status, started, ended, used FROM task",
               "RUNNING|1000|~|{\"lr\": 0.1, \"epochs\": 3}\n");
  put(sink, &t.end, 1);
  assert_query(sink,
               "SELECT activity, status, started, ended, used, generated,"
               " worker, host, pid, workflow_id FROM task",
               "train|FINISHED|1000|5000|{\"lr\": 0.1, \"epochs\": 3}|"
               "{\"loss\": 0.25}|w1|origin-host|777|"
               "0190a4c2-0000-7000-8000-0000000000f1\n");
  mida__sink_close(sink);
}

/* A writer compiles a statement on its first use only (sqlite.c,
 * statement()): a batch of tasks compiles no metric statement, whose
 * preparation cost every `mida run` ~30 us and ~45,000 instructions
 * (SQLite's list of a connection's statements, sqlite_stmt, says). */
static void
test_a_batch_without_metrics_compiles_no_metric_statement(void **state) {
  fixture *fx = *state;
  task_recs t;
  make_task_recs(&t);
  mida__sink *sink = open_store(fx->path, 0);
  put(sink, &t.begin, 1);
  assert_query(sink,
               "SELECT count(*) > 0 FROM sqlite_stmt WHERE sql LIKE"
               " 'INSERT INTO task(%'",
               "1\n");
  assert_query(sink,
               "SELECT count(*) FROM sqlite_stmt WHERE sql LIKE 'INSERT INTO"
               " metric_block(%'",
               "0\n");
  mida__rec m;
  metric_rec(&m, &t.id, "loss", 1, 1, 1000, 0.5);
  put(sink, &m, 1);
  assert_query(sink,
               "SELECT count(*) FROM sqlite_stmt WHERE sql LIKE 'INSERT INTO"
               " metric_block(%'",
               "1\n");
  mida__sink_close(sink);
}

/* Deferred batches (sink.h) go into one write transaction, which
 * mida__sink_sync commits: until then another connection sees none of
 * them, and a sink closed before its sync leaves none behind. */
static void test_deferred_batches_commit_at_sync(void **state) {
  fixture *fx = *state;
  task_recs t;
  make_task_recs(&t);
  mida__sink *writer = open_store(fx->path, 0);
  mida__sink *reader = open_store(fx->path, 0);
  mida__sink_defer(writer, 1);
  put(writer, &t.begin, 1);
  put(writer, &t.end, 1);
  assert_query(reader, "SELECT count(*) FROM task", "0\n");
  assert_int_equal(mida__sink_sync(writer), MIDA_OK);
  assert_query(reader, "SELECT status, ended FROM task", "FINISHED|5000\n");
  assert_int_equal(mida__sink_sync(writer), MIDA_OK); /* nothing open */
  /* A group never synced is not in the store. */
  mida__rec w;
  mida_id_t wid = mida_id_new();
  rec_init(&w, MIDA_REC_WORKFLOW);
  set_id(&w, MIDA_F_ID, &wid);
  set_str(&w, MIDA_F_NAME, "unsynced");
  put(writer, &w, 1);
  mida__sink_close(writer);
  assert_query(reader, "SELECT count(*) FROM workflow WHERE name = 'unsynced'",
               "0\n");
  /* Not deferred: each batch is committed when put returns. */
  writer = open_store(fx->path, 0);
  put(writer, &w, 1);
  assert_query(reader, "SELECT count(*) FROM workflow WHERE name = 'unsynced'",
               "1\n");
  mida__sink_close(writer);
  mida__sink_close(reader);
}

/* The plan's details of sql in db, joined by "|". */
static void plan_of(sqlite3 *db, const char *sql, char *out, size_t cap) {
  sqlite3_stmt *st = NULL;
  char eqp[1024];
  snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", sql);
  assert_int_equal(sqlite3_prepare_v2(db, eqp, -1, &st, NULL), SQLITE_OK);
  out[0] = '\0';
  while (sqlite3_step(st) == SQLITE_ROW) {
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s|", sqlite3_column_text(st, 3));
  }
  sqlite3_finalize(st);
}

/* A LOST record's three updates find the process's unfinished rows by
 * the partial indexes of version 11, not by reading the tables whole; a
 * store of version 10 gets the indexes when a writer opens it. */
static void test_lost_updates_use_the_unfinished_indexes(void **state) {
  fixture *fx = *state;
  mida__sink_close(open_store(fx->path, 0));
  sqlite3 *db;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  const char *sql[3] = {MIDA_LOST_TASKS_SQL("?6"),
                        MIDA_LOST_WORKFLOWS_SQL("?6"), MIDA_LOST_RUNS_SQL};
  const char *index[3] = {"task_unfinished", "workflow_unfinished",
                          "task_run_unfinished"};
  char plan[2048];
  for (int i = 0; i < 3; i++) {
    plan_of(db, sql[i], plan, sizeof plan);
    if (strstr(plan, index[i]) == NULL)
      fprintf(stderr, "%s: %s\n", sql[i], plan);
    assert_non_null(strstr(plan, index[i]));
  }
  /* And the read that comes first (apply_lost) uses all three. */
  plan_of(db, MIDA_LOST_ANY_SQL, plan, sizeof plan);
  for (int i = 0; i < 3; i++) {
    if (strstr(plan, index[i]) == NULL)
      fprintf(stderr, "%s: %s\n", MIDA_LOST_ANY_SQL, plan);
    assert_non_null(strstr(plan, index[i]));
  }
  /* Back to version 10, without the indexes. */
  assert_int_equal(
      sqlite3_exec(db,
                   "DROP INDEX task_unfinished; DROP INDEX workflow_unfinished;"
                   " DROP INDEX task_run_unfinished;"
                   " UPDATE mida_meta SET value = '10'"
                   " WHERE key = 'schema_version'; PRAGMA user_version = 0",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  mida__sink *sink = open_store(fx->path, 0);
  assert_query(sink,
               "SELECT count(*) FROM sqlite_schema WHERE name IN"
               " ('task_unfinished', 'workflow_unfinished',"
               " 'task_run_unfinished')",
               "3\n");
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  mida__sink_close(sink);
}

/* How many instructions of opcode op the program of sql in db has. */
static int opcodes_of(sqlite3 *db, const char *sql, const char *op) {
  sqlite3_stmt *st = NULL;
  char explain[1024];
  snprintf(explain, sizeof explain, "EXPLAIN %s", sql);
  assert_int_equal(sqlite3_prepare_v2(db, explain, -1, &st, NULL), SQLITE_OK);
  int n = 0;
  while (sqlite3_step(st) == SQLITE_ROW)
    n += strcmp((const char *)sqlite3_column_text(st, 1), op) == 0;
  sqlite3_finalize(st);
  return n;
}

/* A write of a task, run or workflow row evaluates the condition of its
 * table's partial index (version 11) without building a temporary B-tree
 * (OpenEphemeral) for it, as an IN list of three literals did at every
 * row write (version 14); a store of version 13 gets the indexes made
 * again when a writer opens it. */
static void test_row_writes_build_no_temporary_btree(void **state) {
  fixture *fx = *state;
  mida__sink_close(open_store(fx->path, 0));
  sqlite3 *db;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  const char *sql[] = {"UPDATE task SET status = ?1 WHERE id = ?2",
                       "UPDATE task_run SET status = ?1 WHERE id = ?2",
                       "UPDATE workflow SET status = ?1 WHERE id = ?2",
                       "INSERT INTO task(id, status) VALUES(?1, ?2)"};
  for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
    assert_int_equal(opcodes_of(db, sql[i], "OpenEphemeral"), 0);
  /* Back to version 13, with the IN lists. */
  assert_int_equal(
      sqlite3_exec(db,
                   "DROP INDEX task_unfinished; CREATE INDEX task_unfinished"
                   " ON task(host, pid) WHERE (status IS NULL OR status IN"
                   " ('UNKNOWN', 'SUBMITTED', 'RUNNING'));"
                   " UPDATE mida_meta SET value = '13'"
                   " WHERE key = 'schema_version'; PRAGMA user_version = 0",
                   NULL, NULL, NULL),
      SQLITE_OK);
  assert_int_not_equal(opcodes_of(db, sql[0], "OpenEphemeral"), 0);
  sqlite3_close(db);
  mida__sink *sink = open_store(fx->path, 0);
  assert_query(sink,
               "SELECT count(*) FROM sqlite_schema WHERE name IN"
               " ('task_unfinished', 'workflow_unfinished',"
               " 'task_run_unfinished') AND sql NOT LIKE '% IN (%'",
               "3\n");
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  mida__sink_close(sink);
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  assert_int_equal(opcodes_of(db, sql[0], "OpenEphemeral"), 0);
  sqlite3_close(db);
}

/* An update sets only the columns its records have values for (and the
 * ones the origin fills): a column it does not name keeps its index
 * entries as they are. Triggers on UPDATE OF a column fire when the SET
 * names it, whatever the value, so they tell which columns an upsert
 * named. */
static void test_update_sets_only_its_columns(void **state) {
  fixture *fx = *state;
  task_recs t;
  make_task_recs(&t);
  mida__sink *sink = open_store(fx->path, 0);
  put(sink, &t.begin, 1);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  const char *columns[] = {"workflow_id", "campaign_id", "parent_id",
                           "activity", "status", "used", "generated"};
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE named(col TEXT)", NULL,
                                NULL, NULL),
                   SQLITE_OK);
  for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TRIGGER named_%s AFTER UPDATE OF %s ON task BEGIN"
             " INSERT INTO named VALUES('%s'); END",
             columns[i], columns[i], columns[i]);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  }
  sqlite3_close(db);

  put(sink, &t.end, 1);
  assert_query(sink, "SELECT col FROM named ORDER BY col",
               "generated\nstatus\n");
  assert_query(sink,
               "SELECT workflow_id, activity, status, ended, used, generated,"
               " host, pid FROM task",
               "0190a4c2-0000-7000-8000-0000000000f1|train|FINISHED|5000|"
               "{\"lr\": 0.1, \"epochs\": 3}|{\"loss\": 0.25}|"
               "origin-host|777\n");
  mida__rec act;
  rec_init(&act, MIDA_REC_TASK);
  set_id(&act, MIDA_F_ID, &t.id);
  set_str(&act, MIDA_F_ACTIVITY, "eval");
  put(sink, &act, 1);
  put(sink, &act, 1); /* the same shape again: the same statement */
  assert_query(sink, "SELECT col FROM named ORDER BY col",
               "activity\nactivity\ngenerated\nstatus\n");
  assert_query(sink, "SELECT activity, status FROM task", "eval|FINISHED\n");

  /* A campaign record with nothing but its id: nothing to update. */
  mida__rec camp;
  rec_init(&camp, MIDA_REC_CAMPAIGN);
  set_id(&camp, MIDA_F_ID, &t.camp);
  put(sink, &camp, 1);
  put(sink, &camp, 1);
  assert_query(sink, "SELECT count(*) FROM campaign", "1\n");
  mida__sink_close(sink);
}

/* Applies recs in the given order, as separate batches or one batch, each
 * once or twice, into a fresh store; returns the canonical row. */
static char *apply_order(void **state, const mida__rec *const *order,
                         int one_batch, int twice, int run) {
  char path[256], name[32];
  snprintf(name, sizeof name, "order%d.db", run);
  mida__sink *sink = open_store(store_path(state, name, path, sizeof path), 0);
  mida__rec batch[6];
  size_t n = 0;
  for (int i = 0; i < 3; i++) {
    for (int k = 0; k < (twice ? 2 : 1); k++) {
      if (one_batch)
        batch[n++] = *order[i];
      else
        put(sink, order[i], 1);
    }
  }
  if (one_batch)
    put(sink, batch, n);
  if (twice && !one_batch) {
    /* A redelivered batch: everything again, after the fact. */
    for (int i = 0; i < 3; i++)
      put(sink, order[i], 1);
  }
  char *row = query_text(sink, canonical_task_sql, 0);
  mida__sink_close(sink);
  return row;
}

static void test_order_independence(void **state) {
  task_recs t;
  make_task_recs(&t);
  const mida__rec *r[3] = {&t.begin, &t.end, &t.annotate};
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                  {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  char *reference = NULL;
  int run = 0;
  for (int p = 0; p < 6; p++) {
    const mida__rec *order[3] = {r[perms[p][0]], r[perms[p][1]],
                                 r[perms[p][2]]};
    for (int one_batch = 0; one_batch < 2; one_batch++) {
      for (int twice = 0; twice < 2; twice++) {
        char *row = apply_order(state, order, one_batch, twice, run++);
        if (reference == NULL) {
          reference = row;
          continue;
        }
        if (strcmp(row, reference) != 0)
          fprintf(stderr, "order %d%d%d batch %d twice %d:\n %s\n vs %s\n",
                  perms[p][0], perms[p][1], perms[p][2], one_batch, twice, row,
                  reference);
        assert_string_equal(row, reference);
        free(row);
      }
    }
  }
  /* And the reference itself says what all three records said. */
  assert_non_null(strstr(reference, "|FINISHED|~|1000|5000|origin-host|777|"
                                    "w1|~|~|"));
  assert_non_null(strstr(reference, "epochs=3,lr=0.1|"
                                    "acc=1,loss=0.25,model='m.pt'|"
                                    "note='late'|~\n"));
  free(reference);
}

/* A batch sets temp_store = MEMORY for its statement journals and leaves
 * it so (sqlite.c, mida__sqlite_set_temp_store): the batches after the first
 * parse no PRAGMA, which cost ~15,000 instructions a batch; a query sets FILE
 * again, and the next batch MEMORY. */
static void test_batches_set_temp_store_once(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t id = mida_id_new();
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  statement_counts c = {0, 0, 0, 0, 0};
  sqlite3_trace_v2(mida__sqlite_connection(sink), SQLITE_TRACE_STMT,
                   count_statement, &c);
  for (int i = 0; i < 5; i++)
    put(sink, &r, 1);
  assert_int_equal(c.pragmas, 1);
  assert_query(sink, "SELECT count(*) FROM task", "1\n");
  assert_int_equal(c.pragmas, 2);
  put(sink, &r, 1);
  put(sink, &r, 1);
  assert_int_equal(c.pragmas, 3);
  sqlite3_trace_v2(mida__sqlite_connection(sink), 0, NULL, NULL);
  mida__sink_close(sink);
}

/* ---- tests: the blocks of metric series (rollup.h) ---------------------- */

#define STRINGIFY_SHIFT_(x) #x
#define STRINGIFY_SHIFT(x) STRINGIFY_SHIFT_(x)

/* The blocks as stored, and as computed afresh from the points. */
#define BLOCKS_STORED                                                         \
  "SELECT " MIDA_ROLLUP_COLUMNS " FROM metric_block ORDER BY task_id, key,"   \
  " axis, shift, block"

static void assert_blocks_exact(mida__sink *sink) {
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  assert_int_equal(mida__rollup_select_sql(&sql, "metric"), MIDA_OK);
  char *expect = query_text(sink, mida__buf_str(&sql), 0);
  char *got = query_text(sink, BLOCKS_STORED, 0);
  if (strcmp(got, expect) != 0)
    fprintf(stderr, "blocks\n got:    %s\n expect: %s\n", got, expect);
  assert_string_equal(got, expect);
  assert_true(strlen(got) > 0);
  free(expect);
  free(got);
  mida__buf_free(&sql);
}

/* Points out of order, negative and repeated steps, no step, NaN, two
 * values at one step and time, and records applied twice (in one batch and
 * again later): the blocks are those of the stored points, each counted
 * once; a store of version 6 gets them from its points. */
static void test_metric_blocks(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t task = mida_id_new();
  enum { N = 600 };
  static mida__rec recs[N];
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < N; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    rec_init(&recs[i], MIDA_REC_METRIC);
    set_id(&recs[i], MIDA_F_TASK, &task);
    set_str(&recs[i], MIDA_F_KEY, i % 5 == 0 ? "acc" : "loss");
    if (i % 37 != 0) /* some points have no step */
      set_i64(&recs[i], MIDA_F_STEP, (int64_t)(x % 5000) - 1700);
    set_i64(&recs[i], MIDA_F_TS, 1700000000000000000 + (int64_t)(x % 90000) *
                                                       1000003);
    set_f64(&recs[i], MIDA_F_VALUE,
            i % 41 == 0 ? NAN : (double)(int64_t)(x % 20001) / 8 - 1250);
  }
  /* Two values at one step and time: two points. */
  recs[11] = recs[10];
  set_f64(&recs[11], MIDA_F_VALUE, 4242.5);
  recs[12] = recs[3]; /* the same point twice in one batch */
  put(sink, recs, N / 2);
  put(sink, recs + N / 2, N - N / 2);
  put(sink, recs + 100, 200); /* delivered again */
  assert_blocks_exact(sink);
  char *points = query_text(sink, "SELECT count(*) FROM metric", 0);
  char *sum = query_text(sink,
                         "SELECT sum(n) FROM metric_block WHERE axis = 1"
                         " AND shift = " STRINGIFY_SHIFT(MIDA_ROLLUP_TIME_MAX),
                         0);
  assert_string_equal(points, sum);
  free(points);
  free(sum);
  /* Many series in one batch (the fold's table of series grows). */
  static char names[150][8];
  static mida__rec more[300];
  for (int i = 0; i < 300; i++) {
    snprintf(names[i % 150], sizeof names[0], "k%03d", i % 150);
    rec_init(&more[i], MIDA_REC_METRIC);
    set_id(&more[i], MIDA_F_TASK, &task);
    set_str(&more[i], MIDA_F_KEY, names[i % 150]);
    set_i64(&more[i], MIDA_F_STEP, i * 37 - 2000);
    set_i64(&more[i], MIDA_F_TS, 1700000000000000000 + (int64_t)i * 99999991);
    set_f64(&more[i], MIDA_F_VALUE, (double)(i % 17) - 8);
  }
  put(sink, more, 300);
  assert_blocks_exact(sink);
  char *before = query_text(sink, BLOCKS_STORED, 0);
  mida__sink_close(sink);

  /* A store of version 6 (no blocks) gets them when a writer opens it. */
  exec_on(fx->path, "DROP TABLE metric_block; UPDATE mida_meta"
                    " SET value = '6' WHERE key ="
                    " 'schema_version';");
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  char *after = query_text(sink, BLOCKS_STORED, 0);
  assert_string_equal(after, before);
  free(before);
  free(after);
  assert_blocks_exact(sink);
  mida__sink_close(sink);
}

/* A version-4 store gets task_run and task.attempts (task_v shows it) and
 * keeps its rows. */
static void test_schema_4_migrated(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida__sink_close(sink);
  /* Make it what version 4 made. */
  exec_on(fx->path, "DROP VIEW task_v; DROP VIEW task_telemetry_v;"
                    " DROP TABLE task_run; DROP TABLE task;"
                    "CREATE TABLE task(id TEXT PRIMARY KEY, workflow_id TEXT,"
                    " campaign_id TEXT, parent_id TEXT, activity TEXT,"
                    " status TEXT, submitted INTEGER, started INTEGER,"
                    " ended INTEGER, host TEXT, pid INTEGER, worker TEXT,"
                    " source_key TEXT, used TEXT, generated TEXT, custom TEXT,"
                    " error TEXT, telemetry TEXT, seq INTEGER) WITHOUT ROWID;"
                    "CREATE VIEW task_v AS SELECT id, status FROM task;"
                    "INSERT INTO task(id, status, started) VALUES"
                    " ('0190a4c2-0000-7000-8000-000000000001', 'FINISHED', 5);"
                    "UPDATE mida_meta SET value = '4'"
                    " WHERE key = 'schema_version';");
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  assert_query(sink, "SELECT status, attempts, duration_s FROM task_v",
               "FINISHED|~|~\n");
  run_recs t;
  make_run_recs(&t);
  put(sink, &t.r[3], 1);
  assert_query(sink, "SELECT status, started, ended, attempts FROM task",
               "FINISHED|100|200|1\n");
  mida__sink_close(sink);
}

static void test_status_rank(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t id = mida_id_new();
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  put(sink, &r, 1);
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  put(sink, &r, 1);
  assert_query(sink, "SELECT status FROM task", "FINISHED\n");
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_SUBMITTED);
  put(sink, &r, 1);
  assert_query(sink, "SELECT status FROM task", "FINISHED\n");
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_ERROR);
  put(sink, &r, 1);
  assert_query(sink, "SELECT status FROM task", "ERROR\n");
  /* Within one batch as well: the fold keeps the highest. */
  mida_id_t id2 = mida_id_new();
  mida__rec two[2];
  rec_init(&two[0], MIDA_REC_TASK);
  set_id(&two[0], MIDA_F_ID, &id2);
  set_i64(&two[0], MIDA_F_STATUS, MIDA_STATUS_CANCELLED);
  two[1] = two[0];
  set_i64(&two[1], MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  put(sink, two, 2);
  char idtext[MIDA_ID_STRLEN];
  char *got = query_text(sink, "SELECT status FROM task WHERE id = ?1", 1,
                         mida_id_format(&id2, idtext));
  assert_string_equal(got, "CANCELLED\n");
  free(got);
  mida__sink_close(sink);
}

static void test_times_min_max(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t id = mida_id_new();
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  set_i64(&r, MIDA_F_STARTED, 50);
  set_i64(&r, MIDA_F_SUBMITTED, 40);
  set_i64(&r, MIDA_F_ENDED, 90);
  put(sink, &r, 1);
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  set_i64(&r, MIDA_F_STARTED, 60);
  set_i64(&r, MIDA_F_SUBMITTED, 30);
  set_i64(&r, MIDA_F_ENDED, 80);
  put(sink, &r, 1);
  assert_query(sink, "SELECT submitted, started, ended FROM task",
               "30|50|90\n");
  mida__sink_close(sink);
}

static void test_host_pid_defaults(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t a = mida_id_new(), b = mida_id_new(), c = mida_id_new();
  mida__rec r[2];
  /* a: no host at all -> the origin's. */
  rec_init(&r[0], MIDA_REC_TASK);
  set_id(&r[0], MIDA_F_ID, &a);
  put(sink, r, 1);
  /* b: explicit first, then a record without: the explicit one stays. */
  rec_init(&r[0], MIDA_REC_TASK);
  set_id(&r[0], MIDA_F_ID, &b);
  set_str(&r[0], MIDA_F_HOST, "node7");
  set_i64(&r[0], MIDA_F_PID, 12);
  put(sink, r, 1);
  rec_init(&r[1], MIDA_REC_TASK);
  set_id(&r[1], MIDA_F_ID, &b);
  put(sink, &r[1], 1);
  /* c: without first, then explicit: the explicit one wins. */
  rec_init(&r[0], MIDA_REC_TASK);
  set_id(&r[0], MIDA_F_ID, &c);
  put(sink, r, 1);
  set_str(&r[0], MIDA_F_HOST, "node9");
  set_i64(&r[0], MIDA_F_PID, 13);
  put(sink, r, 1);
  char ids[3][MIDA_ID_STRLEN];
  char *got =
      query_text(sink,
                 "SELECT host, pid FROM task WHERE id IN (?1, ?2, ?3)"
                 " ORDER BY id",
                 3, mida_id_format(&a, ids[0]), mida_id_format(&b, ids[1]),
                 mida_id_format(&c, ids[2]));
  assert_string_equal(got, "origin-host|777\nnode7|12\nnode9|13\n");
  free(got);

  /* Telemetry and counters default host and pid as well. */
  rec_init(&r[0], MIDA_REC_TELEMETRY);
  set_i64(&r[0], MIDA_F_TS, 5);
  set_str(&r[0], MIDA_F_METADATA, "{\"cpu\": 0.5}");
  rec_init(&r[1], MIDA_REC_COUNTER);
  set_str(&r[1], MIDA_F_KEY, "dropped");
  set_i64(&r[1], MIDA_F_VALUE_I, 3);
  put(sink, r, 2);
  assert_query(sink, "SELECT host, pid, ts, sample FROM telemetry",
               "origin-host|777|5|{\"cpu\": 0.5}\n");
  assert_query(sink, "SELECT host, pid, name, value FROM counter",
               "origin-host|777|dropped|3\n");
  mida__sink_close(sink);
}

static void test_workflow_campaign_merge(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t wf = mida_id_new(), camp = mida_id_new();
  mida__rec r[4];
  rec_init(&r[0], MIDA_REC_WORKFLOW);
  set_id(&r[0], MIDA_F_ID, &wf);
  set_id(&r[0], MIDA_F_CAMPAIGN, &camp);
  set_str(&r[0], MIDA_F_NAME, "sim");
  set_i64(&r[0], MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  set_i64(&r[0], MIDA_F_STARTED, 10);
  set_str(&r[0], MIDA_F_METADATA, "{\"a\": 1}");
  rec_init(&r[1], MIDA_REC_WORKFLOW);
  set_id(&r[1], MIDA_F_ID, &wf);
  set_i64(&r[1], MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  set_i64(&r[1], MIDA_F_ENDED, 20);
  set_str(&r[1], MIDA_F_METADATA, "{\"b\": 2}");
  rec_init(&r[2], MIDA_REC_CAMPAIGN);
  set_id(&r[2], MIDA_F_ID, &camp);
  set_str(&r[2], MIDA_F_NAME, "c1");
  set_i64(&r[2], MIDA_F_CREATED, 7);
  rec_init(&r[3], MIDA_REC_CAMPAIGN);
  set_id(&r[3], MIDA_F_ID, &camp);
  set_i64(&r[3], MIDA_F_CREATED, 5);
  set_str(&r[3], MIDA_F_METADATA, "{\"x\": true}");
  put(sink, &r[1], 1);
  put(sink, &r[0], 1);
  put(sink, &r[2], 2);
  put(sink, r, 2);
  assert_query(sink,
               "SELECT name, status, started, ended, host,"
               " json_extract(metadata, '$.a'), json_extract(metadata, '$.b')"
               " FROM workflow",
               "sim|FINISHED|10|20|origin-host|1|2\n");
  assert_query(sink, "SELECT name, created, metadata FROM campaign",
               "c1|5|{\"x\": true}\n");
  mida__sink_close(sink);
}

/* ---- tests: links, metrics, counters, cursors -------------------------- */

/* The store's counts (counts.h) are exact below the bound, and a table at
 * the bound is said to hold at least the bound's rows, whatever it holds:
 * a count never reads more rows than that -- but the counters' sums,
 * which account for what was lost, are exact over all their rows. */
static void test_counts_bounded(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida__sink_close(sink);
  char sql[600];
  snprintf(sql, sizeof sql,
           "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i"
           " WHERE n < %d) INSERT INTO telemetry(host, pid, ts)"
           " SELECT 'h', 1, n FROM i;"
           "INSERT INTO task(id, status) VALUES('a', 'RUNNING'), ('b', NULL),"
           " ('c', 'RUNNING');"
           "INSERT INTO counter VALUES('h', 1, 'dropped', 2),"
           " ('h', 2, 'dropped', 3), ('h', 2, 'corrupt', 1);"
           "INSERT INTO counter SELECT 'g', n, 'dropped', 1 FROM (WITH"
           " RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i"
           " WHERE n < %d) SELECT n FROM i);",
           MIDA_COUNT_BOUND + 1, MIDA_COUNT_BOUND);
  exec_on(fx->path, sql);
  sink = open_store(fx->path, MIDA_SINK_READONLY);
  mida__counts *c = calloc(1, sizeof *c);
  assert_non_null(c);
  assert_int_equal(mida__counts_read(sink, 0, c), MIDA_OK);
  assert_false(c->exact);
  assert_int_equal(c->rows[MIDA_COUNT_TELEMETRY], MIDA_COUNT_BOUND);
  assert_true(c->rows_at_least[MIDA_COUNT_TELEMETRY]);
  assert_int_equal(c->rows[MIDA_COUNT_TASK], 3);
  assert_false(c->rows_at_least[MIDA_COUNT_TASK]);
  assert_int_equal(c->rows[MIDA_COUNT_COUNTER], MIDA_COUNT_BOUND);
  assert_true(c->rows_at_least[MIDA_COUNT_COUNTER]);
  assert_false(c->status_at_least);
  assert_int_equal(c->nstatus, 2);
  assert_string_equal(mida__count_name(c, &c->status[0]), "RUNNING");
  assert_int_equal(c->status[0].value, 2);
  assert_string_equal(mida__count_name(c, &c->status[1]), "UNKNOWN");
  assert_int_equal(c->status[1].value, 1);
  assert_int_equal(c->ncounter, 2);
  assert_string_equal(mida__count_name(c, &c->counter[0]), "corrupt");
  assert_int_equal(c->counter[0].value, 1);
  assert_string_equal(mida__count_name(c, &c->counter[1]), "dropped");
  assert_int_equal(c->counter[1].value, 5 + MIDA_COUNT_BOUND);
  mida__counts_free(c);
  free(c);
  mida__sink_close(sink);
}

/* Past the bound, the statuses are those of the newest tasks (ids are
 * time-ordered: the current work's), and exact counts read every row. */
static void test_counts_newest_and_exact(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida__sink_close(sink);
  char sql[400];
  snprintf(sql, sizeof sql,
           "INSERT INTO task(id, status) VALUES('a', 'ERROR'),"
           " ('z', 'RUNNING');"
           "WITH RECURSIVE i(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM i"
           " WHERE n < %d) INSERT INTO task(id, status)"
           " SELECT printf('m%%06d', n), 'FINISHED' FROM i;",
           MIDA_COUNT_BOUND);
  exec_on(fx->path, sql);
  sink = open_store(fx->path, MIDA_SINK_READONLY);
  mida__counts *c = calloc(1, sizeof *c);
  assert_non_null(c);
  assert_int_equal(mida__counts_read(sink, 0, c), MIDA_OK);
  assert_true(c->status_at_least);
  assert_int_equal(c->nstatus, 2); /* 'a', the oldest, is not read */
  assert_string_equal(mida__count_name(c, &c->status[0]), "FINISHED");
  assert_int_equal(c->status[0].value, MIDA_COUNT_BOUND - 1);
  assert_string_equal(mida__count_name(c, &c->status[1]), "RUNNING");
  assert_int_equal(c->status[1].value, 1);
  mida__counts_free(c);
  assert_int_equal(mida__counts_read(sink, 1, c), MIDA_OK);
  assert_true(c->exact);
  assert_int_equal(c->rows[MIDA_COUNT_TASK], MIDA_COUNT_BOUND + 2);
  assert_false(c->rows_at_least[MIDA_COUNT_TASK]);
  assert_false(c->status_at_least);
  assert_int_equal(c->nstatus, 3);
  assert_string_equal(mida__count_name(c, &c->status[0]), "ERROR");
  assert_int_equal(c->status[0].value, 1);
  assert_int_equal(c->status[1].value, MIDA_COUNT_BOUND);
  mida__counts_free(c);
  free(c);
  mida__sink_close(sink);
}

/* A batch's dependencies are written many to a statement
 * (sqlite_deps.h): 150 records, past two statements of ROWS_PER_STEP and
 * some one by one, hold 140 distinct pairs (10 come twice) and one
 * without its upstream, which is skipped and counted; the same batch
 * again adds nothing. */
static void test_many_dependencies_are_each_stored_once(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  enum { DISTINCT = 140, TWICE = 10, N = DISTINCT + TWICE + 1 };
  mida_id_t task[DISTINCT], up[DISTINCT];
  mida__rec r[N];
  for (int i = 0; i < DISTINCT; i++) {
    task[i] = mida_id_new();
    up[i] = mida_id_new();
  }
  for (int i = 0; i < N - 1; i++) {
    int k = i < DISTINCT ? i : (i - DISTINCT) * 7;
    rec_init(&r[i], MIDA_REC_DEP);
    set_id(&r[i], MIDA_F_TASK, &task[k]);
    set_id(&r[i], MIDA_F_PARENT, &up[k]);
  }
  rec_init(&r[N - 1], MIDA_REC_DEP); /* no upstream: skipped */
  set_id(&r[N - 1], MIDA_F_TASK, &task[0]);
  put(sink, r, N);
  put(sink, r, N);
  assert_query(sink,
               "SELECT count(*), count(DISTINCT task_id),"
               " count(DISTINCT upstream_id) FROM task_dep",
               "140|140|140\n");
  /* Each task with its own upstream: the pairs were not mixed up. */
  char sql[256], want[64];
  for (int i = 0; i < DISTINCT; i += 37) {
    char t[MIDA_ID_STRLEN], u[MIDA_ID_STRLEN];
    snprintf(sql, sizeof sql,
             "SELECT upstream_id FROM task_dep WHERE task_id = '%s'",
             mida_id_format(&task[i], t));
    snprintf(want, sizeof want, "%s\n", mida_id_format(&up[i], u));
    assert_query(sink, sql, want);
  }
  assert_int_equal(mida__sqlite_skipped(sink), 2);
  mida__sink_close(sink);
}

static void test_links_idempotent(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t task = mida_id_new(), up = mida_id_new();
  mida__rec r[6];
  rec_init(&r[0], MIDA_REC_DATA);
  set_str(&r[0], MIDA_F_DATA_ID, "sha256:abc");
  set_str(&r[0], MIDA_F_URI, "/data/in.csv");
  set_str(&r[0], MIDA_F_KIND, "file");
  set_i64(&r[0], MIDA_F_SIZE, 123);
  set_str(&r[0], MIDA_F_DIGEST, "sha256:abc");
  set_id(&r[0], MIDA_F_TASK, &task);
  set_i64(&r[0], MIDA_F_ROLE, MIDA_USED);
  set_str(&r[0], MIDA_F_NAME, "input");
  rec_init(&r[1], MIDA_REC_DEP);
  set_id(&r[1], MIDA_F_TASK, &task);
  set_id(&r[1], MIDA_F_PARENT, &up);
  rec_init(&r[2], MIDA_REC_METRIC);
  set_id(&r[2], MIDA_F_TASK, &task);
  set_str(&r[2], MIDA_F_KEY, "loss");
  set_i64(&r[2], MIDA_F_STEP, 3);
  set_i64(&r[2], MIDA_F_TS, 100);
  set_f64(&r[2], MIDA_F_VALUE, 0.5);
  rec_init(&r[3], MIDA_REC_METRIC);
  set_id(&r[3], MIDA_F_TASK, &task);
  set_str(&r[3], MIDA_F_KEY, "nan");
  set_i64(&r[3], MIDA_F_TS, 101);
  set_f64(&r[3], MIDA_F_VALUE, NAN);
  rec_init(&r[4], MIDA_REC_COUNTER);
  set_str(&r[4], MIDA_F_HOST, "h");
  set_i64(&r[4], MIDA_F_PID, 1);
  set_str(&r[4], MIDA_F_KEY, "dropped");
  set_i64(&r[4], MIDA_F_VALUE_I, 5);
  rec_init(&r[5], MIDA_REC_CURSOR);
  set_str(&r[5], MIDA_F_SOURCE, "mlflow");
  set_str(&r[5], MIDA_F_KEY, "exp1");
  set_str(&r[5], MIDA_F_TEXT, "pos-a");
  set_i64(&r[5], MIDA_F_TS, 10);
  for (int k = 0; k < 3; k++)
    put(sink, r, 6);
  assert_query(sink, "SELECT id, kind, uri, size, digest FROM data",
               "sha256:abc|file|/data/in.csv|123|sha256:abc\n");
  assert_query(sink, "SELECT role, name, data_id FROM task_data",
               "used|input|sha256:abc\n");
  assert_query(sink, "SELECT count(*) FROM task_dep", "1\n");
  assert_query(sink, "SELECT key, step, ts, value FROM metric ORDER BY ts",
               "loss|3|100|0.5\nnan|~|101|~\n");
  assert_query(sink, "SELECT value FROM counter", "5\n");
  assert_query(sink, "SELECT position, updated FROM source_cursor",
               "pos-a|10\n");

  /* A counter keeps its maximum; a cursor never moves back. */
  set_i64(&r[4], MIDA_F_VALUE_I, 3);
  set_str(&r[5], MIDA_F_TEXT, "pos-old");
  set_i64(&r[5], MIDA_F_TS, 5);
  put(sink, &r[4], 2);
  assert_query(sink, "SELECT value FROM counter", "5\n");
  assert_query(sink, "SELECT position, updated FROM source_cursor",
               "pos-a|10\n");
  set_i64(&r[4], MIDA_F_VALUE_I, 9);
  set_str(&r[5], MIDA_F_TEXT, "pos-b");
  set_i64(&r[5], MIDA_F_TS, 20);
  put(sink, &r[4], 2);
  assert_query(sink, "SELECT value FROM counter", "9\n");
  assert_query(sink, "SELECT position, updated FROM source_cursor",
               "pos-b|20\n");

  /* The same data generated by the same task is a second link; data
   * metadata merges. */
  set_i64(&r[0], MIDA_F_ROLE, MIDA_GENERATED);
  set_str(&r[0], MIDA_F_METADATA, "{\"rows\": 10}");
  put(sink, r, 1);
  put(sink, r, 1);
  assert_query(sink, "SELECT role FROM task_data ORDER BY role",
               "generated\nused\n");
  assert_query(sink, "SELECT metadata FROM data", "{\"rows\": 10}\n");

  /* A link's bytes keep the largest count, whatever the order; a record
   * without a count leaves it alone. */
  const int64_t counts[] = {40, 7, -1, 90, 12};
  for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
    r[0].f[MIDA_F_BYTES].present = counts[k] >= 0;
    r[0].f[MIDA_F_BYTES].v.i64 = counts[k];
    put(sink, r, 1);
  }
  assert_query(sink, "SELECT role, bytes FROM task_data ORDER BY role",
               "generated|90\nused|~\n");
  mida__sink_close(sink);
}

/* A file record as `mida run` makes it: the version's id, its path, and
 * the link of task. Its strings live in buf (128 bytes). */
static void file_record(mida__rec *r, char *buf, unsigned inode,
                        const char *uri, const mida_id_t *task) {
  snprintf(buf, 128, "inode:65024:%u:1796275823259928303:%u", inode,
           100 + inode % 900);
  if (uri == NULL)
    snprintf(buf + 64, 64, "file:///t/d%03u/f%u.txt", inode / 100, inode);
  rec_init(r, MIDA_REC_DATA);
  set_str(r, MIDA_F_DATA_ID, buf);
  set_str(r, MIDA_F_KIND, "file");
  set_str(r, MIDA_F_URI, uri != NULL ? uri : buf + 64);
  set_i64(r, MIDA_F_SIZE, 100 + inode % 900);
  set_id(r, MIDA_F_TASK, task);
  set_i64(r, MIDA_F_ROLE, MIDA_USED);
  set_i64(r, MIDA_F_BYTES, 100 + inode % 900);
}

/* The file records of a transaction are written in the order of their
 * data's id, over all its batches (data_rows.h), so that the keys of the
 * three B-trees they write (data, task_data, task_data_by_data) are
 * appended, instead of landing all over the trees in the order a
 * directory lists its files: `mida recover` of `tar c`'s 10,000 records
 * into a new store, ~24,200 -> ~15,800 instructions a record. A trigger
 * of the test's logs the order in which the rows were written. */
static void test_file_records_are_written_in_key_order(void **state) {
  fixture *fx = *state;
  enum { FILES = 3000, BATCHES = 6 };
  mida__sink_close(open_store(fx->path, 0));
  exec_on(fx->path,
          "CREATE TABLE test_log(tree TEXT, id TEXT);"
          "CREATE TRIGGER test_data AFTER INSERT ON data"
          " BEGIN INSERT INTO test_log VALUES('data', new.id); END;"
          "CREATE TRIGGER test_link AFTER INSERT ON task_data"
          " BEGIN INSERT INTO test_log VALUES('link', new.data_id); END;");
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t task = mida_id_new();
  mida__rec *r = calloc(FILES, sizeof *r);
  char(*buf)[128] = calloc(FILES, sizeof *buf);
  assert_non_null(r);
  assert_non_null(buf);
  /* Inode numbers in a scattered order, as a directory's hash lists them;
   * a recovery's group of segments: batches put deferred, one sync. */
  for (unsigned i = 0; i < FILES; i++)
    file_record(&r[i], buf[i], 1000000 + (i * 7919u) % FILES, NULL, &task);
  mida__sink_defer(sink, 1);
  for (int b = 0; b < BATCHES; b++)
    put(sink, r + b * (FILES / BATCHES), FILES / BATCHES);
  assert_int_equal(mida__sink_sync(sink), MIDA_OK);
  /* Each tree's rows were written in key order: no row after a greater
   * one. */
  assert_query(sink,
               "SELECT tree, count(*) FROM test_log GROUP BY tree"
               " ORDER BY tree",
               "data|3000\nlink|3000\n");
  assert_query(sink,
               "SELECT count(*) FROM (SELECT id, lag(id) OVER"
               " (PARTITION BY tree ORDER BY rowid) AS before FROM test_log)"
               " WHERE before > id",
               "0\n");
  assert_query(sink, "SELECT count(*), sum(size) FROM data", "3000|1588500\n");
  assert_query(sink, "SELECT count(*), sum(bytes) FROM task_data",
               "3000|1588500\n");
  mida__sink_close(sink);
  free(r);
  free(buf);
}

/* The statements of many file rows, by the start of their text. */
typedef struct row_statements {
  int inserts; /* INSERT OR IGNORE INTO data( or task_data( */
  int upserts; /* INSERT INTO data( or task_data( */
} row_statements;

static int count_row_statement(unsigned type, void *ctx, void *p, void *x) {
  (void)type;
  (void)x;
  row_statements *c = ctx;
  const char *sql = sqlite3_sql(p);
  if (strncmp(sql, "INSERT OR IGNORE INTO data(", 27) == 0 ||
      strncmp(sql, "INSERT OR IGNORE INTO task_data(", 32) == 0)
    c->inserts++;
  else if (strncmp(sql, "INSERT INTO data(", 17) == 0 ||
           strncmp(sql, "INSERT INTO task_data(", 22) == 0)
    c->upserts++;
  return 0;
}

/* Data rows and links that the store does not hold go in by INSERT OR
 * IGNORE statements of many rows, which keep no statement journal (a
 * multi-row upsert always keeps one): `mida recover` of `tar c`'s 10,000
 * records into a new store, 194.2 -> 182.9 M instructions. The first of
 * them that meets a stored row hands the rest of the transaction to the
 * upserts, which merge as before: the same files read by another task
 * (their data rows stored, their links new), then under new paths. */
static void test_new_file_rows_go_in_without_upserts(void **state) {
  fixture *fx = *state;
  enum { FILES = 512 };
  mida__sink *sink = open_store(fx->path, 0);
  mida__rec *r = calloc(FILES, sizeof *r);
  char(*buf)[128] = calloc(FILES, sizeof *buf);
  assert_non_null(r);
  assert_non_null(buf);
  row_statements c = {0, 0};
  sqlite3_trace_v2(mida__sqlite_connection(sink), SQLITE_TRACE_STMT,
                   count_row_statement, &c);
  mida_id_t first = mida_id_new(), second = mida_id_new();
  for (unsigned i = 0; i < FILES; i++)
    file_record(&r[i], buf[i], 7000 + (i * 37u) % FILES, NULL, &first);
  mida__sink_defer(sink, 1);
  put(sink, r, FILES);
  assert_int_equal(mida__sink_sync(sink), MIDA_OK);
  assert_int_equal(c.inserts, 2 * FILES / 64);
  assert_int_equal(c.upserts, 0);
  /* Another task reads them: one statement of data rows meets stored
   * ones and the upserts take the rest; the links are all new. */
  c = (row_statements){0, 0};
  for (unsigned i = 0; i < FILES; i++)
    file_record(&r[i], buf[i], 7000 + i, NULL, &second);
  put(sink, r, FILES);
  assert_int_equal(mida__sink_sync(sink), MIDA_OK);
  assert_int_equal(c.inserts, 1 + FILES / 64);
  assert_int_equal(c.upserts, FILES / 64);
  /* And again under new paths, with more bytes: every row merges. */
  for (unsigned i = 0; i < FILES; i++) {
    snprintf(buf[i] + 64, 64, "file:///moved/f%u.txt", 7000 + i);
    file_record(&r[i], buf[i], 7000 + i, buf[i] + 64, &second);
    set_i64(&r[i], MIDA_F_BYTES, 5000);
  }
  put(sink, r, FILES);
  assert_int_equal(mida__sink_sync(sink), MIDA_OK);
  sqlite3_trace_v2(mida__sqlite_connection(sink), 0, NULL, NULL);
  assert_query(sink,
               "SELECT count(*), sum(uri LIKE 'file:///moved/%') FROM data",
               "512|512\n");
  assert_query(sink,
               "SELECT count(*), sum(bytes) FROM task_data GROUP BY task_id"
               " ORDER BY 2",
               "512|259616\n512|2560000\n");
  mida__sink_close(sink);
  free(r);
  free(buf);
}

/* The records of one file keep their order, whichever way the others are
 * sorted, within a batch, over the batches of a transaction, and in the
 * statements of many rows: a renamed file's later path wins, its
 * metadata merges in order. And the records of a transaction that is
 * never committed are not in the store. */
static void test_file_records_of_one_file_keep_their_order(void **state) {
  fixture *fx = *state;
  enum { FILES = 700 };
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t task = mida_id_new();
  mida__rec *r = calloc(FILES, sizeof *r);
  char(*buf)[128] = calloc(FILES, sizeof *buf);
  assert_non_null(r);
  assert_non_null(buf);
  for (unsigned i = 0; i < FILES; i++)
    file_record(&r[i], buf[i], 5000 + (i * 31u) % 97, NULL, &task);
  /* Inode 5000's records in order: its last path, and a metadata member
   * set twice. */
  const char *meta[] = {"{\"a\": 1, \"b\": 1}", "{\"a\": 2}"};
  int nth = 0;
  for (unsigned i = 0; i < FILES; i++) {
    if ((i * 31u) % 97 != 0)
      continue;
    snprintf(buf[i] + 64, 64, "file:///t/v%d", nth);
    set_str(&r[i], MIDA_F_URI, buf[i] + 64);
    if (nth < 2)
      set_str(&r[i], MIDA_F_METADATA, meta[nth]);
    nth++;
  }
  assert_true(nth > 3);
  char want[128];
  snprintf(want, sizeof want, "file:///t/v%d|2|1\n", nth - 1);
  const char *sql = "SELECT uri, metadata->>'a', metadata->>'b' FROM data"
                    " WHERE id LIKE 'inode:65024:5000:%'";
  /* One batch, committed at once. */
  put(sink, r, FILES);
  assert_query(sink, sql, want);
  assert_query(sink, "SELECT count(*) FROM data", "97\n");
  assert_query(sink, "SELECT count(*) FROM task_data", "97\n");
  /* Deferred batches, split anywhere: the same. */
  mida__sink_close(sink);
  unlink(fx->path);
  sink = open_store(fx->path, 0);
  mida__sink_defer(sink, 1);
  put(sink, r, 250);
  put(sink, r + 250, 1);
  put(sink, r + 251, FILES - 251);
  assert_int_equal(mida__sink_sync(sink), MIDA_OK);
  assert_query(sink, sql, want);
  /* A group never synced leaves nothing, its file records neither. */
  mida_id_t other = mida_id_new();
  for (unsigned i = 0; i < FILES; i++)
    set_id(&r[i], MIDA_F_TASK, &other);
  put(sink, r, FILES);
  mida__sink_close(sink);
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT count(*) FROM task_data", "97\n");
  /* A batch put after the group's, not deferred, commits both. */
  mida__sink_defer(sink, 1);
  put(sink, r, 300);
  mida__sink_defer(sink, 0);
  put(sink, r + 300, FILES - 300);
  mida__sink_close(sink);
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT count(*) FROM task_data", "194\n");
  mida__sink_close(sink);
  free(r);
  free(buf);
}

static void test_skips_unknown_and_bad_json(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t id = mida_id_new();
  mida__rec r[4];
  rec_init(&r[0], 200); /* a type from a newer producer */
  set_str(&r[0], MIDA_F_NAME, "x");
  rec_init(&r[1], MIDA_REC_TASK);
  set_id(&r[1], MIDA_F_ID, &id);
  set_str(&r[1], MIDA_F_ACTIVITY, "a");
  set_str(&r[1], MIDA_F_USED, "[1, 2]"); /* not an object: dropped */
  set_str(&r[1], MIDA_F_CUSTOM, "{\"ok\": 1}");
  rec_init(&r[2], MIDA_REC_METRIC); /* no task: skipped */
  set_str(&r[2], MIDA_F_KEY, "k");
  rec_init(&r[3], MIDA_REC_TASK); /* no id: skipped */
  set_str(&r[3], MIDA_F_ACTIVITY, "orphan");
  put(sink, r, 4);
  assert_query(sink, "SELECT activity, used, custom FROM task",
               "a|~|{\"ok\": 1}\n");
  assert_int_equal(mida__sqlite_skipped(sink), 3);
  assert_int_equal(mida__sqlite_dropped_fields(sink), 1);
  mida__sink_close(sink);
}

/* A writer's open stamps the store with its schema text (PRAGMA
 * user_version); the next open finds it current and runs no schema
 * statement: an index dropped behind mida's back stays dropped. */
static void test_schema_stamped_once(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT user_version != 0 FROM pragma_user_version",
               "1\n");
  mida__sink_close(sink);
  exec_on(fx->path, "DROP INDEX task_by_seq");
  sink = open_store(fx->path, 0);
  assert_query(sink,
               "SELECT count(*) FROM sqlite_schema WHERE name = 'task_by_seq'",
               "0\n");
  mida__sink_close(sink);
}

/* A store stamped by another schema text (another mida) or by none gets
 * this mida's schema statements again, and its stamp. */
static void test_schema_other_stamp_runs_again(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  char *stamp = query_text(sink, "PRAGMA user_version", 0);
  mida__sink_close(sink);
  exec_on(fx->path, "DROP INDEX task_by_seq;"
                    " PRAGMA user_version = 12345");
  sink = open_store(fx->path, 0);
  assert_query(sink,
               "SELECT count(*) FROM sqlite_schema WHERE name = 'task_by_seq'",
               "1\n");
  assert_query(sink, "PRAGMA user_version", stamp);
  free(stamp);
  mida__sink_close(sink);
}

/* ---- tests: query ------------------------------------------------------ */

static void test_query_refuses_writes(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  char *stamp = query_text(sink, "PRAGMA user_version", 0);
  static const char *const writes[] = {
      "INSERT INTO task(id) VALUES('x')",
      "UPDATE task SET status = 'ERROR'",
      "DELETE FROM task",
      "DROP TABLE task",
      "CREATE TABLE t(x)",
      "CREATE TEMP TABLE t(x)",
      "CREATE INDEX i ON task(host)",
      "ALTER TABLE task ADD COLUMN z",
      "ATTACH DATABASE ':memory:' AS other",
      "DETACH DATABASE other",
      "PRAGMA query_only = 0",
      "PRAGMA user_version = 5",
      "BEGIN",
      "SAVEPOINT s",
      "VACUUM",
      "REINDEX",
      "ANALYZE",
      "WITH x AS (SELECT 1) INSERT INTO task(id) SELECT 'a' FROM x",
      "REPLACE INTO counter VALUES('h', 1, 'n', 1)",
  };
  for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
    int rc = mida__sink_query(sink, writes[i], NULL, 0, NULL, NULL);
    if (rc != MIDA_EREADONLY)
      fprintf(stderr, "%s: %d %s\n", writes[i], rc, mida__sink_errmsg(sink));
    assert_int_equal(rc, MIDA_EREADONLY);
    assert_non_null(
        strstr(mida__sink_errmsg(sink), "query guard refuses this statement"));
  }
  assert_query(sink, "SELECT count(*) FROM task", "0\n");
  assert_query(sink, "PRAGMA user_version", stamp); /* not 5 */
  free(stamp);
  /* Two statements are refused, whatever they are. */
  assert_int_equal(
      mida__sink_query(sink, "SELECT 1; SELECT 2", NULL, 0, NULL, NULL),
      MIDA_EINVAL);
  assert_int_equal(
      mida__sink_query(sink, "SELECT 1; DROP TABLE task", NULL, 0, NULL, NULL),
      MIDA_EINVAL);
  assert_true(strlen(mida__sink_errmsg(sink)) > 0);
  assert_query(sink, "SELECT 1; ", "1\n");
  assert_query(sink, "SELECT 1; -- a comment\n", "1\n");
  assert_query(sink, "SELECT count(*) FROM task", "0\n");
  mida__sink_close(sink);
}

/* The authorizer refuses the query guard's functions by itself, even for
 * a statement that reaches the backend without the text scan of
 * mida__sink_query (guard.h). */
static void test_query_guard_refuses_library_functions(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  static const char *const calls[] = {
      "SELECT fts3_tokenizer('simple')",
      "SELECT fts3_tokenizer('simple', x'0000000000000000')",
      "SELECT load_extension('/nonexistent.so')",
  };
  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
    int rc = sink->methods->query(sink, calls[i], NULL, 0, NULL, NULL);
    assert_int_equal(rc, MIDA_EREADONLY);
    assert_non_null(strstr(mida__sink_errmsg(sink), "query guard refuses"));
    assert_int_equal(mida__sink_query(sink, calls[i], NULL, 0, NULL, NULL),
                     MIDA_EREADONLY);
  }
  assert_query(sink, "SELECT count(*) FROM task", "0\n");
  mida__sink_close(sink);
}

/* Cancels every query in flight at the first row (as a SIGINT handler
 * does). */
static int cancel_at_first_row(void *ctx, int ncols, const char *const *names,
                               const char *const *values) {
  (void)ncols;
  (void)names;
  (void)values;
  *(int *)ctx = mida__sink_cancel_queries();
  return 0;
}

/* A query past its time limit ends with MIDA_ETIMEDOUT; a cancelled one
 * with MIDA_ECLOSED. */
static void test_query_guard_time_limit_and_cancel(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  static const char forever[] = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
                                " SELECT i + 1 FROM c) SELECT count(*) FROM c";
  mida__query_limits lim = {200, 0, NULL, NULL};
  mida__sink_set_limits(sink, &lim);
  int rc = mida__sink_query(sink, forever, NULL, 0, NULL, NULL);
  assert_int_equal(rc, MIDA_ETIMEDOUT);
  assert_non_null(strstr(mida__sink_errmsg(sink), "time limit of 200 ms"));
  lim.timeout_ms = 0;
  mida__sink_set_limits(sink, &lim);
  int cancelled = 0;
  rc = mida__sink_query(sink,
                        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT"
                        " i + 1 FROM c) SELECT i FROM c",
                        NULL, 0, cancel_at_first_row, &cancelled);
  assert_int_equal(cancelled, 1);
  assert_int_equal(rc, MIDA_ECLOSED);
  assert_non_null(strstr(mida__sink_errmsg(sink), "cancelled"));
  assert_query(sink, "SELECT count(*) FROM task", "0\n");
  mida__sink_close(sink);
}

/* A batch runs with its statement journals in memory (sqlite.c,
 * mida__sqlite_set_temp_store); a query on the same writer connection
 * afterwards still keeps its temporary data in files, within its bound: a sort
 * larger than the page cache fails at 1 MiB instead of growing in memory. */
static void test_query_temp_bound_after_batch(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t id = {{7}};
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  put(sink, &r, 1);
  mida__query_limits lim = {0, 1 << 20, NULL, NULL};
  mida__sink_set_limits(sink, &lim);
  int rc = mida__sink_query(sink,
                            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL"
                            " SELECT i + 1 FROM c LIMIT 200000)"
                            " SELECT count(*) FROM (SELECT randomblob(100) AS b"
                            " FROM c ORDER BY b)",
                            NULL, 0, NULL, NULL);
  assert_int_equal(rc, MIDA_ESTORE);
  assert_non_null(strstr(mida__sink_errmsg(sink), "temporary space"));
  assert_query(sink, "SELECT count(*) FROM task", "1\n");
  mida__sink_close(sink);
}

static void test_query_rows_and_errors(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  collected c = {.rows = 0};
  mida__buf_init(&c.text, 1 << 16);
  mida__buf_init(&c.names, 1 << 16);
  const char *params[2] = {"7", NULL};
  int rc = mida__sink_query(sink,
                            "SELECT ?1 AS a, ?2 AS b, 3 AS c UNION ALL"
                            " SELECT 'x', 'y', NULL",
                            params, 2, collect_row, &c);
  assert_int_equal(rc, MIDA_OK);
  assert_int_equal(c.rows, 2);
  assert_string_equal(mida__buf_str(&c.names), "a|b|c");
  assert_string_equal(mida__buf_str(&c.text), "7|~|3\nx|y|~\n");
  mida__buf_free(&c.text);
  mida__buf_free(&c.names);

  /* The callback stops the query. */
  collected d = {.rows = 0, .stop_after = 2};
  mida__buf_init(&d.text, 1 << 16);
  mida__buf_init(&d.names, 1 << 16);
  rc = mida__sink_query(sink,
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL"
                        " SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n",
                        NULL, 0, collect_row, &d);
  assert_int_equal(rc, MIDA_OK);
  assert_int_equal(d.rows, 2);
  mida__buf_free(&d.text);
  mida__buf_free(&d.names);

  rc = mida__sink_query(sink, "SELECT * FROM nosuch", NULL, 0, collect_row,
                        NULL);
  assert_int_equal(rc, MIDA_ESTORE);
  assert_non_null(strstr(mida__sink_errmsg(sink), "no such table: nosuch"));
  rc = mida__sink_query(sink, "SELECT ?1", params, 2, collect_row, NULL);
  assert_int_equal(rc, MIDA_EINVAL);
  rc = mida__sink_query(sink, "   ", NULL, 0, collect_row, NULL);
  assert_int_equal(rc, MIDA_EINVAL);
  /* Views and JSON functions are readable. */
  assert_query(sink, "SELECT count(*) FROM task_v", "0\n");
  assert_query(sink, "SELECT key FROM json_each('{\"a\":1}')", "a\n");
  /* PostgreSQL's json_typeof and jsonb_typeof, which guard json_each()
   * against text that is not a JSON object (`mida diff`); NULL (~) for
   * text that is not JSON, where json_each() fails. */
  assert_query(sink,
               "SELECT json_typeof(' {\"a\":1}'), jsonb_typeof('[1]'),"
               " json_typeof('\"s\"'), json_typeof('-1.5'),"
               " json_typeof('false'), json_typeof('null'),"
               " json_typeof('{\"a\":'), json_typeof(NULL)",
               "object|array|string|number|boolean|null|~|~\n");
  mida__sink_close(sink);
}

/* The calls a described query made, in order: "columns a|b", "row". */
typedef struct described_calls {
  mida__buf log;    /* one line per call */
  int stop_columns; /* the columns function asks to stop */
} described_calls;

static int log_columns(void *ctx, int ncols, const char *const *names) {
  described_calls *d = ctx;
  mida__buf_adds(&d->log, "columns ");
  for (int i = 0; i < ncols; i++)
    mida__buf_printf(&d->log, "%s%s", i > 0 ? "|" : "", names[i]);
  mida__buf_adds(&d->log, "\n");
  return d->stop_columns;
}

static int log_row(void *ctx, int ncols, const char *const *names,
                   const char *const *values) {
  described_calls *d = ctx;
  (void)names;
  assert_non_null(values); /* the announcement never reaches a row */
  mida__buf_printf(&d->log, "row %s\n", ncols > 0 ? values[0] : "");
  return 0;
}

/* A query's columns come once, before its rows -- and alone when it has
 * none, so that a reader can still make a table of them (the CLI's CSV
 * header, the HTTP console's "columns", Python's query_df). */
static void test_query_described_announces_columns(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  static const struct {
    const char *sql;
    int stop;
    const char *calls;
  } cases[] = {
      {"SELECT 1 AS a, 2 AS b UNION ALL SELECT 3, 4", 0,
       "columns a|b\nrow 1\nrow 3\n"},
      {"SELECT id, activity AS what FROM task WHERE 0 = 1", 0,
       "columns id|what\n"},
      /* Stopped by the columns function: no row, and no error. */
      {"SELECT 1 AS a UNION ALL SELECT 2", 1, "columns a\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    described_calls d = {.stop_columns = cases[i].stop};
    mida__buf_init(&d.log, 1 << 12);
    assert_int_equal(mida__sink_query_described(sink, cases[i].sql, NULL, 0,
                                                log_columns, log_row, &d),
                     MIDA_OK);
    assert_string_equal(mida__buf_str(&d.log), cases[i].calls);
    mida__buf_free(&d.log);
  }
  /* Without a columns function (mida__sink_query) the announcement is
   * dropped: an empty result calls nothing. */
  described_calls none = {.stop_columns = 0};
  mida__buf_init(&none.log, 1 << 12);
  assert_int_equal(mida__sink_query(sink, "SELECT 1 AS a WHERE 0 = 1", NULL, 0,
                                    log_row, &none),
                   MIDA_OK);
  assert_string_equal(mida__buf_str(&none.log), "");
  mida__buf_free(&none.log);
  mida__sink_close(sink);
}

static void test_sql_escaping(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  static const char nasty[] = "'); DROP TABLE task; --";
  static const char quotes[] = "it's \"quoted\" \\ back`tick`";
  static const char utf8[] =
      "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac";
  static const char json[] =
      "{\"q\": \"it's \\\"x\\\"\", \"sql\": \"'); DROP TABLE task; --\"}";
  mida_id_t id = mida_id_new();
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  set_str(&r, MIDA_F_ACTIVITY, nasty);
  set_str(&r, MIDA_F_WORKER, quotes);
  set_str(&r, MIDA_F_ERROR, utf8);
  set_str(&r, MIDA_F_USED, json);
  put(sink, &r, 1);
  put(sink, &r, 1);
  char *got = query_text(sink, "SELECT activity FROM task", 0);
  char expect[256];
  snprintf(expect, sizeof expect, "%s\n", nasty);
  assert_string_equal(got, expect);
  free(got);
  got = query_text(sink, "SELECT worker FROM task", 0);
  snprintf(expect, sizeof expect, "%s\n", quotes);
  assert_string_equal(got, expect);
  free(got);
  got = query_text(sink, "SELECT error FROM task", 0);
  snprintf(expect, sizeof expect, "%s\n", utf8);
  assert_string_equal(got, expect);
  free(got);
  got = query_text(sink, "SELECT used FROM task", 0);
  snprintf(expect, sizeof expect, "%s\n", json);
  assert_string_equal(got, expect);
  free(got);
  /* Parameters go through as data too. */
  got = query_text(sink, "SELECT count(*) FROM task WHERE activity = ?1", 1,
                   nasty);
  assert_string_equal(got, "1\n");
  free(got);
  got = query_text(sink, "SELECT ?1", 1, nasty);
  snprintf(expect, sizeof expect, "%s\n", nasty);
  assert_string_equal(got, expect);
  free(got);
  assert_query(sink, "SELECT count(*) FROM task", "1\n");
  mida__sink_close(sink);
}

/* ---- tests: open errors and read-only ---------------------------------- */

static void test_open_errors(void **state) {
  fixture *fx = *state;
  char path[256], err[512];
  mida__sink *sink = NULL;

  snprintf(path, sizeof path, "%s/no/such/dir/x.db", fx->dir);
  err[0] = '\0';
  int rc = mida__sink_open(path, 0, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ESTORE);
  assert_null(sink);
  assert_non_null(strstr(err, path));

  snprintf(path, sizeof path, "%s/garbage.db", fx->dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  for (int i = 0; i < 200; i++)
    fputs("this is not an sqlite database, just text\n", f);
  fclose(f);
  err[0] = '\0';
  rc = mida__sink_open(path, 0, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ESTORE);
  assert_null(sink);
  assert_non_null(strstr(err, "file is not a database"));
  rc = mida__sink_open(path, MIDA_SINK_READONLY, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ESTORE);

  snprintf(path, sizeof path, "%s/missing.db", fx->dir);
  err[0] = '\0';
  rc = mida__sink_open(path, MIDA_SINK_NOCREATE, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ENOTFOUND);
  assert_null(sink);
  assert_true(strlen(err) > 0);
  rc = mida__sink_open(path, MIDA_SINK_READONLY, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ENOTFOUND);
  struct stat sb;
  assert_int_not_equal(stat(path, &sb), 0); /* nothing was created */

  err[0] = '\0';
  rc = mida__sink_open(fx->dir, 0, &sink, err, sizeof err);
  assert_int_equal(rc, MIDA_ESTORE);
  assert_non_null(strstr(err, "directory"));

  if (geteuid() != 0) {
    snprintf(path, sizeof path, "%s/locked", fx->dir);
    assert_int_equal(mkdir(path, 0500), 0);
    snprintf(path, sizeof path, "%s/locked/x.db", fx->dir);
    err[0] = '\0';
    rc = mida__sink_open(path, 0, &sink, err, sizeof err);
    assert_int_equal(rc, MIDA_ESTORE);
    assert_true(strlen(err) > 0);
  }
}

static void test_readonly(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t id = mida_id_new();
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, &id);
  put(sink, &r, 1);
  mida__sink *ro = open_store(fx->path, MIDA_SINK_READONLY);
  assert_int_equal(mida__sink_put_batch(ro, &r, 1, &origin), MIDA_EREADONLY);
  assert_true(strlen(mida__sink_errmsg(ro)) > 0);
  assert_query(ro, "SELECT count(*) FROM task", "1\n");
  /* The reader sees the writer's later batches. */
  mida_id_t id2 = mida_id_new();
  set_id(&r, MIDA_F_ID, &id2);
  put(sink, &r, 1);
  assert_query(ro, "SELECT count(*) FROM task", "2\n");
  mida__sink_close(ro);
  mida__sink_close(sink);
}

/* ---- tests: concurrent writers ----------------------------------------- */

#define WRITER_BATCHES 40
#define WRITER_TASKS 100

typedef struct writer {
  const char *path; /* the store */
  int rc;           /* the first failure, or MIDA_OK */
} writer;

/* Writes WRITER_BATCHES batches of WRITER_TASKS new tasks (begin and end)
 * through its own sink. */
static void *writer_main(void *arg) {
  writer *w = arg;
  char err[512];
  mida__sink *sink = NULL;
  w->rc = mida__sink_open(w->path, 0, &sink, err, sizeof err);
  if (w->rc != MIDA_OK)
    return NULL;
  mida__rec *recs = calloc(2 * WRITER_TASKS, sizeof *recs);
  if (recs == NULL) {
    w->rc = MIDA_ENOMEM;
    mida__sink_close(sink);
    return NULL;
  }
  for (int b = 0; b < WRITER_BATCHES && w->rc == MIDA_OK; b++) {
    for (int i = 0; i < WRITER_TASKS; i++) {
      mida_id_t id = mida_id_new();
      mida__rec *begin = &recs[2 * i], *end = &recs[2 * i + 1];
      rec_init(begin, MIDA_REC_TASK);
      set_id(begin, MIDA_F_ID, &id);
      set_str(begin, MIDA_F_ACTIVITY, "w");
      set_i64(begin, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
      rec_init(end, MIDA_REC_TASK);
      set_id(end, MIDA_F_ID, &id);
      set_i64(end, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
    }
    /* Half the batches split begin and end, so that updates race too. */
    if (b % 2 == 0) {
      w->rc = mida__sink_put_batch(sink, recs, 2 * WRITER_TASKS, &origin);
    } else {
      mida__rec *begins = calloc(WRITER_TASKS, sizeof *begins);
      mida__rec *ends = calloc(WRITER_TASKS, sizeof *ends);
      if (begins == NULL || ends == NULL) {
        w->rc = MIDA_ENOMEM;
      } else {
        for (int i = 0; i < WRITER_TASKS; i++) {
          begins[i] = recs[2 * i];
          ends[i] = recs[2 * i + 1];
        }
        w->rc = mida__sink_put_batch(sink, begins, WRITER_TASKS, &origin);
        if (w->rc == MIDA_OK)
          w->rc = mida__sink_put_batch(sink, ends, WRITER_TASKS, &origin);
      }
      free(begins);
      free(ends);
    }
  }
  free(recs);
  mida__sink_close(sink);
  return NULL;
}

static void test_concurrent_threads(void **state) {
  fixture *fx = *state;
  writer w[2] = {{fx->path, 0}, {fx->path, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_join(th[i], NULL), 0);
  assert_int_equal(w[0].rc, MIDA_OK);
  assert_int_equal(w[1].rc, MIDA_OK);
  mida__sink *sink = open_store(fx->path, MIDA_SINK_READONLY);
  char expect[64];
  snprintf(expect, sizeof expect, "%d|%d\n", 2 * WRITER_BATCHES * WRITER_TASKS,
           2 * WRITER_BATCHES * WRITER_TASKS);
  assert_query(sink, "SELECT count(*), sum(status = 'FINISHED') FROM task",
               expect);
  mida__sink_close(sink);
}

static void test_concurrent_processes(void **state) {
  fixture *fx = *state;
  pid_t pids[2];
  for (int i = 0; i < 2; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      writer w = {fx->path, 0};
      writer_main(&w);
      _exit(w.rc == MIDA_OK ? 0 : 1);
    }
  }
  for (int i = 0; i < 2; i++) {
    int status = 0;
    assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  mida__sink *sink = open_store(fx->path, MIDA_SINK_READONLY);
  char expect[64];
  snprintf(expect, sizeof expect, "%d|%d\n", 2 * WRITER_BATCHES * WRITER_TASKS,
           2 * WRITER_BATCHES * WRITER_TASKS);
  assert_query(sink, "SELECT count(*), sum(status = 'FINISHED') FROM task",
               expect);
  mida__sink_close(sink);
}

/* ---- the side table of a declared numeric key (key_side.h) ------------ */

/* What the side table holds, and what a full scan of task says it must. */
#define SIDE_HELD                                                              \
  "SELECT task_id, value FROM task_key_num ORDER BY task_id, value"
#define SIDE_WANTED                                                            \
  "SELECT id, mida_num(used, 'lr') FROM task WHERE mida_num(used, 'lr')"       \
  " IS NOT NULL ORDER BY id"

static void put_lr(mida__sink *sink, const mida_id_t *id, const char *used) {
  mida__rec r;
  rec_init(&r, MIDA_REC_TASK);
  set_id(&r, MIDA_F_ID, id);
  set_i64(&r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  if (used != NULL)
    set_str(&r, MIDA_F_USED, used);
  put(sink, &r, 1);
}

static void assert_side_exact(mida__sink *sink, int rows) {
  char *held = query_text(sink, SIDE_HELD, 0);
  char *wanted = query_text(sink, SIDE_WANTED, 0);
  assert_string_equal(held, wanted);
  int n = 0;
  for (const char *c = held; *c; c++)
    n += *c == '\n';
  assert_int_equal(n, rows);
  free(held);
  free(wanted);
}

static void apply_lr_index(mida__sink *sink, int drop) {
  mida__key k;
  char why[200];
  assert_int_equal(mida__key_parse_all("used.lr", &k, why, sizeof why),
                   MIDA_OK);
  assert_int_equal(mida__key_index_apply(sink, &k, MIDA_KEY_NUM, drop),
                   MIDA_OK);
}

/* `mida index used.lr` fills the side table from the stored tasks (the
 * backfill); its triggers keep it exact through inserts, changes of the
 * key (to another number, to text, back), and deletes; dropping the index
 * drops the triggers and the key's rows. */
static void test_key_side_table_kept_exact(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t ids[6];
  for (int i = 0; i < 6; i++)
    ids[i] = mida_id_new();
  put_lr(sink, &ids[0], "{\"lr\": 0.5}");
  put_lr(sink, &ids[1], "{\"lr\": \"high\"}"); /* text: not a number */
  put_lr(sink, &ids[2], NULL);                 /* no document */
  put_lr(sink, &ids[3], "{\"lr\": -2, \"x\": 1}");
  assert_query(sink, "SELECT count(*) FROM task_key_num", "0\n");
  apply_lr_index(sink, 0);
  assert_side_exact(sink, 2);
  put_lr(sink, &ids[4], "{\"lr\": 0.25}");    /* inserted */
  put_lr(sink, &ids[2], "{\"lr\": 7}");       /* the key appears */
  put_lr(sink, &ids[0], "{\"lr\": 0.75}");    /* the number changes */
  put_lr(sink, &ids[3], "{\"lr\": \"low\"}"); /* becomes text */
  put_lr(sink, &ids[1], "{\"lr\": 1e3}");     /* text becomes a number */
  put_lr(sink, &ids[5], "{\"other\": 1}");    /* no such key */
  assert_side_exact(sink, 4);
  assert_int_equal(mida__sink_exec_schema(sink, "DELETE FROM task WHERE id IN"
                                                " (SELECT min(id) FROM task"
                                                " WHERE mida_num(used, 'lr')"
                                                " IS NOT NULL)"),
                   MIDA_OK);
  assert_side_exact(sink, 3);
  /* Declared again: nothing doubled. */
  apply_lr_index(sink, 0);
  assert_side_exact(sink, 3);
  apply_lr_index(sink, 1);
  assert_query(sink, "SELECT count(*) FROM task_key_num", "0\n");
  assert_query(sink,
               "SELECT count(*) FROM sqlite_schema WHERE type ="
               " 'trigger'",
               "0\n");
  put_lr(sink, &ids[4], "{\"lr\": 0.3}");
  assert_query(sink, "SELECT count(*) FROM task_key_num", "0\n");
  mida__sink_close(sink);
}

/* A worker's batch -- a run and the task's arguments -- keeps a declared
 * key's side table exact when its run summary makes the task's row (the
 * scheduler's record has not come) and when it updates it. */
static void test_run_summary_keeps_key_side_exact(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  apply_lr_index(sink, 0);
  run_recs t;
  make_run_recs(&t);
  mida__rec worker[2];
  worker[0] = t.r[3]; /* run 1, begun and ended */
  rec_init(&worker[1], MIDA_REC_TASK);
  set_id(&worker[1], MIDA_F_ID, &t.task);
  set_str(&worker[1], MIDA_F_USED, "{\"lr\": 0.5}");
  put(sink, worker, 2);
  assert_query(sink, "SELECT status, attempts FROM task", "FINISHED|1\n");
  assert_side_exact(sink, 1);
  worker[0] = t.r[5]; /* run 2, with another rate */
  set_str(&worker[1], MIDA_F_USED, "{\"lr\": 0.25}");
  put(sink, worker, 2);
  put(sink, &t.r[0], 1); /* the scheduler's record, last */
  assert_query(sink, "SELECT status, attempts, used FROM task",
               "FINISHED|2|{\"lr\":0.25}\n");
  assert_side_exact(sink, 1);
  mida__sink_close(sink);
}

/* A version-7 store with a declared key (no side table, no triggers) is
 * brought to version 8 by a writer's open: the table, the key's triggers
 * and its rows; opening it again changes nothing. */
static void test_schema_7_key_side_migrated(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida_id_t ids[3];
  for (int i = 0; i < 3; i++)
    ids[i] = mida_id_new();
  put_lr(sink, &ids[0], "{\"lr\": 0.5}");
  put_lr(sink, &ids[1], "{\"lr\": 2}");
  apply_lr_index(sink, 0);
  mida__sink_close(sink);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
  /* What version 7 had: mida_index's row and the expression index. */
  char *err = NULL;
  int rc = sqlite3_exec(db,
                        "DROP TABLE task_key_num;"
                        " UPDATE mida_meta SET value = '7'"
                        " WHERE key = 'schema_version';",
                        NULL, NULL, &err);
  if (rc != SQLITE_OK)
    fail_msg("%s", err);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT name FROM sqlite_schema WHERE"
                                      " type = 'trigger'",
                                      -1, &st, NULL),
                   SQLITE_OK);
  char drops[1024] = "";
  while (sqlite3_step(st) == SQLITE_ROW) {
    size_t len = strlen(drops);
    snprintf(drops + len, sizeof drops - len, "DROP TRIGGER %s;",
             (const char *)sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  assert_true(strlen(drops) > 0);
  assert_int_equal(sqlite3_exec(db, drops, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  for (int again = 0; again < 2; again++) {
    sink = open_store(fx->path, 0);
    assert_query(sink,
                 "SELECT value FROM mida_meta WHERE key = 'schema_version'",
                 VERSION_ROW);
    assert_query(sink,
                 "SELECT count(*) FROM sqlite_schema WHERE type ="
                 " 'trigger'",
                 "3\n");
    assert_side_exact(sink, 2 + again);
    put_lr(sink, &ids[2], "{\"lr\": 9}"); /* kept by the new triggers */
    assert_side_exact(sink, 3);
    mida__sink_close(sink);
  }
}

/* Version 13: a store of version 12, whose data table had a rowid (and
 * a row with a NULL id, which a rowid table let in), is rebuilt without
 * one when a writer opens it; its rows are kept, and it takes new ones. */
static void test_schema_12_data_without_rowid(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  mida__sink_close(sink);
  exec_on(fx->path, "DROP TABLE data;"
                    " CREATE TABLE data(id TEXT PRIMARY KEY, kind TEXT,"
                    " uri TEXT, size INTEGER, digest TEXT, metadata TEXT);"
                    " INSERT INTO data VALUES('sha256:aa', 'file',"
                    " 'file:///a', 10, 'sha256:aa', '{\"x\": 1}'),"
                    " ('file:///b', 'file', 'file:///b', 20, NULL, NULL),"
                    " (NULL, 'file', 'file:///lost', 0, NULL, NULL);"
                    " UPDATE mida_meta SET value = '12'"
                    " WHERE key = 'schema_version'; PRAGMA user_version = 0;");
  sink = open_store(fx->path, 0);
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  assert_query(sink,
               "SELECT count(*) FROM sqlite_schema WHERE name = 'data'"
               " AND sql LIKE '%WITHOUT ROWID%'",
               "1\n");
  assert_query(sink, "SELECT id, size, metadata FROM data ORDER BY id",
               "file:///b|20|~\nsha256:aa|10|{\"x\": 1}\n");
  mida_id_t task = mida_id_new();
  mida__rec r;
  rec_init(&r, MIDA_REC_DATA);
  set_str(&r, MIDA_F_DATA_ID, "file:///b");
  set_str(&r, MIDA_F_URI, "file:///b");
  set_i64(&r, MIDA_F_SIZE, 21);
  set_id(&r, MIDA_F_TASK, &task);
  set_i64(&r, MIDA_F_ROLE, MIDA_GENERATED);
  put(sink, &r, 1);
  assert_query(sink, "SELECT size FROM data WHERE id = 'file:///b'", "21\n");
  assert_query(sink, "SELECT count(*) FROM task_data", "1\n");
  mida__sink_close(sink);
}

/* A version-9 store (a side table without its index by id) is brought
 * to version 10 by a writer's open: the index, and a wide range newest
 * first read by id; before, a reader of it reads no such index (the range
 * is read by value or walked). 3,000 tasks, used.lr = i / 3000. */
static void test_schema_9_key_side_index_migrated(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  for (int i = 0; i < 3000; i++) {
    mida_id_t id = mida_id_new();
    char used[48];
    snprintf(used, sizeof used, "{\"lr\": %.6f}", (double)i / 3000);
    put_lr(sink, &id, used);
  }
  apply_lr_index(sink, 0);
  mida__sink_close(sink);
  exec_on(fx->path, "DROP INDEX task_key_num_by_task;"
                    " UPDATE mida_meta SET value = '9'"
                    " WHERE key = 'schema_version';");
  mida__predicate p[2];
  char why[200];
  assert_int_equal(mida__predicate_parse("used.lr>=0", &p[0], why, sizeof why),
                   MIDA_OK);
  assert_int_equal(mida__predicate_parse("used.lr<0.9", &p[1], why, sizeof why),
                   MIDA_OK);
  /* 2,700 matches: by id with the index, a count without it. */
  static const mida__key_side_limits small = {1000, 100, 1000};
  sink = open_store(fx->path, MIDA_SINK_READONLY);
  assert_int_equal(mida__key_side_fits_within(sink, p, 2, 1, NULL, 101, &small),
                   0);
  assert_int_equal(p[0].many, 1);
  mida__sink_close(sink);
  for (int again = 0; again < 2; again++) {
    sink = open_store(fx->path, 0);
    assert_query(sink,
                 "SELECT value FROM mida_meta WHERE key = 'schema_version'",
                 VERSION_ROW);
    assert_query(sink,
                 "SELECT count(*) FROM sqlite_schema WHERE name ="
                 " 'task_key_num_by_task'",
                 "1\n");
    assert_int_equal(
        mida__key_side_fits_within(sink, p, 2, 1, NULL, 101, &small),
        MIDA_KEY_SIDE_BY_ID);
    mida__sink_close(sink);
  }
}

/* The page of a range newest first (after: from that id on) as the side
 * table gives it, read by way; *plan gets its query plan (free() it). */
static char *side_page(mida__sink *sink, const mida__predicate *p, int way,
                       const char *after, char **plan) {
  mida__buf sql;
  mida__buf_init(&sql, 4096);
  const char *params[4];
  int np = 0;
  assert_int_equal(mida__buf_adds(&sql, "SELECT t.id FROM task t WHERE "),
                   MIDA_OK);
  assert_int_equal(mida__key_side_where(&sql, p, 2, "t", 1, after != NULL, 101,
                                        way, params, &np),
                   MIDA_OK);
  if (after != NULL)
    params[np++] = after;
  assert_int_equal(mida__buf_adds(&sql, " ORDER BY t.id DESC LIMIT 101"),
                   MIDA_OK);
  char *rows = query_params(sink, mida__buf_str(&sql), params, np);
  mida__buf explain;
  mida__buf_init(&explain, 8192);
  mida__buf_printf(&explain, "EXPLAIN QUERY PLAN %s", mida__buf_str(&sql));
  *plan = query_params(sink, mida__buf_str(&explain), params, np);
  mida__buf_free(&explain);
  mida__buf_free(&sql);
  return rows;
}

/* The counts that choose how a range on a declared key is read: few
 * matches (the side table by value, or the index: unlikely()), many (the
 * side table by id; the walk of the tasks, likely(), for a probe alone,
 * which SQLite needs, as it takes any range on an indexed expression for
 * a narrow one), or a page among the newest tasks (the side table by id,
 * without a count). Either way the side table's pages are a full scan's.
 * 60,000 tasks, used.lr = i / 60000, the newest largest. */
static void test_key_range_counted_few_or_many(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  enum { TASKS = 60000, BATCH_TASKS = 2000 };
  static mida__rec recs[BATCH_TASKS];
  static char used[BATCH_TASKS][48];
  for (int done = 0; done < TASKS; done += BATCH_TASKS) {
    for (int i = 0; i < BATCH_TASKS; i++) {
      mida_id_t id = mida_id_new();
      snprintf(used[i], sizeof used[i], "{\"lr\": %.6f}",
               (double)(done + i) / TASKS);
      rec_init(&recs[i], MIDA_REC_TASK);
      set_id(&recs[i], MIDA_F_ID, &id);
      set_i64(&recs[i], MIDA_F_STATUS, MIDA_STATUS_FINISHED);
      set_str(&recs[i], MIDA_F_USED, used[i]);
    }
    put(sink, recs, BATCH_TASKS);
  }
  apply_lr_index(sink, 0);
  /* [lo, hi): expected few (probe), many (probe), side (fits: the way). */
  enum { BY_VALUE = MIDA_KEY_SIDE_BY_VALUE, BY_ID = MIDA_KEY_SIDE_BY_ID };
  static const struct {
    const char *lo, *hi, *full;
    int few, many, side;
  } cases[] = {
      {"used.lr>=0.5", "used.lr<0.51", "x >= 0.5 AND x < 0.51", 1, 0,
       BY_VALUE}, /* 600 */
      {"used.lr>=0.1", "used.lr<0.5", "x >= 0.1 AND x < 0.5", 0, 1,
       BY_VALUE}, /* 24,000 */
      {"used.lr>=0", "used.lr<0.95", "x >= 0 AND x < 0.95", 0, 1,
       BY_ID}, /* 57,000: counted, then by id */
      /* 6,000, all among the newest: the walk by id finds a page at once. */
      {"used.lr>=0.9", "used.lr<1", "x >= 0.9 AND x < 1", 1, 0, BY_ID},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    mida__predicate p[2];
    char why[200];
    assert_int_equal(mida__predicate_parse(cases[c].lo, &p[0], why, sizeof why),
                     MIDA_OK);
    assert_int_equal(mida__predicate_parse(cases[c].hi, &p[1], why, sizeof why),
                     MIDA_OK);
    mida__predicate_probe(sink, p, 2);
    assert_int_equal(p[0].few, cases[c].few);
    assert_int_equal(p[1].many, cases[c].many);
    mida__buf sql;
    mida__buf_init(&sql, 4096);
    const char *params[2];
    int np = 0;
    assert_int_equal(mida__predicate_sql(&p[0], "t", &sql, params, &np),
                     MIDA_OK);
    assert_non_null(
        strstr(mida__buf_str(&sql), cases[c].few ? "unlikely(" : "likely("));
    mida__buf_free(&sql);
    assert_int_equal(mida__key_side_fits(sink, p, 2, 1, NULL, 101),
                     cases[c].side);
    /* The first two pages, as a full scan gives them; each read from the
     * side table's index of its way alone. */
    char full_sql[512];
    snprintf(full_sql, sizeof full_sql,
             "SELECT id FROM (SELECT id, mida_num(used, 'lr') AS x FROM task)"
             " WHERE %s ORDER BY id DESC LIMIT 202",
             cases[c].full);
    char *full = query_text(sink, full_sql, 0);
    char *plan = NULL;
    char *first = side_page(sink, p, cases[c].side, NULL, &plan);
    const char *index = cases[c].side == BY_ID
                            ? "USING COVERING INDEX task_key_num_by_task"
                            : "USING PRIMARY KEY (name=? AND value>? AND"
                              " value<?)";
    if (strstr(plan, index) == NULL)
      fail_msg("%s %s: not %s: %s", cases[c].lo, cases[c].hi, index, plan);
    free(plan);
    assert_int_equal(strncmp(first, full, strlen(first)), 0);
    char last[64];
    size_t len = strlen(first);
    assert_true(len > 37 && first[len - 1] == '\n');
    snprintf(last, sizeof last, "%.36s", first + len - 37);
    char *second = side_page(sink, p, cases[c].side, last, &plan);
    free(plan);
    char both[1 << 15];
    snprintf(both, sizeof both, "%s%s", first, second);
    assert_string_equal(both, full);
    free(first);
    free(second);
    free(full);
  }
  mida__sink_close(sink);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unknown_scheme),
      cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reader_sees_its_store_moved, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_change_numbers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrates_version_1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_json_path_functions, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema_1_migrated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_stamped_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema_other_stamp_runs_again, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_a_batch_without_metrics_compiles_no_metric_statement, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_task_begin_end, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deferred_batches_commit_at_sync,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_file_records_are_written_in_key_order, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_file_records_of_one_file_keep_their_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_new_file_rows_go_in_without_upserts,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_lost_record_of_a_finished_process_writes_nothing, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_lost_updates_use_the_unfinished_indexes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_row_writes_build_no_temporary_btree,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_update_sets_only_its_columns, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_order_independence, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batches_set_temp_store_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_run_summary_keeps_key_side_exact,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_4_migrated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_side_table_kept_exact, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema_7_key_side_migrated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema_12_data_without_rowid, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema_9_key_side_index_migrated,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_key_range_counted_few_or_many, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_metric_blocks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_status_rank, setup, teardown),
      cmocka_unit_test_setup_teardown(test_times_min_max, setup, teardown),
      cmocka_unit_test_setup_teardown(test_host_pid_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_workflow_campaign_merge, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_links_idempotent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_dependencies_are_each_stored_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_counts_bounded, setup, teardown),
      cmocka_unit_test_setup_teardown(test_counts_newest_and_exact, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_metric_points_kept_apart, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_schema_2_metric_migrated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_skips_unknown_and_bad_json, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_query_refuses_writes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_query_guard_refuses_library_functions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_temp_bound_after_batch, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_query_guard_time_limit_and_cancel,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_rows_and_errors, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_query_described_announces_columns,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_sql_escaping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_processes, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

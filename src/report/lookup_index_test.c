/*
 * lookup_index_test.c -- unit tests of the two lookups of the task table
 * that users make on big stores, on the SQLite store: a campaign's tasks
 * (`mida export --campaign`, common.c's scope) and a source's key (`mida
 * show KEY`, `mida lineage KEY`, `mida diff A B`; source_key.c). Schema
 * version 16 gives them the indexes task_by_campaign and
 * task_by_source_key (sink/schema.h); before it, each read the whole task
 * table.
 *
 * Each test runs the real report or lookup on a store that holds many
 * tasks of another campaign, watching every statement the store's
 * connection runs (sqlite3_trace_v2): what SQLite counts as full-scan steps
 * must not grow with those tasks, and the plans of the statements that
 * look the tasks up name the index. The PostgreSQL store's are checked in
 * tests/multinode/test_postgres_store.py.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "report/report.h"
#include "report/report_int.h"
#include "report/source_key.h"
#include "sink/schema.h"
#include "sink/store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sink/store_helpers.h"

/* The tasks of the other campaign: a lookup that reads as many rows as
 * this reads the table whole. */
#define OTHER_TASKS 3000
#define OTHER_TASKS_TEXT "3000"

#define VERSION_TEXT(v) #v
#define VERSION_ROW_OF(v) VERSION_TEXT(v) "\n"
#define VERSION_ROW VERSION_ROW_OF(MIDA_SCHEMA_VERSION)

/* Campaign "big" (workflow wf-big, OTHER_TASKS tasks, each with a source
 * key) and campaign "small": workflow wf-small with 3 tasks, and 2 tasks
 * of its own in wf-big. Written by plain SQL after a writer made the
 * schema. */
static const char rows_sql[] =
    "INSERT INTO campaign(id, name) VALUES('c-big', 'big'),"
    " ('c-small', 'small');"
    "INSERT INTO workflow(id, campaign_id, name, source) VALUES"
    " ('wf-big', 'c-big', 'big', 'dask'), ('wf-small', 'c-small', 'small',"
    " 'mlflow');"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
    " WHERE i < " OTHER_TASKS_TEXT ") INSERT INTO task(id, workflow_id,"
    " campaign_id, activity, status, started, source_key) SELECT printf('big-%05d', i),"
    " 'wf-big', 'c-big', 'step', 'FINISHED', i, printf('step-%05d', i)"
    " FROM n;"
    "INSERT INTO task(id, workflow_id, campaign_id, activity, status,"
    " started, source_key) VALUES"
    " ('small-1', 'wf-small', 'c-small', 'fit', 'FINISHED', 10, 'run-a'),"
    " ('small-2', 'wf-small', NULL, 'fit', 'FINISHED', 20, 'run-b'),"
    " ('small-3', 'wf-small', 'c-small', 'fit', 'FINISHED', 30, 'run-b'),"
    " ('lent-1', 'wf-big', 'c-small', 'eval', 'FINISHED', 40, NULL),"
    " ('lent-2', 'wf-big', 'c-small', 'eval', 'FINISHED', 50, NULL);";

/* What the store's connection ran while a trace was on. */
typedef struct traced {
  long fullscan_steps; /* SQLite's SQLITE_STMTSTATUS_FULLSCAN_STEP, summed */
  char *sql[64];       /* each statement's text (its ?N unbound), once */
  int nsql;            /* texts held */
} traced;

static int on_statement_end(unsigned type, void *ctx, void *p, void *x) {
  (void)type;
  (void)x;
  traced *t = ctx;
  sqlite3_stmt *st = p;
  t->fullscan_steps +=
      sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
  const char *sql = sqlite3_sql(st);
  for (int i = 0; i < t->nsql; i++)
    if (strcmp(t->sql[i], sql) == 0)
      return 0;
  if (t->nsql < (int)(sizeof t->sql / sizeof t->sql[0]))
    t->sql[t->nsql++] = strdup(sql);
  return 0;
}

static void trace_on(mida__sink *sink, traced *t) {
  memset(t, 0, sizeof *t);
  sqlite3_trace_v2(mida__sqlite_connection(sink), SQLITE_TRACE_PROFILE,
                   on_statement_end, t);
}

static void trace_stop(mida__sink *sink) {
  sqlite3_trace_v2(mida__sqlite_connection(sink), 0, NULL, NULL);
}

static void trace_free(traced *t) {
  for (int i = 0; i < t->nsql; i++)
    free(t->sql[i]);
  t->nsql = 0;
}

/* Whether the plan of one of the traced statements that hold needle names
 * index; the plans are read on the sink's connection, the trace stopped. */
static int a_plan_names(mida__sink *sink, const traced *t, const char *needle,
                        const char *index) {
  sqlite3 *db = mida__sqlite_connection(sink);
  int found = 0;
  for (int i = 0; i < t->nsql && !found; i++) {
    if (strstr(t->sql[i], needle) == NULL)
      continue;
    char eqp[8192];
    snprintf(eqp, sizeof eqp, "EXPLAIN QUERY PLAN %s", t->sql[i]);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, eqp, -1, &st, NULL) != SQLITE_OK)
      fail_msg("%s: %s", eqp, sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW)
      found |= strstr((const char *)sqlite3_column_text(st, 3), index) != NULL;
    sqlite3_finalize(st);
  }
  return found;
}

/* The export's bytes, kept. */
typedef struct document {
  char *text;
  size_t len;
} document;

static int keep_bytes(void *ctx, const char *data, size_t len) {
  document *d = ctx;
  char *grown = realloc(d->text, d->len + len + 1);
  if (grown == NULL)
    return MIDA_ENOMEM;
  memcpy(grown + d->len, data, len);
  d->len += len;
  grown[d->len] = '\0';
  d->text = grown;
  return MIDA_OK;
}

/* A store with rows_sql's rows, made by this mida. */
static void make_store(const char *path) {
  mida__sink_close(open_store(path, 0));
  exec_on(path, rows_sql);
}

/* Makes the store at path what schema version 15 left: no indexes on
 * task.campaign_id and task.source_key, and not stamped by this mida. */
static void make_version_15(const char *path) {
  exec_on(path, "DROP INDEX task_by_campaign; DROP INDEX task_by_source_key;"
                " UPDATE mida_meta SET value = '15'"
                " WHERE key = 'schema_version'; PRAGMA user_version = 0");
}

/* The PROV export of campaign "small" on a reader of the store at path:
 * its document (free it), the full-scan steps of every statement it ran,
 * and whether the plan of one that reads campaign_id names the index. */
static char *export_small(const char *path, long *fullscan_steps,
                          int *plan_uses_index) {
  mida__sink *sink = open_store(path, MIDA_SINK_READONLY);
  traced t;
  trace_on(sink, &t);
  document d = {NULL, 0};
  mida__report_io io = {0};
  io.write = keep_bytes;
  io.ctx = &d;
  mida__report_scope scope = {0};
  scope.campaign = "small";
  mida__report_stats stats = {0};
  assert_int_equal(mida__report_scope_check(sink, &scope, &io), MIDA_OK);
  assert_string_equal(scope.campaign_id, "c-small");
  assert_int_equal(mida__report_prov(sink, &scope, &io, &stats), MIDA_OK);
  trace_stop(sink);
  *fullscan_steps = t.fullscan_steps;
  *plan_uses_index = a_plan_names(sink, &t, "campaign_id = ?1",
                                  "task_by_campaign");
  trace_free(&t);
  mida__sink_close(sink);
  return d.text;
}

/* The campaign's five tasks are in the document, the other campaign's
 * are not. */
static void assert_the_small_campaign(const char *doc) {
  const char *in[] = {"small-1", "small-2", "small-3", "lent-1", "lent-2"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++)
    assert_non_null(strstr(doc, in[i]));
  assert_null(strstr(doc, "big-0"));
}

/* A campaign's export reads its tasks through task_by_campaign: the
 * whole of it reads fewer rows in full scans than the store holds tasks
 * of the other campaign (it read them all, and again per statement). */
static void test_campaign_export_reads_its_tasks_by_index(void **state) {
  char path[256];
  store_path(state, "lookups.db", path, sizeof path);
  make_store(path);
  long steps = 0;
  int indexed = 0;
  char *doc = export_small(path, &steps, &indexed);
  assert_the_small_campaign(doc);
  if (steps >= OTHER_TASKS)
    fprintf(stderr, "full-scan steps: %ld\n", steps);
  assert_true(steps < OTHER_TASKS);
  assert_true(indexed);
  free(doc);
}

/* The tasks and workflows a source's key names, as rows "kind id|". */
static void find_key(const char *path, const char *key, char *out,
                     size_t cap, long *fullscan_steps, int *plan_uses_index) {
  mida__sink *sink = open_store(path, MIDA_SINK_READONLY);
  traced t;
  trace_on(sink, &t);
  mida__rows r;
  assert_int_equal(mida__source_key_find(sink, key, 1, 10, &r), MIDA_OK);
  out[0] = '\0';
  for (size_t i = 0; i < r.nrows; i++) {
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s %s|",
             mida__rows_cell(&r, i, MIDA_SOURCE_KEY_KIND),
             mida__rows_cell(&r, i, MIDA_SOURCE_KEY_ID));
  }
  mida__rows_free(&r);
  trace_stop(sink);
  *fullscan_steps = t.fullscan_steps;
  *plan_uses_index = a_plan_names(sink, &t, "source_key = ?1",
                                  "task_by_source_key");
  trace_free(&t);
  mida__sink_close(sink);
}

/* `mida show KEY` and the others find a source's key through
 * task_by_source_key, newest first, without reading the task table. */
static void test_source_key_is_found_by_index(void **state) {
  char path[256];
  store_path(state, "lookups.db", path, sizeof path);
  make_store(path);
  char found[256];
  long steps = 0;
  int indexed = 0;
  find_key(path, "run-b", found, sizeof found, &steps, &indexed);
  assert_string_equal(found, "task small-3|task small-2|");
  if (steps >= OTHER_TASKS)
    fprintf(stderr, "full-scan steps: %ld\n", steps);
  assert_true(steps < OTHER_TASKS);
  assert_true(indexed);
  find_key(path, "step-02999", found, sizeof found, &steps, &indexed);
  assert_string_equal(found, "task big-02999|");
}

/* A store of version 15 reads as before on a reader (which changes no
 * store: the same rows, read whole), and a writer's open gives it the two
 * indexes and version 16; then the same rows come through them. */
static void test_version_15_store_is_read_then_upgraded(void **state) {
  char path[256];
  store_path(state, "lookups.db", path, sizeof path);
  make_store(path);
  make_version_15(path);
  long steps = 0;
  int indexed = 0;
  char found[256];
  find_key(path, "run-b", found, sizeof found, &steps, &indexed);
  assert_string_equal(found, "task small-3|task small-2|");
  assert_false(indexed);
  char *doc = export_small(path, &steps, &indexed);
  assert_the_small_campaign(doc);
  assert_false(indexed);
  mida__sink *sink = open_store(path, MIDA_SINK_READONLY);
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               "15\n");
  mida__sink_close(sink);

  sink = open_store(path, 0); /* a writer: the migration */
  assert_query(sink,
               "SELECT name FROM sqlite_schema WHERE name IN"
               " ('task_by_campaign', 'task_by_source_key') ORDER BY name",
               "task_by_campaign\ntask_by_source_key\n");
  assert_query(sink, "SELECT value FROM mida_meta WHERE key = 'schema_version'",
               VERSION_ROW);
  mida__sink_close(sink);
  find_key(path, "run-b", found, sizeof found, &steps, &indexed);
  assert_string_equal(found, "task small-3|task small-2|");
  assert_true(indexed);
  char *again = export_small(path, &steps, &indexed);
  assert_string_equal(again, doc);
  assert_true(indexed);
  assert_true(steps < OTHER_TASKS);
  free(doc);
  free(again);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_campaign_export_reads_its_tasks_by_index, setup, teardown),
      cmocka_unit_test_setup_teardown(test_source_key_is_found_by_index,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_version_15_store_is_read_then_upgraded, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * store_helpers.h -- what the SQLite store's unit tests share
 * (sqlite_test.c, sqlite_summary_test.c): opening a store, building
 * records and applying them through mida__sink_put_batch(), reading the
 * result back through mida__sink_query() (the path the `mida` command
 * uses), the records of a task run twice, and a count of the statements a
 * batch runs. Static inline functions: included by one test program each,
 * which may leave some unused; include it after cmocka.h. The fixture of
 * each test is store_fixture.h's.
 */
#ifndef MIDA_SINK_STORE_HELPERS_H
#define MIDA_SINK_STORE_HELPERS_H

#include "sink/sink.h"
#include "sink/store_fixture.h"

#include "core/buf.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Defined in sqlite.c: records skipped and JSON fields dropped, and the
 * sink's connection. */
uint64_t mida__sqlite_skipped(const mida__sink *sink);
sqlite3 *mida__sqlite_connection(const mida__sink *sink);
uint64_t mida__sqlite_dropped_fields(const mida__sink *sink);

static const mida__origin origin = {"origin-host", 777};

/* ---- fixtures ---------------------------------------------------------- */

/* A store file in the test's directory, named name. */
static inline const char *store_path(void **state, const char *name,
                                     char *buf, size_t len) {
  fixture *fx = *state;
  snprintf(buf, len, "%s/%s", fx->dir, name);
  return buf;
}

static inline mida__sink *open_store(const char *path, int flags) {
  char err[512] = "";
  mida__sink *sink = NULL;
  int rc = mida__sink_open(path, flags, &sink, err, sizeof err);
  if (rc != MIDA_OK)
    fprintf(stderr, "open %s: %s\n", path, err);
  assert_int_equal(rc, MIDA_OK);
  assert_non_null(sink);
  return sink;
}

/* ---- record builders --------------------------------------------------- */

static inline void rec_init(mida__rec *r, unsigned type) {
  memset(r, 0, sizeof *r);
  r->type = (uint16_t)type;
}

static inline void set_str(mida__rec *r, unsigned tag, const char *s) {
  r->f[tag].present = true;
  r->f[tag].v.str.ptr = s;
  r->f[tag].v.str.len = (uint32_t)strlen(s);
}

static inline void set_i64(mida__rec *r, unsigned tag, int64_t v) {
  r->f[tag].present = true;
  r->f[tag].v.i64 = v;
}

static inline void set_f64(mida__rec *r, unsigned tag, double v) {
  r->f[tag].present = true;
  r->f[tag].v.f64 = v;
}

static inline void set_id(mida__rec *r, unsigned tag, const mida_id_t *id) {
  r->f[tag].present = true;
  r->f[tag].v.id = *id;
}

static inline void put(mida__sink *sink, const mida__rec *recs, size_t n) {
  int rc = mida__sink_put_batch(sink, recs, n, &origin);
  if (rc != MIDA_OK)
    fprintf(stderr, "put_batch: %s\n", mida__sink_errmsg(sink));
  assert_int_equal(rc, MIDA_OK);
}

/* ---- query helpers ----------------------------------------------------- */

typedef struct collected {
  mida__buf text;  /* rows as "a|b\n", NULL as "~" */
  mida__buf names; /* column names of the first row, "a|b" */
  int rows;        /* rows seen */
  int stop_after;  /* stop after this many rows; 0: never */
} collected;

static inline int collect_row(void *ctx, int ncols, const char *const *names,
                              const char *const *values) {
  collected *c = ctx;
  for (int i = 0; i < ncols; i++) {
    if (c->rows == 0) {
      if (i > 0)
        mida__buf_adds(&c->names, "|");
      mida__buf_adds(&c->names, names[i]);
    }
    if (i > 0)
      mida__buf_adds(&c->text, "|");
    mida__buf_adds(&c->text, values[i] != NULL ? values[i] : "~");
  }
  mida__buf_adds(&c->text, "\n");
  c->rows++;
  return c->stop_after > 0 && c->rows >= c->stop_after;
}

/* Rows of sql with its parameters, as text (free() it). */
static inline char *query_params(mida__sink *sink, const char *sql,
                                 const char **params, int np) {
  collected c = {.rows = 0};
  mida__buf_init(&c.text, 1 << 24);
  mida__buf_init(&c.names, 1 << 16);
  int rc = mida__sink_query(sink, sql, params, np, collect_row, &c);
  if (rc != MIDA_OK)
    fprintf(stderr, "query %s: %s\n", sql, mida__sink_errmsg(sink));
  assert_int_equal(rc, MIDA_OK);
  char *out = strdup(mida__buf_str(&c.text));
  mida__buf_free(&c.text);
  mida__buf_free(&c.names);
  assert_non_null(out);
  return out;
}

/* Runs sql with up to 4 text parameters; returns the rows as text, to free
 * with free(). */
static inline char *query_text(mida__sink *sink, const char *sql, int nparams,
                               ...) {
  const char *params[4] = {NULL, NULL, NULL, NULL};
  va_list ap;
  va_start(ap, nparams);
  for (int i = 0; i < nparams && i < 4; i++)
    params[i] = va_arg(ap, const char *);
  va_end(ap);
  return query_params(sink, sql, params, nparams);
}

/* Runs sql on the store at path through a connection of its own. */
static inline void exec_on(const char *path, const char *sql) {
  sqlite3 *db;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    fprintf(stderr, "%s: %s\n", sql, err);
  assert_null(err);
  sqlite3_close(db);
}

static inline void assert_query(mida__sink *sink, const char *sql,
                                const char *expect) {
  char *got = query_text(sink, sql, 0);
  if (strcmp(got, expect) != 0)
    fprintf(stderr, "query %s\n got:    %s\n expect: %s\n", sql, got, expect);
  assert_string_equal(got, expect);
  free(got);
}

/* The task row in a canonical form: JSON columns as their members sorted by
 * key, so that two rows compare equal when they mean the same. */
#define JSON_CANON(col)                                                        \
  "(SELECT group_concat(key || '=' || quote(value), ',') FROM"                 \
  " (SELECT key, value FROM json_each(t." col ") ORDER BY key))"

static const char canonical_task_sql[] =
    "SELECT id, workflow_id, campaign_id, parent_id, activity, status,"
    " submitted, started, ended, host, pid, worker, source_key, "
    "error, " JSON_CANON("used") ", " JSON_CANON("generated") ", " JSON_CANON(
        "custom") ", " JSON_CANON("telemetry") " FROM task t ORDER BY id";

/* ---- the runs of a task ------------------------------------------------ */

/* The records of a task run twice, as a Dask key recomputed on another
 * worker: the scheduler's (submitted, then finished, with a stray start
 * time that the runs must win over) and two workers' (each run's begin and
 * end), each with the origin of the process that sent it. */
enum { RUN_RECS = 7 };

typedef struct run_recs {
  mida_id_t task, run1, run2;
  mida__rec r[RUN_RECS];
  const mida__origin *from[RUN_RECS];
} run_recs;

static const mida__origin scheduler_origin = {"sched-host", 11};
static const mida__origin worker_a = {"host-a", 21};
static const mida__origin worker_b = {"host-b", 22};

static inline void run_rec(mida__rec *r, const mida_id_t *run,
                           const mida_id_t *task, int status, int64_t started,
                           int64_t ended, const char *worker) {
  rec_init(r, MIDA_REC_RUN);
  set_id(r, MIDA_F_ID, run);
  set_id(r, MIDA_F_TASK, task);
  set_i64(r, MIDA_F_STATUS, status);
  set_i64(r, MIDA_F_STARTED, started);
  if (ended != 0)
    set_i64(r, MIDA_F_ENDED, ended);
  set_str(r, MIDA_F_WORKER, worker);
}

static inline void make_run_recs(run_recs *t) {
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-000000000001", &t->task), MIDA_OK);
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-0000000000a1", &t->run1), MIDA_OK);
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-0000000000a2", &t->run2), MIDA_OK);
  mida__rec *r = t->r;
  rec_init(&r[0], MIDA_REC_TASK);
  set_id(&r[0], MIDA_F_ID, &t->task);
  set_str(&r[0], MIDA_F_ACTIVITY, "inc");
  set_i64(&r[0], MIDA_F_STATUS, MIDA_STATUS_SUBMITTED);
  set_i64(&r[0], MIDA_F_SUBMITTED, 50);
  rec_init(&r[1], MIDA_REC_TASK);
  set_id(&r[1], MIDA_F_ID, &t->task);
  set_i64(&r[1], MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  set_i64(&r[1], MIDA_F_STARTED, 60); /* no run has it: must not win */
  set_str(&r[1], MIDA_F_CUSTOM, "{\"nbytes\": 28}");
  run_rec(&r[2], &t->run1, &t->task, MIDA_STATUS_RUNNING, 100, 0, "wa");
  run_rec(&r[3], &t->run1, &t->task, MIDA_STATUS_FINISHED, 100, 200, "wa");
  set_str(&r[3], MIDA_F_TELEMETRY, "{\"cpu_thread_ns\": 7}");
  run_rec(&r[4], &t->run2, &t->task, MIDA_STATUS_RUNNING, 300, 0, "wb");
  run_rec(&r[5], &t->run2, &t->task, MIDA_STATUS_FINISHED, 300, 400, "wb");
  rec_init(&r[6], MIDA_REC_TASK); /* the worker's arguments and result */
  set_id(&r[6], MIDA_F_ID, &t->task);
  set_str(&r[6], MIDA_F_GENERATED, "{\"return\": 2}");
  const mida__origin *from[RUN_RECS] = {
      &scheduler_origin, &scheduler_origin, &worker_a, &worker_a,
      &worker_b,         &worker_b,         &worker_b};
  memcpy(t->from, from, sizeof from);
}

/* The statements that a batch runs, by the start of their text. */
typedef struct statement_counts {
  int task_upserts;   /* INSERT INTO task( */
  int summary_writes; /* UPDATE task SET (started, and the INSERT OR IGNORE */
  int pragmas;        /* PRAGMA */
  int all;            /* every statement */
  int rows_inserts;   /* INSERT OR IGNORE of many task or run rows */
} statement_counts;

static inline int count_statement(unsigned type, void *ctx, void *p, void *x) {
  (void)type;
  (void)p;
  statement_counts *c = ctx;
  const char *sql = x;
  c->all++;
  c->task_upserts += strncmp(sql, "INSERT INTO task(", 17) == 0;
  c->summary_writes +=
      strncmp(sql, "UPDATE task SET (started", 24) == 0 ||
      strncmp(sql, "INSERT OR IGNORE INTO task(id, status,", 38) == 0;
  c->pragmas += strncmp(sql, "PRAGMA", 6) == 0;
  c->rows_inserts +=
      strncmp(sql, "INSERT OR IGNORE INTO task(id, workflow_id,", 43) == 0 ||
      strncmp(sql, "INSERT OR IGNORE INTO task_run(", 31) == 0;
  return 0;
}

#endif /* MIDA_SINK_STORE_HELPERS_H */

/*
 * sqlite_summary_test.c -- unit tests of a task's row as the summary of
 * its runs in the SQLite store (sqlite_summary.c).
 *
 * A task may run more than once; each run is a row of task_run, and the
 * task's row says what they say together. The tests apply the records of
 * a task run twice (store_helpers.h, make_run_recs) in every order, in
 * any batches, twice, from separate processes or from one, and check
 * that the row is the same; that a batch writes the row once (the
 * summary writes the task's own image with it); and the states and forms
 * of a summary on the way.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/sink.h"
#include "sink/store_fixture.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sink/store_helpers.h"

static const char run_rows_sql[] =
    "SELECT id, task_id, status, started, ended, host, pid, worker,"
    " telemetry FROM task_run ORDER BY id";

/* Applies the records in order perm, as batches of consecutive records of
 * one origin (split where split[i] says), some twice; returns the task's
 * canonical row, its attempts, and its runs. With one (not NULL), every
 * record comes from that origin, as in a process that is the scheduler
 * and the worker at once (a LocalCluster without processes). */
static char *apply_runs_from(void **state, const run_recs *t, const int *perm,
                             unsigned split_bits, int twice, int n,
                             const mida__origin *one) {
  char path[256], name[32];
  snprintf(name, sizeof name, "runs%d%s.db", n, one != NULL ? "one" : "");
  mida__sink *sink = open_store(store_path(state, name, path, sizeof path), 0);
  mida__rec batch[RUN_RECS];
  size_t nb = 0;
  for (int i = 0; i < RUN_RECS; i++) {
    const mida__origin *o = one != NULL ? one : t->from[perm[i]];
    batch[nb++] = t->r[perm[i]];
    int last = i == RUN_RECS - 1;
    if (last || (one == NULL && t->from[perm[i + 1]] != o) ||
        (split_bits >> i) & 1) {
      for (int k = 0; k <= twice; k++)
        assert_int_equal(mida__sink_put_batch(sink, batch, nb, o), MIDA_OK);
      nb = 0;
    }
  }
  char *task = query_text(sink, canonical_task_sql, 0);
  char *runs = query_text(sink, run_rows_sql, 0);
  char *attempts = query_text(sink, "SELECT attempts FROM task", 0);
  mida__sink_close(sink);
  size_t len = strlen(task) + strlen(runs) + strlen(attempts) + 1;
  char *all = malloc(len);
  assert_non_null(all);
  snprintf(all, len, "%s%s%s", task, attempts, runs);
  free(task);
  free(runs);
  free(attempts);
  return all;
}

/* Every execution is kept, and the task row is their summary -- the
 * latest run's times, host, pid and worker, the number of runs -- however
 * the records arrive: in any order, in any batches, twice. */
static char *runs_in_any_order(void **state, const mida__origin *one) {
  run_recs t;
  make_run_recs(&t);
  char *reference = NULL;
  unsigned seed = 12345;
  for (int n = 0; n < 40; n++) {
    int perm[RUN_RECS];
    for (int i = 0; i < RUN_RECS; i++)
      perm[i] = i;
    for (int i = RUN_RECS - 1; n > 0 && i > 0; i--) {
      seed = seed * 1103515245u + 12345u;
      int j = (int)((seed >> 16) % (unsigned)(i + 1));
      int tmp = perm[i];
      perm[i] = perm[j];
      perm[j] = tmp;
    }
    seed = seed * 1103515245u + 12345u;
    /* The first order, each record a batch of its own, folds nothing. */
    unsigned split = n == 0 ? 0x7f : (seed >> 8) & 0x7f;
    char *got = apply_runs_from(state, &t, perm, split, n % 3 == 2, n, one);
    if (reference == NULL) {
      reference = got;
      continue;
    }
    if (strcmp(got, reference) != 0)
      fprintf(stderr, "order %d:\n%s\nvs\n%s\n", n, got, reference);
    assert_string_equal(got, reference);
    free(got);
  }
  return reference;
}

static void test_runs_summarised_in_any_order(void **state) {
  char *reference = runs_in_any_order(state, NULL);
  /* The task: the scheduler's status and submission, the second run's
   * times, host, pid and worker (not the stray start 60), two attempts. */
  assert_non_null(strstr(reference, "|inc|FINISHED|50|300|400|host-b|22|wb|"));
  assert_non_null(strstr(reference, "\n2\n"));
  assert_non_null(strstr(reference,
                         "0190a4c2-0000-7000-8000-0000000000a1|"
                         "0190a4c2-0000-7000-8000-000000000001|FINISHED|100|"
                         "200|host-a|21|wa|{\"cpu_thread_ns\": 7}\n"
                         "0190a4c2-0000-7000-8000-0000000000a2|"
                         "0190a4c2-0000-7000-8000-000000000001|FINISHED|300|"
                         "400|host-b|22|wb|~\n"));
  free(reference);
}

/* The same records from one process, the scheduler's and the worker's in
 * the same batches: a run's summary then also writes the scheduler's
 * image of the task (sqlite_summary.c, mida__sqlite_plan_run_summaries), which
 * gives the row that separate statements give (the first order applies each
 * record alone). */
static void test_runs_of_one_process_summarised_in_any_order(void **state) {
  char *reference = runs_in_any_order(state, &worker_a);
  assert_non_null(strstr(reference, "|inc|FINISHED|50|300|400|host-a|21|wb|"));
  assert_non_null(strstr(reference, "\n2\n"));
  free(reference);
}

/* A Dask task whose scheduler and worker are one process (a LocalCluster
 * without processes) sends all its records through one shipper: when
 * they reach one batch, the run's summary writes the whole task row --
 * one row write, not the scheduler's insert and the summary's update of
 * it (~57,000 instructions a task, bench_dask_ir.py): no task upsert, and
 * the row is inserted, never updated (nor looked for by an UPDATE first:
 * the scheduler's image makes a new row). */
static void test_task_of_one_process_written_once(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  exec_on(fx->path, "CREATE TABLE task_writes(what TEXT);"
                    " CREATE TRIGGER count_task_inserts AFTER INSERT ON task"
                    " BEGIN INSERT INTO task_writes VALUES('insert'); END;"
                    " CREATE TRIGGER count_task_updates AFTER UPDATE ON task"
                    " BEGIN INSERT INTO task_writes VALUES('update'); END");
  enum { TASKS = 10, RECS = 5 };
  mida__rec recs[TASKS * RECS];
  mida_id_t tasks[TASKS], runs[TASKS];
  for (int i = 0; i < TASKS; i++) {
    tasks[i] = mida_id_new();
    runs[i] = mida_id_new();
    mida__rec *r = &recs[i * RECS];
    rec_init(&r[0], MIDA_REC_TASK); /* the scheduler's begin */
    set_id(&r[0], MIDA_F_ID, &tasks[i]);
    set_str(&r[0], MIDA_F_ACTIVITY, "inc");
    set_i64(&r[0], MIDA_F_STATUS, MIDA_STATUS_SUBMITTED);
    set_i64(&r[0], MIDA_F_SUBMITTED, 50);
    set_str(&r[0], MIDA_F_SOURCE_KEY, "inc-0");
    run_rec(&r[1], &runs[i], &tasks[i], MIDA_STATUS_RUNNING, 100, 0, "w");
    run_rec(&r[2], &runs[i], &tasks[i], MIDA_STATUS_FINISHED, 100, 200, "w");
    set_str(&r[2], MIDA_F_TELEMETRY, "{\"cpu_thread_ns\": 7}");
    rec_init(&r[3], MIDA_REC_TASK); /* the worker's arguments, result */
    set_id(&r[3], MIDA_F_ID, &tasks[i]);
    set_str(&r[3], MIDA_F_USED, "{\"x\": 1}");
    set_str(&r[3], MIDA_F_GENERATED, "{\"return\": 2}");
    rec_init(&r[4], MIDA_REC_TASK); /* and its end */
    set_id(&r[4], MIDA_F_ID, &tasks[i]);
    set_i64(&r[4], MIDA_F_STATUS, MIDA_STATUS_UNKNOWN);
    set_str(&r[4], MIDA_F_CUSTOM, "{\"nbytes\": 28}");
  }
  statement_counts c = {0, 0, 0, 0, 0};
  sqlite3_trace_v2(mida__sqlite_connection(sink), SQLITE_TRACE_STMT,
                   count_statement, &c);
  put(sink, recs, TASKS * RECS);
  sqlite3_trace_v2(mida__sqlite_connection(sink), 0, NULL, NULL);
  assert_int_equal(c.task_upserts, 0);
  assert_int_equal(c.summary_writes, TASKS); /* an INSERT: no UPDATE first */
  assert_query(sink, "SELECT what, count(*) FROM task_writes GROUP BY what",
               "insert|10\n");
  assert_query(sink,
               "SELECT DISTINCT activity, status, submitted, started, ended,"
               " host, pid, worker, source_key, used, generated, custom,"
               " telemetry, attempts FROM task",
               "inc|FINISHED|50|100|200|origin-host|777|w|inc-0|{\"x\": 1}|"
               "{\"return\": 2}|{\"nbytes\": 28}|{\"cpu_thread_ns\": 7}|1\n");
  mida__sink_close(sink);
}

/* A run whose process died keeps its start (status RUNNING, no end, LOST
 * once recovery reports the process gone); a task whose only run finished
 * is FINISHED though its scheduler never said so; a run without a task is
 * skipped and counted. */
static void test_run_states(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  run_recs t;
  make_run_recs(&t);
  put(sink, &t.r[0], 1); /* submitted */
  put(sink, &t.r[2], 1); /* run 1 begins */
  assert_query(sink,
               "SELECT status, started, ended, worker, attempts"
               " FROM task",
               "RUNNING|100|~|wa|1\n");
  put(sink, &t.r[3], 1); /* and ends */
  assert_query(sink,
               "SELECT status, started, ended, worker, attempts"
               " FROM task",
               "FINISHED|100|200|wa|1\n");
  /* Run 2 begins beside run 1 (before its end: a copy of it, which
   * reopens nothing), and its worker dies. */
  mida__rec beside;
  run_rec(&beside, &t.run2, &t.task, MIDA_STATUS_RUNNING, 150, 0, "wb");
  put(sink, &beside, 1);
  assert_query(sink,
               "SELECT status, started, ended, worker, attempts"
               " FROM task",
               "FINISHED|150|~|wb|2\n");
  assert_query(sink, "SELECT status, ended FROM task_run ORDER BY id",
               "FINISHED|200\nRUNNING|~\n");
  /* Recovery finds the dead worker's journal (all came from one origin
   * here): its unfinished run is LOST; the task, which one run finished,
   * stays FINISHED. */
  mida__rec lost;
  rec_init(&lost, MIDA_REC_LOST);
  set_i64(&lost, MIDA_F_STARTED, 0);
  set_str(&lost, MIDA_F_ERROR, "the process died");
  put(sink, &lost, 1);
  assert_query(sink, "SELECT status, error FROM task_run ORDER BY id",
               "FINISHED|~\nLOST|the process died\n");
  assert_query(sink, "SELECT status, attempts FROM task", "FINISHED|2\n");
  mida__rec orphan;
  run_rec(&orphan, &t.run1, &t.task, MIDA_STATUS_RUNNING, 1, 0, "x");
  orphan.f[MIDA_F_TASK].present = false;
  uint64_t skipped = mida__sqlite_skipped(sink);
  put(sink, &orphan, 1);
  assert_int_equal(mida__sqlite_skipped(sink), skipped + 1);
  mida__sink_close(sink);
}

/* A run that starts after every other run of its task ended reopens the
 * task (an MLflow run resumed, a key computed again): the task is RUNNING
 * again while that run runs, and then takes the status that run ends
 * with, even one that ranks below the task's earlier status; the first
 * run is kept as it was. The same row whatever the order of the records
 * (but a run's start after its end: a run's status ranks as a task's). */
static void test_a_run_after_the_others_ended_reopens_its_task(
    void **state) {
  run_recs t;
  make_run_recs(&t);
  mida__rec recs[4];
  run_rec(&recs[0], &t.run1, &t.task, MIDA_STATUS_RUNNING, 100, 0, "w");
  run_rec(&recs[1], &t.run1, &t.task, MIDA_STATUS_ERROR, 100, 200, "w");
  run_rec(&recs[2], &t.run2, &t.task, MIDA_STATUS_RUNNING, 300, 0, "w");
  run_rec(&recs[3], &t.run2, &t.task, MIDA_STATUS_FINISHED, 300, 400, "w");
  static const int orders[][4] = {
      {0, 1, 2, 3}, {2, 0, 1, 3}, {1, 2, 3, 0}, {3, 1, 0, 2}, {2, 3, 1, 0}};
  for (size_t k = 0; k < sizeof orders / sizeof orders[0]; k++) {
    char path[256], name[32];
    snprintf(name, sizeof name, "reopen%zu.db", k);
    mida__sink *sink = open_store(store_path(state, name, path, sizeof path),
                                  0);
    for (int i = 0; i < 4; i++) {
      put(sink, &recs[orders[k][i]], 1);
      if (k == 0 && i == 1) { /* a run's error alone: a retry may come */
        assert_query(sink, "SELECT status, attempts FROM task",
                     "RUNNING|1\n");
        mida__rec erred;
        rec_init(&erred, MIDA_REC_TASK); /* its source says it erred */
        set_id(&erred, MIDA_F_ID, &t.task);
        set_i64(&erred, MIDA_F_STATUS, MIDA_STATUS_ERROR);
        put(sink, &erred, 1);
        assert_query(sink, "SELECT status, attempts FROM task", "ERROR|1\n");
      }
      if (k == 0 && i == 2) /* run 2 runs: the task with it */
        assert_query(sink, "SELECT status, started, ended, attempts FROM task",
                     "RUNNING|300|~|2\n");
    }
    assert_query(sink, "SELECT status, started, ended, attempts FROM task",
                 "FINISHED|300|400|2\n");
    assert_query(sink, "SELECT status, started, ended FROM task_run"
                       " ORDER BY started",
                 "ERROR|100|200\nFINISHED|300|400\n");
    mida__sink_close(sink);
  }
}

/* A worker's batch -- a run's start, the task's arguments and result, the
 * run's end -- writes the task's row once: the run's summary writes the
 * arguments and result too, and a status beside them. */
static void test_run_summary_writes_arguments_and_result(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  run_recs t;
  make_run_recs(&t);
  put(sink, &t.r[0], 1); /* submitted */
  exec_on(fx->path, "CREATE TABLE task_writes(n INTEGER);"
                    " CREATE TRIGGER count_task_writes AFTER UPDATE ON task"
                    " BEGIN INSERT INTO task_writes VALUES(1); END");

  mida__rec worker[3];
  worker[0] = t.r[2]; /* run 1 begins */
  rec_init(&worker[1], MIDA_REC_TASK);
  set_id(&worker[1], MIDA_F_ID, &t.task);
  set_str(&worker[1], MIDA_F_USED, "{\"x\": 1}");
  set_str(&worker[1], MIDA_F_GENERATED, "{\"return\": 2}");
  worker[2] = t.r[3]; /* and ends */
  assert_int_equal(mida__sink_put_batch(sink, worker, 3, &worker_a), MIDA_OK);
  assert_query(sink, "SELECT count(*) FROM task_writes", "1\n");
  assert_query(sink,
               "SELECT status, started, ended, host, worker, attempts, used,"
               " generated FROM task",
               "FINISHED|100|200|host-a|wa|1|{\"x\": 1}|{\"return\": 2}\n");

  /* Run 2, its end first and its arguments merged into the stored ones;
   * then a record that also sets the status, which the summary writes
   * too (the scheduler's, in a process that is also the worker). */
  worker[0] = t.r[5];
  set_str(&worker[1], MIDA_F_USED, "{\"y\": 3}");
  worker[1].f[MIDA_F_GENERATED].present = false;
  worker[2] = t.r[4];
  assert_int_equal(mida__sink_put_batch(sink, worker, 3, &worker_b), MIDA_OK);
  assert_query(sink, "SELECT count(*) FROM task_writes", "2\n");
  set_i64(&worker[1], MIDA_F_STATUS, MIDA_STATUS_ERROR);
  assert_int_equal(mida__sink_put_batch(sink, worker, 3, &worker_b), MIDA_OK);
  assert_query(sink, "SELECT count(*) FROM task_writes", "3\n");
  assert_query(sink,
               "SELECT status, started, ended, host, worker, attempts, used,"
               " generated FROM task",
               "ERROR|300|400|host-b|wb|2|{\"x\":1,\"y\":3}|"
               "{\"return\": 2}\n");
  mida__sink_close(sink);
}

/* A run's summary of its task in each of its forms (sqlite_summary.c): a run
 * that has not started (an end without its start) summarises nothing,
 * whether the task has a row or not; a started run updates the task's
 * row, or makes it when the scheduler's record has not come yet. */
static void test_run_summary_forms(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path, 0);
  run_recs t;
  make_run_recs(&t);
  mida__rec end = t.r[3]; /* run 1's end, without its start */
  end.f[MIDA_F_STARTED].present = false;
  put(sink, &end, 1);
  assert_query(sink, "SELECT count(*) FROM task", "0\n");
  put(sink, &t.r[0], 1); /* submitted */
  put(sink, &end, 1);
  assert_query(sink,
               "SELECT status, started, ended, worker, attempts FROM task",
               "SUBMITTED|~|~|~|~\n");
  put(sink, &t.r[2], 1); /* run 1's start */
  assert_query(
      sink,
      "SELECT status, started, ended, host, pid, worker, telemetry,"
      " attempts FROM task",
      "FINISHED|100|200|origin-host|777|wa|{\"cpu_thread_ns\": 7}|1\n");

  /* Another task, whose run comes before its scheduler's record, with
   * the worker's arguments in the same batch. */
  mida_id_t other;
  assert_int_equal(
      mida_id_parse("0190a4c2-0000-7000-8000-000000000002", &other), MIDA_OK);
  mida__rec worker[2];
  worker[0] = t.r[4];
  set_id(&worker[0], MIDA_F_TASK, &other);
  rec_init(&worker[1], MIDA_REC_TASK);
  set_id(&worker[1], MIDA_F_ID, &other);
  set_str(&worker[1], MIDA_F_USED, "{\"x\": 1}");
  put(sink, worker, 2);
  assert_query(sink,
               "SELECT status, started, ended, worker, attempts, used, seq"
               " IS NOT NULL FROM task WHERE id LIKE '%02'",
               "RUNNING|300|~|wb|1|{\"x\": 1}|1\n");
  mida__sink_close(sink);
}

/* The records of many new tasks and of runs of other tasks, as a Dask
 * scheduler's submissions and a worker's runs come; tasks[HELD_TASK]
 * and runs[HELD_RUN] (with their task) have rows already, from held. */
enum {
  STEP = 16, /* IMAGE_ROWS_PER_STEP, sqlite_int.h */
  MANY = 300,
  HELD_TASK = 4 * STEP,    /* the first row of a statement's */
  HELD_RUN = 2 * STEP + 8, /* within a statement's rows */
};
typedef struct many_rows {
  mida_id_t wf, tasks[MANY], run_tasks[MANY], runs[MANY];
  mida__rec recs[2 * MANY], held[2];
  char custom[MANY][24], telemetry[MANY][24]; /* the records' JSON */
} many_rows;

static void make_many_rows(many_rows *m) {
  m->wf = mida_id_new();
  for (int i = 0; i < MANY; i++) {
    m->tasks[i] = mida_id_new();
    m->run_tasks[i] = mida_id_new();
    m->runs[i] = mida_id_new();
  }
  for (int i = 0; i < MANY; i++) {
    mida__rec *r = &m->recs[i];
    rec_init(r, MIDA_REC_TASK);
    set_id(r, MIDA_F_ID, &m->tasks[i]);
    set_id(r, MIDA_F_WORKFLOW, &m->wf);
    set_str(r, MIDA_F_ACTIVITY, "inc");
    set_i64(r, MIDA_F_STATUS, MIDA_STATUS_SUBMITTED);
    set_i64(r, MIDA_F_SUBMITTED, 1000 + i);
    snprintf(m->custom[i], sizeof m->custom[i], "{\"b\": %d}", i);
    set_str(r, MIDA_F_CUSTOM, m->custom[i]);
    r = &m->recs[MANY + i];
    run_rec(r, &m->runs[i], &m->run_tasks[i], MIDA_STATUS_FINISHED, 100 + i,
            200 + i, "w");
    snprintf(m->telemetry[i], sizeof m->telemetry[i], "{\"cpu\": %d}", i);
    set_str(r, MIDA_F_TELEMETRY, m->telemetry[i]);
  }
  rec_init(&m->held[0], MIDA_REC_TASK);
  set_id(&m->held[0], MIDA_F_ID, &m->tasks[HELD_TASK]);
  set_str(&m->held[0], MIDA_F_ACTIVITY, "old");
  set_i64(&m->held[0], MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  set_str(&m->held[0], MIDA_F_CUSTOM, "{\"a\": 1}");
  run_rec(&m->held[1], &m->runs[HELD_RUN], &m->run_tasks[HELD_RUN],
          MIDA_STATUS_RUNNING, 5, 0, "old");
  set_str(&m->held[1], MIDA_F_TELEMETRY, "{\"x\": 1}");
}

/* The rows of store name after the held rows and the records of m in
 * batches of at most batch records; with counts, the statements of the
 * records' batches are counted into it. */
static char *many_rows_stored(void **state, const char *name,
                              const many_rows *m, size_t batch,
                              statement_counts *counts) {
  char path[256];
  mida__sink *sink = open_store(store_path(state, name, path, sizeof path), 0);
  put(sink, m->held, 2);
  if (counts != NULL)
    sqlite3_trace_v2(mida__sqlite_connection(sink), SQLITE_TRACE_STMT,
                     count_statement, counts);
  for (size_t at = 0; at < 2 * MANY; at += batch)
    put(sink, m->recs + at, 2 * MANY - at < batch ? 2 * MANY - at : batch);
  if (counts != NULL)
    sqlite3_trace_v2(mida__sqlite_connection(sink), 0, NULL, NULL);
  char *tasks = query_text(sink, canonical_task_sql, 0);
  char *rest = query_text(sink,
                          "SELECT id, attempts FROM task ORDER BY id;", 0);
  char *runs = query_text(sink, run_rows_sql, 0);
  size_t len = strlen(tasks) + strlen(rest) + strlen(runs) + 1;
  char *all = malloc(len);
  assert_non_null(all);
  snprintf(all, len, "%s%s%s", tasks, rest, runs);
  free(tasks);
  free(rest);
  free(runs);
  mida__sink_close(sink);
  return all;
}

/* A batch of many new task and run rows writes them STEP to an INSERT OR
 * IGNORE (sqlite.c, apply_group), and the rows come out as those of
 * batches small enough to be written one upsert each: a row the store
 * held at the start of a statement's rows (looked up first) or within
 * them (the INSERT leaves it, each row's upsert then merges it) is
 * merged, not lost, and each run is summarised into its task (from its
 * image's values, host and pid from the origin, where the INSERT made
 * its row: sqlite_summary.c, RUN_NEW_FROM). */
static void test_many_rows_stored_as_one_by_one(void **state) {
  many_rows *m = calloc(1, sizeof *m);
  assert_non_null(m);
  make_many_rows(m);
  statement_counts c = {0, 0, 0, 0, 0};
  char *many = many_rows_stored(state, "many.db", m, 2 * MANY, &c);
  char *one_by_one = many_rows_stored(state, "one.db", m, 20, NULL);
  assert_string_equal(many, one_by_one);
  /* Tasks: STEP rows a statement up to the held one, which is looked up
   * first (no INSERT); runs: the same, and the statement that met the
   * held run (then each row's upsert); none after either. */
  assert_int_equal(c.rows_inserts, HELD_TASK / STEP + HELD_RUN / STEP + 1);
  /* The held rows merged with the batch's records. */
  char want[256], id[MIDA_ID_STRLEN], wf[MIDA_ID_STRLEN];
  snprintf(want, sizeof want,
           "%s|%s|~|~|inc|RUNNING|1064|~|~|origin-host|777|~|~|~|~|~|"
           "a=1,b=64|~\n",
           mida_id_format(&m->tasks[HELD_TASK], id),
           mida_id_format(&m->wf, wf));
  assert_non_null(strstr(many, want));
  snprintf(want, sizeof want,
           "%s|~|~|~|~|FINISHED|~|5|240|origin-host|777|w|~|~|~|~|~|"
           "cpu=40,x=1\n",
           mida_id_format(&m->run_tasks[HELD_RUN], id));
  assert_non_null(strstr(many, want));
  free(many);
  free(one_by_one);
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_runs_summarised_in_any_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_runs_of_one_process_summarised_in_any_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_task_of_one_process_written_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_states, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_run_after_the_others_ended_reopens_its_task, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_run_summary_writes_arguments_and_result, setup, teardown),
      cmocka_unit_test_setup_teardown(test_run_summary_forms, setup, teardown),
      cmocka_unit_test_setup_teardown(test_many_rows_stored_as_one_by_one,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * sqlite_snapshot_test.c -- unit tests of the snapshot read (sink.h,
 * mida__sink_snapshot_begin) on the SQLite store: its queries read one
 * state of the store whatever a writer commits meanwhile, each still under
 * the query guard (read-only, the time bound, which the snapshot as a
 * whole keeps too), and its end lets the reader see the writes again.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/sink.h"
#include "sink/store_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sink/store_helpers.h"

/* A store with one task, written by a connection of its own (the writer,
 * closed), and a reader on it. */
static mida__sink *store_with_a_task(const fixture *fx) {
  mida__sink_close(open_store(fx->path, 0)); /* the schema, WAL mode */
  exec_on(fx->path, "INSERT INTO task(id, status) VALUES('t1', 'RUNNING')");
  return open_store(fx->path, MIDA_SINK_READONLY);
}

static void test_snapshot_reads_one_state(void **state) {
  fixture *fx = *state;
  mida__sink *reader = store_with_a_task(fx);
  assert_int_equal(mida__sink_snapshot_begin(reader), MIDA_OK);
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  /* Committed by another connection while the snapshot is open. */
  exec_on(fx->path, "INSERT INTO task(id, status) VALUES('t2', 'RUNNING');"
                    "INSERT INTO task_data(task_id, data_id, role)"
                    " VALUES('t2', 'd2', 'used')");
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  assert_query(reader, "SELECT count(*) FROM task_data", "0\n");
  mida__sink_snapshot_end(reader);
  assert_query(reader, "SELECT count(*) FROM task", "2\n");
  assert_query(reader, "SELECT count(*) FROM task_data", "1\n");
  mida__sink_close(reader);
}

/* Without a snapshot, each query reads the store as it is then: what
 * the export's parts did before. */
static void test_without_snapshot_each_query_reads_anew(void **state) {
  fixture *fx = *state;
  mida__sink *reader = store_with_a_task(fx);
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  exec_on(fx->path, "INSERT INTO task(id, status) VALUES('t2', 'RUNNING')");
  assert_query(reader, "SELECT count(*) FROM task", "2\n");
  mida__sink_close(reader);
}

static int ignore_row(void *ctx, int ncols, const char *const *names,
                      const char *const *values) {
  (void)ctx;
  (void)ncols;
  (void)names;
  (void)values;
  return 0;
}

/* The guard stays: a statement that would end the snapshot's transaction
 * or write is refused inside it as outside, and the snapshot holds. */
static void test_snapshot_keeps_the_guard(void **state) {
  fixture *fx = *state;
  mida__sink *reader = store_with_a_task(fx);
  assert_int_equal(mida__sink_snapshot_begin(reader), MIDA_OK);
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  const char *refused[] = {"COMMIT", "ROLLBACK", "BEGIN", "SAVEPOINT x",
                           "DELETE FROM task",
                           "INSERT INTO task(id) VALUES('x')"};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
    assert_int_equal(
        mida__sink_query(reader, refused[i], NULL, 0, ignore_row, NULL),
        MIDA_EREADONLY);
  exec_on(fx->path, "INSERT INTO task(id, status) VALUES('t2', 'RUNNING')");
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  /* One snapshot at a time; and none on a writer's connection. */
  assert_int_equal(mida__sink_snapshot_begin(reader), MIDA_EINVAL);
  mida__sink_snapshot_end(reader);
  mida__sink *writer = open_store(fx->path, 0);
  assert_int_equal(mida__sink_snapshot_begin(writer), MIDA_EINVAL);
  mida__sink_close(writer);
  mida__sink_close(reader);
}

/* The time limit in force at the begin bounds the snapshot as a whole:
 * past it, its next query fails as one past its own limit, and the
 * snapshot's end lets the reader query again. */
static void test_snapshot_is_held_within_the_time_limit(void **state) {
  fixture *fx = *state;
  mida__sink *reader = store_with_a_task(fx);
  mida__query_limits lim = reader->limits;
  lim.timeout_ms = 50;
  mida__sink_set_limits(reader, &lim);
  assert_int_equal(mida__sink_snapshot_begin(reader), MIDA_OK);
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  usleep(100 * 1000);
  assert_int_equal(mida__sink_query(reader, "SELECT count(*) FROM task", NULL,
                                    0, ignore_row, NULL),
                   MIDA_ETIMEDOUT);
  assert_non_null(strstr(mida__sink_errmsg(reader), "time limit of 50 ms"));
  /* The statement's own limit is as it was. */
  assert_int_equal(reader->limits.timeout_ms, 50);
  mida__sink_snapshot_end(reader);
  assert_query(reader, "SELECT count(*) FROM task", "1\n");
  mida__sink_close(reader);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_snapshot_reads_one_state, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_without_snapshot_each_query_reads_anew, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshot_keeps_the_guard, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_snapshot_is_held_within_the_time_limit, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

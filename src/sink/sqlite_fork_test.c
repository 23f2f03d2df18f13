/*
 * sqlite_fork_test.c -- the store's connections across fork()
 * (sqlite_fork.h): a child that opens its own while its parent's is open
 * keeps every record after the parent has closed (its WAL is not removed
 * under it); a child forked while its parent's connection was inside a
 * write transaction opens none, and says why.
 */
#include "core/record.h"
#include "sink/sink.h"
#include "sink/store_fixture.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const mida__origin origin = {"fork-host", 4242};

static mida__sink *open_store(const char *path) {
  char err[512] = "";
  mida__sink *sink = NULL;
  if (mida__sink_open(path, 0, &sink, err, sizeof err) != MIDA_OK)
    return NULL;
  return sink;
}

/* Puts a workflow named name; MIDA_OK or the sink's error. */
static int put_workflow(mida__sink *sink, const char *name) {
  mida__rec r;
  memset(&r, 0, sizeof r);
  r.type = MIDA_REC_WORKFLOW;
  mida_id_t id = mida_id_new();
  mida__rec_set_id(&r, MIDA_F_ID, &id);
  mida__rec_set_str(&r, MIDA_F_NAME, name, strlen(name));
  return mida__sink_put_batch(sink, &r, 1, &origin);
}

/* The workflows in the store at path, read by a connection of SQLite's
 * own (after every mida connection has closed). */
static int workflows(const char *path) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int n = -1;
  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "SELECT count(*) FROM workflow", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = sqlite3_column_int(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

static void wait_byte(int fd) {
  char b;
  while (read(fd, &b, 1) < 0)
    ;
}

static void send_byte(int fd) {
  while (write(fd, "x", 1) < 0)
    ;
}

/* The child's part of the first test: opens its own connection, says so,
 * waits for its parent to close, then records 100 more. Exit 0 if all
 * went in. */
static int child_records_after_the_parent(const char *path, int ready,
                                          int closed) {
  mida__sink *own = open_store(path);
  if (own == NULL || put_workflow(own, "child-0") != MIDA_OK)
    return 1;
  send_byte(ready);
  wait_byte(closed);
  for (int i = 1; i <= 100; i++) {
    char name[32];
    snprintf(name, sizeof name, "child-%d", i);
    if (put_workflow(own, name) != MIDA_OK)
      return 2;
  }
  mida__sink_close(own);
  return 0;
}

static void
test_a_child_keeps_its_records_after_its_parent_closed(void **state) {
  fixture *fx = *state;
  mida__sink *parent = open_store(fx->path);
  assert_non_null(parent);
  assert_int_equal(put_workflow(parent, "parent"), MIDA_OK);
  int ready[2], closed[2];
  assert_int_equal(pipe(ready), 0);
  assert_int_equal(pipe(closed), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0)
    _exit(child_records_after_the_parent(fx->path, ready[1], closed[0]));
  wait_byte(ready[0]);
  /* The parent's last connection: before sqlite_fork.h it found no other
   * user of the store, checkpointed and removed the WAL the child was
   * writing into. */
  mida__sink_close(parent);
  send_byte(closed[1]);
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(workflows(fx->path), 102);
  close(ready[0]);
  close(ready[1]);
  close(closed[0]);
  close(closed[1]);
}

static void
test_a_child_forked_inside_a_write_opens_no_connection(void **state) {
  fixture *fx = *state;
  mida__sink *parent = open_store(fx->path);
  assert_non_null(parent);
  mida__sink_defer(parent, 1);
  assert_int_equal(put_workflow(parent, "deferred"), MIDA_OK);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    char err[512] = "";
    mida__sink *own = NULL;
    int rc = mida__sink_open(fx->path, 0, &own, err, sizeof err);
    _exit(rc == MIDA_EBUSY && own == NULL &&
                  strstr(err, "forked while its parent wrote") != NULL
              ? 0
              : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  /* The parent's transaction is untouched by the child. */
  assert_int_equal(mida__sink_sync(parent), MIDA_OK);
  mida__sink_close(parent);
  assert_int_equal(workflows(fx->path), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_a_child_keeps_its_records_after_its_parent_closed, setup,
          teardown),
      cmocka_unit_test_setup_teardown(
          test_a_child_forked_inside_a_write_opens_no_connection, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

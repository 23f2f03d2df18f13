/*
 * store_fixture.h -- the fixture of the SQLite store's unit tests
 * (sqlite_test.c, sqlite_checkpoint_test.c): each test gets a temporary
 * directory of its own, with the path of a store file in it, removed at
 * the end; and the count of the tasks in a store as a plain SQLite
 * connection reads it. Static functions: included by one test program
 * each.
 */
#ifndef MIDA_SINK_STORE_FIXTURE_H
#define MIDA_SINK_STORE_FIXTURE_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fixture {
  char dir[64];   /* temporary directory of the test */
  char path[128]; /* dir/t.db */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return -1;
  snprintf(fx->dir, sizeof fx->dir, "/tmp/mida_store_test.XXXXXX");
  if (mkdtemp(fx->dir) == NULL) {
    free(fx);
    return -1;
  }
  snprintf(fx->path, sizeof fx->path, "%s/t.db", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
  int rc = system(cmd);
  free(fx);
  return rc == 0 ? 0 : -1;
}

/* The rows of the task table of the store at path, read by a read-only
 * connection of SQLite's own (through the VFS named vfs, or the default
 * one: never mida's shims), or -1 when it cannot be read. */
static inline long tasks_read_plainly(const char *path, const char *vfs) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  long n = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, vfs) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "SELECT count(*) FROM task", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = (long)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

#endif /* MIDA_SINK_STORE_FIXTURE_H */

/*
 * store_fixture.h -- the fixture of the SQLite store's unit tests
 * (sqlite_test.c, sqlite_checkpoint_test.c): each test gets a temporary
 * directory of its own, with the path of a store file in it, removed at
 * the end. Static functions: included by one test program each.
 */
#ifndef MIDA_SINK_STORE_FIXTURE_H
#define MIDA_SINK_STORE_FIXTURE_H

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

#endif /* MIDA_SINK_STORE_FIXTURE_H */

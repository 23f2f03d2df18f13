/*
 * store_down_test.c -- a store that cannot take records: the session opens
 * all the same (with a warning), a flush waits for its whole timeout while
 * the store keeps failing (it may come back before the deadline), the
 * shipper ships as soon as the store can be opened, and what a session
 * left behind is shipped by the same process's next session.
 *
 * The store is an SQLite file in a directory that does not exist yet: it
 * cannot be opened until the test creates the directory.
 */
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#define TASKS 200

typedef struct fixture {
  char dir[256];   /* scratch directory */
  char sub[300];   /* the store's directory, missing at first */
  char spool[300]; /* the sessions' spool */
  char db[320];    /* the store */
  char url[340];   /* sqlite://db */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "storedown");
  snprintf(fx->sub, sizeof fx->sub, "%s/later", fx->dir);
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->sub);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  test_rmtree(fx->dir);
  free(fx);
  return 0;
}

static mida_session_t *open_session(fixture *fx, char *warning, size_t len) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = fx->url;
  cfg.spool = fx->spool;
  cfg.ship_interval_ms = 5;
  cfg.sample_hz = 0;
  mida_session_t *s = NULL;
  int rc = mida_open(&cfg, &s, warning, len);
  if (rc != MIDA_OK)
    fail_msg("mida_open: %s", warning);
  return s;
}

static void record_tasks(mida_session_t *s, int n) {
  for (int i = 0; i < n; i++) {
    mida_task_info_t ti = {.activity = "down"};
    mida_id_t t;
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
    assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                     MIDA_OK);
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A flush while the store keeps failing waits for its deadline and then
 * says why; the next session of the same process ships what was left. */
static void test_flush_waits_and_next_session_ships(void **state) {
  fixture *fx = *state;
  char warning[512] = "";
  mida_session_t *s = open_session(fx, warning, sizeof warning);
  assert_non_null(strstr(warning, "the store cannot be opened now"));
  record_tasks(s, TASKS);
  double t0 = now_s();
  int rc = mida_flush(s, 1500);
  double waited = now_s() - t0;
  assert_int_equal(rc, MIDA_ESTORE);
  assert_true(waited >= 1.4);
  assert_non_null(strstr(mida_errmsg(s), fx->db));
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.shipped, 0);
  assert_true(st.ship_errors >= 3);
  assert_int_equal(mida_close(s), MIDA_ESTORE);

  assert_int_equal(mkdir(fx->sub, 0700), 0);
  s = open_session(fx, warning, sizeof warning);
  assert_string_equal(warning, "");
  assert_int_equal(mida_flush(s, 10000), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task WHERE "
                                        "status = 'FINISHED'"),
                   TASKS);
}

/* A flush that is waiting while the store fails succeeds as soon as the
 * store can be opened, before its deadline. */
static void test_flush_succeeds_when_the_store_comes_back(void **state) {
  fixture *fx = *state;
  char warning[512] = "";
  mida_session_t *s = open_session(fx, warning, sizeof warning);
  record_tasks(s, TASKS);
  assert_int_equal(mida_flush(s, 100), MIDA_ESTORE);
  assert_int_equal(mkdir(fx->sub, 0700), 0);
  double t0 = now_s();
  assert_int_equal(mida_flush(s, 20000), MIDA_OK);
  assert_true(now_s() - t0 < 5.0); /* the backoff is at most a second */
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task"), TASKS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_flush_waits_and_next_session_ships,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_flush_succeeds_when_the_store_comes_back, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

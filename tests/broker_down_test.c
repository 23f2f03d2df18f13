/*
 * broker_down_test.c -- a session whose broker cannot be reached when it
 * opens: mida_open succeeds, capture goes on into the journal, flush says
 * why nothing is shipped (MIDA_EUNREACHABLE), close keeps the journal, and
 * what it kept is all there (a later session recovers it into a store).
 * A malformed broker URL is still an immediate error. Runs under ASan and
 * TSan with the rest of the C tests (the shipper opens the sink on its own
 * thread here). The broker is redis://127.0.0.1:1: nothing listens there.
 */
#include "mida.h"
#include "mida_config.h"
#include "testutil.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#define TASKS 100

typedef struct fixture {
  char dir[256];   /* scratch directory */
  char spool[300]; /* the sessions' spool */
  char db[300];    /* the SQLite store of the recovering session */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "brokerdown");
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  test_rmtree(fx->dir);
  free(fx);
  return 0;
}

/* Journal segments (*.mj) in dir. */
static int count_segments(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  if (d == NULL)
    return 0;
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
    size_t len = strlen(e->d_name);
    if (len > 3 && strcmp(e->d_name + len - 3, ".mj") == 0)
      n++;
  }
  closedir(d);
  return n;
}

static int open_session(fixture *fx, const char *store, mida_session_t **s,
                        char *err, size_t errlen) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = store;
  cfg.spool = fx->spool;
  cfg.ship_interval_ms = 5;
  cfg.sample_hz = 0;
  return mida_open(&cfg, s, err, errlen);
}

static void test_unreachable_broker_does_not_fail_the_session(void **state) {
  fixture *fx = *state;
#if !MIDA_HAVE_HIREDIS
  skip();
#endif
  mida_session_t *s = NULL;
  char err[512] = "";
  int rc = open_session(fx, "redis://127.0.0.1:1/x", &s, err, sizeof err);
  if (rc != MIDA_OK)
    fprintf(stderr, "mida_open: %s\n", err);
  assert_int_equal(rc, MIDA_OK);

  mida_workflow_info_t wi = {.name = "offline"};
  mida_id_t wf;
  assert_int_equal(mida_workflow_begin(s, &wi, &wf), MIDA_OK);
  for (int i = 0; i < TASKS; i++) {
    mida_task_info_t ti = {.activity = "a", .workflow = &wf};
    mida_id_t t;
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
    assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                     MIDA_OK);
  }
  assert_int_equal(mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED), MIDA_OK);

  /* The shipper keeps trying to connect; flush says why it cannot. */
  rc = mida_flush(s, 1000);
  assert_int_equal(rc, MIDA_EUNREACHABLE);
  assert_non_null(strstr(mida_errmsg(s), "cannot connect to redis://"));
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.shipped, 0);
  assert_true(st.ship_errors >= 3);
  assert_true(st.backlog_bytes > 0);
  assert_int_equal(mida_close(s), MIDA_EUNREACHABLE);
  assert_int_equal(count_segments(fx->spool), 1);

  /* Nothing was lost: a session of a store that opens, with the same
   * spool, recovers the journal left behind. */
  char url[320];
  snprintf(url, sizeof url, "sqlite://%s", fx->db);
  assert_int_equal(open_session(fx, url, &s, err, sizeof err), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task WHERE "
                                        "status = 'FINISHED'"),
                   TASKS);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM workflow WHERE "
                                        "status = 'FINISHED'"),
                   1);
  assert_int_equal(count_segments(fx->spool), 0);
}

static void test_malformed_broker_url_is_an_error(void **state) {
  fixture *fx = *state;
#if !MIDA_HAVE_HIREDIS
  skip();
#endif
  mida_session_t *s = NULL;
  char err[512] = "";
  int rc =
      open_session(fx, "redis://127.0.0.1:notaport/x", &s, err, sizeof err);
  assert_int_equal(rc, MIDA_EURL);
  assert_null(s);
  assert_non_null(strstr(err, "malformed Redis URL"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_unreachable_broker_does_not_fail_the_session, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_broker_url_is_an_error,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

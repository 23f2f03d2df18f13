/*
 * fault_injection_test.c -- out of memory at every allocation of a
 * session's life, in turn (SQLite's faultsim is the model): for n = 0, 1,
 * 2, ... the n-th allocation made through mida__alloc_fail_after() fails
 * during open, capture, flush and close, until a whole cycle runs without
 * reaching it. Each time: no crash; a failed mida_open says why; a session
 * that opened ships every record it took (the shipper retries what failed);
 * and, under AddressSanitizer, nothing leaks.
 */
#include "core/alloc.h"
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define TASKS 20

typedef struct fixture {
  char dir[256];   /* scratch directory */
  char spool[300]; /* the sessions' spool */
  char db[300];    /* the store */
  char url[320];   /* sqlite://db */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "faults");
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  snprintf(fx->db, sizeof fx->db, "%s/m.db", fx->dir);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  mida__alloc_fail_after(-1);
  test_rmtree(fx->dir);
  free(fx);
  return 0;
}

/* One session's life: open, TASKS tasks with data and metrics, flush,
 * close. Returns the tasks recorded (0 if the open failed). */
static long session_cycle(fixture *fx, long n) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = fx->url;
  cfg.spool = fx->spool;
  cfg.journal_bytes = 64 * 1024;
  cfg.ship_interval_ms = 2;
  cfg.sample_hz = 0;
  mida_session_t *s = NULL;
  char err[512] = "";
  int rc = mida_open(&cfg, &s, err, sizeof err);
  if (rc != MIDA_OK) {
    if (rc != MIDA_ENOMEM || err[0] == '\0')
      fail_msg("allocation %ld: mida_open: %s (%s)", n, mida_strerror(rc), err);
    assert_null(s);
    return 0;
  }
  mida_workflow_info_t wi = {.name = "faults", .campaign = "faultsim"};
  mida_id_t wf;
  assert_int_equal(mida_workflow_begin(s, &wi, &wf), MIDA_OK);
  for (int i = 0; i < TASKS; i++) {
    mida_task_info_t ti = {
        .activity = "f", .workflow = &wf, .used = "{\"x\":1}"};
    mida_id_t t;
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
    mida_data_info_t d = {.uri = "file:///faults/out", .size = 1};
    assert_int_equal(mida_data(s, &t, MIDA_GENERATED, &d), MIDA_OK);
    assert_int_equal(mida_metric(s, &t, "loss", i, 0, 0.5), MIDA_OK);
    assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{}", NULL),
                     MIDA_OK);
  }
  assert_int_equal(mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED), MIDA_OK);
  /* A failure in the shipper (opening the store, a batch) is retried. */
  rc = mida_flush(s, 20000);
  if (rc != MIDA_OK)
    fail_msg("allocation %ld: flush: %s", n, mida_errmsg(s));
  assert_int_equal(mida_close(s), MIDA_OK);
  return TASKS;
}

static void test_every_allocation_fails_in_turn(void **state) {
  fixture *fx = *state;
  long expected = 0, cycles = 0;
  for (long n = 0;; n++) {
    uint64_t before = mida__alloc_count();
    mida__alloc_fail_after(n);
    expected += session_cycle(fx, n);
    mida__alloc_fail_after(-1);
    cycles++;
    uint64_t used = mida__alloc_count() - before;
    if (used <= (uint64_t)n)
      break; /* the n-th allocation was never reached: all covered */
    if (n > 100000)
      fail_msg("no end to the allocations of one session");
  }
  fprintf(stderr, "%ld cycles, each with one allocation failed\n", cycles);
  assert_true(cycles > 10);
  /* Whatever a failed cycle left in the spool is shipped by the next. */
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task WHERE "
                                        "status = 'FINISHED'"),
                   expected);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM metric"),
                   expected);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_every_allocation_fails_in_turn,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * store_replaced_test.c -- the SQLite store deleted (rm of the database,
 * its -wal and -shm) or replaced (mv of another store over it) while a
 * producer records: the shipper notices that the file it commits to is no
 * longer the file at the path, keeps the batch, says so (an error, and the
 * counter store_replaced), opens the path afresh and ships there. Every
 * task begun after the file was removed is in the store at the path.
 */
#include "mida.h"
#include "testutil.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

typedef struct fixture {
  char dir[256];   /* scratch directory */
  char spool[300]; /* the producer's spool */
  char db[300];    /* the store */
  char url[320];   /* sqlite://db */
  char other[300]; /* another store, moved over db */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "replaced");
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  snprintf(fx->db, sizeof fx->db, "%s/m.db", fx->dir);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);
  snprintf(fx->other, sizeof fx->other, "%s/other.db", fx->dir);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  test_rmtree(fx->dir);
  free(fx);
  return 0;
}

static mida_session_t *open_at(const char *url, const char *spool) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.spool = spool;
  cfg.ship_interval_ms = 2;
  cfg.sample_hz = 0;
  cfg.telemetry_task = 0;
  mida_session_t *s = NULL;
  char err[512] = "";
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK)
    fail_msg("mida_open: %s", err);
  return s;
}

/* A producer thread: tasks numbered from 0 until told to stop. */
typedef struct producer {
  mida_session_t *s;
  atomic_long begun; /* tasks begun so far */
  atomic_int stop;
  int failures;
} producer;

static void *produce(void *arg) {
  producer *p = arg;
  char used[64];
  for (long i = 0; !atomic_load(&p->stop); i++) {
    snprintf(used, sizeof used, "{\"i\":%ld}", i);
    mida_task_info_t ti = {.activity = "numbered", .used = used};
    mida_id_t t;
    if (mida_task_begin(p->s, &ti, &t) != MIDA_OK ||
        mida_task_end(p->s, &t, MIDA_STATUS_FINISHED, NULL, NULL) != MIDA_OK)
      p->failures++;
    atomic_store(&p->begun, i + 1);
    if (i % 16 == 0) {
      struct timespec ts = {0, 200000}; /* a steady stream, many batches */
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void remove_store(fixture *fx) {
  char path[400];
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s%s", fx->db, suffix[i]);
    unlink(path);
  }
}

static void replace_store(fixture *fx) {
  assert_int_equal(rename(fx->other, fx->db), 0);
}

/* Runs a producer, does `change` to the store midway, and checks that
 * every task begun after it is in the store at the path. */
static void run_with_change(fixture *fx, void (*change)(fixture *)) {
  producer p = {.s = open_at(fx->url, fx->spool)};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
  sleep_ms(300);
  change(fx);
  long after = atomic_load(&p.begun);
  sleep_ms(300);
  atomic_store(&p.stop, 1);
  pthread_join(th, NULL);
  long total = atomic_load(&p.begun);
  assert_int_equal(p.failures, 0);
  assert_true(total > after);
  assert_int_equal(mida_flush(p.s, 20000), MIDA_OK);
  mida_stats_t st;
  mida_stats_get(p.s, &st);
  assert_true(st.ship_errors >= 1); /* the batch that found out */
  assert_int_equal(mida_close(p.s), MIDA_OK);

  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM task WHERE activity = 'numbered' AND "
           "status = 'FINISHED' AND json_extract(used, '$.i') >= %ld",
           after);
  assert_int_equal(test_sql_int(fx->db, sql), total - after);
  assert_true(test_sql_int(fx->db, "SELECT max(value) FROM counter WHERE "
                                   "name = 'store_replaced'") >= 1);
}

static void test_store_deleted_under_a_producer(void **state) {
  fixture *fx = *state;
  run_with_change(fx, remove_store);
}

static void test_store_replaced_under_a_producer(void **state) {
  fixture *fx = *state;
  char url[340];
  snprintf(url, sizeof url, "sqlite://%s", fx->other);
  char spool[320];
  snprintf(spool, sizeof spool, "%s/other-spool", fx->dir);
  mida_session_t *s = open_at(url, spool);
  mida_task_info_t ti = {.activity = "other"};
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  run_with_change(fx, replace_store);
  /* The store at the path is the one moved there, with both. */
  assert_int_equal(test_sql_int(fx->db,
                                "SELECT count(*) FROM task WHERE activity = "
                                "'other'"),
                   1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_store_deleted_under_a_producer,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_replaced_under_a_producer,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

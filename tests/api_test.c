/*
 * api_test.c -- the public C API end to end against a real SQLite store:
 * what goes in comes out merged, bad input is refused with a clear error,
 * the journal's policies behave, and the hot path does not allocate.
 */
#include "core/alloc.h"
#include "core/thread_task.h"
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
  char dir[256]; /* scratch directory */
  char db[300];  /* store file */
  char url[320]; /* sqlite:// URL of the store */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "api");
  snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->dir);
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

static mida_session_t *open_store(fixture *fx, size_t ring,
                                  mida_full_policy_t full, unsigned ship_ms) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = fx->url;
  cfg.spool = NULL;
  cfg.campaign = "api-test";
  if (ring)
    cfg.journal_bytes = ring;
  cfg.full = full;
  if (ship_ms)
    cfg.ship_interval_ms = ship_ms;
  mida_session_t *s = NULL;
  char err[256];
  int rc = mida_open(&cfg, &s, err, sizeof err);
  if (rc != MIDA_OK)
    fprintf(stderr, "mida_open: %s\n", err);
  assert_int_equal(rc, MIDA_OK);
  return s;
}

static long long q(fixture *fx, const char *sql) {
  return test_sql_int(fx->db, sql);
}

static void test_records_reach_the_store_merged(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_workflow_info_t wi = {.name = "sim", .metadata = "{\"v\":1}"};
  mida_id_t wf, t1, t2;
  assert_int_equal(mida_workflow_begin(s, &wi, &wf), MIDA_OK);
  mida_task_info_t ti = {
      .activity = "step", .workflow = &wf, .used = "{\"lr\":0.5,\"n\":3}"};
  assert_int_equal(mida_task_begin(s, &ti, &t1), MIDA_OK);
  mida_data_info_t out = {.uri = "file:///tmp/out.h5",
                          .digest = "sha256:ab",
                          .size = 1024,
                          .name = "out"};
  assert_int_equal(mida_data(s, &t1, MIDA_GENERATED, &out), MIDA_OK);
  for (int step = 0; step < 3; step++)
    assert_int_equal(mida_metric(s, &t1, "loss", step, 0, 1.0 / (step + 1)),
                     MIDA_OK);
  assert_int_equal(
      mida_task_end(s, &t1, MIDA_STATUS_FINISHED, "{\"loss\":0.33}", NULL),
      MIDA_OK);
  assert_int_equal(mida_task_annotate(s, &t1, "{\"late\":true}", NULL),
                   MIDA_OK);
  ti.used = NULL;
  ti.activity = "analyse";
  assert_int_equal(mida_task_begin(s, &ti, &t2), MIDA_OK);
  assert_int_equal(mida_data(s, &t2, MIDA_USED, &out), MIDA_OK);
  assert_int_equal(mida_task_dep(s, &t2, &t1), MIDA_OK);
  assert_int_equal(mida_task_end(s, &t2, MIDA_STATUS_ERROR, NULL, "boom"),
                   MIDA_OK);
  assert_int_equal(mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);

  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 2);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE activity='step' "
                         "AND status='FINISHED' AND used->>'lr' = 0.5 AND "
                         "generated->>'loss' = 0.33 AND "
                         "generated->>'late' = 1 AND ended >= started"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE status='ERROR' "
                         "AND error='boom'"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM metric WHERE key='loss'"), 3);
  assert_int_equal(q(fx, "SELECT count(*) FROM data WHERE id='sha256:ab' "
                         "AND size=1024 AND uri='file:///tmp/out.h5'"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM task_data"), 2);
  assert_int_equal(q(fx, "SELECT count(*) FROM task_dep"), 1);
  assert_int_equal(q(fx, "SELECT count(*) FROM workflow WHERE name='sim' "
                         "AND status='FINISHED' AND ended >= started"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM campaign c JOIN workflow w "
                         "ON w.campaign_id = c.id WHERE c.name='api-test'"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM task t JOIN workflow w ON "
                         "t.workflow_id = w.id AND t.campaign_id = "
                         "w.campaign_id"),
                   2);
}

/* The files a thread opens belong to the tasks it runs (the preload asks
 * mida__thread_task_current): a task that begins RUNNING is open on the
 * thread until its end; one that begins SUBMITTED runs elsewhere (a Dask
 * scheduler submits the keys that workers run) and is never open here. */
static void test_only_a_running_task_is_the_threads(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_task_info_t ti = {.activity = "queued", .status = MIDA_STATUS_SUBMITTED};
  mida_id_t queued, running, cur;
  assert_int_equal(mida_task_begin(s, &ti, &queued), MIDA_OK);
  assert_int_equal(mida__thread_task_current(&cur), 0);
  ti.status = MIDA_STATUS_RUNNING;
  assert_int_equal(mida_task_begin(s, &ti, &running), MIDA_OK);
  assert_int_equal(mida__thread_task_current(&cur), 1);
  assert_memory_equal(&cur, &running, sizeof cur);
  assert_int_equal(mida_task_end(s, &running, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida__thread_task_current(&cur), 0);
  assert_int_equal(mida_close(s), MIDA_OK);
}

/* A task run twice through mida_task_run: both runs are kept, and the
 * task's row shows the second (its start, end, worker) and two attempts. */
static void test_runs_of_a_task(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_task_info_t ti = {.activity = "step", .status = MIDA_STATUS_SUBMITTED};
  mida_id_t t, run[2] = {mida_id_new(), mida_id_new()}, nil = {{0}};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  for (int i = 0; i < 2; i++) {
    mida_task_run_t r = {.task = &t,
                         .status = MIDA_STATUS_RUNNING,
                         .started_ns = 1000 * (i + 1),
                         .worker = i ? "w2" : "w1"};
    assert_int_equal(mida_task_run(s, &run[i], &r), MIDA_OK);
    r.status = i ? MIDA_STATUS_FINISHED : MIDA_STATUS_ERROR;
    r.ended_ns = 1000 * (i + 1) + 500;
    r.error = i ? NULL : "MemoryError: lost";
    r.telemetry = "{\"cpu_thread_ns\":5}";
    assert_int_equal(mida_task_run(s, &run[i], &r), MIDA_OK);
  }
  mida_task_run_t bad = {.task = &nil};
  assert_int_equal(mida_task_run(s, &run[0], &bad), MIDA_EINVAL);
  bad.task = &t;
  bad.telemetry = "[1]";
  assert_int_equal(mida_task_run(s, &run[0], &bad), MIDA_EJSON);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE status = 'FINISHED'"
                         " AND started = 2000 AND ended = 2500 AND"
                         " worker = 'w2' AND attempts = 2"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM task_run WHERE status ="
                         " 'ERROR' AND error = 'MemoryError: lost' AND"
                         " telemetry->>'cpu_thread_ns' = 5 AND pid > 0"),
                   1);
}

static void test_malformed_json_is_refused(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_id_t t;
  mida_task_info_t ti = {.activity = "x", .used = "{\"a\":"};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_EJSON);
  assert_non_null(strstr(mida_errmsg(s), "used"));
  ti.used = "[1,2]"; /* valid JSON, but not an object */
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_EJSON);
  ti.used = NULL;
  ti.custom = "{'single':1}";
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_EJSON);
  ti.custom = NULL;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(
      mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"x\":nan}", NULL),
      MIDA_EJSON);
  mida_data_info_t d = {.uri = "x", .size = -1, .metadata = "{"};
  assert_int_equal(mida_data(s, &t, MIDA_USED, &d), MIDA_EJSON);
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  /* Only the valid task went in, and it is complete. */
  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 1);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE status='FINISHED' "
                         "AND generated IS NULL"),
                   1);
  assert_int_equal(q(fx, "SELECT count(*) FROM data"), 0);
}

static void test_invalid_arguments_are_refused(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_id_t t, nil = {{0}};
  mida_task_info_t ti = {.activity = "x"};
  assert_int_equal(mida_task_begin(s, NULL, &t), MIDA_EINVAL);
  assert_int_equal(mida_task_begin(NULL, &ti, &t), MIDA_EINVAL);
  assert_int_equal(mida_task_end(s, &nil, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_EINVAL);
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_task_end(s, &t, (mida_status_t)42, NULL, NULL),
                   MIDA_EINVAL);
  mida_data_info_t d = {.uri = NULL};
  assert_int_equal(mida_data(s, &t, MIDA_USED, &d), MIDA_EINVAL);
  d.uri = "x";
  assert_int_equal(mida_data(s, &t, (mida_role_t)7, &d), MIDA_EINVAL);
  assert_int_equal(mida_metric(s, &t, "", 0, 0, 1.0), MIDA_EINVAL);
  assert_int_equal(mida_task_dep(s, &t, &nil), MIDA_EINVAL);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_string_equal(mida_strerror(MIDA_EJSON),
                      "malformed JSON: a JSON object was expected");
  assert_string_equal(mida_strerror(12345), "unknown error");
}

/* A store that cannot be opened does not stop the program: the session
 * opens with a warning and keeps the records in its journal; strict mode
 * (MIDA_STRICT=1) makes it an error. A malformed configuration is an
 * error either way. */
static void test_store_that_cannot_be_opened_is_a_warning(void **state) {
  fixture *fx = *state;
  mida_config_t cfg;
  mida_config_init(&cfg);
  char err[512] = "";
  mida_session_t *s = NULL;
  char spool[300];
  snprintf(spool, sizeof spool, "%s/spool", fx->dir);
  cfg.store = "sqlite:///nonexistent-dir-for-mida/x/store.db";
  cfg.spool = spool;
  cfg.sample_hz = 0;
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_OK);
  assert_non_null(strstr(err, "the store cannot be opened now"));
  mida_id_t t;
  mida_task_info_t ti = {.activity = "kept"};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_ESTORE);

  cfg.strict = 1;
  s = (mida_session_t *)&cfg; /* must be reset to NULL */
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_ESTORE);
  assert_null(s);
  assert_non_null(strstr(err, "nonexistent-dir-for-mida"));
  cfg.strict = 0;
  cfg.store = "gopher://example/x";
  err[0] = '\0';
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_EURL);
  assert_non_null(strstr(err, "gopher"));
  cfg.store = "sqlite:///tmp/mida-api-ok.db";
  cfg.workflow = "not-an-id";
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_EINVAL);
  assert_non_null(strstr(err, "MIDA_WORKFLOW"));
}

static void test_disabled_session_records_nothing(void **state) {
  fixture *fx = *state;
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = fx->url;
  cfg.disabled = 1;
  mida_session_t *s = NULL;
  assert_int_equal(mida_open(&cfg, &s, NULL, 0), MIDA_OK);
  mida_task_info_t ti = {.activity = "x"};
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_false(mida_id_is_nil(&t));
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  struct stat st;
  assert_int_not_equal(stat(fx->db, &st), 0);
}

static void test_capture_makes_no_allocation(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_task_info_t ti = {.activity = "noop", .used = "{\"x\":1}"};
  mida_id_t t;
  for (int i = 0; i < 100; i++) { /* warm up */
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
    assert_int_equal(
        mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"y\":2}", NULL), MIDA_OK);
  }
  uint64_t before = mida__alloc_count_thread();
  for (int i = 0; i < 10000; i++) {
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
    assert_int_equal(
        mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"y\":2}", NULL), MIDA_OK);
    assert_int_equal(mida_metric(s, &t, "m", i, 0, i), MIDA_OK);
  }
  assert_int_equal(mida__alloc_count_thread(), before);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 10100);
}

static void test_drop_policy_counts_what_it_drops(void **state) {
  fixture *fx = *state;
  /* The telemetry sampler's records would be dropped (and counted) too. */
  setenv("MIDA_SAMPLE_HZ", "0", 1);
  mida_session_t *s = open_store(fx, 64 * 1024, MIDA_FULL_DROP, 60000);
  unsetenv("MIDA_SAMPLE_HZ");
  mida_task_info_t ti = {.activity = "fill"};
  mida_id_t t;
  int dropped = 0, kept = 0;
  for (int i = 0; i < 5000; i++) {
    int rc = mida_task_begin(s, &ti, &t);
    assert_true(rc == MIDA_OK || rc == MIDA_EFULL);
    if (rc == MIDA_EFULL)
      dropped++;
    else
      kept++;
  }
  assert_true(dropped > 0);
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.dropped, (uint64_t)dropped);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task"), kept);
  assert_int_equal(q(fx, "SELECT sum(value) FROM counter WHERE "
                         "name='dropped'"),
                   dropped);
}

static void test_spill_policy_loses_nothing(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 64 * 1024, MIDA_FULL_SPILL, 60000);
  mida_task_info_t ti = {.activity = "fill", .used = "{\"k\":\"value\"}"};
  mida_id_t t;
  for (int i = 0; i < 5000; i++)
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_true(st.segments > 1);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 5000);
}

static void test_flush_makes_records_queryable_while_open(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 0);
  mida_task_info_t ti = {.activity = "live"};
  mida_id_t t;
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
    assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                     MIDA_OK);
  }
  assert_int_equal(mida_flush(s, 10000), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE "
                         "status='FINISHED'"),
                   1000);
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.shipped, st.records);
  assert_int_equal(mida_close(s), MIDA_OK);
}

/* A child forked while the parent's shipper is inside SQLite must be able
 * to use a store of its own: the sinks' fork guard makes fork wait for the
 * backend call in flight. Without it the child can inherit SQLite's global
 * mutexes held, and hang on its first store call. */
static void test_fork_while_shipping_leaves_the_child_a_working_store(
    void **state) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  skip(); /* the sanitizers' own runtimes are not fork-safe with threads */
#endif
  fixture *fx = *state;
  mida_session_t *s = open_store(fx, 0, MIDA_FULL_SPILL, 1);
  mida_task_info_t ti = {.activity = "busy", .used = "{\"x\":1}"};
  mida_id_t t;
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 5000; i++) { /* keep the shipper in SQLite */
      assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
      assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                       MIDA_OK);
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      alarm(20); /* a hang fails the test instead of stalling the suite */
      char url[400];
      snprintf(url, sizeof url, "sqlite://%s/child-%d.db", fx->dir, round);
      mida_config_t cfg;
      mida_config_init(&cfg);
      cfg.store = url;
      mida_session_t *cs = NULL;
      if (mida_open(&cfg, &cs, NULL, 0) != MIDA_OK)
        _exit(3);
      mida_id_t ct;
      mida_task_info_t cti = {.activity = "child"};
      if (mida_task_begin(cs, &cti, &ct) != MIDA_OK ||
          mida_task_end(cs, &ct, MIDA_STATUS_FINISHED, NULL, NULL) != MIDA_OK)
        _exit(4);
      _exit(mida_close(cs) == MIDA_OK ? 0 : 5);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 20 * 5000);
}

/* A store given as a libpq key=value conninfo has no scheme: it was read
 * as the name of an SQLite file, made in the working directory, and its
 * password shown. It is refused (MIDA_EURL), unshown, and nothing is
 * made, even for a disabled session. */
static void test_a_libpq_conninfo_store_is_refused_and_makes_no_file(
    void **state) {
  fixture *fx = *state;
  char cwd[4096];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(fx->dir), 0);
  const char *stores[] = {"host=h dbname=d password=pwC", "dbname=mida",
                          "host = h  sslpassword='p w'"};
  for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++) {
    for (int disabled = 0; disabled <= 1; disabled++) {
      mida_config_t cfg;
      mida_config_init(&cfg);
      cfg.store = stores[i];
      cfg.sample_hz = 0;
      cfg.disabled = disabled;
      char err[512] = "";
      mida_session_t *s = NULL;
      int rc = mida_open(&cfg, &s, err, sizeof err);
      if (s != NULL)
        mida_close(s);
      assert_int_equal(rc, MIDA_EURL);
      assert_null(s);
      assert_non_null(strstr(err, "postgresql://"));
      assert_null(strstr(err, "pwC"));
      assert_null(strstr(err, "p w"));
      assert_int_equal(access(stores[i], F_OK), -1);
    }
  }
  assert_int_equal(chdir(cwd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_records_reach_the_store_merged,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_runs_of_a_task, setup, teardown),
      cmocka_unit_test_setup_teardown(test_only_a_running_task_is_the_threads,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_json_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_invalid_arguments_are_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_store_that_cannot_be_opened_is_a_warning, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_libpq_conninfo_store_is_refused_and_makes_no_file, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_disabled_session_records_nothing,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_capture_makes_no_allocation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_drop_policy_counts_what_it_drops,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_spill_policy_loses_nothing, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_flush_makes_records_queryable_while_open, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_fork_while_shipping_leaves_the_child_a_working_store, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

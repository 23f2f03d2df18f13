/*
 * public_api_test.c -- what a program that links only libmida.so and
 * includes only mida.h can do (this test is built that way): tasks whose
 * ids the caller derives, submitted before they run and updated from
 * elsewhere (what the Dask plugins do), per-task usage snapshots, counters,
 * the session's description and default workflow, read-only queries; each
 * session keeps its own last error; and structs carry their size.
 */
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct fixture {
  char dir[256]; /* scratch directory */
  char db[300];  /* store file */
  char url[320]; /* sqlite:// URL of the store */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "pubapi");
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

static mida_session_t *open_url(const char *url, const char *campaign) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.campaign = campaign;
  cfg.sample_hz = 0;
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

static void test_a_task_submitted_here_and_run_elsewhere(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_url(fx->url, "pub");
  mida_id_t wf;
  mida_workflow_info_t wi = {.name = "graph", .source = "dask"};
  assert_int_equal(mida_workflow_begin(s, &wi, &wf), MIDA_OK);
  /* The scheduler and the worker derive the same ids from the key. */
  mida_id_t tid = mida_id_from_name("dask", "sched-1/inc-1");
  mida_id_t again = mida_id_from_name("dask", "sched-1/inc-1");
  mida_id_t up = mida_id_from_name("dask", "sched-1/load-0");
  assert_memory_equal(&tid, &again, sizeof tid);
  assert_memory_not_equal(&tid, &up, sizeof tid);

  mida_task_info_t ti = {.id = &tid,
                         .activity = "inc",
                         .workflow = &wf,
                         .status = MIDA_STATUS_SUBMITTED,
                         .submitted_ns = 1000,
                         .source_key = "inc-1"};
  mida_id_t out;
  assert_int_equal(mida_task_begin(s, &ti, &out), MIDA_OK);
  assert_memory_equal(&out, &tid, sizeof tid);
  assert_int_equal(mida_task_dep(s, &tid, &up), MIDA_OK);
  /* What the worker knows... */
  mida_task_update_t w = {.used = "{\"x\":1}",
                          .generated = "{\"return\":2}",
                          .worker = "tcp://w:1",
                          .pid = 4242};
  assert_int_equal(mida_task_update(s, &tid, &w), MIDA_OK);
  /* ... and the end, as the scheduler sees it. */
  mida_task_update_t e = {.status = MIDA_STATUS_FINISHED,
                          .started_ns = 2000,
                          .ended_ns = 3000,
                          .custom = "{\"attempts\":1}"};
  assert_int_equal(mida_task_update(s, &tid, &e), MIDA_OK);
  assert_int_equal(mida_counter(s, "pub.skipped", 7), MIDA_OK);
  assert_int_equal(mida_counter(s, "pub.skipped", 3), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);

  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 1);
  assert_int_equal(
      q(fx, "SELECT count(*) FROM task WHERE activity = 'inc' AND "
            "status = 'FINISHED' AND submitted = 1000 AND started = 2000 "
            "AND ended = 3000 AND worker = 'tcp://w:1' AND pid = 4242 AND "
            "source_key = 'inc-1' AND used->>'x' = 1 AND "
            "generated->>'return' = 2 AND custom->>'attempts' = 1"),
      1);
  assert_int_equal(q(fx, "SELECT count(*) FROM task_dep"), 1);
  assert_int_equal(q(fx, "SELECT value FROM counter WHERE name = "
                         "'pub.skipped'"),
                   7);
}

static void test_a_submitted_task_has_no_start(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_url(fx->url, NULL);
  mida_id_t t;
  mida_task_info_t ti = {.activity = "queued",
                         .status = MIDA_STATUS_SUBMITTED};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  ti.status = MIDA_STATUS_FINISHED; /* a task cannot begin finished */
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_EINVAL);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE status = "
                         "'SUBMITTED' AND submitted > 0 AND started IS NULL"),
                   1);
}

static void test_usage_snapshot_of_a_task_run_here(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_url(fx->url, NULL);
  mida_id_t t = mida_id_from_name("test", "usage");
  mida_task_usage_begin(s, &t);
  volatile double x = 0;
  for (int i = 0; i < 20000000; i++)
    x += i * 0.5;
  char buf[MIDA_TASK_USAGE_MAX];
  size_t n = mida_task_usage_end(s, &t, buf, sizeof buf);
  assert_true(n > 0 && n < sizeof buf);
  assert_non_null(strstr(buf, "\"cpu_thread_ns\":"));
  /* No begin snapshot on this thread: no summary. */
  mida_id_t other = mida_id_from_name("test", "other");
  assert_int_equal(mida_task_usage_end(s, &other, buf, sizeof buf), 0);
  n = mida_task_usage_end(s, &t, buf, sizeof buf); /* taken already */
  assert_int_equal(n, 0);
  mida_task_usage_begin(s, &t);
  n = mida_task_usage_end(s, &t, buf, sizeof buf);
  mida_task_update_t u = {.status = MIDA_STATUS_FINISHED, .telemetry = buf};
  assert_int_equal(mida_task_update(s, &t, &u), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE "
                         "telemetry->>'cpu_thread_ns' >= 0"),
                   1);
}

static void test_session_info_and_default_workflow(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_url(fx->url, "camp-x");
  mida_session_info_t si;
  assert_int_equal(mida_session_info_get(s, &si), MIDA_OK);
  assert_int_equal(si.struct_size, sizeof si);
  assert_string_equal(si.store, fx->url);
  assert_string_equal(si.store_shown, fx->url); /* no password to hide */
  assert_string_equal(si.campaign_name, "camp-x");
  mida_id_t camp = mida_campaign_id(NULL, "camp-x");
  assert_memory_equal(&si.campaign, &camp, sizeof camp);
  assert_true(mida_id_is_nil(&si.workflow));

  mida_id_t outer, inner;
  mida_workflow_info_t wi = {.name = "outer"};
  assert_int_equal(mida_workflow_begin(s, &wi, &outer), MIDA_OK);
  wi.name = "side";
  wi.keep_default = 1;
  assert_int_equal(mida_workflow_begin(s, &wi, &inner), MIDA_OK);
  assert_int_equal(mida_session_info_get(s, &si), MIDA_OK);
  assert_memory_equal(&si.workflow, &outer, sizeof outer);
  /* Handing the default back only if it is still the one expected. */
  assert_int_equal(mida_workflow_set_default(s, NULL, &inner), MIDA_EBUSY);
  assert_int_equal(mida_session_info_get(s, &si), MIDA_OK);
  assert_memory_equal(&si.workflow, &outer, sizeof outer);
  assert_int_equal(mida_workflow_set_default(s, &inner, &outer), MIDA_OK);
  mida_id_t t;
  mida_task_info_t ti = {.activity = "in-inner"};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_workflow_set_default(s, NULL, NULL), MIDA_OK);
  assert_int_equal(mida_session_info_get(s, &si), MIDA_OK);
  assert_true(mida_id_is_nil(&si.workflow));
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task t JOIN workflow w ON "
                         "t.workflow_id = w.id WHERE w.name = 'side'"),
                   1);
}

/* Collects the first column of each row as a number. */
typedef struct rows {
  int n;            /* rows seen */
  long long first;  /* the first row's first value */
} rows;

static int count_row(void *ctx, int ncols, const char *const *names,
                     const char *const *values) {
  rows *r = ctx;
  (void)names;
  if (r->n++ == 0 && ncols > 0 && values[0] != NULL)
    r->first = atoll(values[0]);
  return 0;
}

static void test_query_is_read_only(void **state) {
  fixture *fx = *state;
  char err[256];
  rows r = {0, 0};
  /* No store yet: an error, and nothing is created. */
  assert_int_not_equal(mida_query(fx->url, "SELECT 1", NULL, 0, count_row,
                                  &r, err, sizeof err),
                       MIDA_OK);
  assert_true(err[0] != '\0');
  assert_int_not_equal(access(fx->db, F_OK), 0);

  mida_session_t *s = open_url(fx->url, NULL);
  mida_id_t t;
  mida_task_info_t ti = {.activity = "a"};
  for (int i = 0; i < 3; i++)
    assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);

  const char *params[] = {"a"};
  assert_int_equal(mida_query(fx->url,
                              "SELECT count(*) FROM task WHERE activity = ?1",
                              params, 1, count_row, &r, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(r.n, 1);
  assert_int_equal(r.first, 3);
  assert_int_equal(mida_query(fx->url, "DELETE FROM task", NULL, 0,
                              count_row, &r, err, sizeof err),
                   MIDA_EREADONLY);
  assert_int_equal(q(fx, "SELECT count(*) FROM task"), 3);
}

/* The column names a described query announced, "a|b". */
static int join_columns(void *ctx, int ncols, const char *const *names) {
  char *out = ctx;
  out[0] = '\0';
  for (int i = 0; i < ncols; i++) {
    if (i > 0)
      strcat(out, "|");
    strncat(out, names[i], 32);
  }
  return 0;
}

static int no_row(void *ctx, int ncols, const char *const *names,
                  const char *const *values) {
  (void)ctx, (void)ncols, (void)names, (void)values;
  fail_msg("a query that matched nothing called its row function");
  return 1;
}

/* A query that matches nothing still names its columns. */
static void test_query_described_names_columns_without_rows(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_url(fx->url, NULL);
  assert_int_equal(mida_close(s), MIDA_OK);
  char names[256] = "none";
  char err[256];
  assert_int_equal(mida_query_described(fx->url,
                                        "SELECT id, activity AS what FROM task"
                                        " WHERE 0 = 1",
                                        NULL, 0, join_columns, no_row, NULL,
                                        names, err, sizeof err),
                   MIDA_OK);
  assert_string_equal(names, "id|what");
}

/* Parameters bound as numbers where their kind says so: SQLite compares
 * the number 0.5 in a JSON document and the text '0.5' as different
 * values, so mida_query's text parameters matched nothing there. */
static void test_query_kinds_binds_numbers_as_numbers(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_url(fx->url, NULL);
  mida_id_t t;
  mida_task_info_t ti = {.activity = "fit", .used = "{\"lr\":0.5,\"n\":5}"};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  char err[256];
  const char *sql = "SELECT count(*) FROM task"
                    " WHERE json_extract(used, '$.lr') = ?1"
                    " AND json_extract(used, '$.n') > ?2"
                    " AND activity = ?3";
  const char *params[] = {"0.5", "4", "fit"};
  rows r = {0, 0};
  assert_int_equal(mida_query_kinds(fx->url, sql, params, "rit", 3, NULL,
                                    count_row, NULL, &r, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(r.first, 1);
  /* As text (no kinds), the numbers match nothing on SQLite. */
  r = (rows){0, 0};
  assert_int_equal(mida_query_kinds(fx->url, sql, params, NULL, 3, NULL,
                                    count_row, NULL, &r, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(r.first, 0);
  /* A text that is no number of its kind is bound as the text it is. */
  const char *odd[] = {"x", "4", "fit"};
  r = (rows){0, 0};
  assert_int_equal(mida_query_kinds(fx->url, sql, odd, "iit", 3, NULL,
                                    count_row, NULL, &r, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(r.first, 0);
}

/* A failing call on a session from another thread. *//* A failing call on a session from another thread. */
static void *fail_generated(void *arg) {
  mida_session_t *s = arg;
  mida_id_t t = mida_id_from_name("test", "thread");
  (void)mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{bad generated", NULL);
  return NULL;
}

static void test_each_session_keeps_its_last_error(void **state) {
  fixture *fx = *state;
  char url_b[400];
  snprintf(url_b, sizeof url_b, "sqlite://%s/b.db", fx->dir);
  mida_session_t *a = open_url(fx->url, NULL);
  mida_session_t *b = open_url(url_b, NULL);
  assert_string_equal(mida_errmsg(a), "");
  mida_id_t t;
  mida_task_info_t bad_used = {.activity = "x", .used = "{"};
  mida_task_info_t bad_custom = {.activity = "x", .custom = "["};
  assert_int_equal(mida_task_begin(a, &bad_used, &t), MIDA_EJSON);
  assert_int_equal(mida_task_begin(b, &bad_custom, &t), MIDA_EJSON);
  assert_non_null(strstr(mida_errmsg(a), "used"));
  assert_non_null(strstr(mida_errmsg(b), "custom"));
  /* A failure on another thread is the session's last error too. */
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, fail_generated, a), 0);
  pthread_join(th, NULL);
  assert_non_null(strstr(mida_errmsg(a), "generated"));
  assert_non_null(strstr(mida_errmsg(b), "custom"));
  assert_int_equal(mida_close(a), MIDA_OK);
  assert_int_equal(mida_close(b), MIDA_OK);
  /* Without a session: the thread's own last message. */
  assert_int_equal(mida_task_begin(NULL, &bad_used, &t), MIDA_EINVAL);
  assert_non_null(strstr(mida_errmsg(NULL), "no session"));
}

/* The bound of the spool on disk, as mida_config_init reads it. */
static uint64_t spool_max_of(const char *text) {
  setenv("MIDA_SPOOL_MAX", text, 1);
  mida_config_t cfg;
  mida_config_init(&cfg);
  unsetenv("MIDA_SPOOL_MAX");
  return cfg.spool_max;
}

static void test_a_malformed_spool_bound_keeps_the_default(void **state) {
  (void)state;
  /* A bound that does not parse ("2 GB", a typo) was no bound at all
   * (UINT64_MAX): the spool could fill the disk the operator meant to
   * keep. It is the default (1 GiB) instead. */
  const uint64_t gib = UINT64_C(1) << 30;
  assert_true(spool_max_of("2 GB") == gib);
  assert_true(spool_max_of("lots") == gib);
  assert_true(spool_max_of("99999999999T") == gib);
  assert_true(spool_max_of("64M") == UINT64_C(64) << 20);
  assert_true(spool_max_of("0") == 0); /* documented: no bound */
}

/* The warning of mida_open (errmsg; "" when none) for one environment
 * variable set to text, and the configuration that it gave. */
static int open_with(fixture *fx, const char *name, const char *text,
                     mida_config_t *cfg, char *err, size_t errlen) {
  setenv(name, text, 1);
  mida_config_init(cfg);
  unsetenv(name);
  cfg->store = fx->url;
  cfg->sample_hz = 0;
  mida_session_t *s = NULL;
  setenv(name, text, 1);
  int rc = mida_open(cfg, &s, err, errlen);
  unsetenv(name);
  if (s != NULL) {
    assert_int_equal(mida_flush(s, 5000), MIDA_OK);
    mida_close(s);
  }
  return rc;
}

static void
test_a_malformed_capture_knob_keeps_its_default_and_says_so(void **state) {
  fixture *fx = *state;
  /* These were ignored without a word: the operator who typed
   * MIDA_JOURNAL_FULL=dorp believed that a full ring drops. The session
   * still opens and records; the warning names the variable. */
  static const struct {
    const char *name, *text;
  } bad[] = {{"MIDA_JOURNAL_BYTES", "abc"},  {"MIDA_JOURNAL_BYTES", "0"},
             {"MIDA_JOURNAL_FULL", "bogus"}, {"MIDA_SHIP_MS", "-1"},
             {"MIDA_SHIP_MS", "10ms"},       {"MIDA_SPOOL_MAX", "2 GB"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mida_config_t cfg;
    char err[512] = "";
    assert_int_equal(
        open_with(fx, bad[i].name, bad[i].text, &cfg, err, sizeof err),
        MIDA_OK);
    assert_non_null(strstr(err, bad[i].name));
    assert_non_null(strstr(err, bad[i].text));
    assert_non_null(strstr(err, "default"));
    assert_int_equal(cfg.journal_bytes, 16 * 1024 * 1024);
    assert_int_equal(cfg.full, MIDA_FULL_SPILL);
    assert_int_equal(cfg.ship_interval_ms, 20);
    assert_true(cfg.spool_max == UINT64_C(1) << 30);
  }
  /* Well-formed values say nothing and are taken. */
  mida_config_t cfg;
  char err[512] = "x";
  assert_int_equal(
      open_with(fx, "MIDA_JOURNAL_FULL", "drop", &cfg, err, sizeof err),
      MIDA_OK);
  assert_string_equal(err, "");
  assert_int_equal(cfg.full, MIDA_FULL_DROP);
  assert_int_equal(open_with(fx, "MIDA_SHIP_MS", "50", &cfg, err, sizeof err),
                   MIDA_OK);
  assert_string_equal(err, "");
  assert_int_equal(cfg.ship_interval_ms, 50);
  assert_int_equal(
      open_with(fx, "MIDA_JOURNAL_BYTES", "1M", &cfg, err, sizeof err),
      MIDA_OK);
  assert_string_equal(err, "");
  assert_int_equal(cfg.journal_bytes, 1 << 20);
}

/* A journal whose process ended before shipping it (a forked child ended
 * by _exit) is counted; a store without a spool, and a session's own live
 * journal, are not; the next session ships it, and the count goes back to
 * 0. (The child is forked while this process has no threads: TSan starts
 * none in the child of a process that has.) */
static void test_spool_orphans_counts_what_ended_processes_left(void **state) {
  fixture *fx = *state;
  uint64_t n = 99;
  assert_int_equal(mida_spool_orphans(fx->url, &n), MIDA_OK);
  assert_int_equal(n, 0); /* no spool yet */
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mida_config_t cfg;
    mida_config_init(&cfg);
    cfg.store = fx->url;
    cfg.sample_hz = 0;
    mida_session_t *c = NULL;
    char err[256];
    mida_id_t ct;
    int ok = mida_open(&cfg, &c, err, sizeof err) == MIDA_OK &&
             mida_task_begin(c, &(mida_task_info_t){.activity = "child"},
                             &ct) == MIDA_OK;
    _exit(ok ? 0 : 1); /* ships nothing */
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(mida_spool_orphans(fx->url, &n), MIDA_OK);
  assert_true(n >= 1);
  mida_session_t *s = open_url(fx->url, NULL);
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &(mida_task_info_t){.activity = "a"},
                                   &t),
                   MIDA_OK);
  assert_int_equal(mida_flush(s, 10000), MIDA_OK);
  assert_int_equal(mida_spool_orphans(fx->url, &n), MIDA_OK);
  assert_int_equal(n, 0); /* shipped; this process's journal is live */
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(q(fx, "SELECT count(*) FROM task WHERE activity = 'child'"),
                   1);
  assert_int_equal(mida_spool_orphans(fx->url, NULL), MIDA_EINVAL);
}

static void test_open_without_a_place_for_the_session_says_why(void **s) {
  (void)s;
  char err[256];
  memset(err, 'x', sizeof err);
  err[sizeof err - 1] = '\0';
  assert_int_equal(mida_open(NULL, NULL, err, sizeof err), MIDA_EINVAL);
  assert_non_null(strstr(err, "NULL")); /* not the stale buffer */
}

/* mida.h: with s NULL, mida_errmsg gives the calling thread's last message,
 * "mida_open failures" first among them. It gave "" after a mida_open that
 * failed, to a caller that passed no errmsg buffer. */
static void test_a_failed_open_is_the_threads_last_error(void **s) {
  (void)s;
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = "http://example.invalid/x";
  mida_session_t *session = NULL;
  assert_int_equal(mida_open(&cfg, &session, NULL, 0), MIDA_EURL);
  assert_null(session);
  assert_non_null(strstr(mida_errmsg(NULL), "unsupported store URL scheme"));
  assert_int_equal(mida_open(NULL, NULL, NULL, 0), MIDA_EINVAL);
  assert_non_null(strstr(mida_errmsg(NULL), "out is NULL"));
}

static void test_structs_carry_their_size(void **state) {
  fixture *fx = *state;
  /* The library fills no more than the caller's struct holds. */
  unsigned char raw[sizeof(mida_config_t) + 16];
  memset(raw, 0xAB, sizeof raw);
  size_t small = offsetof(mida_config_t, spool);
  mida_config_init_sized((mida_config_t *)raw, small);
  assert_int_equal(((mida_config_t *)raw)->struct_size, small);
  for (size_t i = small; i < sizeof raw; i++)
    assert_int_equal(raw[i], 0xAB);
  mida_config_t cfg;
  mida_config_init(&cfg);
  assert_int_equal(cfg.struct_size, sizeof cfg);
  /* mida_open reads no further either: the rest are the defaults. */
  ((mida_config_t *)raw)->store = fx->url;
  mida_session_t *old = NULL;
  char err[256];
  assert_int_equal(mida_open((mida_config_t *)raw, &old, err, sizeof err),
                   MIDA_OK);
  mida_session_info_t si;
  assert_int_equal(mida_session_info_get(old, &si), MIDA_OK);
  assert_string_equal(si.store, fx->url);
  assert_int_equal(mida_close(old), MIDA_OK);

  mida_session_t *s = open_url(fx->url, NULL);
  unsigned char st[sizeof(mida_stats_t) + 8];
  memset(st, 0xCD, sizeof st);
  mida_stats_get_sized(s, (mida_stats_t *)st, offsetof(mida_stats_t, shipped));
  for (size_t i = offsetof(mida_stats_t, shipped); i < sizeof st; i++)
    assert_int_equal(st[i], 0xCD);

  /* A struct the caller fills: 0 (version 1) or its size; less is
   * refused, with a message. */
  mida_id_t t;
  mida_task_info_t ti = {.activity = "sized", .struct_size = sizeof ti};
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  ti.struct_size = 0;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  ti.struct_size = 4;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_EINVAL);
  assert_non_null(strstr(mida_errmsg(s), "struct_size"));
  mida_data_info_t d = {.uri = "file:///x", .struct_size = 1};
  assert_int_equal(mida_data(s, NULL, MIDA_USED, &d), MIDA_EINVAL);
  assert_int_equal(mida_close(s), MIDA_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_a_task_submitted_here_and_run_elsewhere, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_submitted_task_has_no_start, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_usage_snapshot_of_a_task_run_here,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_info_and_default_workflow,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_query_is_read_only, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_query_described_names_columns_without_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_query_kinds_binds_numbers_as_numbers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_each_session_keeps_its_last_error,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_spool_orphans_counts_what_ended_processes_left, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_structs_carry_their_size, setup,
                                      teardown),
      cmocka_unit_test(test_a_malformed_spool_bound_keeps_the_default),
      cmocka_unit_test(test_open_without_a_place_for_the_session_says_why),
      cmocka_unit_test(test_a_failed_open_is_the_threads_last_error),
      cmocka_unit_test_setup_teardown(
          test_a_malformed_capture_knob_keeps_its_default_and_says_so, setup,
          teardown),
  };
  return cmocka_run_group_tests_name("public_api", tests, NULL, NULL);
}

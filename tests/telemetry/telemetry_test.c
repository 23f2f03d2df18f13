/*
 * telemetry_test.c -- per-task resource use and the sampler, end to end
 * through the public API into a real SQLite store, read back with SQLite
 * directly: CPU-bound and sleeping tasks are told apart, a 200 MB
 * allocation shows in the peak RSS, 50 MB written shows in write_bytes,
 * the sampler keeps its rate and stops when switched off, one process per
 * host samples the host, and unreadable /proc files are counted, not
 * fatal.
 */
#include "core/clock.h"
#include "mida.h"
#include "telemetry/telemetry.h"
#include "tests/testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#define TMPFS_MAGIC_NUMBER 0x01021994

typedef struct fixture {
  char dir[256]; /* scratch directory */
  char db[300];  /* store file */
  char url[320]; /* sqlite:// URL of the store */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "tel");
  snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->dir);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  mida__telemetry_set_proc(NULL, NULL);
  mida__telemetry_sample_tree(0);
  test_rmtree(fx->dir);
  free(fx);
  return 0;
}

static mida_session_t *open_with(fixture *fx, int task_level, double hz,
                                 const char *sample) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = fx->url;
  cfg.campaign = "telemetry-test";
  cfg.telemetry_task = task_level;
  cfg.sample_hz = hz;
  cfg.sample = sample;
  mida_session_t *s = NULL;
  char err[256] = "";
  int rc = mida_open(&cfg, &s, err, sizeof err);
  if (rc != MIDA_OK)
    fprintf(stderr, "mida_open: %s\n", err);
  assert_int_equal(rc, MIDA_OK);
  return s;
}

/* A value of the task's telemetry summary; -1 when absent. */
static long long tel(fixture *fx, const mida_id_t *task, const char *key) {
  char id[MIDA_ID_STRLEN], sql[512];
  mida_id_format(task, id);
  snprintf(sql, sizeof sql,
           "SELECT coalesce(json_extract(telemetry, '$.%s'), -1) FROM task"
           " WHERE id = '%s'",
           key, id);
  return test_sql_int(fx->db, sql);
}

static int64_t thread_cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs first, in a fresh process, so that no earlier test has raised the
 * peak RSS that the task's growth is measured against. */
static void test_task_allocating_200mb_shows_in_max_rss(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 1, 0, NULL);
  mida_task_info_t ti = {.activity = "alloc"};
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  size_t n = (size_t)200 << 20;
  char *p = malloc(n);
  assert_non_null(p);
  memset(p, 1, n); /* touch every page */
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  free(p);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_true(tel(fx, &t, "maxrss_delta_kb") >= 190 * 1024);
  assert_true(tel(fx, &t, "maxrss_kb") >= 200 * 1024);
}

static void test_cpu_bound_and_sleeping_tasks_differ(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 1, 0, NULL);
  mida_task_info_t busy_info = {.activity = "busy"};
  mida_task_info_t idle_info = {.activity = "idle"};
  mida_id_t busy, idle;
  assert_int_equal(mida_task_begin(s, &busy_info, &busy), MIDA_OK);
  /* Spin until the thread itself has run 200 ms (its own clock, read
   * independently of mida), however loaded the machine is. */
  volatile uint64_t x = 0;
  int64_t until = thread_cpu_ms() + 200;
  while (thread_cpu_ms() < until)
    for (int i = 0; i < 10000; i++)
      x += (uint64_t)i * i;
  assert_int_equal(mida_task_end(s, &busy, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_task_begin(s, &idle_info, &idle), MIDA_OK);
  struct timespec nap = {0, 300 * 1000000};
  nanosleep(&nap, NULL);
  assert_int_equal(mida_task_end(s, &idle, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  long long busy_ns = tel(fx, &busy, "cpu_thread_ns");
  long long idle_ns = tel(fx, &idle, "cpu_thread_ns");
  /* getrusage's figure for the thread agrees with the thread's clock to
   * well within a tick; 300 ms of sleep costs well under 30 ms of CPU. */
  assert_true(busy_ns >= 180LL * 1000000);
  assert_true(idle_ns >= 0 && idle_ns < 30LL * 1000000);
  assert_true(busy_ns > 6 * idle_ns);
  assert_true(tel(fx, &idle, "ctx_voluntary") >= 1);
}

/* A directory whose files reach the storage layer through the page cache
 * (tmpfs has no storage I/O accounting): the test's working directory,
 * else /var/tmp. */
static void disk_dir(char *buf, size_t len) {
  struct statfs fs;
  if (statfs(".", &fs) == 0 && fs.f_type != TMPFS_MAGIC_NUMBER)
    snprintf(buf, len, "./mida-tel-write-XXXXXX");
  else
    snprintf(buf, len, "/var/tmp/mida-tel-write-XXXXXX");
  assert_non_null(mkdtemp(buf));
}

static void test_task_writing_50mb_shows_in_bytes_written(void **state) {
  fixture *fx = *state;
  char dir[256], path[300];
  disk_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/out.bin", dir);
  mida_session_t *s = open_with(fx, 1, 0, NULL);
  mida_task_info_t ti = {.activity = "write"};
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(fd >= 0);
  size_t chunk = (size_t)1 << 20;
  char *buf = malloc(chunk);
  memset(buf, 7, chunk);
  for (int i = 0; i < 50; i++)
    assert_int_equal(write(fd, buf, chunk), (ssize_t)chunk);
  close(fd);
  free(buf);
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  unlink(path);
  rmdir(dir);
  /* The kernel counts a write when it dirties the page cache: 50 MiB
   * written are 50 MiB queued for storage, in 512-byte blocks. */
  assert_true(tel(fx, &t, "write_bytes") >= 50LL << 20);
  assert_int_equal(tel(fx, &t, "write_bytes"), tel(fx, &t, "out_blocks") * 512);
}

typedef struct ender {
  mida_session_t *s; /* session */
  mida_id_t task;    /* the task to end */
} ender;

static void *end_elsewhere(void *arg) {
  ender *e = arg;
  (void)mida_task_end(e->s, &e->task, MIDA_STATUS_FINISHED, NULL, NULL);
  return NULL;
}

static void test_nested_tasks_and_ends_on_another_thread(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 2, 0, NULL);
  mida_task_info_t ti = {.activity = "outer"};
  mida_id_t outer, inner, moved;
  assert_int_equal(mida_task_begin(s, &ti, &outer), MIDA_OK);
  assert_int_equal(mida_task_begin(s, &ti, &inner), MIDA_OK);
  assert_int_equal(mida_task_begin(s, &ti, &moved), MIDA_OK);
  mida__telemetry_stats before, after;
  mida__telemetry_stats_get(&before);
  ender e = {s, moved};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, end_elsewhere, &e), 0);
  pthread_join(th, NULL);
  /* Out of order: the outer task ends before the inner one. */
  assert_int_equal(mida_task_end(s, &outer, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_task_end(s, &inner, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  mida__telemetry_stats_get(&after);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_true(tel(fx, &outer, "cpu_thread_ns") >= 0);
  assert_true(tel(fx, &outer, "cpu_process_ns") >= 0); /* level 2 */
  assert_true(tel(fx, &inner, "cpu_thread_ns") >= 0);
  assert_int_equal(tel(fx, &moved, "cpu_thread_ns"), -1);
  assert_int_equal(after.task_unmatched, before.task_unmatched + 1);
}

/* Ends one task and begins the next with nap_ns between them; returns how
 * many begin snapshots were reused meanwhile. */
static uint64_t reused_across(mida_session_t *s, long nap_ns) {
  mida_task_info_t ti = {.activity = "step"};
  mida_id_t a, b;
  assert_int_equal(mida_task_begin(s, &ti, &a), MIDA_OK);
  mida__telemetry_stats before, after;
  mida__telemetry_stats_get(&before);
  assert_int_equal(mida_task_end(s, &a, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  if (nap_ns > 0) {
    struct timespec nap = {0, nap_ns};
    nanosleep(&nap, NULL);
  }
  assert_int_equal(mida_task_begin(s, &ti, &b), MIDA_OK);
  mida__telemetry_stats_get(&after);
  assert_int_equal(mida_task_end(s, &b, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  return after.task_reused - before.task_reused;
}

static void test_back_to_back_tasks_reuse_the_latest_snapshot(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 1, 0, NULL);
  /* A begin right after an end reuses the end's snapshot; under load the
   * thread can be preempted between the two, so some tries may not. Under
   * a sanitizer an end and a begin take longer than the reuse window
   * itself, so nothing is reused there and only the rest is checked. */
  uint64_t reused = 0;
  for (int i = 0; i < 200 && reused == 0; i++)
    reused += reused_across(s, 0);
  if (test_scaled(2, 2) == 2)
    assert_true(reused >= 1);
  /* A millisecond later the snapshot is too old: a new one is taken. */
  for (int i = 0; i < 5; i++)
    assert_int_equal(reused_across(s, 1000000), 0);
  /* The CPU time of a busy task that begins on a reused snapshot is still
   * its own (the reused snapshot is at most a few microseconds old). */
  mida_task_info_t ti = {.activity = "busy"};
  mida_id_t busy;
  assert_int_equal(mida_task_begin(s, &ti, &busy), MIDA_OK);
  volatile uint64_t x = 0;
  int64_t until = thread_cpu_ms() + 50;
  while (thread_cpu_ms() < until)
    for (int i = 0; i < 10000; i++)
      x += (uint64_t)i * i;
  assert_int_equal(mida_task_end(s, &busy, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  long long ns = tel(fx, &busy, "cpu_thread_ns");
  assert_true(ns >= 45 * 1000000LL && ns < 5000 * 1000000LL);
  /* Level 2 (nanosecond CPU clocks) never reuses. */
  s = open_with(fx, 2, 0, NULL);
  for (int i = 0; i < 50; i++)
    assert_int_equal(reused_across(s, 0), 0);
  assert_int_equal(mida_close(s), MIDA_OK);
}

static void test_level_0_records_no_summary(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 0, 0, NULL);
  mida_task_info_t ti = {.activity = "plain"};
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(
      test_sql_int(fx->db, "SELECT count(*) FROM task"
                           " WHERE telemetry IS NOT NULL"),
      0);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task"), 1);
}

static long long samples_of(fixture *fx, long long pid) {
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM telemetry WHERE pid = %lld",
           pid);
  return test_sql_int(fx->db, sql);
}

static void test_sampler_keeps_its_rate(void **state) {
  fixture *fx = *state;
  int64_t t0 = mida__monotonic_ms();
  mida_session_t *s = open_with(fx, 1, 10, "proc");
  struct timespec second = {1, 0};
  nanosleep(&second, NULL);
  assert_int_equal(mida_close(s), MIDA_OK);
  double elapsed_s = (double)(mida__monotonic_ms() - t0) / 1000.0;
  /* One at start, ten a second, one at close: 12 for a second, give or
   * take the scheduler; a third fewer or more means the rate is wrong. */
  double expect = 2 + 10 * elapsed_s;
  long long n = samples_of(fx, getpid());
  if (n < 0.67 * expect || n > 1.33 * expect)
    fail_msg("%lld samples in %.2f s at 10 Hz", n, elapsed_s);
  assert_int_equal(samples_of(fx, 0), 0); /* "proc" only: no host sample */
  assert_true(test_sql_int(fx->db,
                           "SELECT min(json_extract(sample, '$.rss_kb'))"
                           " FROM telemetry") > 0);
  assert_true(test_sql_int(fx->db,
                           "SELECT count(*) FROM telemetry WHERE"
                           " json_extract(sample, '$.cpu_user_s') IS NULL")
              == 0);
}

static void test_sampler_switched_off_records_nothing(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 1, 0, NULL);
  mida_task_info_t ti = {.activity = "x"};
  mida_id_t t;
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  struct timespec nap = {0, 300 * 1000000};
  nanosleep(&nap, NULL);
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  s = open_with(fx, 1, 50, "none");
  nanosleep(&nap, NULL);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM telemetry"), 0);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task"), 1);
}

static void test_bad_settings_are_refused(void **state) {
  fixture *fx = *state;
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = fx->url;
  mida_session_t *s = NULL;
  char err[256] = "";
  cfg.sample = "proc,cpuz";
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_EINVAL);
  assert_non_null(strstr(err, "MIDA_SAMPLE"));
  cfg.sample = NULL;
  cfg.sample_hz = -1;
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_EINVAL);
  assert_non_null(strstr(err, "MIDA_SAMPLE_HZ"));
  cfg.sample_hz = 1;
  cfg.telemetry_task = 3;
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_EINVAL);
  assert_non_null(strstr(err, "MIDA_TELEMETRY_TASK"));
  assert_null(s);
  setenv("MIDA_SAMPLE_HZ", "fast", 1);
  mida_config_init(&cfg);
  unsetenv("MIDA_SAMPLE_HZ");
  assert_true(cfg.sample_hz < 0);
}

/* The host lock file the sampler competes for. */
static int hold_host_lock(fixture *fx) {
  char host[256], path[600];
  gethostname(host, sizeof host);
  host[sizeof host - 1] = '\0';
  snprintf(path, sizeof path, "%s/store.db.spool", fx->dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/store.db.spool/telemetry.%s.lock", fx->dir,
           host);
  int fd = open(path, O_RDWR | O_CREAT, 0644);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
  return fd;
}

static void test_one_process_per_host_samples_the_host(void **state) {
  fixture *fx = *state;
  /* Another process of this host holds the lock: only process samples. */
  int fd = hold_host_lock(fx);
  mida_session_t *s = open_with(fx, 1, 20, NULL);
  struct timespec nap = {0, 300 * 1000000};
  nanosleep(&nap, NULL);
  mida__telemetry_stats st;
  mida__telemetry_stats_get(&st);
  assert_int_equal(st.leader, 0);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(samples_of(fx, 0), 0);
  assert_true(samples_of(fx, getpid()) >= 3);
  close(fd);
  /* Nobody holds it: this process samples the host as well. */
  s = open_with(fx, 1, 20, NULL);
  nanosleep(&nap, NULL);
  mida__telemetry_stats_get(&st);
  assert_int_equal(st.leader, 1);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_true(samples_of(fx, 0) >= 3);
  assert_true(test_sql_int(fx->db,
                           "SELECT max(json_extract(sample, '$.mem_total_kb'))"
                           " FROM telemetry WHERE pid = 0") > 0);
  assert_true(test_sql_int(fx->db,
                           "SELECT count(*) FROM telemetry WHERE pid = 0 AND"
                           " json_extract(sample, '$.ncpu') >= 1") >= 3);
  /* At most one line says why there are no (or fewer) GPU readings;
   * without any GPU readings, it is there. */
  long long notes = test_sql_int(fx->db, "SELECT count(*) FROM telemetry"
                                         " WHERE json_extract(sample,"
                                         " '$.gpu_note') IS NOT NULL");
  long long with_gpu = test_sql_int(fx->db, "SELECT count(*) FROM telemetry"
                                            " WHERE json_extract(sample,"
                                            " '$.gpu[0].index') IS NOT NULL");
  assert_true(notes <= 1);
  if (with_gpu == 0)
    assert_int_equal(notes, 1);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

/* Makes root (300 bytes) a fake /proc under fx's directory, with an empty
 * directory for the process 4242. */
static void fake_proc(fixture *fx, char *root) {
  char p[400];
  snprintf(root, 300, "%s/proc", fx->dir);
  mkdir(root, 0755);
  snprintf(p, sizeof p, "%s/4242", root);
  mkdir(p, 0755);
}

static void test_unreadable_proc_files_are_counted(void **state) {
  fixture *fx = *state;
  char root[300], p[400];
  fake_proc(fx, root);
  /* stat: a directory where a file should be (unreadable even for root);
   * statm: missing; io: garbage; status: fine. */
  snprintf(p, sizeof p, "%s/4242/stat", root);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/4242/io", root);
  write_file(p, "\x01\x02 no colon here\n)))(((\n");
  snprintf(p, sizeof p, "%s/4242/status", root);
  write_file(p, "Name:\tx\nVmHWM:\t  1234 kB\nVmRSS:\t 1000 kB\n");
  snprintf(p, sizeof p, "%s/loadavg", root);
  write_file(p, "garbage\n");
  mida__telemetry_set_proc(root, "4242");
  mida__telemetry_stats before, after;
  mida__telemetry_stats_get(&before);
  mida_session_t *s = open_with(fx, 1, 20, "proc,sys,net,disk");
  struct timespec nap = {0, 200 * 1000000};
  nanosleep(&nap, NULL);
  assert_int_equal(mida_close(s), MIDA_OK);
  mida__telemetry_stats_get(&after);
  assert_true(after.read_errors > before.read_errors);
  assert_true(after.parse_errors > before.parse_errors);
  /* What could be read was recorded. */
  assert_true(test_sql_int(fx->db,
                           "SELECT count(*) FROM telemetry WHERE pid > 0 AND"
                           " json_extract(sample, '$.hwm_kb') = 1234") >= 2);
  /* The counts reach the store. */
  assert_true(test_sql_int(fx->db,
                           "SELECT max(value) FROM counter WHERE"
                           " name = 'telemetry.read_errors'") > 0);
}

/* A fake /proc/4242/stat of utime ticks (and no system time). */
static void fake_stat(const char *root, unsigned long long utime) {
  char p[400], text[256];
  snprintf(p, sizeof p, "%s/4242/stat", root);
  snprintf(text, sizeof text,
           "4242 (fake) S 1 4242 4242 0 -1 4194304 100 0 0 0 %llu 0 0 0 20 "
           "0 1 0 100 1000000 100\n",
           utime);
  write_file(p, text);
}

/* The largest process cpu_pct sampled, in hundredths, or -1 when none
 * has one. */
static long long max_cpu_pct_x100(fixture *fx) {
  return test_sql_int(fx->db,
                      "SELECT CAST(coalesce(max(json_extract(sample, "
                      "'$.cpu_pct')) * 100, -1) AS INTEGER) FROM telemetry"
                      " WHERE pid > 0");
}

static void test_a_short_last_window_reads_no_impossible_cpu(void **state) {
  /* The last sample, at the stop, came ~4 ms after the one before: one
   * 10 ms tick between them read as 250-300 % of a core on a 2-core
   * machine (until 2026-12-06). Ten ticks within ~30 ms here. */
  fixture *fx = *state;
  char root[300];
  fake_proc(fx, root);
  fake_stat(root, 100);
  mida__telemetry_set_proc(root, "4242");
  mida_session_t *s = open_with(fx, 1, 1, "proc");
  struct timespec nap = {0, 30 * 1000000};
  nanosleep(&nap, NULL); /* the first sample is taken */
  fake_stat(root, 110);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_true(test_sql_int(fx->db, "SELECT count(*) FROM telemetry WHERE"
                                   " pid > 0") >= 2);
  assert_true(max_cpu_pct_x100(fx) < 0); /* no window long enough to say */
  /* A window of ten ticks or more says it: 0.1 s of CPU in ~0.3 s. */
  snprintf(fx->db, sizeof fx->db, "%s/store2.db", fx->dir);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);
  fake_stat(root, 100);
  s = open_with(fx, 1, 1, "proc");
  nap.tv_nsec = 300 * 1000000;
  nanosleep(&nap, NULL);
  fake_stat(root, 110);
  assert_int_equal(mida_close(s), MIDA_OK);
  /* ~33 %: bounds with room for a sampler thread that started late (a
   * loaded machine, a sanitizer). */
  long long pct = max_cpu_pct_x100(fx);
  assert_true(pct >= 0 && pct <= 10000);
}

static void test_a_process_that_has_gone_is_counted(void **state) {
  fixture *fx = *state;
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0)
    _exit(0);
  waitpid(child, NULL, 0); /* reaped: its /proc directory is gone */
  char pid_dir[32];
  snprintf(pid_dir, sizeof pid_dir, "%d", (int)child);
  mida__telemetry_set_proc("/proc", pid_dir);
  mida__telemetry_stats before, after;
  mida__telemetry_stats_get(&before);
  mida_session_t *s = open_with(fx, 1, 20, "proc");
  struct timespec nap = {0, 200 * 1000000};
  nanosleep(&nap, NULL);
  assert_int_equal(mida_close(s), MIDA_OK);
  mida__telemetry_stats_get(&after);
  /* Four files per sample, none readable. */
  assert_true(after.read_errors >= before.read_errors + 8);
  /* The samples are still recorded, empty. */
  assert_true(samples_of(fx, getpid()) >= 2);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM telemetry"
                                        " WHERE sample <> '{}'"),
                   0);
}

/* Makes root/<name> a fake process: parent ppid, state, start time (clock
 * ticks), utime ticks; with its statm of resident pages rss_pages (0 as
 * for a process that exited since its stat) unless rss_pages < 0, and its
 * io and status unless files is 0. */
static void fake_process(const char *root, const char *name, int ppid,
                         char state, int start, int utime, int rss_pages,
                         int files) {
  char p[400], text[256];
  snprintf(p, sizeof p, "%s/%s", root, name);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/%s/stat", root, name);
  snprintf(text, sizeof text,
           "%s (fake) %c %d 1 1 0 -1 4194304 100 0 0 0 %d 0 0 0 20 0 1 0 %d "
           "1000000 100\n",
           name, state, ppid, utime, start);
  write_file(p, text);
  if (rss_pages >= 0) {
    snprintf(p, sizeof p, "%s/%s/statm", root, name);
    snprintf(text, sizeof text, "%d %d 10 1 0 20 0\n",
             rss_pages > 0 ? 5000 : 0, rss_pages);
    write_file(p, text);
  }
  if (files) {
    snprintf(p, sizeof p, "%s/%s/io", root, name);
    write_file(p, "rchar: 10\nwchar: 20\nread_bytes: 4096\n"
                  "write_bytes: 8192\n");
    snprintf(p, sizeof p, "%s/%s/status", root, name);
    write_file(p, "Name:\tfake\nVmHWM:\t  1234 kB\nVmRSS:\t 1000 kB\n");
  }
}

/* Samples the tree rooted at pid root of the fake /proc proc_root (with
 * its own "self") at 20 Hz for ms milliseconds; the counters before and
 * after into *before and *after. */
static void sample_fake_tree(fixture *fx, const char *proc_root, int root,
                             int ms, mida__telemetry_stats *before,
                             mida__telemetry_stats *after) {
  mida__telemetry_set_proc(proc_root, "self");
  mida__telemetry_stats_get(before);
  mida_session_t *s = open_with(fx, 1, 20, "proc");
  mida__telemetry_sample_tree(root);
  struct timespec nap = {0, ms * 1000000L};
  nanosleep(&nap, NULL);
  mida__telemetry_sample_tree(0);
  assert_int_equal(mida_close(s), MIDA_OK);
  mida__telemetry_stats_get(after);
}

static void test_a_process_tree_is_sampled_under_each_pid(void **state) {
  /* `mida run`'s sampler samples its command's processes: the root (100),
   * its descendants (101, and 102 under it), not the host's other
   * processes (99, before the root; 200, after it), nor those that exited
   * between the listing and the reading: a zombie (103), one whose entry
   * vanished (104, an empty directory), one whose memory read 0 once it
   * had exited after its stat was read (105). None of them is an error. */
  fixture *fx = *state;
  char root[300];
  snprintf(root, sizeof root, "%s/proc", fx->dir);
  mkdir(root, 0755);
  fake_process(root, "self", 1, 'S', 10, 5, 100, 1);
  fake_process(root, "99", 1, 'S', 20, 5, 100, 1);
  fake_process(root, "100", 50, 'S', 1000, 5, 100, 1);
  fake_process(root, "101", 100, 'R', 1001, 5, 25600, 1);
  fake_process(root, "102", 101, 'R', 1002, 5, 100, 1);
  fake_process(root, "103", 100, 'Z', 1003, 5, 100, 1);
  char p[400];
  snprintf(p, sizeof p, "%s/104", root);
  mkdir(p, 0755);
  fake_process(root, "105", 100, 'R', 1005, 5, 0, 1);
  fake_process(root, "200", 1, 'S', 1006, 5, 100, 1);
  mida__telemetry_stats before, after;
  sample_fake_tree(fx, root, 100, 200, &before, &after);
  assert_true(samples_of(fx, 100) >= 2);
  assert_true(samples_of(fx, 101) >= 2);
  assert_true(samples_of(fx, 102) >= 2);
  static const int none[] = {99, 103, 104, 105, 200};
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
    if (samples_of(fx, none[i]) != 0)
      fail_msg("samples of process %d", none[i]);
  assert_int_equal(after.read_errors, before.read_errors);
  assert_int_equal(after.parse_errors, before.parse_errors);
  /* Each sample is the process's own: 101's 25600 pages, 100 MiB. */
  long page_kb = sysconf(_SC_PAGESIZE) / 1024;
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM telemetry WHERE pid = 101 AND"
           " json_extract(sample, '$.rss_kb') = %ld",
           25600 * page_kb);
  assert_int_equal(test_sql_int(fx->db, sql), samples_of(fx, 101));
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM telemetry"
                                        " WHERE pid = 102 AND"
                                        " json_extract(sample,"
                                        " '$.write_bytes') = 8192"),
                   samples_of(fx, 102));
}

static void test_a_large_tree_is_sampled_in_turn(void **state) {
  /* 40 processes: at most 16 a tick, each one's turn comes, and what
   * waits for a later tick is counted. */
  fixture *fx = *state;
  char root[300], name[16];
  snprintf(root, sizeof root, "%s/proc", fx->dir);
  mkdir(root, 0755);
  fake_process(root, "self", 1, 'S', 10, 5, 100, 1);
  fake_process(root, "300", 1, 'S', 1000, 5, 100, 1);
  for (int i = 1; i < 40; i++) {
    snprintf(name, sizeof name, "%d", 300 + i);
    fake_process(root, name, 300, 'S', 1000 + i, 5, 100, 1);
  }
  mida__telemetry_stats before, after;
  sample_fake_tree(fx, root, 300, 300, &before, &after);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(DISTINCT pid) FROM"
                                        " telemetry WHERE pid BETWEEN 300"
                                        " AND 339"),
                   40);
  /* Never more than 16 of them in one tick. */
  long long samples = test_sql_int(fx->db, "SELECT count(*) FROM telemetry"
                                           " WHERE pid BETWEEN 300 AND 339");
  long long ticks = samples_of(fx, getpid());
  assert_true(samples <= 16 * ticks);
  assert_true(after.tree_skipped - before.tree_skipped >=
              (uint64_t)(40 - 16) * 2);
}

/* Runs the mida command and returns its output (NUL-terminated, static). */
static const char *run_mida(const char *args, int *status) {
  static char out[1 << 16];
  const char *bin = getenv("MIDA_BIN");
  assert_non_null(bin);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin, args);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  *status = pclose(p);
  return out;
}

static void test_view_and_commands_show_a_tasks_resources(void **state) {
  fixture *fx = *state;
  mida_session_t *s = open_with(fx, 1, 20, NULL);
  mida_task_info_t ti = {.activity = "profiled"};
  mida_id_t t, before;
  assert_int_equal(mida_task_begin(s, &ti, &before), MIDA_OK);
  assert_int_equal(
      mida_task_end(s, &before, MIDA_STATUS_FINISHED, NULL, NULL), MIDA_OK);
  struct timespec nap = {0, 200 * 1000000};
  nanosleep(&nap, NULL);
  assert_int_equal(mida_task_begin(s, &ti, &t), MIDA_OK);
  nap.tv_nsec = 400 * 1000000;
  nanosleep(&nap, NULL);
  assert_int_equal(mida_task_end(s, &t, MIDA_STATUS_FINISHED, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  char id[MIDA_ID_STRLEN], sql[512];
  mida_id_format(&t, id);
  /* 400 ms at 20 Hz: about 8 samples of each scope (fewer on a loaded
   * machine, never none). */
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM task_telemetry_v WHERE task_id = '%s'"
           " AND scope = 'process'", id);
  long long proc = test_sql_int(fx->db, sql);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM task_telemetry_v WHERE task_id = '%s'"
           " AND scope = 'host'", id);
  long long host = test_sql_int(fx->db, sql);
  assert_true(proc >= 2 && proc <= 20);
  assert_true(host >= 2 && host <= 20);
  /* Every joined sample lies within the task. */
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM task_telemetry_v v JOIN task t"
           " ON t.id = v.task_id WHERE v.ts < t.started OR v.ts > t.ended");
  assert_int_equal(test_sql_int(fx->db, sql), 0);

  char args[1024];
  int status;
  snprintf(args, sizeof args, "--store '%s' show %s", fx->url, id);
  const char *out = run_mida(args, &status);
  assert_int_equal(status, 0);
  assert_non_null(strstr(out, "resources\n  cpu_thread_ns: "));
  assert_non_null(strstr(out, "ctx_voluntary"));
  assert_non_null(strstr(out, "telemetry samples while it ran"));
  assert_non_null(strstr(out, "process"));

  snprintf(args, sizeof args, "--store '%s' telemetry --task %s --json",
           fx->url, id);
  out = run_mida(args, &status);
  assert_int_equal(status, 0);
  int rows = 0;
  for (const char *p = out; (p = strstr(p, "\"scope\"")) != NULL; p++)
    rows++;
  assert_int_equal(rows, proc + host);

  snprintf(args, sizeof args, "--store '%s' telemetry --pid 0 --limit 2 --csv",
           fx->url);
  out = run_mida(args, &status);
  assert_int_equal(status, 0);
  assert_non_null(strstr(out, "time,host,pid,scope,cpu_pct,mem_kb"));
  int lines = 0;
  for (const char *p = out; *p != '\0'; p++)
    lines += *p == '\n';
  assert_int_equal(lines, 3); /* header and two samples */

  snprintf(args, sizeof args, "--store '%s' telemetry --since 1h", fx->url);
  out = run_mida(args, &status);
  assert_int_equal(status, 0);
  assert_non_null(strstr(out, "host"));
  snprintf(args, sizeof args, "--store '%s' telemetry --since 2099-01-01",
           fx->url);
  out = run_mida(args, &status);
  assert_int_equal(status, 0);
  assert_non_null(strstr(out, "(no samples)"));
  /* Seconds since the epoch (`date +%s`), an hour into the future: no
   * sample, where read as nanoseconds every one would be after it. */
  snprintf(args, sizeof args, "--store '%s' telemetry --since %lld",
           fx->url, (long long)(time(NULL) + 3600));
  out = run_mida(args, &status);
  assert_int_equal(status, 0);
  assert_non_null(strstr(out, "(no samples)"));
  snprintf(args, sizeof args, "--store '%s' telemetry --since yesterday",
           fx->url);
  out = run_mida(args, &status);
  assert_int_equal(WEXITSTATUS(status), 2);
  assert_non_null(strstr(out, "--since"));
}

static void test_a_forked_child_samples_itself(void **state) {
  fixture *fx = *state;
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  /* ThreadSanitizer does not support threads after a fork, and GCC 12's
   * AddressSanitizer allocator does not guard its locks across fork: a
   * child can inherit them held by the parent's shipper or sampler. */
  skip();
#endif
  mida_session_t *s = open_with(fx, 1, 20, "proc");
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    /* Another store, so that the parent's session is not touched. */
    char url[400];
    snprintf(url, sizeof url, "sqlite://%s/child.db", fx->dir);
    mida_config_t cfg;
    mida_config_init(&cfg);
    cfg.store = url;
    cfg.sample_hz = 20;
    cfg.sample = "proc";
    mida_session_t *cs = NULL;
    if (mida_open(&cfg, &cs, NULL, 0) != MIDA_OK)
      _exit(3);
    struct timespec nap = {0, 300 * 1000000};
    nanosleep(&nap, NULL);
    _exit(mida_close(cs) == MIDA_OK ? 0 : 4);
  }
  int status;
  waitpid(child, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  assert_int_equal(mida_close(s), MIDA_OK);
  char db[400], sql[128];
  snprintf(db, sizeof db, "%s/child.db", fx->dir);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM telemetry WHERE pid = %d",
           (int)child);
  assert_true(test_sql_int(db, sql) >= 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_task_allocating_200mb_shows_in_max_rss, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_cpu_bound_and_sleeping_tasks_differ, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_task_writing_50mb_shows_in_bytes_written, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_nested_tasks_and_ends_on_another_thread, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_back_to_back_tasks_reuse_the_latest_snapshot, setup, teardown),
      cmocka_unit_test_setup_teardown(test_level_0_records_no_summary, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_sampler_keeps_its_rate, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_sampler_switched_off_records_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_settings_are_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_one_process_per_host_samples_the_host, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable_proc_files_are_counted,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_short_last_window_reads_no_impossible_cpu, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_process_that_has_gone_is_counted,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_process_tree_is_sampled_under_each_pid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_large_tree_is_sampled_in_turn,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_view_and_commands_show_a_tasks_resources, setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_forked_child_samples_itself,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

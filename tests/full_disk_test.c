/*
 * full_disk_test.c -- a spool or store whose file system is full, on real
 * tmpfs mounts: capture never kills the program (no SIGBUS through the
 * journal's mapping), drops and counts what it cannot keep, resumes when
 * there is room again, and ships everything it did keep. Also the bound on
 * the spool's size (MIDA_SPOOL_MAX) when the store cannot take records.
 *
 * Mounting needs root (CAP_SYS_ADMIN); elsewhere the tmpfs tests skip. A
 * SIGBUS fails the test (cmocka reports the signal).
 */
#include "mida.h"
#include "mida_config.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#define RING (64 * 1024)

typedef struct fixture {
  char dir[256];   /* scratch directory (not on the tmpfs) */
  char mnt[300];   /* the tmpfs mount point */
  char spool[320]; /* the sessions' spool */
  char db[320];    /* the SQLite store */
  char url[340];   /* sqlite://db */
  int mounted;     /* 1 while mnt is mounted */
} fixture;

static int setup(void **state) {
  fixture *fx = calloc(1, sizeof *fx);
  test_tmpdir(fx->dir, sizeof fx->dir, "fulldisk");
  snprintf(fx->mnt, sizeof fx->mnt, "%s/mnt", fx->dir);
  mkdir(fx->mnt, 0700);
  *state = fx;
  return 0;
}

static int teardown(void **state) {
  fixture *fx = *state;
  if (fx->mounted)
    umount2(fx->mnt, MNT_DETACH);
  test_rmtree(fx->dir);
  free(fx);
  return 0;
}

/* Mounts a tmpfs of the given size ("2m") on fx->mnt, or skips. */
static void mount_tmpfs(fixture *fx, const char *size) {
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s,mode=0700", size);
  if (mount("tmpfs", fx->mnt, "tmpfs", 0, opts) != 0) {
    fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
    skip();
  }
  fx->mounted = 1;
}

/* Mounts a tmpfs of size on fx->mnt (or skips) with the spool on it and
 * the store beside it, off the tmpfs. */
static void spool_on_tmpfs(fixture *fx, const char *size) {
  mount_tmpfs(fx, size);
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->mnt);
  snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->dir);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);
  mkdir(fx->spool, 0700);
}

static void remount_tmpfs(fixture *fx, const char *size) {
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s", size);
  assert_int_equal(mount("tmpfs", fx->mnt, "tmpfs", MS_REMOUNT, opts), 0);
}

/* Fills the file system of dir with the file dir/filler until no byte is
 * left. */
static void fill_up(const char *dir) {
  char path[400];
  snprintf(path, sizeof path, "%s/filler", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  static char block[4096];
  while (write(fd, block, sizeof block) > 0) {
  }
  assert_int_equal(errno, ENOSPC);
  close(fd);
}

static void remove_filler(const char *dir) {
  char path[400];
  snprintf(path, sizeof path, "%s/filler", dir);
  assert_int_equal(unlink(path), 0);
}

static mida_session_t *open_session(const char *store, const char *spool,
                                    uint64_t spool_max, char *warning,
                                    size_t len) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = store;
  cfg.spool = spool;
  cfg.journal_bytes = RING;
  cfg.spool_max = spool_max;
  cfg.ship_interval_ms = 5;
  cfg.sample_hz = 0;
  cfg.telemetry_task = 0;
  mida_session_t *s = NULL;
  int rc = mida_open(&cfg, &s, warning, len);
  if (rc != MIDA_OK)
    fail_msg("mida_open: %s", warning);
  return s;
}

/* Records one task of one record (a begin with a payload of pad bytes).
 * Returns the call's result. */
static int record_task(mida_session_t *s, size_t pad) {
  static char used[8192];
  if (pad > sizeof used - 16)
    pad = sizeof used - 16;
  memcpy(used, "{\"p\":\"", 6);
  memset(used + 6, 'x', pad);
  memcpy(used + 6 + pad, "\"}", 3);
  mida_task_info_t ti = {.activity = "fill", .used = used};
  mida_id_t t;
  return mida_task_begin(s, &ti, &t);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Records until a call succeeds (the journal found room), up to ~5 s.
 * Returns the number of successful calls (0 or 1). */
static int record_until_room(mida_session_t *s) {
  for (int i = 0; i < 500; i++) {
    if (record_task(s, 16) == MIDA_OK)
      return 1;
    sleep_ms(10);
  }
  return 0;
}

/* Bytes on disk of the *.mj files in dir. */
static uint64_t segment_bytes(const char *dir) {
  DIR *d = opendir(dir);
  uint64_t sum = 0;
  if (d == NULL)
    return 0;
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
    size_t n = strlen(e->d_name);
    struct stat st;
    if (n > 3 && strcmp(e->d_name + n - 3, ".mj") == 0 &&
        fstatat(dirfd(d), e->d_name, &st, 0) == 0)
      sum += (uint64_t)st.st_blocks * 512;
  }
  closedir(d);
  return sum;
}

/* The spool's file system is full before mida_open: the session opens with
 * a warning, drops and counts, and starts recording once room returns. */
static void test_spool_full_before_open(void **state) {
  fixture *fx = *state;
  spool_on_tmpfs(fx, "1m");
  fill_up(fx->mnt);

  char warning[512] = "";
  mida_session_t *s =
      open_session(fx->url, fx->spool, 0, warning, sizeof warning);
  assert_non_null(strstr(warning, "No space left on device"));
  const int n = 1000;
  for (int i = 0; i < n; i++)
    assert_int_equal(record_task(s, 100), MIDA_EFULL);
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.dropped, n);
  assert_true(st.spool_full >= 1);
  assert_int_equal(st.records, 0);

  /* Room again: the shipper makes the journal's first segment. */
  remove_filler(fx->mnt);
  assert_int_equal(record_until_room(s), 1);
  assert_int_equal(mida_flush(s, 10000), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task"), 1);
  /* The drops are in the store, for `mida stats`. */
  assert_true(test_sql_int(fx->db, "SELECT sum(value) FROM counter WHERE "
                                   "name = 'dropped'") >= n);
}

/* A spool whose file system is full of the pool's spent files of another
 * size (spool_pool.h: up to 96 of each, left by earlier runs): they give
 * way to the new session's segment, which is made, and nothing is dropped.
 * Without the drain the session opened with "No space left on device"
 * and dropped every record. */
static void test_pool_gives_way_to_a_new_segment(void **state) {
  fixture *fx = *state;
  spool_on_tmpfs(fx, "1m");
  static char block[8192];
  int planted = 0;
  for (int k = 0; k < 96; k++) {
    char path[400];
    snprintf(path, sizeof path, "%s/pool.8192.%d", fx->spool, k);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    ssize_t w = write(fd, block, sizeof block);
    close(fd);
    if (w != (ssize_t)sizeof block) {
      unlink(path);
      break;
    }
    planted++;
  }
  assert_true(planted > 70);
  fill_up(fx->mnt);

  char warning[512] = "";
  mida_session_t *s =
      open_session(fx->url, fx->spool, 0, warning, sizeof warning);
  assert_string_equal(warning, "");
  for (int i = 0; i < 100; i++)
    assert_int_equal(record_task(s, 100), MIDA_OK);
  assert_int_equal(mida_flush(s, 10000), MIDA_OK);
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task"), 100);
  char first[400];
  snprintf(first, sizeof first, "%s/pool.8192.0", fx->spool);
  assert_int_not_equal(access(first, F_OK), 0);
}

/* The store and the spool share a file system that fills while records
 * pour in: every call returns (OK or EFULL, never a signal), whatever a
 * call journaled reaches the store once there is room, and the drops are
 * counted. */
static void test_shared_file_system_fills_midway(void **state) {
  fixture *fx = *state;
  mount_tmpfs(fx, "2m");
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->mnt);
  snprintf(fx->db, sizeof fx->db, "%s/store.db", fx->mnt);
  snprintf(fx->url, sizeof fx->url, "sqlite://%s", fx->db);

  char warning[512] = "";
  mida_session_t *s =
      open_session(fx->url, fx->spool, 0, warning, sizeof warning);
  assert_string_equal(warning, "");
  /* 2 KiB a task: the file system holds about a thousand. */
  long kept = 0, dropped = 0;
  const long n = test_scaled(8000, 4);
  for (long i = 0; i < n; i++) {
    int rc = record_task(s, 2048);
    if (rc == MIDA_OK)
      kept++;
    else if (rc == MIDA_EFULL)
      dropped++;
    else
      fail_msg("task %ld: %s", i, mida_strerror(rc));
    if (i % 64 == 0)
      sleep_ms(1); /* let the shipper fill the store too */
  }
  assert_true(kept > 0);
  assert_true(dropped > 0);
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_int_equal(st.dropped, (uint64_t)dropped);
  assert_true(st.spool_full >= 1);
  /* The store cannot take what the journal kept: flush says so. */
  assert_int_not_equal(mida_flush(s, 200), MIDA_OK);

  /* Room again: capture resumes and the journal drains into the store. */
  remount_tmpfs(fx, "256m");
  kept += record_until_room(s);
  assert_int_equal(mida_flush(s, 30000), MIDA_OK);
  assert_int_equal(mida_close(s), MIDA_OK);
  assert_int_equal(test_sql_int(fx->db, "SELECT count(*) FROM task"), kept);
  assert_int_equal(test_sql_int(fx->db, "SELECT sum(value) FROM counter "
                                        "WHERE name = 'dropped'"),
                   dropped);
  assert_int_equal(segment_bytes(fx->spool), 0);
}

/* A store that takes nothing (a broker that is down) and a bound on the
 * spool: capture drops and counts once the spool holds MIDA_SPOOL_MAX,
 * instead of filling the disk. */
static void test_spool_max_bounds_the_backlog(void **state) {
  fixture *fx = *state;
#if !MIDA_HAVE_HIREDIS
  skip();
#endif
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  const uint64_t max = 4 * (RING + 4096);
  char warning[512] = "";
  mida_session_t *s = open_session("redis://127.0.0.1:1/mida-full-disk",
                                   fx->spool, max, warning, sizeof warning);
  long dropped = 0;
  for (long i = 0; i < 2000; i++) {
    int rc = record_task(s, 1024);
    assert_true(rc == MIDA_OK || rc == MIDA_EFULL);
    dropped += rc == MIDA_EFULL;
  }
  mida_stats_t st;
  mida_stats_get(s, &st);
  assert_true(dropped > 0);
  assert_int_equal(st.dropped, (uint64_t)dropped);
  assert_true(st.spool_full >= 1);
  assert_true(st.segments <= 4);
  assert_true(segment_bytes(fx->spool) <= max);
  (void)mida_close(s);
}

/* A bound smaller than one segment is a configuration error. */
static void test_spool_max_below_one_segment_is_refused(void **state) {
  fixture *fx = *state;
  snprintf(fx->spool, sizeof fx->spool, "%s/spool", fx->dir);
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = "sqlite:///nonexistent/dir/never.db";
  cfg.spool = fx->spool;
  cfg.journal_bytes = RING;
  cfg.spool_max = RING;
  cfg.sample_hz = 0;
  mida_session_t *s = NULL;
  char err[512] = "";
  assert_int_equal(mida_open(&cfg, &s, err, sizeof err), MIDA_EINVAL);
  assert_null(s);
  assert_non_null(strstr(err, "MIDA_SPOOL_MAX"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_spool_full_before_open, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pool_gives_way_to_a_new_segment,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_shared_file_system_fills_midway,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_spool_max_bounds_the_backlog, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_spool_max_below_one_segment_is_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

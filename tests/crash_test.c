/*
 * crash_test.c -- nothing whose call returned is lost to SIGKILL.
 *
 * A child process records tasks as fast as it can and, after each
 * mida_task_end() returns, writes the task's number into a pipe. The parent
 * kills it with SIGKILL at a random moment, reads the last number it
 * reported, runs the real `mida recover`, and checks that every task up to
 * that number is in the store, complete, exactly once. Each run picks a new
 * moment; the shipper interval and journal size vary too, so that the kill
 * lands before the first batch, in the middle of shipping, and across
 * segment rolls.
 */
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

static void child_record_tasks(const char *url, int progress_fd,
                               unsigned ship_ms, size_t ring) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.campaign = "crash";
  cfg.ship_interval_ms = ship_ms;
  cfg.journal_bytes = ring;
  mida_session_t *s = NULL;
  char err[512];
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "crash child: mida_open: %s\n", err);
    _exit(3);
  }
  for (int32_t i = 0;; i++) {
    char key[32], used[64], gen[64];
    snprintf(key, sizeof key, "k%d", i);
    snprintf(used, sizeof used, "{\"i\":%d,\"pad\":\"xxxxxxxxxxxxxxxx\"}", i);
    snprintf(gen, sizeof gen, "{\"sq\":%lld}", (long long)i * i);
    mida_task_info_t ti = {.activity = "work", .used = used, .source_key = key};
    mida_id_t t;
    if (mida_task_begin(s, &ti, &t) != MIDA_OK ||
        mida_task_end(s, &t, MIDA_STATUS_FINISHED, gen, NULL) != MIDA_OK)
      _exit(4);
    if (write(progress_fd, &i, sizeof i) != (ssize_t)sizeof i)
      _exit(5);
  }
}

/* Kills a recording child after delay_ms and returns the last task number
 * whose end call had returned (-1 if none). */
static int32_t run_and_kill(const char *url, unsigned delay_ms,
                            unsigned ship_ms, size_t ring) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child_record_tasks(url, fds[1], ship_ms, ring);
  }
  close(fds[1]);
  int32_t last = -1, value;
  size_t partial = 0;
  char *buf = (char *)&value;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  bool killed = false;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 +
                   (now.tv_nsec - start.tv_nsec) / 1000000;
    if (!killed && elapsed >= (long)delay_ms) {
      kill(pid, SIGKILL);
      killed = true;
    }
    struct pollfd pfd = {fds[0], POLLIN, 0};
    poll(&pfd, 1, killed ? 1000 : 1);
    if (!(pfd.revents & (POLLIN | POLLHUP)))
      continue;
    ssize_t r = read(fds[0], buf + partial, sizeof value - partial);
    if (r <= 0)
      break; /* EOF: the child is gone and the pipe drained */
    partial += (size_t)r;
    if (partial == sizeof value) {
      assert_int_equal(value, last + 1);
      last = value;
      partial = 0;
    }
  }
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  return last;
}

static int count_segments(const char *spool) {
  DIR *d = opendir(spool);
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += strstr(e->d_name, ".mj") != NULL;
  closedir(d);
  return n;
}

static void test_sigkill_at_random_moments_loses_nothing(void **state) {
  (void)state;
  const char *mida_bin = getenv("MIDA_BIN");
  assert_non_null(mida_bin);
  srand((unsigned)time(NULL) ^ (unsigned)getpid());
  int runs = (int)test_scaled(6, 2);
  for (int run = 0; run < runs; run++) {
    char dir[256], db[300], url[320], spool[320], sql[512], cmd[1200];
    test_tmpdir(dir, sizeof dir, "crash");
    snprintf(db, sizeof db, "%s/store.db", dir);
    snprintf(url, sizeof url, "sqlite://%s", db);
    snprintf(spool, sizeof spool, "%s.spool", db);
    unsigned delay = 5 + (unsigned)(rand() % 400);
    unsigned ship = (run % 3 == 0) ? 60000 : 1 + (unsigned)(rand() % 20);
    size_t ring = (run % 2 == 0) ? 64 * 1024 : 4 * 1024 * 1024;
    int32_t last = run_and_kill(url, delay, ship, ring);
    fprintf(stderr,
            "run %d: killed after %u ms (ship %u ms, ring %zu), "
            "last task returned: %d\n",
            run, delay, ship, ring, last);

    snprintf(cmd, sizeof cmd, "'%s' recover --store '%s' >/dev/null", mida_bin,
             url);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(count_segments(spool), 0);
    if (last < 0) {
      test_rmtree(dir);
      continue;
    }
    /* Every task up to `last`: present once, complete, values exact. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM task WHERE status = 'FINISHED' "
             "AND activity = 'work' AND started > 0 AND ended >= started "
             "AND CAST(substr(source_key, 2) AS INTEGER) <= %d "
             "AND used->>'i' = CAST(substr(source_key, 2) AS INTEGER) "
             "AND generated->>'sq' = (used->>'i') * (used->>'i')",
             last);
    assert_int_equal(test_sql_int(db, sql), last + 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) - count(DISTINCT source_key) FROM task");
    assert_int_equal(test_sql_int(db, sql), 0);
    /* At most one task more may have begun (its end never returned). */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM task");
    long long total = test_sql_int(db, sql);
    assert_true(total == last + 1 || total == last + 2);
    test_rmtree(dir);
  }
}

/* Starts a child that records `tasks` tasks with its shipper asleep,
 * reports that it is done, and is then killed. */
static void record_then_die(const char *url, int tasks) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    mida_config_t cfg;
    mida_config_init(&cfg);
    cfg.store = url;
    cfg.ship_interval_ms = 60000;
    mida_session_t *s = NULL;
    if (mida_open(&cfg, &s, NULL, 0) != MIDA_OK)
      _exit(3);
    /* After a flush the shipper sleeps for a minute: what follows stays
     * in the journal until the kill. */
    if (mida_flush(s, 10000) != MIDA_OK)
      _exit(6);
    for (int i = 0; i < tasks; i++) {
      char key[32];
      snprintf(key, sizeof key, "k%d", i);
      mida_task_info_t ti = {.activity = "work", .source_key = key};
      mida_id_t t;
      if (mida_task_begin(s, &ti, &t) != MIDA_OK ||
          mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"ok\":1}", NULL) !=
              MIDA_OK)
        _exit(4);
    }
    char done = 1;
    if (write(fds[1], &done, 1) != 1)
      _exit(5);
    pause();
  }
  close(fds[1]);
  char done = 0;
  assert_int_equal(read(fds[0], &done, 1), 1);
  close(fds[0]);
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFSIGNALED(status));
}

static void test_next_session_ships_a_dead_process_journal(void **state) {
  (void)state;
  char dir[256], db[300], url[320];
  test_tmpdir(dir, sizeof dir, "next");
  snprintf(db, sizeof db, "%s/store.db", dir);
  snprintf(url, sizeof url, "sqlite://%s", db);
  record_then_die(url, 2000);
  /* Opening a session on the same store ships the orphan (on the
   * shipper's thread, before the session's own records): once a flush
   * returns, the store has it; closing it makes sure of everything. */
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  mida_session_t *s = NULL;
  assert_int_equal(mida_open(&cfg, &s, NULL, 0), MIDA_OK);
  assert_int_equal(mida_flush(s, 30000), MIDA_OK);
  assert_int_equal(test_sql_int(db, "SELECT count(*) FROM task WHERE "
                                    "status='FINISHED' AND activity='work'"),
                   2000);
  assert_int_equal(mida_close(s), MIDA_OK);
  test_rmtree(dir);
}

/* Flips bytes in the middle of the unshipped part of the only segment. */
static void corrupt_segment(const char *spool) {
  DIR *d = opendir(spool);
  assert_non_null(d);
  struct dirent *e;
  char path[700] = "";
  while ((e = readdir(d)) != NULL)
    if (strstr(e->d_name, ".mj") != NULL)
      snprintf(path, sizeof path, "%s/%s", spool, e->d_name);
  closedir(d);
  assert_true(path[0] != '\0');
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint64_t tail = 0, head = 0, ring = 0;
  assert_int_equal(pread(fd, &ring, 8, 16), 8);
  assert_int_equal(pread(fd, &tail, 8, 128), 8);
  assert_int_equal(pread(fd, &head, 8, 136), 8);
  tail &= ~(UINT64_C(1) << 63);
  assert_true(tail > head + 4096);
  off_t at = 4096 + (off_t)((head + (tail - head) / 2) % ring);
  unsigned char junk[16];
  memset(junk, 0xA5, sizeof junk);
  assert_int_equal(pwrite(fd, junk, sizeof junk, at), (ssize_t)sizeof junk);
  close(fd);
}

static void
test_corrupt_frames_are_skipped_and_counted_by_recover(void **state) {
  (void)state;
  const char *mida_bin = getenv("MIDA_BIN");
  assert_non_null(mida_bin);
  char dir[256], db[300], url[320], spool[320], cmd[1200];
  test_tmpdir(dir, sizeof dir, "corrupt");
  snprintf(db, sizeof db, "%s/store.db", dir);
  snprintf(url, sizeof url, "sqlite://%s", db);
  snprintf(spool, sizeof spool, "%s.spool", db);
  record_then_die(url, 2000);
  corrupt_segment(spool);
  snprintf(cmd, sizeof cmd, "'%s' recover --store '%s' >'%s/out.txt' 2>&1",
           mida_bin, url, dir);
  assert_int_equal(system(cmd), 0);
  char out[700];
  snprintf(out, sizeof out, "%s/out.txt", dir);
  FILE *f = fopen(out, "r");
  assert_non_null(f);
  char line[512] = "";
  assert_non_null(fgets(line, sizeof line, f));
  fclose(f);
  assert_non_null(strstr(line, "corrupt"));
  assert_null(strstr(line, "; 0 corrupt"));
  /* One or two records were hit; every other task is whole. */
  long long finished =
      test_sql_int(db, "SELECT count(*) FROM task WHERE status='FINISHED' AND "
                       "activity='work' AND generated->>'ok' = 1");
  assert_true(finished >= 1997 && finished < 2000);
  assert_true(test_sql_int(db, "SELECT sum(value) FROM counter WHERE "
                               "name='corrupt'") >= 1);
  assert_int_equal(count_segments(spool), 0);
  test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sigkill_at_random_moments_loses_nothing),
      cmocka_unit_test(test_next_session_ships_a_dead_process_journal),
      cmocka_unit_test(test_corrupt_frames_are_skipped_and_counted_by_recover),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

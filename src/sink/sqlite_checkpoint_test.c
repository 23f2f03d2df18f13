/*
 * sqlite_checkpoint_test.c -- in a process of mida's own, the SQLite
 * store's WAL goes back into the database while the writer writes
 * (sqlite_checkpoint.h), the close still leaves one complete database
 * file, and the writer keeps a larger page cache (sqlite.c,
 * OWN_WRITER_CACHE_KIB); inside someone else's program, nothing changes.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/sink.h"
#include "sink/store_fixture.h"

#include <setjmp.h>
#include <signal.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static const mida__origin origin = {"origin-host", 777};

static mida__sink *open_store(const char *path) {
  char err[512] = "";
  mida__sink *sink = NULL;
  int rc = mida__sink_open(path, 0, &sink, err, sizeof err);
  if (rc != MIDA_OK)
    fprintf(stderr, "open %s: %s\n", path, err);
  assert_int_equal(rc, MIDA_OK);
  return sink;
}

/* Writes batches tasks in batches of per tasks, each with a ~2 KB
 * activity, so that the WAL grows by ~1 MiB every ~500 tasks. */
#define ACTIVITY_BYTES 300
static void write_tasks(mida__sink *sink, int batches, int per) {
  static char activity[ACTIVITY_BYTES + 1];
  memset(activity, 'a', ACTIVITY_BYTES);
  mida__rec *recs = calloc((size_t)per, sizeof *recs);
  assert_non_null(recs);
  for (int b = 0; b < batches; b++) {
    for (int i = 0; i < per; i++) {
      mida__rec *r = &recs[i];
      memset(r, 0, sizeof *r);
      r->type = MIDA_REC_TASK;
      r->f[MIDA_F_ID].present = true;
      r->f[MIDA_F_ID].v.id = mida_id_new();
      r->f[MIDA_F_ACTIVITY].present = true;
      r->f[MIDA_F_ACTIVITY].v.str.ptr = activity;
      r->f[MIDA_F_ACTIVITY].v.str.len = ACTIVITY_BYTES;
      r->f[MIDA_F_STATUS].present = true;
      r->f[MIDA_F_STATUS].v.i64 = MIDA_STATUS_FINISHED;
    }
    int rc = mida__sink_put_batch(sink, recs, (size_t)per, &origin);
    if (rc != MIDA_OK)
      fprintf(stderr, "put_batch: %s\n", mida__sink_errmsg(sink));
    assert_int_equal(rc, MIDA_OK);
  }
  free(recs);
}

static long long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* The database file's size after ~8 MiB of tasks were written, waiting up
 * to wait_ms for it to grow by 1 MiB while the writer is still open; its
 * size before them in *before. */
static long long size_while_open(const char *path, int wait_ms,
                                 long long *before) {
  mida__sink *sink = open_store(path);
  *before = file_size(path);
  write_tasks(sink, 20, 200); /* 4,000 tasks, ~8 MiB */
  long long grown = *before;
  for (int waited = 0; waited < wait_ms && grown < *before + (1LL << 20);
       waited += 20) {
    sleep_ms(20);
    grown = file_size(path);
  }
  mida__sink_close(sink);
  return grown;
}

static int first_value(void *ctx, int ncols, const char *const *names,
                       const char *const *values) {
  (void)names;
  if (ncols > 0 && values[0] != NULL)
    snprintf(ctx, 32, "%s", values[0]);
  return 1;
}

/* The page cache of a writer to the store at path, as PRAGMA cache_size
 * says it (negative: KiB). */
static long writer_cache(const char *path) {
  mida__sink *sink = open_store(path);
  char value[32] = "";
  assert_int_equal(mida__sink_query(sink, "SELECT * FROM pragma_cache_size()",
                                    NULL, 0, first_value, value),
                   MIDA_OK);
  mida__sink_close(sink);
  return strtol(value, NULL, 10);
}

/* Inside someone else's program (the library, before any
 * mida__sink_own_process) there is no such thread: SQLite's own
 * checkpoints, at 32 MiB of WAL or the close, as before. It runs first:
 * the permission is the whole process's. */
static void test_no_thread_inside_someone_elses_program(void **state) {
  fixture *fx = *state;
  long long before = 0;
  long long grown = size_while_open(fx->path, 1000, &before);
  fprintf(stderr, "library: database file %lld -> %lld bytes while open\n",
          before, grown);
  assert_true(grown < before + (1LL << 20));
  assert_int_equal(writer_cache(fx->path), -2000); /* SQLite's default */
}

/* In a process of mida's own. Without a checkpoint before SQLite's
 * automatic one (32 MiB of WAL) or the close, the database file would
 * keep the size the schema gave it while 8 MiB of tasks sit in the WAL. */
static void
test_the_wal_goes_into_the_database_while_the_writer_writes(void **state) {
  fixture *fx = *state;
  mida__sink_own_process(); /* as mida's commands do, first thing */
  long long before = 0;
  long long grown = size_while_open(fx->path, 10000, &before);
  fprintf(stderr, "own process: database file %lld -> %lld bytes while open\n",
          before, grown);
  assert_true(grown >= before + (1LL << 20));
  assert_int_equal(writer_cache(fx->path), -32768);
}

/* The close, after the thread's checkpoints, still leaves one file that
 * holds everything: no WAL beside it. */
static void test_the_close_leaves_one_complete_file(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path);
  write_tasks(sink, 12, 250);
  mida__sink_close(sink);
  char wal[160];
  snprintf(wal, sizeof wal, "%s-wal", fx->path);
  assert_int_equal(file_size(wal), -1);
  assert_int_equal(tasks_read_plainly(fx->path, NULL), 3000);
}

/* The WAL's length in frames and how many of them a checkpoint has copied
 * back, from its shared-memory index (<db>-shm, SQLite's WAL format: the
 * header's mxFrame at byte 16, the checkpoint's nBackfill at byte 96, in
 * the machine's byte order). */
static void wal_progress(const char *db, uint32_t *frames,
                         uint32_t *backfilled) {
  char shm[160];
  snprintf(shm, sizeof shm, "%s-shm", db);
  int fd = open(shm, O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, frames, 4, 16), 4);
  assert_int_equal(pread(fd, backfilled, 4, 96), 4);
  close(fd);
}

/* Whether, within 10 s, a checkpoint copied back every frame of the WAL. */
/* Waits up to 60 s: a checkpoint syncs the WAL and the database, which
 * a loaded machine's disk can hold up for seconds (a CI run beside other
 * jobs once passed a 10 s bound here); without the thread's wake the WAL
 * is never copied back, however long the wait. */
static int caught_up(const char *db) {
  for (int waited = 0; waited < 60000; waited += 10) {
    uint32_t frames = 0, backfilled = 0;
    wal_progress(db, &frames, &backfilled);
    if (backfilled == frames) {
      if (waited >= 1000)
        fprintf(stderr, "caught up after %d ms\n", waited);
      return 1;
    }
    sleep_ms(10);
  }
  return 0;
}

/* A WAL past 4 MiB (sqlite_checkpoint.c, CKPT_RESTART_FRAMES) is copied
 * back whole once the writer pauses after a commit, however few frames
 * that commit added, so that the writer's next commit starts it over
 * from its beginning: the file stays near that size during a long
 * shipping instead of growing to SQLite's fallback checkpoint (32 MiB).
 * Before, the thread was woken only every 256 frames, and what came after
 * its last wake stayed in the WAL while the writer paused. Three times:
 * a commit that happened to cross such a step would have woken it. */
/* (In a process of mida's own: an earlier test made it one.) */
static void test_a_pause_lets_a_long_wal_start_over(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path);
  for (int round = 0; round < 3; round++) {
    uint32_t frames = 0, backfilled = 0;
    do {
      write_tasks(sink, 1, 200);
      wal_progress(fx->path, &frames, &backfilled);
    } while (frames < 1100);
    write_tasks(sink, 1, 1); /* a few frames: no step crossed, mostly */
    wal_progress(fx->path, &frames, &backfilled);
    /* The thread, woken by the loop's last commit, may have copied all of
     * it back before this one, which then started the WAL over already
     * (seen under TSan in CI: it waited for those few new frames, which
     * no wake is due for). Else this commit is what it copies back. */
    if (frames >= 1100) {
      if (!caught_up(fx->path))
        fail_msg("round %d: the WAL was not copied back while the writer "
                 "paused",
                 round);
      write_tasks(sink, 1, 1);
      wal_progress(fx->path, &frames, &backfilled);
    }
    fprintf(stderr, "round %d: %u frames after the pause\n", round, frames);
    assert_true(frames < 64); /* started over */
  }
  mida__sink_close(sink);
}

/* A process that forks while the thread checkpoints hands its child no
 * lock of SQLite's held (the fork waits for the checkpoint, sink.c's fork
 * guard): the child writes to the store and ends. */
static void
test_a_fork_during_checkpoints_leaves_the_child_working(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_store(fx->path);
  for (int round = 0; round < 10; round++) {
    write_tasks(sink, 2, 300);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char err[256];
      mida__sink *own = NULL;
      if (mida__sink_open(fx->path, 0, &own, err, sizeof err) != MIDA_OK)
        _exit(2);
      mida__rec r;
      memset(&r, 0, sizeof r);
      r.type = MIDA_REC_TASK;
      r.f[MIDA_F_ID].present = true;
      r.f[MIDA_F_ID].v.id = mida_id_new();
      int rc = mida__sink_put_batch(own, &r, 1, &origin);
      mida__sink_close(own);
      _exit(rc == MIDA_OK ? 0 : 3);
    }
    int status = 0;
    int waited = 0;
    while (waitpid(pid, &status, WNOHANG) == 0 && waited < 30000) {
      sleep_ms(10);
      waited += 10;
    }
    if (waited >= 30000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      fail_msg("the child of a fork hung on the store");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  mida__sink_close(sink);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_no_thread_inside_someone_elses_program, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_the_wal_goes_into_the_database_while_the_writer_writes, setup,
          teardown),
      cmocka_unit_test_setup_teardown(test_the_close_leaves_one_complete_file,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_pause_lets_a_long_wal_start_over,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_a_fork_during_checkpoints_leaves_the_child_working, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

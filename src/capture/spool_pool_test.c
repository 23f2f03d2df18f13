/*
 * spool_pool_test.c -- unit tests of the pool of spent segment files
 * (spool_pool.h): a shipped segment goes into a free slot of its size, a
 * journal takes it back as its next segment with every old byte zeroed,
 * and whatever is not a file of ours, of the asked size and free to lock
 * is never taken.
 */
#include "capture/journal.h"
#include "capture/spool_fixture.h"
#include "capture/spool_pool.h"

#include "core/record.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define RING (64 * 1024)
#define MAP_BYTES (MIDA_JOURNAL_HEADER_BYTES + RING)
#define START_NS_AT 40 /* the segment header's start_ns (journal.c) */

/* flock(2) for this program, the journal's calls included (they link
 * statically): runs the hook once, at the next call, before the lock is
 * asked for -- the moment another process would act at in a race. */
static void (*before_next_flock)(void);

int flock(int fd, int op) {
  void (*hook)(void) = before_next_flock;
  before_next_flock = NULL;
  if (hook != NULL)
    hook();
  return (int)syscall(SYS_flock, fd, op);
}

/* rename(2) for this program, as flock above: runs the hook once, at the
 * next call, before the rename is made. */
static void (*before_next_rename)(void);

int rename(const char *from, const char *to) {
  void (*hook)(void) = before_next_rename;
  before_next_rename = NULL;
  if (hook != NULL)
    hook();
  return (int)syscall(SYS_rename, from, to);
}

/* Makes dir/name, bytes long, every byte fill; returns its path (to free). */
static char *make_file(const char *dir, const char *name, size_t bytes,
                       int fill) {
  char *path = NULL;
  assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  char block[4096];
  memset(block, fill, sizeof block);
  for (size_t done = 0; done < bytes;) {
    size_t n = bytes - done < sizeof block ? bytes - done : sizeof block;
    assert_int_equal(write(fd, block, n), (ssize_t)n);
    done += n;
  }
  close(fd);
  return path;
}

/* Puts dir/name (made bytes long) into the pool as its shipper would: open
 * and locked. Returns what mida__spool_pool_put said. */
static bool put_new(const char *dir, const char *name, size_t bytes) {
  char *path = make_file(dir, name, bytes, 0x5a);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
  bool put = mida__spool_pool_put(path, fd);
  assert_int_equal(access(path, F_OK) == 0, !put);
  close(fd);
  free(path);
  return put;
}

static bool exists(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

static ino_t inode_of(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return st.st_ino;
}

static void test_put_fills_the_slots_of_a_size_then_refuses(void **state) {
  const char *dir = *state;
  char name[64];
  for (int k = 0; k < MIDA_POOL_SLOTS; k++) {
    snprintf(name, sizeof name, "s%d.mj", k);
    assert_true(put_new(dir, name, 8192));
    snprintf(name, sizeof name, "pool.8192.%d", k);
    assert_true(exists(dir, name));
  }
  assert_false(put_new(dir, "one-too-many.mj", 8192));
  /* Another size has slots of its own. */
  assert_true(put_new(dir, "other.mj", 4096));
  assert_true(exists(dir, "pool.4096.0"));
}

static void test_put_refuses_a_large_file(void **state) {
  const char *dir = *state;
  assert_false(put_new(dir, "big.mj", MIDA_POOL_MAX_BYTES + 4096));
}

static void test_take_renames_and_locks_the_file(void **state) {
  const char *dir = *state;
  assert_true(put_new(dir, "a.mj", 8192));
  char *pooled = NULL;
  assert_true(asprintf(&pooled, "%s/pool.8192.0", dir) > 0);
  ino_t ino = inode_of(pooled);
  char *mine = NULL;
  assert_true(asprintf(&mine, "%s/b.mj.tmp", dir) > 0);
  int fd = mida__spool_pool_take(dir, 8192, mine);
  assert_true(fd >= 0);
  assert_false(exists(dir, "pool.8192.0"));
  assert_int_equal(inode_of(mine), ino);
  int other = open(mine, O_RDONLY);
  assert_true(other >= 0);
  assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
  assert_int_equal(errno, EWOULDBLOCK);
  close(other);
  close(fd);
  free(mine);
  free(pooled);
}

/* A commit of `mida run`'s collector may put back many files at once
 * (here every slot), and as many processes take them one after another:
 * every one of them finds one, the highest first, so that the slots in
 * use stay a prefix; the next put goes into the lowest free slot. */
static void test_take_finds_the_highest_slot(void **state) {
  const char *dir = *state;
  char name[64];
  for (int k = 0; k < MIDA_POOL_SLOTS; k++) {
    snprintf(name, sizeof name, "s%d.mj", k);
    assert_true(put_new(dir, name, 8192));
  }
  char mine[1024];
  for (int k = MIDA_POOL_SLOTS - 1; k >= 0; k--) {
    snprintf(mine, sizeof mine, "%s/t%d.mj.tmp", dir, k);
    int fd = mida__spool_pool_take(dir, 8192, mine);
    assert_true(fd >= 0);
    close(fd);
    snprintf(name, sizeof name, "pool.8192.%d", k);
    assert_false(exists(dir, name));
    if (k > 0) {
      snprintf(name, sizeof name, "pool.8192.%d", k - 1);
      assert_true(exists(dir, name));
    }
  }
  snprintf(mine, sizeof mine, "%s/none.mj.tmp", dir);
  assert_int_equal(mida__spool_pool_take(dir, 8192, mine), -1);
  assert_false(exists(dir, "none.mj.tmp"));
}

/* Takes a file of 8192 bytes from the pool of dir, as a journal would,
 * and fails the test if there is none; it stays in dir as t.mj.tmp. */
static void take_one(const char *dir) {
  char mine[1024];
  snprintf(mine, sizeof mine, "%s/t.mj.tmp", dir);
  int fd = mida__spool_pool_take(dir, 8192, mine);
  assert_true(fd >= 0);
  close(fd);
}

/* Puts fill the lowest free slots: after three puts and a take, the next
 * put goes where the take left a slot free, above the two in use. */
static void test_put_goes_to_the_lowest_free_slot(void **state) {
  const char *dir = *state;
  assert_true(put_new(dir, "a.mj", 8192));
  assert_true(put_new(dir, "b.mj", 8192));
  assert_true(put_new(dir, "c.mj", 8192));
  assert_true(exists(dir, "pool.8192.2"));
  take_one(dir);
  assert_false(exists(dir, "pool.8192.2"));
  assert_true(put_new(dir, "d.mj", 8192));
  assert_true(exists(dir, "pool.8192.2"));
  assert_false(exists(dir, "pool.8192.3"));
}

/* A take whose slot another taker empties between its bisection and its
 * rename goes down to the next file; a slot found free stops the
 * bisection, so a file above a hole waits for the puts to fill it. */
static char *racing_slot; /* renamed away by the hook, as a taker would */

static void take_racing_slot(void) {
  char *gone = NULL;
  assert_true(asprintf(&gone, "%s.gone", racing_slot) > 0);
  assert_int_equal(syscall(SYS_rename, racing_slot, gone), 0);
  free(gone);
}

static void test_take_goes_down_past_a_taken_slot(void **state) {
  const char *dir = *state;
  for (int k = 0; k < 5; k++) {
    char name[64];
    snprintf(name, sizeof name, "s%d.mj", k);
    assert_true(put_new(dir, name, 8192));
  }
  assert_true(asprintf(&racing_slot, "%s/pool.8192.4", dir) > 0);
  before_next_rename = take_racing_slot;
  take_one(dir);
  assert_false(exists(dir, "pool.8192.3"));
  assert_true(exists(dir, "pool.8192.2"));
  /* A hole at 1: the bisection stops there and takes 0; 2 stays. */
  char *one = NULL;
  assert_true(asprintf(&one, "%s/pool.8192.1", dir) > 0);
  assert_int_equal(unlink(one), 0);
  take_one(dir);
  assert_false(exists(dir, "pool.8192.0"));
  assert_true(exists(dir, "pool.8192.2"));
  free(one);
  free(racing_slot);
  racing_slot = NULL;
}

/* A drain removes the pool's files of every size and nothing else: not a
 * segment, nor a name that only looks like a slot's. */
static void test_drain_removes_the_pool_and_nothing_else(void **state) {
  const char *dir = *state;
  assert_true(put_new(dir, "a.mj", 8192));
  assert_true(put_new(dir, "b.mj", 8192));
  assert_true(put_new(dir, "c.mj", 4096));
  free(make_file(dir, "kept.mj", 4096, 0));
  free(make_file(dir, "pool.4096", 4096, 0));
  free(make_file(dir, "pool.4096.1.mj", 4096, 0));
  free(make_file(dir, "pool.x.1", 4096, 0));
  assert_int_equal(mida__spool_pool_drain(dir), 3);
  assert_false(exists(dir, "pool.8192.0"));
  assert_false(exists(dir, "pool.8192.1"));
  assert_false(exists(dir, "pool.4096.0"));
  assert_true(exists(dir, "kept.mj"));
  assert_true(exists(dir, "pool.4096"));
  assert_true(exists(dir, "pool.4096.1.mj"));
  assert_true(exists(dir, "pool.x.1"));
  assert_int_equal(mida__spool_pool_drain(dir), 0);
}

static void test_take_wants_the_exact_size(void **state) {
  const char *dir = *state;
  assert_true(put_new(dir, "a.mj", 8192));
  char *mine = NULL;
  assert_true(asprintf(&mine, "%s/b.mj.tmp", dir) > 0);
  assert_int_equal(mida__spool_pool_take(dir, 4096, mine), -1);
  assert_int_equal(mida__spool_pool_take(dir, 12288, mine), -1);
  assert_true(exists(dir, "pool.8192.0"));
  assert_false(exists(dir, "b.mj.tmp"));
  free(mine);
}

static void test_take_from_an_empty_pool_makes_nothing(void **state) {
  const char *dir = *state;
  char *mine = NULL;
  assert_true(asprintf(&mine, "%s/b.mj.tmp", dir) > 0);
  assert_int_equal(mida__spool_pool_take(dir, 8192, mine), -1);
  assert_false(exists(dir, "b.mj.tmp"));
  free(mine);
}

/* A file in a slot that another process still holds locked (the shipper
 * that put it there, about to close it) is not used: nothing is left at
 * the taker's name, and the taker makes a new file instead. */
static void test_take_leaves_a_locked_file(void **state) {
  const char *dir = *state;
  char *pooled = make_file(dir, "pool.8192.0", 8192, 0);
  int holder = open(pooled, O_RDWR);
  assert_true(holder >= 0);
  assert_int_equal(flock(holder, LOCK_EX | LOCK_NB), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    char mine[1024];
    snprintf(mine, sizeof mine, "%s/b.mj.tmp", dir);
    int fd = mida__spool_pool_take(dir, 8192, mine);
    _exit(fd == -1 && access(mine, F_OK) != 0 ? 0 : 1);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  close(holder);
  free(pooled);
}

/* A symbolic link in a slot is not followed. */
static void test_take_refuses_a_link(void **state) {
  const char *dir = *state;
  char *target = make_file(dir, "target", 8192, 0);
  char *slot = NULL;
  assert_true(asprintf(&slot, "%s/pool.8192.0", dir) > 0);
  assert_int_equal(symlink(target, slot), 0);
  char *mine = NULL;
  assert_true(asprintf(&mine, "%s/b.mj.tmp", dir) > 0);
  assert_int_equal(mida__spool_pool_take(dir, 8192, mine), -1);
  assert_false(exists(dir, "b.mj.tmp"));
  assert_true(exists(dir, "target"));
  free(mine);
  free(slot);
  free(target);
}

/* ---- with the journal --------------------------------------------------- */

static int only_segment(void *ctx, const char *path) {
  char **out = ctx;
  assert_null(*out);
  *out = strdup(path);
  return MIDA_OK;
}

/* A journal's first segment is the pooled file of its size, and not one
 * byte of what that file held is left where the journal did not write. */
static void test_journal_takes_a_pooled_file_zeroed(void **state) {
  const char *dir = *state;
  char *pooled = make_file(dir, "pool.69632.0", MAP_BYTES, 0xab);
  ino_t ino = inode_of(pooled);
  mida__journal *j = NULL;
  char err[256] = "";
  int rc = mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0, "poolhost", 4242,
                              &j, err, sizeof err);
  if (rc != MIDA_OK)
    fail_msg("journal_open: %d %s", rc, err);
  assert_false(exists(dir, "pool.69632.0"));
  char *seg = NULL;
  assert_int_equal(mida__spool_list(dir, only_segment, &seg), MIDA_OK);
  assert_non_null(seg);
  assert_int_equal(inode_of(seg), ino);
  int fd = open(seg, O_RDONLY);
  assert_true(fd >= 0);
  static uint8_t bytes[MAP_BYTES];
  assert_int_equal(pread(fd, bytes, sizeof bytes, 0), (ssize_t)sizeof bytes);
  close(fd);
  /* The header's start time (offset 40, 8 bytes of nanoseconds) may hold
   * a byte 0xab by chance (about 1 run in 40); it is the journal's own. */
  memset(bytes + START_NS_AT, 0, 8);
  assert_null(memchr(bytes, 0xab, sizeof bytes));
  mida__journal_close(j);
  free(seg);
  free(pooled);
}

/* Shipped and closed, the segment of a process that ended goes into the
 * pool, and the next journal takes it. */
static void test_shipped_orphan_goes_into_the_pool(void **state) {
  const char *dir = *state;
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    mida__journal *j = NULL;
    if (mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0, "poolhost",
                           getpid(), &j, NULL, 0) != MIDA_OK)
      _exit(2);
    mida__slot slot;
    if (mida__journal_reserve(j, MIDA_REC_TASK, 8, &slot) != MIDA_OK)
      _exit(3);
    memset(slot.payload, 7, 8);
    mida__journal_commit(j, &slot);
    _exit(0); /* no close: as if killed */
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  char *seg = NULL;
  assert_int_equal(mida__spool_list(dir, only_segment, &seg), MIDA_OK);
  assert_non_null(seg);
  ino_t ino = inode_of(seg);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(seg, &o, NULL, 0), MIDA_OK);
  mida__frame frames[4];
  uint64_t mark;
  assert_int_equal(mida__orphan_peek(o, frames, 4, &mark), 1);
  mida__orphan_release(o, mark);
  mida__orphan_close(o, true);
  assert_int_equal(access(seg, F_OK), -1);
  char *pooled = NULL;
  assert_true(asprintf(&pooled, "%s/pool.%d.0", dir, MAP_BYTES) > 0);
  assert_int_equal(inode_of(pooled), ino);

  mida__journal *j = NULL;
  assert_int_equal(mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0,
                                      "poolhost", 4243, &j, NULL, 0),
                   MIDA_OK);
  assert_int_equal(access(pooled, F_OK), -1);
  free(seg);
  seg = NULL;
  assert_int_equal(mida__spool_list(dir, only_segment, &seg), MIDA_OK);
  assert_int_equal(inode_of(seg), ino);
  mida__journal_close(j);
  free(seg);
  free(pooled);
}

/* ---- races with other shippers ----------------------------------------- */

static const char *race_dir;

/* A recovery's sweep that comes between a take's rename of the pooled
 * file to the journal's .mj.tmp name (which keeps the old file's mtime:
 * not young) and the take's lock: it removes the file, and the journal
 * makes a new one instead of zeroing and naming a removed file (which
 * left the process with no segment at all). */
static void sweep_now(void) {
  (void)mida__spool_sweep(race_dir);
}

static void test_a_sweep_in_the_middle_of_a_take(void **state) {
  const char *dir = *state;
  char *pooled = make_file(dir, "pool.69632.0", MAP_BYTES, 0);
  struct timeval old[2];
  gettimeofday(&old[0], NULL);
  old[0].tv_sec -= 600;
  old[1] = old[0];
  assert_int_equal(utimes(pooled, old), 0);
  race_dir = dir;
  before_next_flock = sweep_now;
  mida__journal *j = NULL;
  char err[256] = "";
  int rc = mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0, "poolhost", 4242,
                              &j, err, sizeof err);
  assert_null(before_next_flock); /* the race happened */
  if (rc != MIDA_OK)
    fail_msg("journal_open: %d %s", rc, err);
  char *seg = NULL;
  assert_int_equal(mida__spool_list(dir, only_segment, &seg), MIDA_OK);
  assert_non_null(seg);
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, MIDA_REC_TASK, 8, &slot), MIDA_OK);
  memset(slot.payload, 1, 8);
  mida__journal_commit(j, &slot);
  mida__journal_close(j);
  free(seg);
  free(pooled);
}

/* The other race: a reader opens a segment by its name, and before it
 * takes its lock, the shipper that held it puts it into the pool and a
 * new journal (another process's) takes it under another name. The
 * reader must not read that journal's frames as the first one's. */
static mida__orphan *shipper_holding;
static pid_t new_writer;
static bool new_writer_lives; /* it waits to be killed, its segment live */

static void write_one(mida__journal *j, char fill) {
  mida__slot slot;
  if (mida__journal_reserve(j, MIDA_REC_TASK, 8, &slot) != MIDA_OK)
    _exit(3);
  memset(slot.payload, fill, 8);
  mida__journal_commit(j, &slot);
}

static void pool_it_and_take_it_elsewhere(void) {
  mida__orphan_close(shipper_holding, true);
  int p[2];
  assert_int_equal(pipe(p), 0);
  new_writer = fork();
  assert_true(new_writer >= 0);
  if (new_writer == 0) {
    mida__journal *j = NULL;
    if (mida__journal_open(race_dir, RING, MIDA_FULL_SPILL, 0, "hostC",
                           getpid(), &j, NULL, 0) != MIDA_OK)
      _exit(2);
    mida__journal_set_handoff(j);
    write_one(j, 'C');
    (void)write(p[1], "x", 1);
    if (new_writer_lives)
      pause();
    _exit(0); /* no close: its segment is an orphan */
  }
  char c;
  assert_int_equal(read(p[0], &c, 1), 1);
  if (!new_writer_lives) {
    int status = 0;
    assert_int_equal(waitpid(new_writer, &status, 0), new_writer);
    new_writer = -1;
  }
  close(p[0]);
  close(p[1]);
}

/* How the reader of reopened_elsewhere opens the segment. */
enum reader_open { BY_ORPHAN_OPEN, BY_TAIL_OPEN, BY_SEGMENT_OPEN };

/* The race: the reader opens A's segment by its name; before its lock
 * the file is pooled and taken by C, which lives on (lives) or dies. */
static void reopened_elsewhere(const char *dir, enum reader_open how,
                               bool lives) {
  race_dir = dir;
  new_writer_lives = lives;
  pid_t a = fork();
  assert_true(a >= 0);
  if (a == 0) {
    mida__journal *j = NULL;
    if (mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0, "hostA", getpid(),
                           &j, NULL, 0) != MIDA_OK)
      _exit(2);
    mida__journal_set_handoff(j);
    write_one(j, 'A');
    _exit(0);
  }
  int status = 0;
  assert_int_equal(waitpid(a, &status, 0), a);
  char *seg = NULL;
  assert_int_equal(mida__spool_list(dir, only_segment, &seg), MIDA_OK);
  assert_non_null(seg);
  assert_int_equal(mida__orphan_open(seg, &shipper_holding, NULL, 0), MIDA_OK);
  mida__frame frames[4];
  uint64_t mark;
  assert_int_equal(mida__orphan_peek(shipper_holding, frames, 4, &mark), 1);
  /* mida__segment_open leaves a live segment read to its tail without
   * its lock; here its reader looked at the header before the shipper
   * released the frame (as the shipper does once its group is durable,
   * then pools the file), so it goes on to lock the file. */
  if (how != BY_SEGMENT_OPEN)
    mida__orphan_release(shipper_holding, mark);
  before_next_flock = pool_it_and_take_it_elsewhere;
  mida__orphan *o = NULL;
  int rc = how == BY_TAIL_OPEN     ? mida__tail_open(seg, &o, NULL, 0)
           : how == BY_ORPHAN_OPEN ? mida__orphan_open(seg, &o, NULL, 0)
                                   : mida__segment_open(seg, true, &o, NULL, 0);
  if (new_writer > 0) {
    kill(new_writer, SIGKILL);
    assert_int_equal(waitpid(new_writer, &status, 0), new_writer);
  }
  assert_null(before_next_flock);
  if (rc == MIDA_OK) {
    size_t n = mida__orphan_peek(o, frames, 4, &mark);
    fail_msg("read the file of %s's journal by %s's name (%zu frame(s))",
             "hostC", "hostA", n);
  }
  assert_int_equal(rc, MIDA_EBUSY);
  free(seg);
}

static void test_a_tail_reader_does_not_read_a_pooled_file_taken_again(
    void **state) {
  reopened_elsewhere(*state, BY_TAIL_OPEN, true);
}

static void test_an_orphan_reader_does_not_read_a_pooled_file_taken_again(
    void **state) {
  reopened_elsewhere(*state, BY_ORPHAN_OPEN, false);
}

/* Recovery's one open of a segment (mida__segment_open), which goes on as
 * a live segment's reader when the writer's lock is held (C lives) and as
 * an orphan's when it is not (C died): neither reads C's file. */
static void test_a_segment_reader_does_not_read_a_live_file_taken_again(
    void **state) {
  reopened_elsewhere(*state, BY_SEGMENT_OPEN, true);
}

static void test_a_segment_reader_does_not_read_a_dead_file_taken_again(
    void **state) {
  reopened_elsewhere(*state, BY_SEGMENT_OPEN, false);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, make_spool, remove_spool)
  const struct CMUnitTest tests[] = {
      T(test_put_fills_the_slots_of_a_size_then_refuses),
      T(test_put_refuses_a_large_file),
      T(test_take_finds_the_highest_slot),
      T(test_put_goes_to_the_lowest_free_slot),
      T(test_take_goes_down_past_a_taken_slot),
      T(test_drain_removes_the_pool_and_nothing_else),
      T(test_take_renames_and_locks_the_file),
      T(test_take_wants_the_exact_size),
      T(test_take_from_an_empty_pool_makes_nothing),
      T(test_take_leaves_a_locked_file),
      T(test_take_refuses_a_link),
      T(test_journal_takes_a_pooled_file_zeroed),
      T(test_shipped_orphan_goes_into_the_pool),
      T(test_a_sweep_in_the_middle_of_a_take),
      T(test_a_tail_reader_does_not_read_a_pooled_file_taken_again),
      T(test_an_orphan_reader_does_not_read_a_pooled_file_taken_again),
      T(test_a_segment_reader_does_not_read_a_live_file_taken_again),
      T(test_a_segment_reader_does_not_read_a_dead_file_taken_again),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}

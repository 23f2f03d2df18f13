/*
 * journal_tail_test.c -- unit tests of the reader of live segments
 * (mida__tail_open, journal.h): it reads a handed-off journal's segment
 * while its writer lives, in order, stopping at a frame still being
 * written; what it releases the writer fills again instead of opening new
 * segments; one reader at a time, and no recovery while it reads; and a
 * release that a killed reader left half done is finished by the next
 * reader, not counted as corrupt.
 */
#include "capture/journal.h"
#include "capture/spool_fixture.h"

#include "core/record.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define RING (64 * 1024)
#define ID_LEN 40      /* payload bytes: the record's number, then zeros */
#define FRAME_BYTES 64 /* MIDA_FRAME_HEADER_BYTES + ID_LEN */
#define RELEASING_OFFSET 176 /* the header's releasing field (journal.h) */

/* A journal whose reader is another process, as the preload library's. */
static mida__journal *open_handed_off(const char *dir) {
  mida__journal *j = NULL;
  char err[256] = "";
  if (mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0, "tailhost", 4242, &j,
                         err, sizeof err) != MIDA_OK)
    fail_msg("journal_open: %s", err);
  mida__journal_set_handoff(j);
  return j;
}

static void append_id(mida__journal *j, uint64_t id) {
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, MIDA_REC_TASK, ID_LEN, &slot),
                   MIDA_OK);
  memset(slot.payload, 0, ID_LEN);
  memcpy(slot.payload, &id, 8);
  mida__journal_commit(j, &slot);
}

static int add_path(void *ctx, const char *path) {
  char **last = ctx;
  free(*last);
  *last = strdup(path);
  return 0;
}

/* The path of the spool's last segment (to free), or NULL. */
static char *last_segment(const char *dir) {
  char *last = NULL;
  assert_int_equal(mida__spool_list(dir, add_path, &last), MIDA_OK);
  return last;
}

static int count_path(void *ctx, const char *path) {
  (void)path;
  (*(size_t *)ctx)++;
  return 0;
}

static size_t segments(const char *dir) {
  size_t n = 0;
  assert_int_equal(mida__spool_list(dir, count_path, &n), MIDA_OK);
  return n;
}

/* Reads what the reader r has, checking that the records come as *next,
 * *next + 1, ...; releases them. Returns whether it read to the tail. */
static bool read_ids(mida__orphan *r, uint64_t *next) {
  mida__frame frames[64];
  uint64_t mark = 0;
  size_t n;
  while ((n = mida__orphan_peek(r, frames, 64, &mark)) > 0) {
    for (size_t k = 0; k < n; k++) {
      uint64_t id;
      assert_int_equal(frames[k].len, ID_LEN);
      memcpy(&id, frames[k].payload, 8);
      assert_int_equal(id, (*next)++);
    }
    mida__orphan_release(r, mark);
  }
  return mida__tail_caught_up(r, mark);
}

static void test_live_segment_is_read_and_its_ring_filled_again(void **state) {
  const char *dir = *state;
  mida__journal *j = open_handed_off(dir);
  uint64_t written = 0, next = 0;
  /* Twelve rings' worth, read as it comes: one segment file all along. */
  for (int round = 0; round < 130; round++) {
    for (int k = 0; k < 100; k++)
      append_id(j, written++);
    char *path = last_segment(dir);
    mida__orphan *r = NULL;
    char err[256] = "";
    assert_int_equal(mida__tail_open(path, &r, err, sizeof err), MIDA_OK);
    assert_true(read_ids(r, &next));
    mida__orphan_close(r, true); /* a live segment is never removed */
    assert_int_equal(access(path, F_OK), 0);
    free(path);
  }
  assert_int_equal(next, written);
  assert_true(written * FRAME_BYTES > 12 * RING);
  assert_int_equal(segments(dir), 1);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.corrupt, 0);
  mida__journal_close(j);
}

static void test_frame_still_being_written_ends_the_read(void **state) {
  const char *dir = *state;
  mida__journal *j = open_handed_off(dir);
  append_id(j, 0);
  mida__slot pending;
  assert_int_equal(mida__journal_reserve(j, MIDA_REC_TASK, ID_LEN, &pending),
                   MIDA_OK);
  append_id(j, 2);
  char *path = last_segment(dir);
  mida__orphan *r = NULL;
  assert_int_equal(mida__tail_open(path, &r, NULL, 0), MIDA_OK);
  uint64_t next = 0;
  assert_false(read_ids(r, &next)); /* stopped at record 1 */
  assert_int_equal(next, 1);
  memset(pending.payload, 0, ID_LEN);
  uint64_t one = 1;
  memcpy(pending.payload, &one, 8);
  mida__journal_commit(j, &pending);
  assert_true(read_ids(r, &next));
  assert_int_equal(next, 3);
  assert_int_equal(mida__orphan_corrupt(r), 0);
  mida__orphan_close(r, false);
  free(path);
  mida__journal_close(j);
}

static void test_one_reader_at_a_time_and_no_recovery_meanwhile(void **state) {
  const char *dir = *state;
  mida__journal *j = open_handed_off(dir);
  append_id(j, 0);
  char *path = last_segment(dir);
  mida__orphan *r = NULL, *other = NULL;
  assert_int_equal(mida__tail_open(path, &r, NULL, 0), MIDA_OK);
  assert_int_equal(mida__tail_open(path, &other, NULL, 0), MIDA_EBUSY);
  assert_null(other);
  /* The writer ends (its lock goes) while the reader still reads: a
   * recovery waits for the reader. */
  append_id(j, 1);
  mida__journal_close(j);
  assert_int_equal(mida__orphan_open(path, &other, NULL, 0), MIDA_EBUSY);
  uint64_t next = 0;
  assert_true(read_ids(r, &next));
  mida__orphan_close(r, false);
  /* Without a writer it is an orphan, not a live segment. */
  assert_int_equal(mida__tail_open(path, &r, NULL, 0), MIDA_ENOTFOUND);
  assert_int_equal(mida__orphan_open(path, &other, NULL, 0), MIDA_OK);
  assert_int_equal(read_ids(other, &next), true);
  assert_int_equal(next, 2);
  mida__orphan_close(other, true);
  free(path);
}

static void test_journal_read_by_its_own_process_is_not_tailed(void **state) {
  const char *dir = *state;
  mida__journal *j = NULL;
  assert_int_equal(
      mida__journal_open(dir, RING, MIDA_FULL_SPILL, 0, "host", 1, &j, NULL, 0),
      MIDA_OK);
  append_id(j, 0);
  char *path = last_segment(dir);
  mida__orphan *r = NULL;
  assert_int_equal(mida__tail_open(path, &r, NULL, 0), MIDA_EUNSUPPORTED);
  assert_null(r);
  free(path);
  mida__journal_close(j);
}

/* A reader killed while it cleared what it had shipped left the end it was
 * clearing to in the header, the head behind it and the ring half zeroed:
 * the next reader goes on from that end, without reading again what was
 * shipped and without counting the zeros as corrupt. */
static void
test_half_done_release_is_finished_by_the_next_reader(void **state) {
  const char *dir = *state;
  mida__journal *j = open_handed_off(dir);
  for (uint64_t i = 0; i < 20; i++)
    append_id(j, i);
  mida__journal_close(j); /* as if killed: the frames stay */
  char *path = last_segment(dir);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint64_t releasing = 5 * FRAME_BYTES;
  uint8_t zeros[3 * FRAME_BYTES] = {0};
  assert_int_equal(pwrite(fd, &releasing, 8, RELEASING_OFFSET), 8);
  assert_int_equal(pwrite(fd, zeros, sizeof zeros, MIDA_JOURNAL_HEADER_BYTES),
                   (ssize_t)sizeof zeros);
  close(fd);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(path, &o, NULL, 0), MIDA_OK);
  uint64_t next = 5;
  read_ids(o, &next);
  assert_int_equal(next, 20);
  assert_int_equal(mida__orphan_corrupt(o), 0);
  mida__orphan_close(o, true);
  free(path);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, make_spool, remove_spool)
  const struct CMUnitTest tests[] = {
      T(test_live_segment_is_read_and_its_ring_filled_again),
      T(test_frame_still_being_written_ends_the_read),
      T(test_one_reader_at_a_time_and_no_recovery_meanwhile),
      T(test_journal_read_by_its_own_process_is_not_tailed),
      T(test_half_done_release_is_finished_by_the_next_reader),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}

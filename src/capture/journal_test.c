/*
 * journal_test.c -- unit tests of the capture journal: frames round-trip
 * through the ring, the CRC catches damage, the ring wraps, full rings spill
 * or drop as configured, concurrent writers lose nothing, and the segments of
 * a crashed process are recovered with their corrupt frames skipped and
 * counted.
 */
#include "capture/journal.h"
#include "capture/spool_fixture.h"

#include "core/alloc.h"
#include "core/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define SMALL_RING (64 * 1024)
#define THREADS 4
#define PER_THREAD 100000
#define MAX_PATHS 64

/* ---- helpers ------------------------------------------------------------ */

static mida__journal *open_journal(const char *dir, size_t ring,
                                   mida_full_policy_t policy) {
  mida__journal *j = NULL;
  char err[256] = "";
  int rc = mida__journal_open(dir, ring, policy, 0, "testhost", 4242, &j, err,
                              sizeof err);
  if (rc != MIDA_OK)
    fail_msg("journal_open: %d %s", rc, err);
  return j;
}

/* The payload of record i: a length that varies with i and bytes that
 * identify it (the first 8 bytes are i itself when it fits). */
static uint32_t payload_len(uint64_t i) {
  return (uint32_t)((i * 37) % 700);
}

static void fill_payload(uint8_t *p, uint32_t len, uint64_t i) {
  for (uint32_t k = 0; k < len; k++)
    p[k] = (uint8_t)(i * 131 + k);
  if (len >= 8)
    memcpy(p, &i, 8);
}

static uint16_t type_of(uint64_t i) {
  return (uint16_t)(MIDA_REC_CAMPAIGN + i % (MIDA_REC_TYPE_COUNT - 1));
}

static int append_record(mida__journal *j, uint64_t i) {
  mida__slot slot;
  uint32_t len = payload_len(i);
  int rc = mida__journal_reserve(j, type_of(i), len, &slot);
  if (rc != MIDA_OK)
    return rc;
  fill_payload(slot.payload, len, i);
  mida__journal_commit(j, &slot);
  return MIDA_OK;
}

static void assert_is_record(const mida__frame *f, uint64_t i) {
  uint8_t want[1024];
  uint32_t len = payload_len(i);
  fill_payload(want, len, i);
  assert_int_equal(f->type, type_of(i));
  assert_int_equal(f->version, MIDA_RECORD_VERSION);
  assert_int_equal(f->len, len);
  assert_memory_equal(f->payload, want, len);
}

/* Reads everything committed from j, checking that the records come as
 * first, first+1, ...; returns the index after the last one read. */
static uint64_t drain_checked(mida__journal *j, uint64_t first, size_t batch) {
  mida__frame frames[64];
  assert_true(batch <= 64);
  uint64_t next = first;
  for (;;) {
    uint64_t mark;
    size_t n = mida__journal_peek(j, frames, batch, &mark);
    if (n == 0)
      return next;
    for (size_t k = 0; k < n; k++)
      assert_is_record(&frames[k], next++);
    mida__journal_release(j, mark);
  }
}

typedef struct path_list {
  char *paths[MAX_PATHS]; /* strdup'ed */
  size_t count;
} path_list;

static int collect_path(void *ctx, const char *path) {
  path_list *l = ctx;
  if (l->count < MAX_PATHS)
    l->paths[l->count++] = strdup(path);
  return MIDA_OK;
}

static void list_segments(const char *dir, path_list *l) {
  memset(l, 0, sizeof *l);
  assert_int_equal(mida__spool_list(dir, collect_path, l), MIDA_OK);
}

static void free_paths(path_list *l) {
  for (size_t i = 0; i < l->count; i++)
    free(l->paths[i]);
  l->count = 0;
}

static size_t count_segments(const char *dir) {
  path_list l;
  list_segments(dir, &l);
  size_t n = l.count;
  free_paths(&l);
  return n;
}

/* Writes records 0..n-1, each with a 40-byte payload (a 64-byte frame),
 * closes the journal without shipping them, and returns the segment's
 * path (to free). Frame k then lies at file offset 4096 + 64 k. */
#define FIXED_LEN 40
#define FIXED_FRAME 64

static char *write_fixed_segment_in(const char *dir, size_t ring,
                                    uint64_t n) {
  mida__journal *j = open_journal(dir, ring, MIDA_FULL_SPILL);
  for (uint64_t i = 0; i < n; i++) {
    mida__slot slot;
    assert_int_equal(mida__journal_reserve(j, MIDA_REC_TASK, FIXED_LEN, &slot),
                     MIDA_OK);
    memset(slot.payload, 0, FIXED_LEN);
    memcpy(slot.payload, &i, 8);
    mida__journal_commit(j, &slot);
  }
  mida__journal_close(j);
  path_list l;
  list_segments(dir, &l);
  assert_int_equal(l.count, 1);
  char *path = l.paths[0];
  return path;
}

static char *write_fixed_segment(const char *dir, uint64_t n) {
  return write_fixed_segment_in(dir, SMALL_RING, n);
}

static off_t fixed_frame_offset(uint64_t k) {
  return (off_t)(MIDA_JOURNAL_HEADER_BYTES + k * FIXED_FRAME);
}

static void patch_file(const char *path, off_t off, const void *bytes,
                       size_t len) {
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
  close(fd);
}

/* Recovers every record of the orphan at path into ids (record i's first 8
 * bytes), returning the count and the corrupt counter. */
static size_t recover_fixed(const char *path, uint64_t *ids, size_t cap,
                            uint64_t *corrupt) {
  mida__orphan *o = NULL;
  char err[256] = "";
  int rc = mida__orphan_open(path, &o, err, sizeof err);
  if (rc != MIDA_OK)
    fail_msg("orphan_open: %d %s", rc, err);
  size_t got = 0;
  mida__frame frames[16];
  for (;;) {
    uint64_t mark;
    size_t n = mida__orphan_peek(o, frames, 16, &mark);
    if (n == 0)
      break;
    for (size_t k = 0; k < n; k++) {
      assert_int_equal(frames[k].len, FIXED_LEN);
      assert_true(got < cap);
      memcpy(&ids[got++], frames[k].payload, 8);
    }
    mida__orphan_release(o, mark);
  }
  *corrupt = mida__orphan_corrupt(o);
  mida__orphan_close(o, true);
  return got;
}

/* Asserts that ids holds 0..n-1 without the index skipped. */
static void assert_all_but(const uint64_t *ids, size_t got, uint64_t n,
                           uint64_t skipped) {
  assert_int_equal(got, n - 1);
  uint64_t want = 0;
  for (size_t i = 0; i < got; i++, want++) {
    if (want == skipped)
      want++;
    assert_int_equal(ids[i], want);
  }
}

/* ---- the live journal -------------------------------------------------- */

static void test_frames_round_trip_in_order(void **state) {
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_SPILL);
  for (uint64_t i = 0; i < 150; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  mida__frame frames[200];
  uint64_t mark;
  size_t n = mida__journal_peek(j, frames, 200, &mark);
  assert_int_equal(n, 150);
  for (uint64_t i = 0; i < 150; i++)
    assert_is_record(&frames[i], i);
  /* Peeking again without a release returns the same frames. */
  assert_int_equal(mida__journal_peek(j, frames, 200, &mark), 150);
  mida__journal_release(j, mark);
  assert_int_equal(mida__journal_peek(j, frames, 200, &mark), 0);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.records, 150);
  assert_int_equal(st.backlog, 0);
  assert_int_equal(st.corrupt, 0);
  mida__journal_close(j);
}

static void test_empty_payload_round_trips(void **state) {
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_SPILL);
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, MIDA_REC_DEP, 0, &slot), MIDA_OK);
  mida__journal_commit(j, &slot);
  mida__frame f;
  uint64_t mark;
  assert_int_equal(mida__journal_peek(j, &f, 1, &mark), 1);
  assert_int_equal(f.type, MIDA_REC_DEP);
  assert_int_equal(f.len, 0);
  assert_int_equal(mark, MIDA_FRAME_HEADER_BYTES);
  mida__journal_close(j);
}

static void test_uncommitted_frame_stops_the_reader(void **state) {
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_SPILL);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  mida__slot pending;
  assert_int_equal(
      mida__journal_reserve(j, type_of(1), payload_len(1), &pending), MIDA_OK);
  assert_int_equal(append_record(j, 2), MIDA_OK);
  mida__frame frames[4];
  uint64_t mark;
  /* Record 1 is still being written: the reader must wait for it. */
  assert_int_equal(mida__journal_peek(j, frames, 4, &mark), 1);
  assert_is_record(&frames[0], 0);
  mida__journal_release(j, mark);
  fill_payload(pending.payload, payload_len(1), 1);
  mida__journal_commit(j, &pending);
  assert_int_equal(mida__journal_peek(j, frames, 4, &mark), 2);
  assert_is_record(&frames[0], 1);
  assert_is_record(&frames[1], 2);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.corrupt, 0);
  mida__journal_close(j);
}

/* Appends records 0, 1, 2, lets damage() spoil record 1 after its commit,
 * and checks that the reader returns 0 and 2 and counts one corrupt frame. */
static void check_damage_is_detected(const char *dir,
                                     void (*damage)(mida__slot *slot)) {
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, type_of(1), payload_len(1), &slot),
                   MIDA_OK);
  fill_payload(slot.payload, payload_len(1), 1);
  mida__journal_commit(j, &slot);
  assert_int_equal(append_record(j, 2), MIDA_OK);
  damage(&slot);
  mida__frame frames[4];
  uint64_t mark;
  assert_int_equal(mida__journal_peek(j, frames, 4, &mark), 2);
  assert_is_record(&frames[0], 0);
  assert_is_record(&frames[1], 2);
  mida__journal_release(j, mark);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.corrupt, 1);
  mida__journal_close(j);
}

static void flip_payload_byte(mida__slot *slot) {
  ((uint8_t *)slot->payload)[3] ^= 0x01;
}

static void flip_type_byte(mida__slot *slot) {
  ((uint8_t *)slot->frame_)[12] ^= 0x01;
}

static void flip_length_byte(mida__slot *slot) {
  ((uint8_t *)slot->frame_)[8] ^= 0x08;
}

static void test_crc_detects_flipped_payload_byte(void **state) {
  check_damage_is_detected(*state, flip_payload_byte);
}

static void test_crc_detects_flipped_header_byte(void **state) {
  check_damage_is_detected(*state, flip_type_byte);
  check_damage_is_detected(*state, flip_length_byte);
}

static void test_ring_wraps_many_laps_in_order(void **state) {
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_SPILL);
  uint64_t written = 0, read = 0, bytes = 0;
  for (int round = 0; round < 400; round++) {
    /* Ten records (at most ~7 KiB) always fit in the drained ring. */
    for (int k = 0; k < 10; k++) {
      bytes += MIDA_FRAME_HEADER_BYTES + ((payload_len(written) + 7) & ~7u);
      assert_int_equal(append_record(j, written++), MIDA_OK);
    }
    read = drain_checked(j, read, 3);
    assert_int_equal(read, written);
  }
  assert_true(bytes > 20 * (uint64_t)SMALL_RING);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.records, written);
  assert_int_equal(st.backlog, 0);
  assert_int_equal(st.corrupt, 0);
  mida__journal_close(j);
}

static void test_spill_rolls_to_new_segment_without_loss(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  const uint64_t n = 1500; /* about 4.5 rings */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_true(st.segments >= 4);
  assert_int_equal(st.records, n);
  assert_int_equal(st.dropped, 0);
  assert_int_equal(count_segments(dir), st.segments);

  path_list before;
  list_segments(dir, &before);
  mida__frame frames[64];
  uint64_t mark;
  size_t got = mida__journal_peek(j, frames, 64, &mark);
  assert_int_equal(got, 64);
  /* A big batch stops at the end of the first segment. */
  uint64_t next = 0;
  for (;;) {
    got = mida__journal_peek(j, frames, 64, &mark);
    for (size_t k = 0; k < got; k++)
      assert_is_record(&frames[k], next++);
    if (got < 64)
      break;
    mida__journal_release(j, mark);
  }
  assert_true(next < n);
  assert_true(access(before.paths[0], F_OK) == 0);
  mida__journal_release(j, mark);
  /* Segment 0 is drained: it is gone, segment 1 is next. */
  assert_true(access(before.paths[0], F_OK) != 0);
  assert_true(access(before.paths[1], F_OK) == 0);
  next = drain_checked(j, next, 64);
  assert_int_equal(next, n);
  assert_int_equal(count_segments(dir), 1);
  free_paths(&before);

  /* The journal keeps working in reused address ranges. */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(append_record(j, n + i), MIDA_OK);
  assert_int_equal(drain_checked(j, n, 64), 2 * n);
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.records, 2 * n);
  assert_int_equal(st.backlog, 0);
  mida__journal_close(j);
  assert_int_equal(count_segments(dir), 0);
}

static void test_drop_policy_counts_and_returns_efull(void **state) {
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_DROP);
  uint64_t ok = 0, full = 0;
  for (uint64_t i = 0; i < 1000; i++) {
    int rc = append_record(j, ok);
    if (rc == MIDA_OK)
      ok++;
    else if (rc == MIDA_EFULL)
      full++;
    else
      fail_msg("unexpected %d", rc);
  }
  assert_true(full > 0);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.dropped, full);
  assert_int_equal(st.records, ok);
  assert_int_equal(st.segments, 1);
  assert_int_equal(drain_checked(j, 0, 64), ok);
  /* Once drained, appends succeed again. */
  assert_int_equal(append_record(j, ok), MIDA_OK);
  mida__journal_close(j);
}

static void test_payload_over_quarter_ring_is_too_big(void **state) {
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_SPILL);
  mida__slot slot;
  assert_int_equal(
      mida__journal_reserve(j, MIDA_REC_TASK, SMALL_RING / 4 + 1, &slot),
      MIDA_ETOOBIG);
  assert_int_equal(
      mida__journal_reserve(j, MIDA_REC_TASK, SMALL_RING / 4, &slot), MIDA_OK);
  memset(slot.payload, 0xab, slot.len);
  mida__journal_commit(j, &slot);
  mida__frame f;
  uint64_t mark;
  assert_int_equal(mida__journal_peek(j, &f, 1, &mark), 1);
  assert_int_equal(f.len, SMALL_RING / 4);
  mida__journal_close(j);
}

static void test_ring_size_is_rounded_up(void **state) {
  mida__journal *j = open_journal(*state, 1000, MIDA_FULL_SPILL);
  mida__slot slot;
  /* At least MIDA_JOURNAL_MIN_RING, so a quarter of that fits. */
  assert_int_equal(
      mida__journal_reserve(j, MIDA_REC_TASK, MIDA_JOURNAL_MIN_RING / 4, &slot),
      MIDA_OK);
  mida__journal_commit(j, &slot);
  mida__journal_close(j);
}

typedef struct writer_arg {
  mida__journal *j;
  uint32_t thread; /* writer number */
  uint64_t count;  /* records to append */
  int errors;      /* appends that failed */
} writer_arg;

typedef struct reader_arg {
  mida__journal *j;
  uint64_t next[THREADS]; /* next sequence number expected per writer */
  uint64_t total;         /* frames to read before returning */
  uint64_t seen;          /* frames read */
  int errors;             /* frames out of order or malformed */
} reader_arg;

static void *writer_main(void *p) {
  writer_arg *w = p;
  for (uint64_t seq = 0; seq < w->count; seq++) {
    mida__slot slot;
    uint32_t len = 12 + (uint32_t)(seq % 5) * 8;
    if (mida__journal_reserve(w->j, MIDA_REC_METRIC, len, &slot) != MIDA_OK) {
      w->errors++;
      continue;
    }
    memset(slot.payload, 0x5a, len);
    memcpy(slot.payload, &w->thread, 4);
    memcpy((uint8_t *)slot.payload + 4, &seq, 8);
    mida__journal_commit(w->j, &slot);
  }
  return NULL;
}

static void *reader_main(void *p) {
  reader_arg *r = p;
  mida__frame frames[512];
  while (r->seen < r->total) {
    uint64_t mark;
    size_t n = mida__journal_peek(r->j, frames, 512, &mark);
    for (size_t k = 0; k < n; k++) {
      uint32_t thread;
      uint64_t seq;
      memcpy(&thread, frames[k].payload, 4);
      memcpy(&seq, (const uint8_t *)frames[k].payload + 4, 8);
      if (frames[k].type != MIDA_REC_METRIC || thread >= THREADS ||
          seq != r->next[thread] || frames[k].len != 12 + (seq % 5) * 8) {
        r->errors++;
        continue;
      }
      r->next[thread]++;
    }
    r->seen += n;
    if (n > 0)
      mida__journal_release(r->j, mark);
    else
      sched_yield();
  }
  return NULL;
}

static void test_concurrent_appends_seen_once_in_order(void **state) {
  mida__journal *j = open_journal(*state, 256 * 1024, MIDA_FULL_SPILL);
  writer_arg w[THREADS];
  reader_arg r;
  memset(&r, 0, sizeof r);
  r.j = j;
  r.total = (uint64_t)THREADS * PER_THREAD;
  pthread_t writers[THREADS], reader;
  assert_int_equal(pthread_create(&reader, NULL, reader_main, &r), 0);
  for (uint32_t t = 0; t < THREADS; t++) {
    w[t] = (writer_arg){j, t, PER_THREAD, 0};
    assert_int_equal(pthread_create(&writers[t], NULL, writer_main, &w[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(writers[t], NULL);
    char why[512] = "";
    if (w[t].errors != 0 && mida__journal_space(j, why, sizeof why) != MIDA_OK)
      fail_msg("writer %d: %d appends failed: %s", t, w[t].errors, why);
    assert_int_equal(w[t].errors, 0);
  }
  pthread_join(reader, NULL);
  assert_int_equal(r.errors, 0);
  assert_int_equal(r.seen, (uint64_t)THREADS * PER_THREAD);
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(r.next[t], PER_THREAD);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.records, (uint64_t)THREADS * PER_THREAD);
  assert_int_equal(st.backlog, 0);
  assert_int_equal(st.corrupt, 0);
  mida__frame f;
  uint64_t mark;
  assert_int_equal(mida__journal_peek(j, &f, 1, &mark), 0);
  mida__journal_close(j);
}

static void test_concurrent_spills_lose_nothing(void **state) {
  const uint64_t per_thread = 20000;
  mida__journal *j = open_journal(*state, SMALL_RING, MIDA_FULL_SPILL);
  writer_arg w[THREADS];
  pthread_t writers[THREADS];
  /* No reader while they write: the writers race through many seals. */
  for (uint32_t t = 0; t < THREADS; t++) {
    w[t] = (writer_arg){j, t, per_thread, 0};
    assert_int_equal(pthread_create(&writers[t], NULL, writer_main, &w[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join(writers[t], NULL);
    assert_int_equal(w[t].errors, 0);
  }
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_true(st.segments > 10);
  assert_int_equal(st.records, THREADS * per_thread);
  reader_arg r;
  memset(&r, 0, sizeof r);
  r.j = j;
  r.total = THREADS * per_thread;
  reader_main(&r);
  assert_int_equal(r.errors, 0);
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(r.next[t], per_thread);
  mida__journal_close(j);
  assert_int_equal(count_segments(*state), 0);
}

static void test_reserve_and_commit_do_not_allocate(void **state) {
  mida__journal *j = open_journal(*state, 1024 * 1024, MIDA_FULL_SPILL);
  for (uint64_t i = 0; i < 100; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  assert_int_equal(drain_checked(j, 0, 64), 100);
  uint64_t before = mida__alloc_count();
  for (uint64_t i = 0; i < 10000; i++) {
    mida__slot slot;
    assert_int_equal(mida__journal_reserve(j, MIDA_REC_METRIC, 64, &slot),
                     MIDA_OK);
    memset(slot.payload, 1, 64);
    mida__journal_commit(j, &slot);
  }
  assert_int_equal(mida__alloc_count(), before);
  mida__journal_close(j);
}

static void test_release_clears_shipped_frames(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  for (uint64_t i = 0; i < 10; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  mida__frame frames[5];
  uint64_t mark;
  assert_int_equal(mida__journal_peek(j, frames, 5, &mark), 5);
  mida__journal_release(j, mark);
  mida__journal_close(j);
  path_list l;
  list_segments(dir, &l);
  assert_int_equal(l.count, 1);
  uint8_t *ring = malloc(SMALL_RING);
  assert_non_null(ring);
  int fd = open(l.paths[0], O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, ring, SMALL_RING, MIDA_JOURNAL_HEADER_BYTES),
                   SMALL_RING);
  close(fd);
  for (uint64_t k = 0; k < mark; k++)
    assert_int_equal(ring[k], 0);
  uint64_t commit;
  memcpy(&commit, ring + mark, 8);
  assert_int_equal(commit, mark ^ MIDA_FRAME_MAGIC);
  free(ring);
  free_paths(&l);
}

static void test_close_removes_shipped_and_keeps_unshipped(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  assert_int_equal(drain_checked(j, 0, 8), 1);
  mida__journal_close(j);
  assert_int_equal(count_segments(dir), 0);

  j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  mida__journal_close(j);
  assert_int_equal(count_segments(dir), 1);
}

static void test_host_name_is_sanitized_in_file_name(void **state) {
  const char *dir = *state;
  mida__journal *j = NULL;
  const char *host = "node/7.a b";
  assert_int_equal(mida__journal_open(dir, SMALL_RING, MIDA_FULL_SPILL, 0, host,
                                      99, &j, NULL, 0),
                   MIDA_OK);
  assert_string_equal(mida__journal_host(j), host);
  assert_int_equal(mida__journal_pid(j), 99);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  mida__journal_close(j);
  path_list l;
  list_segments(dir, &l);
  assert_int_equal(l.count, 1);
  const char *name = strrchr(l.paths[0], '/') + 1;
  assert_int_equal(strncmp(name, "node_7_a_b.99.", 14), 0);
  assert_string_equal(name + strlen(name) - 10, ".000000.mj");
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(l.paths[0], &o, NULL, 0), MIDA_OK);
  assert_string_equal(mida__orphan_host(o), host);
  assert_int_equal(mida__orphan_pid(o), 99);
  mida__orphan_close(o, true);
  free_paths(&l);
}

static void test_open_creates_missing_spool_dirs(void **state) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/a/b", (char *)*state);
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  struct stat st;
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  mida__journal_close(j);
  rmdir(dir);
  snprintf(dir, sizeof dir, "%s/a", (char *)*state);
  rmdir(dir);
}

/* ---- orphans ------------------------------------------------------------ */

/* Appends records first..first+2 with the middle one spoilt after its
 * commit, and reads them all: the reader counts one corrupt region.
 * Returns the index after them. */
static uint64_t append_damaged_and_read(mida__journal *j, uint64_t first) {
  assert_int_equal(append_record(j, first), MIDA_OK);
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, type_of(first + 1),
                                         payload_len(first + 1), &slot),
                   MIDA_OK);
  fill_payload(slot.payload, payload_len(first + 1), first + 1);
  mida__journal_commit(j, &slot);
  assert_int_equal(append_record(j, first + 2), MIDA_OK);
  flip_payload_byte(&slot);
  mida__frame frames[64];
  uint64_t mark;
  size_t n;
  while ((n = mida__journal_peek(j, frames, 64, &mark)) > 0)
    mida__journal_release(j, mark);
  return first + 3;
}

/* Opens the only segment file of dir as an orphan. */
static mida__orphan *only_orphan(const char *dir) {
  path_list l;
  list_segments(dir, &l);
  assert_int_equal(l.count, 1);
  mida__orphan *o = NULL;
  char err[256] = "";
  if (mida__orphan_open(l.paths[0], &o, err, sizeof err) != MIDA_OK)
    fail_msg("orphan_open: %s", err);
  free_paths(&l);
  return o;
}

/* A journal's reader counts a corrupt frame in its first segment and
 * one in its second, then its process dies: the second segment, all that
 * is left, says 2 for the journal up to its end (what recovery sends as
 * the counter "corrupt"), 1 of them its own. */
static void test_a_segment_carries_the_corrupt_count_before_it(void **state) {
  const char *dir = *state;
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
    uint64_t i = append_damaged_and_read(j, 0);
    mida__journal_stats st;
    do {
      if (append_record(j, i++) != MIDA_OK)
        _exit(3);
      mida__journal_stats_get(j, &st);
    } while (st.segments < 2);
    append_damaged_and_read(j, i);
    mida__journal_stats_get(j, &st);
    _exit(st.corrupt == 2 ? 0 : 4); /* no close: as if killed */
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  mida__orphan *o = only_orphan(dir);
  assert_int_equal(mida__orphan_corrupt(o), 1);
  assert_int_equal(mida__orphan_corrupt_total(o), 2);
  mida__orphan_close(o, true);
}

/* Drops carried into a journal (an exec's new image, the preload
 * library's) are in its segments' totals and not in its own counts. */
static void test_carried_drops_are_in_the_segments_totals(void **state) {
  const char *dir = *state;
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
    mida__journal_carry_dropped(j, 7);
    mida__journal_stats st;
    mida__journal_stats_get(j, &st);
    _exit(st.dropped == 0 && mida__journal_dropped_total(j) == 7 ? 0 : 4);
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  mida__spool_stats ss;
  assert_int_equal(mida__spool_segment_stats(dir, &ss), MIDA_OK);
  assert_int_equal(ss.dropped, 0);
  mida__orphan *o = only_orphan(dir);
  assert_int_equal(mida__orphan_dropped(o), 0);
  assert_int_equal(mida__orphan_dropped_total(o), 7);
  mida__orphan_close(o, true);
}

static void test_orphan_of_crashed_child_is_recovered(void **state) {
  const char *dir = *state;
  const uint64_t n = 800; /* more than one ring: two segments */
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    mida__journal *j = NULL;
    if (mida__journal_open(dir, SMALL_RING, MIDA_FULL_SPILL, 0, "crashhost",
                           getpid(), &j, NULL, 0) != MIDA_OK)
      _exit(2);
    for (uint64_t i = 0; i < n; i++)
      if (append_record(j, i) != MIDA_OK)
        _exit(3);
    _exit(0); /* no close: as if killed */
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);

  path_list l;
  list_segments(dir, &l);
  assert_true(l.count >= 2);
  mida__spool_stats ss;
  assert_int_equal(mida__spool_stats_get(dir, &ss), MIDA_OK);
  assert_int_equal(ss.segments, l.count);
  assert_int_equal(ss.orphans, l.count);
  assert_true(ss.backlog_bytes > SMALL_RING);

  uint64_t next = 0;
  for (size_t s = 0; s < l.count; s++) {
    mida__orphan *o = NULL;
    char err[256] = "";
    int rc = mida__orphan_open(l.paths[s], &o, err, sizeof err);
    if (rc != MIDA_OK)
      fail_msg("orphan_open: %d %s", rc, err);
    assert_int_equal(mida__orphan_pid(o), child);
    assert_string_equal(mida__orphan_host(o), "crashhost");
    mida__frame frames[32];
    for (;;) {
      uint64_t mark;
      size_t got = mida__orphan_peek(o, frames, 32, &mark);
      if (got == 0)
        break;
      for (size_t k = 0; k < got; k++)
        assert_is_record(&frames[k], next++);
      mida__orphan_release(o, mark);
    }
    assert_int_equal(mida__orphan_corrupt(o), 0);
    assert_int_equal(mida__orphan_dropped(o), 0);
    mida__orphan_close(o, true);
    assert_true(access(l.paths[s], F_OK) != 0);
  }
  assert_int_equal(next, n);
  free_paths(&l);
}

/* Ships the first five frames of the segment at path, as a recovery
 * does: its orphan opened, read, released and closed, the file kept. */
static void release_first_five(const char *path) {
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(path, &o, NULL, 0), MIDA_OK);
  mida__frame frames[5];
  uint64_t mark;
  assert_int_equal(mida__orphan_peek(o, frames, 5, &mark), 5);
  mida__orphan_release(o, mark);
  mida__orphan_close(o, false);
}

static void test_orphan_release_is_remembered(void **state) {
  char *path = write_fixed_segment(*state, 20);
  release_first_five(path);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_int_equal(got, 15);
  assert_int_equal(ids[0], 5);
  assert_int_equal(corrupt, 0);
  free(path);
}

/* A dead writer's segment is never written again: its released frames
 * are left in the file (which is removed, or pooled and zeroed by its next
 * writer), not cleared page by page, and the head alone says where the
 * next reader starts. The segment holds more than an orphan is read into
 * memory for (COPY_MAX_BYTES, 256 KiB), so that it is mapped. */
static void test_orphan_release_leaves_a_dead_writers_frames(void **state) {
  const uint64_t n = 6000; /* 375 KiB of frames */
  char *path = write_fixed_segment_in(*state, 1024 * 1024, n);
  release_first_five(path);
  uint8_t first[FIXED_FRAME];
  int fd = open(path, O_RDONLY);
  assert_true(fd >= 0);
  assert_int_equal(pread(fd, first, sizeof first, fixed_frame_offset(0)),
                   (ssize_t)sizeof first);
  close(fd);
  uint64_t commit;
  memcpy(&commit, first, 8);
  assert_int_equal(commit, 0 ^ MIDA_FRAME_MAGIC);
  uint64_t *ids = malloc(n * sizeof *ids);
  assert_non_null(ids);
  uint64_t corrupt;
  assert_int_equal(recover_fixed(path, ids, n, &corrupt), n - 5);
  assert_int_equal(ids[0], 5);
  assert_int_equal(corrupt, 0);
  free(ids);
  free(path);
}

static void test_orphan_skips_frame_with_flipped_bytes(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint8_t junk[4] = {0xde, 0xad, 0xbe, 0xef};
  patch_file(path, fixed_frame_offset(7) + 30, junk, sizeof junk);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 7);
  assert_true(corrupt >= 1);
  free(path);
}

static void test_orphan_skips_frame_with_zeroed_commit_word(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint8_t zero[8] = {0};
  patch_file(path, fixed_frame_offset(7), zero, sizeof zero);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 7);
  assert_true(corrupt >= 1);
  free(path);
}

static void test_orphan_skips_truncated_frame(void **state) {
  char *path = write_fixed_segment(*state, 20);
  /* Only the first 10 payload bytes of frame 7 reached memory; the rest
   * holds what was there before (the payload written was zero). */
  uint8_t old[FIXED_LEN - 10];
  memset(old, 0xff, sizeof old);
  patch_file(path, fixed_frame_offset(7) + MIDA_FRAME_HEADER_BYTES + 10, old,
             sizeof old);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 7);
  assert_true(corrupt >= 1);
  free(path);
}

static void test_orphan_skips_frame_with_huge_length(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint32_t huge = 0xfffffff0u;
  patch_file(path, fixed_frame_offset(7) + 8, &huge, sizeof huge);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 7);
  assert_true(corrupt >= 1);
  free(path);
}

static void test_orphan_counts_torn_last_frame(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint8_t zero[8] = {0};
  patch_file(path, fixed_frame_offset(19), zero, sizeof zero);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 19);
  assert_int_equal(corrupt, 1);
  free(path);
}

/* A last frame whose length runs past the segment's tail is skipped and
 * counted without its payload being read: an orphan read into memory
 * holds nothing past the tail (a read past it fails under ASan or
 * valgrind). */
static void test_orphan_skips_last_frame_longer_than_the_tail(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint32_t len = SMALL_RING / 4;
  patch_file(path, fixed_frame_offset(19) + 8, &len, sizeof len);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 19);
  assert_int_equal(corrupt, 1);
  free(path);
}

static void test_orphan_rejects_commit_word_of_another_lap(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint64_t other_lap = (7 * FIXED_FRAME + SMALL_RING) ^ MIDA_FRAME_MAGIC;
  patch_file(path, fixed_frame_offset(7), &other_lap, sizeof other_lap);
  uint64_t ids[32], corrupt;
  size_t got = recover_fixed(path, ids, 32, &corrupt);
  assert_all_but(ids, got, 20, 7);
  assert_true(corrupt >= 1);
  free(path);
}

static void test_orphan_with_bad_tail_still_reads_frames(void **state) {
  char *path = write_fixed_segment(*state, 20);
  uint64_t bad_tail = UINT64_C(0x123456789abcdef);
  patch_file(path, 128, &bad_tail, sizeof bad_tail);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(path, &o, NULL, 0), MIDA_OK);
  mida__frame frames[32];
  uint64_t mark;
  assert_int_equal(mida__orphan_peek(o, frames, 32, &mark), 20);
  mida__orphan_release(o, mark);
  assert_int_equal(mida__orphan_peek(o, frames, 32, &mark), 0);
  mida__orphan_close(o, true);
  free(path);
}

static void test_orphan_open_refuses_live_segment(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  path_list l;
  list_segments(dir, &l);
  assert_int_equal(l.count, 1);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(l.paths[0], &o, NULL, 0), MIDA_EBUSY);
  assert_null(o);
  mida__spool_stats ss;
  assert_int_equal(mida__spool_stats_get(dir, &ss), MIDA_OK);
  assert_int_equal(ss.segments, 1);
  assert_int_equal(ss.orphans, 0);
  assert_true(ss.backlog_bytes > 0);
  mida__journal_close(j);
  /* Closed with a backlog: now it is an orphan. */
  assert_int_equal(mida__orphan_open(l.paths[0], &o, NULL, 0), MIDA_OK);
  mida__orphan_close(o, true);
  free_paths(&l);
}

/* With its reader in another process, a journal hands each sealed segment
 * over as soon as its frames are committed: its lock goes, recovery reads
 * it while the writer lives on, in order, and the writer holds only the
 * files of the segments it may still write. */
static void test_handoff_gives_sealed_segments_to_recovery(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  mida__journal_set_handoff(j);
  const uint64_t n = 1500; /* about 4.5 rings */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  int fds[64];
  assert_int_equal(mida__journal_fds(j, fds, 64), 1);
  path_list l;
  list_segments(dir, &l);
  assert_true(l.count >= 4);
  uint64_t next = 0;
  for (size_t s = 0; s + 1 < l.count; s++) {
    mida__orphan *o = NULL;
    assert_int_equal(mida__orphan_open(l.paths[s], &o, NULL, 0), MIDA_OK);
    mida__frame frames[64];
    uint64_t mark;
    size_t got;
    while ((got = mida__orphan_peek(o, frames, 64, &mark)) > 0) {
      for (size_t k = 0; k < got; k++)
        assert_is_record(&frames[k], next++);
      mida__orphan_release(o, mark);
    }
    assert_int_equal(mida__orphan_corrupt(o), 0);
    mida__orphan_close(o, true);
  }
  mida__orphan *live = NULL;
  assert_int_equal(mida__orphan_open(l.paths[l.count - 1], &live, NULL, 0),
                   MIDA_EBUSY);
  /* The writer goes on in the reused address ranges. */
  for (uint64_t i = n; i < 2 * n; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.records, 2 * n);
  mida__journal_close(j);
  free_paths(&l);
  /* Everything the writer left is an orphan now, the rest in order. */
  list_segments(dir, &l);
  for (size_t s = 0; s < l.count; s++) {
    mida__orphan *o = NULL;
    assert_int_equal(mida__orphan_open(l.paths[s], &o, NULL, 0), MIDA_OK);
    mida__frame frames[64];
    uint64_t mark;
    size_t got;
    while ((got = mida__orphan_peek(o, frames, 64, &mark)) > 0) {
      for (size_t k = 0; k < got; k++)
        assert_is_record(&frames[k], next++);
      mida__orphan_release(o, mark);
    }
    mida__orphan_close(o, true);
  }
  assert_int_equal(next, 2 * n);
  free_paths(&l);
}

/* A fork child forgets its parent's journal without touching it: the
 * parent's segment stays locked by the parent alone, whole. */
static void test_fork_child_forgets_the_parents_journal(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  int fds[4];
  assert_int_equal(mida__journal_fds(j, fds, 4), 1);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  pid_t pid = fork();
  if (pid == 0) {
    mida__journal_forget(j);
    /* The child's copy of the descriptor is gone. */
    _exit(fcntl(fds[0], F_GETFD) == -1 ? 0 : 1);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  path_list l;
  list_segments(dir, &l);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(l.paths[0], &o, NULL, 0), MIDA_EBUSY);
  assert_int_equal(append_record(j, 1), MIDA_OK);
  assert_int_equal(drain_checked(j, 0, 64), 2);
  mida__journal_close(j);
  free_paths(&l);
}

/* A journal made with mida__journal_set_no_fds keeps no descriptor: the
 * lowest free number is what it was before it opened; the mapping of its
 * live segment holds the lock all the same (recovery is refused it), a
 * sealed one handed off is recovery's, and once closed the last is too. */
static void test_a_journal_with_no_fds_is_locked_by_its_mapping(void **state) {
  const char *dir = *state;
  int before = dup(0);
  assert_true(before >= 0);
  close(before);
  mida__journal_set_no_fds(true);
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_SPILL);
  mida__journal_set_no_fds(false);
  mida__journal_set_handoff(j);
  int fds[4];
  assert_int_equal(mida__journal_fds(j, fds, 4), 0);
  for (uint64_t i = 0; i < 500; i++) /* more than one ring */
    assert_int_equal(append_record(j, i), MIDA_OK);
  int after = dup(0);
  assert_int_equal(after, before);
  close(after);
  path_list l;
  list_segments(dir, &l);
  assert_true(l.count >= 2);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(l.paths[0], &o, NULL, 0), MIDA_OK);
  mida__orphan_close(o, false);
  assert_int_equal(mida__orphan_open(l.paths[l.count - 1], &o, NULL, 0),
                   MIDA_EBUSY);
  mida__journal_close(j);
  assert_int_equal(mida__orphan_open(l.paths[l.count - 1], &o, NULL, 0),
                   MIDA_OK);
  mida__orphan_close(o, false);
  free_paths(&l);
}

static void test_orphan_open_refuses_garbage(void **state) {
  const char *dir = *state;
  char path[512];
  snprintf(path, sizeof path, "%s/garbage.mj", dir);
  uint8_t junk[8192];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(i * 7 + 3);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
  close(fd);
  mida__orphan *o = NULL;
  assert_int_equal(mida__orphan_open(path, &o, NULL, 0), MIDA_ECORRUPT);
  assert_true(access(path, F_OK) == 0); /* left alone */

  /* A real segment cut short no longer matches its ring size. */
  char sub[512];
  snprintf(sub, sizeof sub, "%s/sub", dir);
  char *seg = write_fixed_segment(sub, 3);
  assert_int_equal(truncate(seg, 4096 + 8192), 0);
  assert_int_equal(mida__orphan_open(seg, &o, NULL, 0), MIDA_ECORRUPT);
  assert_int_equal(truncate(seg, 100), 0);
  assert_int_equal(mida__orphan_open(seg, &o, NULL, 0), MIDA_ECORRUPT);
  unlink(seg);
  rmdir(sub);
  free(seg);

  snprintf(path, sizeof path, "%s/missing.mj", dir);
  assert_int_equal(mida__orphan_open(path, &o, NULL, 0), MIDA_EIO);
}

/* ---- the spool directory ---------------------------------------------- */

static void test_spool_list_is_sorted_and_missing_dir_is_empty(void **state) {
  const char *dir = *state;
  path_list l;
  char missing[512];
  snprintf(missing, sizeof missing, "%s/none", dir);
  list_segments(missing, &l);
  assert_int_equal(l.count, 0);

  const char *names[] = {"c.mj", "a.mj", "b.mj", "x.txt", "d.mj.tmp"};
  for (size_t i = 0; i < 5; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
  }
  list_segments(dir, &l);
  assert_int_equal(l.count, 3);
  assert_string_equal(strrchr(l.paths[0], '/'), "/a.mj");
  assert_string_equal(strrchr(l.paths[1], '/'), "/b.mj");
  assert_string_equal(strrchr(l.paths[2], '/'), "/c.mj");
  free_paths(&l);
  /* Files that are not segments are not counted. */
  mida__spool_stats ss;
  assert_int_equal(mida__spool_stats_get(dir, &ss), MIDA_OK);
  assert_int_equal(ss.segments, 0);
}

static int stop_after_first(void *ctx, const char *path) {
  (void)path;
  (*(int *)ctx)++;
  return 1;
}

static int fail_with_eio(void *ctx, const char *path) {
  (void)path;
  (*(int *)ctx)++;
  return MIDA_EIO;
}

static void test_spool_list_callback_stops_the_walk(void **state) {
  const char *dir = *state;
  const char *names[] = {"a.mj", "b.mj"};
  for (size_t i = 0; i < 2; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
  }
  int calls = 0;
  assert_int_equal(mida__spool_list(dir, stop_after_first, &calls), MIDA_OK);
  assert_int_equal(calls, 1);
  calls = 0;
  assert_int_equal(mida__spool_list(dir, fail_with_eio, &calls), MIDA_EIO);
  assert_int_equal(calls, 1);
}

static void test_spool_stats_sums_drops(void **state) {
  const char *dir = *state;
  mida__journal *j = open_journal(dir, SMALL_RING, MIDA_FULL_DROP);
  uint64_t full = 0;
  for (uint64_t i = 0; i < 1000; i++)
    full += append_record(j, i) == MIDA_EFULL;
  mida__journal_close(j);
  mida__spool_stats ss;
  assert_int_equal(mida__spool_stats_get(dir, &ss), MIDA_OK);
  assert_int_equal(ss.segments, 1);
  assert_int_equal(ss.orphans, 1);
  assert_int_equal(ss.dropped, full);
  assert_true(ss.backlog_bytes > SMALL_RING / 2);
}

/* ---- a journal whose first segment is small ---------------------------- */

static mida__journal *open_growing(const char *dir, size_t first, size_t ring) {
  mida__journal *j = NULL;
  char err[256] = "";
  int rc = mida__journal_open_growing(dir, first, ring, MIDA_FULL_SPILL, 0,
                                      "testhost", 4242, &j, err, sizeof err);
  if (rc != MIDA_OK)
    fail_msg("journal_open_growing: %d %s", rc, err);
  return j;
}

/* The sizes of the segment files in dir, in order, into sizes. */
static size_t segment_sizes(const char *dir, off_t *sizes, size_t cap) {
  path_list l;
  list_segments(dir, &l);
  size_t n = 0;
  for (size_t i = 0; i < l.count && n < cap; i++) {
    struct stat st;
    assert_int_equal(stat(l.paths[i], &st), 0);
    sizes[n++] = st.st_size;
  }
  free_paths(&l);
  return n;
}

static void test_growing_journal_starts_small_then_full(void **state) {
  const char *dir = *state;
  const off_t small = MIDA_JOURNAL_HEADER_BYTES + SMALL_RING;
  const off_t full = MIDA_JOURNAL_HEADER_BYTES + 4 * SMALL_RING;
  mida__journal *j = open_growing(dir, SMALL_RING, 4 * SMALL_RING);
  off_t sizes[MAX_PATHS];
  assert_int_equal(segment_sizes(dir, sizes, MAX_PATHS), 1);
  assert_int_equal(sizes[0], small);
  const uint64_t n = 3000; /* ~1 MiB: the small ring, then full ones */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  size_t count = segment_sizes(dir, sizes, MAX_PATHS);
  assert_true(count >= 3);
  assert_int_equal(sizes[0], small);
  for (size_t i = 1; i < count; i++)
    assert_int_equal(sizes[i], full);
  assert_int_equal(drain_checked(j, 0, 64), n);
  /* The small segment's address range, retired, is never given to a full
   * one: the journal goes on in full rings, in order. */
  for (uint64_t i = n; i < 2 * n; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  assert_int_equal(drain_checked(j, n, 64), 2 * n);
  mida__journal_stats st;
  mida__journal_stats_get(j, &st);
  assert_int_equal(st.records, 2 * n);
  assert_int_equal(st.dropped, 0);
  mida__journal_close(j);
  assert_int_equal(count_segments(dir), 0);
}

/* Between the first ring and the full ones, each ring four times the one
 * before: a process that appends a megabyte or two of records (the
 * preload library's tar of 10,000 files) makes a few segment files, not
 * one every ring_bytes / 4 of the way. */
static void test_growing_journal_grows_by_four(void **state) {
  const char *dir = *state;
  const off_t header = MIDA_JOURNAL_HEADER_BYTES;
  mida__journal *j = open_growing(dir, SMALL_RING, 16 * SMALL_RING);
  const uint64_t n = 6000; /* ~2 MiB: 64 KiB, 256 KiB, then 1 MiB rings */
  for (uint64_t i = 0; i < n; i++)
    assert_int_equal(append_record(j, i), MIDA_OK);
  off_t sizes[MAX_PATHS] = {0};
  size_t count = segment_sizes(dir, sizes, MAX_PATHS);
  assert_true(count >= 4);
  assert_int_equal(sizes[0], header + SMALL_RING);
  assert_int_equal(sizes[1], header + 4 * SMALL_RING);
  for (size_t i = 2; i < count; i++)
    assert_int_equal(sizes[i], header + 16 * SMALL_RING);
  assert_int_equal(drain_checked(j, 0, 64), n);
  mida__journal_close(j);
  assert_int_equal(count_segments(dir), 0);
}

static void
test_growing_journal_moves_a_big_record_to_a_full_ring(void **state) {
  const char *dir = *state;
  mida__journal *j = open_growing(dir, SMALL_RING, 4 * SMALL_RING);
  assert_int_equal(append_record(j, 0), MIDA_OK);
  mida__slot slot;
  /* Over a quarter of the first ring, within a quarter of a full one. */
  assert_int_equal(
      mida__journal_reserve(j, MIDA_REC_TASK, SMALL_RING / 4 + 1, &slot),
      MIDA_OK);
  memset(slot.payload, 0xcd, slot.len);
  mida__journal_commit(j, &slot);
  assert_int_equal(
      mida__journal_reserve(j, MIDA_REC_TASK, SMALL_RING + 1, &slot),
      MIDA_ETOOBIG);
  assert_int_equal(count_segments(dir), 2);
  mida__frame f[4];
  uint64_t mark;
  /* Record 0 alone ends the sealed first segment... */
  assert_int_equal(mida__journal_peek(j, f, 4, &mark), 1);
  assert_is_record(&f[0], 0);
  mida__journal_release(j, mark);
  /* ...then the big one, whole. */
  assert_int_equal(mida__journal_peek(j, f, 4, &mark), 1);
  assert_int_equal(f[0].len, SMALL_RING / 4 + 1);
  assert_int_equal(((const uint8_t *)f[0].payload)[SMALL_RING / 4], 0xcd);
  mida__journal_release(j, mark);
  mida__journal_close(j);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, make_spool, remove_spool)
  const struct CMUnitTest tests[] = {
      T(test_frames_round_trip_in_order),
      T(test_empty_payload_round_trips),
      T(test_uncommitted_frame_stops_the_reader),
      T(test_crc_detects_flipped_payload_byte),
      T(test_crc_detects_flipped_header_byte),
      T(test_ring_wraps_many_laps_in_order),
      T(test_spill_rolls_to_new_segment_without_loss),
      T(test_drop_policy_counts_and_returns_efull),
      T(test_a_segment_carries_the_corrupt_count_before_it),
      T(test_carried_drops_are_in_the_segments_totals),
      T(test_payload_over_quarter_ring_is_too_big),
      T(test_ring_size_is_rounded_up),
      T(test_concurrent_appends_seen_once_in_order),
      T(test_concurrent_spills_lose_nothing),
      T(test_reserve_and_commit_do_not_allocate),
      T(test_release_clears_shipped_frames),
      T(test_close_removes_shipped_and_keeps_unshipped),
      T(test_host_name_is_sanitized_in_file_name),
      T(test_open_creates_missing_spool_dirs),
      T(test_orphan_of_crashed_child_is_recovered),
      T(test_orphan_release_is_remembered),
      T(test_orphan_release_leaves_a_dead_writers_frames),
      T(test_orphan_skips_last_frame_longer_than_the_tail),
      T(test_orphan_skips_frame_with_flipped_bytes),
      T(test_orphan_skips_frame_with_zeroed_commit_word),
      T(test_orphan_skips_truncated_frame),
      T(test_orphan_skips_frame_with_huge_length),
      T(test_orphan_counts_torn_last_frame),
      T(test_orphan_rejects_commit_word_of_another_lap),
      T(test_orphan_with_bad_tail_still_reads_frames),
      T(test_orphan_open_refuses_live_segment),
      T(test_handoff_gives_sealed_segments_to_recovery),
      T(test_fork_child_forgets_the_parents_journal),
      T(test_a_journal_with_no_fds_is_locked_by_its_mapping),
      T(test_orphan_open_refuses_garbage),
      T(test_spool_list_is_sorted_and_missing_dir_is_empty),
      T(test_spool_list_callback_stops_the_walk),
      T(test_spool_stats_sums_drops),
      T(test_growing_journal_starts_small_then_full),
      T(test_growing_journal_grows_by_four),
      T(test_growing_journal_moves_a_big_record_to_a_full_ring),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}

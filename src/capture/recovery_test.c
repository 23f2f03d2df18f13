/*
 * recovery_test.c -- unit tests of recovery (recovery.c) against a sink
 * that keeps what it was sent in memory and can fail a chosen commit: the
 * LOST marks of a dead journal are durable no later than the removal of
 * its segments, whichever commit fails; a held group of live segments
 * (MIDA_RECOVER_HOLD) reads on in them, its writers' next segments too,
 * and is made durable by one commit, before anything of it is released.
 */
#include "capture/journal.h"
#include "capture/recovery.h"
#include "capture/spool_fixture.h"
#include "core/record.h"
#include "mida.h"
#include "sink/sink.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capture/live_journal_fixture.h"

#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

/* ---- a sink in memory ---------------------------------------------------- */

/* Records of each type put since the last commit (pending) and committed
 * (durable); the commit numbered fail_sync (1 the first, 0 none) fails and
 * drops what was pending, as a store's rollback would. */
typedef struct memory_sink {
  mida__sink base;
  int64_t dropped;  /* the largest counter "dropped" put, as a store keeps */
  unsigned pending[MIDA_REC_TYPE_COUNT];
  unsigned durable[MIDA_REC_TYPE_COUNT];
  int syncs;        /* commits asked, with records pending or not */
  int commits;      /* commits that made records durable */
  int fail_sync;    /* the commit that fails */
  int lost_commit;  /* the commit that made a LOST record durable */
  int other_commit; /* the last that made another record durable */
} memory_sink;

static int memory_put(mida__sink *base, const mida__rec *recs, size_t n,
                      const mida__origin *origin) {
  (void)origin;
  memory_sink *m = (memory_sink *)base;
  for (size_t i = 0; i < n; i++) {
    if (recs[i].type < MIDA_REC_TYPE_COUNT)
      m->pending[recs[i].type]++;
    const mida__str *key = &recs[i].f[MIDA_F_KEY].v.str;
    if (recs[i].type == MIDA_REC_COUNTER && key->len == 7 &&
        memcmp(key->ptr, "dropped", 7) == 0 &&
        recs[i].f[MIDA_F_VALUE_I].v.i64 > m->dropped)
      m->dropped = recs[i].f[MIDA_F_VALUE_I].v.i64;
  }
  return MIDA_OK;
}

static int memory_sync(mida__sink *base) {
  memory_sink *m = (memory_sink *)base;
  unsigned any = 0;
  for (int t = 0; t < MIDA_REC_TYPE_COUNT; t++)
    any += m->pending[t];
  if (any == 0)
    return MIDA_OK;
  if (++m->syncs == m->fail_sync) {
    memset(m->pending, 0, sizeof m->pending);
    return mida__sink_fail(base, MIDA_ESTORE, "the commit failed");
  }
  m->commits++;
  for (int t = 0; t < MIDA_REC_TYPE_COUNT; t++) {
    if (m->pending[t] == 0)
      continue;
    if (t == MIDA_REC_LOST)
      m->lost_commit = m->commits;
    else
      m->other_commit = m->commits;
    m->durable[t] += m->pending[t];
    m->pending[t] = 0;
  }
  return MIDA_OK;
}

static void memory_close(mida__sink *base) {
  (void)base;
}

static const mida__sink_methods memory_methods = {
    .scheme = "memory",
    .put_batch = memory_put,
    .close = memory_close,
    .sync = memory_sync,
};

/* ---- a dead process's journal -------------------------------------------- */

/* Leaves in dir the journal of a child that recorded one counter and died
 * without closing it; with torn, while it wrote a second frame (reserved,
 * never committed). */
static void leave_journal(const char *dir, bool torn) {
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    mida__journal *j = NULL;
    if (mida__journal_open(dir, 64 * 1024, MIDA_FULL_SPILL, 0, "deadhost",
                           getpid(), &j, NULL, 0) != MIDA_OK)
      _exit(2);
    mida__rec rec;
    mida__rec_counter(&rec, NULL, 0, "x", 1);
    mida__slot slot;
    if (mida__journal_reserve(j, rec.type, mida__rec_encoded_size(&rec),
                              &slot) != MIDA_OK)
      _exit(3);
    mida__rec_encode(&rec, slot.payload, slot.len);
    mida__journal_commit(j, &slot);
    if (torn && mida__journal_reserve(j, rec.type, mida__rec_encoded_size(&rec),
                                      &slot) != MIDA_OK)
      _exit(4);
    _exit(0); /* no close: as if killed */
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void leave_dead_journal(const char *dir) {
  leave_journal(dir, false);
}

/* How many segment files (*.mj) dir holds. */
static int segments_in(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    n += len > 3 && strcmp(e->d_name + len - 3, ".mj") == 0;
  }
  closedir(d);
  return n;
}

/* A segment's bytes on disk with 64 KiB rings. */
#define SEGMENT_BYTES (MIDA_JOURNAL_HEADER_BYTES + 64 * 1024)

/* Appends COUNTER records to j until `more` of them were dropped;
 * returns the records dropped. */
static uint64_t append_until_dropped(mida__journal *j, uint64_t more) {
  uint64_t dropped = 0;
  mida__rec rec;
  mida__rec_counter(&rec, NULL, 0, "x", 1);
  while (dropped < more) {
    mida__slot slot;
    int rc = mida__journal_reserve(j, rec.type, mida__rec_encoded_size(&rec),
                                   &slot);
    if (rc == MIDA_EFULL) {
      dropped++;
      continue;
    }
    if (rc != MIDA_OK)
      _exit(5);
    mida__rec_encode(&rec, slot.payload, slot.len);
    mida__journal_commit(j, &slot);
  }
  return dropped;
}

/* Leaves in dir the journal of a child that ran out of room twice, as a
 * program that keeps running on a full disk: its spool (MIDA_SPOOL_MAX of
 * two segments, one taken by another file) holds its first segment and
 * no second, so it drops records there; the other file goes, it goes on
 * in a second segment, fills it and drops records there too; then it
 * dies. Returns the records it dropped in all. */
static uint64_t leave_journal_that_dropped_twice(const char *dir) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    char filler[1024];
    snprintf(filler, sizeof filler, "%s/filler.mj.tmp", dir);
    int fd = open(filler, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || posix_fallocate(fd, 0, SEGMENT_BYTES) != 0)
      _exit(2);
    close(fd);
    mida__journal *j = NULL;
    if (mida__journal_open(dir, 64 * 1024, MIDA_FULL_SPILL, 2 * SEGMENT_BYTES,
                           "drophost", getpid(), &j, NULL, 0) != MIDA_OK)
      _exit(3);
    uint64_t dropped = append_until_dropped(j, 50);
    unlink(filler);
    /* The journal tries a new segment again a second after it found no
     * room (mida__journal_maintain). */
    mida__journal_maintain(j);
    struct timespec second = {1, 100 * 1000 * 1000};
    nanosleep(&second, NULL);
    mida__journal_maintain(j);
    dropped += append_until_dropped(j, 80);
    if (write(fds[1], &dropped, sizeof dropped) != (ssize_t)sizeof dropped)
      _exit(4);
    _exit(0); /* no close: as if killed */
  }
  close(fds[1]);
  uint64_t dropped = 0;
  assert_int_equal(read(fds[0], &dropped, sizeof dropped), sizeof dropped);
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return dropped;
}

/* The segment files (*.mj) of dir, read whole, to put back later. */
typedef struct saved_segments {
  char names[4][256];
  char *bytes[4];
  size_t len[4];
  int n;
} saved_segments;

static void save_segments(const char *dir, saved_segments *s) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  s->n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len <= 3 || strcmp(e->d_name + len - 3, ".mj") != 0)
      continue;
    assert_true(s->n < 4 && len < sizeof s->names[0]);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    s->bytes[s->n] = malloc((size_t)st.st_size);
    assert_non_null(s->bytes[s->n]);
    assert_int_equal(read(fd, s->bytes[s->n], (size_t)st.st_size),
                     st.st_size);
    close(fd);
    s->len[s->n] = (size_t)st.st_size;
    memcpy(s->names[s->n++], e->d_name, len + 1);
  }
  closedir(d);
}

static void restore_segments(const char *dir, saved_segments *s) {
  for (int i = 0; i < s->n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, s->names[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s->bytes[i], s->len[i]), s->len[i]);
    close(fd);
    free(s->bytes[i]);
  }
}

/* ---- tests --------------------------------------------------------------- */

/* A writer that dropped records in two segments is counted in the store
 * (counter "dropped") with their sum, once: until 2026-12-07 each
 * segment's count was sent alone, and the store, which keeps the largest
 * value of a counter, showed the larger. Shipped twice (a recovery
 * killed between its commit and the removal of the files), the segments
 * count once; the spool's sum of its segments' counts (mida stats) counts
 * each drop once too. */
static void test_drops_in_two_segments_add_up_once(void **state) {
  const char *dir = *state;
  uint64_t dropped = leave_journal_that_dropped_twice(dir);
  mida__spool_stats ss;
  assert_int_equal(mida__spool_segment_stats(dir, &ss), MIDA_OK);
  assert_int_equal(ss.segments, 2);
  assert_int_equal(ss.dropped, dropped);
  saved_segments saved;
  save_segments(dir, &saved);
  memory_sink m = {.base = {.methods = &memory_methods}};
  mida__recover_stats st;
  char err[256] = "";
  assert_int_equal(mida__recover_spool(dir, &m.base, &st, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(st.segments, 2);
  assert_int_equal(st.dropped, dropped);
  if ((uint64_t)m.dropped != dropped)
    fail_msg("the store would show %lld dropped of %llu", (long long)m.dropped,
             (unsigned long long)dropped);
  restore_segments(dir, &saved);
  assert_int_equal(mida__recover_spool(dir, &m.base, &st, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(st.segments, 2);
  assert_int_equal(m.dropped, dropped);
}

/* The LOST mark rides the commit of the journal's records: one commit,
 * then the segment goes. */
static void test_lost_marks_commit_with_the_segments(void **state) {
  const char *dir = *state;
  leave_dead_journal(dir);
  memory_sink m = {.base = {.methods = &memory_methods}};
  mida__recover_stats st;
  char err[256] = "";
  assert_int_equal(mida__recover_spool(dir, &m.base, &st, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.lost, 1);
  assert_int_equal(m.durable[MIDA_REC_COUNTER], 1);
  assert_int_equal(m.durable[MIDA_REC_LOST], 1);
  assert_int_equal(m.commits, 1);
  assert_int_equal(m.lost_commit, m.other_commit);
  assert_int_equal(segments_in(dir), 0);
}

/* Whichever commit fails, a segment is removed only once its journal's
 * LOST mark is durable; one that stays is marked by the next recovery. */
static void test_no_segment_goes_before_its_lost_mark(void **state) {
  const char *dir = *state;
  for (int fail = 1; fail <= 3; fail++) {
    leave_dead_journal(dir);
    memory_sink m = {.base = {.methods = &memory_methods}, .fail_sync = fail};
    mida__recover_stats st;
    char err[256] = "";
    (void)mida__recover_spool(dir, &m.base, &st, err, sizeof err);
    if (segments_in(dir) == 0) {
      if (m.durable[MIDA_REC_LOST] != 1)
        fail_msg("commit %d failed: the segment went, its LOST mark did "
                 "not reach the store",
                 fail);
      continue;
    }
    assert_int_equal(st.lost, 0);
    memory_sink again = {.base = {.methods = &memory_methods}};
    assert_int_equal(
        mida__recover_spool(dir, &again.base, &st, err, sizeof err), MIDA_OK);
    assert_int_equal(again.durable[MIDA_REC_LOST], 1);
    assert_int_equal(segments_in(dir), 0);
  }
}

/* A bound leaves the journals that started at or after it for a later
 * pass, whole and counted; the older ones go now. */
static void test_younger_journals_wait_for_a_later_pass(void **state) {
  const char *dir = *state;
  leave_dead_journal(dir);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t between = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
  leave_dead_journal(dir);
  mida__recover_buffers *b = NULL;
  assert_int_equal(mida__recover_buffers_new(&b), MIDA_OK);
  memory_sink m = {.base = {.methods = &memory_methods}};
  mida__recover_stats st;
  char err[256] = "";
  assert_int_equal(mida__recover_spool_with(b, dir, 0, between, &m.base, &st,
                                            err, sizeof err, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.later, 1);
  assert_int_equal(st.lost, 1);
  assert_int_equal(segments_in(dir), 1);
  assert_int_equal(mida__recover_spool_with(b, dir, 0, 0, &m.base, &st, err,
                                            sizeof err, NULL, NULL),
                   MIDA_OK);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.later, 0);
  assert_int_equal(segments_in(dir), 0);
  assert_int_equal(m.durable[MIDA_REC_LOST], 2);
  mida__recover_buffers_free(b);
}

/* Whether the file name of directory dir exists. */
static bool file_in(const char *dir, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

/* A half-made segment (.mj.tmp) of a dead writer, older than a minute, is
 * removed by a pass, which reads the directory once for that and for its
 * segments (mida__spool_sweep_list); a young one may still be on its way
 * to its writer's lock and stays. The segments are shipped as ever. */
static void test_a_pass_sweeps_old_half_made_segments(void **state) {
  const char *dir = *state;
  leave_dead_journal(dir);
  const char *names[] = {"h.1.2.000000.mj.tmp", "h.3.4.000000.mj.tmp"};
  for (int i = 0; i < 2; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
  }
  struct timespec old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, names[0]);
  assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
  memory_sink m = {.base = {.methods = &memory_methods}};
  mida__recover_stats st;
  char err[256] = "";
  assert_int_equal(mida__recover_spool(dir, &m.base, &st, err, sizeof err),
                   MIDA_OK);
  assert_false(file_in(dir, names[0]));
  assert_true(file_in(dir, names[1]));
  assert_int_equal(st.segments, 1);
  assert_int_equal(segments_in(dir), 0);
}

/* A torn frame at the tail of a dead journal is counted in the store
 * (corrupt) even when the commit of that count fails after the segment
 * was released past it: the count stays with the segment, whose next
 * recovery sends it, as it sends its unshipped records. */
static void test_a_torn_frame_is_counted_after_a_failed_commit(void **state) {
  const char *dir = *state;
  leave_journal(dir, true);
  /* The first commit takes the record (and the LOST mark), the second,
   * of the counters, fails. */
  memory_sink m = {.base = {.methods = &memory_methods}, .fail_sync = 2};
  mida__recover_stats st;
  char err[256] = "";
  assert_int_not_equal(mida__recover_spool(dir, &m.base, &st, err, sizeof err),
                       MIDA_OK);
  assert_int_equal(m.durable[MIDA_REC_COUNTER], 1);
  assert_int_equal(segments_in(dir), 1);
  memory_sink again = {.base = {.methods = &memory_methods}};
  assert_int_equal(mida__recover_spool(dir, &again.base, &st, err, sizeof err),
                   MIDA_OK);
  assert_int_equal(segments_in(dir), 0);
  if (st.corrupt != 1 || again.durable[MIDA_REC_COUNTER] != 1)
    fail_msg("the torn frame went uncounted: %llu corrupt, %u counter(s)",
             (unsigned long long)st.corrupt, again.durable[MIDA_REC_COUNTER]);
}

/* ---- a held group (MIDA_RECOVER_HOLD) ------------------------------------ */

/* A journal of this process's whose reader is another, as the preload
 * library's: its segments are live and read by mida__tail_open. */
static mida__journal *open_live_journal(const char *dir) {
  return fixture_journal(dir, "livehost", 1);
}

/* The wait of a held group: the writer goes on between two readings, the
 * sink holds nothing durable meanwhile, and the last wait says "enough"
 * (the command ended) after the writer's last records. */
typedef struct writer_goes_on {
  mida__journal *j;
  memory_sink *m;
  int waits, last; /* waits so far; the one that says enough */
  int per_wait;    /* records appended before each */
  int appended;    /* in all, before the recovery too */
} writer_goes_on;

static bool goes_on(void *ctx, int ms) {
  writer_goes_on *w = ctx;
  assert_true(ms > 0);
  assert_int_equal(w->m->commits, 0);
  append_counters(w->j, w->per_wait);
  w->appended += w->per_wait;
  return ++w->waits < w->last;
}

/* One held pass over the live journal of w, 50 records when it starts,
 * into w's sink, waiting with wait(ctx): returns the pass's rc. */
static int held_pass_with(const char *dir, writer_goes_on *w,
                          mida__recover_hold_fn wait, void *ctx) {
  append_counters(w->j, 50);
  mida__recover_buffers *b = NULL;
  assert_int_equal(mida__recover_buffers_new(&b), MIDA_OK);
  mida__recover_buffers_hold(b, wait, ctx);
  mida__recover_stats st;
  char err[256] = "";
  int rc = mida__recover_spool_with(
      b, dir, MIDA_RECOVER_TAIL_LIVE | MIDA_RECOVER_HOLD, 0, &w->m->base, &st,
      err, sizeof err, NULL, NULL);
  mida__recover_buffers_free(b);
  return rc;
}

/* One held pass over a live journal of 50 records that grows by per_wait
 * records at each of 6 waits: returns the pass's rc, with *w as the wait
 * left it. */
static int held_pass(const char *dir, memory_sink *m, int per_wait,
                     writer_goes_on *w) {
  *w = (writer_goes_on){open_live_journal(dir), m, 0, 6, per_wait, 50};
  return held_pass_with(dir, w, goes_on, w);
}

/* What a live journal's segments hold unreleased, read by a recovery that
 * does not hold (the next pass of a collector). */
static unsigned left_unreleased(const char *dir) {
  memory_sink m = {.base = {.methods = &memory_methods}};
  mida__recover_buffers *b = NULL;
  assert_int_equal(mida__recover_buffers_new(&b), MIDA_OK);
  mida__recover_stats st;
  char err[256] = "";
  unsigned n = 0;
  do {
    assert_int_equal(mida__recover_spool_with(b, dir, MIDA_RECOVER_TAIL_LIVE,
                                              0, &m.base, &st, err,
                                              sizeof err, NULL, NULL),
                     MIDA_OK);
    n += (unsigned)st.records;
  } while (st.records > 0);
  mida__recover_buffers_free(b);
  return n;
}

/* The records a writer makes while the group is held join it, and one
 * commit makes them all durable, at the end; then they are released. */
static void test_a_held_group_reads_on_and_commits_once(void **state) {
  const char *dir = *state;
  memory_sink m = {.base = {.methods = &memory_methods}};
  writer_goes_on w;
  assert_int_equal(held_pass(dir, &m, 40, &w), MIDA_OK);
  assert_int_equal(w.waits, 6);
  assert_int_equal(w.appended, 50 + 6 * 40);
  assert_int_equal(m.commits, 1);
  assert_int_equal(m.durable[MIDA_REC_COUNTER], w.appended);
  assert_int_equal(left_unreleased(dir), 0);
  mida__journal_close(w.j);
}

/* The waits a held group asks for: 10 ms (recovery.c, HOLD_STEP_MS) after
 * a reading of a few records, 2 ms (HOLD_BUSY_STEP_MS) after one of 100 or
 * more (HOLD_BUSY_RECORDS), so that a busy writer's last records are
 * applied before it ends, not after. */
typedef struct waits_asked {
  writer_goes_on w;
  int ms[8];
} waits_asked;

static bool ask_and_go_on(void *ctx, int ms) {
  waits_asked *a = ctx;
  if (a->w.waits < 8)
    a->ms[a->w.waits] = ms;
  return goes_on(&a->w, ms);
}

static void test_a_busy_writer_is_read_more_often(void **state) {
  const char *dir = *state;
  const int per_wait[2] = {40, 200};
  const int after_first[2] = {10, 2};
  for (int k = 0; k < 2; k++) {
    memory_sink m = {.base = {.methods = &memory_methods}};
    waits_asked a = {{open_live_journal(dir), &m, 0, 6, per_wait[k], 50},
                     {0}};
    assert_int_equal(held_pass_with(dir, &a.w, ask_and_go_on, &a), MIDA_OK);
    assert_int_equal(a.w.waits, 6);
    assert_int_equal(a.ms[0], 10); /* after the pass's first reading: 50 */
    for (int i = 1; i < 6; i++)
      assert_int_equal(a.ms[i], after_first[k]);
    assert_int_equal(m.commits, 1);
    assert_int_equal(m.durable[MIDA_REC_COUNTER], a.w.appended);
    assert_int_equal(left_unreleased(dir), 0);
    mida__journal_close(a.w.j);
  }
}

/* A writer that fills its ring goes on in a new segment: the held group
 * takes that one too, in order, still in one commit. */
static void test_a_held_group_takes_the_next_segment(void **state) {
  const char *dir = *state;
  memory_sink m = {.base = {.methods = &memory_methods}};
  writer_goes_on w;
  /* 6 x 1,000 records of ~40 bytes: several 64 KiB rings, unreleased. */
  assert_int_equal(held_pass(dir, &m, 1000, &w), MIDA_OK);
  assert_true(segments_in(dir) > 1);
  assert_int_equal(m.commits, 1);
  assert_int_equal(m.durable[MIDA_REC_COUNTER], w.appended);
  assert_int_equal(left_unreleased(dir), 0);
  mida__journal_close(w.j);
}

/* While the writer goes on, short processes come and go beside it (as a
 * shell's): the segment each leaves joins the held group at the next
 * reading, not once the writer is quiet, so that a group of many of them
 * fills and commits, their files back in the spool's pool for the next
 * processes. Each wait finds every record so far in the group, the dead
 * journals' included, and leaves one more dead journal. */
typedef struct processes_come_and_go {
  writer_goes_on w;
  const char *dir;
  int dead; /* journals left by the processes that came and went */
} processes_come_and_go;

static bool come_and_go(void *ctx, int ms) {
  processes_come_and_go *p = ctx;
  assert_int_equal(p->w.m->pending[MIDA_REC_COUNTER],
                   (unsigned)(p->w.appended + p->dead));
  leave_dead_journal(p->dir);
  p->dead++;
  return goes_on(&p->w, ms);
}

static void test_a_held_group_takes_the_processes_that_came_and_went(
    void **state) {
  const char *dir = *state;
  memory_sink m = {.base = {.methods = &memory_methods}};
  processes_come_and_go p = {
      {open_live_journal(dir), &m, 0, 6, 40, 50}, dir, 0};
  assert_int_equal(held_pass_with(dir, &p.w, come_and_go, &p), MIDA_OK);
  assert_int_equal(p.w.waits, 6);
  assert_int_equal(m.commits, 1);
  assert_int_equal(m.durable[MIDA_REC_COUNTER],
                   (unsigned)(p.w.appended + p.dead));
  assert_int_equal(left_unreleased(dir), 0);
  mida__journal_close(p.w.j);
}

/* A held group whose commit fails released nothing: the next recovery
 * ships every record it had. */
static void test_a_failed_held_group_leaves_everything(void **state) {
  const char *dir = *state;
  memory_sink m = {.base = {.methods = &memory_methods}, .fail_sync = 1};
  writer_goes_on w;
  assert_int_not_equal(held_pass(dir, &m, 40, &w), MIDA_OK);
  assert_int_equal(m.durable[MIDA_REC_COUNTER], 0);
  assert_int_equal(left_unreleased(dir), (unsigned)w.appended);
  mida__journal_close(w.j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_drops_in_two_segments_add_up_once,
                                      make_spool, remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_pass_sweeps_old_half_made_segments, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_held_group_takes_the_processes_that_came_and_went,
          make_spool, remove_spool),
      cmocka_unit_test_setup_teardown(test_lost_marks_commit_with_the_segments,
                                      make_spool, remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_torn_frame_is_counted_after_a_failed_commit, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(test_no_segment_goes_before_its_lost_mark,
                                      make_spool, remove_spool),
      cmocka_unit_test_setup_teardown(
          test_younger_journals_wait_for_a_later_pass, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_held_group_reads_on_and_commits_once, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(test_a_busy_writer_is_read_more_often,
                                      make_spool, remove_spool),
      cmocka_unit_test_setup_teardown(test_a_held_group_takes_the_next_segment,
                                      make_spool, remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_failed_held_group_leaves_everything, make_spool,
          remove_spool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

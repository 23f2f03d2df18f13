/*
 * corrupt_total_test.c -- unit tests, with a real SQLite store, of the
 * counter "corrupt" of a writer: the frames its readers skipped, those
 * that failed their checksum and those that passed it but could not be
 * decoded. The store keeps the largest value put for (host, pid, name),
 * so what is put must be the writer's running total: the undecodable
 * frames of a live segment read in several passes (`mida run`'s
 * collector), those the in-process shipper skipped before its process
 * died, and those a recovery skipped in each of a dead writer's segments
 * add up with the rest, once, however often a segment is shipped; and
 * the spool's sum (`mida stats`) counts each frame once.
 */
#include "capture/journal.h"
#include "capture/recovery.h"
#include "capture/shipper.h"
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
#include <sqlite3.h>
#include <stdbool.h>
#include <sys/wait.h>

/* Appends to j a frame whose checksum is right and whose payload is no
 * record (a field of an unknown kind): read, then left out as
 * undecodable. */
static void append_undecodable(mida__journal *j) {
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, MIDA_REC_COUNTER, 8, &slot),
                   MIDA_OK);
  memset(slot.payload, 0xff, 8);
  mida__journal_commit(j, &slot);
}

/* Appends to j a COUNTER record whose payload is spoilt after its commit:
 * a reader skips it as corrupt (its checksum fails). */
static void append_spoilt(mida__journal *j) {
  mida__rec rec;
  mida__rec_counter(&rec, NULL, 0, "x", 1);
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, rec.type,
                                         mida__rec_encoded_size(&rec), &slot),
                   MIDA_OK);
  mida__rec_encode(&rec, slot.payload, slot.len);
  mida__journal_commit(j, &slot);
  ((uint8_t *)slot.payload)[3] ^= 0x01;
}

/* The store DIR/store.db: its path into path, its URL into url. */
static void store_names(const char *dir, char *path, size_t pathcap,
                        char *url, size_t urlcap) {
  snprintf(path, pathcap, "%s/store.db", dir);
  snprintf(url, urlcap, "sqlite://%s", path);
}

/* The value of counter name of (host, pid) in the store at path, or -1
 * when it has none. */
static int64_t stored_counter_of(const char *path, const char *host,
                                 pid_t pid, const char *name) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT value FROM counter WHERE "
                                      "host = ? AND pid = ? AND name = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 2, pid);
  sqlite3_bind_text(st, 3, name, -1, SQLITE_TRANSIENT);
  int64_t value = -1;
  if (sqlite3_step(st) == SQLITE_ROW)
    value = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return value;
}

/* The same, of this process. */
static int64_t stored_counter(const char *path, const char *host,
                              const char *name) {
  return stored_counter_of(path, host, getpid(), name);
}

/* One recovery pass over dir into the store at url; with flags
 * MIDA_RECOVER_TAIL_LIVE, live segments are read too, one batch each (a
 * pass of `mida run`'s collector). Returns the pass's stats. */
static mida__recover_stats pass(const char *dir, const char *url,
                                unsigned flags) {
  mida__sink *sink = NULL;
  char err[512] = "";
  if (mida__sink_open(url, 0, &sink, err, sizeof err) != MIDA_OK)
    fail_msg("sink_open: %s", err);
  mida__recover_buffers *b = NULL;
  assert_int_equal(mida__recover_buffers_new(&b), MIDA_OK);
  mida__recover_stats st;
  if (mida__recover_spool_with(b, dir, flags, 0, sink, &st, err, sizeof err,
                               NULL, NULL) != MIDA_OK)
    fail_msg("recovery: %s", err);
  mida__recover_buffers_free(b);
  mida__sink_close(sink);
  return st;
}

/* The bytes of the only segment file (*.mj) of dir, to put back later. */
typedef struct saved_file {
  char path[1024];
  uint8_t *bytes;
  size_t len;
} saved_file;

static int note_path(void *ctx, const char *path) {
  saved_file *f = ctx;
  assert_true(f->path[0] == '\0'); /* one segment */
  snprintf(f->path, sizeof f->path, "%s", path);
  return 0;
}

static void save_only_segment(const char *dir, saved_file *f) {
  f->path[0] = '\0';
  assert_int_equal(mida__spool_list(dir, note_path, f), MIDA_OK);
  assert_true(f->path[0] != '\0');
  int fd = open(f->path, O_RDONLY);
  assert_true(fd >= 0);
  off_t len = lseek(fd, 0, SEEK_END);
  assert_true(len > 0);
  f->len = (size_t)len;
  f->bytes = malloc(f->len);
  assert_non_null(f->bytes);
  assert_int_equal(pread(fd, f->bytes, f->len, 0), (ssize_t)f->len);
  close(fd);
}

static void restore_segment(saved_file *f) {
  int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, f->bytes, f->len), (ssize_t)f->len);
  close(fd);
  free(f->bytes);
}

/* A live segment read by two passes of a collector finds one undecodable
 * frame in the first and two in the second: the store's counter is 3.
 * Each pass put its own count, so the store kept the larger pass's (2),
 * and the segment's recovery once its writer had ended put nothing of
 * them. Then the writer ends and its segment is recovered, twice (a
 * recovery killed before the removal): still 3; and the spool counts 3
 * before that. */
static void test_undecodable_frames_of_a_live_segment_add_up(void **state) {
  const char *dir = *state;
  char path[512], url[600];
  store_names(dir, path, sizeof path, url, sizeof url);
  mida__journal *j = fixture_journal(dir, "livehost", 1);

  append_counters(j, 2);
  append_undecodable(j);
  mida__recover_stats st = pass(dir, url, MIDA_RECOVER_TAIL_LIVE);
  assert_int_equal(st.tailed, 1);
  assert_int_equal(st.corrupt, 1);
  assert_int_equal(stored_counter(path, "livehost", "corrupt"), 1);

  append_undecodable(j);
  append_counters(j, 1);
  append_undecodable(j);
  st = pass(dir, url, MIDA_RECOVER_TAIL_LIVE);
  assert_int_equal(st.tailed, 1);
  assert_int_equal(st.corrupt, 2);
  int64_t stored = stored_counter(path, "livehost", "corrupt");
  if (stored != 3)
    fail_msg("the store shows %lld corrupt frames of 3", (long long)stored);

  /* The writer ends with a record unread: its segment stays, an orphan. */
  append_counters(j, 1);
  mida__journal_close(j);
  mida__spool_stats ss;
  assert_int_equal(mida__spool_segment_stats(dir, &ss), MIDA_OK);
  assert_int_equal(ss.segments, 1);
  assert_int_equal(ss.corrupt, 3);
  saved_file saved;
  save_only_segment(dir, &saved);
  st = pass(dir, url, 0);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.records, 1);
  assert_int_equal(stored_counter(path, "livehost", "corrupt"), 3);
  restore_segment(&saved);
  st = pass(dir, url, 0);
  assert_int_equal(st.segments, 1);
  assert_int_equal(stored_counter(path, "livehost", "corrupt"), 3);
}

/* The in-process shipper skips two undecodable frames and puts 2; after
 * it stops, a frame is spoilt and the process ends before shipping it:
 * recovery of the segment left puts the journal's total, 3. The
 * shipper's count was in its memory only, and recovery put 1, which the
 * store's 2 outranked. */
static void test_undecodable_frames_the_shipper_skipped_count_on(
    void **state) {
  const char *dir = *state;
  char path[512], url[600];
  store_names(dir, path, sizeof path, url, sizeof url);
  mida__journal *j = fixture_journal(dir, "ownhost", 0);
  mida__shipper *sh = NULL;
  assert_int_equal(mida__shipper_start(j, url, dir, 5, &sh), MIDA_OK);
  char msg[256] = "";
  assert_int_equal(mida__shipper_wait_open(sh, 10000, msg, sizeof msg),
                   MIDA_OK);
  append_counters(j, 2);
  append_undecodable(j);
  append_undecodable(j);
  append_counters(j, 1);
  assert_int_equal(mida__shipper_flush(sh, 10000), MIDA_OK);
  assert_int_equal(stored_counter(path, "ownhost", "corrupt"), 2);
  mida__shipper_stats ss;
  mida__shipper_stats_get(sh, &ss);
  assert_int_equal(ss.undecodable, 2);
  assert_int_equal(mida__shipper_stop(sh), MIDA_OK);

  append_spoilt(j);
  append_counters(j, 1);
  mida__journal_close(j); /* the frames after the shipper's stay */
  mida__recover_stats st = pass(dir, url, 0);
  assert_int_equal(st.segments, 1);
  assert_int_equal(st.records, 1);
  int64_t stored = stored_counter(path, "ownhost", "corrupt");
  if (stored != 3)
    fail_msg("the store shows %lld corrupt frames of 3", (long long)stored);
  /* The pass says the segment's count, the shipper's frames in it, as it
   * says the regions that its in-process reader skipped. */
  assert_int_equal(st.corrupt, 3);
}

/* Leaves in dir the journal of a child that died with two segments no
 * reader had read: an undecodable frame and a spoilt one in the first,
 * two undecodable frames in the second. Returns its pid. */
static pid_t leave_two_damaged_segments(const char *dir) {
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    mida__journal *j = NULL;
    if (mida__journal_open(dir, 64 * 1024, MIDA_FULL_SPILL, 0, "deadhost",
                           getpid(), &j, NULL, 0) != MIDA_OK)
      _exit(3);
    append_undecodable(j);
    append_spoilt(j);
    mida__journal_stats js;
    do {
      append_counters(j, 1);
      mida__journal_stats_get(j, &js);
    } while (js.segments < 2);
    append_undecodable(j);
    append_undecodable(j);
    _exit(0); /* no close: as if killed */
  }
  int status = 0;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return child;
}

/* A dead writer's two segments, each with frames a recovery skips (2 in
 * the first, 2 in the second), are counted 4 in the store: the second's
 * header knew nothing of the first's, which no reader had read when it
 * was made, and the store kept 2. */
static void test_what_recovery_skips_in_two_segments_adds_up(void **state) {
  const char *dir = *state;
  char path[512], url[600];
  store_names(dir, path, sizeof path, url, sizeof url);
  pid_t writer = leave_two_damaged_segments(dir);
  mida__recover_stats st = pass(dir, url, 0);
  assert_int_equal(st.segments, 2);
  assert_int_equal(st.corrupt, 4);
  int64_t stored = stored_counter_of(path, "deadhost", writer, "corrupt");
  if (stored != 4)
    fail_msg("the store shows %lld corrupt frames of 4", (long long)stored);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_undecodable_frames_of_a_live_segment_add_up, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(
          test_undecodable_frames_the_shipper_skipped_count_on, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(
          test_what_recovery_skips_in_two_segments_adds_up, make_spool,
          remove_spool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

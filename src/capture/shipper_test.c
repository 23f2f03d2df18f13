/*
 * shipper_test.c -- unit tests of the shipper thread (shipper.c) with a
 * real SQLite store: a flush asked for while the thread holds a group of
 * another journal's live segments (MIDA_RECOVER_HOLD: `mida run`'s
 * collector while the command writes) is not kept waiting for as long as
 * that journal's writer goes on; and a pass ships the shipper's own records
 * appended before it was asked for ahead of the spool's; and a pass asked
 * of a shipper whose own batches the store fails says the store's error;
 * and a quiet start leaves the store alone until mida__shipper_quiet_end.
 */
#include "capture/journal.h"
#include "capture/recovery.h"
#include "capture/shipper.h"
#include "capture/spool_fixture.h"
#include "core/record.h"
#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "capture/live_journal_fixture.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Another process's journal (the command's) that a writer thread keeps
 * appending to, a few records every 2 ms, until told to stop. */
typedef struct busy_writer {
  mida__journal *j;
  atomic_bool stop;
  pthread_t thread;
} busy_writer;

static void *write_on(void *arg) {
  busy_writer *w = arg;
  for (int i = 0; i < 1500 && !atomic_load(&w->stop); i++) {
    append_counters(w->j, 5);
    sleep_ms(2);
  }
  return NULL;
}

/* A collect pass asked for on a thread of its own (`mida run`'s
 * collector), with flags (MIDA_RECOVER_*), while the test goes on. */
typedef struct asked_collect {
  mida__shipper *sh;
  unsigned flags;
  int rc;
  pthread_t thread;
} asked_collect;

static void *collect_main(void *arg) {
  asked_collect *c = arg;
  c->rc = mida__shipper_collect(c->sh, 10000, c->flags, NULL);
  return NULL;
}

/* A shipper of the journal own into the store at url, with dir as its
 * spool, started and its store open. */
static mida__shipper *open_shipper(mida__journal *own, const char *url,
                                   const char *dir) {
  mida__shipper *sh = NULL;
  assert_int_equal(mida__shipper_start(own, url, dir, 5, &sh), MIDA_OK);
  char msg[256] = "";
  assert_int_equal(mida__shipper_wait_open(sh, 10000, msg, sizeof msg),
                   MIDA_OK);
  return sh;
}

/* A shipper of a new journal (*own) into the store DIR/store.db (its path
 * into path, cap bytes), started, its store open and its first flush
 * made. */
static mida__shipper *flushed_shipper(const char *dir, char *path,
                                      size_t cap, mida__journal **own) {
  char url[600];
  snprintf(path, cap, "%s/store.db", dir);
  snprintf(url, sizeof url, "sqlite://%s", path);
  *own = fixture_journal(dir, "ownhost", 0);
  mida__shipper *sh = open_shipper(*own, url, dir);
  assert_int_equal(mida__shipper_flush(sh, 10000), MIDA_OK);
  return sh;
}

/* A held group lasts as long as its writers write, up to
 * MIDA_RECOVER_HOLD_MS; a flush of the shipper's own journal asked for
 * meanwhile waited for all of it (`mida run`'s early flush of the
 * command's task waited for the command). It cuts the group short: 250
 * ms is half of what the group would have held, and many times what a
 * commit and two passes take. */
static void test_a_flush_does_not_wait_for_a_held_group(void **state) {
  const char *dir = *state;
  char url[512];
  snprintf(url, sizeof url, "sqlite://%s/store.db", dir);
  mida__journal *own = fixture_journal(dir, "ownhost", 0);
  mida__shipper *sh = open_shipper(own, url, dir);

  busy_writer w = {.j = fixture_journal(dir, "livehost", 1)};
  append_counters(w.j, 50);
  atomic_init(&w.stop, false);
  assert_int_equal(pthread_create(&w.thread, NULL, write_on, &w), 0);
  asked_collect c = {.sh = sh,
                     .flags = MIDA_RECOVER_TAIL_LIVE | MIDA_RECOVER_HOLD,
                     .rc = -1};
  assert_int_equal(pthread_create(&c.thread, NULL, collect_main, &c), 0);
  sleep_ms(50); /* the group is held by now */

  append_counters(own, 3);
  int rc = mida__shipper_flush(sh, 250);
  atomic_store(&w.stop, true);
  assert_int_equal(rc, MIDA_OK);

  assert_int_equal(pthread_join(w.thread, NULL), 0);
  assert_int_equal(pthread_join(c.thread, NULL), 0);
  assert_int_equal(c.rc, MIDA_OK);
  mida__shipper_stats st;
  mida__shipper_stats_get(sh, &st);
  assert_true(st.shipped >= 3);
  assert_int_equal(mida__shipper_stop(sh), MIDA_OK);
  mida__journal_close(w.j);
  mida__journal_close(own);
}

/* Appends to j a task record of id named activity. */
static void append_task(mida__journal *j, const mida_id_t *id,
                        const char *activity) {
  mida__rec rec = {.type = MIDA_REC_TASK};
  mida__rec_set_id(&rec, MIDA_F_ID, id);
  mida__rec_set_str(&rec, MIDA_F_ACTIVITY, activity, (size_t)-1);
  append_rec(j, &rec);
}

/* The activity the store at path holds for task id ("" when none). */
static void stored_activity(const char *path, const mida_id_t *id,
                            char *out, size_t cap) {
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  assert_int_equal(sqlite3_prepare_v2(db,
                                      "SELECT activity FROM task WHERE id = ?",
                                      -1, &st, NULL),
                   SQLITE_OK);
  char text[MIDA_ID_STRLEN];
  sqlite3_bind_text(st, 1, mida_id_format(id, text), -1, SQLITE_TRANSIENT);
  out[0] = '\0';
  if (sqlite3_step(st) == SQLITE_ROW)
    snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
}

/* `mida run` appends its command's task, starts the command (whose
 * library describes the same task again, in a journal of its own) and
 * asks for collect passes; the command's record, younger, must win. The
 * shipper was in a batch of its own, read before the task was appended
 * (here: held up by another writer's lock), when the pass was asked for:
 * the pass shipped the command's record first and the shipper's older
 * one overwrote it. */
static void test_a_pass_ships_our_records_from_before_it_first(void **state) {
  const char *dir = *state;
  char path[512];
  mida__journal *own = NULL;
  mida__shipper *sh = flushed_shipper(dir, path, sizeof path, &own);

  sqlite3 *locker = NULL;
  assert_int_equal(sqlite3_open(path, &locker), SQLITE_OK);
  assert_int_equal(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                   SQLITE_OK);
  append_counters(own, 1); /* a batch, held up by the lock */
  sleep_ms(50);
  mida_id_t task = mida_id_new();
  append_task(own, &task, "tool");
  mida__journal *cmd = fixture_journal(dir, "cmdhost", 0);
  append_task(cmd, &task, "sh");
  mida__journal_close(cmd); /* the command has ended: an orphan */
  asked_collect c = {.sh = sh, .flags = 0, .rc = -1};
  assert_int_equal(pthread_create(&c.thread, NULL, collect_main, &c), 0);
  sleep_ms(50); /* asked for by now */
  assert_int_equal(sqlite3_exec(locker, "ROLLBACK", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(locker);

  assert_int_equal(pthread_join(c.thread, NULL), 0);
  assert_int_equal(c.rc, MIDA_OK);
  assert_int_equal(mida__shipper_flush(sh, 10000), MIDA_OK);
  char activity[64];
  stored_activity(path, &task, activity, sizeof activity);
  assert_string_equal(activity, "sh");
  assert_int_equal(mida__shipper_stop(sh), MIDA_OK);
  mida__journal_close(own);
}

/* A store that fails the shipper's own batches (a full disk; here a
 * trigger) keeps every pass from being made, as they come after them:
 * the ask ended with MIDA_ETIMEDOUT, which `mida run`'s last pass took
 * for a slow store and waited for, 130 s in all (seen in CI). It ends
 * with the store's error, as a flush does. */
static void test_a_pass_says_why_the_store_fails_our_batches(void **state) {
  const char *dir = *state;
  char path[512];
  mida__journal *own = NULL;
  mida__shipper *sh = flushed_shipper(dir, path, sizeof path, &own);

  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "CREATE TRIGGER no_tasks BEFORE INSERT ON task "
                   "BEGIN SELECT RAISE(ABORT, 'the disk is full'); END",
                   NULL, NULL, NULL),
      SQLITE_OK);
  sqlite3_close(db);
  mida_id_t task = mida_id_new();
  append_task(own, &task, "tool");
  int rc = mida__shipper_collect(sh, 1500, 0, NULL);
  assert_int_not_equal(rc, MIDA_OK);
  assert_int_not_equal(rc, MIDA_ETIMEDOUT);
  (void)mida__shipper_stop(sh);
  mida__journal_close(own);
}

/* `mida run` starts its shipper quiet and ends the quiet once its command
 * runs: until then the store is not even opened (no file made), then it
 * is at once, not at the quiet's bound (a minute here). */
static void test_a_quiet_start_ends_when_told(void **state) {
  const char *dir = *state;
  char path[512], url[600];
  snprintf(path, sizeof path, "%s/store.db", dir);
  snprintf(url, sizeof url, "sqlite://%s", path);
  mida__journal *own = fixture_journal(dir, "ownhost", 0);
  mida__shipper *sh = NULL;
  assert_int_equal(
      mida__shipper_start_quiet(own, url, dir, 5, 60000, &sh), MIDA_OK);
  char msg[256] = "";
  assert_int_equal(mida__shipper_wait_open(sh, 200, msg, sizeof msg),
                   MIDA_ETIMEDOUT);
  assert_int_not_equal(access(path, F_OK), 0);
  mida__shipper_quiet_end(sh);
  assert_int_equal(mida__shipper_wait_open(sh, 10000, msg, sizeof msg),
                   MIDA_OK);
  assert_int_equal(access(path, F_OK), 0);
  (void)mida__shipper_stop(sh);
  mida__journal_close(own);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_a_flush_does_not_wait_for_a_held_group, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_pass_ships_our_records_from_before_it_first, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(
          test_a_pass_says_why_the_store_fails_our_batches, make_spool,
          remove_spool),
      cmocka_unit_test_setup_teardown(test_a_quiet_start_ends_when_told,
                                      make_spool, remove_spool),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * sqlite_busy.c -- how the SQLite store waits for the other writers of its
 * file (sqlite_busy.h).
 *
 * The shippers of every capturing process, `mida recover` and `mida
 * ingest` write one store file at once, each batch in a BEGIN IMMEDIATE
 * transaction: a writer that finds the lock taken waits and tries again.
 * Its waits go through mida__sink_blocking_begin() (sink.h), so that the
 * program may fork while a statement waits for another program's lock.
 * sqlite.c installs the busy handler on each connection and retries its
 * transactions' BEGIN and COMMIT here; sqlite_schema.c retries the
 * schema's transaction.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/sqlite_busy.h"

#include "core/clock.h"
#include "sink/sink.h"
#include "sink/sqlite_file.h"

#include <time.h>

_Static_assert(MIDA_SQLITE_BUSY_TIMEOUT_MS == MIDA_SQLITE_WAL_WAIT_MS,
               "the WAL reset waits for readers as long as a busy wait");

/* Sleeps before trying a busy store again: a wait that holds no
 * process-wide lock, during which the program may fork (sink.h). */
static void sleep_ms(int ms) {
  mida__sink_blocking_begin();
  mida__sleep_ms(ms);
  mida__sink_blocking_end();
}

/* SQLite's busy handler, as sqlite3_busy_timeout(MIDA_SQLITE_BUSY_TIMEOUT_MS)
 * would install it (the same delays, 1 ms growing to 100 ms), but with its
 * sleeps made through sleep_ms: a statement that waits for another
 * program's lock lets this program fork meanwhile. */
int mida__sqlite_busy_wait(void *arg, int count) {
  (void)arg;
  static const unsigned char delays[] = {1,  2,  5,  10, 15, 20,
                                         25, 25, 25, 50, 50, 100};
  enum { NDELAYS = sizeof delays / sizeof delays[0] };
  int prior = 0;
  for (int i = 0; i < count && i < NDELAYS; i++)
    prior += delays[i];
  if (count > NDELAYS)
    prior += (count - NDELAYS) * 100;
  int delay = count < NDELAYS ? delays[count] : 100;
  if (prior + delay > MIDA_SQLITE_BUSY_TIMEOUT_MS)
    delay = MIDA_SQLITE_BUSY_TIMEOUT_MS - prior;
  if (delay <= 0)
    return 0;
  sleep_ms(delay);
  return 1;
}

int mida__sqlite_is_busy(int rc) {
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Runs SQL that returns no rows the caller needs, retrying while the store
 * is busy until deadline_ms (monotonic). */
int mida__sqlite_exec_retry(sqlite3 *db, const char *sql, int64_t deadline_ms) {
  int delay = 1;
  for (;;) {
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (!mida__sqlite_is_busy(rc) || mida__monotonic_ms() >= deadline_ms)
      return rc;
    sleep_ms(delay);
    delay = delay < 32 ? delay * 2 : 50;
  }
}

/* Steps a prepared statement that returns no rows, retrying while busy until
 * deadline_ms. Leaves the statement reset. */
int mida__sqlite_step_retry(sqlite3_stmt *st, int64_t deadline_ms) {
  int delay = 1;
  for (;;) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
      return SQLITE_OK;
    if (!mida__sqlite_is_busy(rc) || mida__monotonic_ms() >= deadline_ms)
      return rc;
    sleep_ms(delay);
    delay = delay < 32 ? delay * 2 : 50;
  }
}

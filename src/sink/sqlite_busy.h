/*
 * sqlite_busy.h -- waiting for the other writers of an SQLite store
 * (internal to the SQLite store's files, sqlite.c and its neighbours).
 *
 * Several processes write one store file at once, each batch in its own
 * write transaction; a writer that finds the lock taken waits, a little
 * longer each time, up to MIDA_SQLITE_BUSY_GIVE_UP_MS in all. Every wait
 * is made through mida__sink_blocking_begin() (sink.h), so that the
 * program may fork meanwhile. sqlite_busy.c has the code.
 */
#ifndef MIDA_SINK_SQLITE_BUSY_H
#define MIDA_SINK_SQLITE_BUSY_H

#include <sqlite3.h>
#include <stdint.h>

/* How long one attempt waits for another writer inside SQLite, and how long
 * a batch keeps trying before it gives up. */
#define MIDA_SQLITE_BUSY_TIMEOUT_MS 2000
#define MIDA_SQLITE_BUSY_GIVE_UP_MS 30000

/* SQLite's busy handler (sqlite3_busy_handler, with a NULL arg): waits as
 * sqlite3_busy_timeout(MIDA_SQLITE_BUSY_TIMEOUT_MS) would. Returns 1 to
 * try again, 0 to give up. */
int mida__sqlite_busy_wait(void *arg, int count);

/* Whether an SQLite result code says another connection holds the lock. */
int mida__sqlite_is_busy(int rc);

/* Runs sql, which returns no rows the caller needs, on db, retrying while
 * the store is busy until deadline_ms (mida__monotonic_ms, core/clock.h).
 * Returns SQLite's result code. */
int mida__sqlite_exec_retry(sqlite3 *db, const char *sql, int64_t deadline_ms);

/* Steps st, which returns no rows, retrying while busy until deadline_ms,
 * and leaves it reset. Returns SQLITE_OK when it ran, else SQLite's result
 * code. */
int mida__sqlite_step_retry(sqlite3_stmt *st, int64_t deadline_ms);

#endif

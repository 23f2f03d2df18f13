/*
 * sqlite_query.h -- the read path of the SQLite store: a guarded query,
 * its cancellation and the snapshot read around several, the query,
 * cancel and snapshot methods of the store's method table (sqlite.c;
 * sink.h says what the methods promise).
 * Internal to the SQLite store's files; sqlite_query.c says how.
 */
#ifndef MIDA_SINK_SQLITE_QUERY_H
#define MIDA_SINK_SQLITE_QUERY_H

#include "sink/sink.h"

/* The largest string or blob a reader's query may make (SQLite's default:
 * 1,000,000,000 bytes). mida stores summaries of large values, and a
 * journal record is far smaller. A reader's connection is opened with it
 * (sqlite.c, setup). */
#define MIDA_SQLITE_READER_VALUE_MAX (256 * 1024 * 1024)

/* The query method (sink.h, query): runs one read-only statement of sql
 * on the SQLite store base, with params bound as text, calling row for
 * each row, within the guard's bounds (guard.h): a deadline, the budget
 * of temporary space, cancellation. */
int mida__sqlite_query(mida__sink *base, const char *sql,
                       const char *const *params, int nparams,
                       mida__cells_fn row, void *ctx);

/* The cancel method (sink.h, cancel): ends the query that base runs, from
 * any thread. */
void mida__sqlite_cancel(mida__sink *base);

/* The snapshot method (sink.h, snapshot): BEGIN on a reader's connection
 * (on), COMMIT (off). */
int mida__sqlite_snapshot(mida__sink *base, int on);

#endif

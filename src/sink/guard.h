/*
 * guard.h -- the query guard: what every query path may do, and how much.
 *
 * Every reader of a store -- the `mida` command's verbs, the public API's
 * mida_query() (and so Python's mida.query()), and `mida serve`'s HTTP
 * API -- reads through mida__sink_query() (sink.h), and every backend's
 * query method applies this one policy:
 *
 *   read-only        nothing the statement does may write: SQLite's
 *                    authorizer and sqlite3_stmt_readonly(), PostgreSQL's
 *                    READ ONLY transaction;
 *   least privilege  the statement runs with no more rights than reading
 *                    mida's tables, whatever role the store URL logs in as:
 *                    on PostgreSQL as the role mida_reader, inside a
 *                    SECURITY DEFINER function that no statement can change
 *                    role out of (pg_guard.c); on SQLite through a
 *                    read-only connection;
 *   refused names    functions that reach outside the store (the server's
 *                    files and programs, other sessions, settings and
 *                    roles, SQL text run on the side, pointers into the
 *                    library) are refused by name, before the statement
 *                    runs: mida__guard_denied_call() on the statement's
 *                    text, and SQLite's authorizer on every function call;
 *   bounded          a wall-clock time limit (MIDA_QUERY_TIMEOUT_MS,
 *                    default 30 s) and a bound on temporary space
 *                    (MIDA_QUERY_TEMP_MB, default 256 MiB), per statement;
 *                    and in the processes that only read, `mida query`
 *                    and `mida serve`, on SQLite's memory
 *                    (MIDA_QUERY_MEM_MB, MIDA_GUARD_MEM_MB_DEFAULT: sink.h,
 *                    mida__sink_bound_reader_memory);
 *   stoppable        mida__sink_cancel_queries() (sink.h), safe in a signal
 *                    handler, stops the statements in flight (PQcancel,
 *                    sqlite3_interrupt): `mida`'s reading verbs call it on
 *                    SIGINT; and a caller's stop function
 *                    (mida__query_limits.stop), asked about every
 *                    MIDA_GUARD_STOP_MS while the statement computes, stops
 *                    its own statement the same way (Python's Ctrl-C).
 *
 * A row cap is the caller's: its row callback returns non-zero, and the
 * backends then stop reading (PostgreSQL fetches in batches, so the rest
 * of a large result is never computed).
 *
 * This file holds the parts that are the same for every backend; it is
 * pure (no state) so that the loadable modules are built with it too.
 */
#ifndef MIDA_SINK_GUARD_H
#define MIDA_SINK_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* The default time limit of one statement, in milliseconds. */
#define MIDA_GUARD_TIMEOUT_MS_DEFAULT 30000
/* The default bound on a statement's temporary space, in MiB. */
#define MIDA_GUARD_TEMP_MB_DEFAULT 256
/* The default bound on SQLite's memory in a process that only reads, in
 * MiB (sink.h, mida__sink_bound_reader_memory). */
#define MIDA_GUARD_MEM_MB_DEFAULT 2048

/* How often a statement asks its stop function, in milliseconds. */
#define MIDA_GUARD_STOP_MS 100

/* How much one statement may take. 0 in a field: no bound. */
typedef struct mida__query_limits {
  int64_t timeout_ms; /* wall-clock time, milliseconds */
  int64_t temp_bytes; /* temporary files (sorts, materialised results) */
  /* Asked from the querying thread about every MIDA_GUARD_STOP_MS while
   * the statement computes; non-zero cancels it (MIDA_ECLOSED). NULL:
   * never asked. */
  int (*stop)(void *ctx);
  void *stop_ctx; /* stop's argument */
} mida__query_limits;

/* The limits from the environment: MIDA_QUERY_TIMEOUT_MS (milliseconds,
 * 0 for none) and MIDA_QUERY_TEMP_MB (MiB, 0 for none), each defaulting
 * as above when unset or not a number. */
void mida__guard_limits_default(mida__query_limits *out);

/* MIDA_QUERY_MEM_MB (MiB, 0 for none) in bytes, defaulting to
 * MIDA_GUARD_MEM_MB_DEFAULT when unset or not a number, read as
 * MIDA_QUERY_TEMP_MB is. */
int64_t mida__guard_reader_mem_bytes(void);

/* Why the function called name may not be called by a query, in words
 * ("reads the database server's files"), or NULL if it may. Names are
 * compared without regard to case. */
const char *mida__guard_denied_function(const char *name, size_t len);

/* Looks through the text of a statement for a call of a refused function:
 * a name of mida__guard_denied_function() followed by '(' (with blanks,
 * comments -- nested, as PostgreSQL reads them, or not, as SQLite does --
 * and quotes between them), wherever it appears -- in string
 * literals and comments too, so that no difference between how this scan
 * and the server read quotes or comments can hide a call. Also refuses
 * Unicode-escaped identifiers (U&"..."), which could spell a name in
 * escapes. Returns 0 if none, else 1 with a message in why ("pg_read_file()
 * reads the database server's files"). */
int mida__guard_denied_call(const char *sql, char *why, size_t whylen);

/* Skips what may come before a statement: white space, ';' and comments
 * (-- to the end of the line, and slash-star ones, unnested). Returns where
 * the first other character is ('\0' when sql holds no statement), or
 * NULL when a slash-star comment never closes, with *unclosed (if not
 * NULL) set to where it starts. */
const char *mida__sql_skip_blank(const char *sql, const char **unclosed);

#endif /* MIDA_SINK_GUARD_H */

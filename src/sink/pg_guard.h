/*
 * pg_guard.h -- the query guard (guard.h) on PostgreSQL: how postgres.c
 * runs a query so that it can only read mida's tables, whatever role the
 * store URL logs in as (a superuser included).
 *
 * Only postgres.c uses the guard; both are built into the postgresql
 * module. The scanner that rewrites ?N parameters (mida__pg_write_params)
 * also serves the module's MLflow tracking-store reader (observe/
 * mlflow_pg.c), so that PostgreSQL text is scanned one way only.
 */
#ifndef MIDA_SINK_PG_GUARD_H
#define MIDA_SINK_PG_GUARD_H

#include "core/buf.h"
#include "sink/sink.h"

#include <libpq-fe.h>
#include <signal.h>

/* The guard's state on one connection. Zeroed, then mida__pg_guard_init. */
typedef struct mida__pg_guard {
  PGconn *conn;        /* the connection, borrowed from the sink */
  PGcancel *cancel;    /* stops the statement running on conn */
  int arranged;        /* role, functions and search_path are in place */
  int superuser;       /* the URL's role is a superuser */
  int bound_temp;      /* mida_reader may call mida.mida_bound_temp */
  volatile sig_atomic_t running;   /* a query is in flight */
  volatile sig_atomic_t cancelled; /* mida__pg_guard_cancel was called */
  int timed_out;       /* the client's deadline passed */
  int snapshot;        /* a snapshot read's transaction is open: each
                          query runs in a savepoint of it */
  const mida__query_limits *lim; /* the running query's, for its stop */
  mida__buf sql;       /* statements built here */
  mida__buf text;      /* the caller's statement, ?N rewritten */
} mida__pg_guard;

/* Sets the guard up for conn (after every connect and reset). */
void mida__pg_guard_init(mida__pg_guard *g, PGconn *conn);

/* Frees what the guard holds (not the connection). */
void mida__pg_guard_free(mida__pg_guard *g);

/* Runs one statement with text parameters ?1..?n (NULL: SQL NULL) under
 * the guard and the limits lim, calling row for each result row until it
 * returns non-zero. where names the store in messages (no password).
 * Errors go to base's message. Returns MIDA_OK, MIDA_EREADONLY (refused),
 * MIDA_EINVAL (bad parameters, several statements), MIDA_ETIMEDOUT (past
 * the time limit), MIDA_ECLOSED (cancelled), MIDA_ESTORE. */
int mida__pg_guard_query(mida__pg_guard *g, mida__sink *base,
                         const char *where, const char *sql,
                         const char *const *params, int nparams,
                         const mida__query_limits *lim, mida__cells_fn row,
                         void *ctx);

/* Begins a snapshot read (sink.h, mida__sink_snapshot_begin) on the
 * connection, which must be in no transaction: the guard arranged first
 * (its set-up writes), then BEGIN ISOLATION LEVEL REPEATABLE READ, READ
 * ONLY, whose snapshot every mida__pg_guard_query reads until
 * mida__pg_guard_snapshot_end; each of those runs in a savepoint of it,
 * with its own bounds and role as before, all undone after it. Returns
 * MIDA_OK or MIDA_ESTORE (MIDA_EREADONLY when the guard cannot run), with
 * base's message. */
int mida__pg_guard_snapshot_begin(mida__pg_guard *g, mida__sink *base,
                                  const char *where);

/* Ends the snapshot read's transaction, if any and the connection still
 * answers. */
void mida__pg_guard_snapshot_end(mida__pg_guard *g);

/* Writes into b what stands for the n-th (1-based) parameter; returns
 * MIDA_OK or a code that stops mida__pg_write_params. */
typedef int (*mida__pg_param_fn)(void *ctx, long n, mida__buf *b);

/* Copies sql into b, with what param() writes in place of each ?N. Quoted
 * strings (E'...' with its backslashes) and identifiers, dollar-quoted
 * strings and comments are copied as they are; a '?' not followed by a
 * digit (jsonb's ? operators) is left alone. Returns MIDA_OK, param()'s
 * first other code, or the buffer's. */
int mida__pg_write_params(const char *sql, mida__buf *b,
                          mida__pg_param_fn param, void *ctx);

/* Copies sql into b with each ?N written $N, libpq's placeholder, as
 * mida__pg_write_params scans it. Returns MIDA_OK or the buffer's code. */
int mida__pg_dollar_params(const char *sql, mida__buf *b);

/* Stops the query in flight, if any: async-signal-safe (PQcancel). */
void mida__pg_guard_cancel(mida__pg_guard *g);

#endif /* MIDA_SINK_PG_GUARD_H */

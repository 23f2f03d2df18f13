/*
 * sink.h -- where records go: the one interface of every store and broker.
 *
 * A sink is opened from a URL (sqlite:///path, postgresql://..., redis://...)
 * and receives batches of decoded records from the shipper, from `mida
 * recover` and from `mida ingest`. Each backend is one file that fills a
 * method table (like SQLite's sqlite3_vfs); mida__sink_open() picks the table
 * by the URL's scheme, so adding a backend adds a file and one line in
 * sink.c, not branches across the code.
 *
 * Contract of put_batch: when it returns MIDA_OK, every record of the batch is
 * durable in the sink (committed, or acknowledged by the broker); on failure
 * none or some may be, and the caller sends the whole batch again later;
 * except MIDA_EDENIED, which says the sink refuses the batch for good (a
 * broker's ACL): sending it again cannot help, so the caller drops it,
 * counts it and says so once.
 * Applying a record twice must change nothing (idempotent merge), which makes
 * that retry safe.
 *
 * Deferred durability (mida__sink_defer): a caller that acknowledges
 * several batches at once (`mida ingest`, one round of messages) may let
 * put_batch return before its batch is durable, and then call
 * mida__sink_sync once, which makes every batch put since durable or
 * fails; on failure the caller sends all those batches again. A backend
 * without a sync method is durable at every put_batch, as above.
 *
 * Stores (not brokers) also answer queries, for the `mida` command, the
 * public API and `mida serve`: all through mida__sink_query(), which the
 * query guard bounds (guard.h). A store opened for writing applies
 * MIDA_INDEX (key_index.h) at open.
 */
#ifndef MIDA_SINK_H
#define MIDA_SINK_H

#include "core/record.h"
#include "sink/guard.h"

#include <stddef.h>
#include <stdint.h>

/* Who produced a batch: fills HOST and PID of records that lack them. */
typedef struct mida__origin {
  const char *host; /* host name, NUL-terminated */
  int64_t pid;      /* process id */
} mida__origin;

typedef struct mida__sink mida__sink;

/* One row of a query result: ncols values as text (NULL for SQL NULL), with
 * the column names. Return 0 to go on, non-zero to stop the query. */
typedef int (*mida__row_fn)(void *ctx, int ncols, const char *const *names,
                            const char *const *values);

/* The same with each value's length in bytes, for a reader that keeps
 * every byte: a text may hold NUL bytes (SQLite), where values[c] read as
 * a C string would end. lens[c] is 0 for SQL NULL; each value is still
 * NUL-terminated. The backends' query method calls this form. */
typedef int (*mida__cells_fn)(void *ctx, int ncols, const char *const *names,
                              const char *const *values, const size_t *lens);

/* Open flags. */
#define MIDA_SINK_READONLY 0x1 /* open for queries only, never write */
#define MIDA_SINK_NOCREATE 0x2 /* fail rather than create a new store */

typedef struct mida__sink_methods {
  const char *scheme; /* URL scheme this backend serves, e.g. "sqlite" */
  /* Opens the sink named by url; on failure writes a message into err. */
  int (*open)(const char *url, int flags, mida__sink **out, char *err,
              size_t errlen);
  /* Applies or sends n records durably (see the contract above). */
  int (*put_batch)(mida__sink *sink, const mida__rec *recs, size_t n,
                   const mida__origin *origin);
  /* Runs one read-only SQL statement with text parameters ?1..?n under
   * the query guard (guard.h, with the sink's limits) and calls row for
   * each result row. Before the first row -- or, when there is none, once
   * the statement has run -- row is called once with values and lens
   * NULL: the result's columns (mida__sink_query_described hands that call
   * to its columns function; mida__sink_query drops it). A BLOB value is
   * its bytes in hex after "\x" (x'ff' is \xff), as PostgreSQL writes a
   * bytea. MIDA_EREADONLY if the statement would write or the guard
   * refuses it, MIDA_ETIMEDOUT past the time limit, MIDA_ECLOSED if
   * cancelled. NULL for brokers. */
  int (*query)(mida__sink *sink, const char *sql, const char *const *params,
               int nparams, mida__cells_fn row, void *ctx);
  /* Runs mida's own statements that change the schema (key_index.c's
   * CREATE INDEX and its record; never a user's SQL) in one write
   * transaction. MIDA_EREADONLY on a sink opened read-only. NULL for
   * brokers. */
  int (*exec_schema)(mida__sink *sink, const char *sql);
  /* Frees the sink. */
  void (*close)(mida__sink *sink);
  /* Stops the statement that query is running, from any thread or from a
   * signal handler: async-signal-safe. NULL for brokers. */
  void (*cancel)(mida__sink *sink);
  /* Makes durable every batch that put_batch applied while the sink's
   * deferred flag was set (mida__sink_sync). NULL where every put_batch is
   * durable when it returns. */
  int (*sync)(mida__sink *sink);
  /* Does once per process, on the thread that opens a session, what the
   * backend's first opening would do on the shipper's and that reads the
   * environment (mida__sink_process_init). NULL: nothing. */
  void (*process_init)(void);
  /* Does now, inside the open deferred group, the work its sync would do
   * besides the commit (SQLite: the data records it keeps sorted for the
   * commit, data_rows.h), so that a group held open for a while is not
   * all applied at its end (mida__sink_settle). NULL: nothing kept. */
  int (*settle)(mida__sink *sink);
  /* Whether the store that the sink reads is no longer the one its URL
   * names (SQLite: the file was deleted, renamed or replaced since the
   * open), so that a reader that stays open (`mida serve`) opens the URL
   * again rather than read a deleted file on. NULL: a store that cannot
   * be replaced under its readers (a server). */
  int (*moved)(mida__sink *sink);
  /* Reads url as open would -- its host, port, path, options -- and
   * connects to nothing, opens no file: MIDA_OK, or MIDA_EURL with why in
   * err (never a secret of the URL). mida__sink_check_url calls it, so
   * that a URL no open could ever take is refused before a session makes
   * its spool. NULL: open reads nothing that can be checked earlier. */
  int (*check_url)(const char *url, char *err, size_t errlen);
  /* Begins (on: 1) or ends (on: 0) a snapshot read on a sink opened
   * read-only (mida__sink_snapshot_begin): one read transaction that the
   * queries until its end all read, each still under the guard (SQLite:
   * BEGIN ... COMMIT on the connection; PostgreSQL: a REPEATABLE READ,
   * READ ONLY transaction, each query in a savepoint of it). Ending one
   * that is not open, or whose connection was lost, does nothing. NULL
   * for brokers. */
  int (*snapshot)(mida__sink *sink, int on);
} mida__sink_methods;

/* The common head of every sink; backends embed it first. */
struct mida__sink {
  const mida__sink_methods *methods; /* the backend */
  char errmsg[512];                  /* the last error, "" if none */
  mida__query_limits limits;         /* bounds of each query (guard.h) */
  int deferred; /* 1: put_batch may return before its batch is durable */
  char notice[512]; /* what a put_batch that succeeded left out (records
                       the store refused, pg_isolate.h), the first since
                       mida__sink_take_notice last took it; "" if none */
  char query_notice[512]; /* what a query that succeeded ran without (the
                             guard's temporary-space bound, pg_guard.c),
                             the first since mida__sink_take_query_notice
                             last took it; "" if none */
  uint64_t refused; /* records that put_batch calls which succeeded left
                       out, the store refusing them on their own, since
                       open (written by the thread that puts batches) */
  const char *param_kinds; /* the kinds of the running query's parameters
                              (mida__sink_query_typed), NULL: all text */
  int snapshot;               /* 1 between mida__sink_snapshot_begin and
                                 _end: the queries read one snapshot */
  int64_t snapshot_until_ms;  /* monotonic end of that snapshot's time
                                 bound, 0: none */
  int64_t snapshot_bound_ms;  /* that bound, for messages */
};

/* Opens the sink named by url with the backend for its scheme. A bare path
 * ("x.db") means sqlite. Returns MIDA_OK, MIDA_EURL (unknown scheme, or a
 * backend not built in), or the backend's error, with a message in err. */
int mida__sink_open(const char *url, int flags, mida__sink **out, char *err,
                    size_t errlen);

/* Whether url names a broker: a backend that takes records and answers no
 * queries (its module is loaded to tell). 0 for a store, and for a URL
 * that no backend reads. */
int mida__sink_is_broker(const char *url);

/* Whether url can name a store at all: MIDA_EURL, with the reason in err,
 * for an empty URL, a scheme no backend reads, a network or SQLite URL
 * whose "//" or ':' was mistyped, a libpq conninfo, or a URL its backend
 * cannot read (its check_url method: a port that is no number from 1 to
 * 65535, no host, a bracket left open, an option it does not know);
 * MIDA_OK otherwise (whether its module loads is said by mida__sink_open).
 * Connects to nothing, creates nothing. */
int mida__sink_check_url(const char *url, char *err, size_t errlen);

/* For a program that owns its process (mida's own commands, never the
 * library inside someone's program): the process-wide settings of the
 * store's libraries that a library may not make, before any store is
 * opened. SQLite keeps no memory statistics (each of its ~10 allocations
 * a record took and released a global mutex for them, ~3 % of a
 * recovery's instructions), and an SQLite store's WAL is checkpointed by
 * a thread of its own (sqlite_checkpoint.h). */
void mida__sink_own_process(void);

/* For `mida run`, which leaves its store's copy-back to the detached
 * `mida recover` that outlives it (src/cli/run_after.h): from now on the
 * SQLite writers of this process no longer wake their checkpointing
 * thread after a commit, and their close leaves the WAL as it is:
 * committed (every reader sees it, and any crash of a process keeps it)
 * but neither copied back into the database file nor synced, which that
 * recover's close does. Only in a process that called
 * mida__sink_own_process. Thread-safe; cannot be undone. */
void mida__sink_leave_wal(void);

/* Reads MIDA_REDACT_USED once for the process (later calls do nothing):
 * unless it is "0", mida__sink_put_batch hides the values of secret-named
 * members of every record's `used` (sink.c). Called by mida_open on the
 * caller's thread, so that the shipper's thread never reads the
 * environment; put_batch calls it too. */
void mida__sink_redact_init(void);

int mida__sink_put_batch(mida__sink *sink, const mida__rec *recs, size_t n,
                         const mida__origin *origin);

/* Sets whether put_batch may return before its batch is durable (the
 * contract above); off when a sink is opened. Brokers and SQLite ignore it.
 * Not thread-safe: the thread that puts batches calls it. */
void mida__sink_defer(mida__sink *sink, int deferred);

/* Makes every batch put while deferred durable. MIDA_OK when they all are
 * (at once where the backend has no sync method); otherwise an error, and
 * the caller sends them all again (some may be lost, e.g. when the store
 * restarted since). */
int mida__sink_sync(mida__sink *sink);

/* Applies what the deferred batches put since the last sync left for the
 * sync to apply, without making anything durable: the sync after it then
 * only commits. MIDA_OK, or an error after which, as after a failed sync,
 * the caller sends those batches again. */
int mida__sink_settle(mida__sink *sink);

/* MIDA_EUNSUPPORTED where the sink cannot answer queries. */
int mida__sink_query(mida__sink *sink, const char *sql,
                     const char *const *params, int nparams, mida__row_fn row,
                     void *ctx);

/* The names of a result's columns, valid during the call. Return 0 to go
 * on, non-zero to stop the query (it then returns MIDA_OK, no rows). */
typedef int (*mida__columns_fn)(void *ctx, int ncols,
                                const char *const *names);

/* As mida__sink_query, and columns (if not NULL) is called once, before
 * the first row, or after the statement has run when it returned none: a
 * result without rows still says what its columns are. */
int mida__sink_query_described(mida__sink *sink, const char *sql,
                               const char *const *params, int nparams,
                               mida__columns_fn columns, mida__row_fn row,
                               void *ctx);

/* As mida__sink_query_described, with each value's length (cells): for a
 * reader that must keep a text's NUL bytes (`mida query`'s CSV and JSON). */
int mida__sink_query_cells(mida__sink *sink, const char *sql,
                           const char *const *params, int nparams,
                           mida__columns_fn columns, mida__cells_fn cells,
                           void *ctx);

/* As mida__sink_query_described, with the kinds of the parameters:
 * kinds[i] 'i' where params[i] is the text of an integer, 'r' a real's,
 * anything else (or kinds NULL) a text. SQLite binds each as its kind (it
 * compares the number 5 and the text '5' as different values: a number
 * compared with one in a JSON document must be bound as a number);
 * PostgreSQL infers each parameter's type from the statement, as for
 * text. kinds holds at least nparams letters. */
int mida__sink_query_typed(mida__sink *sink, const char *sql,
                           const char *const *params, const char *kinds,
                           int nparams, mida__columns_fn columns,
                           mida__row_fn row, void *ctx);

/* A snapshot read: from mida__sink_snapshot_begin to mida__sink_snapshot_end
 * every query on sink reads one and the same state of the store, what a
 * writer commits meanwhile unseen, so that a reader of several queries (an
 * export: its entities, then the relations between them) never pairs rows
 * of two states (a relation to an entity it did not write). Each query
 * stays under the guard (guard.h): read-only, its own time and
 * temporary-space bounds, cancellable; and the snapshot as a whole is held
 * within the time limit in force at its begin (limits.timeout_ms, none when
 * 0): past it, a query fails as one past its own limit (MIDA_ETIMEDOUT),
 * since a held snapshot keeps a store from reclaiming what writers replace
 * (SQLite's WAL checkpoint stops at it; PostgreSQL's vacuum). Only on a
 * sink opened read-only, with no snapshot open: MIDA_EINVAL otherwise;
 * MIDA_EUNSUPPORTED on a broker; the backend's error if the transaction
 * cannot begin. A lost connection is not made anew inside a snapshot: its
 * queries fail (MIDA_ESTORE) until the end. mida__sink_snapshot_end always
 * ends it (also after a failure), and does nothing on a sink without one;
 * the caller ends every snapshot it began before it gives the sink to
 * another (`mida serve`'s pool) or closes it. */
int mida__sink_snapshot_begin(mida__sink *sink);
void mida__sink_snapshot_end(mida__sink *sink);

/* Bounds the memory SQLite may hold in this whole process at
 * MIDA_QUERY_MEM_MB (MiB; default MIDA_GUARD_MEM_MB_DEFAULT, 0: no bound:
 * guard.h), so that a query whose rows hold more (many values of up to
 * 256 MiB each, a large group_concat) fails with a message naming the
 * bound instead of taking the machine's memory. Process-wide
 * (sqlite3_hard_heap_limit64): for a process that only reads, on its main
 * thread before it opens a store -- `mida query` and `mida serve` -- never
 * in a program that records (the public API's mida_query and Python's
 * mida.query run in the user's process). Returns the bound in bytes, 0
 * for none (also once SQLite is in use: the bound needs its count of its
 * memory, which can only be turned on before). */
int64_t mida__sink_bound_reader_memory(void);

/* MIDA_EUNSUPPORTED where the sink is not a store. */
int mida__sink_exec_schema(mida__sink *sink, const char *sql);

void mida__sink_close(mida__sink *sink);

/* Whether the store that sink reads was deleted or replaced at its URL
 * since the open (the moved method); 0 where the backend cannot tell.
 * On the thread that uses the sink. */
int mida__sink_moved(mida__sink *sink);

/* Sets the bounds of the sink's queries (guard.h); mida__sink_open sets
 * them from the environment (mida__guard_limits_default). */
void mida__sink_set_limits(mida__sink *sink, const mida__query_limits *lim);

/* Stops every query in flight in this process (each sink's cancel), which
 * then returns MIDA_ECLOSED ("cancelled"). Async-signal-safe: made for a
 * SIGINT handler. Returns how many queries it stopped. */
int mida__sink_cancel_queries(void);

/* The sink's last error message. */
const char *mida__sink_errmsg(const mida__sink *sink);

/* Copies into buf (len bytes) the sink's notice, what a put_batch that
 * succeeded left out (records the store refused, counted in its counter
 * refused), and clears it, so that the caller says it once. Returns 1 if
 * there was one, 0 (buf "") if not. */
int mida__sink_take_notice(mida__sink *sink, char *buf, size_t len);

/* Copies into buf (len bytes) the sink's query notice, what a query that
 * succeeded ran without (a bound of the guard that this role cannot
 * have), and clears it. Returns 1 if there was one and this process has
 * not had one yet (the query paths say it once: `mida query`,
 * mida_query(), `mida serve`'s log), else 0. */
int mida__sink_take_query_notice(mida__sink *sink, char *buf, size_t len);

/* Sets the sink's error message, printf-style; returns rc. */
int mida__sink_fail(mida__sink *sink, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The backends built in. */
extern const mida__sink_methods mida__sqlite_sink;

/* Does on the calling thread what the first opening of url would do on
 * the shipper's and that reads the environment: the loading of the module
 * of url's scheme (its libraries' constructors: OpenSSL's reads
 * OPENSSL_ia32cap) and the backend's process_init (SQLite's start reads
 * its temporary directory, libnats' its NATS_DEFAULT_* variables). Call
 * before starting a thread that opens stores inside someone else's
 * program (core/env.h). What fails here is said again by the opening
 * itself. Thread-safe. */
void mida__sink_process_init(const char *url);

/* Around a wait inside a backend call that holds no process-wide lock
 * (a sleep before trying a busy SQLite store again): the program may fork
 * meanwhile, where otherwise fork() waits for the call in flight (sink.c,
 * fork safety). Nothing outside a backend call; not nested. */
void mida__sink_blocking_begin(void);
void mida__sink_blocking_end(void);

/* Around a backend's call into its library from a thread of the
 * backend's own (SQLite's checkpointing thread, sqlite_checkpoint.h):
 * counted as a call in flight, which a fork waits for (sink.c, fork
 * safety), like the calls through the sink's methods. */
void mida__sink_backend_enter(void);
void mida__sink_backend_leave(void);
/* Optional backends (each defined only when its library was found, see
 * MIDA_HAVE_* in mida_config.h; sink.c lists those built in). */
extern const mida__sink_methods mida__postgres_sink;       /* postgres.c */
extern const mida__sink_methods mida__postgres_alias_sink; /* postgres:// */
extern const mida__sink_methods mida__redis_sink;          /* redis.c */
extern const mida__sink_methods mida__rediss_sink;         /* rediss:// */
extern const mida__sink_methods mida__nats_sink;           /* nats.c */
extern const mida__sink_methods mida__nats_tls_sink;       /* tls:// */
extern const mida__sink_methods mida__mqtt_sink;           /* mqtt.c */
extern const mida__sink_methods mida__mqtts_sink;          /* mqtts:// */

#endif /* MIDA_SINK_H */

/*
 * sink.c -- picks a sink backend by URL scheme and forwards calls to it.
 *
 * The shipper, `mida recover` and `mida ingest` hold a mida__sink and never
 * know which backend is behind it. SQLite is built in; the network
 * backends (postgres.c, redis.c, nats.c, mqtt.c) are loadable modules
 * (module.h), loaded the first time a URL names their scheme: adding one
 * adds a line to module.c's table and nothing here. A URL without "://" is
 * a path of an SQLite file, so that `MIDA_STORE=run.db` works;
 * file:///abs.db is one too.
 *
 * Every query passes here (the query guard, guard.h): the statement's text
 * is checked for refused functions before any backend sees it, the sink's
 * limits travel with it, and it is known while in flight so that
 * mida__sink_cancel_queries() can stop it.
 */
#include "sink/sink.h"

#include "sink/key_index.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/conninfo.h"
#include "core/env.h"
#include "core/errors.h"
#include "core/url.h"
#include "mida.h"
#include "sink/module.h"
#include "sink/redact_batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The schemes that sinks serve, as errors list them. */
#define KNOWN_SCHEMES                                                          \
  "sqlite://, postgresql:// (or postgres://), redis://, rediss://, "           \
  "nats://, tls:// (NATS), mqtt://, mqtts://"

/* ---- fork safety --------------------------------------------------------
 *
 * A process that forks while one of its threads is inside a backend (the
 * shipper in the middle of an SQLite transaction, say) hands its child the
 * locks that thread held -- SQLite's global mutexes, a client library's --
 * and the child deadlocks on its first store call. So every call into a
 * backend is counted, and fork() (pthread_atfork) waits until none is in
 * flight and keeps new ones out until it is done. A plain mutex and a count
 * rather than a read-write lock: a mutex may be unlocked in the child, a
 * read-write lock's owner is a thread id that the child does not have. A
 * fork from inside a backend call (from a query's row callback) would wait
 * for itself: don't.
 *
 * But the program's fork must not wait for the store either: a backend
 * call that waits -- for another program's write lock on an SQLite store
 * (up to 30 s), for a PostgreSQL server that hung -- would hold up every
 * fork of the program as long. A call that waits holding no process-wide
 * lock says so (mida__sink_blocking_begin, SQLite's busy waits) and a fork
 * goes on meanwhile; and a fork waits for the others at most FORK_WAIT_MS,
 * which any call that works rather than waits ends within. */
#define FORK_WAIT_MS 2000

static pthread_mutex_t fork_guard = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t backends_idle = PTHREAD_COND_INITIALIZER;
static unsigned backend_calls; /* in flight, under fork_guard */
static pthread_once_t fork_guard_once = PTHREAD_ONCE_INIT;
static _Thread_local unsigned backend_depth; /* this thread's calls in */
static _Thread_local unsigned blocked_depth; /* ... set aside while it waits */

static void fork_prepare(void) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until); /* the condition's clock */
  until.tv_sec += FORK_WAIT_MS / 1000;
  until.tv_nsec += (long)(FORK_WAIT_MS % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&fork_guard);
  while (backend_calls > 0)
    if (pthread_cond_timedwait(&backends_idle, &fork_guard, &until) ==
        ETIMEDOUT)
      break;
}

static void fork_after(void) {
  pthread_mutex_unlock(&fork_guard);
}

/* The child has one thread, the forking one, in no backend call: the
 * calls the fork did not wait for (FORK_WAIT_MS) are the parent's. */
static void fork_child(void) {
  backend_calls = 0;
  pthread_mutex_unlock(&fork_guard);
}

static void install_fork_guard(void) {
  pthread_atfork(fork_prepare, fork_after, fork_child);
}

static void backend_enter(void) {
  pthread_once(&fork_guard_once, install_fork_guard);
  pthread_mutex_lock(&fork_guard);
  backend_calls++;
  pthread_mutex_unlock(&fork_guard);
  backend_depth++;
}

static void backend_leave(void) {
  backend_depth--;
  pthread_mutex_lock(&fork_guard);
  if (--backend_calls == 0)
    pthread_cond_broadcast(&backends_idle);
  pthread_mutex_unlock(&fork_guard);
}

void mida__sink_backend_enter(void) {
  backend_enter();
}

void mida__sink_backend_leave(void) {
  backend_leave();
}

void mida__sink_blocking_begin(void) {
  if (backend_depth == 0 || blocked_depth != 0)
    return; /* not inside a counted call, or set aside already */
  blocked_depth = backend_depth;
  backend_depth = 0;
  pthread_mutex_lock(&fork_guard);
  backend_calls -= blocked_depth;
  if (backend_calls == 0)
    pthread_cond_broadcast(&backends_idle);
  pthread_mutex_unlock(&fork_guard);
}

void mida__sink_blocking_end(void) {
  if (blocked_depth == 0)
    return;
  /* A fork in progress holds fork_guard: the call goes on after it. */
  pthread_mutex_lock(&fork_guard);
  backend_calls += blocked_depth;
  pthread_mutex_unlock(&fork_guard);
  backend_depth = blocked_depth;
  blocked_depth = 0;
}

static int open_backend(const mida__sink_methods *m, const char *url, int flags,
                        mida__sink **out, char *err, size_t errlen) {
  /* A backend that answers no queries is a broker: reading from it is a
   * mistake of the reader, said here once for all brokers. */
  if ((flags & MIDA_SINK_READONLY) && m->query == NULL) {
    mida__errbuf_set(
        err, errlen,
        "this URL is a broker: it takes records but answers no queries; "
        "query the store that `mida ingest` writes");
    return MIDA_EUNSUPPORTED;
  }
  backend_enter();
  int rc = m->open(url, flags, out, err, errlen);
  backend_leave();
  if (rc == MIDA_OK && *out != NULL)
    mida__guard_limits_default(&(*out)->limits);
  /* The key indexes declared in the environment, made by the first writer
   * that opens the store (key_index.h). */
  char *declared = mida__env_dup("MIDA_INDEX");
  if (rc == MIDA_OK && !(flags & MIDA_SINK_READONLY) &&
      m->exec_schema != NULL && declared != NULL && declared[0] != '\0') {
    char why[512] = "";
    rc = mida__key_index_declared(*out, declared, why, sizeof why);
    if (rc != MIDA_OK) {
      mida__errbuf_set(err, errlen, "%s", why);
      mida__sink_close(*out);
      *out = NULL;
    }
  }
  mida__free(declared);
  return rc;
}

/* The backend that serves url, into *out: the SQLite sink for a bare
 * path, file:// and sqlite://, else the sink of the module of its scheme
 * (loaded once). Returns MIDA_OK, MIDA_EURL (unknown scheme) or the
 * module's error, with a message in err. */
static int backend_for(const char *url, const mida__sink_methods **out,
                       char *err, size_t errlen) {
  size_t n = mida__url_scheme_len(url);
  /* A libpq conninfo ("host=h password=pw") is no file to create either,
   * and is not shown: its password would be. */
  if (mida__conninfo_looks_like(url)) {
    mida__errbuf_set(err, errlen, "%s", MIDA_CONNINFO_REFUSED);
    return MIDA_EURL;
  }
  /* A network URL whose "//" or ':' was mistyped is no file to create:
   * said at once (a configuration error), its password masked. */
  size_t typo = 0;
  if (n == 0 && mida__url_mistyped(url, &typo) > 0 &&
      mida__module_for_scheme(url, typo) != NULL) {
    char shown[MIDA_URL_SHOWN];
    mida__errbuf_set(err, errlen,
                     "malformed store URL '%s': want %.*s://, then the host",
                     mida__url_redact(url, shown, sizeof shown), (int)typo,
                     url);
    return MIDA_EURL;
  }
  /* So is an SQLite URL whose "//" was mistyped ("sqlite:/x.db"): it
   * would make a directory "sqlite:" and a store in it, said nowhere. */
  if (n == 0 && mida__url_sqlite_mistyped(url, &typo)) {
    char shown[MIDA_URL_SHOWN];
    mida__errbuf_set(err, errlen,
                     "malformed store URL '%s': want %.*s://, then the path "
                     "(%.*s:///abs/x.db), or a bare path",
                     mida__url_redact(url, shown, sizeof shown), (int)typo, url,
                     (int)typo, url);
    return MIDA_EURL;
  }
  /* A bare path and file:// name an SQLite file as well. */
  if (n == 0 || mida__url_scheme_equal(url, n, "file") ||
      mida__url_scheme_equal(url, n, mida__sqlite_sink.scheme)) {
    *out = &mida__sqlite_sink;
    return MIDA_OK;
  }
  const char *name = mida__module_for_scheme(url, n);
  if (name != NULL) {
    const mida__module *mod = NULL;
    int rc = mida__module_load(name, &mod, err, errlen);
    if (rc != MIDA_OK)
      return rc;
    const mida__sink_methods *const *sinks =
        mida__module_symbol(mod, MIDA__MODULE_SYM_SINKS);
    for (size_t i = 0; sinks != NULL && sinks[i] != NULL; i++) {
      if (mida__url_scheme_equal(url, n, sinks[i]->scheme)) {
        *out = sinks[i];
        return MIDA_OK;
      }
    }
    mida__errbuf_set(err, errlen, "mida's %s module has no sink for %.*s://",
                     name, (int)n, url);
    return MIDA_EUNSUPPORTED;
  }
  char shown[MIDA_URL_SHOWN];
  mida__errbuf_set(err, errlen,
                   "unsupported store URL scheme '%.*s' in '%s'; mida knows: "
                   "%s, file://, or a bare file path",
                   (int)n, url, mida__url_redact(url, shown, sizeof shown),
                   KNOWN_SCHEMES);
  return MIDA_EURL;
}

int mida__sink_open(const char *url, int flags, mida__sink **out, char *err,
                    size_t errlen) {
  if (out == NULL)
    return MIDA_EINVAL;
  *out = NULL;
  mida__errbuf_set(err, errlen, "%s", "");
  if (url == NULL || url[0] == '\0') {
    mida__errbuf_set(err, errlen, "empty store URL");
    return MIDA_EURL;
  }
  const mida__sink_methods *m = NULL;
  int rc = backend_for(url, &m, err, errlen);
  return rc == MIDA_OK ? open_backend(m, url, flags, out, err, errlen) : rc;
}

int mida__sink_is_broker(const char *url) {
  const mida__sink_methods *m = NULL;
  char err[256];
  return url != NULL && url[0] != '\0' &&
         backend_for(url, &m, err, sizeof err) == MIDA_OK && m->query == NULL;
}

int mida__sink_check_url(const char *url, char *err, size_t errlen) {
  const mida__sink_methods *m = NULL;
  if (url == NULL || url[0] == '\0') {
    mida__errbuf_set(err, errlen, "empty store URL");
    return MIDA_EURL;
  }
  int rc = backend_for(url, &m, err, errlen);
  if (rc == MIDA_OK && m->check_url != NULL)
    rc = m->check_url(url, err, errlen);
  return rc == MIDA_EURL ? MIDA_EURL : MIDA_OK;
}

void mida__sink_process_init(const char *url) {
  const mida__sink_methods *m = NULL;
  char err[256];
  if (url != NULL && url[0] != '\0' &&
      backend_for(url, &m, err, sizeof err) == MIDA_OK &&
      m->process_init != NULL)
    m->process_init();
}

/* ---- secrets ------------------------------------------------------------
 * Unless MIDA_REDACT_USED=0, every batch is checked before it reaches a
 * backend, and a copy with its secrets hidden is written where it holds
 * any (sink/redact_batch.h): a member of `used` with a secret's name, a
 * URL's password or secret query value in any text a program chose. This
 * runs on the shipper's thread, never on the capture path; the journal,
 * private to its user (capture/spool_dir.h), holds the values until they
 * are shipped. */

static atomic_int redact_used = -1; /* -1: MIDA_REDACT_USED not read yet */

void mida__sink_redact_init(void) {
  if (atomic_load(&redact_used) >= 0)
    return;
  char *v = mida__env_dup("MIDA_REDACT_USED");
  atomic_store(&redact_used, v != NULL && strcmp(v, "0") == 0 ? 0 : 1);
  mida__free(v);
}

static int put_backend(mida__sink *sink, const mida__rec *recs, size_t n,
                       const mida__origin *origin) {
  backend_enter();
  int rc = sink->methods->put_batch(sink, recs, n, origin);
  backend_leave();
  return rc;
}

int mida__sink_put_batch(mida__sink *sink, const mida__rec *recs, size_t n,
                         const mida__origin *origin) {
  if (sink == NULL || (recs == NULL && n > 0))
    return MIDA_EINVAL;
  mida__sink_redact_init();
  size_t first = n;
  if (atomic_load_explicit(&redact_used, memory_order_relaxed) == 1)
    first = mida__redact_first(recs, n);
  if (first == n)
    return put_backend(sink, recs, n, origin);
  mida__redacted copy;
  int rc = mida__redact_batch(recs, n, first, &copy);
  if (rc != MIDA_OK)
    return mida__sink_fail(sink, rc,
                           "cannot redact the secrets of a batch: %s",
                           mida_strerror(rc));
  rc = put_backend(sink, copy.recs, n, origin);
  mida__redacted_free(&copy);
  return rc;
}

void mida__sink_defer(mida__sink *sink, int deferred) {
  if (sink != NULL)
    sink->deferred = deferred != 0;
}

/* Calls a deferred group's method of the sink (sync, settle), which a
 * backend without groups leaves NULL: nothing to do. */
static int group_call(mida__sink *sink, int (*method)(mida__sink *)) {
  if (method == NULL)
    return MIDA_OK;
  backend_enter();
  int rc = method(sink);
  backend_leave();
  return rc;
}

int mida__sink_sync(mida__sink *sink) {
  return sink == NULL ? MIDA_EINVAL : group_call(sink, sink->methods->sync);
}

int mida__sink_settle(mida__sink *sink) {
  return sink == NULL ? MIDA_EINVAL : group_call(sink, sink->methods->settle);
}

/* ---- queries in flight ----------------------------------------------------
 *
 * The sinks whose query method is running, so that a signal handler can
 * stop them: lock-free slots, since a handler may not take a lock. A query
 * that finds no free slot runs all the same, and cannot be cancelled. */
#define IN_FLIGHT_SLOTS 64
static _Atomic(mida__sink *) in_flight[IN_FLIGHT_SLOTS];

static int in_flight_add(mida__sink *sink) {
  for (int i = 0; i < IN_FLIGHT_SLOTS; i++) {
    mida__sink *none = NULL;
    if (atomic_compare_exchange_strong(&in_flight[i], &none, sink))
      return i;
  }
  return -1;
}

int mida__sink_cancel_queries(void) {
  int n = 0;
  for (int i = 0; i < IN_FLIGHT_SLOTS; i++) {
    mida__sink *sink = atomic_load(&in_flight[i]);
    if (sink != NULL && sink->methods->cancel != NULL) {
      sink->methods->cancel(sink);
      n++;
    }
  }
  return n;
}

void mida__sink_set_limits(mida__sink *sink, const mida__query_limits *lim) {
  if (sink != NULL && lim != NULL)
    sink->limits = *lim;
}

/* The caller's functions of a query, behind the one row function the
 * backends call: its call with values NULL (the columns) goes to columns,
 * the others to cells, else to row. */
typedef struct described {
  mida__columns_fn columns; /* or NULL */
  mida__row_fn row;         /* or NULL */
  mida__cells_fn cells;     /* or NULL; takes the rows before row */
  void *ctx;                /* their argument */
} described;

static int described_row(void *vctx, int ncols, const char *const *names,
                         const char *const *values, const size_t *lens) {
  const described *d = vctx;
  if (values == NULL)
    return d->columns != NULL ? d->columns(d->ctx, ncols, names) : 0;
  if (d->cells != NULL)
    return d->cells(d->ctx, ncols, names, values, lens);
  return d->row != NULL ? d->row(d->ctx, ncols, names, values) : 0;
}

/* The failure of a query past its open snapshot's time bound. */
static int snapshot_past_bound(mida__sink *sink) {
  return mida__sink_fail(sink, MIDA_ETIMEDOUT,
                         "the reads of one snapshot of the store ran past "
                         "its time limit of %lld ms (MIDA_QUERY_TIMEOUT_MS)",
                         (long long)sink->snapshot_bound_ms);
}

/* Runs the backend's query with the sink's limits, inside an open
 * snapshot within its time bound too (sink.h, mida__sink_snapshot_begin):
 * the statement's own limit, or what is left of the snapshot's if less. */
static int query_bounded(mida__sink *sink, const char *sql,
                         const char *const *params, int nparams,
                         const described *d) {
  if (!sink->snapshot || sink->snapshot_until_ms <= 0)
    return sink->methods->query(sink, sql, params, nparams, described_row,
                                (void *)d);
  int64_t left = sink->snapshot_until_ms - mida__monotonic_ms();
  mida__query_limits own = sink->limits;
  int shortened = own.timeout_ms <= 0 || left < own.timeout_ms;
  if (left <= 0)
    return snapshot_past_bound(sink);
  if (shortened)
    sink->limits.timeout_ms = left;
  int rc = sink->methods->query(sink, sql, params, nparams, described_row,
                                (void *)d);
  sink->limits.timeout_ms = own.timeout_ms;
  if (rc == MIDA_ETIMEDOUT && shortened)
    return snapshot_past_bound(sink);
  return rc;
}

/* Runs sql on the backend under the guard, its rows to d. */
static int query_with(mida__sink *sink, const char *sql,
                      const char *const *params, int nparams,
                      const described *d) {
  if (sink == NULL || sql == NULL || nparams < 0 ||
      (params == NULL && nparams > 0))
    return MIDA_EINVAL;
  if (sink->methods->query == NULL)
    return mida__sink_fail(sink, MIDA_EUNSUPPORTED,
                           "the %s sink cannot answer queries",
                           sink->methods->scheme);
  char why[160];
  if (mida__guard_denied_call(sql, why, sizeof why))
    return mida__sink_fail(sink, MIDA_EREADONLY, "%s: %s",
                           mida_strerror(MIDA_EREADONLY), why);
  backend_enter();
  int slot = in_flight_add(sink);
  int rc = query_bounded(sink, sql, params, nparams, d);
  if (slot >= 0)
    atomic_store(&in_flight[slot], NULL);
  backend_leave();
  return rc;
}

int mida__sink_query(mida__sink *sink, const char *sql,
                     const char *const *params, int nparams, mida__row_fn row,
                     void *ctx) {
  return mida__sink_query_described(sink, sql, params, nparams, NULL, row,
                                    ctx);
}

int mida__sink_query_described(mida__sink *sink, const char *sql,
                               const char *const *params, int nparams,
                               mida__columns_fn columns, mida__row_fn row,
                               void *ctx) {
  described d = {columns, row, NULL, ctx};
  return query_with(sink, sql, params, nparams, &d);
}

int mida__sink_query_typed(mida__sink *sink, const char *sql,
                           const char *const *params, const char *kinds,
                           int nparams, mida__columns_fn columns,
                           mida__row_fn row, void *ctx) {
  described d = {columns, row, NULL, ctx};
  sink->param_kinds = kinds;
  int rc = query_with(sink, sql, params, nparams, &d);
  sink->param_kinds = NULL;
  return rc;
}

int mida__sink_query_cells(mida__sink *sink, const char *sql,
                           const char *const *params, int nparams,
                           mida__columns_fn columns, mida__cells_fn cells,
                           void *ctx) {
  described d = {columns, NULL, cells, ctx};
  return query_with(sink, sql, params, nparams, &d);
}

int mida__sink_snapshot_begin(mida__sink *sink) {
  if (sink == NULL)
    return MIDA_EINVAL;
  if (sink->methods->snapshot == NULL)
    return mida__sink_fail(sink, MIDA_EUNSUPPORTED,
                           "the %s sink cannot answer queries",
                           sink->methods->scheme);
  if (sink->snapshot)
    return mida__sink_fail(sink, MIDA_EINVAL, "a snapshot read is open");
  backend_enter();
  int rc = sink->methods->snapshot(sink, 1);
  backend_leave();
  if (rc != MIDA_OK)
    return rc;
  sink->snapshot = 1;
  sink->snapshot_bound_ms = sink->limits.timeout_ms > 0
                                ? sink->limits.timeout_ms
                                : 0;
  sink->snapshot_until_ms = sink->snapshot_bound_ms > 0
                                ? mida__monotonic_ms() + sink->snapshot_bound_ms
                                : 0;
  return MIDA_OK;
}

void mida__sink_snapshot_end(mida__sink *sink) {
  if (sink == NULL || !sink->snapshot)
    return;
  backend_enter();
  (void)sink->methods->snapshot(sink, 0);
  backend_leave();
  sink->snapshot = 0;
  sink->snapshot_until_ms = 0;
  sink->snapshot_bound_ms = 0;
}

int mida__sink_exec_schema(mida__sink *sink, const char *sql) {
  if (sink == NULL || sql == NULL)
    return MIDA_EINVAL;
  if (sink->methods->exec_schema == NULL)
    return mida__sink_fail(sink, MIDA_EUNSUPPORTED,
                           "the %s sink is not a store",
                           sink->methods->scheme);
  backend_enter();
  int rc = sink->methods->exec_schema(sink, sql);
  backend_leave();
  return rc;
}

int mida__sink_moved(mida__sink *sink) {
  if (sink == NULL || sink->methods->moved == NULL)
    return 0;
  backend_enter();
  int moved = sink->methods->moved(sink);
  backend_leave();
  return moved;
}

void mida__sink_close(mida__sink *sink) {
  if (sink == NULL)
    return;
  backend_enter();
  sink->methods->close(sink);
  backend_leave();
}

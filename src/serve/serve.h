/*
 * serve.h -- `mida serve`: the read-only HTTP API and the web dashboard.
 *
 * The server sits on top of the read side, beside the CLI: it reads the
 * store only through read-only sinks (src/sink/sink.h, opened with
 * MIDA_SINK_READONLY | MIDA_SINK_NOCREATE), never through its own database
 * connection, and it has no endpoint that writes.
 *
 *   HTTP (libmicrohttpd, http.c)
 *     -> request.c: the raw request target parsed with a cap on every
 *        length (path decoded and checked, query parameters split)
 *     -> router.c: the route tables of the resource files, checked
 *        parameters, one handler
 *     -> a handler (workflows.c, tasks.c, lineage.c, metrics.c,
 *        telemetry.c, sql.c, stats.c, events.c, assets.c): one or more
 *        queries on a sink taken from the pool (pool.c), rows written as
 *        JSON with the writer of core/json.h into a capped buffer.
 *
 * Every file but http.c is plain C with no HTTP library, so that the
 * request parsing and routing can be fuzzed (fuzz/serve_fuzz.c) and unit
 * tested without a socket.
 */
#ifndef MIDA_SERVE_SERVE_H
#define MIDA_SERVE_SERVE_H

#include "core/buf.h"
#include "sink/sink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- limits on what a request may carry ------------------------------- */

#define MIDA_SERVE_MAX_TARGET 24576 /* path and query, bytes, as sent */
#define MIDA_SERVE_MAX_PATH 1024    /* the decoded path, bytes */
#define MIDA_SERVE_MAX_SEGMENTS 16  /* path segments */
#define MIDA_SERVE_MAX_PARAMS 32    /* query parameters */
#define MIDA_SERVE_MAX_NAME 64      /* a parameter's name, decoded, bytes */
#define MIDA_SERVE_MAX_VALUE 16384  /* a parameter's value, decoded, bytes */
#define MIDA_SERVE_MAX_CAPTURES 2   /* {x} parts of a route's path */
/* The largest response body a handler may build, bytes. */
#define MIDA_SERVE_MAX_BODY ((size_t)64 << 20)

/* ---- a parsed request ------------------------------------------------- */

typedef struct mida__req_param {
  const char *name;  /* decoded, NUL-terminated, in the request's arena */
  const char *value; /* decoded, NUL-terminated ("" for "name" alone) */
} mida__req_param;

typedef struct mida__req {
  char path[MIDA_SERVE_MAX_PATH + 1]; /* decoded path, "/api/tasks/x" */
  const char *segments[MIDA_SERVE_MAX_SEGMENTS]; /* decoded, in arena */
  int nsegments;                                 /* segments in path */
  mida__req_param params[MIDA_SERVE_MAX_PARAMS]; /* in request order */
  int nparams;                                   /* parameters held */
  const char *captures[MIDA_SERVE_MAX_CAPTURES]; /* set by the router */
  int ncaptures;                                 /* captures set */
  char *arena;      /* decoded names and values; freed with the request */
  size_t arena_len; /* bytes used in arena */
} mida__req;

/* Parses a raw request target ("/api/tasks?status=ERROR&limit=10") into
 * req: percent-decoding, '+' as space in the query, and these refusals,
 * each MIDA_EINVAL with a one-line reason in why (whylen bytes):
 * a target longer than MIDA_SERVE_MAX_TARGET, a path that is not absolute,
 * a bad %-escape, a decoded NUL or control character, a backslash, an
 * empty, "." or ".." segment, a '/' hidden in a segment as %2F, more than
 * MIDA_SERVE_MAX_SEGMENTS segments or MIDA_SERVE_MAX_PARAMS parameters, a
 * name or value over its cap, invalid UTF-8 anywhere. Returns MIDA_OK,
 * MIDA_EINVAL or MIDA_ENOMEM. On any return, free req with
 * mida__req_free(). */
int mida__req_parse(mida__req *req, const char *target, char *why,
                    size_t whylen);

void mida__req_free(mida__req *req);

/* Whether req's path matches pattern ("/api/tasks/{id}": "{x}" matches any
 * one segment); on a match sets req->captures and req->ncaptures. */
int mida__req_match(const char *pattern, mida__req *req);

/* The first value of parameter name, or NULL. */
const char *mida__req_get(const mida__req *req, const char *name);

/* The index of the next parameter named name at or after *from, or -1;
 * for repeated parameters: for (i = 0; (i = next(req, n, i)) >= 0; i++). */
int mida__req_next(const mida__req *req, const char *name, int from);

/* ---- a response ------------------------------------------------------- */

typedef struct mida__resp {
  int status;                       /* HTTP status, 200 by default */
  const char *content_type;         /* static string */
  const char *disposition;          /* Content-Disposition, static, or NULL */
  mida__buf body;                   /* the body a handler builds (capped) */
  const unsigned char *static_body; /* or a body that lives forever */
  size_t static_len;                /* its length */
  const char *etag;                 /* an embedded file's ETag, or NULL */
  int events;                       /* 1: answer with the event stream */
  int64_t events_from;              /* the event cursor the client asked for */
} mida__resp;

void mida__resp_init(mida__resp *resp);
void mida__resp_free(mida__resp *resp);

/* Makes resp an error: status and {"error": {"status": N, "message":
 * "..."}}. Returns MIDA_OK (the error is the response). */
int mida__resp_error(mida__resp *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the server ------------------------------------------------------- */

typedef struct mida__serve_events mida__serve_events; /* events.c */
typedef struct mida__answer_cache mida__answer_cache; /* answer_cache.c */

/* The read-only sinks the handlers share (pool.c). */
typedef struct mida__serve_pool {
  char *url;            /* the store URL (secret: never printed) */
  mida__sink **sinks;   /* opened lazily; NULL where not yet */
  int *busy;            /* 1 while a handler holds sinks[i] */
  int size;             /* entries at sinks */
  pthread_mutex_t lock; /* guards busy and sinks */
  pthread_cond_t freed; /* signalled when one is given back */
  int64_t generation;   /* times a store deleted or replaced at the URL
                           was found (guarded by lock): part of the
                           validator of every answer kept */
  atomic_int stopping;  /* 1 once the server stops: no sink is given,
                           and every query of the pool's sinks ends */
} mida__serve_pool;

/* What the server dropped or cut short of its event streams, and the
 * connections it refused at its limits, counted since it started
 * (drops.c): /api/stats shows them under "server", and
 * the server's last lines at exit name those that are not 0. The
 * server's store is opened read-only, so they are not kept there. */
typedef struct mida__serve_drops {
  atomic_llong streams_unread;  /* streams closed: their client read
                                   nothing for the idle timeout */
  atomic_llong streams_failed;  /* streams closed: the next event could
                                   not be written (out of memory) */
  atomic_llong streams_behind;  /* resets sent to a stream further behind
                                   than the messages kept */
  atomic_llong events_skipped;  /* messages those streams did not get */
  atomic_llong batches_reset;   /* polls whose changes were too many or
                                   too large for events: every stream got
                                   a reset instead */
  atomic_llong events_unmade;   /* messages lost: neither they nor a
                                   reset could be made (out of memory) */
  atomic_llong connections_refused; /* connections closed unserved: the
                                       limit in all (--max-clients) or
                                       from one address was reached */
} mida__serve_drops;

typedef struct mida__serve {
  mida__serve_pool pool;      /* the store */
  const char *store_kind;     /* "sqlite" or "postgresql" */
  mida__serve_events *events; /* the change poller, or NULL */
  mida__answer_cache *series; /* downsampled series kept, or NULL */
  mida__answer_cache *lists;  /* workflow lists kept, or NULL */
  int event_poll_ms;          /* how often the poller looks, ms */
  atomic_int sql_running;     /* /api/sql statements running now */
  mida__serve_drops drops;    /* what the server dropped or refused */
} mida__serve;

/* Appends "server": {...} with the counts of srv->drops (a JSON member,
 * without braces around it). MIDA_OK or the buffer's error. */
int mida__serve_drops_json(mida__serve *srv, mida__buf *b);

/* Writes one line naming the counts of srv->drops that are not 0 into out
 * (outlen bytes); "" when every one is 0. */
void mida__serve_drops_text(mida__serve *srv, char *out, size_t outlen);

/* The CLOCK_MONOTONIC time ms milliseconds from now, for the condition
 * variables of the pool and the event stream (both use that clock). */
void mida__serve_deadline(int ms, struct timespec *out);

/* Sets up a pool of at most size read-only sinks on url (copied). */
int mida__serve_pool_init(mida__serve_pool *pool, const char *url, int size);
void mida__serve_pool_free(mida__serve_pool *pool);

/* Takes a sink, opening it if needed; waits up to wait_ms for one to be
 * free. Returns MIDA_OK, MIDA_EBUSY (none free in time), MIDA_ECLOSED
 * (the server stops) or the open's error with its message in err. Give
 * it back with mida__serve_release(); failed says that the sink failed
 * and should be reopened. */
int mida__serve_acquire(mida__serve_pool *pool, int wait_ms, mida__sink **out,
                        char *err, size_t errlen);
void mida__serve_release(mida__serve_pool *pool, mida__sink *sink, int failed);

/* The server stops: from now on no sink is given, and the queries of the
 * pool's sinks end (MIDA_ECLOSED) within MIDA_GUARD_STOP_MS, those
 * running now at once. Thread-safe. */
void mida__serve_pool_stop(mida__serve_pool *pool);

/* The pool's generation: read after an acquire, it names the store that
 * the sink reads, so that an answer kept of one store (validated by its
 * change numbers) is not taken for an answer of the store put in its
 * place, whose change numbers start again. Thread-safe. */
int64_t mida__serve_generation(mida__serve_pool *pool);

/* ---- handlers and routes ---------------------------------------------- */

typedef int (*mida__serve_handler)(mida__serve *srv, const mida__req *req,
                                   mida__resp *resp);

/* One route: GET (and HEAD) of a path pattern whose "{x}" segments are
 * captured. params lists the query parameters the route accepts, separated
 * by spaces, a name ending in '*' for one that may be given more than once;
 * any other parameter, or one of the others given twice, is a 400. */
typedef struct mida__route {
  const char *pattern;         /* "/api/tasks/{id}" */
  mida__serve_handler handler; /* what answers it */
  const char *params;          /* "workflow status limit where*", or "" */
} mida__route;

/* The route table of each resource file; each ends with a zeroed entry. */
extern const mida__route mida__serve_routes_workflows[];
extern const mida__route mida__serve_routes_tasks[];
extern const mida__route mida__serve_routes_lineage[];
extern const mida__route mida__serve_routes_metrics[];
extern const mida__route mida__serve_routes_telemetry[];
extern const mida__route mida__serve_routes_sql[];
extern const mida__route mida__serve_routes_stats[];
extern const mida__route mida__serve_routes_counters[];
extern const mida__route mida__serve_routes_events[];
extern const mida__route mida__serve_routes_reports[];
extern const mida__route mida__serve_routes_assets[];

/* Finds the route of req's path and checks its parameters: sets
 * req->captures and returns the route, or NULL with resp made a 404 (no
 * such path) or a 400 (a parameter the route does not take). */
const mida__route *mida__serve_route(mida__req *req, mida__resp *resp);

/* Whether target names the page or one of its files ("/", "/assets/x"),
 * which hold no data and are served without the token. The path is read
 * as the router reads it, decoded: "/%61pi/tasks" is the API's. A target
 * that does not parse is not the page's either. */
int mida__serve_target_public(const char *target);

/* Parses, routes and runs one GET request into resp. The whole path of a
 * request but the socket: http.c calls it, and so do the fuzz target and
 * the unit tests. */
int mida__serve_handle(mida__serve *srv, const char *target, mida__resp *resp);

/* ---- what the handlers share (params.c, query.c) --------------------- */

/* Parameter getters: each returns 1 when the value is usable (or absent,
 * leaving *out as the default), 0 after making resp a 400 that names the
 * parameter. */
int mida__param_int(const mida__req *req, mida__resp *resp, const char *name,
                    long long min, long long max, long long *out);
int mida__param_choice(const mida__req *req, mida__resp *resp, const char *name,
                       const char *const *choices, int *out);
/* The same in any ASCII case, for a word whose case means nothing to the
 * user: status=finished is FINISHED, as `mida tasks --status finished`.
 * *out indexes choices, whose spelling is the one to bind. */
int mida__param_choice_any_case(const mida__req *req, mida__resp *resp,
                                const char *name, const char *const *choices,
                                int *out);
/* An id: 1 to 200 bytes of printable ASCII without spaces or quotes. */
int mida__param_id(const mida__req *req, mida__resp *resp, const char *name,
                   const char **out);
/* A text of 1 to max bytes: the request parser has refused control
 * characters and invalid UTF-8, and the text is bound as a query
 * parameter, never spliced into SQL (a data id: a URI or path as the
 * workflow gave it). */
int mida__param_text(const mida__req *req, mida__resp *resp, const char *name,
                     size_t max, const char **out);
/* Whether text is an acceptable id (as above). */
int mida__serve_valid_id(const char *text);

/* How a column of a result is written as JSON. */
enum {
  MIDA_COL_AUTO = 'a', /* a number when it looks like one, else a string */
  MIDA_COL_TEXT = 's', /* always a string (ids, names) */
  MIDA_COL_INT = 'i',  /* a number, or null */
  MIDA_COL_JSON = 'j', /* a JSON document stored as text, embedded as is */
};

/* What mida__serve_rows() is asked for and tells back. */
typedef struct mida__rows_info {
  size_t max_rows;    /* in: the most rows written */
  size_t nrows;       /* out: rows written */
  int more;           /* out: the query had more rows than max_rows */
  char last_key[256]; /* out: the first column of the last row written */
} mida__rows_info;

/* Runs sql on a sink from the pool and writes each row as a JSON object
 * (keys: the column names; kinds: one MIDA_COL_* letter per column) into
 * resp->body, separated by commas. On a store error makes resp a 503 or
 * 400 (resp->status tells) and returns MIDA_OK; MIDA_ENOMEM or
 * MIDA_ETOOBIG when the body cannot hold the rows. */
int mida__serve_rows(mida__serve *srv, mida__resp *resp, const char *sql,
                     const char *const *params, int nparams, const char *kinds,
                     mida__rows_info *info);

/* The same on a sink the caller already holds; returns the sink's code
 * and leaves resp's status alone. */
int mida__serve_rows_on(mida__sink *sink, mida__resp *resp, const char *sql,
                        const char *const *params, int nparams,
                        const char *kinds, mida__rows_info *info);

/* Writes {"items": [rows], "next": ID|null} for a keyset-paged list
 * query that asks for limit + 1 rows (list.h): next is the id of the last
 * row written when there are more. */
int mida__serve_page(mida__serve *srv, mida__resp *resp, const char *sql,
                     const char *const *params, int nparams, const char *kinds,
                     long long limit);

/* Writes the one row sql finds for id (?1) as an object, or makes resp a
 * 404 naming what. */
int mida__serve_one(mida__serve *srv, mida__resp *resp, const char *what,
                    const char *sql, const char *id, const char *kinds);

/* Whether sql, a cheap lookup of id (?1), finds a row: sets *found, and
 * makes resp a 404 naming what when it finds none. On a store error makes
 * resp a 503 or 400 and returns MIDA_OK (as mida__serve_rows does); the
 * caller goes on only when *found. */
int mida__serve_exists(mida__serve *srv, mida__resp *resp, const char *what,
                       const char *sql, const char *id, int *found);

/* The same on a sink the caller holds; returns the sink's code and leaves
 * resp alone on a store error. */
int mida__serve_exists_on(mida__sink *sink, mida__resp *resp,
                          const char *what, const char *sql, const char *id,
                          int *found);

/* Takes a sink from the pool for a handler, waiting up to 5 s for one:
 * returns it, or NULL after making resp the 503 of
 * mida__serve_unreadable() (none free, the store cannot be opened, the
 * server stops). Give it back with mida__serve_give(). */
mida__sink *mida__serve_take(mida__serve *srv, mida__resp *resp);

/* Gives back a sink of mida__serve_take() after its queries ended with
 * rc (the sink's code): dropped, to be opened anew, when the store failed
 * (MIDA_ESTORE). */
void mida__serve_give(mida__serve *srv, mida__sink *sink, int rc);

/* Makes resp the error of a failed query on sink (rc from the sink): 400
 * for a statement the store refused (read-only, bad SQL), 503 when the
 * store cannot be read (mida__serve_unreadable). */
int mida__serve_store_error(mida__resp *resp, mida__sink *sink, int rc);

/* Makes resp the 503 of a store that cannot be read (rc, and why: the
 * store's message). A client is told the kind of failure only
 * (mida_strerror): the store's message names its address, user and
 * database, which are the operator's to see, not every client's. It goes
 * to the server's log (stderr), once while it stays the same. */
int mida__serve_unreadable(mida__resp *resp, int rc, const char *why);

/* Reads the store's change horizon (schema.h: every change numbered below
 * it is committed). MIDA_OK, MIDA_ENOTFOUND on a store without change
 * numbers, or the sink's error. */
int mida__serve_horizon(mida__sink *sink, int64_t *horizon);

/* Appends one JSON value as the kind says (MIDA_COL_*). */
int mida__serve_json_cell(mida__buf *b, int kind, const char *text);

/* ---- events (events.c) ----------------------------------------------- */

/* Starts the poller thread that turns store changes into events. */
int mida__serve_events_start(mida__serve *srv, char *err, size_t errlen);
void mida__serve_events_stop(mida__serve *srv);
/* Frees the poller's state; after the HTTP side has stopped. */
void mida__serve_events_free(mida__serve *srv);

/* The most bytes of one event message, its SSE framing included. */
#define MIDA_SERVE_EVENT_MAX ((size_t)8 << 20)
/* The least cap of the buffer given to mida__serve_events_next: a message
 * and the reset line that may come before it. */
#define MIDA_SERVE_EVENT_BUF (MIDA_SERVE_EVENT_MAX + 256)

/* Writes the next events after *cursor into out (SSE framing), waiting up
 * to wait_ms for one; advances *cursor past those written: as many as
 * fit in out's cap, at least one. Returns 1 when something was written
 * (an event or a keep-alive comment), 0 when the server stops, -1 when
 * nothing could be written (out of memory: the stream should end; the
 * caller counts it). A stream further behind than the messages kept
 * gets a reset, counted in srv->drops. */
int mida__serve_events_next(mida__serve *srv, int64_t *cursor, int wait_ms,
                            mida__buf *out);

/* ---- the embedded files ---------------------------------------------- */

typedef struct mida__asset {
  const char *name;          /* "index.html", "assets/app.js" */
  const char *content_type;  /* "text/html; charset=utf-8" */
  const unsigned char *data; /* the bytes */
  size_t len;                /* their number */
  const char *etag;          /* "\"<hash of the bytes>\"", quoted */
} mida__asset;

/* Generated at build time from web/dist and src/serve/openapi.json
 * (scripts/embed_assets.py); ends with a zeroed entry. */
extern const mida__asset mida__serve_assets[];

const mida__asset *mida__serve_asset(const char *name);

#endif /* MIDA_SERVE_SERVE_H */

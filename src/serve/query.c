/*
 * query.c -- what the handlers share: checked parameters, queries on a
 * pooled sink, rows written as JSON.
 *
 * Rows come from mida__sink_query() as text with their column names (the
 * same interface as the CLI's verbs); each handler says, per column, how a
 * cell becomes JSON (MIDA_COL_*), and the cells are written with the one
 * JSON writer of core/json.h. The JSON documents a store keeps as text
 * (used, generated, custom, metadata, telemetry, samples) are embedded as
 * JSON after a check, so that a malformed one is sent as a string and
 * never breaks the response.
 */
#include "serve/serve.h"

#include "core/json.h"
#include "mida.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a handler waits for a free store connection. */
#define ACQUIRE_WAIT_MS 5000

/* ---- cells and rows --------------------------------------------------- */

int mida__serve_json_cell(mida__buf *b, int kind, const char *text) {
  if (text == NULL)
    return mida__buf_adds(b, "null");
  switch (kind) {
  case MIDA_COL_TEXT:
    return mida__json_add_string(b, text, strlen(text));
  case MIDA_COL_INT:
    if (mida__json_is_number(text))
      return mida__buf_adds(b, text);
    return mida__json_add_string(b, text, strlen(text));
  case MIDA_COL_JSON: {
    size_t n = strlen(text);
    if (mida__json_check(text, n, false, NULL) == MIDA_OK)
      return mida__buf_add(b, text, n);
    return mida__json_add_string(b, text, n);
  }
  default:
    return mida__json_add_cell(b, text);
  }
}

typedef struct rows_ctx {
  mida__buf *out;        /* where the objects go */
  const char *kinds;     /* one MIDA_COL_* per column */
  mida__rows_info *info; /* the caller's limits and counts */
  int rc;                /* MIDA_OK or the writer's error */
} rows_ctx;

static int rows_row(void *vctx, int ncols, const char *const *names,
                    const char *const *values) {
  rows_ctx *c = vctx;
  mida__rows_info *info = c->info;
  if (info->nrows >= info->max_rows) {
    info->more = 1;
    return 1;
  }
  size_t klen = strlen(c->kinds);
  mida__buf *b = c->out;
  int rc = mida__buf_adds(b, info->nrows > 0 ? ",\n{" : "{");
  for (int i = 0; i < ncols && rc == MIDA_OK; i++) {
    if (i > 0)
      rc = mida__buf_add(b, ", ", 2);
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, names[i], strlen(names[i]));
    if (rc == MIDA_OK)
      rc = mida__buf_add(b, ": ", 2);
    if (rc == MIDA_OK)
      rc = mida__serve_json_cell(b, (size_t)i < klen ? c->kinds[i] : 'a',
                                 values[i]);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "}", 1);
  if (rc != MIDA_OK) {
    c->rc = rc;
    return 1;
  }
  info->nrows++;
  snprintf(info->last_key, sizeof info->last_key, "%s",
           ncols > 0 && values[0] != NULL ? values[0] : "");
  return 0;
}

/* The last store message written to the log, so that a store that stays
 * down is logged once, not at every request. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char logged[512];

int mida__serve_unreadable(mida__resp *resp, int rc, const char *why) {
  /* A query the server's stop ended, or a sink it refused: nothing for
   * the log, which says that the server stops. */
  if (rc == MIDA_ECLOSED)
    return mida__resp_error(resp, 503, "the server is stopping");
  if (why == NULL || why[0] == '\0')
    why = mida_strerror(rc);
  pthread_mutex_lock(&log_lock);
  if (strncmp(logged, why, sizeof logged - 1) != 0) {
    snprintf(logged, sizeof logged, "%s", why);
    fprintf(stderr, "mida serve: the store cannot be read: %s\n", why);
  }
  pthread_mutex_unlock(&log_lock);
  return mida__resp_error(resp, 503,
                          "the store cannot be read: %s (the server's log "
                          "says why)",
                          mida_strerror(rc));
}

int mida__serve_store_error(mida__resp *resp, mida__sink *sink, int rc) {
  const char *msg = sink != NULL ? mida__sink_errmsg(sink) : "";
  if (msg == NULL || msg[0] == '\0')
    msg = mida_strerror(rc);
  if (rc == MIDA_EREADONLY || rc == MIDA_EINVAL)
    return mida__resp_error(resp, 400, "%s", msg);
  return mida__serve_unreadable(resp, rc, msg);
}

int mida__serve_rows_on(mida__sink *sink, mida__resp *resp, const char *sql,
                        const char *const *params, int nparams,
                        const char *kinds, mida__rows_info *info) {
  info->nrows = 0;
  info->more = 0;
  info->last_key[0] = '\0';
  rows_ctx c = {&resp->body, kinds, info, MIDA_OK};
  int rc = mida__sink_query(sink, sql, params, nparams, rows_row, &c);
  if (c.rc != MIDA_OK)
    return c.rc;
  return rc;
}

/* ---- a query on a pooled sink ------------------------------------ */

mida__sink *mida__serve_take(mida__serve *srv, mida__resp *resp) {
  mida__sink *sink = NULL;
  char err[512];
  int rc =
      mida__serve_acquire(&srv->pool, ACQUIRE_WAIT_MS, &sink, err, sizeof err);
  if (rc != MIDA_OK) {
    mida__serve_unreadable(resp, rc, err);
    return NULL;
  }
  return sink;
}

void mida__serve_give(mida__serve *srv, mida__sink *sink, int rc) {
  mida__serve_release(&srv->pool, sink, rc == MIDA_ESTORE);
}

/* What runs on a pooled sink: returns the sink's code, or the response's
 * own error (out of memory, a body too big). */
typedef int (*pooled_fn)(mida__sink *sink, mida__resp *resp, void *ctx);

/* Acquires a sink from the pool (waiting up to ACQUIRE_WAIT_MS), runs fn
 * on it and gives it back, dropped when the store failed (MIDA_ESTORE).
 * No sink, or a store error, makes resp a 503 or 400 and returns MIDA_OK;
 * MIDA_ENOMEM and MIDA_ETOOBIG go back to the caller, resp left alone. */
static int with_pooled_sink(mida__serve *srv, mida__resp *resp,
                            pooled_fn fn, void *ctx) {
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  int rc = fn(sink, resp, ctx);
  if (rc != MIDA_OK && rc != MIDA_ENOMEM && rc != MIDA_ETOOBIG)
    mida__serve_store_error(resp, sink, rc);
  mida__serve_give(srv, sink, rc);
  return rc == MIDA_ENOMEM || rc == MIDA_ETOOBIG ? rc : MIDA_OK;
}

typedef struct rows_args {
  const char *sql;
  const char *const *params;
  int nparams;
  const char *kinds;
  mida__rows_info *info;
} rows_args;

static int rows_pooled(mida__sink *sink, mida__resp *resp, void *ctx) {
  rows_args *a = ctx;
  return mida__serve_rows_on(sink, resp, a->sql, a->params, a->nparams,
                             a->kinds, a->info);
}

int mida__serve_rows(mida__serve *srv, mida__resp *resp, const char *sql,
                     const char *const *params, int nparams, const char *kinds,
                     mida__rows_info *info) {
  rows_args a = {sql, params, nparams, kinds, info};
  return with_pooled_sink(srv, resp, rows_pooled, &a);
}

/* ---- pages and single objects ------------------------------------- */

/* Writes {"items": [...], "next": ID|null} for a list query. */
int mida__serve_page(mida__serve *srv, mida__resp *resp, const char *sql,
                     const char *const *params, int nparams, const char *kinds,
                     long long limit) {
  int rc = mida__buf_adds(&resp->body, "{\"items\": [\n");
  mida__rows_info info = {.max_rows = (size_t)limit};
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp, sql, params, nparams, kinds, &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  rc = mida__buf_adds(&resp->body, "],\n\"next\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(&resp->body, MIDA_COL_TEXT,
                               info.more ? info.last_key : NULL);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "}\n");
  return rc;
}

/* Writes one object found by id with sql (?1 the id), or a 404. */
int mida__serve_one(mida__serve *srv, mida__resp *resp, const char *what,
                    const char *sql, const char *id, const char *kinds) {
  const char *params[1] = {id};
  mida__rows_info info = {.max_rows = 1};
  int rc = mida__serve_rows(srv, resp, sql, params, 1, kinds, &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  if (info.nrows == 0)
    return mida__resp_error(resp, 404, "no %s with id '%.200s'", what, id);
  return mida__buf_adds(&resp->body, "\n");
}

int mida__serve_exists_on(mida__sink *sink, mida__resp *resp,
                          const char *what, const char *sql, const char *id,
                          int *found) {
  mida__resp tmp;
  mida__resp_init(&tmp);
  const char *params[1] = {id};
  mida__rows_info info = {.max_rows = 1};
  int rc = mida__serve_rows_on(sink, &tmp, sql, params, 1, "i", &info);
  mida__resp_free(&tmp);
  *found = rc == MIDA_OK && info.nrows > 0;
  if (rc == MIDA_OK && !*found)
    mida__resp_error(resp, 404, "no %s with id '%.200s'", what, id);
  return rc;
}

typedef struct exists_args {
  const char *what, *sql, *id;
  int *found;
} exists_args;

static int exists_pooled(mida__sink *sink, mida__resp *resp, void *ctx) {
  exists_args *a = ctx;
  int rc = mida__serve_exists_on(sink, resp, a->what, a->sql, a->id,
                                 a->found);
  /* The lookup writes into a body of its own, never resp's: a
   * MIDA_ETOOBIG is the store's (SQLite's "a BLOB is too large"), a
   * store error like any other. */
  if (rc == MIDA_ETOOBIG) {
    mida__serve_store_error(resp, sink, rc);
    rc = MIDA_OK;
  }
  return rc;
}

int mida__serve_exists(mida__serve *srv, mida__resp *resp, const char *what,
                       const char *sql, const char *id, int *found) {
  *found = 0;
  exists_args a = {what, sql, id, found};
  return with_pooled_sink(srv, resp, exists_pooled, &a);
}

/* ---- the store's change horizon -------------------------------------- */

int mida__serve_horizon(mida__sink *sink, int64_t *horizon) {
  mida__resp tmp;
  mida__resp_init(&tmp);
  mida__rows_info info = {.max_rows = 1};
  int rc =
      mida__serve_rows_on(sink, &tmp, "SELECT horizon FROM mida_change_horizon",
                          NULL, 0, "i", &info);
  const char *p = strstr(mida__buf_str(&tmp.body), ": ");
  if (rc == MIDA_OK && (info.nrows != 1 || p == NULL || p[2] == 'n'))
    rc = MIDA_ENOTFOUND;
  else if (rc == MIDA_OK)
    *horizon = strtoll(p + 2, NULL, 10);
  mida__resp_free(&tmp);
  return rc;
}

/*
 * sql.c -- GET /api/sql?q=SELECT...: the SQL console's read-only query,
 * as JSON ({"columns", "rows", "truncated"}) or as a CSV download
 * (format=csv).
 *
 * The statement goes through the same read-only path as `mida query`: the
 * sink refuses any statement that would write, more than one statement,
 * and (the query guard of the security work) what a read-only statement
 * could still do to the server. The answer is bounded by a row limit
 * (1,000 by default, at most 100,000) and the response body's cap.
 *
 * A statement may hold its store connection up to the guard's time limit
 * (30 s), so the statements running at once may hold at most half of the
 * pool's connections: the rest of the API and the live updates go on
 * answering however many the console (or a script) sends.
 */
#include "serve/serve.h"

#include "core/csv.h"
#include "core/json.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

#define SQL_ROWS_DEFAULT 1000
#define SQL_ROWS_MAX 100000

static const char *const formats[] = {"json", "csv", NULL};

typedef struct sql_ctx {
  mida__buf *out;  /* the body */
  int csv;         /* 1: CSV, 0: JSON */
  size_t max_rows; /* the most rows */
  size_t nrows;    /* rows written */
  int truncated;   /* more rows than max_rows */
  int rc;          /* MIDA_OK or the writer's error */
} sql_ctx;

static int header(sql_ctx *c, int ncols, const char *const *names) {
  int rc = c->csv ? MIDA_OK : mida__buf_adds(c->out, "{\"columns\": [");
  for (int i = 0; i < ncols && rc == MIDA_OK; i++) {
    if (c->csv)
      rc = mida__buf_adds(c->out, i ? "," : "");
    else
      rc = mida__buf_adds(c->out, i ? ", " : "");
    if (rc == MIDA_OK)
      rc = c->csv ? mida__csv_add_field(c->out, names[i])
                  : mida__json_add_string(c->out, names[i], strlen(names[i]));
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(c->out, c->csv ? "\r\n" : "],\n\"rows\": [\n");
  return rc;
}

/* The result's columns, before its rows (even when it has none). */
static int sql_columns(void *vctx, int ncols, const char *const *names) {
  sql_ctx *c = vctx;
  c->rc = header(c, ncols, names);
  return c->rc != MIDA_OK;
}

static int sql_row(void *vctx, int ncols, const char *const *names,
                   const char *const *values, const size_t *lens) {
  sql_ctx *c = vctx;
  (void)names; /* written by sql_columns */
  int rc = MIDA_OK;
  if (c->nrows >= c->max_rows) {
    c->truncated = 1;
    return 1;
  }
  if (rc == MIDA_OK && !c->csv)
    rc = mida__buf_adds(c->out, c->nrows ? ",\n[" : "[");
  for (int i = 0; i < ncols && rc == MIDA_OK; i++) {
    if (i > 0)
      rc = mida__buf_adds(c->out, c->csv ? "," : ", ");
    if (rc == MIDA_OK)
      rc = c->csv ? mida__csv_add_field_n(c->out, values[i], lens[i])
                  : mida__json_add_cell_n(c->out, values[i], lens[i]);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(c->out, c->csv ? "\r\n" : "]");
  if (rc != MIDA_OK) {
    c->rc = rc;
    return 1;
  }
  c->nrows++;
  return 0;
}

/* Whether sink still answers: after a statement failed on the store's
 * side (MIDA_ESTORE is both a bad statement and a store gone away), a
 * trivial query tells the statement's fault (a 400) from the store's. */
static int store_answers(mida__sink *sink) {
  mida__resp tmp;
  mida__resp_init(&tmp);
  mida__rows_info info = {.max_rows = 1};
  int rc = mida__serve_rows_on(sink, &tmp, "SELECT 1", NULL, 0, "i", &info);
  mida__resp_free(&tmp);
  return rc == MIDA_OK;
}

static int get_sql(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  long long limit = SQL_ROWS_DEFAULT;
  int format = 0;
  if (!mida__param_int(req, resp, "limit", 1, SQL_ROWS_MAX, &limit) ||
      !mida__param_choice(req, resp, "format", formats, &format))
    return MIDA_OK;
  const char *q = mida__req_get(req, "q");
  if (q == NULL || q[0] == '\0')
    return mida__resp_error(resp, 400, "parameter 'q' (the SQL) is required");
  int most = srv->pool.size > 1 ? srv->pool.size / 2 : 1;
  if (atomic_fetch_add(&srv->sql_running, 1) >= most) {
    atomic_fetch_sub(&srv->sql_running, 1);
    return mida__resp_error(resp, 503,
                            "%d SQL statements are running, as many as may "
                            "run at once (half of the store connections, "
                            "--connections): try again when one ends",
                            most);
  }
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL) {
    atomic_fetch_sub(&srv->sql_running, 1);
    return MIDA_OK;
  }
  sql_ctx c = {&resp->body, format == 1, (size_t)limit, 0, 0, MIDA_OK};
  int rc = mida__sink_query_cells(sink, q, NULL, 0, sql_columns, sql_row, &c);
  atomic_fetch_sub(&srv->sql_running, 1);
  if (c.rc != MIDA_OK) {
    mida__serve_give(srv, sink, MIDA_OK);
    return c.rc;
  }
  if (rc == MIDA_ESTORE || rc == MIDA_ECLOSED) {
    /* The message, the store's, is kept for the 400 or the log; a query
     * the server's stop ended is its 503. */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mida__sink_errmsg(sink));
    int gone = rc == MIDA_ECLOSED || !store_answers(sink);
    if (gone)
      mida__serve_unreadable(resp, rc, msg);
    else
      mida__resp_error(resp, 400, "%s", msg[0] ? msg : mida_strerror(rc));
    mida__serve_give(srv, sink, gone ? MIDA_ESTORE : MIDA_OK);
    return MIDA_OK;
  }
  if (rc != MIDA_OK) {
    /* The statement's own fault (refused, past its time limit): a 400
     * with the reason. */
    const char *msg = mida__sink_errmsg(sink);
    mida__resp_error(resp, 400, "%s",
                     msg != NULL && msg[0] ? msg : mida_strerror(rc));
    mida__serve_give(srv, sink, MIDA_OK);
    return MIDA_OK;
  }
  mida__serve_give(srv, sink, MIDA_OK);
  if (c.csv) {
    resp->content_type = "text/csv; charset=utf-8";
    resp->disposition = "attachment; filename=\"mida-query.csv\"";
    return MIDA_OK;
  }
  rc = mida__buf_printf(&resp->body, "],\n\"truncated\": %s}\n",
                        c.truncated ? "true" : "false");
  return rc;
}

const mida__route mida__serve_routes_sql[] = {
    {"/api/sql", get_sql, "q limit format"},
    {NULL, NULL, NULL},
};

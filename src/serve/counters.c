/*
 * counters.c -- GET /api/counters: the stored counters (table counter:
 * what was dropped, skipped, retried, refused...) as totals over the
 * processes that kept them, over all hosts and per host; the dashboard's
 * Counters view.
 *
 * A process keeps each counter as a running total and writes it now and
 * then; the store keeps, per host, pid and name, the process's largest
 * value (`refused`: the sum of what it wrote; docs/reliability.md). A row
 * is one process's total, so a counter's total is the sum of its rows:
 * per host, the sum over that host's processes; overall, over every
 * process of every host. The table has a row per process and name (it
 * grows with the processes that wrote to the store, not with the tasks),
 * and both sums read it whole, as /api/stats' counters do.
 */
#include "serve/serve.h"

#include "mida.h"

/* The most rows of each list: counters overall, counters per host. */
#define COUNTER_ROWS_MAX 10000

static const char totals_sql[] =
    "SELECT name, sum(value) AS total, count(*) AS processes,"
    " count(DISTINCT host) AS hosts FROM counter GROUP BY name"
    " ORDER BY name";
static const char by_host_sql[] =
    "SELECT host, name, sum(value) AS total, count(*) AS processes"
    " FROM counter GROUP BY host, name ORDER BY host, name";

/* Writes "<key>": [rows of sql], "<key>_truncated": bool on sink. */
static int add_list(mida__sink *sink, mida__resp *resp, const char *key,
                    const char *sql, const char *kinds, int *qrc) {
  mida__rows_info info = {.max_rows = COUNTER_ROWS_MAX};
  int rc = mida__buf_printf(&resp->body, "\"%s\": [\n", key);
  if (rc == MIDA_OK)
    *qrc = mida__serve_rows_on(sink, resp, sql, NULL, 0, kinds, &info);
  if (rc == MIDA_OK && *qrc == MIDA_OK)
    rc = mida__buf_printf(&resp->body, "],\n\"%s_truncated\": %s", key,
                          info.more ? "true" : "false");
  return rc;
}

static int get_counters(mida__serve *srv, const mida__req *req,
                        mida__resp *resp) {
  (void)req;
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  int qrc = MIDA_OK;
  int rc = mida__buf_adds(&resp->body, "{");
  if (rc == MIDA_OK)
    rc = add_list(sink, resp, "counters", totals_sql, "siii", &qrc);
  if (rc == MIDA_OK && qrc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, ",\n");
  if (rc == MIDA_OK && qrc == MIDA_OK)
    rc = add_list(sink, resp, "by_host", by_host_sql, "ssii", &qrc);
  if (rc == MIDA_OK && qrc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "}\n");
  if (qrc == MIDA_ENOMEM || qrc == MIDA_ETOOBIG)
    rc = qrc; /* the body cannot hold the rows */
  else if (rc == MIDA_OK && qrc != MIDA_OK)
    rc = mida__serve_store_error(resp, sink, qrc);
  mida__serve_give(srv, sink, qrc);
  return rc;
}

const mida__route mida__serve_routes_counters[] = {
    {"/api/counters", get_counters, ""},
    {NULL, NULL, NULL},
};

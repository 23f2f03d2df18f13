/*
 * stats.c -- what the store holds: GET /api/health (the store answers, its
 * kind and schema version; the page's first request, whose failure it
 * shows as a page of its own) and GET /api/stats (rows per table, tasks per
 * status, and the counters of what was dropped or skipped, read at a
 * bounded cost: src/sink/counts.h; and what this server dropped of its
 * event streams, drops.c).
 */
#include "serve/serve.h"

#include "core/alloc.h"
#include "core/json.h"
#include "mida.h"
#include "sink/counts.h"

#include <stdio.h>
#include <string.h>

static int get_health(mida__serve *srv, const mida__req *req,
                      mida__resp *resp) {
  (void)req;
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  int rc = mida__buf_printf(&resp->body,
                            "{\"status\": \"ok\", \"version\": \"%s\","
                            " \"store\": \"%s\", \"schema\": ",
                            mida_version(), srv->store_kind);
  mida__rows_info info = {.max_rows = 1};
  int qrc = MIDA_OK;
  if (rc == MIDA_OK)
    qrc = mida__serve_rows_on(sink, resp,
                              "SELECT (SELECT CAST(value AS INTEGER) FROM"
                              " mida_meta WHERE key = 'schema_version') AS"
                              " version, (SELECT count(*) FROM (SELECT id"
                              " FROM task LIMIT 1) x) AS has_tasks",
                              NULL, 0, "ii", &info);
  if (qrc == MIDA_ENOMEM || qrc == MIDA_ETOOBIG)
    rc = qrc;
  else if (qrc != MIDA_OK) {
    char why[640];
    snprintf(why, sizeof why,
             "%s (not a mida store: is it the store your workflows write?)",
             mida__sink_errmsg(sink));
    mida__serve_unreadable(resp, qrc, why);
  }
  else if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "}\n");
  mida__serve_give(srv, sink, qrc);
  return rc;
}

/* Appends a list of named counts as [{"<key>": name, "<value>": n}]. */
static int add_items(mida__buf *b, const mida__counts *c,
                     const mida__count_item *items, size_t n, const char *key,
                     const char *value) {
  int rc = mida__buf_adds(b, "[");
  for (size_t i = 0; rc == MIDA_OK && i < n; i++) {
    const char *name = mida__count_name(c, &items[i]);
    rc = mida__buf_printf(b, "%s{\"%s\": ", i > 0 ? ",\n" : "", key);
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, name, strlen(name));
    if (rc == MIDA_OK)
      rc = mida__buf_printf(b, ", \"%s\": %lld}", value,
                            (long long)items[i].value);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "]");
  return rc;
}

/* GET /api/stats: the counts of src/sink/counts.h, read at a cost that
 * does not grow with the store (the page may ask every second), or every
 * row counted with exact=true. */
static int get_stats(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  const char *exact = mida__req_get(req, "exact");
  if (exact != NULL && strcmp(exact, "true") != 0 &&
      strcmp(exact, "false") != 0)
    return mida__resp_error(resp, 400, "parameter 'exact': true or false");
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  int rc = MIDA_OK;
  mida__counts *c = mida__calloc(1, sizeof *c);
  int all = exact != NULL && strcmp(exact, "true") == 0;
  int qrc = c != NULL ? mida__counts_read(sink, all, c) : MIDA_ENOMEM;
  if (qrc == MIDA_ENOMEM) {
    rc = qrc;
  } else if (qrc != MIDA_OK) {
    mida__serve_store_error(resp, sink, qrc);
  } else {
    mida__buf *b = &resp->body;
    rc = mida__buf_adds(b, "{\"rows\": {");
    for (int t = 0; rc == MIDA_OK && t < MIDA_COUNT_TABLES; t++)
      rc = mida__buf_printf(b, "%s\"%s\": %lld", t > 0 ? ", " : "",
                            mida__count_table(t), (long long)c->rows[t]);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "},\n\"tasks_by_status\": ");
    if (rc == MIDA_OK)
      rc = add_items(b, c, c->status, c->nstatus, "status", "tasks");
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ",\n\"counters\": ");
    if (rc == MIDA_OK)
      rc = add_items(b, c, c->counter, c->ncounter, "name", "value");
    if (rc == MIDA_OK)
      rc = mida__buf_printf(
          b, ",\n\"exact\": %s, \"at_least\": ", c->exact ? "true" : "false");
    if (rc == MIDA_OK)
      rc = mida__counts_at_least_json(c, b);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ",\n");
    if (rc == MIDA_OK)
      rc = mida__serve_drops_json(srv, b);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}\n");
  }
  if (c != NULL)
    mida__counts_free(c);
  mida__free(c);
  mida__serve_give(srv, sink, qrc);
  return rc;
}

const mida__route mida__serve_routes_stats[] = {
    {"/api/health", get_health, ""},
    {"/api/stats", get_stats, "exact"},
    {NULL, NULL, NULL},
};

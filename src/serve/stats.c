/*
 * stats.c -- what the store holds: GET /api/health (the store answers, its
 * kind and schema version; the page's first request, whose failure it
 * shows as a page of its own) and GET /api/stats (rows per table, tasks per
 * status, and the counters of what was dropped or skipped).
 */
#include "serve/serve.h"

#include "mida.h"

#include <string.h>

static int get_health(mida__serve *srv, const mida__req *req,
                      mida__resp *resp) {
  (void)req;
  mida__sink *sink = NULL;
  char err[512];
  int rc = mida__serve_acquire(&srv->pool, 5000, &sink, err, sizeof err);
  if (rc != MIDA_OK)
    return mida__resp_error(resp, 503, "the store cannot be opened: %s", err);
  rc = mida__buf_printf(&resp->body,
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
  else if (qrc != MIDA_OK)
    mida__resp_error(resp, 503,
                     "the store cannot be read as a mida store (is it the "
                     "store your workflows write?): %s",
                     mida__sink_errmsg(sink));
  else if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "}\n");
  mida__serve_release(&srv->pool, sink, qrc == MIDA_ESTORE);
  return rc;
}

static int get_stats(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  (void)req;
  mida__rows_info info = {.max_rows = 1};
  int rc = mida__buf_adds(&resp->body, "{\"rows\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp,
                          "SELECT (SELECT count(*) FROM campaign) AS campaign,"
                          " (SELECT count(*) FROM workflow) AS workflow,"
                          " (SELECT count(*) FROM task) AS task,"
                          " (SELECT count(*) FROM data) AS data,"
                          " (SELECT count(*) FROM task_data) AS task_data,"
                          " (SELECT count(*) FROM task_dep) AS task_dep,"
                          " (SELECT count(*) FROM metric) AS metric,"
                          " (SELECT count(*) FROM telemetry) AS telemetry",
                          NULL, 0, "iiiiiiii", &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  rc = mida__buf_adds(&resp->body, ",\n\"tasks_by_status\": [");
  info.max_rows = 100;
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp,
                          "SELECT status, count(*) AS tasks FROM task"
                          " GROUP BY status ORDER BY status",
                          NULL, 0, "si", &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  rc = mida__buf_adds(&resp->body, "],\n\"counters\": [");
  info.max_rows = 1000;
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp,
                          "SELECT name, sum(value) AS value FROM counter"
                          " GROUP BY name ORDER BY name",
                          NULL, 0, "si", &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  return mida__buf_adds(&resp->body, "]}\n");
}

const mida__route mida__serve_routes_stats[] = {
    {"/api/health", get_health, ""},
    {"/api/stats", get_stats, ""},
    {NULL, NULL, NULL},
};

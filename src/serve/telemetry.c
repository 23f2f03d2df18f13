/*
 * telemetry.c -- sampled telemetry: GET /api/telemetry (by host and
 * process, or by task: the samples taken while it ran, of its own process
 * and of its host) and GET /api/telemetry/sources (which hosts and
 * processes have samples). A task the store does not know is a 404.
 *
 * Samples are read on the primary key (host, pid, ts) or, for a time range
 * across hosts, on telemetry_by_time; the sample itself is the JSON object
 * the sampler wrote (src/telemetry), sent as it is. A task's samples cut at
 * `limit` come with their number ("total"), so that the page can say how
 * many it leaves out: counted on the same key range, only when cut, and
 * bounded by the task's run.
 */
#include "serve/serve.h"

#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLES_DEFAULT 5000
#define SAMPLES_MAX 50000

/* The samples of task ?1: its process's and its host's, while it ran. */
#define TASK_SAMPLES                                                           \
  " FROM task t JOIN telemetry s ON s.host = t.host"                           \
  " AND (s.pid = t.pid OR s.pid = 0) AND s.ts BETWEEN t.started"               \
  " AND coalesce(t.ended, 9223372036854775807) WHERE t.id = ?1"

/* Sets *total to the number of task's samples. On a store error resp
 * becomes its 503 or 400 (as mida__serve_rows makes it). */
static int count_task_samples(mida__serve *srv, mida__resp *resp,
                              const char *task, long long *total) {
  const char *params[1] = {task};
  mida__resp scratch;
  mida__resp_init(&scratch);
  mida__rows_info info = {.max_rows = 1};
  int rc = mida__serve_rows(srv, &scratch, "SELECT count(*)" TASK_SAMPLES,
                            params, 1, "i", &info);
  if (rc == MIDA_OK && scratch.status != 200) {
    mida__buf error = resp->body;
    resp->body = scratch.body;
    resp->status = scratch.status;
    scratch.body = error;
  }
  *total = strtoll(info.last_key, NULL, 10);
  mida__resp_free(&scratch);
  return rc;
}

static int get_telemetry(mida__serve *srv, const mida__req *req,
                         mida__resp *resp) {
  long long limit = SAMPLES_DEFAULT, pid = -1, since = -1, until = -1;
  const char *task = NULL;
  if (!mida__param_int(req, resp, "limit", 1, SAMPLES_MAX, &limit) ||
      !mida__param_int(req, resp, "pid", 0, INT64_MAX, &pid) ||
      !mida__param_int(req, resp, "since", 0, INT64_MAX, &since) ||
      !mida__param_int(req, resp, "until", 0, INT64_MAX, &until) ||
      !mida__param_id(req, resp, "task", &task))
    return MIDA_OK;
  const char *host = mida__req_get(req, "host");
  if (host != NULL && (host[0] == '\0' || strlen(host) > 255))
    return mida__resp_error(resp, 400, "parameter 'host': 1 to 255 bytes");
  const char *params[8];
  int np = 0;
  char sql[1024];
  char limit_text[24];
  snprintf(limit_text, sizeof limit_text, "%lld", limit + 1);
  if (task != NULL) {
    /* A task the store does not know is a 404, as in /api/metrics. */
    int found = 0;
    int rc = mida__serve_exists(srv, resp, "task",
                                "SELECT 1 FROM task WHERE id = ?1", task,
                                &found);
    if (rc != MIDA_OK || !found)
      return rc;
    /* Its process's samples and its host's, while it ran. */
    params[np++] = task;
    params[np++] = limit_text;
    snprintf(sql, sizeof sql,
             "SELECT s.host, s.pid, s.ts, s.task_id,"
             " CASE WHEN s.pid = 0 THEN 'host' ELSE 'process' END AS scope,"
             " s.sample" TASK_SAMPLES " ORDER BY s.ts LIMIT ?2");
  } else {
    char where[400] = "";
    size_t n = 0;
#define WHERE_ADD(cond, value)                                                 \
  do {                                                                         \
    params[np++] = (value);                                                    \
    n += (size_t)snprintf(where + n, sizeof where - n, "%s " cond,             \
                          n ? " AND" : " WHERE", np);                          \
  } while (0)
    if (host != NULL)
      WHERE_ADD("s.host = ?%d", host);
    if (pid >= 0)
      WHERE_ADD("s.pid = ?%d", mida__req_get(req, "pid"));
    if (since >= 0)
      WHERE_ADD("s.ts >= ?%d", mida__req_get(req, "since"));
    if (until >= 0)
      WHERE_ADD("s.ts < ?%d", mida__req_get(req, "until"));
#undef WHERE_ADD
    params[np++] = limit_text;
    snprintf(sql, sizeof sql,
             "SELECT s.host, s.pid, s.ts, s.task_id,"
             " CASE WHEN s.pid = 0 THEN 'host' ELSE 'process' END AS scope,"
             " s.sample FROM telemetry s%s ORDER BY s.ts LIMIT ?%d",
             where, np);
  }
  mida__rows_info info = {.max_rows = (size_t)limit};
  int rc = mida__buf_adds(&resp->body, "{\"samples\": [\n");
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp, sql, params, np, "siissj", &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  rc = mida__buf_printf(&resp->body, "],\n\"truncated\": %s",
                        info.more ? "true" : "false");
  if (rc == MIDA_OK && task != NULL && info.more) {
    long long total = 0;
    rc = count_task_samples(srv, resp, task, &total);
    if (rc != MIDA_OK || resp->status != 200)
      return rc;
    rc = mida__buf_printf(&resp->body, ",\n\"total\": %lld", total);
  }
  return rc == MIDA_OK ? mida__buf_adds(&resp->body, "}\n") : rc;
}

static int get_sources(mida__serve *srv, const mida__req *req,
                       mida__resp *resp) {
  (void)req;
  mida__rows_info info = {.max_rows = 10000};
  int rc = mida__buf_adds(&resp->body, "{\"sources\": [\n");
  if (rc == MIDA_OK)
    rc = mida__serve_rows(
        srv, resp,
        "SELECT host, pid, count(*) AS samples, min(ts) AS first,"
        " max(ts) AS last FROM telemetry GROUP BY host, pid"
        " ORDER BY host, pid",
        NULL, 0, "siiii", &info);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  return mida__buf_printf(&resp->body, "],\n\"truncated\": %s}\n",
                          info.more ? "true" : "false");
}

const mida__route mida__serve_routes_telemetry[] = {
    {"/api/telemetry", get_telemetry, "host pid task since until limit"},
    {"/api/telemetry/sources", get_sources, ""},
    {NULL, NULL, NULL},
};

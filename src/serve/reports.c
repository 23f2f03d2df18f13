/*
 * reports.c -- what the read side's reports say, over HTTP: GET /api/diff
 * (two runs compared, `mida diff`: parameters, environment, inputs by
 * digest, outputs, metrics; the compare view's table) and GET /api/prov
 * (W3C PROV-JSON, `mida export prov`, of the store, a workflow or a
 * campaign). Both are src/report's, written into the response through a
 * report sink on the body; the body's cap bounds them. Each reads one
 * snapshot of the store (sink.h, mida__sink_snapshot_begin), as `mida
 * export` does, ended before the sink goes back to the pool.
 */
#include "serve/serve.h"

#include "mida.h"
#include "report/report.h"

#include <string.h>

/* The longest run /api/diff takes: an id, or a task's source key (an
 * MLflow run id; a Dask key, "('inc-3f2a', 0)", spaces and quotes
 * included). */
#define DIFF_RUN_MAX 4096

static int body_write(void *ctx, const char *data, size_t len) {
  return mida__buf_add(ctx, data, len);
}

/* Runs one report on a pooled sink; maps its failures to 4xx/5xx. */
typedef int (*report_fn)(mida__sink *sink, const mida__req *req,
                         mida__report_io *io);

static int run_report(mida__serve *srv, const mida__req *req, mida__resp *resp,
                      report_fn fn) {
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  mida__report_io io;
  memset(&io, 0, sizeof io);
  io.write = body_write;
  io.ctx = &resp->body;
  int rc = mida__sink_snapshot_begin(sink);
  if (rc == MIDA_OK)
    rc = fn(sink, req, &io);
  mida__sink_snapshot_end(sink);
  if (rc == MIDA_ENOMEM || rc == MIDA_ETOOBIG) {
    mida__serve_give(srv, sink, MIDA_OK);
    return rc;
  }
  const char *why = io.errmsg[0] ? io.errmsg : mida__sink_errmsg(sink);
  if (rc == MIDA_ENOTFOUND || rc == MIDA_EINVAL)
    mida__resp_error(resp, rc == MIDA_ENOTFOUND ? 404 : 400, "%s",
                     why[0] ? why : mida_strerror(rc));
  else if (rc != MIDA_OK)
    mida__serve_store_error(resp, sink, rc);
  mida__serve_give(srv, sink, rc);
  return MIDA_OK;
}

static int diff_report(mida__sink *sink, const mida__req *req,
                       mida__report_io *io) {
  uint64_t differences = 0;
  return mida__report_diff(sink, mida__req_get(req, "a"),
                           mida__req_get(req, "b"), 1, io, &differences);
}

static int get_diff(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  const char *a = NULL, *b = NULL;
  if (!mida__param_text(req, resp, "a", DIFF_RUN_MAX, &a) ||
      !mida__param_text(req, resp, "b", DIFF_RUN_MAX, &b))
    return MIDA_OK;
  if (a == NULL || b == NULL)
    return mida__resp_error(resp, 400,
                            "parameters 'a' and 'b' (two task "
                            "or workflow ids) are required");
  return run_report(srv, req, resp, diff_report);
}

static int prov_report(mida__sink *sink, const mida__req *req,
                       mida__report_io *io) {
  mida__report_scope scope;
  memset(&scope, 0, sizeof scope);
  scope.workflow = mida__req_get(req, "workflow");
  scope.campaign = mida__req_get(req, "campaign");
  int rc = MIDA_OK;
  if (scope.workflow != NULL || scope.campaign != NULL)
    rc = mida__report_scope_check(sink, &scope, io);
  mida__report_stats stats;
  memset(&stats, 0, sizeof stats);
  if (rc == MIDA_OK)
    rc = mida__report_prov(sink, &scope, io, &stats);
  return rc;
}

static int get_prov(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  const char *workflow = NULL, *campaign = NULL;
  if (!mida__param_id(req, resp, "workflow", &workflow) ||
      !mida__param_id(req, resp, "campaign", &campaign))
    return MIDA_OK;
  return run_report(srv, req, resp, prov_report);
}

const mida__route mida__serve_routes_reports[] = {
    {"/api/diff", get_diff, "a b"},
    {"/api/prov", get_prov, "workflow campaign"},
    {NULL, NULL, NULL},
};

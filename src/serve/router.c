/*
 * router.c -- from a request target to one handler, and the response
 * helpers every handler uses.
 *
 * Each resource file (workflows.c, tasks.c, ...) exports a small table of
 * routes; this file looks a request's path up in those tables in order,
 * captures the "{x}" segments, and refuses any query parameter that the
 * route does not list, or that it takes once and the request repeats, so
 * that a misspelt or doubled filter is a 400 and never a silently ignored
 * one. mida__serve_handle() is the whole request path but
 * the socket (http.c holds that).
 */
#include "serve/serve.h"

#include "mida.h"

#include <string.h>

static const mida__route *const route_tables[] = {
    mida__serve_routes_workflows, mida__serve_routes_tasks,
    mida__serve_routes_lineage,   mida__serve_routes_metrics,
    mida__serve_routes_telemetry, mida__serve_routes_sql,
    mida__serve_routes_stats,     mida__serve_routes_counters,
    mida__serve_routes_events,    mida__serve_routes_reports,
    mida__serve_routes_assets,
};

#define TABLE_COUNT (sizeof route_tables / sizeof route_tables[0])

/* How a route takes a parameter (mida__route.params). */
enum { NOT_TAKEN, TAKEN_ONCE, REPEATABLE };

/* How list, space-separated words each ending in '*' when the parameter
 * may be given more than once, takes name. */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p != '\0';) {
    while (*p == ' ')
      p++;
    const char *end = p;
    while (*end != '\0' && *end != ' ')
      end++;
    int many = end > p && end[-1] == '*';
    if ((size_t)(end - p) - (size_t)many == n && memcmp(p, name, n) == 0)
      return many ? REPEATABLE : TAKEN_ONCE;
    p = end;
  }
  return NOT_TAKEN;
}

/* Checks req's parameters against route r: each must be one r takes, and
 * one that takes a single value must come once (the first of two was
 * taken, silently). Makes resp a 400 and returns 0 when one is not. */
static int params_fit(const mida__route *r, const mida__req *req,
                      mida__resp *resp) {
  for (int i = 0; i < req->nparams; i++) {
    const char *name = req->params[i].name;
    int how = listed(r->params, name);
    if (how == NOT_TAKEN) {
      mida__resp_error(resp, 400, "unknown query parameter '%.64s' for %.200s",
                       name, r->pattern);
      return 0;
    }
    if (how == TAKEN_ONCE && mida__req_next(req, name, i + 1) >= 0) {
      mida__resp_error(resp, 400,
                       "query parameter '%.64s' is given more than once; "
                       "%.200s takes one value",
                       name, r->pattern);
      return 0;
    }
  }
  return 1;
}

const mida__route *mida__serve_route(mida__req *req, mida__resp *resp) {
  for (size_t t = 0; t < TABLE_COUNT; t++) {
    for (const mida__route *r = route_tables[t]; r->pattern != NULL; r++) {
      if (!mida__req_match(r->pattern, req))
        continue;
      return params_fit(r, req, resp) ? r : NULL;
    }
  }
  mida__resp_error(resp, 404, "no such resource: %.200s", req->path);
  return NULL;
}

int mida__serve_target_public(const char *target) {
  mida__req req;
  char why[200];
  int public = 0;
  if (mida__req_parse(&req, target, why, sizeof why) == MIDA_OK)
    public = req.nsegments == 0 ||
             (req.nsegments == 2 && strcmp(req.segments[0], "assets") == 0);
  mida__req_free(&req);
  return public;
}

int mida__serve_handle(mida__serve *srv, const char *target, mida__resp *resp) {
  mida__req req;
  char why[200];
  int rc = mida__req_parse(&req, target, why, sizeof why);
  if (rc == MIDA_ENOMEM) {
    mida__resp_error(resp, 503, "out of memory");
  } else if (rc != MIDA_OK) {
    mida__resp_error(resp, 400, "bad request: %s", why);
  } else {
    const mida__route *route = mida__serve_route(&req, resp);
    if (route != NULL) {
      rc = route->handler(srv, &req, resp);
      if (rc == MIDA_ENOMEM || rc == MIDA_ETOOBIG)
        mida__resp_error(resp, rc == MIDA_ENOMEM ? 503 : 413, "%s",
                         rc == MIDA_ENOMEM
                             ? "out of memory"
                             : "the answer is too large; ask for less");
      else if (rc != MIDA_OK)
        mida__resp_error(resp, 500, "%s", mida_strerror(rc));
    }
  }
  mida__req_free(&req);
  return MIDA_OK;
}

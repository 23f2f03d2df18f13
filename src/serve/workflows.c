/*
 * workflows.c -- campaigns and workflows: GET /api/campaigns,
 * /api/campaigns/{id}, /api/workflows, /api/workflows/{id} and its
 * graph (a 404 for a workflow the store does not know).
 *
 * A workflow comes with its live task counts by status, read from the
 * index task_by_workflow(workflow_id, status) one status at a time, so
 * that the overview's counts cost a few index range scans per workflow on
 * the page, whatever the store's size.
 */
#include "report/workflow_status.h"
#include "serve/answer_cache.h"
#include "serve/list.h"
#include "serve/serve.h"
#include "sink/merge.h"

#include "mida.h"

#include <stdio.h>
#include <string.h>

#define WORKFLOW_LIMIT_MAX 1000
#define WORKFLOW_LIMIT_DEFAULT 100

/* A workflow's columns, then its task counts (w is the workflow); its
 * status as workflow_status.h derives it. */
#define WORKFLOW_COLUMNS                                                       \
  "w.id, w.campaign_id, w.parent_id, w.name, w.source, w.\"user\","            \
  " w.host, w.pid, w.started, w.ended, " MIDA_WORKFLOW_STATUS_SQL            \
  " AS status, w.metadata"
#define WORKFLOW_KINDS "sssssssiiisj"
#define COUNT_OF_STATUS(s)                                                     \
  "(SELECT count(*) FROM task t WHERE t.workflow_id = w.id AND t.status = '" s \
  "')"
/* Laid out by hand: clang-format packs the juxtaposed strings past 80
 * columns. */
/* clang-format off */
#define WORKFLOW_COUNTS                                                        \
  ", " COUNT_OF_STATUS("SUBMITTED") " AS submitted_tasks, "                    \
  COUNT_OF_STATUS("RUNNING") " AS running_tasks, "                             \
  COUNT_OF_STATUS("FINISHED") " AS finished_tasks, "                           \
  COUNT_OF_STATUS("ERROR") " AS error_tasks, "                                 \
  COUNT_OF_STATUS("CANCELLED") " AS cancelled_tasks,"                          \
  " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id) AS tasks"
/* clang-format on */
#define COUNT_KINDS "iiiiii"

/* The status filter's values: every status a store holds (merge.h). */
static const char *const *const statuses = mida__status_names;

static const mida__list_sort workflow_sorts[] = {
    {"id", "w.id", "id"},
    {"started", "coalesce(w.started, 0)", "coalesce(started, 0)"},
    {"ended", "coalesce(w.ended, 0)", "coalesce(ended, 0)"},
    {"name", "coalesce(w.name, '')", "coalesce(name, '')"},
    {NULL, NULL, NULL},
};

/* The store's generation and horizon as the validator of a cached list,
 * or NULL. */
static const char *horizon_text(mida__serve *srv, char *buf, size_t len) {
  mida__sink *sink = NULL;
  char err[512];
  if (srv->lists == NULL ||
      mida__serve_acquire(&srv->pool, 5000, &sink, err, sizeof err) != MIDA_OK)
    return NULL;
  int64_t generation = mida__serve_generation(&srv->pool);
  int64_t h = 0;
  int rc = mida__serve_horizon(sink, &h);
  mida__serve_release(&srv->pool, sink, rc == MIDA_ESTORE);
  if (rc != MIDA_OK)
    return NULL;
  snprintf(buf, len, "%lld.%lld", (long long)generation, (long long)h);
  return buf;
}

/* A page of the workflow list, kept while the store has not changed: its
 * task counts read an index entry per task of every workflow listed. */
static int cached_page(mida__serve *srv, const mida__req *req, mida__resp *resp,
                       const char *sql, const char *const *params, int np,
                       const char *kinds, long long limit) {
  char hbuf[48];
  const char *horizon = horizon_text(srv, hbuf, sizeof hbuf);
  mida__buf key;
  mida__buf_init(&key, MIDA_SERVE_MAX_TARGET + 1024);
  int rc = mida__buf_adds(&key, req->path);
  for (int i = 0; i < req->nparams && rc == MIDA_OK; i++)
    rc = mida__buf_printf(&key, "\x1f%s=%s", req->params[i].name,
                          req->params[i].value);
  if (rc == MIDA_OK && horizon != NULL &&
      mida__answer_cache_get(srv->lists, key.ptr, horizon, &resp->body)) {
    mida__buf_free(&key);
    return MIDA_OK;
  }
  size_t start = resp->body.len;
  rc = mida__serve_page(srv, resp, sql, params, np, kinds, limit);
  if (rc == MIDA_OK && resp->status == 200 && horizon != NULL &&
      key.ptr != NULL)
    mida__answer_cache_put(srv->lists, key.ptr, horizon, resp->body.ptr + start,
                           resp->body.len - start);
  mida__buf_free(&key);
  return rc;
}

static int list_workflows(mida__serve *srv, const mida__req *req,
                          mida__resp *resp) {
  long long limit = WORKFLOW_LIMIT_DEFAULT;
  int status = -1;
  const char *campaign = NULL, *after = NULL, *parent = NULL;
  if (!mida__param_int(req, resp, "limit", 1, WORKFLOW_LIMIT_MAX, &limit) ||
      !mida__param_choice_any_case(req, resp, "status", statuses,
                                    &status) ||
      !mida__param_id(req, resp, "campaign", &campaign) ||
      !mida__param_id(req, resp, "parent", &parent) ||
      !mida__param_id(req, resp, "after", &after))
    return MIDA_OK;
  const mida__list_sort *sort = &workflow_sorts[0];
  int desc = 1;
  const char *sort_text = mida__req_get(req, "sort");
  if (sort_text != NULL &&
      !mida__list_pick(workflow_sorts, sort_text, &sort, &desc))
    return mida__resp_error(resp, 400,
                            "parameter 'sort' must be id, started, ended or "
                            "name, with '-' for descending");
  const char *source = mida__req_get(req, "source");
  const char *name = mida__req_get(req, "name");

  const char *params[8];
  int np = 0;
  mida__buf where;
  mida__buf_init(&where, 4096);
  int rc = MIDA_OK;
#define ADD_FILTER(cond, value)                                                \
  do {                                                                         \
    params[np++] = (value);                                                    \
    rc = mida__buf_printf(&where, "%s " cond, where.len ? " AND" : " WHERE",   \
                          np);                                                 \
  } while (0)
  if (campaign != NULL && rc == MIDA_OK)
    ADD_FILTER("w.campaign_id = ?%d", campaign);
  if (parent != NULL && rc == MIDA_OK)
    ADD_FILTER("w.parent_id = ?%d", parent);
  /* A workflow without a status reads UNKNOWN, which UNKNOWN finds too;
   * but for an MLflow experiment with no run, which has none to read
   * ("no run yet"). */
  if (status >= 0 && rc == MIDA_OK &&
      strcmp(statuses[status], "UNKNOWN") == 0)
    ADD_FILTER("coalesce(" MIDA_WORKFLOW_STATUS_SQL ", CASE WHEN w.source ="
               " 'mlflow' THEN NULL ELSE 'UNKNOWN' END) = ?%d",
               statuses[status]);
  else if (status >= 0 && rc == MIDA_OK)
    ADD_FILTER(MIDA_WORKFLOW_STATUS_SQL " = ?%d", statuses[status]);
  if (source != NULL && rc == MIDA_OK)
    ADD_FILTER("w.source = ?%d", source);
  if (name != NULL && rc == MIDA_OK)
    ADD_FILTER("w.name = ?%d", name);
#undef ADD_FILTER
  mida__buf sql;
  mida__buf_init(&sql, 16384);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        &sql, "SELECT " WORKFLOW_COLUMNS WORKFLOW_COUNTS " FROM workflow w%s",
        mida__buf_str(&where));
  if (after != NULL)
    params[np++] = after;
  if (rc == MIDA_OK)
    rc = mida__list_sql(&sql, sort, desc, "w", "workflow", after != NULL,
                        mida__buf_str(&where), np, limit);
  int known = 1;
  if (rc == MIDA_OK && after != NULL)
    rc = mida__list_after_known(srv, resp, "workflow", after, &known);
  if (rc == MIDA_OK && known)
    rc = cached_page(srv, req, resp, mida__buf_str(&sql), params, np,
                     WORKFLOW_KINDS COUNT_KINDS, limit);
  mida__buf_free(&where);
  mida__buf_free(&sql);
  return rc;
}

static int get_workflow(mida__serve *srv, const mida__req *req,
                        mida__resp *resp) {
  const char *id = req->captures[0];
  if (!mida__serve_valid_id(id))
    return mida__resp_error(resp, 400, "not a workflow id");
  return mida__serve_one(srv, resp, "workflow",
                         "SELECT " WORKFLOW_COLUMNS WORKFLOW_COUNTS
                         " FROM workflow w WHERE w.id = ?1",
                         id, WORKFLOW_KINDS COUNT_KINDS);
}

#define CAMPAIGN_COLUMNS                                                       \
  "c.id, c.name, c.created, c.metadata,"                                       \
  " (SELECT count(*) FROM workflow w WHERE w.campaign_id = c.id)"              \
  " AS workflows"
#define CAMPAIGN_KINDS "ssiji"

static int list_campaigns(mida__serve *srv, const mida__req *req,
                          mida__resp *resp) {
  long long limit = WORKFLOW_LIMIT_DEFAULT;
  const char *after = NULL;
  if (!mida__param_int(req, resp, "limit", 1, WORKFLOW_LIMIT_MAX, &limit) ||
      !mida__param_id(req, resp, "after", &after))
    return MIDA_OK;
  static const mida__list_sort by_id = {"id", "c.id", "id"};
  mida__buf sql;
  mida__buf_init(&sql, 4096);
  int rc = mida__buf_adds(&sql, "SELECT " CAMPAIGN_COLUMNS " FROM campaign c");
  const char *params[1] = {after};
  if (rc == MIDA_OK)
    rc = mida__list_sql(&sql, &by_id, 1, "c", "campaign", after != NULL, "", 1,
                        limit);
  int known = 1;
  if (rc == MIDA_OK && after != NULL)
    rc = mida__list_after_known(srv, resp, "campaign", after, &known);
  if (rc == MIDA_OK && known)
    rc = mida__serve_page(srv, resp, mida__buf_str(&sql), params,
                          after != NULL ? 1 : 0, CAMPAIGN_KINDS, limit);
  mida__buf_free(&sql);
  return rc;
}

static int get_campaign(mida__serve *srv, const mida__req *req,
                        mida__resp *resp) {
  const char *id = req->captures[0];
  if (!mida__serve_valid_id(id))
    return mida__resp_error(resp, 400, "not a campaign id");
  return mida__serve_one(srv, resp, "campaign",
                         "SELECT " CAMPAIGN_COLUMNS " FROM campaign c"
                         " WHERE c.id = ?1",
                         id, CAMPAIGN_KINDS);
}

/* A workflow's task graph: its tasks (the first max_nodes by start) and
 * the edges among them: dependencies (task_dep), parents (a process and
 * its children), and data that one task generated and another used. */
static const char graph_nodes_sql[] =
    "SELECT t.id, t.parent_id, t.activity, t.status, t.submitted, t.started,"
    " t.ended, t.host, t.pid, t.worker FROM task t WHERE t.workflow_id = ?1"
    " ORDER BY coalesce(t.started, t.submitted, 0), t.id LIMIT ?2";
static const char graph_edges_sql[] =
    "SELECT dp.upstream_id AS \"from\", dp.task_id AS \"to\", 'dep' AS kind"
    " FROM task_dep dp JOIN task t ON t.id = dp.task_id"
    " WHERE t.workflow_id = ?1"
    " UNION ALL SELECT t.parent_id, t.id, 'parent' FROM task t"
    " WHERE t.workflow_id = ?1 AND t.parent_id IS NOT NULL"
    " UNION ALL SELECT g.task_id, u.task_id, 'data' FROM task_data g"
    " JOIN task_data u ON u.data_id = g.data_id AND u.role = 'used'"
    " JOIN task tg ON tg.id = g.task_id JOIN task tu ON tu.id = u.task_id"
    " WHERE g.role = 'generated' AND tg.workflow_id = ?1"
    " AND tu.workflow_id = ?1 LIMIT ?2";

/* A workflow is there when its row is, or a task names it (its tasks may
 * come before its own record): a key lookup and an index probe. */
static const char workflow_exists_sql[] =
    "SELECT 1 FROM workflow WHERE id = ?1"
    " UNION ALL SELECT 1 FROM task WHERE workflow_id = ?1 LIMIT 1";

static int get_graph(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  const char *id = req->captures[0];
  long long max_nodes = 5000;
  if (!mida__serve_valid_id(id))
    return mida__resp_error(resp, 400, "not a workflow id");
  if (!mida__param_int(req, resp, "max_nodes", 1, 20000, &max_nodes))
    return MIDA_OK;
  int found = 0;
  int rc = mida__serve_exists(srv, resp, "workflow", workflow_exists_sql, id,
                              &found);
  if (rc != MIDA_OK || !found)
    return rc;
  char limit[24], edge_limit[24];
  snprintf(limit, sizeof limit, "%lld", max_nodes + 1);
  snprintf(edge_limit, sizeof edge_limit, "%lld", 8 * max_nodes + 1);
  const char *params[2] = {id, limit};
  mida__rows_info nodes = {.max_rows = (size_t)max_nodes};
  rc = mida__buf_adds(&resp->body, "{\"nodes\": [\n");
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp, graph_nodes_sql, params, 2, "ssssiiisis",
                          &nodes);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  rc = mida__buf_adds(&resp->body, "],\n\"edges\": [\n");
  params[1] = edge_limit;
  mida__rows_info edges = {.max_rows = (size_t)(8 * max_nodes)};
  if (rc == MIDA_OK)
    rc = mida__serve_rows(srv, resp, graph_edges_sql, params, 2, "sss", &edges);
  if (rc != MIDA_OK || resp->status != 200)
    return rc;
  return mida__buf_printf(&resp->body, "],\n\"truncated\": %s}\n",
                          nodes.more || edges.more ? "true" : "false");
}

const mida__route mida__serve_routes_workflows[] = {
    {"/api/campaigns", list_campaigns, "limit after"},
    {"/api/campaigns/{id}", get_campaign, ""},
    {"/api/workflows", list_workflows,
     "limit after sort status campaign parent source name"},
    {"/api/workflows/{id}", get_workflow, ""},
    {"/api/workflows/{id}/graph", get_graph, "max_nodes"},
    {NULL, NULL, NULL},
};

/*
 * tasks.c -- tasks: GET /api/tasks (filters, keyset pages, sort) and
 * /api/tasks/{id} (a task in full: its documents, error, resources, data in
 * and out, dependencies, children and metric keys).
 *
 * The list reads the primary key for the default sort (newest first, ids
 * being time-ordered) and task_by_workflow for a workflow's tasks; a sort
 * by a document key (sort=-generated.acc) and a where= on a key read the
 * key's index when `mida index` made one (src/sink/key.h); every other sort
 * reads the filtered tasks and sorts them, which is fast for a workflow
 * and slower across a whole store of millions of tasks.
 */
#include "serve/list.h"
#include "serve/serve.h"
#include "serve/tasks.h"
#include "sink/key_index.h"
#include "sink/merge.h"

#include "mida.h"

#include <string.h>

#define TASK_LIMIT_MAX 1000
#define TASK_LIMIT_DEFAULT 100
/* The most related rows (data, dependencies, metric keys) in a task. */
#define TASK_RELATED_MAX 1000

#define TASK_SUMMARY                                                           \
  "t.id, t.workflow_id, t.campaign_id, t.parent_id, t.activity, t.status,"     \
  " t.submitted, t.started, t.ended, t.host, t.pid, t.worker, t.source_key,"   \
  " t.used, t.generated"
#define TASK_SUMMARY_KINDS "ssssssiiisissjj"

/* The status filter's values: every status a store holds (merge.h). */
static const char *const *const statuses = mida__status_names;

static const mida__list_sort task_sorts[] = {
    {"id", "t.id", "id"},
    {"started", "coalesce(t.started, 0)", "coalesce(started, 0)"},
    {"ended", "coalesce(t.ended, 0)", "coalesce(ended, 0)"},
    {"duration", "coalesce(t.ended - t.started, -1)",
     "coalesce(ended - started, -1)"},
    {"activity", "coalesce(t.activity, '')", "coalesce(activity, '')"},
    /* A task without a status reads UNKNOWN (the dashboard, /api/stats,
     * the status filter): it sorts with the UNKNOWN ones, not first. */
    {"status", "coalesce(t.status, 'UNKNOWN')",
     "coalesce(status, 'UNKNOWN')"},
    {NULL, NULL, NULL},
};

/* Adds "cond" (with one %d for the parameter's number) bound to value. */
static void add_filter(mida__tasks_query *f, const char *cond,
                       const char *value) {
  if (f->rc != MIDA_OK)
    return;
  f->params[f->np++] = value;
  f->rc = mida__buf_adds(&f->where, f->where.len ? " AND " : " WHERE ");
  if (f->rc == MIDA_OK)
    f->rc = mida__buf_printf(&f->where, cond, f->np);
}

/* Whether each '[' of a glob pattern has its ']' (SQLite's rule: a ']'
 * first in the set, after an optional '^', is one of its characters). The
 * PostgreSQL store's glob() is a regular expression, which refuses one
 * that has not: the API answers 400 on both stores. */
static int glob_sets_closed(const char *p) {
  for (p = strchr(p, '['); p != NULL; p = strchr(p, '[')) {
    p++;
    if (*p == '^')
      p++;
    if (*p == ']')
      p++;
    p = strchr(p, ']');
    if (p == NULL)
      return 0;
  }
  return 1;
}

/* activity=A: the tasks of activity A, or, when A holds '*', '?' or '[',
 * those whose activity A matches as a glob pattern (case-sensitive), as
 * `mida tasks --activity` takes it. activity_contains=S: those whose
 * activity holds S, in any case (the dashboard's filter): '%', '_' and
 * '\' are escaped, so that S is matched as written. Returns 0 with a 400
 * in resp for a pattern with an unclosed '['. */
static int add_activity_filters(mida__tasks_query *q, const mida__req *req,
                                mida__resp *resp) {
  const char *a = mida__req_get(req, "activity");
  if (a != NULL && strpbrk(a, "*?[") == NULL)
    add_filter(q, "t.activity = ?%d", a);
  else if (a != NULL && !glob_sets_closed(a)) {
    mida__resp_error(resp, 400,
                     "parameter 'activity': a '[' without its ']' (a glob "
                     "pattern: '*', '?' and '[...]' are wildcards)");
    return 0;
  } else if (a != NULL) {
    /* An expression, not a bare parameter (as the CLI's): SQLite
     * re-prepares a statement whose bound GLOB pattern could change its
     * plan. glob() is SQLite's, and the PostgreSQL store's (postgres.c). */
    add_filter(q, "glob((?%d || ''), t.activity)", a);
  }
  const char *part = mida__req_get(req, "activity_contains");
  if (part != NULL)
    add_filter(q,
               "lower(t.activity) LIKE ('%%' || replace(replace(replace("
               "lower(CAST(?%d AS TEXT)), '\\', '\\\\'), '%%', '\\%%'),"
               " '_', '\\_') || '%%') ESCAPE '\\'",
               part);
  return 1;
}

/* Picks sort=KEY or -KEY where KEY is a document key (used.lr): the tasks
 * where the key is a number, ordered by it, on the expression of the key's
 * index (src/sink/key.h), so that `mida index used.lr` serves the sort. */
static int pick_key_sort(mida__tasks_query *q, const char *text, int *desc) {
  mida__key *k = &q->sort_key;
  char why[200];
  *desc = text[0] == '-';
  if (mida__key_parse_all(text + *desc, k, why, sizeof why) != MIDA_OK)
    return 0;
  mida__buf_init(&q->sort_expr, 512);
  mida__buf_init(&q->sort_inner, 512);
  int rc = mida__key_expr(&q->sort_expr, k, MIDA_KEY_NUM, "t");
  if (rc == MIDA_OK)
    rc = mida__key_expr(&q->sort_inner, k, MIDA_KEY_NUM, NULL);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&q->where, q->where.len ? " AND " : " WHERE ");
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&q->where, "%s IS NOT NULL",
                          mida__buf_str(&q->sort_expr));
  if (q->rc == MIDA_OK)
    q->rc = rc;
  q->key_sort.name = "";
  q->key_sort.expr = mida__buf_str(&q->sort_expr);
  q->key_sort.inner = mida__buf_str(&q->sort_inner);
  return 1;
}

/* Whether p is on the key that q's page is sorted by (sort=used.lr). */
static int on_sort_key(const mida__tasks_query *q, const mida__predicate *p) {
  return q->key_sort.expr != NULL && p->numeric &&
         strcmp(p->key.doc, q->sort_key.doc) == 0 &&
         strcmp(p->key.path, q->sort_key.path) == 0;
}

void mida__tasks_query_free(mida__tasks_query *q) {
  mida__buf_free(&q->where);
  mida__buf_free(&q->sql);
  mida__buf_free(&q->sort_expr);
  mida__buf_free(&q->sort_inner);
}

int mida__tasks_query_build(mida__serve *srv, const mida__req *req,
                            mida__resp *resp, mida__tasks_query *q) {
  memset(q, 0, sizeof *q);
  mida__buf_init(&q->where, 16384);
  mida__buf_init(&q->sql, 65536);
  long long limit = TASK_LIMIT_DEFAULT, since = -1, until = -1;
  int status = -1;
  const char *workflow = NULL, *campaign = NULL, *parent = NULL, *after = NULL;
  if (!mida__param_int(req, resp, "limit", 1, TASK_LIMIT_MAX, &limit) ||
      !mida__param_int(req, resp, "since", 0, INT64_MAX, &since) ||
      !mida__param_int(req, resp, "until", 0, INT64_MAX, &until) ||
      !mida__param_choice_any_case(req, resp, "status", statuses,
                                    &status) ||
      !mida__param_id(req, resp, "workflow", &workflow) ||
      !mida__param_id(req, resp, "campaign", &campaign) ||
      !mida__param_id(req, resp, "parent", &parent) ||
      !mida__param_id(req, resp, "after", &after))
    return 0;
  q->limit = limit;
  const mida__list_sort *sort = &task_sorts[0];
  int desc = 1;
  const char *sort_text = mida__req_get(req, "sort");
  if (sort_text != NULL &&
      !mida__list_pick(task_sorts, sort_text, &sort, &desc)) {
    if (!pick_key_sort(q, sort_text, &desc)) {
      mida__resp_error(resp, 400,
                       "parameter 'sort' must be id, started, ended, "
                       "duration, activity, status or a key of a document "
                       "(used.lr), with '-' for descending");
      return 0;
    }
    sort = &q->key_sort;
  }
  const char *since_text = mida__req_get(req, "since");
  const char *until_text = mida__req_get(req, "until");
  if (workflow != NULL)
    add_filter(q, "t.workflow_id = ?%d", workflow);
  if (campaign != NULL)
    add_filter(q, "t.campaign_id = ?%d", campaign);
  if (parent != NULL)
    add_filter(q, "t.parent_id = ?%d", parent);
  /* A task without a status reads UNKNOWN (the dashboard's badge, the
   * counts of /api/stats): UNKNOWN finds it too. */
  if (status >= 0)
    add_filter(q,
               strcmp(statuses[status], "UNKNOWN") == 0
                   ? "(t.status = ?%d OR t.status IS NULL)"
                   : "t.status = ?%d",
               statuses[status]);
  if (!add_activity_filters(q, req, resp))
    return 0;
  const char *text_filters[][2] = {
      {"host", "t.host = ?%d"},
      {"worker", "t.worker = ?%d"},
  };
  for (size_t i = 0; i < sizeof text_filters / sizeof text_filters[0]; i++) {
    const char *v = mida__req_get(req, text_filters[i][0]);
    if (v != NULL)
      add_filter(q, text_filters[i][1], v);
  }
  /* A task is in [since, until) when it ran at some time in it. The
   * parameters are cast: an expression has no column affinity, and SQLite
   * would compare the text with the number as text. */
  if (since >= 0)
    add_filter(q,
               "coalesce(t.ended, t.started, t.submitted) >="
               " CAST(?%d AS BIGINT)",
               since_text);
  if (until >= 0)
    add_filter(q, "coalesce(t.started, t.submitted) < CAST(?%d AS BIGINT)",
               until_text);

  mida__predicate preds[TASK_PREDICATES_MAX];
  int npred = 0;
  for (int i = 0; (i = mida__req_next(req, "where", i)) >= 0; i++) {
    if (npred >= TASK_PREDICATES_MAX) {
      mida__resp_error(resp, 400, "at most %d 'where' parameters",
                       TASK_PREDICATES_MAX);
      return 0;
    }
    char why[200];
    if (mida__predicate_parse(req->params[i].value, &preds[npred], why,
                              sizeof why) != MIDA_OK) {
      mida__resp_error(resp, 400, "parameter 'where': %s", why);
      return 0;
    }
    npred++;
  }
  /* Whether an index on a key holds few matches (predicate.h): then the
   * page reads that index. A predicate on the key the page is sorted by
   * needs no probe: the planner reads that key's index in order for the
   * sort, the predicates bound the walk, and the LIMIT stops it -- a
   * range costs a page of index entries whatever the number of matches.
   * A store that cannot be reached now gives no hint; the page's own
   * query will say what is wrong. */
  mida__predicate probed[TASK_PREDICATES_MAX];
  int at[TASK_PREDICATES_MAX], nprobed = 0;
  for (int i = 0; i < npred; i++)
    if (preds[i].op != NULL && !on_sort_key(q, &preds[i])) {
      at[nprobed] = i;
      probed[nprobed++] = preds[i];
    }
  /* The tasks in id order whose key is in a range, and nothing else asked
   * of them: read from the key's side table (key_side.h) alone, by value
   * or by id (key_index.h), and only the page's rows then. */
  int side_page = sort == &task_sorts[0] && q->where.len == 0 && npred > 0 &&
                  nprobed == npred;
  mida__sink *sink = NULL;
  char err[512];
  if (nprobed > 0 && srv != NULL &&
      mida__serve_acquire(&srv->pool, 5000, &sink, err, sizeof err) ==
          MIDA_OK) {
    /* Its count of the matches, when it made one, is the probe's too. */
    int counted = 0;
    if (side_page) {
      side_page =
          mida__key_side_fits(sink, probed, nprobed, desc, after, limit + 1);
      counted = side_page || probed[0].many;
    }
    if (!counted)
      mida__predicate_probe(sink, probed, nprobed);
    mida__serve_release(&srv->pool, sink, 0);
  } else {
    side_page = 0;
  }
  for (int i = 0; i < nprobed; i++) {
    preds[at[i]].few = probed[i].few;
    preds[at[i]].many = probed[i].many;
  }
  if (side_page && q->rc == MIDA_OK) {
    q->rc = mida__buf_adds(&q->where, " WHERE ");
    if (q->rc == MIDA_OK)
      q->rc = mida__key_side_where(&q->where, preds, npred, "t", desc,
                                   after != NULL, limit + 1, side_page,
                                   q->params, &q->np);
    npred = 0; /* all said by the side table */
  }
  for (int i = 0; i < npred; i++) {
    if (q->rc == MIDA_OK)
      q->rc = mida__buf_adds(&q->where, q->where.len ? " AND " : " WHERE ");
    if (q->rc == MIDA_OK)
      q->rc = mida__predicate_sql(&preds[i], "t", &q->where, q->params,
                                  &q->np);
  }

  int rc = q->rc;
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&q->sql, "SELECT " TASK_SUMMARY " FROM task t%s",
                          mida__buf_str(&q->where));
  if (after != NULL)
    q->params[q->np++] = after;
  if (rc == MIDA_OK)
    rc = mida__list_sql(&q->sql, sort, desc, "t", "task", after != NULL,
                        mida__buf_str(&q->where), q->np, limit);
  q->rc = rc;
  return 1;
}

static int list_tasks(mida__serve *srv, const mida__req *req,
                      mida__resp *resp) {
  mida__tasks_query q;
  int rc = MIDA_OK;
  if (mida__tasks_query_build(srv, req, resp, &q)) {
    rc = q.rc;
    const char *after = mida__req_get(req, "after");
    int known = 1;
    if (rc == MIDA_OK && after != NULL)
      rc = mida__list_after_known(srv, resp, "task", after, &known);
    if (rc == MIDA_OK && known)
      rc = mida__serve_page(srv, resp, mida__buf_str(&q.sql), q.params, q.np,
                            TASK_SUMMARY_KINDS, q.limit);
  }
  mida__tasks_query_free(&q);
  return rc;
}

/* The parts of a task in full, each one query with ?1 the task's id. */
typedef struct task_part {
  const char *key;   /* the key in the answer */
  const char *sql;   /* the query */
  const char *kinds; /* MIDA_COL_* per column */
  int one;           /* 1: an object (the first row), 0: an array */
} task_part;

static const task_part task_parts[] = {
    {"task",
     "SELECT t.id, t.workflow_id, t.campaign_id, t.parent_id, t.activity,"
     " t.status, t.submitted, t.started, t.ended, t.host, t.pid, t.worker,"
     " t.source_key, t.used, t.generated, t.custom, t.error, t.telemetry,"
     " w.name AS workflow_name"
     " FROM task t LEFT JOIN workflow w ON w.id = t.workflow_id"
     " WHERE t.id = ?1",
     "ssssssiiisissjjjsjs", 1},
    {"data",
     "SELECT td.role, td.name, d.id, d.kind, d.uri, d.size, d.digest,"
     " d.metadata FROM task_data td LEFT JOIN data d ON d.id = td.data_id"
     " WHERE td.task_id = ?1 ORDER BY td.role DESC, td.data_id",
     "sssssisj", 0},
    {"upstream",
     "SELECT dp.upstream_id AS id, t.activity, t.status FROM task_dep dp"
     " LEFT JOIN task t ON t.id = dp.upstream_id WHERE dp.task_id = ?1"
     " ORDER BY dp.upstream_id",
     "sss", 0},
    {"downstream",
     "SELECT dp.task_id AS id, t.activity, t.status FROM task_dep dp"
     " LEFT JOIN task t ON t.id = dp.task_id WHERE dp.upstream_id = ?1"
     " ORDER BY dp.task_id",
     "sss", 0},
    {"children",
     "SELECT t.id, t.activity, t.status FROM task t WHERE t.parent_id = ?1"
     " ORDER BY t.id",
     "sss", 0},
    {"metrics",
     "SELECT m.key, count(*) AS points, min(m.step) AS first_step,"
     " max(m.step) AS last_step, min(m.value) AS min, max(m.value) AS max"
     " FROM metric m WHERE m.task_id = ?1 GROUP BY m.key ORDER BY m.key",
     "siiiaa", 0},
};

static int get_task(mida__serve *srv, const mida__req *req, mida__resp *resp) {
  const char *id = req->captures[0];
  if (!mida__serve_valid_id(id))
    return mida__resp_error(resp, 400, "not a task id");
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  const char *params[1] = {id};
  int qrc = MIDA_OK;
  int rc = mida__buf_adds(&resp->body, "{");
  for (size_t i = 0; i < sizeof task_parts / sizeof task_parts[0]; i++) {
    const task_part *p = &task_parts[i];
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&resp->body, "%s\"%s\": %s", i ? ",\n" : "", p->key,
                            p->one ? "" : "[");
    mida__rows_info info = {.max_rows = p->one ? 1 : TASK_RELATED_MAX};
    if (rc == MIDA_OK)
      qrc = mida__serve_rows_on(sink, resp, p->sql, params, 1, p->kinds, &info);
    if (qrc == MIDA_ENOMEM || qrc == MIDA_ETOOBIG)
      rc = qrc;
    if (rc != MIDA_OK || qrc != MIDA_OK)
      break;
    if (p->one && info.nrows == 0) {
      mida__serve_give(srv, sink, MIDA_OK);
      return mida__resp_error(resp, 404, "no task with id '%.200s'", id);
    }
    rc = mida__buf_adds(&resp->body, p->one ? "" : "]");
    if (rc == MIDA_OK && !p->one)
      rc = mida__buf_printf(&resp->body, ",\n\"%s_truncated\": %s", p->key,
                            info.more ? "true" : "false");
  }
  if (rc == MIDA_OK && qrc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "}\n");
  if (qrc != MIDA_OK && rc == MIDA_OK)
    mida__serve_store_error(resp, sink, qrc);
  mida__serve_give(srv, sink, qrc);
  return rc;
}

const mida__route mida__serve_routes_tasks[] = {
    {"/api/tasks", list_tasks,
     "limit after sort status workflow campaign parent activity "
     "activity_contains host worker since until where*"},
    {"/api/tasks/{id}", get_task, ""},
    {NULL, NULL, NULL},
};

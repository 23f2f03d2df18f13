/*
 * list.c -- `mida workflows` and `mida tasks`: one line per workflow or
 * task, with filters, as a table, CSV or JSON.
 *
 * Both build one SELECT with a WHERE clause per filter given and bind the
 * filter values as text parameters (never pasted into the SQL). Filters on
 * a workflow use the index task_by_workflow(workflow_id, status); statuses
 * are stored upper-case, so the status filter takes whatever case the user
 * typed and binds the name as stored; a name that is no status is a usage
 * error (it could match nothing).
 */
#include "cli/cli.h"

#include "mida.h"
#include "report/workflow_status.h"
#include "sink/iso_time_sql.h"
#include "sink/key_index.h"
#include "sink/merge.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest SQL text these verbs build. */
#define LIST_SQL_MAX 4096

static const char workflows_help[] =
    "usage: mida workflows [--campaign C] [--csv | --json]\n"
    "\n"
    "Lists workflows in the order they started: id, name, source, status,\n"
    "started (ISO 8601, UTC), duration in seconds (empty while running),\n"
    "number of tasks and of failed (ERROR) tasks.\n"
    "\n"
    "options:\n"
    "  --campaign C  only workflows of campaign C (its id or name)\n"
    "  --csv         CSV (RFC 4180) with a header line\n"
    "  --json        a JSON array of objects\n"
    "  --store URL   the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida workflows --campaign climate-2024\n";

static const char tasks_help[] =
    "usage: mida tasks [--workflow ID] [--status S] [--activity A]\n"
    "                  [--where DOC.KEY OP VALUE]... [--sort [-]DOC.KEY]\n"
    "                  [--limit N] [--csv | --json]\n"
    "\n"
    "Lists tasks in the order they started: id, activity, status, started\n"
    "(ISO 8601, UTC), duration in seconds (empty while running), host/pid;\n"
    "with --sort, also the key's value; with --where, each key's value.\n"
    "\n"
    "options:\n"
    "  --workflow ID  only tasks of this workflow (its id: an unknown one is\n"
    "                 an error)\n"
    "  --status S     only tasks in this status (any case): submitted,\n"
    "                 running, finished, cancelled, error, lost, unknown\n"
    "                 (unknown: also a task with no status)\n"
    "  --activity A   only this activity; '*', '?' and '[...]' are\n"
    "                 wildcards (a glob)\n"
    "  --where P      only tasks where P holds: DOC.KEY OP VALUE, DOC one of\n"
    "                 used, generated, custom, telemetry; OP one of\n"
    "                 = != < <= > >= (e.g. 'used.lr>0.01'); DOC.KEY alone:\n"
    "                 tasks that have the key; up to 8 times, tasks where\n"
    "                 all of them hold (as the API's where=)\n"
    "  --sort KEY     order by a numeric key (DOC.KEY; '-' first: largest\n"
    "                 first) instead of the start; only tasks that have it\n"
    "                 (mida index KEY makes both fast on a large store)\n"
    "  --limit N      at most N tasks\n"
    "  --csv          CSV (RFC 4180) with a header line\n"
    "  --json         a JSON array of objects\n"
    "  --store URL    the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida tasks --status error --activity 'train*' --limit 20\n"
    "  mida tasks --sort -generated.acc --limit 10\n"
    "  mida tasks --where 'used.lr>=0.01' --where 'used.lr<0.1'\n";

/* Prints the rows of sql with params, run on sink, in fmt. Returns an exit
 * status. */
static int print_rows(mida__sink *sink, const char *sql,
                      const char *const *params, int nparams,
                      mida__out_format fmt) {
  mida__out out;
  mida__out_init(&out, fmt, stdout);
  int rc = mida__sink_query_cells(sink, sql, params, nparams,
                                  mida__out_columns, mida__out_row, &out);
  if (rc == MIDA_OK && out.rc != MIDA_OK)
    rc = out.rc;
  if (rc == MIDA_OK) {
    rc = mida__out_end(&out);
    return rc == MIDA_OK
               ? MIDA_CLI_OK
               : mida__cli_fail("cannot write the result: %s",
                                mida__cli_write_error(rc));
  }
  mida__out_discard(&out);
  return mida__cli_store_error(sink, rc, "cannot list");
}

int mida__cli_print_query(const mida__cli *cli, const char *sql,
                          const char *const *params, int nparams,
                          mida__out_format fmt) {
  mida__sink *sink = NULL;
  int ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  ex = print_rows(sink, sql, params, nparams, fmt);
  mida__sink_close(sink);
  return ex;
}

/* Whether --campaign's text names a campaign of the store by id or name,
 * or is the campaign of one of its workflows (a workflow's records may
 * come before its campaign's). MIDA_CLI_CONTINUE, or MIDA_CLI_FAIL after
 * saying why: a mistyped name printed "(no rows)", as if nothing had run
 * in it. */
static int campaign_known(mida__sink *sink, const char *campaign) {
  const char *params[1] = {campaign};
  int seen = 0;
  int rc = mida__cli_has_row(sink,
                             "SELECT 1 FROM campaign WHERE id = ?1"
                             " OR name = ?1 UNION ALL SELECT 1 FROM workflow"
                             " WHERE campaign_id = ?1 LIMIT 1",
                             params, 1, &seen);
  if (rc != MIDA_OK && !seen)
    return mida__cli_store_error(sink, rc, "cannot read the campaigns");
  if (!seen)
    return mida__cli_fail("workflows: no campaign has the id or name '%s'",
                          campaign);
  return MIDA_CLI_CONTINUE;
}

int mida__cli_workflows(mida__cli *cli, int argc, char **argv) {
  int csv = 0;
  int json = 0;
  const char *campaign = NULL;
  const mida__cli_opt opts[] = {
      {"--campaign", NULL, &campaign, NULL},
      {"--csv", NULL, NULL, &csv},
      {"--json", NULL, NULL, &json},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "workflows", workflows_help, opts, argc, argv,
                           NULL, 0, 0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__out_format fmt;
  ex = mida__out_pick("workflows", csv, json, &fmt);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;

  const char *params[1];
  int nparams = 0;
  const char *where = "";
  if (campaign != NULL) {
    params[nparams++] = campaign;
    where = " WHERE w.campaign_id = ?1 OR w.campaign_id IN "
            "(SELECT id FROM campaign WHERE name = ?1)";
  }
  char sql[LIST_SQL_MAX];
  snprintf(sql, sizeof(sql),
           "SELECT w.id, w.name, w.source, " MIDA_WORKFLOW_STATUS_SQL
           " AS status, %s AS started,"
           " round((w.ended - w.started) / 1e9, 3) AS duration_s,"
           " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id)"
           " AS tasks,"
           " (SELECT count(*) FROM task t WHERE t.workflow_id = w.id"
           " AND t.status = 'ERROR') AS failed"
           " FROM workflow w%s ORDER BY w.started, w.id",
           MIDA_ISO_S_SQL("w.started"), where);
  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (campaign != NULL)
    ex = campaign_known(sink, campaign);
  if (ex == MIDA_CLI_CONTINUE)
    ex = print_rows(sink, sql, params, nparams, fmt);
  mida__sink_close(sink);
  return ex;
}

/* The status that text names in any case (merge.h's list, which the
 * server's filter takes too), or NULL after saying which it may be. */
static const char *status_named(const char *text) {
  for (int i = 0; mida__status_names[i] != NULL; i++)
    if (strcasecmp(text, mida__status_names[i]) == 0)
      return mida__status_names[i];
  char list[200] = "";
  size_t n = 0;
  for (int i = 0; mida__status_names[i] != NULL && n < sizeof list; i++)
    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "",
                          mida__status_names[i]);
  mida__cli_usage_error("tasks",
                        "--status must be one of %s (any case), not '%s'",
                        list, text);
  return NULL;
}

/* Whether --workflow's id names a workflow of the store, or one its tasks
 * are in (a task's records may come before its workflow's); both are
 * index lookups. MIDA_CLI_CONTINUE, or MIDA_CLI_FAIL after saying why:
 * a name or a mistyped id printed "(no rows)", as if the workflow had no
 * task. */
static int workflow_known(mida__sink *sink, const char *id) {
  const char *params[1] = {id};
  int seen = 0;
  int rc = mida__cli_has_row(sink,
                             "SELECT 1 FROM workflow WHERE id = ?1"
                             " UNION ALL SELECT 1 FROM task"
                             " WHERE workflow_id = ?1 LIMIT 1",
                             params, 1, &seen);
  if (rc != MIDA_OK && !seen)
    return mida__cli_store_error(sink, rc, "cannot read the workflows");
  if (!seen)
    return mida__cli_fail("tasks: no workflow has the id '%s' (--workflow "
                          "takes an id; 'mida workflows' lists them)",
                          id);
  return MIDA_CLI_CONTINUE;
}

int mida__cli_tasks(mida__cli *cli, int argc, char **argv) {
  int csv = 0;
  int json = 0;
  const char *workflow = NULL;
  const char *status = NULL;
  const char *activity = NULL;
  const char *limit = NULL;
  const char *where_texts[MIDA_CLI_REPEAT_MAX];
  int nwhere = 0;
  const char *sort_text = NULL;
  const mida__cli_opt opts[] = {
      {"--workflow", NULL, &workflow, NULL},
      MIDA_CLI_REPEATABLE("--where", where_texts, &nwhere),
      {"--sort", NULL, &sort_text, NULL},
      {"--status", NULL, &status, NULL},
      {"--activity", NULL, &activity, NULL},
      {"--limit", NULL, &limit, NULL},
      {"--csv", NULL, NULL, &csv},
      {"--json", NULL, NULL, &json},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "tasks", tasks_help, opts, argc, argv, NULL, 0,
                           0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__out_format fmt;
  ex = mida__out_pick("tasks", csv, json, &fmt);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  long long max = -1;
  if (limit != NULL && mida__cli_parse_count(limit, &max) != 0)
    return mida__cli_usage_error("tasks",
                                 "--limit needs a count from 0 to "
                                 "1000000000000, not '%s'",
                                 limit);
  if (status != NULL) {
    status = status_named(status);
    if (status == NULL)
      return MIDA_CLI_USAGE;
  }

  /* Several --where: tasks where all hold, as the API's where= (the same
   * predicates, predicate.h). */
  mida__predicate preds[MIDA_CLI_REPEAT_MAX];
  mida__key sort_key;
  int sort_desc = 0;
  char why[200];
  for (int i = 0; i < nwhere; i++)
    if (mida__predicate_parse(where_texts[i], &preds[i], why, sizeof why) !=
        MIDA_OK)
      return mida__cli_usage_error("tasks", "--where '%s': %s",
                                   where_texts[i], why);
  if (sort_text != NULL) {
    sort_desc = sort_text[0] == '-';
    if (mida__key_parse_all(sort_text + sort_desc, &sort_key, why,
                            sizeof why) != MIDA_OK)
      return mida__cli_usage_error("tasks", "--sort '%s': %s", sort_text,
                                   why);
  }

  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  /* Whether each key's index holds few matches: then read it
   * (key_index.h). Sorted by the key of a filter, the rows come from its
   * index in order and the limit stops the walk: no probe for that one. */
  mida__predicate probed[MIDA_CLI_REPEAT_MAX];
  int probed_at[MIDA_CLI_REPEAT_MAX], nprobed = 0;
  for (int i = 0; i < nwhere; i++) {
    int sorted_on_filter = sort_text != NULL && preds[i].numeric &&
                           strcmp(preds[i].key.doc, sort_key.doc) == 0 &&
                           strcmp(preds[i].key.path, sort_key.path) == 0;
    if (!sorted_on_filter) {
      probed_at[nprobed] = i;
      probed[nprobed++] = preds[i];
    }
  }
  if (nprobed > 0)
    mida__predicate_probe(sink, probed, nprobed);
  for (int i = 0; i < nprobed; i++)
    preds[probed_at[i]] = probed[i];
  if (workflow != NULL) {
    ex = workflow_known(sink, workflow);
    if (ex != MIDA_CLI_CONTINUE) {
      mida__sink_close(sink);
      return ex;
    }
  }

  const char *params[3 + MIDA_CLI_REPEAT_MAX];
  int nparams = 0;
  mida__buf where;
  mida__buf_init(&where, LIST_SQL_MAX);
  int rc = MIDA_OK;
  /* Each clause names its own parameter number; the clauses are fixed
   * text, the values are bound. */
  if (workflow != NULL) {
    params[nparams++] = workflow;
    rc = mida__buf_printf(&where, " AND workflow_id = ?%d", nparams);
  }
  if (rc == MIDA_OK && status != NULL) {
    params[nparams++] = status;
    /* UNKNOWN is also a task with no status at all, as the listing and
     * the API's status=UNKNOWN show it. */
    rc = mida__buf_printf(&where,
                          strcmp(status, "UNKNOWN") == 0
                              ? " AND (status = ?%d OR status IS NULL)"
                              : " AND status = ?%d",
                          nparams);
  }
  if (rc == MIDA_OK && activity != NULL) {
    params[nparams++] = activity;
    /* The pattern is an expression, not a bare parameter: SQLite
     * re-prepares a statement at its first step when a bound GLOB pattern
     * could change the plan, and that invalidates the column names a sink
     * may have read before stepping. */
    int glob = strpbrk(activity, "*?[") != NULL;
    rc = mida__buf_printf(&where,
                          /* glob(): SQLite's GLOB, also defined by the
                           * PostgreSQL store (postgres.c). */
                          glob ? " AND glob((?%d || ''), activity)"
                               : " AND activity = ?%d",
                          nparams);
  }
  /* The key's expression as its index holds it (src/sink/key.h), so that
   * `mida index` serves the filter and the sort. */
  for (int i = 0; rc == MIDA_OK && i < nwhere; i++) {
    rc = mida__buf_adds(&where, " AND ");
    if (rc == MIDA_OK)
      rc = mida__predicate_sql(&preds[i], "task", &where, params, &nparams);
  }
  mida__buf order;
  mida__buf_init(&order, LIST_SQL_MAX);
  mida__buf shown;
  mida__buf_init(&shown, LIST_SQL_MAX);
  if (rc == MIDA_OK && sort_text != NULL) {
    rc = mida__buf_adds(&where, " AND ");
    if (rc == MIDA_OK)
      rc = mida__key_expr(&where, &sort_key, MIDA_KEY_NUM, "task");
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&where, " IS NOT NULL");
    if (rc == MIDA_OK)
      rc = mida__key_expr(&order, &sort_key, MIDA_KEY_NUM, "task");
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&order, " %s, id %s", sort_desc ? "DESC" : "ASC",
                            sort_desc ? "DESC" : "ASC");
  } else if (rc == MIDA_OK) {
    rc = mida__buf_adds(&order, "task.started, id");
  }
  /* The key sorted on, else each key filtered on (once), is shown as a
   * column of its own: its text in the document, a number's every digit
   * (SQLite's CAST of the number to text kept 15: 0.30000000000000004
   * printed as 0.3), which the output writes as a number where it is
   * one. */
  const mida__key *show[MIDA_CLI_REPEAT_MAX];
  int nshow = 0;
  if (sort_text != NULL)
    show[nshow++] = &sort_key;
  for (int i = 0; sort_text == NULL && i < nwhere; i++) {
    int seen = 0;
    for (int k = 0; k < nshow; k++)
      seen |= strcmp(show[k]->doc, preds[i].key.doc) == 0 &&
              strcmp(show[k]->path, preds[i].key.path) == 0;
    if (!seen)
      show[nshow++] = &preds[i].key;
  }
  for (int k = 0; rc == MIDA_OK && k < nshow; k++) {
    rc = mida__buf_adds(&shown, ", ");
    if (rc == MIDA_OK)
      rc = mida__key_expr(&shown, show[k], MIDA_KEY_TEXT, "task");
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&shown, " AS \"%s.%s\"", show[k]->doc,
                            show[k]->path);
  }
  char limit_sql[48] = "";
  if (max >= 0)
    snprintf(limit_sql, sizeof(limit_sql), " LIMIT %lld", max);
  mida__buf sql;
  mida__buf_init(&sql, 4 * LIST_SQL_MAX);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(
        &sql,
        "SELECT id, activity, status, %s AS started,"
        " round((ended - started) / 1e9, 3) AS duration_s,"
        " coalesce(host, '') || '/' || coalesce(CAST(pid AS TEXT), '')"
        " AS host_pid%s"
        " FROM task WHERE TRUE%s ORDER BY %s%s",
        MIDA_ISO_S_SQL("started"), mida__buf_str(&shown),
        mida__buf_str(&where), mida__buf_str(&order), limit_sql);
  ex = rc == MIDA_OK ? print_rows(sink, mida__buf_str(&sql), params, nparams,
                                  fmt)
                     : mida__cli_fail("cannot build the query: %s",
                                      mida_strerror(rc));
  mida__sink_close(sink);
  mida__buf_free(&where);
  mida__buf_free(&order);
  mida__buf_free(&shown);
  mida__buf_free(&sql);
  return ex;
}

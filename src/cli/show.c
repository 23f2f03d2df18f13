/*
 * show.c -- `mida show ID`: everything the store knows about one task or
 * one workflow.
 *
 * A task: its fields; used, generated and custom (JSON objects) one key per
 * line; its error text; its inputs (data used) and outputs (data
 * generated); its resource use (the task's telemetry summary, and the
 * telemetry samples taken while it ran); a summary of each metric (points,
 * last, min, max); its parent and number of children; and one hop
 * upstream and downstream, through
 * shared data and through task_dep, in any workflow (`mida lineage` goes
 * further). A workflow: its fields, its campaign, and its tasks counted by
 * status. Every query looks up by primary key or by an index, but for a
 * source's key (an MLflow run id, a Dask key), which is looked up when no
 * id matched (source_key.c).
 */
#include "cli/cli.h"
#include "cli/sample_sql.h"

#include "mida.h"
#include "report/workflow_error.h"
#include "report/workflow_status.h"
#include "sink/iso_time_sql.h"

#include <stdio.h>
#include <string.h>

/* Most rows printed in one section (inputs, metrics, upstream, ...). */
#define SHOW_SECTION_ROWS 1000

static const char show_help[] =
    "usage: mida show ID\n"
    "\n"
    "ID is a task's or a workflow's id, or its source's key when no id\n"
    "matches: an MLflow run id, a Dask key, a TensorBoard run directory,\n"
    "an MLflow experiment id (said on stderr; a key of several tasks lists\n"
    "them there and fails).\n"
    "\n"
    "Shows one task or workflow in full. For a task: its fields, used,\n"
    "generated and custom values, error, resource use (CPU, memory, I/O,\n"
    "GPU energy, and the telemetry samples taken while it ran), inputs and\n"
    "outputs (data), metric summary (points, last, min, max), parent,\n"
    "children, and the tasks one\n"
    "hop upstream and downstream in any workflow. For a workflow: its\n"
    "fields, campaign and tasks by status.\n"
    "\n"
    "options:\n"
    "  --store URL  the store (default: $MIDA_STORE, else sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida show 0190a4c2-5e1f-7c3a-8d2b-4f6e8a9b0c1d\n";

static const char task_sql[] =
    "SELECT t.id, t.activity, t.status, t.workflow_id, w.name,"
    " coalesce(t.campaign_id, w.campaign_id), c.name, t.parent_id,"
    " p.activity,"
    " (SELECT count(*) FROM task k WHERE k.parent_id = t.id),"
    " " MIDA_ISO_MS_SQL("t.submitted") ","
    " " MIDA_ISO_MS_SQL("t.started") ","
    " " MIDA_ISO_MS_SQL("t.ended") ","
    " round((t.ended - t.started) / 1e9, 3),"
    " t.host, t.pid, t.worker, t.source_key, t.telemetry,"
    " t.used, t.generated, t.custom, t.error, t.attempts"
    " FROM task t LEFT JOIN workflow w ON w.id = t.workflow_id"
    " LEFT JOIN campaign c ON c.id = coalesce(t.campaign_id, w.campaign_id)"
    " LEFT JOIN task p ON p.id = t.parent_id"
    " WHERE t.id = ?1";

/* The labels of task_sql's columns, with the column holding a name to show
 * beside each id (-1 for none). */
static const struct field {
  const char *label; /* what is printed before the value */
  int name_col;      /* a column to show in parentheses after it, or -1 */
  int skip;          /* 1 for columns shown inside another one */
} task_fields[] = {
    {"task", -1, 0},      {"activity", -1, 0},   {"status", -1, 0},
    {"workflow", 4, 0},   {"", -1, 1},           {"campaign", 6, 0},
    {"", -1, 1},          {"parent", 8, 0},      {"", -1, 1},
    {"children", -1, 0},  {"submitted", -1, 0},  {"started", -1, 0},
    {"ended", -1, 0},     {"duration_s", -1, 0}, {"host", -1, 0},
    {"pid", -1, 0},       {"worker", -1, 0},     {"source_key", -1, 0},
    {"telemetry", -1, 1}, /* shown as "resources" */
};

#define TASK_TELEMETRY 18 /* the task's resource summary (JSON) */

#define TASK_USED 19 /* first JSON column of task_sql: used, generated... */
#define TASK_ERROR 22
#define TASK_ATTEMPTS 23 /* runs that started (NULL: none recorded) */

/* The runs of a task (a retry, a speculative copy, a worker that died):
 * shown when it has any, the latest last, each with why it failed (the
 * first RUN_ERROR_SHOWN characters: a run's error is its exception's
 * "Type: message"; the task's own, below, may be a whole traceback). */
#define RUN_ERROR_SHOWN "160"
static const char runs_sql[] =
    "SELECT r.status AS status,"
    " " MIDA_ISO_MS_SQL("r.started")
    " AS started,"
    " round((r.ended - r.started) / 1e9, 3) AS duration_s,"
    " r.host AS host, r.pid AS pid, r.worker AS worker,"
    " substr(r.error, 1, " RUN_ERROR_SHOWN ") AS error"
    " FROM task_run r WHERE r.task_id = ?1"
    " ORDER BY r.started, r.id LIMIT 1000";

static const char workflow_sql[] =
    "SELECT w.id, w.name, w.source, " MIDA_WORKFLOW_STATUS_SQL ","
    " w.campaign_id, c.name,"
    " w.parent_id, pw.name,"
    " (SELECT count(*) FROM workflow k WHERE k.parent_id = w.id),"
    " w.user, w.host, w.pid,"
    " " MIDA_ISO_MS_SQL("w.started") ","
    " " MIDA_ISO_MS_SQL("w.ended") ","
    " round((w.ended - w.started) / 1e9, 3), w.metadata,"
    " CASE WHEN " MIDA_WORKFLOW_STATUS_SQL " = 'ERROR' THEN "
    MIDA_WORKFLOW_ERROR_SQL " END"
    " FROM workflow w LEFT JOIN campaign c ON c.id = "
    "w.campaign_id"
    " LEFT JOIN workflow pw ON pw.id = w.parent_id"
    " WHERE w.id = ?1";

static const struct field workflow_fields[] = {
    {"workflow", -1, 0}, {"name", -1, 0},    {"source", -1, 0},
    {"status", -1, 0},   {"campaign", 5, 0}, {"", -1, 1},
    {"parent", 7, 0},    {"", -1, 1},        {"children", -1, 0},
    {"user", -1, 0},     {"host", -1, 0},    {"pid", -1, 0},
    {"started", -1, 0},  {"ended", -1, 0},   {"duration_s", -1, 0},
};

#define WORKFLOW_METADATA 15
#define WORKFLOW_ERROR 16 /* why it failed (report/workflow_error.h) */

static const char json_pairs_sql[] =
    "SELECT key, CASE type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'"
    " WHEN 'null' THEN 'null' ELSE value END FROM json_each(?1)";

static const char data_sql[] =
    "SELECT td.name AS name, d.kind AS kind, coalesce(d.uri, td.data_id)"
    " AS uri, d.size AS size, td.data_id AS id"
    " FROM task_data td LEFT JOIN data d ON d.id = td.data_id"
    " WHERE td.task_id = ?1 AND td.role = ?2"
    " ORDER BY td.name, td.data_id LIMIT 1000";

static const char metrics_sql[] =
    "SELECT m.key AS key, count(*) AS points,"
    " (SELECT l.value FROM metric l WHERE l.task_id = ?1 AND l.key = m.key"
    " ORDER BY l.step DESC, l.ts DESC LIMIT 1) AS last,"
    " min(m.value) AS min, max(m.value) AS max"
    " FROM metric m WHERE m.task_id = ?1 GROUP BY m.key ORDER BY m.key"
    " LIMIT 1000";

/* One hop through data (a task that generated what this one used) or
 * through task_dep, in any workflow. */
static const char upstream_sql[] =
    "SELECT 'data' AS via, g.task_id AS task, t.activity AS activity,"
    " w.name AS workflow, g.data_id AS data"
    " FROM task_data u JOIN task_data g ON g.data_id = u.data_id"
    " AND g.role = 'generated' AND g.task_id <> u.task_id"
    " LEFT JOIN task t ON t.id = g.task_id"
    " LEFT JOIN workflow w ON w.id = t.workflow_id"
    " WHERE u.task_id = ?1 AND u.role = 'used'"
    " UNION ALL"
    " SELECT 'dep', d.upstream_id, t.activity, w.name, NULL"
    " FROM task_dep d LEFT JOIN task t ON t.id = d.upstream_id"
    " LEFT JOIN workflow w ON w.id = t.workflow_id WHERE d.task_id = ?1"
    " LIMIT 1000";

static const char downstream_sql[] =
    "SELECT 'data' AS via, u.task_id AS task, t.activity AS activity,"
    " w.name AS workflow, u.data_id AS data"
    " FROM task_data g JOIN task_data u ON u.data_id = g.data_id"
    " AND u.role = 'used' AND u.task_id <> g.task_id"
    " LEFT JOIN task t ON t.id = u.task_id"
    " LEFT JOIN workflow w ON w.id = t.workflow_id"
    " WHERE g.task_id = ?1 AND g.role = 'generated'"
    " UNION ALL"
    " SELECT 'dep', d.task_id, t.activity, w.name, NULL"
    " FROM task_dep d LEFT JOIN task t ON t.id = d.task_id"
    " LEFT JOIN workflow w ON w.id = t.workflow_id WHERE d.upstream_id = ?1"
    " LIMIT 1000";

/* The telemetry samples taken while the task ran, by scope: its process
 * and its host (src/telemetry/telemetry.h). Read from the telemetry table,
 * not the view, so that stores made before the view existed answer. A
 * host's first sample has no busy share yet (a rate needs two): it is not
 * counted, so that a short task shows no host row of empty cells. A
 * sample that is not JSON leaves its values out (sample_sql.h), where
 * it failed the whole of `mida show`. */
static const char samples_sql[] =
    "SELECT CASE WHEN s.pid = 0 THEN 'host' ELSE 'process' END AS scope,"
    " count(*) AS samples,"
    " " MIDA_SAMPLE_PCT("max(" MIDA_SAMPLE_NUM("cpu_pct") ")")
    " AS max_cpu_pct,"
    " " MIDA_SAMPLE_KB("max(" MIDA_SAMPLE_NUM("rss_kb") ")")
    " AS max_rss_kb,"
    " " MIDA_SAMPLE_PCT("max(" MIDA_SAMPLE_NUM("cpu_busy_pct") ")")
    " AS max_host_cpu_pct"
    " FROM task t JOIN telemetry s ON s.host = t.host"
    " AND s.pid IN (t.pid, 0)"
    " AND s.ts BETWEEN t.started AND coalesce(t.ended, t.started)"
    " WHERE t.id = ?1 AND (s.pid <> 0"
    " OR " MIDA_SAMPLE_NUM("cpu_busy_pct") " IS NOT NULL)"
    " GROUP BY 1 ORDER BY 1";

static const char status_sql[] =
    "SELECT coalesce(status, 'UNKNOWN') AS status, count(*) AS tasks"
    " FROM task WHERE workflow_id = ?1 GROUP BY 1 ORDER BY 1";

/* Prints text (an error: a message, then a traceback) one line of its
 * own per line, each indented and cut at 4095 bytes, with what a terminal
 * would act on escaped (a traceback printed as one line of "\\n" was
 * unreadable). */
static void print_lines(const char *text) {
  char line[4096];
  while (*text != '\0') {
    size_t n = strcspn(text, "\n");
    size_t keep = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, text, keep);
    line[keep] = '\0';
    fputs("  ", stdout);
    mida__cli_put_text(stdout, line);
    fputs(keep < n ? "...\n" : "\n", stdout);
    text += n;
    if (*text == '\n')
      text++;
  }
}

/* Prints the fields of a fetched row, "label  value (name)". */
static void print_fields(const mida__cli_rows *r, const struct field *f,
                         int nfields) {
  for (int i = 0; i < nfields; i++) {
    if (f[i].skip)
      continue;
    const char *v = mida__cli_cell(r, 0, i);
    const char *name =
        f[i].name_col >= 0 ? mida__cli_cell(r, 0, f[i].name_col) : NULL;
    printf("%-11s ", f[i].label);
    mida__cli_put_text(stdout, v != NULL ? v : "-");
    if (v != NULL && name != NULL) {
      fputs(" (", stdout);
      mida__cli_put_text(stdout, name);
      putchar(')');
    }
    putchar('\n');
  }
}

/* Prints a JSON object one key per line under a title; text that is not
 * JSON is printed as it is. */
static int print_json(mida__sink *sink, const char *title, const char *json) {
  if (json == NULL || strcmp(json, "{}") == 0)
    return MIDA_OK;
  printf("%s\n", title);
  mida__cli_rows pairs;
  const char *params[1] = {json};
  int rc = mida__cli_fetch(sink, json_pairs_sql, params, 1, 10000, &pairs);
  if (rc != MIDA_OK && rc != MIDA_ENOMEM) {
    fputs("  ", stdout); /* not a JSON object: shown as stored */
    mida__cli_put_text(stdout, json);
    putchar('\n');
    rc = MIDA_OK;
  }
  for (size_t i = 0; rc == MIDA_OK && i < pairs.nrows; i++) {
    const char *k = mida__cli_cell(&pairs, i, 0);
    const char *v = mida__cli_cell(&pairs, i, 1);
    fputs("  ", stdout);
    mida__cli_put_text(stdout, k != NULL ? k : "");
    fputs(": ", stdout);
    mida__cli_put_text(stdout, v != NULL ? v : "null");
    putchar('\n');
  }
  if (rc == MIDA_OK && pairs.truncated)
    printf("  ...\n");
  mida__cli_rows_free(&pairs);
  return rc;
}

/* Prints a section: a title, then the rows of sql as an indented table. */
static int print_section(mida__sink *sink, const char *title, const char *sql,
                         const char *const *params, int nparams) {
  printf("%s\n", title);
  int flushed = mida__cli_flush(stdout);
  if (flushed != MIDA_OK)
    return flushed;
  mida__out out;
  mida__out_init(&out, MIDA_OUT_TABLE, stdout);
  out.indent = "  ";
  out.empty = "(none)";
  int rc = mida__sink_query_cells(sink, sql, params, nparams,
                                  mida__out_columns, mida__out_row, &out);
  if (rc == MIDA_OK && out.rc != MIDA_OK)
    rc = out.rc;
  if (rc == MIDA_OK) {
    rc = mida__out_end(&out);
    if (rc == MIDA_OK && out.count >= SHOW_SECTION_ROWS)
      printf("  (first %d shown)\n", SHOW_SECTION_ROWS);
  } else {
    mida__out_discard(&out);
  }
  return rc;
}

static int show_task(mida__sink *sink, const mida__cli_rows *r) {
  const char *id = mida__cli_cell(r, 0, 0);
  const char *params[2] = {id, "used"};
  print_fields(r, task_fields,
               (int)(sizeof(task_fields) / sizeof(task_fields[0])));
  const char *attempts = mida__cli_cell(r, 0, TASK_ATTEMPTS);
  if (attempts != NULL) {
    fputs("attempts    ", stdout);
    mida__cli_put_text(stdout, attempts);
    putchar('\n');
  }
  const char *error = mida__cli_cell(r, 0, TASK_ERROR);
  if (error != NULL) {
    fputs("error\n", stdout);
    print_lines(error);
  }
  int rc = MIDA_OK;
  if (attempts != NULL)
    rc = print_section(sink, "runs", runs_sql, params, 1);
  if (rc == MIDA_OK)
    rc = print_json(sink, "used", mida__cli_cell(r, 0, TASK_USED));
  if (rc == MIDA_OK)
    rc = print_json(sink, "generated", mida__cli_cell(r, 0, TASK_USED + 1));
  if (rc == MIDA_OK)
    rc = print_json(sink, "custom", mida__cli_cell(r, 0, TASK_USED + 2));
  if (rc == MIDA_OK)
    rc = print_json(sink, "resources",
                    mida__cli_cell(r, 0, TASK_TELEMETRY));
  if (rc == MIDA_OK)
    rc = print_section(sink, "telemetry samples while it ran", samples_sql,
                       params, 1);
  if (rc == MIDA_OK)
    rc = print_section(sink, "inputs (data used)", data_sql, params, 2);
  params[1] = "generated";
  if (rc == MIDA_OK)
    rc = print_section(sink, "outputs (data generated)", data_sql, params, 2);
  if (rc == MIDA_OK)
    rc = print_section(sink, "metrics", metrics_sql, params, 1);
  if (rc == MIDA_OK)
    rc = print_section(sink, "upstream (one hop)", upstream_sql, params, 1);
  if (rc == MIDA_OK)
    rc = print_section(sink, "downstream (one hop)", downstream_sql, params, 1);
  return rc;
}

static int show_workflow(mida__sink *sink, const mida__cli_rows *r) {
  const char *params[1] = {mida__cli_cell(r, 0, 0)};
  print_fields(r, workflow_fields,
               (int)(sizeof(workflow_fields) / sizeof(workflow_fields[0])));
  /* Why a failed one failed, as the exports say it: the store keeps no
   * error on a workflow, only on its tasks. */
  const char *error = mida__cli_cell(r, 0, WORKFLOW_ERROR);
  if (error != NULL) {
    fputs("error\n", stdout);
    print_lines(error);
  }
  int rc =
      print_json(sink, "metadata", mida__cli_cell(r, 0, WORKFLOW_METADATA));
  if (rc == MIDA_OK)
    rc = print_section(sink, "tasks by status", status_sql, params, 1);
  return rc;
}

/* Shows the task or the workflow whose id is id; MIDA_ENOTFOUND when
 * there is neither. */
static int show_id(mida__sink *sink, const char *id) {
  mida__cli_rows row;
  const char *params[1] = {id};
  int rc = mida__cli_fetch(sink, task_sql, params, 1, 1, &row);
  if (rc == MIDA_OK && row.nrows == 1) {
    rc = show_task(sink, &row);
  } else if (rc == MIDA_OK) {
    mida__cli_rows_free(&row);
    rc = mida__cli_fetch(sink, workflow_sql, params, 1, 1, &row);
    if (rc == MIDA_OK && row.nrows == 1)
      rc = show_workflow(sink, &row);
    else if (rc == MIDA_OK)
      rc = MIDA_ENOTFOUND;
  }
  mida__cli_rows_free(&row);
  return rc;
}

int mida__cli_show(mida__cli *cli, int argc, char **argv) {
  const mida__cli_opt opts[] = {{NULL, NULL, NULL, NULL}};
  const char *pos[1];
  int npos = 0;
  int ex = mida__cli_parse(cli, "show", show_help, opts, argc, argv, pos, 1, 1,
                           &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;

  /* An id, else a source's key (an MLflow run id, a Dask key ...); its
   * sections all read one snapshot of the store (sink.h), so that a task
   * shown while it is recorded is shown in one state. */
  int rc = mida__sink_snapshot_begin(sink);
  if (rc == MIDA_OK)
    rc = show_id(sink, pos[0]);
  char id[128];
  int listed = 0; /* a source key of several, listed */
  if (rc == MIDA_ENOTFOUND) {
    rc = mida__cli_source_key(sink, "show", pos[0], 1, id, sizeof id);
    listed = rc == MIDA_EINVAL;
    if (rc == MIDA_OK)
      rc = show_id(sink, id);
  }
  mida__sink_snapshot_end(sink);
  if (rc == MIDA_OK)
    rc = mida__cli_flush(stdout);
  if (listed)
    ex = MIDA_CLI_FAIL;
  else if (rc == MIDA_ENOTFOUND)
    ex = mida__cli_fail("no task or workflow with id or source key '%s'",
                        pos[0]);
  else if (mida__cli_write_broke(rc))
    ex = mida__cli_fail("show: cannot write standard output: %s",
                        mida__cli_write_error(rc));
  else if (rc != MIDA_OK)
    ex = mida__cli_store_error(sink, rc, "show");
  else
    ex = MIDA_CLI_OK;
  mida__sink_close(sink);
  return ex;
}

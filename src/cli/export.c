/*
 * export.c -- `mida export prov`: the store as W3C PROV-JSON
 * (https://www.w3.org/submissions/prov-json/).
 *
 * The mapping (DESIGN.md, "Data model"):
 *
 *   data                         entity      mida:data-<id>
 *   task                         activity    mida:task-<id>
 *   workflow                     activity    mida:workflow-<id>
 *   workflow user, hosts, mida   agent       mida:user-<name>,
 *                                            mida:host-<name>, mida:mida
 *   task_data role 'used'        used        _:u<n>
 *   task_data role 'generated'   wasGeneratedBy  _:g<n>
 *   task/workflow on a host,     wasAssociatedWith  _:a<n>
 *   workflow by its user
 *   task_dep                     wasInformedBy  _:i<n> (informed = task,
 *                                            informant = upstream)
 *   a task's generated data      wasDerivedFrom  _:d<n> (from each data
 *   and its used data                        the same task used)
 *
 * Local names keep letters, digits, '-', '_' and '.', and percent-encode
 * every other byte (so "sha256:ab" becomes data-sha256%3Aab); the mapping
 * is one-to-one, so two data ids never share a name. Times are ISO 8601 in
 * UTC. used, generated and custom are kept as JSON text in string
 * attributes.
 *
 * The document is streamed: each section is one query whose rows are
 * written as they come, so memory does not grow with the store. With
 * --workflow only that workflow's tasks, their data and relations, and
 * the workflow itself are written; relations may then name activities of
 * other workflows (an upstream task), as PROV allows.
 */
#include "cli/cli.h"

#include "core/buf.h"
#include "core/json.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MIDA_PROV_NS "https://mida.dev/ns#"
#define EXPORT_SQL_MAX 2048

static const char export_help[] =
    "usage: mida export prov [--workflow ID] [-o FILE]\n"
    "\n"
    "Writes the store's provenance as W3C PROV-JSON: data as entities,\n"
    "tasks and workflows as activities, users, hosts and mida as agents,\n"
    "and used, wasGeneratedBy, wasAssociatedWith, wasInformedBy (task\n"
    "dependencies) and wasDerivedFrom (outputs from inputs of one task).\n"
    "\n"
    "options:\n"
    "  --workflow ID    only this workflow and its tasks\n"
    "  -o, --output F   write to file F instead of standard output\n"
    "  --store URL      the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida export prov --workflow 0190a4c2-5e1f-7c3a-8d2b-4f6e8a9b0c1d "
    "-o run.json\n";

/* The document being written. */
typedef struct prov_doc {
  FILE *fp;             /* where it goes */
  mida__buf line;       /* one member being formatted */
  int first;            /* 1 before the first member of a section */
  unsigned long long n; /* members written in the current section */
  const char *relation; /* id prefix of the current section, e.g. "u" */
  int rc;               /* MIDA_OK, or the first error */
} prov_doc;

/* Appends a local name: "<kind>-" then text with bytes other than letters,
 * digits, '-', '_', '.' percent-encoded. */
static int add_local(mida__buf *b, const char *kind, const char *text) {
  static const char hex[] = "0123456789ABCDEF";
  int rc = mida__buf_printf(b, "mida:%s-", kind);
  for (const unsigned char *p = (const unsigned char *)text;
       rc == MIDA_OK && *p; p++) {
    int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
    if (keep) {
      rc = mida__buf_add(b, p, 1);
    } else {
      char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      rc = mida__buf_add(b, esc, 3);
    }
  }
  return rc;
}

/* Appends "name": "<qualified name>" (a JSON string). */
static int add_qn(mida__buf *b, const char *name, const char *kind,
                  const char *text) {
  mida__buf qn;
  mida__buf_init(&qn, 1024 * 1024);
  int rc = add_local(&qn, kind, text);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(b, "\"%s\": ", name);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, qn.ptr, qn.len);
  mida__buf_free(&qn);
  return rc;
}

/* Appends , "name": "text" when text is not NULL. */
static int add_attr(mida__buf *b, const char *name, const char *text) {
  if (text == NULL)
    return MIDA_OK;
  int rc = mida__buf_printf(b, ", \"%s\": ", name);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, text, strlen(text));
  return rc;
}

/* Appends , "name": number (or string, if text is not a number). */
static int add_number(mida__buf *b, const char *name, const char *text) {
  if (text == NULL)
    return MIDA_OK;
  int rc = mida__buf_printf(b, ", \"%s\": ", name);
  if (rc == MIDA_OK)
    rc = mida__json_add_cell(b, text);
  return rc;
}

/* Appends , "name": {"$": "<qn>", "type": "prov:QUALIFIED_NAME"}. */
static int add_qn_attr(mida__buf *b, const char *name, const char *kind,
                       const char *text) {
  if (text == NULL)
    return MIDA_OK;
  int rc = mida__buf_printf(b, ", \"%s\": {", name);
  if (rc == MIDA_OK)
    rc = add_qn(b, "$", kind, text);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"type\": \"prov:QUALIFIED_NAME\"}");
  return rc;
}

static int doc_write(prov_doc *d, const char *s, size_t len) {
  if (d->rc == MIDA_OK && len > 0 && fwrite(s, 1, len, d->fp) != len)
    d->rc = MIDA_EIO;
  return d->rc;
}

/* Opens a section: ,\n  "name": { */
static int section_begin(prov_doc *d, const char *name, const char *relation) {
  char head[64];
  int n = snprintf(head, sizeof(head), ",\n  \"%s\": {", name);
  d->first = 1;
  d->n = 0;
  d->relation = relation;
  return doc_write(d, head, (size_t)n);
}

static int section_end(prov_doc *d) {
  return d->first ? doc_write(d, "}", 1) : doc_write(d, "\n  }", 4);
}

/* Starts a member: separator and "id": { . A relation gets "_:<r><n>";
 * otherwise the id is the qualified name of kind and text. */
static int member_begin(prov_doc *d, const char *kind, const char *text) {
  mida__buf_reset(&d->line);
  int rc = mida__buf_adds(&d->line, d->first ? "\n    " : ",\n    ");
  d->first = 0;
  d->n++;
  if (rc != MIDA_OK)
    return rc;
  if (kind == NULL)
    return mida__buf_printf(&d->line, "\"_:%s%llu\": {", d->relation, d->n);
  /* A local name holds no character that JSON would need escaped. */
  rc = mida__buf_add(&d->line, "\"", 1);
  if (rc == MIDA_OK)
    rc = add_local(&d->line, kind, text);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->line, "\": {");
  return rc;
}

static int member_end(prov_doc *d, int rc) {
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->line, "}");
  if (rc == MIDA_OK)
    rc = doc_write(d, d->line.ptr, d->line.len);
  if (rc != MIDA_OK && d->rc == MIDA_OK)
    d->rc = rc;
  return d->rc != MIDA_OK;
}

/* ---- the sections, one row callback each ------------------------------- */

static int entity_row(void *ctx, int ncols, const char *const *names,
                      const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, kind, uri, size, digest */
  int rc = member_begin(d, "data", v[0]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->line, "\"prov:type\": {\"$\": \"mida:data\", "
                                  "\"type\": \"prov:QUALIFIED_NAME\"}");
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:id", v[0]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:kind", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:uri", v[2]);
  if (rc == MIDA_OK)
    rc = add_number(&d->line, "mida:size", v[3]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:digest", v[4]);
  return member_end(d, rc);
}

/* Writes the common head of an activity: its type and times. */
static int activity_head(prov_doc *d, const char *type, const char *started,
                         const char *ended) {
  int rc = mida__buf_printf(&d->line,
                            "\"prov:type\": {\"$\": \"mida:%s\", "
                            "\"type\": \"prov:QUALIFIED_NAME\"}",
                            type);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "prov:startTime", started);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "prov:endTime", ended);
  return rc;
}

static int task_row(void *ctx, int ncols, const char *const *names,
                    const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, activity, status, started, ended, workflow_id, used, generated,
   * custom, error, host, pid, source_key */
  int rc = member_begin(d, "task", v[0]);
  if (rc == MIDA_OK)
    rc = activity_head(d, "task", v[3], v[4]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:activity", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:status", v[2]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->line, "mida:workflow", "workflow", v[5]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:used", v[6]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:generated", v[7]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:custom", v[8]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:error", v[9]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:host", v[10]);
  if (rc == MIDA_OK)
    rc = add_number(&d->line, "mida:pid", v[11]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:sourceKey", v[12]);
  return member_end(d, rc);
}

static int workflow_row(void *ctx, int ncols, const char *const *names,
                        const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, name, source, status, started, ended, campaign_id, parent_id,
   * metadata */
  int rc = member_begin(d, "workflow", v[0]);
  if (rc == MIDA_OK)
    rc = activity_head(d, "workflow", v[4], v[5]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:name", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:source", v[2]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:status", v[3]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->line, "mida:campaign", "campaign", v[6]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->line, "mida:parent", "workflow", v[7]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, "mida:metadata", v[8]);
  return member_end(d, rc);
}

static int agent_row(void *ctx, int ncols, const char *const *names,
                     const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* kind ("host" or "user"), name */
  if (v[0] == NULL || v[1] == NULL)
    return 0;
  int user = strcmp(v[0], "user") == 0;
  int rc = member_begin(d, v[0], v[1]);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&d->line,
                          "\"prov:type\": {\"$\": \"prov:%s\", "
                          "\"type\": \"prov:QUALIFIED_NAME\"}",
                          user ? "Person" : "SoftwareAgent");
  if (rc == MIDA_OK)
    rc = add_attr(&d->line, user ? "mida:user" : "mida:host", v[1]);
  return member_end(d, rc);
}

/* A relation between two qualified names, with an optional role. The
 * columns are: first id, second id, role (or NULL); the section's kinds
 * and attribute names come from ctx's relation descriptor. */
typedef struct relation {
  prov_doc *doc;     /* the document */
  const char *attr1; /* e.g. "prov:activity" */
  const char *kind1; /* e.g. "task" */
  const char *attr2; /* e.g. "prov:entity" */
  const char *kind2; /* e.g. "data" */
  const char *attr3; /* optional third qualified name, or NULL */
  const char *kind3; /* its kind */
  const char *role;  /* attribute for column 3 (a literal), or NULL */
} relation;

static int relation_row(void *ctx, int ncols, const char *const *names,
                        const char *const *v) {
  (void)names;
  relation *r = ctx;
  prov_doc *d = r->doc;
  if (v[0] == NULL || v[1] == NULL)
    return 0;
  int rc = member_begin(d, NULL, NULL);
  if (rc == MIDA_OK)
    rc = add_qn(&d->line, r->attr1, r->kind1, v[0]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->line, ", ");
  if (rc == MIDA_OK)
    rc = add_qn(&d->line, r->attr2, r->kind2, v[1]);
  if (rc == MIDA_OK && ncols > 2 && v[2] != NULL) {
    if (r->attr3 != NULL) {
      rc = mida__buf_adds(&d->line, ", ");
      if (rc == MIDA_OK)
        rc = add_qn(&d->line, r->attr3, r->kind3, v[2]);
    } else if (r->role != NULL) {
      rc = add_attr(&d->line, r->role, v[2]);
    }
  }
  return member_end(d, rc);
}

/* ---- the queries ------------------------------------------------------- */

/* Each query comes in two forms, for the whole store and for one workflow
 * (?1). %s in the text takes the filter clause. */
typedef struct query {
  const char *section;  /* PROV-JSON section, e.g. "entity" */
  const char *relation; /* relation id prefix, or NULL for elements */
  const char *sql;      /* with one %s */
  const char *all;      /* the clause for the whole store */
  const char *one;      /* the clause for workflow ?1 */
} query;

static const query entity_q = {
    "entity", NULL,
    "SELECT x.id, d.kind, d.uri, d.size, d.digest FROM (%s) x"
    " LEFT JOIN data d ON d.id = x.id ORDER BY x.id",
    "SELECT id FROM data UNION SELECT data_id FROM task_data",
    "SELECT DISTINCT td.data_id AS id FROM task t JOIN task_data td"
    " ON td.task_id = t.id WHERE t.workflow_id = ?1"};

static const query task_q = {
    "activity", NULL,
    "SELECT id, activity, status,"
    " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', started / 1e9, 'unixepoch'),"
    " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', ended / 1e9, 'unixepoch'),"
    " workflow_id, used, generated, custom, error, host, pid, source_key"
    " FROM task%s",
    "", " WHERE workflow_id = ?1"};

static const query workflow_q = {
    "activity", NULL,
    "SELECT id, name, source, status,"
    " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', started / 1e9, 'unixepoch'),"
    " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', ended / 1e9, 'unixepoch'),"
    " campaign_id, parent_id, metadata FROM workflow%s",
    "", " WHERE id = ?1"};

static const query agent_q = {
    "agent", NULL,
    /* "user" quoted and the subquery named: PostgreSQL reads a bare user
     * as current_user and wants an alias (the store may be either). */
    "SELECT 'host', host FROM (SELECT host FROM workflow%s UNION"
    " SELECT host FROM task%s) h WHERE host IS NOT NULL"
    " UNION SELECT 'user', \"user\" FROM workflow"
    " WHERE \"user\" IS NOT NULL%s",
    "", ""};

static const query used_q = {
    "used", "u",
    "SELECT td.task_id, td.data_id, td.name FROM task_data td%s"
    " WHERE td.role = 'used'",
    "", " JOIN task t ON t.id = td.task_id AND t.workflow_id = ?1"};

static const query generated_q = {
    "wasGeneratedBy", "g",
    "SELECT td.data_id, td.task_id, td.name FROM task_data td%s"
    " WHERE td.role = 'generated'",
    "", " JOIN task t ON t.id = td.task_id AND t.workflow_id = ?1"};

static const query assoc_task_q = {
    "wasAssociatedWith", "a",
    "SELECT id, host FROM task WHERE host IS NOT NULL%s", "",
    " AND workflow_id = ?1"};

static const query assoc_workflow_q = {
    "wasAssociatedWith", "a",
    "SELECT id, 'host', host FROM workflow WHERE host IS NOT NULL%s"
    " UNION ALL SELECT id, 'user', \"user\" FROM workflow"
    " WHERE \"user\" IS NOT NULL%s"
    " UNION ALL SELECT id, 'mida', 'mida' FROM workflow WHERE TRUE%s",
    "", " AND id = ?1"};

static const query informed_q = {
    "wasInformedBy", "i",
    "SELECT dp.task_id, dp.upstream_id FROM task_dep dp%s", "",
    " JOIN task t ON t.id = dp.task_id AND t.workflow_id = ?1"};

static const query derived_q = {
    "wasDerivedFrom", "d",
    "SELECT g.data_id, u.data_id, g.task_id FROM task_data g"
    " JOIN task_data u ON u.task_id = g.task_id AND u.role = 'used'"
    " AND u.data_id <> g.data_id%s WHERE g.role = 'generated'",
    "", " JOIN task t ON t.id = g.task_id AND t.workflow_id = ?1"};

/* Runs q (its clause repeated for each %s, up to three) with fn. */
static int run_query(mida__sink *sink, const query *q, const char *workflow,
                     mida__row_fn fn, void *ctx) {
  char sql[EXPORT_SQL_MAX];
  const char *clause = workflow != NULL ? q->one : q->all;
  int n = snprintf(sql, sizeof(sql), q->sql, clause, clause, clause);
  if (n < 0 || (size_t)n >= sizeof(sql))
    return MIDA_ETOOBIG;
  const char *params[1] = {workflow};
  return mida__sink_query(sink, sql, params, workflow != NULL ? 1 : 0, fn, ctx);
}

/* The workflow association rows name their agent by kind: host-<name>,
 * user-<name> or the mida agent itself. */
static int assoc_workflow_row(void *ctx, int ncols, const char *const *names,
                              const char *const *v) {
  (void)ncols;
  (void)names;
  relation *r = ctx;
  prov_doc *d = r->doc;
  if (v[0] == NULL || v[1] == NULL || v[2] == NULL)
    return 0;
  int rc = member_begin(d, NULL, NULL);
  if (rc == MIDA_OK)
    rc = add_qn(&d->line, "prov:activity", "workflow", v[0]);
  if (rc == MIDA_OK && strcmp(v[1], "mida") == 0)
    rc = mida__buf_adds(&d->line, ", \"prov:agent\": \"mida:mida\", "
                                  "\"prov:role\": \"recorder\"");
  else if (rc == MIDA_OK) {
    rc = mida__buf_adds(&d->line, ", ");
    if (rc == MIDA_OK)
      rc = add_qn(&d->line, "prov:agent", v[1], v[2]);
  }
  return member_end(d, rc);
}

static int write_doc(mida__sink *sink, prov_doc *d, const char *workflow) {
  int rc = MIDA_OK;
  doc_write(d, "{\n  \"prefix\": {\"mida\": \"" MIDA_PROV_NS "\"}",
            strlen("{\n  \"prefix\": {\"mida\": \"" MIDA_PROV_NS "\"}"));

#define STEP(expr)                                                             \
  do {                                                                         \
    if (rc == MIDA_OK)                                                         \
      rc = (expr);                                                             \
    if (rc == MIDA_OK && d->rc != MIDA_OK)                                     \
      rc = d->rc;                                                              \
  } while (0)

  STEP(section_begin(d, "entity", NULL));
  STEP(run_query(sink, &entity_q, workflow, entity_row, d));
  STEP(section_end(d));

  STEP(section_begin(d, "activity", NULL));
  STEP(run_query(sink, &workflow_q, workflow, workflow_row, d));
  STEP(run_query(sink, &task_q, workflow, task_row, d));
  STEP(section_end(d));

  STEP(section_begin(d, "agent", NULL));
  if (rc == MIDA_OK) {
    /* The software agent that recorded everything. */
    mida__buf_reset(&d->line);
    d->first = 0;
    rc = mida__buf_printf(&d->line,
                          "\n    \"mida:mida\": {\"prov:type\": "
                          "{\"$\": \"prov:SoftwareAgent\", "
                          "\"type\": \"prov:QUALIFIED_NAME\"}, "
                          "\"mida:version\": \"%s\"}",
                          mida_version());
    if (rc == MIDA_OK)
      rc = doc_write(d, d->line.ptr, d->line.len);
  }
  if (rc == MIDA_OK) {
    char sql[EXPORT_SQL_MAX];
    const char *wf = workflow != NULL ? " WHERE id = ?1" : "";
    const char *tk = workflow != NULL ? " WHERE workflow_id = ?1" : "";
    const char *us = workflow != NULL ? " AND id = ?1" : "";
    snprintf(sql, sizeof(sql), agent_q.sql, wf, tk, us);
    const char *params[1] = {workflow};
    STEP(mida__sink_query(sink, sql, params, workflow != NULL ? 1 : 0,
                          agent_row, d));
  }
  STEP(section_end(d));

  relation used = {.doc = d,
                   .attr1 = "prov:activity",
                   .kind1 = "task",
                   .attr2 = "prov:entity",
                   .kind2 = "data",
                   .role = "prov:role"};
  STEP(section_begin(d, "used", "u"));
  STEP(run_query(sink, &used_q, workflow, relation_row, &used));
  STEP(section_end(d));

  relation gen = {.doc = d,
                  .attr1 = "prov:entity",
                  .kind1 = "data",
                  .attr2 = "prov:activity",
                  .kind2 = "task",
                  .role = "prov:role"};
  STEP(section_begin(d, "wasGeneratedBy", "g"));
  STEP(run_query(sink, &generated_q, workflow, relation_row, &gen));
  STEP(section_end(d));

  relation assoc = {.doc = d,
                    .attr1 = "prov:activity",
                    .kind1 = "task",
                    .attr2 = "prov:agent",
                    .kind2 = "host"};
  STEP(section_begin(d, "wasAssociatedWith", "a"));
  STEP(
      run_query(sink, &assoc_workflow_q, workflow, assoc_workflow_row, &assoc));
  STEP(run_query(sink, &assoc_task_q, workflow, relation_row, &assoc));
  STEP(section_end(d));

  relation inf = {.doc = d,
                  .attr1 = "prov:informed",
                  .kind1 = "task",
                  .attr2 = "prov:informant",
                  .kind2 = "task"};
  STEP(section_begin(d, "wasInformedBy", "i"));
  STEP(run_query(sink, &informed_q, workflow, relation_row, &inf));
  STEP(section_end(d));

  relation der = {.doc = d,
                  .attr1 = "prov:generatedEntity",
                  .kind1 = "data",
                  .attr2 = "prov:usedEntity",
                  .kind2 = "data",
                  .attr3 = "prov:activity",
                  .kind3 = "task"};
  STEP(section_begin(d, "wasDerivedFrom", "d"));
  STEP(run_query(sink, &derived_q, workflow, relation_row, &der));
  STEP(section_end(d));
#undef STEP

  if (rc == MIDA_OK)
    rc = doc_write(d, "\n}\n", 3);
  return rc;
}

int mida__cli_export(mida__cli *cli, int argc, char **argv) {
  const char *workflow = NULL;
  const char *output = NULL;
  const mida__cli_opt opts[] = {
      {"--workflow", NULL, &workflow, NULL},
      {"--output", "-o", &output, NULL},
      {NULL, NULL, NULL, NULL},
  };
  const char *pos[1];
  int npos = 0;
  int ex = mida__cli_parse(cli, "export", export_help, opts, argc, argv, pos, 1,
                           1, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (strcmp(pos[0], "prov") != 0)
    return mida__cli_usage_error("export", "unknown format '%s' (known: prov)",
                                 pos[0]);
  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 0, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (workflow != NULL) {
    mida__cli_rows found;
    const char *params[1] = {workflow};
    int rc = mida__cli_fetch(sink, "SELECT id FROM workflow WHERE id = ?1",
                             params, 1, 1, &found);
    size_t n = found.nrows;
    mida__cli_rows_free(&found);
    if (rc != MIDA_OK || n == 0) {
      ex = rc != MIDA_OK ? mida__cli_store_error(sink, rc, "export")
                         : mida__cli_fail("no workflow with id %s", workflow);
      mida__sink_close(sink);
      return ex;
    }
  }

  prov_doc d;
  memset(&d, 0, sizeof(d));
  d.fp = stdout;
  if (output != NULL && strcmp(output, "-") != 0) {
    d.fp = fopen(output, "w");
    if (d.fp == NULL) {
      mida__sink_close(sink);
      return mida__cli_fail("cannot write %s", output);
    }
  }
  mida__buf_init(&d.line, 256u * 1024 * 1024);
  int rc = write_doc(sink, &d, workflow);
  if (rc == MIDA_OK && fflush(d.fp) != 0)
    rc = MIDA_EIO;
  if (d.fp != stdout && fclose(d.fp) != 0 && rc == MIDA_OK)
    rc = MIDA_EIO;
  if (rc != MIDA_OK && d.fp != stdout)
    unlink(output); /* a partial document is worse than none */
  if (rc == MIDA_EIO || rc == MIDA_ENOMEM || rc == MIDA_ETOOBIG)
    ex = mida__cli_fail("export: %s", mida_strerror(rc));
  else if (rc != MIDA_OK)
    ex = mida__cli_store_error(sink, rc, "export");
  else
    ex = MIDA_CLI_OK;
  mida__buf_free(&d.line);
  mida__sink_close(sink);
  return ex;
}

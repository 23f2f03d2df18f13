/*
 * prov.c -- the store as W3C PROV-JSON
 * (https://www.w3.org/submissions/prov-json/), for `mida export prov` and
 * the HTTP API.
 *
 * The mapping (DESIGN.md, "Data model"):
 *
 *   data                         entity      mida:data-<id>
 *   metric series K of task T    entity      mida:metric-<T>%2F<K>: its
 *                                            last value (that of the last
 *                                            step, else of the last time),
 *                                            step, time and point count
 *   campaign                     activity    mida:campaign-<id>: its name,
 *                                            creation time and metadata
 *   task                         activity    mida:task-<id> (its campaign:
 *                                            its own, else its workflow's)
 *   workflow                     activity    mida:workflow-<id> (a failed
 *                                            one's mida:error: its root
 *                                            task's, workflow_error.h)
 *   workflow user, hosts, mida   agent       mida:user-<name>,
 *                                            mida:host-<name>, mida:mida
 *   task_data role 'used'        used        mida:u<n>
 *   task_data role 'generated',  wasGeneratedBy  mida:g<n>
 *   a task's metric series
 *   task/workflow on a host,     wasAssociatedWith  mida:a<n>
 *   workflow by its user
 *   task_dep                     wasInformedBy  mida:i<n> (informed = task,
 *                                            informant = upstream)
 *   a task's generated data      wasDerivedFrom  mida:d<n> (from each data
 *   and its used data                        the same task used)
 *
 * Relations have identifiers of their own (mida:u1, ...), not blank ones:
 * `prov` merges blank-node qualified relations of one activity when it
 * reads PROV-O back, so only named relations round-trip without loss.
 *
 * Local names keep letters, digits, '-', '_' and '.', and percent-encode
 * every other byte (so "sha256:ab" becomes data-sha256%3Aab); the mapping
 * is one-to-one, so two data ids never share a name. Times are ISO 8601 in
 * UTC. used, generated and custom are kept as JSON text in string
 * attributes. Numbers (size, pid) are written as the store gives them,
 * which is their shortest round-trip form (core/number.h).
 *
 * The document is streamed: each section is one query whose rows are
 * written as they come, so memory does not grow with the store. With a
 * workflow or campaign scope only its tasks, their data and relations, and
 * its workflows are written; relations may then name activities outside
 * the scope (an upstream task), as PROV allows.
 */
#include "report/metric_series.h"
#include "report/report_int.h"
#include "report/workflow_error.h"
#include "report/workflow_status.h"

#include "core/buf.h"
#include "core/json.h"
#include "mida.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MIDA_PROV_NS MIDA_REPORT_NS

/* The document being written. */
typedef struct prov_doc {
  mida__rout out;       /* where it goes; out.piece holds one member */
  int first;            /* 1 before the first member of a section */
  unsigned long long n; /* members written in the current section */
  const char *relation; /* id prefix of the current section, e.g. "u" */
  int rc;               /* MIDA_OK, or the first error */
  uint64_t entities;    /* data entities written */
  uint64_t workflows;   /* workflow activities written */
  uint64_t tasks;       /* task activities written */
  uint64_t total_tasks; /* tasks in the scope, for progress */
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
  if (d->rc == MIDA_OK)
    d->rc = mida__rout_write(&d->out, s, len);
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

/* Starts a member: separator and "id": { . A relation gets "mida:<r><n>";
 * otherwise the id is the qualified name of kind and text. */
static int member_begin(prov_doc *d, const char *kind, const char *text) {
  mida__buf_reset(&d->out.piece);
  int rc = mida__buf_adds(&d->out.piece, d->first ? "\n    " : ",\n    ");
  d->first = 0;
  d->n++;
  if (rc != MIDA_OK)
    return rc;
  if (kind == NULL)
    return mida__buf_printf(&d->out.piece, "\"mida:%s%llu\": {", d->relation,
                            d->n);
  /* A local name holds no character that JSON would need escaped. */
  rc = mida__buf_add(&d->out.piece, "\"", 1);
  if (rc == MIDA_OK)
    rc = add_local(&d->out.piece, kind, text);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->out.piece, "\": {");
  return rc;
}

/* Starts a member of mida's kind (data, metric, campaign...) named by
 * text: its id and its prov:type mida:<kind>. */
static int typed_member_begin(prov_doc *d, const char *kind,
                              const char *text) {
  int rc = member_begin(d, kind, text);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&d->out.piece,
                          "\"prov:type\": {\"$\": \"mida:%s\", "
                          "\"type\": \"prov:QUALIFIED_NAME\"}",
                          kind);
  return rc;
}

static int member_end(prov_doc *d, int rc) {
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->out.piece, "}");
  if (d->rc == MIDA_OK)
    d->rc = mida__rout_flush(&d->out, rc);
  return d->rc != MIDA_OK;
}

/* ---- the sections, one row callback each ------------------------------- */

static int entity_row(void *ctx, int ncols, const char *const *names,
                      const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, kind, uri, size, digest */
  d->entities++;
  int rc = typed_member_begin(d, "data", v[0]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:id", v[0]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:kind", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:uri", v[2]);
  if (rc == MIDA_OK)
    rc = add_number(&d->out.piece, "mida:size", v[3]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:digest", v[4]);
  return member_end(d, rc);
}

/* A metric series of a task: its last point and how many it has. */
static int metric_row(void *ctx, int ncols, const char *const *names,
                      const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* task_id || '/' || key, task_id, key, points, value, step, ts */
  if (v[0] == NULL)
    return 0;
  char iso[40];
  int rc = typed_member_begin(d, "metric", v[0]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->out.piece, "mida:task", "task", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:key", v[2]);
  if (rc == MIDA_OK)
    rc = add_number(&d->out.piece, "mida:points", v[3]);
  /* NaN is stored as NULL (SQLite has no NaN REAL). */
  if (rc == MIDA_OK)
    rc = add_number(&d->out.piece, "mida:value", v[4] != NULL ? v[4] : "NaN");
  if (rc == MIDA_OK)
    rc = add_number(&d->out.piece, "mida:step", v[5]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:time", mida__report_iso_time(v[6], iso));
  return member_end(d, rc);
}

/* A campaign: the activity its workflows are part of (mida:campaign). */
static int campaign_row(void *ctx, int ncols, const char *const *names,
                        const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, name, created, metadata */
  if (v[0] == NULL)
    return 0;
  char iso[40];
  int rc = typed_member_begin(d, "campaign", v[0]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:id", v[0]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:name", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:created",
                  mida__report_iso_time(v[2], iso));
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:metadata", v[3]);
  return member_end(d, rc);
}

/* Starts an activity of mida's kind (task, workflow) named by id: its
 * type and times. */
static int activity_begin(prov_doc *d, const char *kind, const char *id,
                          const char *started, const char *ended) {
  int rc = typed_member_begin(d, kind, id);
  char t0[40], t1[40];
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "prov:startTime",
                  mida__report_iso_time(started, t0));
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "prov:endTime",
                  mida__report_iso_time(ended, t1));
  return rc;
}

static int task_row(void *ctx, int ncols, const char *const *names,
                    const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, activity, status, started, ended, workflow_id, used, generated,
   * custom, error, host, pid, source_key, campaign */
  d->tasks++;
  mida__report_io *io = d->out.io;
  if (io->progress != NULL &&
      (d->tasks % 4096 == 0 || d->tasks == d->total_tasks))
    io->progress(io->progress_ctx, "tasks", d->tasks, d->total_tasks);
  int rc = activity_begin(d, "task", v[0], v[3], v[4]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:activity", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:status", v[2]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->out.piece, "mida:workflow", "workflow", v[5]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:used", v[6]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:generated", v[7]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:custom", v[8]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:error", v[9]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:host", v[10]);
  if (rc == MIDA_OK)
    rc = add_number(&d->out.piece, "mida:pid", v[11]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:sourceKey", v[12]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->out.piece, "mida:campaign", "campaign", v[13]);
  return member_end(d, rc);
}

static int workflow_row(void *ctx, int ncols, const char *const *names,
                        const char *const *v) {
  (void)ncols;
  (void)names;
  prov_doc *d = ctx;
  /* id, name, source, status, started, ended, campaign_id, parent_id,
   * metadata, error */
  d->workflows++;
  int rc = activity_begin(d, "workflow", v[0], v[4], v[5]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:name", v[1]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:source", v[2]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:status", v[3]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->out.piece, "mida:campaign", "campaign", v[6]);
  if (rc == MIDA_OK)
    rc = add_qn_attr(&d->out.piece, "mida:parent", "workflow", v[7]);
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, "mida:metadata", v[8]);
  if (rc == MIDA_OK && v[3] != NULL && strcmp(v[3], "ERROR") == 0)
    rc = add_attr(&d->out.piece, "mida:error", v[9]); /* workflow_error.h */
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
    rc = mida__buf_printf(&d->out.piece,
                          "\"prov:type\": {\"$\": \"prov:%s\", "
                          "\"type\": \"prov:QUALIFIED_NAME\"}",
                          user ? "Person" : "SoftwareAgent");
  if (rc == MIDA_OK)
    rc = add_attr(&d->out.piece, user ? "mida:user" : "mida:host", v[1]);
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
    rc = add_qn(&d->out.piece, r->attr1, r->kind1, v[0]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&d->out.piece, ", ");
  if (rc == MIDA_OK)
    rc = add_qn(&d->out.piece, r->attr2, r->kind2, v[1]);
  if (rc == MIDA_OK && ncols > 2 && v[2] != NULL) {
    if (r->attr3 != NULL) {
      rc = mida__buf_adds(&d->out.piece, ", ");
      if (rc == MIDA_OK)
        rc = add_qn(&d->out.piece, r->attr3, r->kind3, v[2]);
    } else if (r->role != NULL) {
      rc = add_attr(&d->out.piece, r->role, v[2]);
    }
  }
  return member_end(d, rc);
}

/* ---- the queries ------------------------------------------------------- */

/* In each, {t} is the scope's condition on task t, {w} on workflow w
 * (common.c); a relation of the whole store keeps rows whose task is not
 * (yet) in the store, as the condition is then "1 = 1". */

static const char entity_all_sql[] =
    "SELECT x.id, d.kind, d.uri, d.size, d.digest FROM (SELECT id FROM data"
    " UNION SELECT data_id FROM task_data) x LEFT JOIN data d ON d.id = x.id"
    " ORDER BY x.id";

static const char entity_sql[] =
    "SELECT x.id, d.kind, d.uri, d.size, d.digest FROM (SELECT DISTINCT"
    " td.data_id AS id FROM task t JOIN task_data td ON td.task_id = t.id"
    " WHERE {t}) x LEFT JOIN data d ON d.id = x.id ORDER BY x.id";

static const char task_sql[] =
    "SELECT t.id, t.activity, t.status, t.started, t.ended, t.workflow_id,"
    " t.used, t.generated, t.custom, t.error, t.host, t.pid, t.source_key,"
    " coalesce(t.campaign_id, w.campaign_id) FROM task t"
    " LEFT JOIN workflow w ON w.id = t.workflow_id WHERE {t} ORDER BY t.id";

/* The campaigns of the scope: those its workflows and tasks name (one
 * that the store has no row for is still written, by its id), and, for
 * the whole store, every campaign. */
static const char campaign_sql[] =
    "SELECT x.id, c.name, c.created, c.metadata FROM (SELECT w.campaign_id"
    " AS id FROM workflow w WHERE w.campaign_id IS NOT NULL AND {w}"
    " UNION SELECT t.campaign_id FROM task t WHERE t.campaign_id IS NOT NULL"
    " AND {t}) x LEFT JOIN campaign c ON c.id = x.id ORDER BY x.id";

static const char campaign_all_sql[] =
    "SELECT x.id, c.name, c.created, c.metadata FROM (SELECT id FROM"
    " campaign UNION SELECT campaign_id FROM workflow WHERE campaign_id IS"
    " NOT NULL UNION SELECT campaign_id FROM task WHERE campaign_id IS NOT"
    " NULL) x LEFT JOIN campaign c ON c.id = x.id ORDER BY x.id";

/* Each metric series of the scope's tasks, with its last point
 * (metric_series.h). */
static const char metric_sql[] =
    "SELECT s.task_id || '/' || s.key, s.task_id, s.key, s.points, s.value,"
    " s.step, s.ts FROM (" MIDA_METRIC_SERIES_SQL ") s"
    " ORDER BY s.task_id, s.key";

/* The metric series as generated by their tasks. */
static const char metric_generated_sql[] =
    "SELECT m.task_id || '/' || m.key, m.task_id FROM metric m JOIN task t"
    " ON t.id = m.task_id WHERE {t} GROUP BY m.task_id, m.key"
    " ORDER BY m.task_id, m.key";

static const char workflow_sql[] =
    "SELECT w.id, w.name, w.source, " MIDA_WORKFLOW_STATUS_SQL ","
    " w.started, w.ended,"
    " w.campaign_id, w.parent_id, w.metadata, " MIDA_WORKFLOW_ERROR_SQL
    " FROM workflow w WHERE {w} ORDER BY w.id";

/* "user" quoted and the subquery named: PostgreSQL reads a bare user as
 * current_user and wants an alias (the store may be either). */
static const char agent_sql[] =
    "SELECT 'host', host FROM (SELECT w.host FROM workflow w WHERE {w}"
    " UNION SELECT t.host FROM task t WHERE {t}) h WHERE host IS NOT NULL"
    " UNION SELECT 'user', w.\"user\" FROM workflow w"
    " WHERE w.\"user\" IS NOT NULL AND {w} ORDER BY 1, 2";

/* Relations are numbered in the order read (u1, u2...): each query has an
 * ORDER BY so that both stores number them alike, as the entities,
 * activities and agents are written in one order (until 2026-12-06 the
 * tasks, workflows and associations came in the order the store read
 * them, on PostgreSQL the order of its heap, which an update changes). */
static const char used_sql[] =
    "SELECT td.task_id, td.data_id, td.name FROM task_data td LEFT JOIN task t"
    " ON t.id = td.task_id WHERE td.role = 'used' AND {t}"
    " ORDER BY td.task_id, td.data_id";

static const char generated_sql[] =
    "SELECT td.data_id, td.task_id, td.name FROM task_data td LEFT JOIN task t"
    " ON t.id = td.task_id WHERE td.role = 'generated' AND {t}"
    " ORDER BY td.task_id, td.data_id";

static const char assoc_task_sql[] =
    "SELECT t.id, t.host FROM task t WHERE t.host IS NOT NULL AND {t}"
    " ORDER BY t.id";

static const char assoc_workflow_sql[] =
    "SELECT w.id, 'host', w.host FROM workflow w WHERE w.host IS NOT NULL"
    " AND {w} UNION ALL SELECT w.id, 'user', w.\"user\" FROM workflow w"
    " WHERE w.\"user\" IS NOT NULL AND {w}"
    " UNION ALL SELECT w.id, 'mida', 'mida' FROM workflow w WHERE {w}"
    " ORDER BY 2, 1";

static const char informed_sql[] =
    "SELECT dp.task_id, dp.upstream_id FROM task_dep dp LEFT JOIN task t"
    " ON t.id = dp.task_id WHERE {t} ORDER BY dp.task_id, dp.upstream_id";

static const char derived_sql[] =
    "SELECT g.data_id, u.data_id, g.task_id FROM task_data g"
    " JOIN task_data u ON u.task_id = g.task_id AND u.role = 'used'"
    " AND u.data_id <> g.data_id LEFT JOIN task t ON t.id = g.task_id"
    " WHERE g.role = 'generated' AND {t}"
    " ORDER BY g.task_id, g.data_id, u.data_id";

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
    rc = add_qn(&d->out.piece, "prov:activity", "workflow", v[0]);
  if (rc == MIDA_OK && strcmp(v[1], "mida") == 0)
    rc = mida__buf_adds(&d->out.piece, ", \"prov:agent\": \"mida:mida\", "
                                  "\"prov:role\": \"recorder\"");
  else if (rc == MIDA_OK) {
    rc = mida__buf_adds(&d->out.piece, ", ");
    if (rc == MIDA_OK)
      rc = add_qn(&d->out.piece, "prov:agent", v[1], v[2]);
  }
  return member_end(d, rc);
}

static int write_doc(mida__sink *sink, prov_doc *d,
                     const mida__report_scope *scope) {
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
#define QUERY(sql, fn, ctx) mida__report_query(sink, scope, sql, fn, ctx)

  STEP(section_begin(d, "entity", NULL));
  STEP(QUERY(mida__report_scope_all(scope) ? entity_all_sql : entity_sql,
             entity_row, d));
  STEP(QUERY(metric_sql, metric_row, d));
  STEP(section_end(d));

  STEP(section_begin(d, "activity", NULL));
  STEP(QUERY(mida__report_scope_all(scope) ? campaign_all_sql : campaign_sql,
             campaign_row, d));
  STEP(QUERY(workflow_sql, workflow_row, d));
  STEP(QUERY(task_sql, task_row, d));
  STEP(section_end(d));

  STEP(section_begin(d, "agent", NULL));
  if (rc == MIDA_OK) {
    /* The software agent that recorded everything. */
    mida__buf_reset(&d->out.piece);
    d->first = 0;
    rc = mida__buf_printf(&d->out.piece,
                          "\n    \"mida:mida\": {\"prov:type\": "
                          "{\"$\": \"prov:SoftwareAgent\", "
                          "\"type\": \"prov:QUALIFIED_NAME\"}, "
                          "\"mida:version\": \"%s\"}",
                          mida_version());
    rc = mida__rout_flush(&d->out, rc);
  }
  STEP(QUERY(agent_sql, agent_row, d));
  STEP(section_end(d));

  relation used = {.doc = d,
                   .attr1 = "prov:activity",
                   .kind1 = "task",
                   .attr2 = "prov:entity",
                   .kind2 = "data",
                   .role = "prov:role"};
  STEP(section_begin(d, "used", "u"));
  STEP(QUERY(used_sql, relation_row, &used));
  STEP(section_end(d));

  relation gen = {.doc = d,
                  .attr1 = "prov:entity",
                  .kind1 = "data",
                  .attr2 = "prov:activity",
                  .kind2 = "task",
                  .role = "prov:role"};
  STEP(section_begin(d, "wasGeneratedBy", "g"));
  STEP(QUERY(generated_sql, relation_row, &gen));
  gen.kind1 = "metric";
  STEP(QUERY(metric_generated_sql, relation_row, &gen));
  STEP(section_end(d));

  relation assoc = {.doc = d,
                    .attr1 = "prov:activity",
                    .kind1 = "task",
                    .attr2 = "prov:agent",
                    .kind2 = "host"};
  STEP(section_begin(d, "wasAssociatedWith", "a"));
  STEP(QUERY(assoc_workflow_sql, assoc_workflow_row, &assoc));
  STEP(QUERY(assoc_task_sql, relation_row, &assoc));
  STEP(section_end(d));

  relation inf = {.doc = d,
                  .attr1 = "prov:informed",
                  .kind1 = "task",
                  .attr2 = "prov:informant",
                  .kind2 = "task"};
  STEP(section_begin(d, "wasInformedBy", "i"));
  STEP(QUERY(informed_sql, relation_row, &inf));
  STEP(section_end(d));

  relation der = {.doc = d,
                  .attr1 = "prov:generatedEntity",
                  .kind1 = "data",
                  .attr2 = "prov:usedEntity",
                  .kind2 = "data",
                  .attr3 = "prov:activity",
                  .kind3 = "task"};
  STEP(section_begin(d, "wasDerivedFrom", "d"));
  STEP(QUERY(derived_sql, relation_row, &der));
  STEP(section_end(d));
#undef QUERY
#undef STEP

  if (rc == MIDA_OK)
    rc = doc_write(d, "\n}\n", 3);
  return rc;
}

int mida__report_prov(mida__sink *sink, const mida__report_scope *scope,
                      mida__report_io *io, mida__report_stats *stats) {
  prov_doc d;
  memset(&d, 0, sizeof(d));
  io->errmsg[0] = '\0';
  mida__rout_init(&d.out, io);
  if (io->progress != NULL)
    d.total_tasks = mida__report_count(sink, scope,
                                       "SELECT count(*) FROM task t WHERE {t}");
  int rc = write_doc(sink, &d, scope);
  if (stats != NULL) {
    memset(stats, 0, sizeof *stats);
    stats->tasks = d.tasks;
    stats->workflows = d.workflows;
    stats->data = d.entities;
  }
  mida__rout_free(&d.out);
  return rc;
}

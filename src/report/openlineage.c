/*
 * openlineage.c -- the store as OpenLineage RunEvents
 * (https://openlineage.io/spec/2-0-2/OpenLineage.json), one JSON object a
 * line, for `mida export openlineage` (which may POST each one to an
 * OpenLineage endpoint such as Marquez) and the HTTP API.
 *
 * The mapping:
 *
 *   workflow W    a run (runId = W's id) of the job
 *                 {namespace "mida", name = W's name}; its parent
 *                 workflow, if any, in the parent run facet
 *   task T        a run (runId = T's id) of the job {namespace "mida",
 *                 name "<workflow name>.<activity>"}; parent run facet:
 *                 its parent task when the store has it (a `mida run`
 *                 command, an MLflow parent run), else its workflow
 *   status        START at the start; at the end COMPLETE (FINISHED),
 *                 FAIL (ERROR, with the error message facet: a task's
 *                 error; a workflow's, that of its root task,
 *                 workflow_error.h; LOST, which never ends, with its
 *                 reason) or ABORT (CANCELLED); a run without an end has
 *                 START only
 *   used data     inputs; generated data: outputs (in the end event)
 *   data naming   file:///p -> namespace "file", name "/p" (decoded;
 *                 a path that is not UTF-8: name = the whole URI);
 *                 scheme://host/p -> "scheme://host", "/p"; anything else
 *                 -> namespace "mida", name = the data's id. The digest
 *                 is the dataset version facet; size and kind are in the
 *                 "mida" dataset facet
 *   parameters    the executionParameters run facet (used, as strings)
 *   metrics       mida's custom run facet mida_metrics (its schema:
 *                 docs/openlineage/MidaMetricsRunFacet.json): each metric
 *                 series of a task with its last point (key, value, step,
 *                 time, points), in the task's end event; a task without
 *                 an end that has some gets a RUNNING event with them, at
 *                 the time of its latest point
 *   the rest      job type facet (BATCH, integration = the source in
 *                 capitals, WORKFLOW or TASK), processing engine facet
 *                 (mida and its version), and the "mida" run facet: the
 *                 workflow's source and user, the run's status, campaign
 *                 (a task's, else its workflow's: its id, and its name as
 *                 campaignName) and host
 *
 * Each event is one call of io->write (report.h). Workflows come first,
 * then tasks in id order; each from one streamed query.
 */
#include "report/report_int.h"
#include "report/workflow_error.h"

#include "core/fileid.h"
#include "core/json.h"
#include "core/utf8.h"
#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OL_SPEC "https://openlineage.io/spec/"
#define OL_EVENT OL_SPEC "2-0-2/OpenLineage.json#/$defs/RunEvent"
#define OL_PARENT                                                              \
  OL_SPEC "facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
#define OL_ERROR                                                             \
  OL_SPEC "facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
#define OL_ENGINE                                                            \
  OL_SPEC "facets/1-1-1/ProcessingEngineRunFacet.json"                       \
          "#/$defs/ProcessingEngineRunFacet"
#define OL_PARAMS                                                            \
  OL_SPEC "facets/1-0-0/ExecutionParametersRunFacet.json"                    \
          "#/$defs/ExecutionParametersRunFacet"
#define OL_JOBTYPE                                                             \
  OL_SPEC "facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
#define OL_VERSION                                                           \
  OL_SPEC "facets/1-0-1/DatasetVersionDatasetFacet.json"                     \
          "#/$defs/DatasetVersionDatasetFacet"
#define MIDA_RUN_FACET                                                         \
  "https://mida.dev/spec/facets/1-0-0/MidaRunFacet.json#/$defs/MidaRunFacet"
#define MIDA_DATASET_FACET                                                     \
  "https://mida.dev/spec/facets/1-0-0/MidaDatasetFacet.json"                   \
  "#/$defs/MidaDatasetFacet"
#define MIDA_METRICS_FACET                                                     \
  "https://mida.dev/spec/facets/1-0-0/MidaMetricsRunFacet.json"                \
  "#/$defs/MidaMetricsRunFacet"
#define NAMESPACE "mida"

typedef struct ol {
  mida__rout out;             /* the events */
  mida__report_stats *stats;  /* counts */
  char producer[128];         /* the producer URI */
} ol;

/* Appends "key": "text" (after a comma unless first). */
static int add_str(mida__buf *b, const char *key, const char *text,
                   int comma) {
  int rc = mida__buf_printf(b, "%s\"%s\": ", comma ? ", " : "", key);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, text != NULL ? text : "",
                               text != NULL ? strlen(text) : 0);
  return rc;
}

static int add_facet_head(ol *o, mida__buf *b, const char *name,
                          const char *schema, int comma) {
  return mida__buf_printf(b,
                          "%s\"%s\": {\"_producer\": \"%s\", "
                          "\"_schemaURL\": \"%s\"",
                          comma ? ", " : "", name, o->producer, schema);
}

/* The end event's type for a status, or NULL for a run still going. */
static const char *end_type(const char *status, const char *ended) {
  if (status == NULL)
    return NULL;
  if (strcmp(status, "FINISHED") == 0)
    return "COMPLETE";
  /* LOST: its process ended before it did (docs/reliability.md); it will
   * never end, and a START alone would read as a run still going. */
  if (strcmp(status, "ERROR") == 0 || strcmp(status, "LOST") == 0)
    return "FAIL";
  if (strcmp(status, "CANCELLED") == 0)
    return "ABORT";
  (void)ended;
  return NULL;
}

/* Appends a dataset: namespace and name from the URI (see the header). */
static int add_dataset(ol *o, mida__buf *b, const mida__report_link *l) {
  const char *uri = l->uri != NULL ? l->uri : l->id;
  const char *sep = uri != NULL ? strstr(uri, "://") : NULL;
  int rc;
  if (sep != NULL && strncmp(uri, "file://", 7) == 0) {
    /* The path as other producers name a file: decoded ("/d/a b", not
     * "/d/a%20b"; a file literally named "a%20b" is "/d/a%20b"), so that
     * datasets join across them. A path that is not UTF-8 cannot be
     * written decoded (JSON would make each byte that is not U+FFFD, and
     * two files that differ only there would be one dataset), nor by its
     * escapes in the same form ("/d/caf%E9" is also the decoded name of
     * the file literally named "caf%E9"): it is named by its whole URI
     * ("file:///d/caf%E9"), as is one that fits no buffer or another
     * host's. A decoded name starts with '/', a URI with "file:": two
     * files never share a name. */
    char path[4096];
    int decoded = mida__file_uri_path(uri, path, sizeof path) == MIDA_OK &&
                  mida__utf8_valid(path);
    rc = add_str(b, "namespace", "file", 0);
    if (rc == MIDA_OK)
      rc = add_str(b, "name", decoded ? path : uri, 1);
  } else if (sep != NULL) {
    const char *path = strchr(sep + 3, '/');
    mida__buf ns;
    mida__buf_init(&ns, 4096);
    rc = mida__buf_add(&ns, uri,
                       path != NULL ? (size_t)(path - uri) : strlen(uri));
    if (rc == MIDA_OK)
      rc = add_str(b, "namespace", mida__buf_str(&ns), 0);
    if (rc == MIDA_OK)
      rc = add_str(b, "name", path != NULL ? path : "/", 1);
    mida__buf_free(&ns);
  } else {
    rc = add_str(b, "namespace", NAMESPACE, 0);
    if (rc == MIDA_OK)
      rc = add_str(b, "name", l->id, 1);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"facets\": {");
  int comma = 0;
  if (rc == MIDA_OK && l->digest != NULL) {
    rc = add_facet_head(o, b, "version", OL_VERSION, 0);
    if (rc == MIDA_OK)
      rc = add_str(b, "datasetVersion", l->digest, 1);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}");
    comma = 1;
  }
  if (rc == MIDA_OK)
    rc = add_facet_head(o, b, "mida", MIDA_DATASET_FACET, comma);
  if (rc == MIDA_OK)
    rc = add_str(b, "id", l->id, 1);
  if (rc == MIDA_OK && l->kind != NULL)
    rc = add_str(b, "kind", l->kind, 1);
  if (rc == MIDA_OK && l->size != NULL && mida__json_is_number(l->size))
    rc = mida__buf_printf(b, ", \"size\": %s", l->size);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}}");
  return rc;
}

/* Appends "inputs"/"outputs" lists of the links with role generated. */
static int add_datasets(ol *o, mida__buf *b, const mida__report_task *t,
                        int generated) {
  int rc = mida__buf_adds(b, generated ? ", \"outputs\": ["
                                       : ", \"inputs\": [");
  int first = 1;
  for (size_t i = 0; t != NULL && i < t->nlinks && rc == MIDA_OK; i++) {
    if (t->links[i].generated != generated)
      continue;
    rc = mida__buf_adds(b, first ? "{" : ", {");
    first = 0;
    if (rc == MIDA_OK)
      rc = add_dataset(o, b, &t->links[i]);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}");
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "]");
  return rc;
}

/* One member of used: an execution parameter. */
static int param_member(void *ctx, const mida__json_member *m) {
  mida__buf *b = ctx;
  int rc = mida__buf_adds(b, b->ptr[b->len - 1] == '[' ? "{\"key\": "
                                                       : ", {\"key\": ");
  mida__buf text;
  mida__buf_init(&text, MIDA_REPORT_PIECE_MAX);
  if (rc == MIDA_OK)
    rc = mida__json_add_unquoted(&text, m->key - 1, m->key_len + 2);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, mida__buf_str(&text), text.len);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"value\": ");
  mida__buf_reset(&text);
  if (rc == MIDA_OK)
    rc = mida__json_add_unquoted(&text, m->value, m->value_len);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, mida__buf_str(&text), text.len);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  mida__buf_free(&text);
  return rc;
}

/* Appends the mida_metrics run facet of task t: its metric series. */
static int add_metrics_facet(ol *o, mida__buf *b, const mida__report_task *t) {
  int rc = add_facet_head(o, b, "mida_metrics", MIDA_METRICS_FACET, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"metrics\": [");
  for (size_t i = 0; i < t->nmetrics && rc == MIDA_OK; i++) {
    const mida__report_metric *m = &t->metrics[i];
    char iso[40];
    rc = mida__buf_adds(b, i > 0 ? ", {" : "{");
    if (rc == MIDA_OK)
      rc = add_str(b, "key", m->key, 0);
    /* NaN is stored as NULL (SQLite has no NaN REAL); JSON has no NaN. */
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ", \"value\": ");
    if (rc == MIDA_OK)
      rc = mida__json_add_cell(b, m->value != NULL ? m->value : "NaN");
    if (rc == MIDA_OK && m->step != NULL && mida__json_is_number(m->step))
      rc = mida__buf_printf(b, ", \"step\": %s", m->step);
    if (rc == MIDA_OK)
      rc = add_str(b, "time", mida__report_iso_time(m->ts, iso), 1);
    if (rc == MIDA_OK)
      rc = mida__buf_printf(b, ", \"points\": %s",
                            m->points != NULL ? m->points : "0");
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}");
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "]}");
  return rc;
}

/* The time of task t's latest metric point (ns text), or NULL. */
static const char *latest_metric_time(const mida__report_task *t) {
  const char *latest = NULL;
  for (size_t i = 0; t != NULL && i < t->nmetrics; i++) {
    const char *ts = t->metrics[i].ts;
    if (ts != NULL &&
        (latest == NULL || strtoll(ts, NULL, 10) > strtoll(latest, NULL, 10)))
      latest = ts;
  }
  return latest;
}

/* What one event says about its run. */
typedef struct run_desc {
  const char *id, *job, *source, *status, *started, *ended, *error;
  const char *parent_id, *parent_job; /* the parent run, or NULL */
  const char *used;                   /* parameters (JSON), or NULL */
  const char *campaign, *host, *user; /* for the mida facet */
  const char *campaign_name;          /* the campaign's name, or NULL */
  const char *kind;                   /* "WORKFLOW" or "TASK" */
  const mida__report_task *task;      /* links, or NULL */
} run_desc;

/* Writes one event of run r: START, its end event, or RUNNING (a run
 * without an end, with the metrics it has). */
static int write_event(ol *o, const run_desc *r, const char *type) {
  mida__buf *b = &o->out.piece;
  int start = strcmp(type, "START") == 0;
  int running = strcmp(type, "RUNNING") == 0;
  char iso[40];
  const char *when = mida__report_iso_time(
      start ? r->started : running ? latest_metric_time(r->task) : r->ended,
      iso);
  if (when == NULL)
    when = mida__report_iso_time(start ? r->ended : r->started, iso);
  if (when == NULL)
    when = "1970-01-01T00:00:00.000Z"; /* the store has no time for it */
  int rc = mida__buf_printf(b, "{\"eventType\": \"%s\"", type);
  if (rc == MIDA_OK)
    rc = add_str(b, "eventTime", when, 1);
  if (rc == MIDA_OK)
    rc = add_str(b, "producer", o->producer, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"schemaURL\": \"" OL_EVENT "\"");
  /* run */
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"run\": {");
  if (rc == MIDA_OK)
    rc = add_str(b, "runId", r->id, 0);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"facets\": {");
  if (rc == MIDA_OK)
    rc = add_facet_head(o, b, "processing_engine", OL_ENGINE, 0);
  if (rc == MIDA_OK)
    rc = add_str(b, "name", "mida", 1);
  if (rc == MIDA_OK)
    rc = add_str(b, "version", mida_version(), 1);
  if (rc == MIDA_OK)
    rc = add_str(b, "openlineageAdapterVersion", mida_version(), 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  if (rc == MIDA_OK && r->parent_id != NULL) {
    rc = add_facet_head(o, b, "parent", OL_PARENT, 1);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ", \"run\": {");
    if (rc == MIDA_OK)
      rc = add_str(b, "runId", r->parent_id, 0);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}, \"job\": {");
    if (rc == MIDA_OK)
      rc = add_str(b, "namespace", NAMESPACE, 0);
    if (rc == MIDA_OK)
      rc = add_str(b, "name", r->parent_job, 1);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}}");
  }
  if (rc == MIDA_OK && r->used != NULL) {
    rc = add_facet_head(o, b, "executionParameters", OL_PARAMS, 1);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ", \"parameters\": [");
    if (rc == MIDA_OK) {
      rc = mida__json_each_member(r->used, strlen(r->used), param_member, b);
      if (rc == MIDA_EJSON)
        rc = MIDA_OK; /* not an object: no parameters */
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "]}");
  }
  if (rc == MIDA_OK && !start && strcmp(type, "FAIL") == 0) {
    rc = add_facet_head(o, b, "errorMessage", OL_ERROR, 1);
    const char *why = mida__report_failure(r->status, r->error);
    if (rc == MIDA_OK)
      rc = add_str(b, "message", why != NULL ? why : "failed (no message)",
                   1);
    if (rc == MIDA_OK)
      rc = add_str(b, "programmingLanguage", "unknown", 1);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}");
  }
  if (rc == MIDA_OK && !start && r->task != NULL && r->task->nmetrics > 0)
    rc = add_metrics_facet(o, b, r->task);
  if (rc == MIDA_OK)
    rc = add_facet_head(o, b, "mida", MIDA_RUN_FACET, 1);
  if (rc == MIDA_OK && r->source != NULL)
    rc = add_str(b, "source", r->source, 1);
  if (rc == MIDA_OK && r->status != NULL)
    rc = add_str(b, "status", r->status, 1);
  if (rc == MIDA_OK && r->campaign != NULL)
    rc = add_str(b, "campaign", r->campaign, 1);
  if (rc == MIDA_OK && r->campaign_name != NULL)
    rc = add_str(b, "campaignName", r->campaign_name, 1);
  if (rc == MIDA_OK && r->host != NULL)
    rc = add_str(b, "host", r->host, 1);
  if (rc == MIDA_OK && r->user != NULL)
    rc = add_str(b, "user", r->user, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}}}");
  /* job */
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"job\": {");
  if (rc == MIDA_OK)
    rc = add_str(b, "namespace", NAMESPACE, 0);
  if (rc == MIDA_OK)
    rc = add_str(b, "name", r->job, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"facets\": {");
  if (rc == MIDA_OK)
    rc = add_facet_head(o, b, "jobType", OL_JOBTYPE, 0);
  if (rc == MIDA_OK)
    rc = add_str(b, "processingType", "BATCH", 1);
  if (rc == MIDA_OK) {
    char integration[64];
    const char *src = r->source != NULL ? r->source : "mida";
    size_t i = 0;
    for (; src[i] != '\0' && i + 1 < sizeof integration; i++)
      integration[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 32
                                                             : src[i]);
    integration[i] = '\0';
    rc = add_str(b, "integration", integration, 1);
  }
  if (rc == MIDA_OK)
    rc = add_str(b, "jobType", r->kind, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}}}");
  if (rc == MIDA_OK)
    rc = add_datasets(o, b, r->task, 0);
  if (rc == MIDA_OK && !start)
    rc = add_datasets(o, b, r->task, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}\n");
  o->stats->events++;
  return mida__rout_flush(&o->out, rc);
}

/* Writes START and, if the run ended, its end event, else RUNNING if it
 * has metrics to say. */
static int write_run(ol *o, const run_desc *r) {
  int rc = write_event(o, r, "START");
  const char *end = end_type(r->status, r->ended);
  if (end == NULL && r->task != NULL && r->task->nmetrics > 0)
    end = "RUNNING";
  if (rc == MIDA_OK && end != NULL)
    rc = write_event(o, r, end);
  return rc;
}

static int workflow_row(void *ctx, int ncols, const char *const *names,
                        const char *const *v) {
  (void)names;
  ol *o = ctx;
  if (ncols < 13 || v[0] == NULL)
    return 0;
  /* id, name, source, status, started, ended, parent_id, parent name,
   * user, host, campaign_id, error, campaign name */
  run_desc r;
  memset(&r, 0, sizeof r);
  r.id = v[0];
  r.job = v[1] != NULL ? v[1] : v[0];
  r.source = v[2];
  r.status = v[3];
  r.started = v[4];
  r.ended = v[5];
  r.parent_id = v[6];
  r.parent_job = v[7] != NULL ? v[7] : v[6];
  r.user = v[8];
  r.host = v[9];
  r.campaign = v[10];
  /* Its root task's error says why it failed (workflow_error.h); a LOST
   * workflow did not fail of it: its process ended first. */
  r.error = v[3] != NULL && strcmp(v[3], "ERROR") == 0 ? v[11] : NULL;
  r.campaign_name = v[12];
  r.kind = "WORKFLOW";
  o->stats->workflows++;
  return write_run(o, &r) != MIDA_OK;
}

static int task_run(void *ctx, const mida__report_task *t) {
  ol *o = ctx;
  const char *const *v = t->col;
  const char *wf = v[RT_WF_NAME] != NULL ? v[RT_WF_NAME] : v[RT_WORKFLOW];
  const char *act = v[RT_ACTIVITY] != NULL ? v[RT_ACTIVITY] : "task";
  mida__buf job, parent;
  mida__buf_init(&job, MIDA_REPORT_PIECE_MAX);
  mida__buf_init(&parent, MIDA_REPORT_PIECE_MAX);
  int rc = mida__buf_printf(&job, "%s.%s", wf != NULL ? wf : "", act);
  run_desc r;
  memset(&r, 0, sizeof r);
  r.id = v[RT_ID];
  r.job = mida__buf_str(&job);
  r.source = v[RT_WF_SOURCE];
  r.status = v[RT_STATUS];
  r.started = v[RT_STARTED];
  r.ended = v[RT_ENDED];
  r.error = v[RT_ERROR];
  r.used = v[RT_USED];
  r.host = v[RT_HOST];
  r.campaign = v[RT_CAMPAIGN];
  r.campaign_name = v[RT_CAMPAIGN_NAME];
  r.user = v[RT_WF_USER];
  r.kind = "TASK";
  r.task = t;
  if (v[RT_PARENT] != NULL && v[RT_PARENT_ACTIVITY] != NULL) {
    /* a parent task in the store */
    const char *pwf = v[RT_PARENT_WF_NAME] != NULL ? v[RT_PARENT_WF_NAME] : "";
    if (rc == MIDA_OK)
      rc = mida__buf_printf(&parent, "%s.%s", pwf, v[RT_PARENT_ACTIVITY]);
    r.parent_id = v[RT_PARENT];
  } else if (v[RT_WORKFLOW] != NULL) {
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&parent, wf);
    r.parent_id = v[RT_WORKFLOW];
  }
  r.parent_job = mida__buf_str(&parent);
  if (rc == MIDA_OK)
    rc = write_run(o, &r);
  o->stats->tasks++;
  mida__buf_free(&job);
  mida__buf_free(&parent);
  return rc;
}

int mida__report_openlineage(mida__sink *sink, const mida__report_scope *scope,
                             mida__report_io *io, mida__report_stats *stats) {
  mida__report_stats local;
  ol o;
  memset(&o, 0, sizeof o);
  o.stats = stats != NULL ? stats : &local;
  memset(o.stats, 0, sizeof *o.stats);
  snprintf(o.producer, sizeof o.producer, "%smida/%s", MIDA_REPORT_NS,
           mida_version());
  io->errmsg[0] = '\0';
  mida__rout_init(&o.out, io);
  int rc = mida__report_query(
      sink, scope,
      "SELECT w.id, w.name, w.source, w.status, w.started, w.ended,"
      " w.parent_id, pw.name, w.\"user\", w.host, w.campaign_id, "
      MIDA_WORKFLOW_ERROR_SQL ", c.name"
      " FROM workflow w LEFT JOIN workflow pw ON pw.id = w.parent_id"
      " LEFT JOIN campaign c ON c.id = w.campaign_id"
      " WHERE {w} ORDER BY w.id",
      workflow_row, &o);
  if (rc == MIDA_OK && o.out.rc == MIDA_OK)
    rc = mida__report_each_task(sink, scope, io, task_run, &o);
  if (rc == MIDA_OK)
    rc = o.out.rc;
  mida__rout_free(&o.out);
  return rc;
}

/*
 * rocrate.c -- the store as a Workflow Run RO-Crate, Provenance Run Crate
 * profile 0.5 (https://w3id.org/ro/wfrun/provenance/0.5), for `mida
 * export rocrate` and the HTTP API.
 *
 * The crate holds two files: MIDA_REPORT_CRATE_PLAN, the main workflow
 * (what mida knows of the plan: each workflow and the activities its
 * tasks ran), and ro-crate-metadata.json. The mapping:
 *
 *   the scope (store, campaign, or  main workflow: the plan file, typed
 *   one workflow)                   File, SoftwareSourceCode,
 *                                   ComputationalWorkflow, HowTo; its run
 *                                   is the CreateAction #run
 *   workflow W (with tasks)         subworkflow #workflow-W (not a File),
 *                                   a HowToStep #step-W of the main
 *                                   workflow, its run #run-W (CreateAction;
 *                                   a failed one's error: its root
 *                                   task's, workflow_error.h, else the
 *                                   reason of its status, as a task's:
 *                                   mida__report_failure) and
 *                                   #control-W (ControlAction)
 *   activity A of W                 tool #tool-W-A (SoftwareApplication),
 *                                   part of #workflow-W, with the HowToStep
 *                                   #step-W-A
 *   task T                          #task-T, a CreateAction whose
 *                                   instrument is its tool: times,
 *                                   actionStatus, error (a failed one's
 *                                   only, as the profile says); object =
 *                                   the data it used and its parameters
 *                                   (used) as PropertyValues;
 *                                   result = the data it
 *                                   generated, its outputs (generated)
 *                                   and its metric series (each: name =
 *                                   its key, value = its last value,
 *                                   valueReference = PropertyValues of the
 *                                   last point's step and time and of the
 *                                   number of points; propertyID
 *                                   mida:metric) as PropertyValues;
 *                                   resourceUsage = its
 *                                   telemetry as PropertyValues
 *                                   (propertyID in mida's namespace); and
 *                                   #control-T (ControlAction) for its step
 *   data D                          a File entity: its URI as @id when the
 *                                   data is named by one (file://, http://,
 *                                   ...), else #data-D; contentSize,
 *                                   identifier (the digest), url
 *   users                           Person #user-<name>, agent of the runs
 *   campaign C                      Project #campaign-C (name, identifier,
 *                                   foundingDate: its creation), which
 *                                   the run of each of its workflows and
 *                                   each of its tasks (a task's own, else
 *                                   its workflow's) is part of (isPartOf)
 *
 * Workflows without tasks are left out (they ran nothing to describe) and
 * counted. Statuses: FINISHED CompletedActionStatus, ERROR, CANCELLED and
 * LOST FailedActionStatus, RUNNING ActiveActionStatus, others
 * PotentialActionStatus.
 *
 * Everything is streamed: the workflows from one query grouped by
 * workflow, the tasks from the task walk (common.c), the data from one
 * query, and the root data entity last, its hasPart listing the data
 * from a second pass over them (JSON-LD does not order a graph).
 */
#include "report/lineage.h"
#include "report/report_int.h"
#include "report/workflow_error.h"
#include "report/workflow_status.h"

#include "core/fileid.h"
#include "core/json.h"
#include "core/url.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PROFILE_PROCESS "https://w3id.org/ro/wfrun/process/0.5"
#define PROFILE_WORKFLOW "https://w3id.org/ro/wfrun/workflow/0.5"
#define PROFILE_PROVENANCE "https://w3id.org/ro/wfrun/provenance/0.5"
#define PROFILE_WROC "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
/* The most activities of one workflow described; more are counted. */
#define MAX_ACTIVITIES 10000

typedef struct crate {
  mida__sink *sink;
  const mida__report_scope *scope;
  mida__rout out;             /* the file being written */
  mida__report_stats *stats;  /* counts */
  int first;                  /* 1 before the first member of a list */
  int main_steps;             /* main_part: 1 lists steps, 0 workflows */
  /* the workflow being gathered from the grouped query */
  mida__buf wf_id, wf_row;    /* its id; its entities, built as rows come */
  mida__buf parts, steps;     /* its tools and steps, as JSON lists */
  size_t nact;                /* activities gathered */
  uint64_t dropped_activities; /* over MAX_ACTIVITIES */
} crate;

/* ---- ids and values ------------------------------------------------------ */

/* Appends the len bytes at text with bytes other than letters, digits,
 * '-', '_' and '.' percent-encoded (a NUL byte too), so that an id made
 * of it is a valid, one-to-one fragment. */
static int add_enc_n(mida__buf *b, const char *text, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  int rc = MIDA_OK;
  const unsigned char *end = (const unsigned char *)text + len;
  for (const unsigned char *p = (const unsigned char *)text;
       rc == MIDA_OK && p < end; p++) {
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

/* The same for the NUL-terminated text (NULL: ""). */
static int add_enc(mida__buf *b, const char *text) {
  return text == NULL ? MIDA_OK : add_enc_n(b, text, strlen(text));
}

/* Appends {"@id": "#<kind>-<a>[-<b>]"}. */
static int add_ref(mida__buf *b, const char *kind, const char *a,
                   const char *c) {
  int rc = mida__buf_printf(b, "{\"@id\": \"#%s-", kind);
  if (rc == MIDA_OK)
    rc = add_enc(b, a);
  if (rc == MIDA_OK && c != NULL) {
    rc = mida__buf_add(b, "-", 1);
    if (rc == MIDA_OK)
      rc = add_enc(b, c);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "\"}");
  return rc;
}

/* Whether a data entity is named by its URI: the data's id is the URI,
 * which has a scheme and an authority (file://, http://, s3://...) and is
 * a valid URI as it is (JSON-LD takes an @id for an IRI: "s3://b/a b" or
 * one with a control character is none; its entity is #data-<id>). */
static int named_by_uri(const char *id, const char *uri) {
  return uri != NULL && id != NULL && strcmp(id, uri) == 0 &&
         mida__uri_valid(uri);
}

/* Appends the reference to data id (with its uri, or NULL). */
static int add_data_ref(mida__buf *b, const char *id, const char *uri) {
  if (!named_by_uri(id, uri))
    return add_ref(b, "data", id, NULL);
  int rc = mida__buf_adds(b, "{\"@id\": ");
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, uri, strlen(uri));
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return rc;
}

/* Appends , "name": "text" when text is not NULL. */
static int add_text(mida__buf *b, const char *name, const char *text) {
  if (text == NULL)
    return MIDA_OK;
  int rc = mida__buf_printf(b, ", \"%s\": ", name);
  if (rc == MIDA_OK)
    rc = mida__json_add_string(b, text, strlen(text));
  return rc;
}

static int add_time(mida__buf *b, const char *name, const char *ns) {
  char iso[40];
  return add_text(b, name, mida__report_iso_time(ns, iso));
}

/* Appends , "isPartOf": {"@id": "#campaign-<id>"} when id is not NULL. */
static int add_campaign_ref(mida__buf *b, const char *id) {
  if (id == NULL)
    return MIDA_OK;
  int rc = mida__buf_adds(b, ", \"isPartOf\": ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "campaign", id, NULL);
  return rc;
}

static const char *action_status(const char *status) {
  if (status == NULL)
    return "PotentialActionStatus";
  if (strcmp(status, "FINISHED") == 0)
    return "CompletedActionStatus";
  /* LOST: its process ended before it did (docs/reliability.md). */
  if (strcmp(status, "ERROR") == 0 || strcmp(status, "CANCELLED") == 0 ||
      strcmp(status, "LOST") == 0)
    return "FailedActionStatus";
  if (strcmp(status, "RUNNING") == 0)
    return "ActiveActionStatus";
  return "PotentialActionStatus";
}

static int add_status(mida__buf *b, const char *status) {
  return mida__buf_printf(b, ", \"actionStatus\": {\"@id\": "
                             "\"http://schema.org/%s\"}",
                          action_status(status));
}

/* ---- the plan file ------------------------------------------------------- */

/* The workflows of the scope that have tasks, with each activity their
 * tasks ran: one row per (workflow, activity), grouped by workflow. */
static const char activities_sql[] =
    "SELECT DISTINCT w.id, w.name, w.source, " MIDA_WORKFLOW_STATUS_SQL ","
    " w.started, w.ended,"
    " w.\"user\", t.activity, " MIDA_WORKFLOW_ERROR_SQL ", w.campaign_id"
    " FROM workflow w JOIN task t"
    " ON t.workflow_id = w.id WHERE {w} ORDER BY w.id, t.activity";

typedef struct plan {
  crate *c;
  char last[64]; /* the workflow of the previous row */
  int nwf;       /* workflows written */
  int nact;      /* activities of the current workflow written */
} plan;

static int plan_row(void *ctx, int ncols, const char *const *names,
                    const char *const *v) {
  (void)names;
  plan *p = ctx;
  mida__buf *b = &p->c->out.piece;
  if (ncols < 9 || v[0] == NULL)
    return 0;
  int rc = MIDA_OK;
  if (strcmp(p->last, v[0]) != 0) {
    rc = mida__buf_adds(b, p->nwf == 0 ? "\n    {\"id\": "
                                       : "]},\n    {\"id\": ");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, v[0], strlen(v[0]));
    if (rc == MIDA_OK)
      rc = add_text(b, "name", v[1]);
    if (rc == MIDA_OK)
      rc = add_text(b, "source", v[2]);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, ", \"activities\": [");
    snprintf(p->last, sizeof p->last, "%s", v[0]);
    p->nwf++;
    p->nact = 0;
  }
  if (rc == MIDA_OK && p->nact < MAX_ACTIVITIES) {
    const char *act = v[7] != NULL ? v[7] : "";
    if (p->nact > 0)
      rc = mida__buf_adds(b, ", ");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, act, strlen(act));
    p->nact++;
  }
  return mida__rout_flush(&p->c->out, rc) != MIDA_OK;
}

static int write_plan(crate *c, int *nworkflows) {
  mida__rout *o = &c->out;
  int rc = mida__buf_printf(&o->piece,
                            "{\n  \"format\": \"mida workflow record 1\",\n"
                            "  \"generator\": \"mida %s\",\n"
                            "  \"about\": \"The workflows mida recorded and "
                            "the activities their tasks ran; their runs are "
                            "described in ro-crate-metadata.json.\",\n"
                            "  \"workflows\": [",
                            mida_version());
  rc = mida__rout_flush(o, rc);
  plan p;
  memset(&p, 0, sizeof p);
  p.c = c;
  if (rc == MIDA_OK)
    rc = mida__report_query(c->sink, c->scope, activities_sql, plan_row, &p);
  if (rc == MIDA_OK)
    rc = mida__rout_flush(o, o->rc);
  if (rc == MIDA_OK)
    rc = mida__rout_puts(o, p.nwf > 0 ? "]}\n  ]\n}\n" : "]\n}\n");
  *nworkflows = p.nwf;
  return rc;
}

/* ---- the workflows ------------------------------------------------------- */

/* Writes the gathered workflow: its subworkflow entity, its run, and the
 * step and control action that tie it to the main workflow. */
static int workflow_flush(crate *c) {
  if (c->wf_id.len == 0)
    return MIDA_OK;
  mida__buf *b = &c->out.piece;
  const char *id = mida__buf_str(&c->wf_id);
  int rc = mida__buf_adds(b, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "workflow", id, NULL);
  if (rc == MIDA_OK) {
    b->len--; /* reopen the reference as an entity */
    rc = mida__buf_adds(b, ", \"@type\": [\"SoftwareSourceCode\", "
                           "\"ComputationalWorkflow\", \"HowTo\"], "
                           "\"hasPart\": [");
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, mida__buf_str(&c->parts), c->parts.len);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "], \"step\": [");
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, mida__buf_str(&c->steps), c->steps.len);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "]");
  /* wf_row holds the name, the run and the control action, written when
   * the workflow's first row came. */
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, mida__buf_str(&c->wf_row), c->wf_row.len);
  mida__buf_reset(&c->wf_id);
  mida__buf_reset(&c->wf_row);
  mida__buf_reset(&c->parts);
  mida__buf_reset(&c->steps);
  c->nact = 0;
  c->stats->workflows++;
  return mida__rout_flush(&c->out, rc);
}

/* The rest of a workflow entity from its first row (v as in
 * activities_sql): its name, then its run, step and control action. */
static int workflow_start(crate *c, const char *const *v) {
  mida__buf *b = &c->wf_row;
  int rc = mida__buf_adds(&c->wf_id, v[0]);
  const char *name = v[1] != NULL ? v[1] : v[0];
  if (rc == MIDA_OK)
    rc = add_text(b, "name", name);
  if (rc == MIDA_OK && v[2] != NULL)
    rc = mida__buf_printf(b, ", \"description\": \"a %s workflow recorded "
                             "by mida\"",
                          v[2]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "},\n  ");
  /* the step of the main workflow that ran it */
  if (rc == MIDA_OK)
    rc = add_ref(b, "step", v[0], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"HowToStep\", \"workExample\": ");
  }
  if (rc == MIDA_OK)
    rc = add_ref(b, "workflow", v[0], NULL);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "},\n  ");
  /* its run */
  if (rc == MIDA_OK)
    rc = add_ref(b, "run", v[0], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"CreateAction\", \"instrument\": ");
  }
  if (rc == MIDA_OK)
    rc = add_ref(b, "workflow", v[0], NULL);
  mida__buf run_name;
  mida__buf_init(&run_name, MIDA_REPORT_PIECE_MAX);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&run_name, "Run of %s", name);
  if (rc == MIDA_OK)
    rc = add_text(b, "name", mida__buf_str(&run_name));
  mida__buf_free(&run_name);
  if (rc == MIDA_OK)
    rc = add_time(b, "startTime", v[4]);
  if (rc == MIDA_OK)
    rc = add_time(b, "endTime", v[5]);
  if (rc == MIDA_OK)
    rc = add_status(b, v[3]);
  /* A failed workflow's error: its root task's (workflow_error.h) when
   * it ended ERROR, else the reason of its status. */
  int error = v[3] != NULL && strcmp(v[3], "ERROR") == 0;
  if (rc == MIDA_OK)
    rc = add_text(b, "error", mida__report_failure(v[3], error ? v[8] : NULL));
  if (rc == MIDA_OK && v[6] != NULL) {
    rc = mida__buf_adds(b, ", \"agent\": ");
    if (rc == MIDA_OK)
      rc = add_ref(b, "user", v[6], NULL);
  }
  if (rc == MIDA_OK)
    rc = add_campaign_ref(b, v[9]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "},\n  ");
  /* the control action of its step */
  if (rc == MIDA_OK)
    rc = add_ref(b, "control", v[0], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"ControlAction\", \"instrument\": ");
  }
  if (rc == MIDA_OK)
    rc = add_ref(b, "step", v[0], NULL);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"object\": ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "run", v[0], NULL);
  if (rc == MIDA_OK)
    rc = add_status(b, v[3]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return rc;
}

/* One (workflow, activity) row: the tool and step of the activity. */
static int activity_row(void *ctx, int ncols, const char *const *names,
                        const char *const *v) {
  (void)names;
  crate *c = ctx;
  if (ncols < 10 || v[0] == NULL)
    return 0;
  int rc = MIDA_OK;
  if (strcmp(mida__buf_str(&c->wf_id), v[0]) != 0) {
    rc = workflow_flush(c);
    if (rc == MIDA_OK)
      rc = workflow_start(c, v);
  }
  if (rc == MIDA_OK && c->nact >= MAX_ACTIVITIES) {
    c->dropped_activities++;
    return 0;
  }
  const char *act = v[7] != NULL ? v[7] : "";
  mida__buf *b = &c->out.piece;
  if (rc == MIDA_OK && c->nact > 0)
    rc = mida__buf_adds(&c->parts, ", ");
  if (rc == MIDA_OK)
    rc = add_ref(&c->parts, "tool", v[0], act);
  if (rc == MIDA_OK && c->nact > 0)
    rc = mida__buf_adds(&c->steps, ", ");
  if (rc == MIDA_OK)
    rc = add_ref(&c->steps, "step", v[0], act);
  c->nact++;
  /* the tool and its step */
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "tool", v[0], act);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"SoftwareApplication\"");
  }
  if (rc == MIDA_OK)
    rc = add_text(b, "name", act[0] != '\0' ? act : "(no activity)");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "},\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "step", v[0], act);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"HowToStep\", \"workExample\": ");
  }
  if (rc == MIDA_OK)
    rc = add_ref(b, "tool", v[0], act);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return mida__rout_flush(&c->out, rc) != MIDA_OK;
}

/* ---- the tasks ----------------------------------------------------------- */

typedef struct pv_list {
  crate *c;
  mida__buf *refs;      /* the list of references being built */
  mida__buf *entities;  /* the PropertyValue entities */
  const char *task;     /* the task id */
  const char *kind;     /* "in", "out" or "ru" */
  int first;            /* 1 before the first reference */
  mida__strset seen;    /* the ids given, each with its times given */
} pv_list;

/* The unit of a telemetry key, as a QUDT unit, or NULL. */
static const char *unit_of(const char *key, size_t len) {
  struct {
    const char *suffix;
    const char *unit;
  } units[] = {{"_ns", "https://qudt.org/vocab/unit/NanoSEC"},
               {"_kb", "https://qudt.org/vocab/unit/KibiBYT"},
               {"_bytes", "https://qudt.org/vocab/unit/BYTE"},
               {"_j", "https://qudt.org/vocab/unit/J"},
               {"_s", "https://qudt.org/vocab/unit/SEC"}};
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    size_t n = strlen(units[i].suffix);
    if (len >= n && memcmp(key + len - n, units[i].suffix, n) == 0)
      return units[i].unit;
  }
  return NULL;
}

/* Makes id (a PropertyValue's, its key encoded) one that no member of
 * the object had before: a key given again in one object (JSON allows
 * it; a capture that writes two keys alike, such as two with a lone
 * surrogate, makes it) gets "~2", "~3"... after it, which no encoded key
 * holds. seen counts the times each id was given. */
static int unique_id(mida__strset *seen, mida__buf *id) {
  int *times = mida__strset_value(seen, mida__buf_str(id));
  if (times == NULL)
    return mida__strset_put(seen, mida__buf_str(id), 1);
  return mida__buf_printf(id, "~%d", ++*times);
}

/* One member of used, generated or telemetry: a PropertyValue. */
static int pv_member(void *ctx, const mida__json_member *m) {
  pv_list *l = ctx;
  mida__buf key;
  mida__buf_init(&key, MIDA_REPORT_PIECE_MAX);
  int rc = mida__json_add_unquoted(&key, m->key - 1, m->key_len + 2);
  const char *k = mida__buf_str(&key);
  mida__buf *e = l->entities;
  if (rc == MIDA_OK && !l->first)
    rc = mida__buf_adds(l->refs, ", ");
  l->first = 0;
  mida__buf id;
  mida__buf_init(&id, MIDA_REPORT_PIECE_MAX);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&id, "%s-", l->kind);
  if (rc == MIDA_OK)
    rc = add_enc_n(&id, k, key.len); /* the whole key: "a\u0000b" too */
  if (rc == MIDA_OK)
    rc = unique_id(&l->seen, &id);
  if (rc == MIDA_OK)
    rc = add_ref(l->refs, "task", l->task, mida__buf_str(&id));
  if (rc == MIDA_OK)
    rc = mida__buf_adds(e, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(e, "task", l->task, mida__buf_str(&id));
  mida__buf_free(&id);
  if (rc == MIDA_OK) {
    e->len--;
    rc = mida__buf_adds(e, ", \"@type\": \"PropertyValue\"");
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(e, ", \"name\": ");
  if (rc == MIDA_OK)
    rc = mida__json_add_string(e, k, key.len);
  if (rc == MIDA_OK && strcmp(l->kind, "ru") == 0) {
    rc = mida__buf_adds(e, ", \"propertyID\": \"" MIDA_REPORT_NS);
    if (rc == MIDA_OK)
      rc = add_enc_n(e, k, key.len);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(e, "\"");
    const char *unit = unit_of(k, key.len);
    if (rc == MIDA_OK && unit != NULL)
      rc = mida__buf_printf(e, ", \"unitCode\": \"%s\"", unit);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(e, ", \"value\": ");
  if (rc == MIDA_OK) {
    char c0 = m->value[0];
    if (c0 == '{' || c0 == '[' || c0 == 'n') { /* as JSON text */
      rc = mida__json_add_string(e, m->value, m->value_len);
    } else if (c0 == '"') {
      /* Decoded and written again: an escape of a lone surrogate
       * ("\ud800", which JSON's grammar allows and no Unicode text
       * holds) becomes U+FFFD, as in OpenLineage's parameters. */
      mida__buf text;
      mida__buf_init(&text, MIDA_REPORT_PIECE_MAX);
      rc = mida__json_add_unquoted(&text, m->value, m->value_len);
      if (rc == MIDA_OK)
        rc = mida__json_add_string(e, text.ptr, text.len);
      mida__buf_free(&text);
    } else {
      rc = mida__buf_add(e, m->value, m->value_len);
    }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(e, "}");
  mida__buf_free(&key);
  return rc;
}

/* Appends PropertyValue references for the members of json to refs, and
 * the entities to entities. JSON that is not an object is left out. */
static int add_pvs(crate *c, mida__buf *refs, mida__buf *entities,
                   const char *task, const char *kind, const char *json,
                   int *first) {
  if (json == NULL)
    return MIDA_OK;
  pv_list l = {c, refs, entities, task, kind, *first, {NULL, NULL, 0, 0}};
  int rc = mida__json_each_member(json, strlen(json), pv_member, &l);
  *first = l.first;
  mida__strset_free(&l.seen);
  return rc == MIDA_EJSON ? MIDA_OK : rc;
}

/* Appends one PropertyValue entity #task-T-<id> to e: name, value (as
 * JSON; NULL: none), and the rest of the entity from tail (NULL: none). */
static int add_pv_entity(mida__buf *e, const char *task, const char *id,
                         const char *name, const char *value,
                         const char *tail) {
  int rc = mida__buf_adds(e, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(e, "task", task, id);
  if (rc == MIDA_OK) {
    e->len--;
    rc = mida__buf_adds(e, ", \"@type\": \"PropertyValue\"");
  }
  if (rc == MIDA_OK)
    rc = add_text(e, "name", name);
  if (rc == MIDA_OK && value != NULL) {
    rc = mida__buf_adds(e, ", \"value\": ");
    if (rc == MIDA_OK)
      rc = mida__json_add_cell(e, value);
  }
  if (rc == MIDA_OK && tail != NULL)
    rc = mida__buf_adds(e, tail);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(e, "}");
  return rc;
}

/* Appends a reference per metric series of task t to refs (after a comma
 * unless *first), and to entities its PropertyValue: name = its key,
 * value = its last value, and valueReference = PropertyValues of that
 * point's step (if it has one) and time and of the series' number of
 * points. Ids: #task-T-metric-<key>, and -<key>/step... ('/' is encoded
 * in a key, so no key's id is another's reference). */
static int add_metric_pvs(mida__buf *refs, mida__buf *entities,
                          const mida__report_task *t, int *first) {
  const char *task = t->col[RT_ID];
  mida__buf id, part_id, tail;
  mida__buf_init(&id, MIDA_REPORT_PIECE_MAX);
  mida__buf_init(&part_id, MIDA_REPORT_PIECE_MAX);
  mida__buf_init(&tail, MIDA_REPORT_PIECE_MAX);
  int rc = MIDA_OK;
  for (size_t i = 0; i < t->nmetrics && rc == MIDA_OK; i++) {
    const mida__report_metric *m = &t->metrics[i];
    char iso[40];
    const char *parts[3][2] = {
        {"step", m->step},
        {"points", m->points},
        {"time", mida__report_iso_time(m->ts, iso)}};
    mida__buf_reset(&id);
    mida__buf_reset(&tail);
    rc = mida__buf_adds(&id, "metric-");
    if (rc == MIDA_OK)
      rc = add_enc(&id, m->key);
    if (rc == MIDA_OK && !*first)
      rc = mida__buf_adds(refs, ", ");
    *first = 0;
    if (rc == MIDA_OK)
      rc = add_ref(refs, "task", task, mida__buf_str(&id));
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&tail, ", \"propertyID\": \"" MIDA_REPORT_NS
                                 "metric\", \"valueReference\": [");
    int n = 0;
    for (int k = 0; k < 3 && rc == MIDA_OK; k++) {
      if (parts[k][1] == NULL)
        continue;
      mida__buf_reset(&part_id);
      rc = mida__buf_printf(&part_id, "%s/%s", mida__buf_str(&id),
                            parts[k][0]);
      if (rc == MIDA_OK && n++ > 0)
        rc = mida__buf_adds(&tail, ", ");
      if (rc == MIDA_OK)
        rc = add_ref(&tail, "task", task, mida__buf_str(&part_id));
      if (rc == MIDA_OK)
        rc = add_pv_entity(entities, task, mida__buf_str(&part_id),
                           parts[k][0], parts[k][1], NULL);
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&tail, "]");
    /* NaN is stored as NULL (SQLite has no NaN REAL); JSON has no NaN. */
    if (rc == MIDA_OK)
      rc = add_pv_entity(entities, task, mida__buf_str(&id), m->key,
                         m->value != NULL ? m->value : "NaN",
                         mida__buf_str(&tail));
  }
  mida__buf_free(&id);
  mida__buf_free(&part_id);
  mida__buf_free(&tail);
  return rc;
}

static int task_entity(void *ctx, const mida__report_task *t) {
  crate *c = ctx;
  const char *const *v = t->col;
  mida__buf *b = &c->out.piece;
  mida__buf pvs;
  mida__buf_init(&pvs, MIDA_REPORT_PIECE_MAX);
  const char *act = v[RT_ACTIVITY] != NULL ? v[RT_ACTIVITY] : "";
  int rc = mida__buf_adds(b, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "task", v[RT_ID], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"CreateAction\", \"instrument\": ");
  }
  if (rc == MIDA_OK)
    rc = add_ref(b, "tool", v[RT_WORKFLOW], act);
  if (rc == MIDA_OK)
    rc = add_text(b, "name", act[0] != '\0' ? act : "(no activity)");
  if (rc == MIDA_OK)
    rc = add_text(b, "identifier", v[RT_SOURCE_KEY]);
  if (rc == MIDA_OK)
    rc = add_time(b, "startTime", v[RT_STARTED]);
  if (rc == MIDA_OK)
    rc = add_time(b, "endTime", v[RT_ENDED]);
  if (rc == MIDA_OK)
    rc = add_status(b, v[RT_STATUS]);
  if (rc == MIDA_OK)
    rc = add_text(b, "error",
                  mida__report_failure(v[RT_STATUS], v[RT_ERROR]));
  if (rc == MIDA_OK)
    rc = add_campaign_ref(b, v[RT_CAMPAIGN]);
  /* object: used data and parameters; result: generated data and outputs */
  for (int gen = 0; gen <= 1 && rc == MIDA_OK; gen++) {
    rc = mida__buf_adds(b, gen ? ", \"result\": [" : ", \"object\": [");
    int first = 1;
    for (size_t i = 0; i < t->nlinks && rc == MIDA_OK; i++) {
      if (t->links[i].generated != gen)
        continue;
      if (!first)
        rc = mida__buf_adds(b, ", ");
      first = 0;
      if (rc == MIDA_OK)
        rc = add_data_ref(b, t->links[i].id, t->links[i].uri);
    }
    if (rc == MIDA_OK)
      rc = add_pvs(c, b, &pvs, v[RT_ID], gen ? "out" : "in",
                   v[gen ? RT_GENERATED : RT_USED], &first);
    if (rc == MIDA_OK && gen)
      rc = add_metric_pvs(b, &pvs, t, &first);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "]");
  }
  if (rc == MIDA_OK && v[RT_TELEMETRY] != NULL) {
    int first = 1;
    rc = mida__buf_adds(b, ", \"resourceUsage\": [");
    if (rc == MIDA_OK)
      rc = add_pvs(c, b, &pvs, v[RT_ID], "ru", v[RT_TELEMETRY], &first);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "]");
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "},\n  ");
  /* its step's control action */
  if (rc == MIDA_OK)
    rc = add_ref(b, "control", v[RT_ID], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"ControlAction\", \"instrument\": ");
  }
  if (rc == MIDA_OK)
    rc = add_ref(b, "step", v[RT_WORKFLOW], act);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"object\": ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "task", v[RT_ID], NULL);
  if (rc == MIDA_OK)
    rc = add_status(b, v[RT_STATUS]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, mida__buf_str(&pvs), pvs.len);
  mida__buf_free(&pvs);
  c->stats->tasks++;
  return mida__rout_flush(&c->out, rc);
}

/* ---- the data ------------------------------------------------------------ */

static const char data_all_sql[] =
    "SELECT x.id, d.kind, d.uri, d.size, d.digest FROM (SELECT id FROM data"
    " UNION SELECT data_id FROM task_data) x LEFT JOIN data d ON d.id = x.id"
    " ORDER BY x.id";

static const char data_sql[] =
    "SELECT x.id, d.kind, d.uri, d.size, d.digest FROM (SELECT DISTINCT"
    " td.data_id AS id FROM task t JOIN task_data td ON td.task_id = t.id"
    " WHERE {t}) x LEFT JOIN data d ON d.id = x.id ORDER BY x.id";

static int data_entity(void *ctx, int ncols, const char *const *names,
                       const char *const *v) {
  (void)names;
  crate *c = ctx;
  if (ncols < 5 || v[0] == NULL)
    return 0;
  mida__buf *b = &c->out.piece;
  int rc = mida__buf_adds(b, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_data_ref(b, v[0], v[2]);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"File\"");
  }
  /* A file's name as a person reads it: its URI's path decoded ("a b",
   * not "a%20b"). */
  char path[4096];
  const char *name = v[2] != NULL ? v[2] : v[0];
  if (v[2] != NULL && strncmp(v[2], "file://", 7) == 0 &&
      mida__file_uri_path(v[2], path, sizeof path) == MIDA_OK)
    name = path;
  const char *slash = strrchr(name, '/');
  if (rc == MIDA_OK)
    rc = add_text(b, "name", slash != NULL && slash[1] ? slash + 1 : name);
  if (rc == MIDA_OK && v[3] != NULL && mida__json_is_number(v[3]))
    rc = mida__buf_printf(b, ", \"contentSize\": \"%s\"", v[3]);
  if (rc == MIDA_OK)
    rc = add_text(b, "identifier", v[4] != NULL ? v[4] : v[0]);
  /* The URI as a valid one, which decodes to it ("a b" is "a%20b"). */
  if (rc == MIDA_OK && v[2] != NULL && mida__url_scheme_len(v[2]) > 0) {
    mida__buf url;
    mida__buf_init(&url, MIDA_REPORT_PIECE_MAX);
    rc = mida__uri_add_escaped(&url, v[2], NULL);
    if (rc == MIDA_OK)
      rc = add_text(b, "url", mida__buf_str(&url));
    mida__buf_free(&url);
  }
  if (rc == MIDA_OK)
    rc = add_text(b, "additionalType", v[1]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  c->stats->data++;
  return mida__rout_flush(&c->out, rc) != MIDA_OK;
}

/* A member of the root's hasPart. */
static int data_part(void *ctx, int ncols, const char *const *names,
                     const char *const *v) {
  (void)names;
  crate *c = ctx;
  if (ncols < 5 || v[0] == NULL)
    return 0;
  int rc = mida__buf_adds(&c->out.piece, ", ");
  if (rc == MIDA_OK)
    rc = add_data_ref(&c->out.piece, v[0], v[2]);
  return mida__rout_flush(&c->out, rc) != MIDA_OK;
}

/* The users of the scope's workflows, as Persons. */
static int user_entity(void *ctx, int ncols, const char *const *names,
                       const char *const *v) {
  (void)names;
  crate *c = ctx;
  if (ncols < 1 || v[0] == NULL)
    return 0;
  mida__buf *b = &c->out.piece;
  int rc = mida__buf_adds(b, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "user", v[0], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"Person\"");
  }
  if (rc == MIDA_OK)
    rc = add_text(b, "name", v[0]);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return mida__rout_flush(&c->out, rc) != MIDA_OK;
}

/* The campaigns of the scope: those of its workflows with tasks and of
 * its tasks (a task's own), with what the store has of them. */
static const char campaigns_sql[] =
    "SELECT x.id, c.name, c.created FROM (SELECT w.campaign_id AS id FROM"
    " workflow w WHERE {w} AND w.campaign_id IS NOT NULL AND EXISTS (SELECT"
    " 1 FROM task e WHERE e.workflow_id = w.id) UNION SELECT t.campaign_id"
    " FROM task t WHERE {t} AND t.campaign_id IS NOT NULL) x"
    " LEFT JOIN campaign c ON c.id = x.id ORDER BY x.id";

/* A campaign, as a Project that the runs of its workflows and tasks are
 * part of (isPartOf). */
static int campaign_entity(void *ctx, int ncols, const char *const *names,
                           const char *const *v) {
  (void)names;
  crate *c = ctx;
  if (ncols < 3 || v[0] == NULL)
    return 0;
  mida__buf *b = &c->out.piece;
  int rc = mida__buf_adds(b, ",\n  ");
  if (rc == MIDA_OK)
    rc = add_ref(b, "campaign", v[0], NULL);
  if (rc == MIDA_OK) {
    b->len--;
    rc = mida__buf_adds(b, ", \"@type\": \"Project\"");
  }
  if (rc == MIDA_OK)
    rc = add_text(b, "name", v[1] != NULL ? v[1] : v[0]);
  if (rc == MIDA_OK)
    rc = add_text(b, "identifier", v[0]);
  if (rc == MIDA_OK)
    rc = add_time(b, "foundingDate", v[2]);
  if (rc == MIDA_OK)
    rc = add_text(b, "description", "a campaign of mida: the workflows and "
                                    "tasks recorded under one name");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return mida__rout_flush(&c->out, rc) != MIDA_OK;
}

/* The main workflow's parts and steps: one per workflow with tasks. */
static int main_part(void *ctx, int ncols, const char *const *names,
                     const char *const *v) {
  (void)names;
  crate *c = ctx;
  if (ncols < 1 || v[0] == NULL)
    return 0;
  mida__buf *b = &c->out.piece;
  int rc = c->first ? MIDA_OK : mida__buf_adds(b, ", ");
  c->first = 0;
  if (rc == MIDA_OK)
    rc = add_ref(b, c->main_steps ? "step" : "workflow", v[0], NULL);
  return mida__rout_flush(&c->out, rc) != MIDA_OK;
}

static const char workflows_with_tasks_sql[] =
    "SELECT w.id FROM workflow w WHERE {w} AND EXISTS (SELECT 1 FROM task t"
    " WHERE t.workflow_id = w.id) ORDER BY w.id";

/* Writes the head of the graph: descriptor, profiles, main workflow,
 * language, license, the run of the main workflow. */
static int write_head(crate *c, const mida__report_crate_opts *opts) {
  mida__rout *o = &c->out;
  int rc = mida__buf_adds(
      &o->piece,
      "{\n\"@context\": [\"https://w3id.org/ro/crate/1.1/context\", "
      "\"https://w3id.org/ro/terms/workflow-run/context\"],\n"
      "\"@graph\": [\n"
      "  {\"@id\": \"ro-crate-metadata.json\", \"@type\": \"CreativeWork\", "
      "\"about\": {\"@id\": \"./\"}, \"conformsTo\": [{\"@id\": "
      "\"https://w3id.org/ro/crate/1.1\"}, {\"@id\": \"" PROFILE_WROC
      "\"}]},\n"
      "  {\"@id\": \"" PROFILE_PROCESS "\", \"@type\": \"CreativeWork\", "
      "\"name\": \"Process Run Crate\", \"version\": \"0.5\"},\n"
      "  {\"@id\": \"" PROFILE_WORKFLOW "\", \"@type\": \"CreativeWork\", "
      "\"name\": \"Workflow Run Crate\", \"version\": \"0.5\"},\n"
      "  {\"@id\": \"" PROFILE_PROVENANCE "\", \"@type\": \"CreativeWork\", "
      "\"name\": \"Provenance Run Crate\", \"version\": \"0.5\"},\n"
      "  {\"@id\": \"" PROFILE_WROC "\", \"@type\": \"CreativeWork\", "
      "\"name\": \"Workflow RO-Crate\", \"version\": \"1.0\"},\n"
      "  {\"@id\": \"#mida-record\", \"@type\": \"ComputerLanguage\", "
      "\"name\": \"mida workflow record\", \"alternateName\": \"mida\", "
      "\"url\": {\"@id\": \"" MIDA_REPORT_NS "\"}, \"version\": \"1\"},\n"
      "  {\"@id\": \"#mida\", \"@type\": \"SoftwareApplication\", "
      "\"name\": \"mida\", \"url\": \"" MIDA_REPORT_NS "\", ");
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&o->piece, "\"version\": \"%s\"}", mida_version());
  if (rc == MIDA_OK && opts->license == NULL)
    rc = mida__buf_adds(&o->piece,
                        ",\n  {\"@id\": \"#license\", \"@type\": "
                        "\"CreativeWork\", \"name\": \"No license stated\", "
                        "\"description\": \"mida export rocrate --license "
                        "URL states one.\"}");
  /* The main workflow: the plan file. */
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&o->piece,
                        ",\n  {\"@id\": \"" MIDA_REPORT_CRATE_PLAN "\", "
                        "\"@type\": [\"File\", \"SoftwareSourceCode\", "
                        "\"ComputationalWorkflow\", \"HowTo\"], "
                        "\"name\": \"the workflows mida recorded\", "
                        "\"encodingFormat\": \"application/json\", "
                        "\"programmingLanguage\": {\"@id\": "
                        "\"#mida-record\"}, \"hasPart\": [");
  rc = mida__rout_flush(o, rc);
  c->first = 1;
  c->main_steps = 0;
  if (rc == MIDA_OK)
    rc = mida__report_query(c->sink, c->scope, workflows_with_tasks_sql,
                            main_part, c);
  if (rc == MIDA_OK)
    rc = mida__rout_puts(o, "], \"step\": [");
  c->first = 1;
  c->main_steps = 1;
  if (rc == MIDA_OK)
    rc = mida__report_query(c->sink, c->scope, workflows_with_tasks_sql,
                            main_part, c);
  if (rc == MIDA_OK)
    rc = mida__rout_puts(o, "]}");
  return rc;
}

typedef struct span {
  char started[32], ended[32]; /* ns, as text */
  int running;                 /* a workflow has no end yet */
} span;

static int span_row(void *ctx, int ncols, const char *const *names,
                    const char *const *v) {
  (void)names;
  span *s = ctx;
  if (ncols >= 3) {
    snprintf(s->started, sizeof s->started, "%s", v[0] ? v[0] : "");
    snprintf(s->ended, sizeof s->ended, "%s", v[1] ? v[1] : "");
    s->running = v[2] != NULL && strcmp(v[2], "0") != 0;
  }
  return 1;
}

static int write_main_run(crate *c) {
  span s;
  memset(&s, 0, sizeof s);
  int rc = mida__report_query(
      c->sink, c->scope,
      "SELECT min(w.started), max(w.ended), sum(CASE WHEN w.ended IS NULL"
      " THEN 1 ELSE 0 END) FROM workflow w WHERE {w} AND EXISTS (SELECT 1"
      " FROM task t WHERE t.workflow_id = w.id)",
      span_row, &s);
  mida__buf *b = &c->out.piece;
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ",\n  {\"@id\": \"#run\", \"@type\": "
                           "\"CreateAction\", \"name\": \"Run of the "
                           "workflows mida recorded\", \"instrument\": "
                           "{\"@id\": \"" MIDA_REPORT_CRATE_PLAN "\"}, "
                           "\"agent\": {\"@id\": \"#mida\"}");
  if (rc == MIDA_OK)
    rc = add_time(b, "startTime", s.started);
  if (rc == MIDA_OK && !s.running)
    rc = add_time(b, "endTime", s.ended);
  if (rc == MIDA_OK)
    rc = add_status(b, s.running ? "RUNNING" : "FINISHED");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return mida__rout_flush(&c->out, rc);
}

/* Copies the first cell of the first row into ctx (a mida__buf). */
static int name_row(void *ctx, int ncols, const char *const *names,
                    const char *const *v) {
  (void)names;
  mida__buf *name = ctx;
  if (ncols > 0 && v[0] != NULL && name->len == 0 &&
      mida__buf_adds(name, v[0]) != MIDA_OK)
    mida__buf_reset(name);
  return 1;
}

/* The crate's name: --name, else what the selection is, by its name
 * (until 2026-12-06 "Runs of one campaign", which named none). */
static int crate_name(crate *c, const mida__report_crate_opts *opts,
                      mida__buf *out) {
  if (opts->name != NULL)
    return mida__buf_adds(out, opts->name);
  if (mida__report_scope_all(c->scope))
    return mida__buf_adds(out, "Runs recorded by mida");
  int workflow = c->scope->workflow != NULL;
  mida__buf name;
  mida__buf_init(&name, MIDA_REPORT_PIECE_MAX);
  int rc = mida__report_query(c->sink, c->scope,
                              workflow ? "SELECT w.name FROM workflow w"
                                         " WHERE {w}"
                                       : "SELECT c.name FROM campaign c"
                                         " WHERE c.id = ?1",
                              name_row, &name);
  if (rc == MIDA_OK && name.len > 0)
    rc = mida__buf_printf(out, "%s %s, recorded by mida",
                          workflow ? "Run of workflow" : "Runs of campaign",
                          mida__buf_str(&name));
  else if (rc == MIDA_OK)
    rc = mida__buf_adds(out, workflow ? "Run of one workflow, recorded by mida"
                                      : "Runs of one campaign, recorded by "
                                        "mida");
  mida__buf_free(&name);
  return rc;
}

/* The root data entity, last: hasPart lists the plan and every data. */
static int write_root(crate *c, const mida__report_crate_opts *opts) {
  mida__buf *b = &c->out.piece;
  char now[40], ns[32];
  snprintf(ns, sizeof ns, "%lld", (long long)mida_now_ns());
  mida__buf name;
  mida__buf_init(&name, MIDA_REPORT_PIECE_MAX);
  int rc = crate_name(c, opts, &name);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ",\n  {\"@id\": \"./\", \"@type\": \"Dataset\"");
  if (rc == MIDA_OK)
    rc = add_text(b, "name", mida__buf_str(&name));
  mida__buf_free(&name);
  if (rc == MIDA_OK)
    rc = add_text(b, "description",
                  "Workflow runs, their tasks, parameters, data and "
                  "resource use, as mida recorded them (mida export "
                  "rocrate).");
  if (rc == MIDA_OK)
    rc = add_text(b, "datePublished", mida__report_iso_time(ns, now));
  if (rc == MIDA_OK && opts->license != NULL)
    rc = add_text(b, "license", opts->license);
  else if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"license\": {\"@id\": \"#license\"}");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"conformsTo\": [{\"@id\": \"" PROFILE_PROCESS
                           "\"}, {\"@id\": \"" PROFILE_WORKFLOW
                           "\"}, {\"@id\": \"" PROFILE_PROVENANCE
                           "\"}, {\"@id\": \"" PROFILE_WROC "\"}], "
                           "\"mainEntity\": {\"@id\": \"" MIDA_REPORT_CRATE_PLAN
                           "\"}, \"mentions\": [{\"@id\": \"#run\"}], "
                           "\"hasPart\": [{\"@id\": \"" MIDA_REPORT_CRATE_PLAN
                           "\"}");
  rc = mida__rout_flush(&c->out, rc);
  if (rc == MIDA_OK)
    rc = mida__report_query(c->sink, c->scope,
                            mida__report_scope_all(c->scope) ? data_all_sql
                                                             : data_sql,
                            data_part, c);
  if (rc == MIDA_OK)
    rc = mida__rout_puts(&c->out, "]}\n]\n}\n");
  return rc;
}

int mida__report_rocrate(mida__sink *sink, const mida__report_scope *scope,
                         const mida__report_crate_opts *opts,
                         mida__report_io *io, mida__report_stats *stats) {
  mida__report_crate_opts none = {NULL, NULL};
  mida__report_stats local;
  crate c;
  memset(&c, 0, sizeof c);
  c.sink = sink;
  c.scope = scope;
  c.stats = stats != NULL ? stats : &local;
  memset(c.stats, 0, sizeof *c.stats);
  if (opts == NULL)
    opts = &none;
  io->errmsg[0] = '\0';
  if (io->begin_file == NULL || io->end_file == NULL)
    return mida__report_fail(io, MIDA_EINVAL,
                             "an RO-Crate is several files: write it to a "
                             "directory or a .zip");
  mida__rout_init(&c.out, io);
  mida__buf_init(&c.wf_id, 256);
  mida__buf_init(&c.wf_row, MIDA_REPORT_PIECE_MAX);
  mida__buf_init(&c.parts, MIDA_REPORT_PIECE_MAX);
  mida__buf_init(&c.steps, MIDA_REPORT_PIECE_MAX);

  int nworkflows = 0;
  int rc = io->begin_file(io->ctx, MIDA_REPORT_CRATE_PLAN);
  if (rc == MIDA_OK)
    rc = write_plan(&c, &nworkflows);
  if (rc == MIDA_OK)
    rc = io->end_file(io->ctx);
  if (rc == MIDA_OK && nworkflows == 0)
    rc = mida__report_fail(io, MIDA_EINVAL,
                           "nothing to export: no workflow with tasks %s "
                           "(a crate describes at least one run)",
                           scope->campaign != NULL ? "in this campaign"
                                                   : "in the store");
  if (rc == MIDA_OK)
    rc = io->begin_file(io->ctx, "ro-crate-metadata.json");
  if (rc == MIDA_OK)
    rc = write_head(&c, opts);
  if (rc == MIDA_OK)
    rc = write_main_run(&c);
  if (rc == MIDA_OK)
    rc = mida__report_query(
        sink, scope,
        "SELECT DISTINCT w.\"user\" FROM workflow w WHERE {w}"
        " AND w.\"user\" IS NOT NULL",
        user_entity, &c);
  if (rc == MIDA_OK)
    rc = mida__report_query(sink, scope, campaigns_sql, campaign_entity, &c);
  if (rc == MIDA_OK)
    rc = mida__report_query(sink, scope, activities_sql, activity_row, &c);
  if (rc == MIDA_OK)
    rc = workflow_flush(&c);
  if (rc == MIDA_OK)
    rc = mida__report_each_task(sink, scope, io, task_entity, &c);
  if (rc == MIDA_OK)
    rc = mida__report_query(sink, scope,
                            mida__report_scope_all(scope) ? data_all_sql
                                                          : data_sql,
                            data_entity, &c);
  if (rc == MIDA_OK)
    rc = write_root(&c, opts);
  if (rc == MIDA_OK)
    rc = io->end_file(io->ctx);
  if (rc == MIDA_OK && c.out.rc != MIDA_OK)
    rc = c.out.rc;
  if (rc == MIDA_OK)
    c.stats->skipped = mida__report_count(
        sink, scope,
        "SELECT count(*) FROM workflow w WHERE {w} AND NOT EXISTS"
        " (SELECT 1 FROM task t WHERE t.workflow_id = w.id)");
  mida__buf_free(&c.wf_id);
  mida__buf_free(&c.wf_row);
  mida__buf_free(&c.parts);
  mida__buf_free(&c.steps);
  mida__rout_free(&c.out);
  return rc;
}

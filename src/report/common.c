/*
 * common.c -- the pieces every report shares (report_int.h): the document
 * writer, the scope as SQL, the task walk, times as ISO 8601.
 */
#include "report/metric_series.h"
#include "report/report_int.h"

#include "core/alloc.h"
#include "mida.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the document writer ------------------------------------------------- */

void mida__rout_init(mida__rout *o, mida__report_io *io) {
  o->io = io;
  o->rc = MIDA_OK;
  mida__buf_init(&o->piece, MIDA_REPORT_PIECE_MAX);
}

void mida__rout_free(mida__rout *o) {
  mida__buf_free(&o->piece);
}

int mida__rout_write(mida__rout *o, const char *text, size_t len) {
  if (o->rc == MIDA_OK && len > 0) {
    o->rc = o->io->write(o->io->ctx, text, len);
    if (o->rc != MIDA_OK && o->io->errmsg[0] == '\0')
      mida__report_fail(o->io, o->rc, "cannot write: %s",
                        mida_strerror(o->rc));
  }
  return o->rc;
}

int mida__rout_puts(mida__rout *o, const char *text) {
  return mida__rout_write(o, text, strlen(text));
}

int mida__rout_flush(mida__rout *o, int rc) {
  if (rc != MIDA_OK && o->rc == MIDA_OK) {
    o->rc = rc;
    if (o->io->errmsg[0] == '\0')
      mida__report_fail(o->io, rc, "%s", rc == MIDA_ETOOBIG
                                             ? "one entry is too large"
                                             : mida_strerror(rc));
  }
  if (o->rc == MIDA_OK)
    mida__rout_write(o, o->piece.ptr != NULL ? o->piece.ptr : "",
                     o->piece.len);
  mida__buf_reset(&o->piece);
  return o->rc;
}

int mida__report_fail(mida__report_io *io, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(io->errmsg, sizeof io->errmsg, fmt, ap);
  va_end(ap);
  return rc;
}

/* ---- the scope ----------------------------------------------------------- */

const char *mida__report_scope_where(const mida__report_scope *scope,
                                     char kind, const char *params[1],
                                     int *nparams) {
  *nparams = 1;
  if (scope != NULL && scope->workflow != NULL) {
    params[0] = scope->workflow;
    return kind == 't' ? "t.workflow_id = ?1" : "w.id = ?1";
  }
  /* A campaign's tasks: those of its workflows, and those whose own
   * campaign it is in a workflow of another (a task's campaign is its own,
   * else its workflow's; until 2026-12-06 the second were left out); its
   * workflows: its own, and those that hold such a task. Both are read
   * from indexes (task_by_campaign, schema version 16; workflow_by_campaign
   * and task_by_workflow_id), each as a set of ids, a UNION: an OR of the
   * two conditions read the whole table on PostgreSQL (an IN (subquery)
   * under an OR is a filter there, never an index scan), and its guess of
   * half the workflows made the server compile the workflow query (JIT),
   * 0.7 s of a campaign's export from a store of 20,000 workflows. */
  if (scope != NULL && scope->campaign != NULL) {
    params[0] = scope->campaign_id;
    return kind == 't' ? "t.id IN (SELECT e.id FROM task e"
                         " WHERE e.campaign_id = ?1 UNION SELECT e.id"
                         " FROM workflow f JOIN task e ON e.workflow_id = f.id"
                         " WHERE f.campaign_id = ?1)"
                       : "w.id IN (SELECT f.id FROM workflow f"
                         " WHERE f.campaign_id = ?1 UNION SELECT e.workflow_id"
                         " FROM task e WHERE e.campaign_id = ?1)";
  }
  *nparams = 0;
  params[0] = NULL;
  return "1 = 1";
}

int mida__report_scope_all(const mida__report_scope *scope) {
  return scope == NULL || (scope->workflow == NULL && scope->campaign == NULL);
}

int mida__report_query(mida__sink *sink, const mida__report_scope *scope,
                       const char *sql, mida__row_fn fn, void *ctx) {
  const char *params[1];
  int nparams;
  const char *t = mida__report_scope_where(scope, 't', params, &nparams);
  const char *w = mida__report_scope_where(scope, 'w', params, &nparams);
  mida__buf text;
  mida__buf_init(&text, MIDA_REPORT_SQL_MAX);
  int rc = MIDA_OK;
  for (const char *p = sql; *p != '\0' && rc == MIDA_OK;) {
    if (strncmp(p, "{t}", 3) == 0 || strncmp(p, "{w}", 3) == 0) {
      rc = mida__buf_adds(&text, p[1] == 't' ? t : w);
      p += 3;
    } else {
      rc = mida__buf_add(&text, p, 1);
      p++;
    }
  }
  if (rc == MIDA_OK)
    rc = mida__sink_query(sink, mida__buf_str(&text), params, nparams, fn,
                          ctx);
  mida__buf_free(&text);
  return rc;
}

static int count_row(void *ctx, int ncols, const char *const *names,
                     const char *const *v) {
  (void)names;
  if (ncols > 0 && v[0] != NULL)
    *(uint64_t *)ctx = strtoull(v[0], NULL, 10);
  return 0;
}

uint64_t mida__report_count(mida__sink *sink, const mida__report_scope *scope,
                            const char *sql) {
  uint64_t n = 0;
  if (mida__report_query(sink, scope, sql, count_row, &n) != MIDA_OK)
    return 0;
  return n;
}

/* Copies the first cell of the first row into ctx (a char[64]). */
static int first_cell(void *ctx, int ncols, const char *const *names,
                      const char *const *v) {
  (void)names;
  char *out = ctx;
  if (ncols > 0 && v[0] != NULL && out[0] == '\0')
    snprintf(out, 64, "%s", v[0]);
  return 1;
}

int mida__report_scope_check(mida__sink *sink, mida__report_scope *scope,
                             mida__report_io *io) {
  io->errmsg[0] = '\0';
  if (scope->workflow != NULL && scope->campaign != NULL)
    return mida__report_fail(io, MIDA_EINVAL,
                             "--workflow and --campaign exclude each other");
  if (scope->workflow != NULL) {
    const char *p[1] = {scope->workflow};
    char found[64] = "";
    int rc = mida__sink_query(sink, "SELECT id FROM workflow WHERE id = ?1",
                              p, 1, first_cell, found);
    if (rc != MIDA_OK)
      return rc;
    if (found[0] == '\0')
      return mida__report_fail(io, MIDA_ENOTFOUND, "no workflow with id '%s'",
                               scope->workflow);
    found[0] = '\0';
    rc = mida__sink_query(sink,
                          "SELECT task_id FROM (SELECT id AS task_id FROM task"
                          " WHERE workflow_id = ?1 LIMIT 1) x",
                          p, 1, first_cell, found);
    if (rc != MIDA_OK)
      return rc;
    if (found[0] == '\0')
      return mida__report_fail(io, MIDA_EINVAL,
                               "workflow %s has no tasks: nothing to export",
                               scope->workflow);
  }
  if (scope->campaign != NULL) {
    const char *p[1] = {scope->campaign};
    scope->campaign_id[0] = '\0';
    /* By id, by name, or as the campaign of a workflow or a task whose
     * campaign's own record has not come; the first found only. */
    int rc = mida__sink_query(sink,
                              "SELECT id FROM (SELECT id FROM campaign"
                              " WHERE id = ?1 UNION ALL SELECT id FROM"
                              " campaign WHERE name = ?1 UNION ALL SELECT"
                              " campaign_id FROM workflow WHERE campaign_id"
                              " = ?1 UNION ALL SELECT campaign_id FROM task"
                              " WHERE campaign_id = ?1) x LIMIT 1",
                              p, 1, first_cell, scope->campaign_id);
    if (rc != MIDA_OK)
      return rc;
    if (scope->campaign_id[0] == '\0')
      return mida__report_fail(io, MIDA_ENOTFOUND,
                               "no campaign with id or name '%s'",
                               scope->campaign);
  }
  return MIDA_OK;
}

/* ---- why a run failed ---------------------------------------------------- */

const char *mida__report_failure(const char *status, const char *error) {
  if (status == NULL)
    return NULL;
  int error_status = strcmp(status, "ERROR") == 0;
  /* LOST: its process ended before it did (docs/reliability.md). */
  int lost = strcmp(status, "LOST") == 0;
  int cancelled = strcmp(status, "CANCELLED") == 0;
  if (!error_status && !lost && !cancelled)
    return NULL;
  if (error != NULL)
    return error;
  return lost        ? "lost: the process that ran it ended before it did"
         : cancelled ? "cancelled"
                     : "failed (no message)";
}

/* ---- times --------------------------------------------------------------- */

const char *mida__report_iso_time(const char *ns, char out[40]) {
  if (ns == NULL || ns[0] == '\0')
    return NULL;
  char *end = NULL;
  long long v = strtoll(ns, &end, 10);
  if (end == NULL || *end != '\0')
    return NULL;
  long long sec = v / 1000000000LL, rem = v % 1000000000LL;
  if (rem < 0) {
    rem += 1000000000LL;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL)
    return NULL;
  if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
    return NULL;
  snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
           tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
           tm.tm_sec % 100, (int)(rem / 1000000) % 1000);
  return out;
}

/* ---- the task walk ------------------------------------------------------- */

typedef struct walk {
  mida__report_io *io;
  int (*fn)(void *ctx, const mida__report_task *t);
  void *ctx;
  mida__report_task cur; /* the task being gathered; col[RT_ID] NULL: none */
  size_t links_cap;      /* links allocated */
  size_t metrics_cap;    /* metrics allocated */
  uint64_t done, total;  /* tasks handed to fn, tasks in the scope */
  int rc;                /* MIDA_OK, or the first error */
} walk;

static void free_strs(const char **s, int n) {
  for (int i = 0; i < n; i++) {
    mida__free((char *)s[i]);
    s[i] = NULL;
  }
}

/* Forgets the current task's links and metrics. */
static void free_parts(walk *w) {
  for (size_t i = 0; i < w->cur.nlinks; i++) {
    mida__report_link *l = &w->cur.links[i];
    const char *s[6] = {l->id, l->name, l->uri, l->digest, l->size, l->kind};
    free_strs(s, 6);
  }
  for (size_t i = 0; i < w->cur.nmetrics; i++) {
    mida__report_metric *m = &w->cur.metrics[i];
    const char *s[5] = {m->key, m->value, m->step, m->ts, m->points};
    free_strs(s, 5);
  }
  w->cur.nlinks = 0;
  w->cur.dropped = 0;
  w->cur.nmetrics = 0;
  w->cur.dropped_metrics = 0;
}

/* Hands the gathered task to fn and forgets it. */
static int walk_flush(walk *w) {
  if (w->cur.col[RT_ID] == NULL)
    return MIDA_OK;
  int rc = w->rc == MIDA_OK ? w->fn(w->ctx, &w->cur) : w->rc;
  free_strs(w->cur.col, RT_NCOLS);
  free_parts(w);
  w->done++;
  if (w->io->progress != NULL && (w->done % 4096 == 0 || w->done == w->total))
    w->io->progress(w->io->progress_ctx, "tasks", w->done, w->total);
  return rc;
}

/* Copies s (NULL stays NULL); sets *failed on out of memory. */
static const char *copy(const char *s, int *failed) {
  if (s == NULL)
    return NULL;
  char *c = mida__strdup(s);
  if (c == NULL)
    *failed = 1;
  return c;
}

/* items (n held, *cap allocated, of size each) with room for one more:
 * the same memory, or moved (doubling from 16); NULL when out of memory,
 * items then left as they were. */
static void *grow(void *items, size_t n, size_t *cap, size_t each) {
  if (n < *cap)
    return items;
  size_t more = *cap ? *cap * 2 : 16;
  void *p = mida__realloc(items, more * each);
  if (p != NULL)
    *cap = more;
  return p;
}

/* The columns of a row of the walk after the task's (walk_sql). */
enum {
  RW_PART,  /* the link's role ('used', 'generated'), 'metric', or NULL */
  RW_KEY,   /* the data's id, or the metric's key */
  RW_NAME, RW_URI, RW_DIGEST, RW_SIZE, RW_KIND, /* a link's */
  RW_VALUE, RW_STEP, RW_TS, RW_POINTS,          /* a metric series' */
  RW_NCOLS
};

/* Keeps one link or metric series of the current task. */
static int walk_part(walk *w, const char *const *l) {
  int failed = 0;
  if (strcmp(l[RW_PART], "metric") == 0) {
    if (w->cur.nmetrics >= MIDA_REPORT_MAX_LINKS) {
      w->cur.dropped_metrics++;
      return MIDA_OK;
    }
    mida__report_metric *more = grow(w->cur.metrics, w->cur.nmetrics,
                                     &w->metrics_cap, sizeof *more);
    if (more == NULL)
      return MIDA_ENOMEM;
    w->cur.metrics = more;
    mida__report_metric *m = &w->cur.metrics[w->cur.nmetrics++];
    m->key = copy(l[RW_KEY], &failed);
    m->value = copy(l[RW_VALUE], &failed);
    m->step = copy(l[RW_STEP], &failed);
    m->ts = copy(l[RW_TS], &failed);
    m->points = copy(l[RW_POINTS], &failed);
    return failed ? MIDA_ENOMEM : MIDA_OK;
  }
  if (w->cur.nlinks >= MIDA_REPORT_MAX_LINKS) {
    w->cur.dropped++;
    return MIDA_OK;
  }
  mida__report_link *more = grow(w->cur.links, w->cur.nlinks, &w->links_cap,
                                 sizeof *more);
  if (more == NULL)
    return MIDA_ENOMEM;
  w->cur.links = more;
  mida__report_link *k = &w->cur.links[w->cur.nlinks++];
  k->generated = strcmp(l[RW_PART], "generated") == 0;
  k->id = copy(l[RW_KEY], &failed);
  k->name = copy(l[RW_NAME], &failed);
  k->uri = copy(l[RW_URI], &failed);
  k->digest = copy(l[RW_DIGEST], &failed);
  k->size = copy(l[RW_SIZE], &failed);
  k->kind = copy(l[RW_KIND], &failed);
  return failed ? MIDA_ENOMEM : MIDA_OK;
}

static int walk_row(void *ctx, int ncols, const char *const *names,
                    const char *const *v) {
  (void)names;
  walk *w = ctx;
  if (ncols < RT_NCOLS + RW_NCOLS || v[RT_ID] == NULL)
    return 0;
  int failed = 0;
  if (w->cur.col[RT_ID] == NULL || strcmp(w->cur.col[RT_ID], v[RT_ID]) != 0) {
    w->rc = walk_flush(w);
    if (w->rc != MIDA_OK)
      return 1;
    for (int i = 0; i < RT_NCOLS; i++)
      w->cur.col[i] = copy(v[i], &failed);
  }
  const char *const *l = v + RT_NCOLS;
  if (!failed && l[RW_PART] != NULL && l[RW_KEY] != NULL &&
      walk_part(w, l) != MIDA_OK)
    failed = 1;
  if (failed) {
    w->rc = MIDA_ENOMEM;
    return 1;
  }
  return 0;
}

/* A task's columns (RT_*) and the joins they need. */
#define WALK_TASK_COLUMNS                                                      \
  "t.id AS walk_id, t.workflow_id, t.activity, t.status, t.started,"           \
  " t.ended, t.used, t.generated, t.custom, t.error, t.host, t.pid,"           \
  " t.telemetry, t.source_key, t.parent_id, t.worker, w.name, w.source,"       \
  " p.activity, pw.name, coalesce(t.campaign_id, w.campaign_id),"              \
  " w.\"user\", c.name"
#define WALK_TASK_JOINS                                                        \
  " FROM task t LEFT JOIN workflow w ON w.id = t.workflow_id"                  \
  " LEFT JOIN campaign c ON c.id = coalesce(t.campaign_id, w.campaign_id)"     \
  " LEFT JOIN task p ON p.id = t.parent_id"                                    \
  " LEFT JOIN workflow pw ON pw.id = p.workflow_id"

/* Each task of the scope with a row per data link (a task without one:
 * a row with no link), then a row per metric series (RW_*), by task. */
static const char walk_sql[] =
    "SELECT " WALK_TASK_COLUMNS ", td.role AS walk_part, td.data_id AS"
    " walk_key, td.name, d.uri, d.digest, d.size, d.kind, NULL, NULL, NULL,"
    " NULL" WALK_TASK_JOINS " LEFT JOIN task_data td ON td.task_id = t.id"
    " LEFT JOIN data d ON d.id = td.data_id WHERE {t}"
    " UNION ALL SELECT " WALK_TASK_COLUMNS ", 'metric', s.key, NULL, NULL,"
    " NULL, NULL, NULL, s.value, s.step, s.ts, s.points" WALK_TASK_JOINS
    " JOIN (" MIDA_METRIC_SERIES_SQL ") s ON s.task_id = t.id"
    " ORDER BY walk_id, walk_part, walk_key";

int mida__report_each_task(mida__sink *sink, const mida__report_scope *scope,
                           mida__report_io *io,
                           int (*fn)(void *ctx, const mida__report_task *t),
                           void *ctx) {
  walk w;
  memset(&w, 0, sizeof w);
  w.io = io;
  w.fn = fn;
  w.ctx = ctx;
  if (io->progress != NULL)
    w.total = mida__report_count(sink, scope,
                                 "SELECT count(*) FROM task t WHERE {t}");
  int rc = mida__report_query(sink, scope, walk_sql, walk_row, &w);
  if (w.rc == MIDA_OK && rc == MIDA_OK)
    w.rc = walk_flush(&w);
  free_strs(w.cur.col, RT_NCOLS);
  free_parts(&w);
  mida__free(w.cur.links);
  mida__free(w.cur.metrics);
  return w.rc != MIDA_OK ? w.rc : rc;
}

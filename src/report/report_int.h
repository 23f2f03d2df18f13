/*
 * report_int.h -- what the files of src/report/ share (not for callers:
 * they use report.h).
 *
 * - rout: a document being written through a mida__report_io, one piece
 *   (an entity, an event) formatted in a capped buffer then written, with
 *   the first error kept;
 * - the scope as SQL: a WHERE clause over task t or workflow w, with the
 *   scope's id as ?1;
 * - the task walk: every task of a scope with its data links (used and
 *   generated data, with uri, digest and size) and its metric series
 *   (each with its last point, metric_series.h), one callback per task,
 *   from one query ordered by task id; only the current task is held;
 * - times: the store's nanoseconds as ISO 8601 UTC text.
 */
#ifndef MIDA_REPORT_REPORT_INT_H
#define MIDA_REPORT_REPORT_INT_H

#include "core/buf.h"
#include "report/report.h"

#include <stddef.h>
#include <stdint.h>

/* The mida namespace of the exports' own terms. */
#define MIDA_REPORT_NS "https://mida.dev/ns#"
/* The most bytes of one piece (an entity, an event, a line). */
#define MIDA_REPORT_PIECE_MAX (256u * 1024 * 1024)
/* The most data links of one task held at once; more are counted and
 * left out of that task's entity or event. */
#define MIDA_REPORT_MAX_LINKS 100000
/* The most bytes of a query's text. */
#define MIDA_REPORT_SQL_MAX 8192

/* A document being written. */
typedef struct mida__rout {
  mida__report_io *io; /* where it goes */
  mida__buf piece;     /* the piece being formatted */
  int rc;              /* MIDA_OK, or the first error */
} mida__rout;

void mida__rout_init(mida__rout *o, mida__report_io *io);
void mida__rout_free(mida__rout *o);
/* Writes text straight through (keeps the first error; returns it). */
int mida__rout_write(mida__rout *o, const char *text, size_t len);
int mida__rout_puts(mida__rout *o, const char *text);
/* Writes the piece (if rc is MIDA_OK) and empties it; returns o->rc. */
int mida__rout_flush(mida__rout *o, int rc);

/* Sets io->errmsg, printf-style; returns rc. */
int mida__report_fail(mida__report_io *io, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The scope's condition on task t (kind 't') or on workflow w (kind
 * 'w'), without WHERE, and whether it takes ?1 (*nparams 0 or 1); the
 * parameter is in params[0]. "1 = 1" for the whole store. */
const char *mida__report_scope_where(const mida__report_scope *scope,
                                     char kind, const char *params[1],
                                     int *nparams);

/* Whether the scope is the whole store. */
int mida__report_scope_all(const mida__report_scope *scope);

/* Runs sql with fn for each row. In sql, {t} stands for the scope's
 * condition on task t and {w} for the one on workflow w, each as often as
 * needed; both take the scope's id as ?1. */
int mida__report_query(mida__sink *sink, const mida__report_scope *scope,
                       const char *sql, mida__row_fn fn, void *ctx);

/* The number in the first cell of such a query (a count, for progress);
 * 0 on error. */
uint64_t mida__report_count(mida__sink *sink, const mida__report_scope *scope,
                            const char *sql);

/* What the exports say of why a run failed (status ERROR, LOST or
 * CANCELLED): error, the store's, when it has one, else the reason its
 * status gives ("lost: ..." for a run whose process ended first); NULL
 * for a run that did not fail, whatever error says (a task that finished
 * after a failed try keeps that try's error). */
const char *mida__report_failure(const char *status, const char *error);

/* ns (integer text, nanoseconds since the epoch) as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" in out; NULL if ns is NULL or not a time. */
const char *mida__report_iso_time(const char *ns, char out[40]);

/* ---- the task walk ------------------------------------------------------ */

/* The columns of a task in the walk, in order. */
enum {
  RT_ID, RT_WORKFLOW, RT_ACTIVITY, RT_STATUS, RT_STARTED, RT_ENDED,
  RT_USED, RT_GENERATED, RT_CUSTOM, RT_ERROR, RT_HOST, RT_PID,
  RT_TELEMETRY, RT_SOURCE_KEY, RT_PARENT, RT_WORKER,
  RT_WF_NAME,         /* the task's workflow's name */
  RT_WF_SOURCE,       /* its source */
  RT_PARENT_ACTIVITY, /* the parent task's activity, if it is stored */
  RT_PARENT_WF_NAME,  /* the parent task's workflow's name */
  RT_CAMPAIGN,        /* its campaign's id (the task's, else its workflow's) */
  RT_WF_USER,         /* its workflow's user */
  RT_CAMPAIGN_NAME,   /* its campaign's name, if the store has it */
  RT_NCOLS
};

/* One data link of a task. */
typedef struct mida__report_link {
  int generated;      /* 1: generated, 0: used */
  const char *id;     /* data id */
  const char *name;   /* the link's name, or NULL */
  const char *uri;    /* the data's uri, or NULL */
  const char *digest; /* its digest, or NULL */
  const char *size;   /* its size in bytes (integer text), or NULL */
  const char *kind;   /* its kind, or NULL */
} mida__report_link;

/* One metric series of a task, with its last point (metric_series.h). */
typedef struct mida__report_metric {
  const char *key;    /* the metric's key */
  const char *value;  /* the last value (number text), or NULL for NaN */
  const char *step;   /* its step (integer text), or NULL: none */
  const char *ts;     /* its time (ns, integer text) */
  const char *points; /* the number of points (integer text) */
} mida__report_metric;

/* One task with its links and metrics, valid during the callback only. */
typedef struct mida__report_task {
  const char *col[RT_NCOLS];     /* the task's columns (NULL for SQL NULL) */
  mida__report_link *links;      /* its data links */
  size_t nlinks;                 /* links held */
  size_t dropped;                /* links over MIDA_REPORT_MAX_LINKS */
  mida__report_metric *metrics;  /* its metric series, by key */
  size_t nmetrics;               /* series held */
  size_t dropped_metrics;        /* series over MIDA_REPORT_MAX_LINKS */
} mida__report_task;

/* Calls fn for each task of the scope, in id order. fn returns MIDA_OK to
 * go on. Reports progress as "tasks" when io->progress is set. */
int mida__report_each_task(mida__sink *sink, const mida__report_scope *scope,
                           mida__report_io *io,
                           int (*fn)(void *ctx, const mida__report_task *t),
                           void *ctx);

#endif /* MIDA_REPORT_REPORT_INT_H */

/*
 * source_key.h -- tasks and workflows named by their source's own key, for
 * the verbs that take an id (`mida show`, `mida lineage`, `mida diff`).
 *
 * What a user has at hand is often the source's name of a thing, not
 * mida's: an MLflow run id (the run's uuid), a Dask key, a TensorBoard run
 * directory (relative to its log directory), all kept in task.source_key;
 * or an MLflow experiment id, kept in its workflow's metadata as
 * "mlflow.experiment_id" (the workflow table has no source_key column).
 * One key may name several: a Dask key submitted anew after Dask forgot
 * it, a run directory "train" under two log directories, the experiment
 * "0" of every MLflow database. The lookup, made only when no id matched,
 * reads the index task_by_source_key (schema version 16; a store that no
 * writer has brought to it is read whole, as before).
 */
#ifndef MIDA_REPORT_SOURCE_KEY_H
#define MIDA_REPORT_SOURCE_KEY_H

#include "report/rows.h"
#include "sink/sink.h"

#include <stddef.h>

/* The columns of mida__source_key_find()'s rows. */
enum {
  MIDA_SOURCE_KEY_KIND,    /* "task" or "workflow" */
  MIDA_SOURCE_KEY_ID,      /* its id */
  MIDA_SOURCE_KEY_NAME,    /* a task's activity, a workflow's name */
  MIDA_SOURCE_KEY_SOURCE,  /* its workflow's source ("mlflow", "dask") */
  MIDA_SOURCE_KEY_STARTED  /* ISO 8601, or NULL */
};

/* Fetches into out the tasks whose source key is key and, with workflows,
 * the workflows of the MLflow experiments whose id is key, the newest
 * first, at most max_rows of them (out->truncated: there are more).
 * Returns the sink's result or MIDA_ENOMEM; free out with
 * mida__rows_free() in every case. */
int mida__source_key_find(mida__sink *sink, const char *key, int workflows,
                          size_t max_rows, mida__rows *out);

/* What the rows of mida__source_key_find() are, for a message: "tasks",
 * "workflows" or "tasks and workflows" (a static string). */
const char *mida__source_key_kinds(const mida__rows *r);

#endif /* MIDA_REPORT_SOURCE_KEY_H */

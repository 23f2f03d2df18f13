/*
 * mlflow.h -- the MLflow observer's helpers that tests and benchmarks use.
 * The observer itself is mida__mlflow_observe() in observer.h.
 */
#ifndef MIDA_OBSERVE_MLFLOW_H
#define MIDA_OBSERVE_MLFLOW_H

#include "mida.h"

#include <stddef.h>

/* MLflow's run status (RUNNING, SCHEDULED, FINISHED, FAILED, KILLED) as a
 * mida status; anything else is MIDA_STATUS_UNKNOWN. */
mida_status_t mida__mlflow_status(const char *status);

/* A metric value as MLflow stored it (value, is_nan) back as the logged
 * double: is_nan gives NaN, and +-DBL_MAX (MLflow's encoding of +-inf)
 * give +-inf. */
double mida__mlflow_value(double stored, int is_nan);

/* Whether the observer reads the store a tracking URI names: sqlite:,
 * postgresql: (postgres:, postgresql+driver:), file:, or a plain path. A
 * URI with any other scheme (as MLflow reads one: "name:" suffices) is
 * not a path, nor are MLflow's bare names of remote stores ("databricks",
 * "databricks-uc", "uc"). */
int mida__mlflow_readable_uri(const char *uri);

/* Why the observer does not read the store uri names ("a Databricks
 * workspace, ...", for a message), or NULL when it does. */
const char *mida__mlflow_unreadable_why(const char *uri);

/* The tracking store MLflow uses when MLFLOW_TRACKING_URI is unset (and
 * the program sets none), as MLflow 3 resolves it in the working
 * directory: ./mlruns when it holds an experiment (a digit-named directory
 * with a meta.yaml; MLflow keeps using a file store it finds), else
 * sqlite:///mlflow.db. Writes it as an absolute URI (file:///abs/mlruns,
 * sqlite:////abs/mlflow.db) into buf; returns MIDA_OK or MIDA_EURL when it
 * does not fit. */
int mida__mlflow_default_uri(char *buf, size_t cap);

#endif /* MIDA_OBSERVE_MLFLOW_H */

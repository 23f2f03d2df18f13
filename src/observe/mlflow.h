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

#endif /* MIDA_OBSERVE_MLFLOW_H */

/*
 * postgresql_module.c -- mida's postgresql module (src/sink/module.h): the
 * PostgreSQL store (src/sink/postgres.c, for postgresql:// and
 * postgres://) and the MLflow observer's reader of PostgreSQL tracking
 * stores (src/observe/mlflow_pg.c), exported for libmida to find.
 */
#include "observe/mlflow_reader.h"
#include "sink/module.h"
#include "sink/sink.h"

#include <stddef.h>

MIDA__MODULE_EXPORT const mida__sink_methods *const mida_module_sinks[] = {
    &mida__postgres_sink, &mida__postgres_alias_sink, NULL};

MIDA__MODULE_EXPORT int mida_module_mlflow_open(const char *uri,
                                                const mida__obs_opts *opts,
                                                mida__mlf_reader **out) {
  return mida__mlf_pg_open(uri, opts, out);
}

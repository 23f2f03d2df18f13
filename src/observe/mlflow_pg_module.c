/*
 * mlflow_pg_module.c -- the MLflow observer's way to the PostgreSQL
 * tracking-store reader (mlflow_pg.c), which needs libpq and so is built
 * into mida's postgresql module (src/sink/module.h): loads the module on
 * first use and opens the reader there.
 */
#include "observe/mlflow_reader.h"

#include "core/errors.h"
#include "sink/module.h"

#include <stddef.h>

int mida__mlf_pg_open(const char *uri, const mida__obs_opts *opts,
                      mida__mlf_reader **out) {
  *out = NULL;
  const mida__module *mod = NULL;
  char err[1024];
  int rc = mida__module_load("postgresql", &mod, err, sizeof err);
  if (rc != MIDA_OK)
    return mida__set_error(rc, "%s", err);
  int (*open)(const char *, const mida__obs_opts *, mida__mlf_reader **) =
      (int (*)(const char *, const mida__obs_opts *, mida__mlf_reader **))
          mida__module_symbol(mod, MIDA__MODULE_SYM_MLFLOW_OPEN);
  if (open == NULL)
    return mida__set_error(MIDA_EUNSUPPORTED,
                           "mida's postgresql module cannot read MLflow "
                           "tracking stores");
  return open(uri, opts, out);
}

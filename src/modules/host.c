/*
 * host.c -- the part of every loadable module (src/sink/module.h) that
 * speaks to libmida: the symbols libmida looks up to check and start the
 * module, and the few internal functions that hold process-wide state,
 * which the module's code calls as usual and which forward to libmida
 * through the host table: the allocation wrappers, the thread's error
 * message and the environment as mida's threads read it (core/env.h).
 */
#include "core/alloc.h"
#include "core/env.h"
#include "core/errors.h"
#include "mida.h"
#include "mida_config.h"
#include "sink/module.h"

#include <string.h>

static const mida__module_host *host; /* set once by mida_module_init */

MIDA__MODULE_EXPORT const char mida_module_version[] = MIDA_VERSION;
MIDA__MODULE_EXPORT const uint32_t mida_module_abi = MIDA__MODULE_ABI;

MIDA__MODULE_EXPORT int mida_module_init(const mida__module_host *h) {
  if (h == NULL || h->abi != MIDA__MODULE_ABI)
    return MIDA_EINVAL;
  host = h;
  return MIDA_OK;
}

void *mida__malloc(size_t n) { return host->malloc(n); }

void *mida__calloc(size_t count, size_t n) { return host->calloc(count, n); }

void *mida__realloc(void *p, size_t n) { return host->realloc(p, n); }

void mida__free(void *p) { host->free(p); }

char *mida__strdup(const char *s) {
  if (s == NULL)
    return NULL;
  size_t n = strlen(s) + 1;
  char *copy = mida__malloc(n);
  if (copy != NULL)
    memcpy(copy, s, n);
  return copy;
}

int mida__vset_error(int rc, const char *fmt, va_list ap) {
  return host->vset_error(rc, fmt, ap);
}

int mida__set_error(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  host->vset_error(rc, fmt, ap);
  va_end(ap);
  return rc;
}

const char *mida__thread_errmsg(void) { return host->thread_errmsg(); }

char *mida__env_dup(const char *name) {
  return host->env_dup(name);
}

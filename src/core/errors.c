/*
 * errors.c -- the messages of the one error space (MIDA_ERRNO_MAP in mida.h)
 * and the calling thread's last message (errors.h).
 */
#include "core/errors.h"

#include "mida.h"
#include "mida_config.h"

#include <stdio.h>

static _Thread_local char tls_errmsg[512]; /* the thread's last message */

int mida__vset_error(int rc, const char *fmt, va_list ap) {
  vsnprintf(tls_errmsg, sizeof tls_errmsg, fmt, ap);
  return rc;
}

int mida__set_error(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__vset_error(rc, fmt, ap);
  va_end(ap);
  return rc;
}

const char *mida__thread_errmsg(void) { return tls_errmsg; }

const char *mida_strerror(int rc) {
  switch (rc) {
#define MIDA_ERRNO_CASE(name, code, msg)                                       \
  case (code):                                                                 \
    return msg;
    MIDA_ERRNO_MAP(MIDA_ERRNO_CASE)
#undef MIDA_ERRNO_CASE
  default:
    return "unknown error";
  }
}

const char *mida_version(void) {
  return MIDA_VERSION;
}

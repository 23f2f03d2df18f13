/*
 * errmsg.c -- the calling thread's last error message (core/errors.h).
 *
 * Kept apart from errors.c because it holds state: a loadable module
 * (src/modules/) is built with the pure parts of core and borrows this one
 * from libmida, so that a message a module sets is the one the program
 * reads.
 */
#include "core/errors.h"

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

void mida__errbuf_set(char *err, size_t errlen, const char *fmt, ...) {
  if (err == NULL || errlen == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

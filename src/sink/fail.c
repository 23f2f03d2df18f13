/*
 * fail.c -- a sink's or a consumer's last error message, which every
 * backend sets (core/errors.h: a handle keeps its message). Apart from
 * sink.c and consumer.c, which pick the backends, because the backends
 * built as loadable modules (src/modules/) are built with it. Also a
 * sink's notices: what a batch that succeeded left out, and what a query
 * that succeeded ran without (sink.h).
 */
#include "sink/sink.h"
#include "sink/wire.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

const char *mida__sink_errmsg(const mida__sink *sink) {
  return sink != NULL ? sink->errmsg : "";
}

/* Copies the notice held in field (NULL: none) into buf (len bytes) and
 * clears it; returns whether there was one. */
static int take_notice(char *field, char *buf, size_t len) {
  if (len > 0)
    buf[0] = '\0';
  if (field == NULL || field[0] == '\0')
    return 0;
  if (len > 0)
    snprintf(buf, len, "%s", field);
  field[0] = '\0';
  return 1;
}

int mida__sink_take_notice(mida__sink *sink, char *buf, size_t len) {
  return take_notice(sink != NULL ? sink->notice : NULL, buf, len);
}

/* Whether this process has handed out a query notice: each is said once
 * a process (a bound the store's role cannot have stays so), not at every
 * query of `mida serve` or of a Python program. */
static atomic_int query_notice_taken;

int mida__sink_take_query_notice(mida__sink *sink, char *buf, size_t len) {
  return take_notice(sink != NULL ? sink->query_notice : NULL, buf, len) &&
         !atomic_exchange(&query_notice_taken, 1);
}

int mida__sink_fail(mida__sink *sink, int rc, const char *fmt, ...) {
  if (sink == NULL)
    return rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sink->errmsg, sizeof(sink->errmsg), fmt, ap);
  va_end(ap);
  return rc;
}

int mida__consumer_fail(mida__consumer *c, int rc, const char *fmt, ...) {
  if (c == NULL)
    return rc;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
  va_end(ap);
  return rc;
}

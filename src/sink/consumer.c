/*
 * consumer.c -- picks the broker consumer of `mida ingest` by URL scheme
 * (wire.h): the consumer side of the backends that sink.c lists as sinks.
 * Adding a broker adds one line here.
 */
#include "sink/wire.h"

#include "core/url.h"
#include "mida_config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- consumers --------------------------------------------------------- */

static const mida__consumer_methods *const consumers[] = {
#if MIDA_HAVE_HIREDIS
    &mida__redis_consumer,
#endif
#if MIDA_HAVE_NATS
    &mida__nats_consumer,
#endif
#if MIDA_HAVE_MOSQUITTO
    &mida__mqtt_consumer,
#endif
    NULL,
};

int mida__consumer_open(const char *url, const char *group, const char *name,
                        int claim_ms, mida__consumer **out, char *err,
                        size_t errlen) {
  *out = NULL;
  size_t n = mida__url_scheme_len(url);
  for (int i = 0; n > 0 && consumers[i] != NULL; i++) {
    if (mida__url_scheme_equal(url, n, consumers[i]->scheme))
      return consumers[i]->open(url, group, name, claim_ms, out, err, errlen);
  }
  char list[96] = "";
  size_t used = 0;
  for (int i = 0; consumers[i] != NULL && used < sizeof list; i++) {
    int w = snprintf(list + used, sizeof list - used, "%s%s://",
                     i > 0 ? ", " : "", consumers[i]->scheme);
    if (w < 0)
      break;
    used += (size_t)w;
  }
  char shown[MIDA_URL_SHOWN];
  if (err != NULL && errlen > 0)
    snprintf(
        err, errlen, "'%s' is not a broker URL this build reads; it reads: %s",
        mida__url_redact(url, shown, sizeof shown), used > 0 ? list : "(none)");
  return MIDA_EURL;
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

/*
 * consumer.c -- picks the broker consumer of `mida ingest` by URL scheme
 * (wire.h): the consumer side of the broker modules (module.h) that sink.c
 * loads as sinks.
 */
#include "sink/wire.h"

#include "core/url.h"
#include "mida.h"
#include "sink/module.h"

#include <stdio.h>
#include <string.h>

int mida__consumer_open(const char *url, const char *group,
                        const char *consumer_name, int claim_ms,
                        mida__consumer **out, char *err, size_t errlen) {
  *out = NULL;
  size_t n = mida__url_scheme_len(url);
  const char *module = n > 0 ? mida__module_for_scheme(url, n) : NULL;
  const mida__module *mod = NULL;
  if (module != NULL) {
    int rc = mida__module_load(module, &mod, err, errlen);
    if (rc != MIDA_OK)
      return rc;
    const mida__consumer_methods *const *c =
        mida__module_symbol(mod, MIDA__MODULE_SYM_CONSUMER);
    /* The module serves this scheme (module.c's table): its one consumer
     * reads the plain and the TLS scheme alike. */
    if (c != NULL && *c != NULL)
      return (*c)->open(url, group, consumer_name, claim_ms, out, err, errlen);
  }
  char shown[MIDA_URL_SHOWN];
  if (err != NULL && errlen > 0)
    snprintf(err, errlen,
             "'%s' is not a broker URL this build reads; it reads: redis://, "
             "rediss://, nats://, tls:// (NATS), mqtt://, mqtts://",
             mida__url_redact(url, shown, sizeof shown));
  return MIDA_EURL;
}

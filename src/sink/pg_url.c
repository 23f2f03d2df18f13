/*
 * pg_url.c -- a PostgreSQL store URL checked before anything connects
 * (pg_url.h).
 */
#include "sink/pg_url.h"

#include "core/buf.h"
#include "core/url.h"
#include "mida.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

/* Whether each element of the comma-separated list ports is empty or a
 * number from 1 to 65535; sets *count to the number of elements. */
static int ports_valid(const char *ports, int *count) {
  *count = 1;
  long port = 0;
  int digits = 0;
  for (const char *p = ports;; p++) {
    if (*p == ',' || *p == '\0') {
      if (digits > 0 && port == 0)
        return 0;
      if (*p == '\0')
        return 1;
      ++*count;
      port = 0;
      digits = 0;
    } else if (*p >= '0' && *p <= '9') {
      port = port * 10 + (*p - '0');
      digits++;
      if (port > 65535)
        return 0;
    } else {
      return 0;
    }
  }
}

static int count_list(const char *list) {
  int n = 1;
  for (const char *p = list; *p != '\0'; p++)
    n += *p == ',';
  return n;
}

int mida__pg_url_check(const char *url, char *err, size_t errlen) {
  char shown[MIDA_URL_SHOWN];
  mida__url_redact(url, shown, sizeof shown);
  /* A password's '@' or '/' as the open hands it to libpq (url.h). */
  mida__buf escaped;
  mida__buf_init(&escaped, strlen(url) * 3 + 1);
  if (mida__url_escape_userinfo(url, &escaped) != MIDA_OK) {
    mida__buf_free(&escaped);
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  char *why = NULL;
  PQconninfoOption *opts = PQconninfoParse(mida__buf_str(&escaped), &why);
  mida__buf_free(&escaped);
  int rc = MIDA_OK;
  if (opts == NULL) {
    /* libpq's words up to the piece of the URL it quotes (': "...'), which
     * may hold the password. */
    const char *w = why != NULL ? why : "out of memory";
    const char *quote = strstr(w, ": \"");
    const char *in_uri = strstr(w, " in URI");
    size_t n = strcspn(w, "\n");
    if (quote != NULL && (size_t)(quote - w) < n)
      n = (size_t)(quote - w);
    if (in_uri != NULL && (size_t)(in_uri - w) < n)
      n = (size_t)(in_uri - w);
    snprintf(err, errlen, "malformed PostgreSQL URL '%s': %.*s", shown,
             (int)n, w);
    rc = why != NULL ? MIDA_EURL : MIDA_ENOMEM;
  } else {
    const char *host = NULL, *port = NULL;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
      if (strcmp(o->keyword, "host") == 0)
        host = o->val;
      else if (strcmp(o->keyword, "port") == 0)
        port = o->val;
    }
    int ports = 1;
    if (port != NULL && !ports_valid(port, &ports)) {
      snprintf(err, errlen,
               "malformed PostgreSQL URL '%s': a port is no number from 1 to "
               "65535",
               shown);
      rc = MIDA_EURL;
    } else if (ports > 1 && ports != (host != NULL ? count_list(host) : 1)) {
      snprintf(err, errlen,
               "malformed PostgreSQL URL '%s': %d ports for %d hosts (one "
               "port for all, or one for each)",
               shown, ports, host != NULL ? count_list(host) : 1);
      rc = MIDA_EURL;
    }
  }
  if (why != NULL)
    PQfreemem(why);
  if (opts != NULL)
    PQconninfoFree(opts);
  return rc;
}

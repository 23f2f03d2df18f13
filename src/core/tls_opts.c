/*
 * tls_opts.c -- the TLS options of broker URLs (tls_opts.h).
 */
#include "core/tls_opts.h"

#include "core/alloc.h"
#include "core/env.h"

#include "core/url.h"
#include "mida.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The options: query parameter, environment variable, field offset. */
static const struct option {
  const char *param;
  const char *env;
  size_t offset;
  size_t size;
} options[] = {
    {"ca", "MIDA_TLS_CA", offsetof(mida__tls_opts, ca),
     sizeof(((mida__tls_opts *)0)->ca)},
    {"cert", "MIDA_TLS_CERT", offsetof(mida__tls_opts, cert),
     sizeof(((mida__tls_opts *)0)->cert)},
    {"key", "MIDA_TLS_KEY", offsetof(mida__tls_opts, key),
     sizeof(((mida__tls_opts *)0)->key)},
    {"sni", "MIDA_TLS_SERVER_NAME", offsetof(mida__tls_opts, server_name),
     sizeof(((mida__tls_opts *)0)->server_name)},
};
#define OPTION_COUNT (sizeof options / sizeof options[0])

/* Checks that the file of option name (if set) can be read. */
static int check_file(const char *name, const char *path, char *err,
                      size_t errlen) {
  if (path[0] == '\0' || access(path, R_OK) == 0)
    return MIDA_OK;
  snprintf(err, errlen, "cannot read the TLS %s file '%s': %s", name, path,
           strerror(errno));
  return MIDA_EURL;
}

/* A broker URL takes no parameter but the options: one it does not
 * know, mistyped ('cafile') or another client's ('db', 'qos'), is said,
 * never ignored (a CA file or a database the user believes in use).
 * Its name only is shown: a value may be a secret. */
static int check_known(const char *query, char *err, size_t errlen) {
  for (const char *p = query; p != NULL && *p != '\0';) {
    size_t len = strcspn(p, "&");
    size_t name_len = strcspn(p, "=&");
    int known = len == 0;
    for (size_t i = 0; i < OPTION_COUNT && !known; i++)
      known = strlen(options[i].param) == name_len &&
              strncmp(options[i].param, p, name_len) == 0;
    /* A name holding '@' is a userinfo with a '?' misread (token?x@h):
     * not shown. */
    int shown = memchr(p, '@', name_len) == NULL;
    if (!known) {
      snprintf(err, errlen,
               "unknown parameter '%.*s' in the URL: a broker URL takes "
               "only ca, cert, key and sni (TLS; docs/multinode.md)",
               shown ? (int)(name_len < 40 ? name_len : 40) : 3,
               shown ? p : "***");
      return MIDA_EURL;
    }
    p += len + (p[len] == '&');
  }
  return MIDA_OK;
}

int mida__tls_opts_read(const char *url, const char *query,
                        const char *tls_scheme, mida__tls_opts *out, char *err,
                        size_t errlen) {
  memset(out, 0, sizeof *out);
  out->enabled = mida__url_scheme_is(url, tls_scheme);
  size_t scheme_len = mida__url_scheme_len(url);
  if (check_known(query, err, errlen) != MIDA_OK)
    return MIDA_EURL;
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const struct option *o = &options[i];
    char *field = (char *)out + o->offset;
    int rc =
        mida__url_param(query != NULL ? query : "", o->param, field, o->size);
    if (rc == MIDA_OK && !out->enabled) {
      snprintf(err, errlen,
               "TLS option '%s' given for a plain %.*s:// URL: TLS is asked "
               "for by the scheme, %s://",
               o->param, (int)scheme_len, url, tls_scheme);
      return MIDA_EURL;
    }
    if (rc == MIDA_ENOTFOUND && out->enabled) {
      char *v = mida__env_dup(o->env);
      rc = MIDA_OK;
      if (v != NULL && (size_t)snprintf(field, o->size, "%s", v) >= o->size)
        rc = MIDA_ETOOBIG;
      mida__free(v);
    }
    if (rc == MIDA_ETOOBIG) {
      snprintf(err, errlen, "TLS option '%s' (%s) is too long", o->param,
               o->env);
      return MIDA_EURL;
    }
  }
  if (!out->enabled)
    return MIDA_OK;
  if (out->key[0] != '\0' && out->cert[0] == '\0') {
    snprintf(err, errlen,
             "TLS option 'key' (MIDA_TLS_KEY) given without 'cert' "
             "(MIDA_TLS_CERT)");
    return MIDA_EURL;
  }
  if (out->cert[0] != '\0' && out->key[0] == '\0')
    memcpy(out->key, out->cert, sizeof out->key); /* one PEM with both */
  int rc = check_file("CA", out->ca, err, errlen);
  if (rc == MIDA_OK)
    rc = check_file("certificate", out->cert, err, errlen);
  if (rc == MIDA_OK)
    rc = check_file("key", out->key, err, errlen);
  return rc;
}

const char *mida__tls_expected_name(const mida__tls_opts *o, const char *host) {
  return o->server_name[0] != '\0' ? o->server_name : host;
}

int mida__tls_is_ip(const char *s) {
  unsigned char addr[16];
  return inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1;
}

/*
 * tls.c -- OpenSSL client contexts of the redis and mqtt modules (tls.h).
 */
#include "sink/tls.h"

#include "mida.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* Keeps the verdict of a failed verification in the context's
 * mida__tls_ctx, so that a caller that never sees the SSL object (MQTT:
 * libmosquitto's own thread makes the handshake) can tell why. */
static int verify_cb(int ok, X509_STORE_CTX *store) {
  if (!ok) {
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    mida__tls_ctx *t =
        ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
    if (t != NULL)
      __atomic_store_n(&t->verify_error, X509_STORE_CTX_get_error(store),
                       __ATOMIC_RELAXED);
  }
  return ok;
}

/* The reason of OpenSSL's first queued error, or NULL; empties the queue. */
static const char *queued_reason(char *buf, size_t buflen) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0)
    return NULL;
  const char *r = ERR_reason_error_string(e);
  if (r != NULL)
    return r;
  ERR_error_string_n(e, buf, buflen);
  return buf;
}

static const char *or_else(const char *s, const char *fallback) {
  return s != NULL ? s : fallback;
}

int mida__tls_ctx_init(mida__tls_ctx *t, const mida__tls_opts *o,
                       const char *host, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  char why[256];
  ERR_clear_error();
  t->ctx = SSL_CTX_new(TLS_client_method());
  if (t->ctx == NULL) {
    snprintf(err, errlen, "cannot make a TLS context: %s",
             or_else(queued_reason(why, sizeof why), "out of memory"));
    return MIDA_EIO;
  }
  SSL_CTX_set_app_data(t->ctx, t);
  SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(t->ctx, SSL_MODE_AUTO_RETRY);
  SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
  const char *what = NULL, *file = NULL;
  if (o->ca[0] != '\0') {
    if (SSL_CTX_load_verify_locations(t->ctx, o->ca, NULL) != 1) {
      what = "CA";
      file = o->ca;
    }
  } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
    what = "system CA";
    file = "(default paths)";
  }
  if (what == NULL && o->cert[0] != '\0') {
    if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert) != 1) {
      what = "certificate";
      file = o->cert;
    } else if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key, SSL_FILETYPE_PEM) !=
               1) {
      what = "key";
      file = o->key;
    } else if (SSL_CTX_check_private_key(t->ctx) != 1) {
      what = "key (it does not match the certificate)";
      file = o->key;
    }
  }
  if (what == NULL) {
    const char *name = mida__tls_expected_name(o, host);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(t->ctx);
    X509_VERIFY_PARAM_set_hostflags(param,
                                    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = mida__tls_is_ip(name)
                 ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                 : X509_VERIFY_PARAM_set1_host(param, name, 0);
    if (ok != 1) {
      snprintf(err, errlen, "cannot verify the server name '%s'", name);
      mida__tls_ctx_free(t);
      return MIDA_EIO;
    }
    return MIDA_OK;
  }
  snprintf(err, errlen, "cannot use the TLS %s file '%s': %s", what, file,
           or_else(queued_reason(why, sizeof why), "unknown error"));
  mida__tls_ctx_free(t);
  return MIDA_EIO;
}

void mida__tls_ctx_free(mida__tls_ctx *t) {
  if (t->ctx != NULL)
    SSL_CTX_free(t->ctx);
  t->ctx = NULL;
}

const char *mida__tls_why(mida__tls_ctx *t, const char *fallback, char *buf,
                          size_t buflen) {
  int v = __atomic_exchange_n(&t->verify_error, 0, __ATOMIC_RELAXED);
  char tmp[256];
  const char *reason = queued_reason(tmp, sizeof tmp);
  if (v != 0) {
    snprintf(buf, buflen, "the server's certificate was refused: %s",
             X509_verify_cert_error_string(v));
    return buf;
  }
  if (reason == NULL)
    reason = fallback;
  /* What a client reads when the server answers TLS in plain text. */
  int plain = strstr(reason, "wrong version number") != NULL ||
              strstr(reason, "packet length too long") != NULL ||
              strstr(reason, "record layer failure") != NULL ||
              strstr(reason, "unexpected eof") != NULL;
  snprintf(buf, buflen, "%s%s", reason,
           plain ? " (does the server speak TLS on this port?)" : "");
  return buf;
}

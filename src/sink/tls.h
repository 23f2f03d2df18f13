/*
 * tls.h -- OpenSSL client contexts for the broker modules that make their
 * own TLS: Redis (whose hiredis 0.14 has none; redis_link.c) and MQTT
 * (libmosquitto takes our context, so that every broker verifies the same
 * way). NATS configures libnats with the same options instead (nats.c).
 *
 * Only the redis and mqtt modules are built with this file and link
 * OpenSSL: libmida and the preload library never load it.
 */
#ifndef MIDA_SINK_TLS_H
#define MIDA_SINK_TLS_H

#include "core/tls_opts.h"

#include <openssl/ssl.h>
#include <stddef.h>

/* A client context and what its last failed verification said. */
typedef struct mida__tls_ctx {
  SSL_CTX *ctx;     /* TLS 1.2 or later, peer verification on */
  int verify_error; /* X509_V_* of the last failed verification, or 0 */
} mida__tls_ctx;

/* Makes a client context from o: trusts o->ca (or the system's CAs), offers
 * o->cert with o->key, and accepts only a server certificate that chains to
 * a trusted CA and names mida__tls_expected_name(o, host) (a DNS name, or
 * an IP address literal). Returns MIDA_OK, or MIDA_EIO with a message in
 * err that names the file at fault. Free with mida__tls_ctx_free. */
int mida__tls_ctx_init(mida__tls_ctx *t, const mida__tls_opts *o,
                       const char *host, char *err, size_t errlen);

void mida__tls_ctx_free(mida__tls_ctx *t);

/* Why a handshake failed, in words, into buf: the certificate check's
 * verdict when there was one, else OpenSSL's first queued error (which it
 * takes off this thread's queue), else fallback; with a hint when the
 * server does not seem to speak TLS at all. Returns buf. */
const char *mida__tls_why(mida__tls_ctx *t, const char *fallback, char *buf,
                          size_t buflen);

#endif /* MIDA_SINK_TLS_H */

/*
 * http.h -- the HTTP side of `mida serve` (http.c, on libmicrohttpd).
 *
 * Security model (docs/serve.md): only GET and HEAD; every /api/ request
 * carries "Authorization: Bearer TOKEN" when a token is set, compared in
 * constant time; without a token the server listens on loopback only and
 * answers only requests whose Host is a loopback name (a web page of
 * another site cannot reach it by rebinding its DNS name to 127.0.0.1);
 * no cookies, no CORS headers, a strict Content-Security-Policy.
 */
#ifndef MIDA_SERVE_HTTP_H
#define MIDA_SERVE_HTTP_H

#include "serve/serve.h"

#include <stddef.h>

typedef struct mida__http mida__http;

typedef struct mida__http_opts {
  const char *listen; /* "127.0.0.1:8765", "[::1]:0", "0.0.0.0:8765" */
  const char *token;  /* the bearer token, or NULL for none */
  int max_clients;    /* connections served at once */
  int idle_timeout_s; /* seconds a connection may be idle; 0: 60 */
} mida__http_opts;

/* Checks a listen address ("HOST:PORT", "[IPV6]:PORT", ":PORT") and sets
 * *loopback to whether it names only loopback addresses (127.0.0.0/8,
 * ::1, "localhost"). Returns MIDA_OK, or MIDA_EINVAL with a message. */
int mida__http_check_listen(const char *listen, int *loopback, char *err,
                            size_t errlen);

/* Starts serving srv on opts->listen in background threads. A listen
 * address that is not loopback needs a token (MIDA_EINVAL otherwise).
 * Returns MIDA_OK with *out set, or an error with a message in err. The
 * port actually bound (for port 0) is written to *port. */
int mida__http_start(mida__serve *srv, const mida__http_opts *opts,
                     mida__http **out, int *port, char *err, size_t errlen);

/* Stops serving: refuses new connections at once, ends event streams,
 * lets the requests in flight finish within a grace (STOP_GRACE_MS), then
 * ends their queries (their clients get a 503) and stops. */
void mida__http_stop(mida__http *http);

#endif /* MIDA_SERVE_HTTP_H */

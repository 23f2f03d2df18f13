/*
 * tls_opts.h -- the one reader of the TLS options of broker URLs, shared by
 * the Redis, NATS and MQTT backends (src/sink/redis.c, nats.c, mqtt.c).
 *
 * TLS is asked for by the scheme alone: rediss:// (Redis), tls:// (NATS)
 * and mqtts:// (MQTT). Such a connection always verifies the server's
 * certificate, against the CA file given or else the system's CAs, and its
 * name, against the server name given or else the URL's host; there is no
 * switch to turn verification off. Its options, each a query parameter of
 * the URL or else an environment variable (the parameter wins):
 *
 *   ca=FILE     MIDA_TLS_CA           PEM file of the CAs to trust
 *   cert=FILE   MIDA_TLS_CERT         PEM client certificate (chain)
 *   key=FILE    MIDA_TLS_KEY          PEM key of cert (default: cert's file)
 *   sni=NAME    MIDA_TLS_SERVER_NAME  the name the server's certificate
 *                                     must carry (and the SNI sent)
 *
 * Any other parameter is an error. On a plain scheme (redis://, nats://,
 * mqtt://) a TLS parameter is an error too, not silently ignored, and
 * the environment variables are not read: a URL that does not say TLS
 * never gets it half-way. See docs/multinode.md, "Brokers: TLS and
 * authentication".
 */
#ifndef MIDA_CORE_TLS_OPTS_H
#define MIDA_CORE_TLS_OPTS_H

#include <stddef.h>

#define MIDA_TLS_PATH_MAX 1024

typedef struct mida__tls_opts {
  int enabled;                  /* the scheme asks for TLS */
  char ca[MIDA_TLS_PATH_MAX];   /* CA file, "" for the system's CAs */
  char cert[MIDA_TLS_PATH_MAX]; /* client certificate file, or "" */
  char key[MIDA_TLS_PATH_MAX];  /* its key file ("" when cert is "") */
  char server_name[256];        /* the name to verify; "" for the host */
} mida__tls_opts;

/* Reads the TLS options of url (whose parsed query is query) into out.
 * tls_scheme is the backend's TLS scheme ("rediss", "tls", "mqtts"): TLS is
 * enabled when url has that scheme. Checks that the files named can be
 * read. Returns MIDA_OK, or MIDA_EURL with a message in err (which names
 * options and files, never a secret) for a TLS parameter on a plain
 * scheme, a key without a certificate, a value too long, or a file that
 * cannot be read. */
int mida__tls_opts_read(const char *url, const char *query,
                        const char *tls_scheme, mida__tls_opts *out, char *err,
                        size_t errlen);

/* The name a server's certificate must carry: the server name given, else
 * host. */
const char *mida__tls_expected_name(const mida__tls_opts *o, const char *host);

/* Whether s is an IPv4 or IPv6 address literal (which a certificate names
 * in an IP entry, and which is never sent as SNI). */
int mida__tls_is_ip(const char *s);

#endif /* MIDA_CORE_TLS_OPTS_H */

/*
 * redis_link.h -- one connection to a Redis server, plain or TLS, for
 * redis.c: redis:// and rediss://.
 *
 * hiredis 0.14 (Debian 12's) has no TLS, so mida keeps hiredis for what
 * it is good at -- writing commands (redisFormatCommand) and reading
 * replies (redisReader) -- and does the socket itself: TCP with a connect
 * timeout, then, for rediss://, a TLS handshake (tls.h) that verifies the
 * server's certificate and name; every command has a deadline. Writing
 * never raises SIGPIPE in the process that ships (an observed program).
 */
#ifndef MIDA_SINK_REDIS_LINK_H
#define MIDA_SINK_REDIS_LINK_H

#include "core/tls_opts.h"
#include "core/url.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct mida__redis_link mida__redis_link;

/* Connects to u's host and port within timeout_ms, through TLS when
 * tls->enabled, and authenticates (AUTH with u's user and password, else
 * PING). Returns MIDA_OK, MIDA_EUNREACHABLE (no connection, or no answer
 * in time), MIDA_EBUSY (the server answered that it cannot serve yet:
 * mida__redis_link_failure), MIDA_EIO (the TLS handshake or AUTH failed,
 * e.g. the certificate is refused) or MIDA_ENOMEM, with a message in err
 * that shows no password. Close with mida__redis_link_close. */
int mida__redis_link_open(const mida__url *u, const mida__tls_opts *tls,
                          int timeout_ms, mida__redis_link **out, char *err,
                          size_t errlen);

/* Sends a command (redisFormatCommand's format) and waits up to the link's
 * timeout for its reply. Returns the reply (free with freeReplyObject), or
 * NULL with the reason in mida__redis_link_error; after NULL the link is
 * broken and must be closed. */
redisReply *mida__redis_link_command(mida__redis_link *l, const char *fmt, ...);

/* The same, with the command as argc strings of lengths lens (NULL:
 * NUL-terminated). */
redisReply *mida__redis_link_argv(mida__redis_link *l, int argc,
                                  const char **argv, const size_t *lens);

/* How long a command may wait for its reply from now on. */
void mida__redis_link_set_timeout(mida__redis_link *l, int timeout_ms);

/* Why the last command got no reply. */
const char *mida__redis_link_error(const mida__redis_link *l);

/* What a failed command means for its caller: r is its reply, an error,
 * or NULL when none came. Returns MIDA_EBUSY when Redis answered that it
 * cannot serve yet but will by itself -- LOADING (it loads its data after
 * a restart), BUSY (a script runs), MASTERDOWN (a replica without its
 * master), TRYAGAIN (a cluster slot moving) --, MIDA_EUNREACHABLE when no
 * answer came in time (a paused or overloaded server), else MIDA_EIO (a
 * refusal, a broken connection; READONLY, a replica, is one: it takes no
 * write until it is promoted, which no reply foretells). Writes why into
 * why: r's text; for MIDA_EBUSY what Redis is doing ("Redis is loading its
 * data (LOADING)"); for READONLY that l's server is a read-only replica,
 * of which master (asked with ROLE on l), and to point the URL at the
 * master. */
int mida__redis_link_failure(mida__redis_link *l, const redisReply *r,
                             char *why, size_t len);

void mida__redis_link_close(mida__redis_link *l);

#endif /* MIDA_SINK_REDIS_LINK_H */

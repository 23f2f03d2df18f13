/*
 * url.h -- the one reader of the URLs that name stores and brokers.
 *
 * Every URL that mida is given (MIDA_STORE, --store, --from/--to of
 * `mida ingest`, an MLflow tracking URI) is read here and nowhere else:
 *
 *   - its scheme (mida__url_scheme_len, mida__url_scheme_is), which picks a
 *     sink or consumer backend;
 *   - its parts, scheme://[user[:password]@]host[:port][/path][?query]
 *     (mida__url_parse), for the broker backends, with the query's
 *     parameters (mida__url_param; the TLS options: core/tls_opts.h);
 *   - the file an SQLite URL names (mida__url_sqlite_path), by one rule;
 *   - the text to show a person (mida__url_redact): every message that
 *     prints a URL prints it through this function, which masks passwords,
 *     secret-looking query parameters and secret key=value words
 *     (core/conninfo.h), so that no password reaches a terminal, a log or
 *     another user's `ps`.
 *
 * The SQLite rule: what follows "sqlite://" or "file://" is the path as it
 * stands, so "sqlite://mida.db" is relative to the working directory and
 * "sqlite:///abs/mida.db" is absolute; a URL without "://" is itself a
 * path. MLflow's tracking URIs follow SQLAlchemy instead ("sqlite:///rel",
 * "sqlite:////abs"): mida__url_mlflow_path reads those, so that mida
 * watches the very file MLflow writes.
 */
#ifndef MIDA_CORE_URL_H
#define MIDA_CORE_URL_H

#include "core/buf.h"

#include <stddef.h>

/* The length of url's scheme (the part before "://"), or 0 when url has
 * none, i.e. is a bare path. A scheme is letters, digits, '+', '-', '.',
 * starting with a letter (RFC 3986). NULL gives 0. */
size_t mida__url_scheme_len(const char *url);

/* Appends uri to out with each byte that RFC 3986 does not let stand for
 * itself where it is percent-encoded ("%XX"): after "scheme://", a byte
 * other than the unreserved, reserved and sub-delimiter characters, a '%'
 * that starts no escape, a second '#', and '[' or ']' outside the
 * authority. A valid URI is appended as it is; any other decodes to uri.
 * Sets *changed (if not NULL) to whether a byte was encoded. Returns
 * MIDA_OK or the buffer's error. For the exports (a data URI recorded as
 * a program gave it, "s3://b/a b", as an RO-Crate url). */
int mida__uri_add_escaped(mida__buf *out, const char *uri, int *changed);

/* Whether uri has a scheme and an authority ("s3://b/k") and is a valid
 * URI as it is (mida__uri_add_escaped would change nothing). */
int mida__uri_valid(const char *uri);

/* Whether url's scheme is scheme, ignoring ASCII case ("PostgreSQL://" is
 * "postgresql"). */
int mida__url_scheme_is(const char *url, const char *scheme);

/* Whether the first n bytes of a equal the NUL-terminated b, ignoring the
 * case of ASCII letters. */
int mida__url_scheme_equal(const char *a, size_t n, const char *b);

/* The parts of a network URL. Fields are copies; a missing part is "" (port:
 * the default given to mida__url_parse). */
typedef struct mida__url {
  char user[128];     /* before ':' in the userinfo */
  char password[256]; /* after ':' in the userinfo; a secret */
  char host[256];     /* host name or address (IPv6: without brackets) */
  int port;           /* 1..65535 */
  char path[256];     /* without the leading '/', query and fragment */
  char query[1024];   /* after '?', without the fragment */
} mida__url;

/* Parses scheme://[user[:password]@]host[:port][/path][?query]. The
 * userinfo ends at the last '@' before the path, so a password may hold
 * '@'; the user and password are percent-decoded (%40 is '@'). Returns
 * MIDA_OK, or MIDA_EURL when url has no scheme or host, a port outside
 * 1..65535, a part too long for its field, or an encoded NUL in the
 * userinfo. */
int mida__url_parse(const char *url, int default_port, mida__url *out);

/* The value of query parameter name in query ("a=1&b=2", without '?'),
 * percent-decoded, in buf. Returns MIDA_OK, MIDA_ENOTFOUND when absent,
 * or MIDA_ETOOBIG when buf is too small. A parameter given without '='
 * has the value "". */
int mida__url_param(const char *query, const char *name, char *buf,
                    size_t buflen);

/* Appends url to out with every '@' of its userinfo but the last written
 * "%40", and every '/' "%2F": libpq ends the userinfo at the first '@'
 * and the authority at the first '/', mida__url_redact at the last '@'
 * before the query, so that a password holding '@' or '/' would be in
 * part libpq's host name or port, shown in its messages ('invalid
 * integer value "pa" for connection option "port"'). A '/' after a host
 * and port, or after a host alone, still ends the authority. Returns
 * MIDA_OK or the buffer's error. */
int mida__url_escape_userinfo(const char *url, mida__buf *out);

/* Writes url into buf (buflen > 0) as it may be shown to anyone: the
 * password of the userinfo, the values of query parameters whose names
 * look like secrets (mida__secret_name) and those of key=value words with
 * such names, anywhere in url (libpq's conninfo, given for a URL or after
 * one: mida__conninfo_next_secret, core/conninfo.h), become "***"; spans
 * that overlap become one "***". A longer url is cut
 * at buflen - 1 bytes, never inside "***" so as to show part of a secret.
 * NULL gives "". Returns buf, so that it can be an argument of printf. */
const char *mida__url_redact(const char *url, char *buf, size_t buflen);

/* For url without "://" that begins as a URL whose "//" or ':' was
 * mistyped ("redis:/:pw@h/s", "redis:h/s", "redis//:pw@h/s" for
 * "redis://..."): the offset of what would be its authority, and the
 * scheme's length in *scheme_len. 0 for anything else. Such a text is
 * read as a file's path, but it is shown as the URL it was meant to be
 * (mida__url_redact, mida__url_secret_span), its password masked. */
size_t mida__url_mistyped(const char *url, size_t *scheme_len);

/* Where url's userinfo secret is, the part mida__url_redact masks: the
 * password (after the first ':' of the userinfo, up to its last '@'), or
 * a NATS token (all of a userinfo without ':'). Sets *off and *len and
 * returns 1; 0 (and 0, 0) when url has none, or is a path (but not a
 * mistyped URL: mida__url_mistyped). */
int mida__url_secret_span(const char *url, size_t *off, size_t *len);

/* The one rule of where a URL's userinfo ends, for mida__url_secret_span
 * and for ps_mask.c, which finds URLs inside arguments (--store=URL) and
 * knows only where their authority starts: authority is the text after
 * "://" (or a mistyped URL's, mida__url_mistyped). Returns 1 when it has
 * a userinfo, with *at the offset of the '@' that ends it (the last one
 * before the query; failing one, when a '?' or '#' comes before the first
 * '/', the last one of all: a password may hold any of '@', '/', '?',
 * '#') and *colon the offset of its first ':', or SIZE_MAX when it has
 * none (a user name alone, or a NATS token); 0 when it has none. */
int mida__url_userinfo_end(const char *authority, size_t *at,
                           size_t *colon);

/* The one rule of where a URL's parameters begin, for mida__url_redact,
 * mida__url_params and ps_mask.c: the offset in authority (as for
 * mida__url_userinfo_end; token: its scheme is nats or tls) of the first
 * '?' or '#' after the userinfo's secret, or of the terminating NUL when
 * there is none. */
size_t mida__url_params_start(const char *authority, int token);

/* url's parameters, from the '?' or '#' where they begin
 * (mida__url_params_start) to the end, or NULL when it has none or is a
 * path. */
const char *mida__url_params(const char *url);

/* The one rule of which parameter values are secret, for
 * mida__url_redact, url_scrub.c and ps_mask.c. params is the text from
 * where a URL's parameters begin (mida__url_params_start). Its query and
 * its fragment alike are name=value pairs split by '&' (and '#'): a
 * fragment is no safer to show than a query ("https://h/x#f?token=abc",
 * "#/route?password=p": the name "f?token" looks like a secret, by
 * mida__secret_name's words). Finds the next value, at or after *from
 * (0 to start), of a parameter whose name looks like a secret: sets *off
 * and *len (its place in params, possibly empty), moves *from past it and
 * returns 1; returns 0 when none is left. */
int mida__url_next_secret_value(const char *params, size_t *from,
                                size_t *off, size_t *len);

/* Appends n bytes of s to buf (buflen > 0) at *o, up to buflen - 1 bytes
 * in all; all or nothing when whole is set, so that a cut never shows part
 * of "***". For the writers of text to show (mida__url_redact,
 * url_scrub.h). */
void mida__url_put(char *buf, size_t buflen, size_t *o, const char *s,
                   size_t n, int whole);

/* The size of a buffer for mida__url_redact() that is enough for messages:
 * longer URLs are cut. */
#define MIDA_URL_SHOWN 512

/* The local file that a store URL names, by mida's rule (above): for
 * "sqlite://P", "file://P" (any case) and a bare path P, P into buf.
 * Returns MIDA_OK, MIDA_EURL when the URL names no local file (another
 * scheme, an empty path, or a bare text that is a libpq conninfo,
 * mida__conninfo_looks_like: a server's, which must not become a file
 * named with its password; an SQLite URL whose "//" was mistyped,
 * mida__url_sqlite_mistyped), MIDA_ETOOBIG when buf is too small, or
 * MIDA_EINVAL for NULL arguments. */
int mida__url_sqlite_path(const char *url, char *buf, size_t buflen);

/* Whether url is "sqlite:" or "file:" (any case) without the "//" after
 * it ("sqlite:/x.db", "sqlite:x.db", "file:/x.db"): a mistyped URL, not
 * the path of a file "x.db" in a directory "sqlite:" that would be made
 * for it. Sets *scheme_len to the scheme's length when it is. */
int mida__url_sqlite_mistyped(const char *url, size_t *scheme_len);

/* The local file that an MLflow tracking URI names, by SQLAlchemy's rule
 * that MLflow follows: "sqlite:///rel.db" is relative, "sqlite:////abs.db"
 * absolute; a plain path is itself. Same returns as mida__url_sqlite_path
 * (MIDA_EURL for postgresql://, http://, file:// run directories). */
int mida__url_mlflow_path(const char *uri, char *buf, size_t buflen);

#endif /* MIDA_CORE_URL_H */

/*
 * conninfo.c -- the key=value words of a libpq connection string, in any
 * text (conninfo.h).
 */
#include "core/conninfo.h"

#include "core/redact.h"
#include "core/url.h"

#include <string.h>

/* libpq's connection keywords (PostgreSQL 17's PQconndefaults, and the
 * older ones it still names in its documentation). */
static const char *const libpq_keywords[] = {
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "requiressl",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
};

/* White space as libpq's isspace() sees it in the C locale. */
static int is_space(int c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

static int is_name_byte(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/* Whether a word may start at text + i: at the start, after white space,
 * or after a quote (libpq reads the next word right after a quoted
 * value's closing one; a shell command quotes with '"' too). */
static int word_start(const char *text, size_t i) {
  if (is_space((unsigned char)text[i]))
    return 0;
  return i == 0 || is_space((unsigned char)text[i - 1]) ||
         text[i - 1] == '\'' || text[i - 1] == '"';
}

/* The length of the name of the key=value word at text + i, and in *eq
 * the offset of the byte after its '=' (white space may come around it);
 * 0 when no such word starts there. */
static size_t word_name(const char *text, size_t i, size_t *eq) {
  size_t p = i;
  while (is_name_byte((unsigned char)text[p]))
    p++;
  size_t n = p - i;
  while (n > 0 && is_space((unsigned char)text[p]))
    p++;
  if (n == 0 || text[p] != '=')
    return 0;
  *eq = p + 1;
  return n;
}

/* The place of the value that starts after white space at text + p (just
 * past its word's '='): *off, and its length returned (above). */
static size_t word_value(const char *text, size_t p, size_t *off) {
  while (is_space((unsigned char)text[p]))
    p++;
  *off = p;
  int quoted = text[p] == '\'';
  if (quoted)
    p++;
  while (text[p] != '\0') {
    if (quoted ? text[p] == '\'' : is_space((unsigned char)text[p]))
      break;
    if (text[p] == '\\' && text[p + 1] != '\0')
      p++; /* the byte it escapes, a quote or a space, is the value's */
    p++;
  }
  if (quoted && text[p] == '\'')
    p++;
  return p - *off;
}

int mida__conninfo_next_secret(const char *text, size_t *from, size_t *off,
                               size_t *len) {
  size_t i = *from;
  for (; text[i] != '\0'; i++) {
    size_t eq = 0;
    size_t n = word_start(text, i) ? word_name(text, i, &eq) : 0;
    if (n > 0 && mida__secret_option(text + i, n)) {
      *len = word_value(text, eq, off);
      *from = *off + *len;
      return 1;
    }
  }
  *from = i;
  return 0;
}

/* Whether the n bytes at name are a libpq keyword, in any case (as
 * mida__url_scheme_equal compares). */
static int libpq_keyword(const char *name, size_t n) {
  size_t count = sizeof libpq_keywords / sizeof libpq_keywords[0];
  for (size_t k = 0; k < count; k++)
    if (mida__url_scheme_equal(name, n, libpq_keywords[k]))
      return 1;
  return 0;
}

int mida__conninfo_looks_like(const char *text) {
  if (text == NULL || mida__url_scheme_len(text) > 0)
    return 0;
  for (size_t i = 0; text[i] != '\0'; i++) {
    size_t eq = 0;
    size_t n = word_start(text, i) ? word_name(text, i, &eq) : 0;
    if (n > 0 &&
        (libpq_keyword(text + i, n) || mida__secret_name(text + i, n)))
      return 1;
  }
  return 0;
}

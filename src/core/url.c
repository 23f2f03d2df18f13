/*
 * url.c -- schemes, parts, SQLite paths and the redacted form of store and
 * broker URLs, and the valid (escaped) form of any URI (url.h).
 */
#include "core/url.h"

#include "core/conninfo.h"
#include "core/hex.h"
#include "core/redact.h"
#include "mida.h"

#include <stdint.h>
#include <string.h>

size_t mida__url_scheme_len(const char *url) {
  const char *sep = url != NULL ? strstr(url, "://") : NULL;
  if (sep == NULL || sep == url)
    return 0;
  for (const char *p = url; p < sep; p++) {
    int c = (unsigned char)*p;
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    int other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!alpha && (p == url || !other))
      return 0;
  }
  return (size_t)(sep - url);
}

/* Whether c stands for itself in a URI: unreserved, gen-delims other
 * than '#', '[', ']', and sub-delims (RFC 3986, 2.2 and 2.3). */
static int uri_plain(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("-._~:/?@!$&'()*+,;=", c) != NULL);
}

/* Walks uri: appends it to out (if not NULL), escaped after its
 * "scheme://", and counts in *escaped the bytes that needed an escape.
 * Returns MIDA_OK or the buffer's error. */
static int uri_walk(const char *uri, mida__buf *out, size_t *escaped) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = mida__url_scheme_len(uri);
  const unsigned char *p = (const unsigned char *)uri;
  *escaped = 0;
  int rc = MIDA_OK;
  if (n > 0) {
    if (out != NULL)
      rc = mida__buf_add(out, uri, n + 3);
    p += n + 3;
  }
  int authority = n > 0, fragment = 0;
  for (; rc == MIDA_OK && *p; p++) {
    unsigned char c = *p;
    if (c == '/' || c == '?' || c == '#')
      authority = 0;
    int keep;
    if (c == '%')
      keep = mida__hex_value(p[1]) >= 0 && mida__hex_value(p[2]) >= 0;
    else if (c == '#')
      keep = !fragment;
    else if (c == '[' || c == ']')
      keep = authority;
    else
      keep = uri_plain(c);
    fragment |= c == '#';
    *escaped += !keep;
    char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
    if (out != NULL)
      rc = keep ? mida__buf_add(out, p, 1) : mida__buf_add(out, esc, 3);
  }
  return rc;
}

int mida__uri_add_escaped(mida__buf *out, const char *uri, int *changed) {
  size_t escaped = 0;
  int rc = uri_walk(uri, out, &escaped);
  if (changed != NULL)
    *changed = escaped > 0;
  return rc;
}

int mida__uri_valid(const char *uri) {
  size_t escaped = 0;
  return uri != NULL && mida__url_scheme_len(uri) > 0 &&
         uri_walk(uri, NULL, &escaped) == MIDA_OK && escaped == 0;
}

int mida__url_scheme_equal(const char *a, size_t n, const char *b) {
  if (strlen(b) != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    int x = (unsigned char)a[i];
    int y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z')
      x += 'a' - 'A';
    if (y >= 'A' && y <= 'Z')
      y += 'a' - 'A';
    if (x != y)
      return 0;
  }
  return 1;
}

int mida__url_scheme_is(const char *url, const char *scheme) {
  size_t n = mida__url_scheme_len(url);
  return n > 0 && mida__url_scheme_equal(url, n, scheme);
}

/* ---- parts -------------------------------------------------------------- */

static int copy_part(char *dst, size_t cap, const char *p, size_t n) {
  if (n >= cap)
    return MIDA_EURL;
  memcpy(dst, p, n);
  dst[n] = '\0';
  return MIDA_OK;
}

/* Copies n bytes of p into dst with each %XX percent-decoded, as a URL's
 * userinfo is (RFC 3986; libpq reads a PostgreSQL URL's so): a password
 * holding '@', '/', '?' or '#' can only be written encoded. A '%' not
 * followed by two hex digits stays as it is. */
static int copy_decoded(char *dst, size_t cap, const char *p, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)p[i];
    if (c == '%' && n - i >= 3 && mida__hex_value(p[i + 1]) >= 0 &&
        mida__hex_value(p[i + 2]) >= 0) {
      c = mida__hex_value(p[i + 1]) * 16 + mida__hex_value(p[i + 2]);
      i += 2;
    }
    if (c == '\0' || o + 1 >= cap)
      return MIDA_EURL; /* a NUL would cut the secret short */
    dst[o++] = (char)c;
  }
  dst[o] = '\0';
  return MIDA_OK;
}

int mida__url_parse(const char *url, int default_port, mida__url *out) {
  memset(out, 0, sizeof *out);
  out->port = default_port;
  size_t n = mida__url_scheme_len(url);
  if (n == 0)
    return MIDA_EURL;
  const char *p = url + n + 3;
  const char *end = p + strcspn(p, "/?#"); /* the authority's end */
  const char *at = NULL;
  for (const char *q = p; q < end; q++)
    if (*q == '@')
      at = q;
  if (at != NULL) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *uend = colon != NULL ? colon : at;
    if (copy_decoded(out->user, sizeof out->user, p, (size_t)(uend - p)) !=
        0)
      return MIDA_EURL;
    if (colon != NULL && copy_decoded(out->password, sizeof out->password,
                                      colon + 1, (size_t)(at - colon - 1)) != 0)
      return MIDA_EURL;
    p = at + 1;
  }
  const char *colon = NULL;
  if (*p == '[') {
    /* An IPv6 address, in brackets (RFC 3986): the host is what they
     * hold, and a ':' after them begins the port. */
    const char *close = memchr(p, ']', (size_t)(end - p));
    if (close == NULL || close == p + 1 ||
        copy_part(out->host, sizeof out->host, p + 1,
                  (size_t)(close - p - 1)) != 0 ||
        (close + 1 < end && close[1] != ':'))
      return MIDA_EURL;
    colon = close + 1 < end ? close + 1 : NULL;
  } else {
    colon = memchr(p, ':', (size_t)(end - p));
    const char *hend = colon != NULL ? colon : end;
    if (hend == p ||
        copy_part(out->host, sizeof out->host, p, (size_t)(hend - p)) != 0)
      return MIDA_EURL;
  }
  if (colon != NULL) {
    long port = 0;
    const char *q = colon + 1;
    if (q == end)
      return MIDA_EURL;
    for (; q < end; q++) {
      if (*q < '0' || *q > '9')
        return MIDA_EURL;
      port = port * 10 + (*q - '0');
      if (port > 65535)
        return MIDA_EURL;
    }
    if (port == 0)
      return MIDA_EURL;
    out->port = (int)port;
  }
  const char *rest = end;
  if (*rest == '/') {
    size_t len = strcspn(rest + 1, "?#");
    if (copy_part(out->path, sizeof out->path, rest + 1, len) != 0)
      return MIDA_EURL;
    rest += 1 + len;
  }
  if (*rest == '?') {
    size_t len = strcspn(rest + 1, "#");
    if (copy_part(out->query, sizeof out->query, rest + 1, len) != 0)
      return MIDA_EURL;
  }
  return MIDA_OK;
}

int mida__url_param(const char *query, const char *name, char *buf,
                    size_t buflen) {
  if (query == NULL || name == NULL || buf == NULL || buflen == 0)
    return MIDA_EINVAL;
  size_t name_len = strlen(name);
  const char *p = query;
  while (*p != '\0') {
    size_t len = strcspn(p, "&");
    const char *eq = memchr(p, '=', len);
    size_t key_len = eq != NULL ? (size_t)(eq - p) : len;
    if (key_len == name_len && strncmp(p, name, name_len) == 0) {
      const char *v = eq != NULL ? eq + 1 : p + len;
      const char *vend = p + len;
      size_t o = 0;
      while (v < vend) {
        int c = (unsigned char)*v;
        if (c == '%' && vend - v >= 3 && mida__hex_value(v[1]) >= 0 &&
            mida__hex_value(v[2]) >= 0) {
          c = mida__hex_value(v[1]) * 16 + mida__hex_value(v[2]);
          v += 3;
        } else {
          v++;
          if (c == '+')
            c = ' ';
        }
        if (o + 1 >= buflen)
          return MIDA_ETOOBIG;
        buf[o++] = (char)c;
      }
      buf[o] = '\0';
      return MIDA_OK;
    }
    p += len;
    if (*p == '&')
      p++;
  }
  return MIDA_ENOTFOUND;
}

/* Whether the userinfo of the URL whose authority starts at p runs past
 * the first '/' (at slash) to an '@' after it: a password that holds a
 * '/' ("u:pa/ss@h/db"). Not when the text before the '/' already has its
 * '@', has no ':' ("h/db@x": a host, then a database name), or is a
 * host and a port ("h:5432/db@x"). */
static int userinfo_past_slash(const char *p, const char *slash) {
  if (memchr(p, '@', (size_t)(slash - p)) != NULL)
    return 0;
  const char *colon = memchr(p, ':', (size_t)(slash - p));
  if (colon == NULL)
    return 0;
  const char *d = colon + 1;
  while (d < slash && *d >= '0' && *d <= '9')
    d++;
  return !(d == slash && d > colon + 1);
}

int mida__url_escape_userinfo(const char *url, mida__buf *out) {
  size_t n = mida__url_scheme_len(url);
  if (n == 0)
    return mida__buf_adds(out, url);
  const char *p = url + n + 3;
  const char *query = p + strcspn(p, "?#");
  const char *end = p + strcspn(p, "/?#"); /* libpq's authority */
  const char *last = NULL;
  for (const char *q = p; q < query; q++)
    if (*q == '@' && (q < end || userinfo_past_slash(p, end)))
      last = q;
  if (last != NULL && last > end)
    end = last + 1;
  int rc = mida__buf_add(out, url, (size_t)(p - url));
  for (const char *q = p; q < end && rc == MIDA_OK; q++)
    rc = *q == '@' && q != last  ? mida__buf_adds(out, "%40")
         : *q == '/' && q < last ? mida__buf_adds(out, "%2F")
                                 : mida__buf_add(out, q, 1);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, end);
  return rc;
}

/* ---- the redacted form -------------------------------------------------- */

void mida__url_put(char *buf, size_t buflen, size_t *o, const char *s,
                   size_t n, int whole) {
  size_t room = buflen - 1 - *o;
  if (n > room) {
    if (whole)
      return;
    n = room;
  }
  memcpy(buf + *o, s, n);
  *o += n;
}

int mida__url_next_secret_value(const char *params, size_t *from,
                                size_t *off, size_t *len) {
  const char *q = params + *from;
  if (*from == 0 && *q == '?')
    q++; /* the query's own mark; a later '?' is part of a name */
  while (*q != '\0') {
    if (*q == '&' || *q == '#') {
      q++;
      continue;
    }
    size_t n = strcspn(q, "&#");
    const char *eq = memchr(q, '=', n);
    if (eq != NULL && mida__secret_name(q, (size_t)(eq - q))) {
      *off = (size_t)(eq + 1 - params);
      *len = (size_t)(q + n - eq - 1);
      *from = (size_t)(q + n - params);
      return 1;
    }
    q += n;
  }
  *from = (size_t)(q - params);
  return 0;
}

/* Whether url is a path (no scheme, sqlite:// or file://): no userinfo,
 * no query, nothing to hide. */
static int names_a_path(const char *url) {
  size_t n = mida__url_scheme_len(url);
  return n == 0 || mida__url_scheme_equal(url, n, "sqlite") ||
         mida__url_scheme_equal(url, n, "file");
}

size_t mida__url_mistyped(const char *url, size_t *scheme_len) {
  *scheme_len = 0;
  if (url == NULL || mida__url_scheme_len(url) > 0)
    return 0;
  size_t n = 0;
  for (;; n++) {
    int c = (unsigned char)url[n];
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    int other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!alpha && (n == 0 || !other))
      break;
  }
  size_t start = 0;
  if (n > 0 && url[n] == ':') /* "://" is excluded above */
    start = url[n + 1] == '/' ? n + 2 : n + 1;
  else if (n > 0 && url[n] == '/' && url[n + 1] == '/')
    start = n + 2;
  if (start > 0)
    *scheme_len = n;
  return start;
}

/* Where url's authority starts, its scheme's length in *n; 0 for a path
 * that is no mistyped URL. */
static size_t authority_start(const char *url, size_t *n) {
  if (!names_a_path(url)) {
    *n = mida__url_scheme_len(url);
    return *n + 3;
  }
  return mida__url_mistyped(url, n);
}

int mida__url_userinfo_end(const char *authority, size_t *at,
                           size_t *colon) {
  *at = 0;
  *colon = SIZE_MAX;
  const char *p = authority;
  /* The userinfo ends at the last '@' before the query: later than the
   * parser's authority, so that a password holding a '/' is hidden too.
   * Failing one, when a '?' or '#' comes before the first '/', it is
   * taken for the password's (which no parser reads: "redis://:ab#cd@h/s"
   * is still no text to show), and the userinfo ends at the last '@' of
   * all, which may hide more than the password, never less. Not at the
   * last '@' before some later mark: the mask may take that mark's '/'
   * away, and the masked text would then have a userinfo of its own up
   * to a later '@' (fuzz/json_fuzz.c: masked once is masked). An '@' in
   * a query or fragment after a path (https://h/x?a=b@c) stays its own. */
  const char *qstart = p + strcspn(p, "?#");
  const char *end = NULL;
  for (const char *q = p; q < qstart; q++)
    if (*q == '@')
      end = q;
  if (end == NULL && *qstart != '\0' && p + strcspn(p, "/") > qstart)
    end = strrchr(qstart, '@');
  if (end == NULL)
    return 0;
  *at = (size_t)(end - p);
  const char *c = memchr(p, ':', *at);
  if (c != NULL)
    *colon = (size_t)(c - p);
  return 1;
}

size_t mida__url_params_start(const char *authority, int token) {
  size_t first = strcspn(authority, "?#");
  size_t at, colon;
  /* A secret of the userinfo may run past the first '?' or '#'
   * (mida__url_userinfo_end): the parameters begin after it. */
  if (mida__url_userinfo_end(authority, &at, &colon) &&
      (colon != SIZE_MAX || token) && at > first)
    return at + strcspn(authority + at, "?#");
  return first;
}

/* Whether the n bytes of scheme name a scheme whose userinfo of one part
 * is a token (NATS's): all of it is the secret. */
static int token_scheme(const char *scheme, size_t n) {
  return mida__url_scheme_equal(scheme, n, "nats") ||
         mida__url_scheme_equal(scheme, n, "tls");
}

const char *mida__url_params(const char *url) {
  size_t n = 0;
  size_t start = url != NULL ? authority_start(url, &n) : 0;
  if (start == 0)
    return NULL;
  const char *p = url + start;
  p += mida__url_params_start(p, token_scheme(url, n));
  return *p != '\0' ? p : NULL;
}

int mida__url_secret_span(const char *url, size_t *off, size_t *len) {
  *off = 0;
  *len = 0;
  size_t n = 0;
  size_t start = url != NULL ? authority_start(url, &n) : 0;
  if (start == 0)
    return 0;
  size_t at, colon;
  if (!mida__url_userinfo_end(url + start, &at, &colon))
    return 0;
  if (colon == SIZE_MAX) {
    /* NATS's URLs carry a token as a userinfo of one part (token@): all
     * of it is the secret. Elsewhere it is a user name. */
    if (!token_scheme(url, n))
      return 0;
    *off = start;
    *len = at;
    return 1;
  }
  *off = start + colon + 1;
  *len = at - colon - 1;
  return 1;
}

/* One rule's secret spans of a text, in order, each as [off, off + len)
 * of the text: the next one is read ahead (has), so that the spans of
 * several rules can be merged. */
typedef struct secret_spans {
  int (*next)(const char *text, size_t *from, size_t *off, size_t *len);
  const char *text; /* where the rule reads; base bytes into the URL */
  size_t base;
  size_t from;     /* the rule's own place */
  int has;         /* whether off and len hold the next span */
  size_t off, len; /* the next span, in the URL */
} secret_spans;

static void spans_advance(secret_spans *s) {
  s->has = s->text != NULL && s->next(s->text, &s->from, &s->off, &s->len);
  s->off += s->base;
}

/* The userinfo's secret of url as a rule of one span (from: 0 before it,
 * 1 after). */
static int next_userinfo_secret(const char *url, size_t *from, size_t *off,
                                size_t *len) {
  if (*from > 0)
    return 0;
  *from = 1;
  return mida__url_secret_span(url, off, len);
}

const char *mida__url_redact(const char *url, char *buf, size_t buflen) {
  if (buf == NULL || buflen == 0)
    return "";
  size_t o = 0;
  buf[0] = '\0';
  if (url == NULL)
    return buf;
  /* The userinfo's secret, the secret parameters' values and the values
   * of secret key=value words (core/conninfo.h), wherever they stand (a
   * conninfo given for a URL, or after one): spans that overlap are
   * masked as one. */
  const char *params = mida__url_params(url);
  secret_spans rules[3] = {
      {next_userinfo_secret, url, 0, 0, 0, 0, 0},
      {mida__url_next_secret_value, params,
       params != NULL ? (size_t)(params - url) : 0, 0, 0, 0, 0},
      {mida__conninfo_next_secret, url, 0, 0, 0, 0, 0},
  };
  const size_t nrules = sizeof rules / sizeof rules[0];
  for (size_t r = 0; r < nrules; r++)
    spans_advance(&rules[r]);
  size_t shown = 0; /* how much of url is written or masked */
  for (;;) {
    secret_spans *first = NULL;
    for (size_t r = 0; r < nrules; r++)
      if (rules[r].has && (first == NULL || rules[r].off < first->off))
        first = &rules[r];
    if (first == NULL)
      break;
    size_t off = first->off, end = off + first->len;
    for (int merged = 1; merged;) {
      merged = 0;
      for (size_t r = 0; r < nrules; r++) {
        if (rules[r].has && rules[r].off <= end) {
          if (rules[r].off + rules[r].len > end)
            end = rules[r].off + rules[r].len;
          spans_advance(&rules[r]);
          merged = 1;
        }
      }
    }
    /* Each rule's spans come in order, and those that start by end are
     * merged: off is never before shown. */
    mida__url_put(buf, buflen, &o, url + shown, off - shown, 0);
    mida__url_put(buf, buflen, &o, MIDA_REDACTED, strlen(MIDA_REDACTED), 1);
    shown = end;
  }
  mida__url_put(buf, buflen, &o, url + shown, strlen(url + shown), 0);
  buf[o] = '\0';
  return buf;
}

/* ---- SQLite paths ------------------------------------------------------- */

static int copy_path(const char *path, char *buf, size_t buflen) {
  size_t len = strlen(path);
  if (len == 0)
    return MIDA_EURL;
  if (len >= buflen)
    return MIDA_ETOOBIG;
  memcpy(buf, path, len + 1);
  return MIDA_OK;
}

int mida__url_sqlite_mistyped(const char *url, size_t *scheme_len) {
  size_t n = 0;
  /* Only the ':' forms: "sqlite//x.db" is a path under "sqlite/". */
  if (mida__url_mistyped(url, &n) == 0 || url[n] != ':' ||
      !(mida__url_scheme_equal(url, n, "sqlite") ||
        mida__url_scheme_equal(url, n, "file")))
    return 0;
  *scheme_len = n;
  return 1;
}

int mida__url_sqlite_path(const char *url, char *buf, size_t buflen) {
  if (url == NULL || buf == NULL || buflen == 0)
    return MIDA_EINVAL;
  size_t n = mida__url_scheme_len(url);
  if (n == 0 && mida__conninfo_looks_like(url))
    return MIDA_EURL; /* a server's, never a file to make */
  size_t typo = 0;
  if (n == 0 && mida__url_sqlite_mistyped(url, &typo))
    return MIDA_EURL; /* never a file named "sqlite:/x.db" */
  if (n == 0)
    return copy_path(url, buf, buflen);
  if (!mida__url_scheme_equal(url, n, "sqlite") &&
      !mida__url_scheme_equal(url, n, "file"))
    return MIDA_EURL;
  return copy_path(url + n + 3, buf, buflen);
}

int mida__url_mlflow_path(const char *uri, char *buf, size_t buflen) {
  if (uri == NULL || buf == NULL || buflen == 0)
    return MIDA_EINVAL;
  size_t n = mida__url_scheme_len(uri);
  if (n == 0)
    return copy_path(uri, buf, buflen);
  /* SQLAlchemy: "sqlite://" then "/" then the path, which starts with '/'
   * when absolute. "sqlite://host/x" names no local file. */
  if (!mida__url_scheme_equal(uri, n, "sqlite") || uri[n + 3] != '/')
    return MIDA_EURL;
  return copy_path(uri + n + 4, buf, buflen);
}

/*
 * url_text.c -- the URLs inside a recorded text, with their secrets masked
 * (url_text.h).
 */
#include "core/url_text.h"

#include "core/alloc.h"
#include "core/url.h"
#include "mida.h"

#include <string.h>
#include <strings.h>

/* Whether c may start or continue a scheme (RFC 3986). */
static int scheme_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

static int is_letter(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether c ends a URL written in a text (url_text.h). */
static int ends_url(int c) {
  return c <= ' ' || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`' || c == '\\' || c == '{' || c == '}' ||
         c == '|' || c == '^';
}

/* One URL found in a text: [start, end), the scheme [start, sep). */
typedef struct url_span {
  size_t start, sep, end;
} url_span;

int mida__url_text_next(const char *text, size_t len, size_t from,
                        size_t *start, size_t *end) {
  while (text != NULL && from + 3 <= len) {
    /* memchr rather than memmem: on the short texts of most records its
     * setup is most of the cost, and memmem's is larger. */
    const char *sep = memchr(text + from, ':', len - from - 2);
    if (sep == NULL)
      return 0;
    size_t s = (size_t)(sep - text);
    if (sep[1] != '/' || sep[2] != '/') {
      from = s + 1;
      continue;
    }
    size_t b = s;
    while (b > 0 && scheme_char((unsigned char)text[b - 1]))
      b--;
    while (b < s && !is_letter((unsigned char)text[b]))
      b++; /* "1http://": the scheme starts at its first letter */
    size_t e = s + 3;
    while (e < len && !ends_url((unsigned char)text[e]))
      e++;
    if (b == s) { /* "://" with no scheme before it */
      from = s + 3;
      continue;
    }
    *start = b;
    *end = e;
    return 1;
  }
  return 0;
}

/* The next URL in text[from..len) that may hold a secret (a '@' or a '?'
 * after its "://", and not a path), in *u; 0 when there is none. */
static int next_candidate(const char *text, size_t len, size_t from,
                          url_span *u) {
  size_t b, e;
  while (mida__url_text_next(text, len, from, &b, &e)) {
    from = e;
    size_t s = b;
    while (text[s] != ':')
      s++;
    if (memchr(text + s + 3, '@', e - s - 3) == NULL &&
        memchr(text + s + 3, '?', e - s - 3) == NULL)
      continue;
    size_t n = s - b;
    if ((n == 4 && strncasecmp(text + b, "file", 4) == 0) ||
        (n == 6 && strncasecmp(text + b, "sqlite", 6) == 0))
      continue;
    u->start = b;
    u->sep = s;
    u->end = e;
    return 1;
  }
  return 0;
}

/* The URL u of text as mida__url_redact writes it, into a new string
 * (NULL when out of memory); *changed says whether it differs. */
static char *redacted(const char *text, const url_span *u, int *changed) {
  size_t n = u->end - u->start;
  /* Each mask may be longer than what it hides (a password of one byte):
   * room for "***" per '@', '&' or '?' and the rest as it is. */
  size_t room = 2 * n + 16;
  char *in = mida__malloc(n + 1);
  char *out = mida__malloc(room);
  if (in == NULL || out == NULL) {
    mida__free(in);
    mida__free(out);
    return NULL;
  }
  memcpy(in, text + u->start, n);
  in[n] = '\0';
  mida__url_redact(in, out, room);
  *changed = strcmp(in, out) != 0;
  mida__free(in);
  return out;
}

/* Whether text has a '@' or a '?' anywhere: a URL with a secret has one
 * after its "://" (next_candidate), so a text with neither has none. Two
 * memchr (vectorised by libc) over a file record's URI and data id, where
 * the scan for URLs and their ends cost ~900 instructions a record. */
static int may_hold_secret(const char *text, size_t len) {
  return memchr(text, '@', len) != NULL || memchr(text, '?', len) != NULL;
}

int mida__url_text_has_secret(const char *text, size_t len) {
  url_span u;
  size_t from = 0;
  if (text == NULL || !may_hold_secret(text, len))
    return 0;
  while (next_candidate(text, len, from, &u)) {
    int changed = 0;
    char *r = redacted(text, &u, &changed);
    mida__free(r);
    if (r == NULL || changed)
      return 1; /* out of memory: the rewrite will say so */
    from = u.end;
  }
  return 0;
}

int mida__url_text_redact(const char *text, size_t len, mida__buf *out) {
  url_span u;
  size_t from = 0, copied = 0;
  int rc = MIDA_OK;
  while (rc == MIDA_OK && text != NULL &&
         next_candidate(text, len, from, &u)) {
    int changed = 0;
    char *r = redacted(text, &u, &changed);
    if (r == NULL)
      return MIDA_ENOMEM;
    if (changed) {
      rc = mida__buf_add(out, text + copied, u.start - copied);
      if (rc == MIDA_OK)
        rc = mida__buf_adds(out, r);
      copied = u.end;
    }
    mida__free(r);
    from = u.end;
  }
  if (rc == MIDA_OK && len > copied)
    rc = mida__buf_add(out, text + copied, len - copied);
  return rc;
}

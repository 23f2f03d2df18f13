/*
 * request.c -- the request target of an HTTP request, parsed with caps.
 *
 * The server never uses the HTTP library's own decoding of the path: it
 * would hide an encoded NUL ("%00" ends the C string) and decode "%2F"
 * into a separator. The raw target is parsed here instead, in one pass,
 * into a copy the request owns (the arena), with a cap on every length.
 * Whatever is refused is refused with a reason, which the server sends back
 * in a 400: nothing here can crash on any input (fuzz/serve_fuzz.c).
 */
#include "serve/serve.h"

#include "core/alloc.h"
#include "core/hex.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

/* Whether s[0..len) is valid UTF-8 with no control character. */
static int clean_utf8(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned char c = s[i];
    if (c < 0x20 || c == 0x7f)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t n;
    unsigned int cp;
    if (c >= 0xc2 && c <= 0xdf) {
      n = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 4;
      cp = c & 0x07;
    } else {
      return 0;
    }
    if (len - i < n)
      return 0;
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
      return 0;
    i += n;
  }
  return 1;
}

/* Decodes src[0..len) (%XX, and '+' as a space when plus_space) into the
 * arena as a NUL-terminated string of at most max bytes; *out points at
 * it. Returns MIDA_OK or MIDA_EINVAL with a reason. */
static int decode_into(mida__req *req, const char *src, size_t len, size_t max,
                       int plus_space, const char **out, const char *what,
                       char *why, size_t whylen) {
  char *dst = req->arena + req->arena_len;
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '%') {
      if (len - i < 3 || mida__hex_value(src[i + 1]) < 0 ||
          mida__hex_value(src[i + 2]) < 0) {
        snprintf(why, whylen, "bad %%-escape in the %s", what);
        return MIDA_EINVAL;
      }
      c = (char)(mida__hex_value(src[i + 1]) * 16 +
                 mida__hex_value(src[i + 2]));
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    }
    if (n >= max) {
      snprintf(why, whylen, "the %s is longer than %zu bytes", what, max);
      return MIDA_EINVAL;
    }
    dst[n++] = c;
  }
  if (!clean_utf8((const unsigned char *)dst, n)) {
    snprintf(why, whylen,
             "the %s holds a NUL, a control character or invalid UTF-8", what);
    return MIDA_EINVAL;
  }
  dst[n] = '\0';
  req->arena_len += n + 1;
  *out = dst;
  return MIDA_OK;
}

static int parse_path(mida__req *req, const char *p, size_t len, char *why,
                      size_t whylen) {
  if (len == 0 || p[0] != '/') {
    snprintf(why, whylen, "the path must start with '/'");
    return MIDA_EINVAL;
  }
  size_t plen = 0;
  size_t i = 1;
  /* "/" alone has no segment; "/a/b/" ends with an empty one, refused. */
  while (len > 1 && i <= len) {
    size_t start = i;
    while (i < len && p[i] != '/')
      i++;
    if (req->nsegments >= MIDA_SERVE_MAX_SEGMENTS) {
      snprintf(why, whylen, "the path has more than %d segments",
               MIDA_SERVE_MAX_SEGMENTS);
      return MIDA_EINVAL;
    }
    const char *seg = NULL;
    int rc = decode_into(req, p + start, i - start, MIDA_SERVE_MAX_PATH, 0,
                         &seg, "path", why, whylen);
    if (rc != MIDA_OK)
      return rc;
    if (seg[0] == '\0' || strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0 ||
        strchr(seg, '/') != NULL || strchr(seg, '\\') != NULL) {
      snprintf(why, whylen,
               "the path has an empty, '.' or '..' segment, or a '/' or "
               "'\\' inside one");
      return MIDA_EINVAL;
    }
    size_t slen = strlen(seg);
    if (plen + 1 + slen > MIDA_SERVE_MAX_PATH) {
      snprintf(why, whylen, "the path is longer than %d bytes",
               MIDA_SERVE_MAX_PATH);
      return MIDA_EINVAL;
    }
    req->path[plen++] = '/';
    memcpy(req->path + plen, seg, slen);
    plen += slen;
    req->segments[req->nsegments++] = seg;
    i++; /* past the '/' */
  }
  if (plen == 0)
    req->path[plen++] = '/';
  req->path[plen] = '\0';
  return MIDA_OK;
}

static int parse_query(mida__req *req, const char *q, size_t len, char *why,
                       size_t whylen) {
  size_t i = 0;
  while (i < len) {
    size_t start = i;
    while (i < len && q[i] != '&')
      i++;
    size_t end = i++;
    if (end == start)
      continue; /* "a=1&&b=2": an empty pair is nothing */
    if (req->nparams >= MIDA_SERVE_MAX_PARAMS) {
      snprintf(why, whylen, "more than %d query parameters",
               MIDA_SERVE_MAX_PARAMS);
      return MIDA_EINVAL;
    }
    const char *eq = memchr(q + start, '=', end - start);
    size_t nlen = eq != NULL ? (size_t)(eq - (q + start)) : end - start;
    mida__req_param *prm = &req->params[req->nparams];
    int rc = decode_into(req, q + start, nlen, MIDA_SERVE_MAX_NAME, 1,
                         &prm->name, "parameter name", why, whylen);
    if (rc == MIDA_OK && eq != NULL)
      rc = decode_into(req, eq + 1, (size_t)(q + end - (eq + 1)),
                       MIDA_SERVE_MAX_VALUE, 1, &prm->value, "parameter value",
                       why, whylen);
    else if (rc == MIDA_OK)
      prm->value = "";
    if (rc != MIDA_OK)
      return rc;
    if (prm->name[0] == '\0') {
      snprintf(why, whylen, "a query parameter has no name");
      return MIDA_EINVAL;
    }
    req->nparams++;
  }
  return MIDA_OK;
}

int mida__req_parse(mida__req *req, const char *target, char *why,
                    size_t whylen) {
  memset(req, 0, sizeof *req);
  if (whylen > 0)
    why[0] = '\0';
  size_t len = strnlen(target, MIDA_SERVE_MAX_TARGET + 1);
  if (len > MIDA_SERVE_MAX_TARGET) {
    snprintf(why, whylen, "the request target is longer than %d bytes",
             MIDA_SERVE_MAX_TARGET);
    return MIDA_EINVAL;
  }
  /* Decoding never makes text longer: the target's length (plus a NUL per
   * piece) bounds the arena. */
  req->arena = mida__malloc(len + MIDA_SERVE_MAX_SEGMENTS +
                            2 * MIDA_SERVE_MAX_PARAMS + 2);
  if (req->arena == NULL) {
    snprintf(why, whylen, "out of memory");
    return MIDA_ENOMEM;
  }
  const char *qmark = memchr(target, '?', len);
  const char *hash = memchr(target, '#', len);
  if (hash != NULL) {
    snprintf(why, whylen, "a request target has no fragment");
    return MIDA_EINVAL;
  }
  size_t path_len = qmark != NULL ? (size_t)(qmark - target) : len;
  int rc = parse_path(req, target, path_len, why, whylen);
  if (rc == MIDA_OK && qmark != NULL)
    rc = parse_query(req, qmark + 1, len - path_len - 1, why, whylen);
  return rc;
}

void mida__req_free(mida__req *req) {
  mida__free(req->arena);
  req->arena = NULL;
}

int mida__req_next(const mida__req *req, const char *name, int from) {
  for (int i = from < 0 ? 0 : from; i < req->nparams; i++)
    if (strcmp(req->params[i].name, name) == 0)
      return i;
  return -1;
}

const char *mida__req_get(const mida__req *req, const char *name) {
  int i = mida__req_next(req, name, 0);
  return i >= 0 ? req->params[i].value : NULL;
}

int mida__req_match(const char *pattern, mida__req *req) {
  int seg = 0;
  int ncap = 0;
  const char *p = pattern;
  if (strcmp(pattern, "/") == 0)
    return req->nsegments == 0;
  while (*p == '/') {
    p++;
    const char *end = strchr(p, '/');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (seg >= req->nsegments)
      return 0;
    if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
      if (ncap >= MIDA_SERVE_MAX_CAPTURES)
        return 0;
      req->captures[ncap++] = req->segments[seg];
    } else if (strlen(req->segments[seg]) != n ||
               memcmp(req->segments[seg], p, n) != 0) {
      return 0;
    }
    seg++;
    p += n;
  }
  if (seg != req->nsegments)
    return 0;
  req->ncaptures = ncap;
  return 1;
}

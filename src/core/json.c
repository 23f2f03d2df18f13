/*
 * json.c -- JSON validation, escaping and shallow object merge (json.h).
 *
 * mida__json_check() runs on the capture hot path (every used/generated
 * argument), so it is one forward pass with a fixed nesting stack, no
 * allocation and no recursion. The scanner below it (scan_value) is shared
 * with mida__json_merge(), which runs in the store.
 */
#include "core/json.h"

#include "core/alloc.h"
#include "core/number.h"
#include "core/utf8.h"
#include "mida.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef struct scanner {
  const unsigned char *p;   /* next byte */
  const unsigned char *end; /* one past the last byte */
} scanner;

static void skip_ws(scanner *s) {
  /* Most tokens follow another at once: one compare for them (every
   * space JSON allows is at most ' '). */
  if (s->p < s->end && *s->p > ' ')
    return;
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

static int hex4(const unsigned char *p) {
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
          (c >= 'A' && c <= 'F')))
      return 0;
  }
  return 1;
}

/* 1 for the bytes that stand for themselves in a JSON string: printable
 * ASCII but the quote and the backslash. Every other byte ends the string,
 * begins an escape or a UTF-8 sequence, or is refused. */
/* clang-format off */
static const unsigned char plain_bytes[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                 /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x22: '"' */
    R16(1), R16(1),                                 /* 0x30-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x5c: '\\' */
    R16(1), R16(1),                                 /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0),                 /* 0x80-0xff */
    R16(0), R16(0), R16(0), R16(0),
#undef R16
};
/* clang-format on */

/* Scans a string starting at its opening quote; leaves p after the closing
 * quote. A run of plain bytes, most of a string, goes by in a loop of its
 * own: a table lookup a byte rather than four tests (a string costs about
 * 40 % fewer instructions). */
static int scan_string(scanner *s) {
  s->p++; /* the opening quote */
  while (s->p < s->end) {
    const unsigned char *p = s->p, *end = s->end;
    while (p < end && plain_bytes[*p])
      p++;
    s->p = p;
    if (p == end)
      break;
    unsigned char c = *s->p;
    if (c == '"') {
      s->p++;
      return MIDA_OK;
    }
    if (c == '\\') {
      if (s->end - s->p < 2)
        return MIDA_EJSON;
      unsigned char e = s->p[1];
      if (e == 'u') {
        if (s->end - s->p < 6 || !hex4(s->p + 2))
          return MIDA_EJSON;
        s->p += 6;
      } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
        s->p += 2;
      } else {
        return MIDA_EJSON;
      }
      continue;
    }
    if (c < 0x20)
      return MIDA_EJSON;
    if (c < 0x80) {
      s->p++;
      continue;
    }
    size_t n = mida__utf8_seq(s->p, s->end);
    if (n == 0)
      return MIDA_EJSON;
    s->p += n;
  }
  return MIDA_EJSON;
}

static int is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

static int scan_number(scanner *s) {
  if (s->p < s->end && *s->p == '-')
    s->p++;
  if (s->p >= s->end)
    return MIDA_EJSON;
  if (*s->p == '0') {
    s->p++;
  } else if (is_digit(*s->p)) {
    while (s->p < s->end && is_digit(*s->p))
      s->p++;
  } else {
    return MIDA_EJSON;
  }
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    if (s->p >= s->end || !is_digit(*s->p))
      return MIDA_EJSON;
    while (s->p < s->end && is_digit(*s->p))
      s->p++;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      s->p++;
    if (s->p >= s->end || !is_digit(*s->p))
      return MIDA_EJSON;
    while (s->p < s->end && is_digit(*s->p))
      s->p++;
  }
  return MIDA_OK;
}

static int scan_literal(scanner *s, const char *word, size_t n) {
  if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
    return MIDA_EJSON;
  s->p += n;
  return MIDA_OK;
}

/* Scans one scalar (string, number, literal) at p. */
static int scan_scalar(scanner *s) {
  switch (*s->p) {
  case '"':
    return scan_string(s);
  case 't':
    return scan_literal(s, "true", 4);
  case 'f':
    return scan_literal(s, "false", 5);
  case 'n':
    return scan_literal(s, "null", 4);
  default:
    return scan_number(s);
  }
}

/* Scans one complete value at p (after whitespace), nesting included, with
 * an explicit stack: one bit per level, 1 for an object, 0 for an array. */
static int scan_value(scanner *s) {
  uint64_t stack = 0; /* container kinds, innermost in bit 0 */
  int depth = 0;
  skip_ws(s);
  for (;;) {
    /* Expecting a value. */
    if (s->p >= s->end)
      return MIDA_EJSON;
    unsigned char c = *s->p;
    if (c == '{' || c == '[') {
      if (depth == MIDA_JSON_MAX_DEPTH)
        return MIDA_EJSON;
      stack = (stack << 1) | (c == '{');
      depth++;
      s->p++;
      skip_ws(s);
      if (s->p < s->end && *s->p == (c == '{' ? '}' : ']')) {
        s->p++;
        stack >>= 1;
        depth--;
        goto after_value;
      }
      if (c == '{')
        goto expect_key;
      continue;
    }
    if (scan_scalar(s) != MIDA_OK)
      return MIDA_EJSON;
  after_value:
    if (depth == 0)
      return MIDA_OK;
    skip_ws(s);
    if (s->p >= s->end)
      return MIDA_EJSON;
    if (*s->p == ',') {
      s->p++;
      skip_ws(s);
      if (stack & 1)
        goto expect_key;
      continue;
    }
    if (*s->p == ((stack & 1) ? '}' : ']')) {
      s->p++;
      stack >>= 1;
      depth--;
      goto after_value;
    }
    return MIDA_EJSON;
  expect_key:
    if (s->p >= s->end || *s->p != '"' || scan_string(s) != MIDA_OK)
      return MIDA_EJSON;
    skip_ws(s);
    if (s->p >= s->end || *s->p != ':')
      return MIDA_EJSON;
    s->p++;
    skip_ws(s);
  }
}

int mida__json_check(const char *text, size_t len, bool object_only,
                     size_t *where) {
  scanner s = {(const unsigned char *)text, (const unsigned char *)text + len};
  skip_ws(&s);
  int rc = MIDA_OK;
  if (object_only && (s.p >= s.end || *s.p != '{'))
    rc = MIDA_EJSON;
  if (rc == MIDA_OK)
    rc = scan_value(&s);
  if (rc == MIDA_OK) {
    skip_ws(&s);
    if (s.p != s.end)
      rc = MIDA_EJSON;
  }
  if (where != NULL)
    *where = (size_t)((const char *)s.p - text);
  return rc;
}

int mida__json_get(const char *text, size_t len, const char *path,
                   const char **value, size_t *vlen) {
  scanner s = {(const unsigned char *)text, (const unsigned char *)text + len};
  const char *seg = path;
  for (;;) {
    size_t seglen = strcspn(seg, ".");
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
      return MIDA_ENOTFOUND;
    s.p++;
    int found = 0;
    for (;;) {
      skip_ws(&s);
      if (s.p < s.end && *s.p == '}')
        return MIDA_ENOTFOUND;
      if (s.p >= s.end || *s.p != '"')
        return MIDA_EJSON;
      const unsigned char *key = s.p + 1;
      if (scan_string(&s) != MIDA_OK)
        return MIDA_EJSON;
      size_t klen = (size_t)(s.p - 1 - key);
      skip_ws(&s);
      if (s.p >= s.end || *s.p != ':')
        return MIDA_EJSON;
      s.p++;
      skip_ws(&s);
      if (klen == seglen && memcmp(key, seg, seglen) == 0) {
        found = 1;
        break;
      }
      if (scan_value(&s) != MIDA_OK)
        return MIDA_EJSON;
      skip_ws(&s);
      if (s.p < s.end && *s.p == ',')
        s.p++;
    }
    if (!found)
      return MIDA_ENOTFOUND;
    if (seg[seglen] == '\0') {
      const unsigned char *start = s.p;
      if (scan_value(&s) != MIDA_OK)
        return MIDA_EJSON;
      *value = (const char *)start;
      *vlen = (size_t)(s.p - start);
      return MIDA_OK;
    }
    seg += seglen + 1;
  }
}

int mida__json_add_string(mida__buf *b, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)s;
  const unsigned char *end = p + len;
  int rc = mida__buf_add(b, "\"", 1);
  while (rc == MIDA_OK && p < end) {
    const unsigned char *run = p;
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
      p++;
    if (p > run)
      rc = mida__buf_add(b, run, (size_t)(p - run));
    if (rc != MIDA_OK || p >= end)
      break;
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      rc = mida__buf_add(b, esc, 2);
      p++;
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
      rc = mida__buf_add(b, esc, 6);
      p++;
    } else {
      size_t n = mida__utf8_seq(p, end);
      if (n == 0) {
        rc = mida__buf_add(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        p++;
      } else {
        rc = mida__buf_add(b, p, n);
        p += n;
      }
    }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, "\"", 1);
  return rc;
}

bool mida__json_is_number(const char *text) {
  const char *p = text;
  if (p == NULL)
    return false;
  if (*p == '-')
    p++;
  if (*p == '0') {
    p++;
  } else if (is_digit((unsigned char)*p)) {
    while (is_digit((unsigned char)*p))
      p++;
  } else {
    return false;
  }
  if (*p == '.') {
    p++;
    if (!is_digit((unsigned char)*p))
      return false;
    while (is_digit((unsigned char)*p))
      p++;
  }
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '+' || *p == '-')
      p++;
    if (!is_digit((unsigned char)*p))
      return false;
    while (is_digit((unsigned char)*p))
      p++;
  }
  return *p == '\0';
}

int mida__json_add_cell(mida__buf *b, const char *text) {
  return mida__json_add_cell_n(b, text, text != NULL ? strlen(text) : 0);
}

int mida__json_add_cell_n(mida__buf *b, const char *text, size_t len) {
  if (text == NULL)
    return mida__buf_adds(b, "null");
  if (memchr(text, '\0', len) == NULL && mida__json_is_number(text))
    return mida__buf_add(b, text, len);
  return mida__json_add_string(b, text, len);
}

int mida__json_add_double(mida__buf *b, double v) {
  if (isnan(v))
    return mida__buf_adds(b, "\"NaN\"");
  if (isinf(v))
    return mida__buf_adds(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  char num[MIDA_DTOA_MAX];
  size_t n = mida__dtoa(v, num);
  return mida__buf_add(b, num, n);
}

/* ---- shallow merge ----------------------------------------------------- */

#define MERGE_MAX_KEYS 4096

typedef struct member {
  const unsigned char *key;   /* the key's opening quote */
  size_t key_len;             /* bytes of the key, quotes included */
  const unsigned char *value; /* the value's first byte */
  size_t value_len;           /* bytes of the value */
} member;

/* Lists the top-level members of a JSON object into m (at most cap).
 * Returns the count, or -1 if the text is not an object or has too many
 * members. Empty or NULL text is {}. */
static long list_members(const char *text, size_t len, member *m, size_t cap) {
  if (text == NULL || len == 0)
    return 0;
  if (mida__json_check(text, len, true, NULL) != MIDA_OK)
    return -1;
  scanner s = {(const unsigned char *)text, (const unsigned char *)text + len};
  skip_ws(&s);
  s.p++; /* { */
  long n = 0;
  for (;;) {
    skip_ws(&s);
    if (*s.p == '}')
      return n;
    if (*s.p == ',') {
      s.p++;
      skip_ws(&s);
    }
    if ((size_t)n == cap)
      return -1;
    m[n].key = s.p;
    scan_string(&s);
    m[n].key_len = (size_t)(s.p - m[n].key);
    skip_ws(&s);
    s.p++; /* : */
    skip_ws(&s);
    m[n].value = s.p;
    scan_value(&s);
    m[n].value_len = (size_t)(s.p - m[n].value);
    n++;
  }
}

/* Whether two keys (quotes included) name the same member. Keys are
 * compared as written: "a" and "\u0061" count as different. */
static int same_key(const member *a, const member *b) {
  return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

int mida__json_merge(const char *a, size_t alen, const char *b, size_t blen,
                     mida__buf *out) {
  member *ma = NULL, *mb = NULL;
  int rc = MIDA_ENOMEM;
  /* A member takes at least 4 bytes ("":0), so len / 4 + 1 slots hold all
   * the members the text can have. */
  size_t cap_a = alen / 4 + 1, cap_b = blen / 4 + 1;
  if (cap_a > MERGE_MAX_KEYS)
    cap_a = MERGE_MAX_KEYS;
  if (cap_b > MERGE_MAX_KEYS)
    cap_b = MERGE_MAX_KEYS;
  ma = mida__malloc(cap_a * sizeof *ma);
  mb = mida__malloc(cap_b * sizeof *mb);
  if (ma == NULL || mb == NULL)
    goto out;
  long na = list_members(a, alen, ma, cap_a);
  long nb = list_members(b, blen, mb, cap_b);
  rc = MIDA_EJSON;
  if (na < 0 || nb < 0)
    goto out;
  rc = mida__buf_add(out, "{", 1);
  int first = 1;
  for (long i = 0; i < na && rc == MIDA_OK; i++) {
    int replaced = 0;
    for (long j = 0; j < nb && !replaced; j++)
      replaced = same_key(&ma[i], &mb[j]);
    if (replaced)
      continue;
    if (!first)
      rc = mida__buf_add(out, ",", 1);
    first = 0;
    if (rc == MIDA_OK)
      rc = mida__buf_add(out, ma[i].key, ma[i].key_len);
    if (rc == MIDA_OK)
      rc = mida__buf_add(out, ":", 1);
    if (rc == MIDA_OK)
      rc = mida__buf_add(out, ma[i].value, ma[i].value_len);
  }
  for (long j = 0; j < nb && rc == MIDA_OK; j++) {
    if (!first)
      rc = mida__buf_add(out, ",", 1);
    first = 0;
    if (rc == MIDA_OK)
      rc = mida__buf_add(out, mb[j].key, mb[j].key_len);
    if (rc == MIDA_OK)
      rc = mida__buf_add(out, ":", 1);
    if (rc == MIDA_OK)
      rc = mida__buf_add(out, mb[j].value, mb[j].value_len);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(out, "}", 1);
out:
  mida__free(ma);
  mida__free(mb);
  return rc;
}

/* ---- walking an object's members ----------------------------------------- */

int mida__json_each_member(const char *text, size_t len,
                           int (*fn)(void *ctx, const mida__json_member *m),
                           void *ctx) {
  if (text == NULL || len == 0)
    return MIDA_OK;
  if (mida__json_check(text, len, true, NULL) != MIDA_OK)
    return MIDA_EJSON;
  scanner s = {(const unsigned char *)text, (const unsigned char *)text + len};
  skip_ws(&s);
  s.p++; /* { */
  for (;;) {
    skip_ws(&s);
    if (*s.p == '}')
      return MIDA_OK;
    if (*s.p == ',') {
      s.p++;
      skip_ws(&s);
    }
    mida__json_member m;
    const unsigned char *key = s.p;
    scan_string(&s);
    m.key = (const char *)key + 1;
    m.key_len = (size_t)(s.p - key) - 2;
    skip_ws(&s);
    s.p++; /* : */
    skip_ws(&s);
    const unsigned char *value = s.p;
    scan_value(&s);
    m.value = (const char *)value;
    m.value_len = (size_t)(s.p - value);
    int rc = fn(ctx, &m);
    if (rc != MIDA_OK)
      return rc;
  }
}

/* The value of 4 hex digits at p (checked by the scanner before). */
static unsigned long hex_value(const unsigned char *p) {
  unsigned long v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = p[i];
    v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

/* Appends code point c as UTF-8. */
static int add_utf8(mida__buf *b, unsigned long c) {
  unsigned char u[4];
  size_t n;
  if (c < 0x80) {
    u[0] = (unsigned char)c;
    n = 1;
  } else if (c < 0x800) {
    u[0] = (unsigned char)(0xC0 | (c >> 6));
    u[1] = (unsigned char)(0x80 | (c & 0x3F));
    n = 2;
  } else if (c < 0x10000) {
    u[0] = (unsigned char)(0xE0 | (c >> 12));
    u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    u[2] = (unsigned char)(0x80 | (c & 0x3F));
    n = 3;
  } else {
    u[0] = (unsigned char)(0xF0 | (c >> 18));
    u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (c & 0x3F));
    n = 4;
  }
  return mida__buf_add(b, u, n);
}

int mida__json_add_unquoted(mida__buf *b, const char *v, size_t len) {
  if (len < 2 || v[0] != '"' || v[len - 1] != '"')
    return mida__buf_add(b, v, len);
  const unsigned char *p = (const unsigned char *)v + 1;
  const unsigned char *end = (const unsigned char *)v + len - 1;
  int rc = MIDA_OK;
  while (rc == MIDA_OK && p < end) {
    const unsigned char *run = p;
    while (p < end && *p != '\\')
      p++;
    if (p > run)
      rc = mida__buf_add(b, run, (size_t)(p - run));
    if (rc != MIDA_OK || p >= end)
      break;
    p++; /* the backslash; the text was checked, so an escape follows */
    char c = (char)*p++;
    switch (c) {
    case 'b': rc = mida__buf_add(b, "\b", 1); break;
    case 'f': rc = mida__buf_add(b, "\f", 1); break;
    case 'n': rc = mida__buf_add(b, "\n", 1); break;
    case 'r': rc = mida__buf_add(b, "\r", 1); break;
    case 't': rc = mida__buf_add(b, "\t", 1); break;
    case 'u': {
      unsigned long cp = 0xFFFD;
      if (end - p >= 4) {
        cp = hex_value(p);
        p += 4;
      }
      if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' &&
          p[1] == 'u') {
        unsigned long lo = hex_value(p + 2);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          p += 6;
        }
      }
      if (cp >= 0xD800 && cp <= 0xDFFF)
        cp = 0xFFFD; /* a lone surrogate */
      rc = add_utf8(b, cp);
      break;
    }
    default: rc = mida__buf_add(b, &c, 1); break; /* " \ / */
    }
  }
  return rc;
}

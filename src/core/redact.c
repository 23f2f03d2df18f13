/*
 * redact.c -- the rule that tells secret names (redact.h).
 */
#include "core/redact.h"

#include "mida.h"

#include <stdbool.h>
#include <string.h>

/* Words that make a name secret by themselves. */
static const char *const secret_words[] = {
    "password", "passwd",  "passphrase", "pass",          "pwd",
    "secret",   "secrets", "token",      "credential",    "credentials",
    "auth",     "cookie",  "apikey",     "authorization", "bearer",
};

/* Words that make a name secret when they follow one of prefix_words,
 * e.g. "api key", "access_key". */
static const char *const key_prefixes[] = {"api", "access", "private",
                                           "session"};

static int is_lower(int c) {
  return c >= 'a' && c <= 'z';
}

static int is_upper(int c) {
  return c >= 'A' && c <= 'Z';
}

static int is_alnum(int c) {
  return is_lower(c) || is_upper(c) || (c >= '0' && c <= '9');
}

/* Whether the n bytes at w equal the lower-case word, ignoring case. */
static int word_is(const char *w, size_t n, const char *word) {
  if (strlen(word) != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)w[i];
    if (is_upper(c))
      c += 'a' - 'A';
    if (c != word[i])
      return 0;
  }
  return 1;
}

static int in_list(const char *w, size_t n, const char *const *list,
                   size_t count) {
  for (size_t i = 0; i < count; i++)
    if (word_is(w, n, list[i]))
      return 1;
  return 0;
}

/* Whether a word holds "password", "passwd" or "passphrase", as in
 * "sslpassword" or "dbpasswd". */
static int holds_password(const char *w, size_t n) {
  static const char *const parts[] = {"passw", "passphrase"};
  for (size_t p = 0; p < 2; p++) {
    size_t pn = strlen(parts[p]);
    for (size_t i = 0; i + pn <= n; i++)
      if (word_is(w + i, pn, parts[p]))
        return 1;
  }
  return 0;
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

int mida__has_secret_stem(const char *text, size_t n) {
  /* c | 0x20 is the lower case of a letter and never turns anything else
   * into a lower-case letter, so each comparison below ignores case. */
  const unsigned char *p = (const unsigned char *)text;
  for (size_t i = 0; i + 3 <= n; i++) {
    unsigned a = p[i + 1] | 0x20u, b = p[i + 2] | 0x20u;
    switch (p[i] | 0x20u) {
    case 'p':
      if ((a == 'a' && b == 's') || (a == 'w' && b == 'd'))
        return 1;
      break;
    case 's':
      if (a == 'e' && b == 'c')
        return 1;
      break;
    case 't':
      if (a == 'o' && b == 'k')
        return 1;
      break;
    case 'c':
      if ((a == 'r' && b == 'e') || (a == 'o' && b == 'o'))
        return 1;
      break;
    case 'a':
      if (a == 'u' && b == 't')
        return 1;
      break;
    case 'k':
      if (a == 'e' && b == 'y')
        return 1;
      break;
    case 'b':
      if (a == 'e' && b == 'a')
        return 1;
      break;
    default:
      break;
    }
  }
  return 0;
}

int mida__secret_name(const char *name, size_t n) {
  if (!mida__has_secret_stem(name, n))
    return 0;
  const char *prev = NULL; /* the word before the current one */
  size_t prev_n = 0;
  size_t i = 0;
  while (i < n) {
    while (i < n && !is_alnum((unsigned char)name[i]))
      i++;
    size_t start = i;
    while (i < n && is_alnum((unsigned char)name[i])) {
      /* "apiKey": a lower-case letter followed by an upper-case one ends
       * a word. */
      if (i > start && is_upper((unsigned char)name[i]) &&
          is_lower((unsigned char)name[i - 1]))
        break;
      i++;
    }
    if (i == start)
      continue;
    const char *w = name + start;
    size_t wn = i - start;
    if (in_list(w, wn, secret_words, COUNT_OF(secret_words)) ||
        holds_password(w, wn))
      return 1;
    if (word_is(w, wn, "key") && prev != NULL &&
        in_list(prev, prev_n, key_prefixes, COUNT_OF(key_prefixes)))
      return 1;
    prev = w;
    prev_n = wn;
  }
  return 0;
}

size_t mida__secret_header_name(const char *text) {
  size_t n = strspn(text, MIDA_NAME_CHARS);
  if (n == 0 || text[n] != ':' || strncmp(text + n, "://", 3) == 0 ||
      !mida__secret_name(text, n))
    return 0;
  return n;
}

/* Whether the n bytes at name hold "credential[s]" then '-' or '_' and
 * "file", in any case: gcloud's --credential-file-override, the
 * --credentials-file of Google's tools, which name a file. */
static int names_credential_file(const char *name, size_t n) {
  static const char cred[] = "credential";
  size_t cn = sizeof cred - 1;
  for (size_t i = 0; i + cn + 5 <= n; i++) {
    if (!word_is(name + i, cn, cred))
      continue;
    size_t j = i + cn + (word_is(name + i + cn, 1, "s") ? 1 : 0);
    if (j + 5 <= n && (name[j] == '-' || name[j] == '_') &&
        word_is(name + j + 1, 4, "file"))
      return 1;
  }
  return 0;
}

int mida__secret_option(const char *name, size_t n) {
  size_t dashes = n > 0 && name[0] == '-' ? (n > 1 && name[1] == '-' ? 2 : 1)
                                          : 0;
  if (dashes > 0 && names_credential_file(name, n))
    return 0; /* a file's path, no secret */
  return (dashes > 0 && n == dashes + 2 && word_is(name + dashes, 2, "pw")) ||
         mida__secret_name(name, n);
}

/* ---- JSON values ----------------------------------------------------- */

/* The walker of mida__json_redact: reads one JSON value at *p (before
 * end), copying it to out (when not NULL) with the values of secret
 * members replaced, and counting them in *found. Returns MIDA_OK,
 * MIDA_EJSON (malformed, or nested deeper than depth allows) or the
 * buffer's error. */
static int walk(const char **p, const char *end, mida__buf *out, int *found,
                int depth);

static void skip_space(const char **p, const char *end) {
  while (*p < end && (**p == ' ' || **p == '\t' || **p == '\n' ||
                      **p == '\r'))
    (*p)++;
}

static int put(mida__buf *out, const char *s, size_t n) {
  return out != NULL ? mida__buf_add(out, s, n) : MIDA_OK;
}

/* A string at *p ('"'): its end, past the closing quote. */
static int skip_string(const char **p, const char *end) {
  const char *q = *p + 1;
  while (q < end && *q != '"') {
    if (*q == '\\' && end - q < 2)
      return MIDA_EJSON;
    q += *q == '\\' ? 2 : 1;
  }
  if (q >= end)
    return MIDA_EJSON;
  *p = q + 1;
  return MIDA_OK;
}

static int walk_container(const char **p, const char *end, mida__buf *out,
                          int *found, int depth) {
  char close = **p == '{' ? '}' : ']';
  bool object = close == '}';
  int rc = put(out, *p, 1);
  (*p)++;
  for (bool first = true; rc == MIDA_OK; first = false) {
    skip_space(p, end);
    if (*p < end && **p == close)
      break;
    if (!first) {
      if (*p >= end || **p != ',')
        return MIDA_EJSON;
      rc = put(out, ",", 1);
      (*p)++;
      skip_space(p, end);
    }
    bool secret = false;
    if (object) {
      const char *key = *p;
      if (*p >= end || **p != '"' || skip_string(p, end) != MIDA_OK)
        return MIDA_EJSON;
      secret = mida__secret_name(key + 1, (size_t)(*p - key - 2));
      if (rc == MIDA_OK)
        rc = put(out, key, (size_t)(*p - key));
      skip_space(p, end);
      if (*p >= end || **p != ':')
        return MIDA_EJSON;
      (*p)++;
      if (rc == MIDA_OK)
        rc = put(out, ":", 1);
      skip_space(p, end);
    }
    if (rc != MIDA_OK)
      return rc;
    if (secret) {
      (*found)++;
      rc = walk(p, end, NULL, found, depth - 1); /* skipped */
      if (rc == MIDA_OK)
        rc = put(out, "\"" MIDA_REDACTED "\"", strlen(MIDA_REDACTED) + 2);
    } else {
      rc = walk(p, end, out, found, depth - 1);
    }
  }
  if (rc != MIDA_OK)
    return rc;
  if (*p >= end)
    return MIDA_EJSON;
  rc = put(out, *p, 1);
  (*p)++;
  return rc;
}

static int walk(const char **p, const char *end, mida__buf *out, int *found,
                int depth) {
  skip_space(p, end);
  if (*p >= end || depth <= 0)
    return MIDA_EJSON;
  if (**p == '{' || **p == '[')
    return walk_container(p, end, out, found, depth);
  const char *start = *p;
  if (**p == '"') {
    if (skip_string(p, end) != MIDA_OK)
      return MIDA_EJSON;
  } else {
    while (*p < end && **p != ',' && **p != '}' && **p != ']' &&
           **p != ' ' && **p != '\t' && **p != '\n' && **p != '\r')
      (*p)++;
    if (*p == start)
      return MIDA_EJSON;
  }
  return put(out, start, (size_t)(*p - start));
}

/* Deeper than any value mida__json_check accepts. */
#define REDACT_MAX_DEPTH 128

int mida__json_secret_count(const char *text, size_t len) {
  int found = 0;
  const char *p = text;
  if (text == NULL || walk(&p, text + len, NULL, &found,
                           REDACT_MAX_DEPTH) != MIDA_OK)
    return -1;
  return found;
}

int mida__json_redact(const char *text, size_t len, mida__buf *out) {
  int found = 0;
  const char *p = text;
  return walk(&p, text + len, out, &found, REDACT_MAX_DEPTH);
}

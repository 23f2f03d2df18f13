/*
 * redact.c -- the rule that tells secret names (redact.h).
 */
#include "core/redact.h"

#include <string.h>

/* Words that make a name secret by themselves. */
static const char *const secret_words[] = {
    "password", "passwd",  "passphrase", "pass",          "pwd",
    "secret",   "secrets", "token",      "credential",    "credentials",
    "auth",     "cookie",  "apikey",     "authorization",
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

int mida__secret_name(const char *name, size_t n) {
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

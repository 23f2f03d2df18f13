/*
 * shell_secret.c -- secret option values and header values inside a
 * shell command's text (see shell_secret.h).
 */
#include "core/shell_secret.h"

#include "core/redact.h"

#include <string.h>

/* What ends an unquoted word: white space and the shell's operators. */
#define WORD_ENDS " \t\n;&|)"

static int is_quote(char c) { return c == '\'' || c == '"'; }

static int word_starts(const char *t, size_t i) {
  return i == 0 || strchr(" \t\n;&|('\"=", t[i - 1]) != NULL;
}

/* The end of the value at v: up to quote when it is not 0 (or the end of
 * the text), else up to the end of the word. */
static size_t value_end(const char *t, size_t v, char quote) {
  if (quote == 0)
    return v + strcspn(t + v, WORD_ENDS);
  const char *close = strchr(t + v, quote);
  return close != NULL ? (size_t)(close - t) : strlen(t);
}

int mida__credentials_tool(const char *word, size_t n) {
  const char *base = word;
  for (size_t k = 0; k < n; k++)
    if (word[k] == '/')
      base = word + k + 1;
  size_t b = n - (size_t)(base - word);
  return b == 4 && (strncmp(base, "curl", 4) == 0 ||
                    strncmp(base, "wget", 4) == 0);
}

int mida__credentials_option(const char *opt, size_t n) {
  static const char *const names[] = {"-u", "--user", "-U", "--proxy-user"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
    if (strlen(names[k]) == n && strncmp(opt, names[k], n) == 0)
      return 1;
  return 0;
}

/* Where curl's or wget's first word ends in text, or (size_t)-1. */
static size_t credentials_tool_end(const char *text) {
  for (size_t i = 0; text[i] != '\0'; i++) {
    if (!word_starts(text, i))
      continue;
    size_t n = strcspn(text + i, WORD_ENDS "'\"");
    if (mida__credentials_tool(text + i, n))
      return i + n;
    i += n > 0 ? n - 1 : 0;
  }
  return (size_t)-1;
}

/* The length of the credentials option at text + i (-u, --user, -U,
 * --proxy-user) followed by white space or an '=', or 2 for -u or -U
 * with the value attached ("-ualice:pw"); 0 if there is none there. */
static size_t credentials_option_at(const char *text, size_t i) {
  size_t n = strcspn(text + i, WORD_ENDS "='\"");
  char c = text[i + n];
  if ((c == ' ' || c == '\t' || c == '=') &&
      mida__credentials_option(text + i, n))
    return n;
  if (text[i] == '-' && (text[i + 1] == 'u' || text[i + 1] == 'U') &&
      text[i + 2] != '\0' && strchr(WORD_ENDS, text[i + 2]) == NULL)
    return 2;
  return 0;
}

/* The password of a "USER:PASSWORD" after a credentials option of n
 * bytes at text + i: sets *off and *len and returns 1, or 0. */
static int credentials_value(const char *text, size_t i, size_t n,
                             size_t *off, size_t *len, size_t *end_out) {
  size_t v = i + n;
  if (text[v] == '=')
    v++;
  else
    v += strspn(text + v, " \t");
  char quote = 0;
  if (is_quote(text[v]))
    quote = text[v++];
  size_t end = value_end(text, v, quote);
  const char *colon = memchr(text + v, ':', end - v);
  if (colon == NULL || (size_t)(colon - text) + 1 >= end)
    return 0;
  *off = (size_t)(colon - text) + 1;
  *len = end - *off;
  *end_out = end;
  return 1;
}

int mida__shell_next_secret(const char *text, size_t *from, size_t *off,
                            size_t *len) {
  size_t tool_end = credentials_tool_end(text);
  for (size_t i = *from; text[i] != '\0'; i++) {
    if (!word_starts(text, i))
      continue;
    size_t c, past;
    if (i > tool_end && (c = credentials_option_at(text, i)) > 0 &&
        credentials_value(text, i, c, off, len, &past)) {
      *from = past;
      return 1;
    }
    size_t n = strspn(text + i, MIDA_NAME_CHARS);
    if (n == 0 || !mida__secret_name(text + i, n))
      continue;
    size_t v;
    char quote = 0;
    if (i > 0 && is_quote(text[i - 1]) && text[i + n] == text[i - 1] &&
        text[i + n + 1 + strspn(text + i + n + 1, " \t")] == ':') {
      /* a JSON member, "password": "x" (or 'password': 'x') */
      v = i + n + 1 + strspn(text + i + n + 1, " \t") + 1;
      v += strspn(text + v, " \t");
      if (is_quote(text[v]))
        quote = text[v++];
      size_t end = quote != 0 ? value_end(text, v, quote)
                              : v + strcspn(text + v, WORD_ENDS ",}]");
      if (end > v) {
        *off = v;
        *len = end - v;
        *from = end;
        return 1;
      }
      continue;
    }
    if (text[i + n] == ':' && strncmp(text + i + n, "://", 3) != 0) {
      v = i + n + 1 + strspn(text + i + n + 1, " \t");
      quote = i > 0 && is_quote(text[i - 1]) ? text[i - 1] : 0;
    } else if (text[i] == '-' && text[i + n] != '\0' &&
               strchr(" \t", text[i + n]) != NULL) {
      v = i + n + strspn(text + i + n, " \t");
      if (is_quote(text[v]))
        quote = text[v++];
    } else {
      continue;
    }
    size_t end = value_end(text, v, quote);
    if (end > v) {
      *off = v;
      *len = end - v;
      *from = end;
      return 1;
    }
  }
  *from = strlen(text);
  return 0;
}

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

int mida__shell_next_secret(const char *text, size_t *from, size_t *off,
                            size_t *len) {
  for (size_t i = *from; text[i] != '\0'; i++) {
    if (!word_starts(text, i))
      continue;
    size_t n = strspn(text + i, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
    if (n == 0 || !mida__secret_name(text + i, n))
      continue;
    size_t v;
    char quote = 0;
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

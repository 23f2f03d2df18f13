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

/* A program whose options take secrets, by their letters. */
struct secret_tool {
  const char *name;          /* the program's name, or its names' start */
  int prefix;                /* whether a name that goes on in letters, '-'
                                or '_' is it too ("mysqldump") */
  const char *flags;         /* letters of its options that take no
                                value, which may come first in a cluster */
  const char *user_password; /* letters whose value is USER:PASSWORD;
                                with them, --user and --proxy-user */
  const char *password;      /* letters whose value is a password */
  const char *header;        /* letters whose value is a header */
  int attached_only;         /* whether a password letter's value is only
                                ever attached ("-pPW") */
};

/* The options of mysql's family that take no value in each of its
 * programs (-B, -s, -v, ...): "-Bsp" is -B -s -p. */
#define MYSQL_FLAGS "ABCcEfHNnqstVvX"

/* Bit k of a set of programs (mida__credentials_tool) is tools[k]. */
static const struct secret_tool tools[] = {
    /* curl's letters of no value are tool_getparam.c's ARG_NONE and
     * ARG_BOOL ones; -b is its --cookie. */
    {"curl", 0, "0123469#aBfgGhiIjJklLMnNOpqRsSvVZ", "uU", "b", "H", 0},
    {"wget", 0, "", "uU", "", "", 0},
    {"mysql", 1, MYSQL_FLAGS, "", "p", "", 1},
    {"mariadb", 1, MYSQL_FLAGS, "", "p", "", 1},
    {"sshpass", 0, "hVv", "", "p", "", 0},
    {"redis-cli", 0, "", "", "a", "", 0},
};

#define TOOL_COUNT (sizeof tools / sizeof tools[0])

unsigned mida__credentials_tool(const char *word, size_t n) {
  const char *base = word;
  for (size_t k = 0; k < n; k++)
    if (word[k] == '/')
      base = word + k + 1;
  size_t b = n - (size_t)(base - word);
  for (size_t k = 0; k < TOOL_COUNT; k++) {
    size_t len = strlen(tools[k].name);
    if (b >= len && strncmp(base, tools[k].name, len) == 0 &&
        (b == len || (tools[k].prefix &&
                      strspn(base + len, "abcdefghijklmnopqrstuvwxyz-_") ==
                          b - len)))
      return 1u << k;
  }
  return 0;
}

static int letter_in(char c, const char *letters) {
  return c != '\0' && strchr(letters, c) != NULL;
}

/* mida__credentials_option for the one program tool. */
static enum mida__secret_value tool_option(const struct secret_tool *tool,
                                           const char *word, size_t n,
                                           size_t *value) {
  *value = n;
  if (n < 2 || word[0] != '-')
    return MIDA_VALUE_PLAIN;
  if (word[1] == '-') {
    const char *eq = memchr(word, '=', n);
    size_t name = eq != NULL ? (size_t)(eq - word) : n;
    if (tool->user_password[0] == '\0' ||
        !((name == 6 && strncmp(word, "--user", 6) == 0) ||
          (name == 12 && strncmp(word, "--proxy-user", 12) == 0)))
      return MIDA_VALUE_PLAIN;
    *value = eq != NULL ? name + 1 : n;
    return MIDA_VALUE_USER_PASSWORD;
  }
  size_t k = 1;
  while (k < n && letter_in(word[k], tool->flags))
    k++;
  if (k == n)
    return MIDA_VALUE_PLAIN;
  enum mida__secret_value kind =
      letter_in(word[k], tool->user_password) ? MIDA_VALUE_USER_PASSWORD
      : letter_in(word[k], tool->password)    ? MIDA_VALUE_PASSWORD
      : letter_in(word[k], tool->header)      ? MIDA_VALUE_HEADER
                                              : MIDA_VALUE_PLAIN;
  if (k + 1 < n)
    *value = k + 1;
  else if (kind == MIDA_VALUE_PASSWORD && tool->attached_only)
    return MIDA_VALUE_PLAIN;
  return kind;
}

enum mida__secret_value mida__credentials_option(unsigned tools_named,
                                                 const char *word, size_t n,
                                                 size_t *value) {
  *value = n;
  for (size_t k = 0; k < TOOL_COUNT; k++) {
    enum mida__secret_value kind =
        (tools_named >> k) & 1u ? tool_option(&tools[k], word, n, value)
                                : MIDA_VALUE_PLAIN;
    if (kind != MIDA_VALUE_PLAIN)
      return kind;
  }
  return MIDA_VALUE_PLAIN;
}

/* The length of the name of a header at text + i, "NAME:" (not a URL's
 * "NAME://"), when the name looks like a secret's; 0 if there is none. */
static size_t secret_header_name(const char *text, size_t i) {
  size_t n = strspn(text + i, MIDA_NAME_CHARS);
  if (n == 0 || text[i + n] != ':' || strncmp(text + i + n, "://", 3) == 0 ||
      !mida__secret_name(text + i, n))
    return 0;
  return n;
}

/* The programs of mida__credentials_tool that the words of text before
 * end name. */
static unsigned tools_before(const char *text, size_t end) {
  unsigned named = 0;
  for (size_t i = 0; i < end && text[i] != '\0'; i++) {
    if (!word_starts(text, i))
      continue;
    size_t n = strcspn(text + i, WORD_ENDS "'\"");
    named |= mida__credentials_tool(text + i, n);
    i += n > 0 ? n - 1 : 0;
  }
  return named;
}

/* The secret in the value of an option of the programs named at text +
 * i, when the word there is one (mida__credentials_option): its value
 * attached, or the next word, either possibly quoted. Sets *off, *len
 * and *past (the end of the value) and returns 1, or returns 0. */
static int tool_option_secret(unsigned named, const char *text, size_t i,
                              size_t *off, size_t *len, size_t *past) {
  size_t word = strcspn(text + i, WORD_ENDS), at;
  enum mida__secret_value kind =
      mida__credentials_option(named, text + i, word, &at);
  if (kind == MIDA_VALUE_PLAIN)
    return 0;
  size_t v = i + at;
  if (at == word)
    v += strspn(text + v, " \t");
  char quote = 0;
  if (is_quote(text[v]))
    quote = text[v++];
  size_t end = value_end(text, v, quote), start = v;
  if (kind == MIDA_VALUE_USER_PASSWORD) {
    const char *colon = memchr(text + v, ':', end - v);
    if (colon == NULL)
      start = end;
    else if (colon > text + v && colon + 1 == text + end)
      start = v; /* "KEY:" */
    else
      start = (size_t)(colon - text) + 1;
  } else if (kind == MIDA_VALUE_HEADER) {
    size_t n = secret_header_name(text, v);
    start = n > 0 ? v + n + 1 + strspn(text + v + n + 1, " \t") : end;
  }
  if (start >= end)
    return 0;
  *off = start;
  *len = end - start;
  *past = end;
  return 1;
}

int mida__shell_next_secret(const char *text, size_t *from, size_t *off,
                            size_t *len) {
  unsigned named = tools_before(text, *from);
  for (size_t i = *from; text[i] != '\0'; i++) {
    if (!word_starts(text, i))
      continue;
    /* A word that names a program may hold a secret too: its basename
     * alone names it ("X-Api-Key:k:/usr/bin/curl"). */
    named |=
        mida__credentials_tool(text + i, strcspn(text + i, WORD_ENDS "'\""));
    size_t past;
    if (named != 0 && tool_option_secret(named, text, i, off, len, &past)) {
      *from = past;
      return 1;
    }
    size_t n = strspn(text + i, MIDA_NAME_CHARS);
    if (n == 0 || !mida__secret_name(text + i, n))
      continue;
    size_t v;
    char quote = 0;
    int form = 0; /* a field of form data, "user=a&password=x" */
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
    if (secret_header_name(text, i) == n) {
      v = i + n + 1 + strspn(text + i + n + 1, " \t");
      quote = i > 0 && is_quote(text[i - 1]) ? text[i - 1] : 0;
    } else if (text[i + n] == '=' && i > 0 && text[i - 1] == '&') {
      v = i + n + 1;
      form = 1;
    } else if (text[i] == '-' && text[i + n] != '\0' &&
               strchr(" \t", text[i + n]) != NULL) {
      v = i + n + strspn(text + i + n, " \t");
      if (is_quote(text[v]))
        quote = text[v++];
    } else {
      continue;
    }
    /* A field ends at its data's quote: a JSON member's name may follow. */
    size_t end = form ? v + strcspn(text + v, WORD_ENDS "'\"")
                      : value_end(text, v, quote);
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

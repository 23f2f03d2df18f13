/*
 * shell_secret.c -- secret option values and header values inside a
 * shell command's text (see shell_secret.h).
 */
#include "core/shell_secret.h"

#include "core/credentials.h"
#include "core/redact.h"

#include <string.h>

/* What ends an unquoted word: white space and the shell's operators. */
#define WORD_ENDS " \t\n;&|)"

static int is_quote(char c) { return c == '\'' || c == '"'; }

static int word_starts(const char *t, size_t i) {
  return i == 0 || strchr(" \t\n;&|('\"=", t[i - 1]) != NULL;
}

/* The end of the unquoted word at t + v: the first of stops that no
 * backslash escapes ("P\\ W" is one word, as the shell reads it). */
static size_t unquoted_end(const char *t, size_t v, const char *stops) {
  while (t[v] != '\0' && strchr(stops, t[v]) == NULL)
    v += t[v] == '\\' && t[v + 1] != '\0' ? 2 : 1;
  return v;
}

/* The end of the value at v: up to quote when it is not 0 (or the end of
 * the text; a '"' that a backslash escapes inside double quotes is none),
 * else up to the end of the word. */
static size_t value_end(const char *t, size_t v, char quote) {
  if (quote == 0)
    return unquoted_end(t, v, WORD_ENDS);
  for (; t[v] != '\0' && t[v] != quote; v++)
    if (quote == '"' && t[v] == '\\' && t[v + 1] != '\0')
      v++;
  return v;
}

/* The secret of kind (core/credentials.h) in the value at text + v, the
 * inside of the quotes when it starts with one. Sets *off, *len and *past
 * (the end of the value) and returns 1, or returns 0 when it holds none. */
static int value_secret(const char *text, size_t v,
                        enum mida__secret_value kind, size_t *off,
                        size_t *len, size_t *past) {
  char quote = 0;
  if (is_quote(text[v]))
    quote = text[v++];
  size_t end = value_end(text, v, quote);
  size_t start = v + mida__credentials_secret(kind, text + v, end - v);
  if (start >= end)
    return 0;
  *off = start;
  *len = end - start;
  *past = end;
  return 1;
}

/* Most words read after a program that takes a secret as a word: its
 * secret comes among its first. */
#define POSITIONAL_WORDS 32

/* The secret word (core/credentials.h) among the words after the one
 * that ends at text + i and names a program that takes one (htpasswd's
 * password, aws's value of a secret key), with c what the words up to
 * there named. The words are read as the shell splits them, a quoted one
 * whole (its inside is the value), up to the end of the command (one of
 * ;&|() or a new line) or of the quote that it stands in (`bash -c
 * '...'`). Sets *off and *len and returns 1, or returns 0. */
static int positional_secret(const char *text, size_t i,
                             struct mida__credentials c, size_t *off,
                             size_t *len) {
  for (int w = 0; w < POSITIONAL_WORDS; w++) {
    i += strspn(text + i, " \t");
    if (text[i] == '\0' || strchr(";&|()\n", text[i]) != NULL)
      return 0;
    char quote = is_quote(text[i]) ? text[i] : 0;
    size_t v = i + (quote != 0), at;
    size_t end = quote != 0 ? value_end(text, v, quote)
                            : unquoted_end(text, v, WORD_ENDS "'\"");
    mida__credentials_word(&c, text + v, end - v, &at);
    if (c.by_position && end > v) {
      *off = v;
      *len = end - v;
      return 1;
    }
    if (quote == 0 && is_quote(text[end]))
      return 0; /* the quote of a command inside another ends */
    i = quote != 0 && text[end] != '\0' ? end + 1 : end;
  }
  return 0;
}

/* No secret word is pending (struct reading). */
#define NO_WORD ((size_t)-1)

/* A shell text read byte after byte: what its words named, in which
 * quote the byte stands (outside any, one of ;&|( or a new line ends a
 * command, and the programs named before count no more: `mongosh -p X;
 * plink -pw Y`), and the first secret word (positional_secret) that
 * ends past floor. */
struct reading {
  struct mida__credentials named;
  char quote;
  int escaped;
  size_t floor;
  size_t word_off, word_len; /* word_off NO_WORD: none */
  int word_next;             /* the byte before was a blank or an operator
                                of the shell's, neither quoted nor escaped:
                                a word of the command may begin */
  int substituted;           /* $( <( >( opened and not closed: their
                                words are none of the command around */
  int redirect_target;       /* a redirection's operator stood apart
                                ("> log", "2> err"): the next word is its
                                target, no word of the command */
};

/* Whether the '&' or '|' at text + i is part of a redirection (">&2",
 * "<&-", "&>log", ">|log") rather than the end of a command. */
static int redirection_char(const char *text, size_t i) {
  char ch = text[i];
  if (ch != '&' && ch != '|')
    return 0;
  return (i > 0 && (text[i - 1] == '>' || text[i - 1] == '<')) ||
         (ch == '&' && text[i + 1] == '>');
}

/* A word of the command itself, as the shell splits it (a quoted one
 * whole), begins at text + i: where sshpass's and redis-cli's options
 * end (mida__credentials_command). A redirection ("2>/dev/null", "<in",
 * and the target of "> log") is none: read as one, it ended their
 * options before their password. */
static void command_word(const char *text, size_t i, struct reading *r) {
  char ch = text[i];
  if (r->redirect_target) {
    r->redirect_target = 0;
    return;
  }
  size_t d = strspn(text + i, "0123456789");
  if (text[i + d] == '<' || text[i + d] == '>')
    return;
  size_t n = is_quote(ch) ? 1 : strcspn(text + i, WORD_ENDS "'\"");
  mida__credentials_command(&r->named, is_quote(ch) ? "x" : text + i, n);
}

/* The secret in the word after the option word at text + i when that
 * word is a value too besides the one attached (isql's "-PASS PW":
 * Sybase's password "ASS" is tool_option_secret's, Firebird's next):
 * sets *off and *len and returns 1, or returns 0. */
static int also_next_secret(uint32_t named, const char *text, size_t i,
                            size_t *off, size_t *len) {
  size_t word = strcspn(text + i, WORD_ENDS), at, past;
  enum mida__secret_value also;
  if (mida__credentials_option(named, text + i, word, &at, &also) ==
          MIDA_VALUE_PLAIN ||
      also == MIDA_VALUE_PLAIN)
    return 0;
  size_t v = i + word + strspn(text + i + word, " \t");
  return value_secret(text, v, also, off, len, &past);
}

/* Reads the byte at text + i into r (bytes are read in order). */
static void read_byte(const char *text, size_t i, struct reading *r) {
  char ch = text[i];
  /* The byte is the shell's: neither inside a quote nor escaped ("my\\
   * pw.txt" is one word). A word inside a quote is no word of the
   * command. */
  int plain = r->quote == 0 && !r->escaped;
  int redirection = plain && redirection_char(text, i);
  /* A command substituted ("-h $(cat host)", "-f <(pass show x)") is
   * within a word of the command around it, whose programs it does not
   * end: the options of sshpass -p PW after it are still sshpass's. */
  int opens = plain && ch == '(' && i > 0 && strchr("$<>", text[i - 1]);
  if (opens)
    r->substituted++;
  else if (plain && ch == ')' && r->substituted > 0)
    r->substituted--;
  if (plain && r->substituted == 0 && (i == 0 || r->word_next) &&
      strchr(" \t\n;&|)", ch) == NULL)
    command_word(text, i, r);
  if (plain && (ch == '<' || ch == '>' || redirection))
    r->redirect_target = text[i + 1] == ' ' || text[i + 1] == '\t';
  r->word_next =
      plain && !redirection && strchr(" \t\n;&|(", ch) != NULL;
  if (r->escaped)
    r->escaped = 0;
  else if (ch == '\\' && r->quote != '\'')
    r->escaped = 1;
  else if (r->quote != 0)
    r->quote = ch == r->quote ? 0 : r->quote;
  else if (is_quote(ch))
    r->quote = ch;
  else if (strchr(";&|(\n", ch) != NULL && !redirection &&
           r->substituted == 0) {
    r->named = (struct mida__credentials){0};
    r->redirect_target = 0;
  }
  if (!word_starts(text, i))
    return;
  size_t n = strcspn(text + i, WORD_ENDS "'\""), o, l;
  if (mida__credentials_name(&r->named, text + i, n) &&
      positional_secret(text, i + n, r->named, &o, &l) && o + l > r->floor &&
      (r->word_off == NO_WORD || o < r->word_off)) {
    r->word_off = o;
    r->word_len = l;
  }
  if (r->named.named != 0 && also_next_secret(r->named.named, text, i, &o,
                                              &l) &&
      o + l > r->floor && (r->word_off == NO_WORD || o < r->word_off)) {
    r->word_off = o;
    r->word_len = l;
  }
}

/* The secret in the value of an option of the programs named at text +
 * i, when the word there is one (mida__credentials_option): its value
 * attached, or the next word, either possibly quoted. Sets *off, *len
 * and *past (the end of the value) and returns 1, or returns 0. */
static int tool_option_secret(uint32_t named, const char *text, size_t i,
                              size_t *off, size_t *len, size_t *past) {
  size_t word = strcspn(text + i, WORD_ENDS), at;
  enum mida__secret_value also;
  enum mida__secret_value kind =
      mida__credentials_option(named, text + i, word, &at, &also);
  if (kind == MIDA_VALUE_PLAIN)
    return 0;
  size_t v = i + at;
  if (at == word)
    v += strspn(text + v, " \t");
  return value_secret(text, v, kind, off, len, past);
}

int mida__shell_next_secret(const char *text, size_t *from, size_t *off,
                            size_t *len) {
  struct reading r = {.floor = *from, .word_off = NO_WORD};
  for (size_t i = 0; i < *from && text[i] != '\0'; i++)
    read_byte(text, i, &r);
  if (r.word_off != NO_WORD && r.word_off < *from) { /* partly hidden */
    r.word_len -= *from - r.word_off;
    r.word_off = *from;
  }
  for (size_t i = *from; text[i] != '\0'; i++) {
    if (i == r.word_off) {
      *off = r.word_off;
      *len = r.word_len;
      *from = r.word_off + r.word_len;
      return 1;
    }
    /* A word that names a program may hold a secret too: its basename
     * alone names it ("X-Api-Key:k:/usr/bin/curl"). */
    read_byte(text, i, &r);
    if (!word_starts(text, i))
      continue;
    size_t past;
    /* any program's --creds too (mida__credentials_option) */
    if (tool_option_secret(r.named.named, text, i, off, len, &past)) {
      *from = past;
      return 1;
    }
    size_t n = strspn(text + i, MIDA_NAME_CHARS);
    if (n == 0 || !mida__secret_option(text + i, n))
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
    if (mida__secret_header_name(text + i) == n) {
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
    size_t end = form ? unquoted_end(text, v, WORD_ENDS "'\"")
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

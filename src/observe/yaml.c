/*
 * yaml.c -- the YAML subset of MLflow's meta.yaml files (see yaml.h).
 *
 * A line-oriented reader: a mapping is a run of lines at one indentation,
 * each "key: value"; a value is a scalar on that line (plain, quoted or a
 * block scalar's header) that may go on over the lines below it, or a
 * nested mapping / sequence on the lines below. Every read is checked
 * against the end of the input.
 */
#include "observe/yaml.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "mida.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCALAR (16u << 20) /* longest scalar kept */

/* One line of the input, without its line break. */
typedef struct line {
  const char *p; /* first byte */
  size_t len;    /* bytes, the line break excluded */
  size_t indent; /* leading spaces */
} line;

typedef struct parser {
  const char *text; /* the document */
  size_t len;       /* its bytes */
  size_t pos;       /* start of the next line to read */
  mida__yaml *out;  /* where entries go */
  mida__buf val;    /* the scalar being built */
} parser;

/* Reads the line at pos without consuming it. Returns false at the end. */
static bool peek_line(const parser *pr, line *ln, size_t *next) {
  if (pr->pos >= pr->len)
    return false;
  const char *p = pr->text + pr->pos;
  size_t left = pr->len - pr->pos;
  const char *nl = memchr(p, '\n', left);
  size_t n = nl != NULL ? (size_t)(nl - p) : left;
  *next = pr->pos + n + (nl != NULL ? 1 : 0);
  if (n > 0 && p[n - 1] == '\r')
    n--;
  ln->p = p;
  ln->len = n;
  ln->indent = 0;
  while (ln->indent < n && p[ln->indent] == ' ')
    ln->indent++;
  return true;
}

static bool is_blank(const line *ln) {
  for (size_t i = ln->indent; i < ln->len; i++)
    if (ln->p[i] != ' ' && ln->p[i] != '\t')
      return false;
  return true;
}

/* A line that carries nothing: blank, a comment, or a document marker. */
static bool is_skippable(const line *ln) {
  if (is_blank(ln))
    return true;
  const char *c = ln->p + ln->indent;
  size_t n = ln->len - ln->indent;
  if (c[0] == '#')
    return true;
  return ln->indent == 0 && n >= 3 &&
         (memcmp(c, "---", 3) == 0 || memcmp(c, "...", 3) == 0) &&
         (n == 3 || c[3] == ' ');
}

static int add_entry(parser *pr, const char *parent, const char *key,
                     size_t klen, bool null) {
  mida__yaml *y = pr->out;
  if (y->n >= MIDA_YAML_MAX_ENTRIES)
    return MIDA_ECORRUPT;
  if (y->n == y->cap) {
    size_t cap = y->cap ? y->cap * 2 : 16;
    mida__yaml_entry *e = mida__realloc(y->e, cap * sizeof *e);
    if (e == NULL)
      return MIDA_ENOMEM;
    y->e = e;
    y->cap = cap;
  }
  mida__yaml_entry *e = &y->e[y->n];
  memset(e, 0, sizeof *e);
  e->parent = parent != NULL ? mida__strdup(parent) : NULL;
  e->key = mida__malloc(klen + 1);
  if (!null) {
    e->value = mida__malloc(pr->val.len + 1);
    if (e->value != NULL) {
      if (pr->val.len > 0)
        memcpy(e->value, pr->val.ptr, pr->val.len);
      e->value[pr->val.len] = '\0';
      e->len = pr->val.len;
    }
  }
  if (e->key == NULL || (parent != NULL && e->parent == NULL) ||
      (!null && e->value == NULL)) {
    mida__free(e->parent);
    mida__free(e->key);
    mida__free(e->value);
    return MIDA_ENOMEM;
  }
  memcpy(e->key, key, klen);
  e->key[klen] = '\0';
  y->n++;
  return MIDA_OK;
}

static int put(parser *pr, const void *p, size_t n) {
  return mida__buf_add(&pr->val, p, n);
}

static int put_utf8(parser *pr, uint32_t cp) {
  char b[4];
  size_t n;
  if (cp < 0x80) {
    b[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    b[0] = (char)(0xc0 | (cp >> 6));
    b[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    if (cp >= 0xd800 && cp <= 0xdfff)
      return MIDA_ECORRUPT;
    b[0] = (char)(0xe0 | (cp >> 12));
    b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else if (cp <= 0x10ffff) {
    b[0] = (char)(0xf0 | (cp >> 18));
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  } else {
    return MIDA_ECORRUPT;
  }
  return put(pr, b, n);
}

/* One escape of a double-quoted scalar at s (after the backslash), n bytes
 * left; *used receives the bytes it took. */
static int put_escape(parser *pr, const char *s, size_t n, size_t *used) {
  static const char simple_in[] = "0abtnvfre \"/\\N_LP\t";
  static const char *const simple_out[] = {
      "\0",     "\a",     "\b",     "\t",         "\n",         "\v",
      "\f",     "\r",     "\x1b",   " ",          "\"",         "/",
      "\\",     "\xc2\x85", "\xc2\xa0", "\xe2\x80\xa8", "\xe2\x80\xa9",
      "\t"};
  if (n == 0)
    return MIDA_ECORRUPT;
  const char *hit = memchr(simple_in, s[0], sizeof simple_in - 1);
  if (hit != NULL) {
    size_t i = (size_t)(hit - simple_in);
    *used = 1;
    return put(pr, simple_out[i], i == 0 ? 1 : strlen(simple_out[i]));
  }
  size_t digits = s[0] == 'x' ? 2 : s[0] == 'u' ? 4 : s[0] == 'U' ? 8 : 0;
  if (digits == 0 || n < digits + 1)
    return MIDA_ECORRUPT;
  char hex[9];
  for (size_t i = 1; i <= digits; i++) {
    if (!isxdigit((unsigned char)s[i]))
      return MIDA_ECORRUPT;
    hex[i - 1] = s[i];
  }
  hex[digits] = '\0';
  *used = digits + 1;
  return put_utf8(pr, (uint32_t)strtoul(hex, NULL, 16));
}

/* Drops trailing spaces and tabs of the scalar built so far, down to keep
 * bytes (what escapes wrote is kept). */
static void trim_tail(parser *pr, size_t keep) {
  while (pr->val.len > keep && (pr->val.ptr[pr->val.len - 1] == ' ' ||
                                pr->val.ptr[pr->val.len - 1] == '\t'))
    pr->val.len--;
  if (pr->val.ptr != NULL)
    pr->val.ptr[pr->val.len] = '\0';
}

/* A quoted scalar that starts at s (the quote) on the current line, which
 * ends at end; it may go on over the following lines (folded). On return
 * pr->pos is past the line of the closing quote. */
static int quoted(parser *pr, const char *s, const char *end, size_t next) {
  char q = *s++;
  size_t keep = 0; /* bytes of val that trimming must not remove */
  bool escaped_break = false;
  for (;;) {
    while (s < end) {
      if (*s == q) {
        if (q == '\'' && s + 1 < end && s[1] == '\'') {
          int rc = put(pr, "'", 1);
          if (rc != MIDA_OK)
            return rc;
          s += 2;
          continue;
        }
        /* The closing quote: only spaces or a comment may follow. */
        for (s++; s < end; s++) {
          if (*s == '#')
            break;
          if (*s != ' ' && *s != '\t')
            return MIDA_ECORRUPT;
        }
        pr->pos = next;
        return MIDA_OK;
      }
      if (q == '"' && *s == '\\') {
        if (s + 1 == end) {
          escaped_break = true;
          s++;
          break;
        }
        size_t used = 0;
        int rc = put_escape(pr, s + 1, (size_t)(end - s - 1), &used);
        if (rc != MIDA_OK)
          return rc;
        s += 1 + used;
        keep = pr->val.len;
        continue;
      }
      int rc = put(pr, s, 1);
      if (rc != MIDA_OK)
        return rc;
      s++;
    }
    /* The line ended inside the quotes: fold into the next one. */
    if (!escaped_break)
      trim_tail(pr, keep);
    size_t empties = 0;
    line ln;
    pr->pos = next;
    for (;;) {
      if (!peek_line(pr, &ln, &next))
        return MIDA_ECORRUPT; /* the document ended inside the quotes */
      if (!is_blank(&ln))
        break;
      empties++;
      pr->pos = next;
    }
    int rc = MIDA_OK;
    if (escaped_break) {
      escaped_break = false;
    } else if (empties == 0) {
      rc = put(pr, " ", 1);
    }
    for (size_t i = 0; rc == MIDA_OK && i < empties; i++)
      rc = put(pr, "\n", 1);
    if (rc != MIDA_OK)
      return rc;
    s = ln.p;
    end = ln.p + ln.len;
    while (s < end && (*s == ' ' || *s == '\t'))
      s++;
  }
}

/* A plain scalar: text (already trimmed) on the current line, then the
 * lines below it indented more than indent, folded. */
static int plain(parser *pr, const char *s, size_t n, size_t indent,
                 size_t next) {
  int rc = put(pr, s, n);
  pr->pos = next;
  size_t empties = 0;
  line ln;
  while (rc == MIDA_OK && peek_line(pr, &ln, &next)) {
    if (is_blank(&ln)) {
      empties++;
      pr->pos = next;
      continue;
    }
    if (ln.indent <= indent || ln.p[ln.indent] == '#')
      break;
    const char *t = ln.p + ln.indent;
    size_t tn = ln.len - ln.indent;
    while (tn > 0 && (t[tn - 1] == ' ' || t[tn - 1] == '\t'))
      tn--;
    /* A key where a plain scalar goes on ("mapping values are not
     * allowed here", as PyYAML says). */
    for (size_t i = 0; i < tn; i++)
      if (t[i] == ':' && (i + 1 == tn || t[i + 1] == ' '))
        return MIDA_ECORRUPT;
    if (empties == 0)
      rc = put(pr, " ", 1);
    for (size_t i = 0; rc == MIDA_OK && i < empties; i++)
      rc = put(pr, "\n", 1);
    empties = 0;
    if (rc == MIDA_OK)
      rc = put(pr, t, tn);
    pr->pos = next;
  }
  return rc;
}

/* A block scalar (| or >, with - or + chomping) whose content lines are
 * indented more than indent. */
static int block(parser *pr, const char *hdr, size_t n, size_t indent,
                 size_t next) {
  bool folded = hdr[0] == '>';
  int chomp = 0; /* -1 strip, 0 clip, 1 keep */
  for (size_t i = 1; i < n; i++) {
    if (hdr[i] == '-')
      chomp = -1;
    else if (hdr[i] == '+')
      chomp = 1;
    else if (hdr[i] == ' ' || hdr[i] == '\t')
      break;
    else if (hdr[i] < '1' || hdr[i] > '9')
      return MIDA_ECORRUPT;
  }
  pr->pos = next;
  size_t block_indent = 0, newlines = 0;
  bool any = false, last_more = false;
  line ln;
  int rc = MIDA_OK;
  while (rc == MIDA_OK && peek_line(pr, &ln, &next)) {
    if (is_blank(&ln)) {
      newlines++;
      pr->pos = next;
      continue;
    }
    if (ln.indent <= indent)
      break;
    if (block_indent == 0)
      block_indent = ln.indent;
    if (ln.indent < block_indent)
      return MIDA_ECORRUPT;
    bool more = ln.indent > block_indent;
    if (any) {
      /* Folded style joins lines of equal indentation with a space. */
      /* Folded style: one break between lines of equal indentation is a
       * space, k breaks are k - 1 newlines. */
      bool fold = folded && !more && !last_more;
      if (fold && newlines == 1)
        rc = put(pr, " ", 1);
      for (size_t i = fold ? 1 : 0; rc == MIDA_OK && i < newlines; i++)
        rc = put(pr, "\n", 1);
    } else {
      for (size_t i = 0; rc == MIDA_OK && i < newlines; i++)
        rc = put(pr, "\n", 1);
    }
    if (rc == MIDA_OK)
      rc = put(pr, ln.p + block_indent, ln.len - block_indent);
    any = true;
    last_more = more;
    newlines = 1;
    pr->pos = next;
  }
  if (rc == MIDA_OK && any && chomp >= 0)
    rc = put(pr, "\n", 1);
  for (size_t i = 1; rc == MIDA_OK && chomp > 0 && i < newlines; i++)
    rc = put(pr, "\n", 1);
  return rc;
}

/* Skips the lines of a block sequence: at indent, starting with "-", and
 * what is indented more below them. */
static void skip_sequence(parser *pr, size_t indent) {
  line ln;
  size_t next;
  while (peek_line(pr, &ln, &next)) {
    if (!is_skippable(&ln)) {
      bool item = ln.indent == indent && ln.p[ln.indent] == '-' &&
                  (ln.indent + 1 == ln.len || ln.p[ln.indent + 1] == ' ');
      if (!item && ln.indent <= indent)
        return;
    }
    pr->pos = next;
  }
}

static int mapping(parser *pr, size_t indent, const char *parent);

/* The key of "key: value" at s (n bytes), into val; *rest receives what
 * follows the colon and its spaces. */
static int read_key(parser *pr, const char *s, size_t n, const char **rest) {
  const char *end = s + n;
  if (*s == '\'' || *s == '"') {
    /* A quoted key: on one line. */
    size_t next = pr->pos;
    parser sub = *pr;
    const char *close = NULL;
    for (const char *p = s + 1; p < end; p++) {
      if (*s == '\'' && *p == '\'' && p + 1 < end && p[1] == '\'') {
        p++;
        continue;
      }
      if (*s == '"' && *p == '\\') {
        p++;
        continue;
      }
      if (*p == *s) {
        close = p;
        break;
      }
    }
    if (close == NULL || close + 1 >= end || close[1] != ':')
      return MIDA_ECORRUPT;
    int rc = quoted(&sub, s, close + 1, next);
    pr->val = sub.val;
    if (rc != MIDA_OK)
      return rc;
    s = close + 2;
  } else {
    const char *p = s;
    while (p < end && !(*p == ':' && (p + 1 == end || p[1] == ' ')))
      p++;
    if (p == end || p == s)
      return MIDA_ECORRUPT;
    const char *k = p;
    while (k > s && (k[-1] == ' ' || k[-1] == '\t'))
      k--;
    int rc = put(pr, s, (size_t)(k - s));
    if (rc != MIDA_OK)
      return rc;
    s = p + 1;
  }
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  *rest = s;
  return MIDA_OK;
}

/* One "key: value" line of a mapping at indent (the line is ln, the next
 * one starts at next). */
static int member(parser *pr, const line *ln, size_t next, size_t indent,
                  const char *parent) {
  const char *s = ln->p + ln->indent, *end = ln->p + ln->len;
  mida__buf_reset(&pr->val);
  const char *rest = NULL;
  int rc = read_key(pr, s, (size_t)(end - s), &rest);
  if (rc != MIDA_OK)
    return rc;
  if (memchr(pr->val.ptr != NULL ? pr->val.ptr : "", '\0', pr->val.len))
    return MIDA_ECORRUPT; /* a key must be text ("\0" in a quoted key) */
  char *key = mida__malloc(pr->val.len + 1);
  if (key == NULL)
    return MIDA_ENOMEM;
  size_t klen = pr->val.len;
  if (klen > 0)
    memcpy(key, pr->val.ptr, klen);
  key[klen] = '\0';
  mida__buf_reset(&pr->val);
  size_t n = (size_t)(end - rest);
  while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'))
    n--;
  bool null = false;
  if (n == 0 || rest[0] == '#') {
    /* Nothing on the line: a nested block below, or null. */
    pr->pos = next;
    line below;
    size_t after;
    while (peek_line(pr, &below, &after) && is_skippable(&below))
      pr->pos = after;
    bool has_below = peek_line(pr, &below, &after);
    bool dash = has_below && below.p[below.indent] == '-' &&
                (below.indent + 1 == below.len ||
                 below.p[below.indent + 1] == ' ');
    if (has_below && dash && below.indent >= indent) {
      skip_sequence(pr, below.indent);
    } else if (has_below && below.indent > indent) {
      rc = parent == NULL ? mapping(pr, below.indent, key) : MIDA_ECORRUPT;
    } else {
      rc = add_entry(pr, parent, key, klen, true);
    }
    mida__free(key);
    return rc;
  }
  if (rest[0] == '\'' || rest[0] == '"') {
    rc = quoted(pr, rest, end, next);
  } else if (rest[0] == '|' || rest[0] == '>') {
    rc = block(pr, rest, n, indent, next);
  } else if ((n == 2 && (memcmp(rest, "{}", 2) == 0 ||
                         memcmp(rest, "[]", 2) == 0))) {
    pr->pos = next; /* an empty collection: nothing to keep */
    mida__free(key);
    return MIDA_OK;
  } else if (strchr("{[&*!%@`", rest[0]) != NULL) {
    rc = MIDA_ECORRUPT; /* flow collections, anchors, aliases, tags */
  } else {
    rc = plain(pr, rest, n, indent, next);
    null = pr->val.len == 0 ||
           (pr->val.len == 1 && pr->val.ptr[0] == '~') ||
           (pr->val.len == 4 && (memcmp(pr->val.ptr, "null", 4) == 0 ||
                                 memcmp(pr->val.ptr, "Null", 4) == 0 ||
                                 memcmp(pr->val.ptr, "NULL", 4) == 0));
  }
  if (rc == MIDA_OK && pr->val.len > MAX_SCALAR)
    rc = MIDA_ECORRUPT;
  if (rc == MIDA_OK)
    rc = add_entry(pr, parent, key, klen, null);
  mida__free(key);
  return rc;
}

/* The members of a mapping whose keys are at indent, until a line
 * indented less. */
static int mapping(parser *pr, size_t indent, const char *parent) {
  line ln;
  size_t next;
  while (peek_line(pr, &ln, &next)) {
    if (is_skippable(&ln)) {
      pr->pos = next;
      continue;
    }
    if (ln.indent < indent)
      return MIDA_OK;
    if (ln.indent > indent)
      return MIDA_ECORRUPT;
    if (ln.p[ln.indent] == '-' || ln.p[ln.indent] == '\t')
      return MIDA_ECORRUPT; /* a sequence where a key belongs */
    int rc = member(pr, &ln, next, indent, parent);
    if (rc != MIDA_OK)
      return rc;
  }
  return MIDA_OK;
}

int mida__yaml_parse(const char *text, size_t len, mida__yaml *out) {
  memset(out, 0, sizeof *out);
  if (text == NULL)
    return MIDA_EINVAL;
  parser pr;
  memset(&pr, 0, sizeof pr);
  pr.text = text;
  pr.len = len;
  pr.out = out;
  mida__buf_init(&pr.val, MAX_SCALAR + 16);
  int rc = mapping(&pr, 0, NULL);
  if (rc == MIDA_OK && pr.pos < pr.len) {
    line ln;
    size_t next;
    /* Only what is indented less than nothing is left: corrupt. */
    while (rc == MIDA_OK && peek_line(&pr, &ln, &next)) {
      if (!is_skippable(&ln))
        rc = MIDA_ECORRUPT;
      pr.pos = next;
    }
  }
  mida__buf_free(&pr.val);
  if (rc != MIDA_OK)
    mida__yaml_free(out);
  return rc;
}

const char *mida__yaml_get(const mida__yaml *y, const char *parent,
                           const char *key, size_t *len) {
  /* A key given twice has its last value, as PyYAML reads it. */
  for (size_t i = y != NULL ? y->n : 0; i-- > 0;) {
    const mida__yaml_entry *e = &y->e[i];
    if ((parent == NULL) != (e->parent == NULL))
      continue;
    if (parent != NULL && strcmp(parent, e->parent) != 0)
      continue;
    if (strcmp(e->key, key) != 0)
      continue;
    if (len != NULL)
      *len = e->len;
    return e->value;
  }
  return NULL;
}

void mida__yaml_free(mida__yaml *y) {
  if (y == NULL)
    return;
  for (size_t i = 0; i < y->n; i++) {
    mida__free(y->e[i].parent);
    mida__free(y->e[i].key);
    mida__free(y->e[i].value);
  }
  mida__free(y->e);
  memset(y, 0, sizeof *y);
}

/*
 * predicate.c -- where=DOC.PATH OP VALUE filters on a task's documents.
 *
 * A scientist steering a run asks "the tasks whose used.lr > 0.01": the
 * predicate names a document column and a key path in it, and is turned
 * into SQL with the path and the value as bound parameters (never spliced
 * into the text), over the two functions both stores define for it:
 * mida_num(doc, path) for numbers and mida_text(doc, path) for the rest
 * (src/sink/sqlite.c, and the mida schema of src/sink/postgres.c).
 */
#include "serve/predicate.h"

#include "core/json.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

static const char *const docs[] = {"used", "generated", "custom", "telemetry"};
/* Longest first, so that "<=" is not read as "<". */
static const char *const ops[] = {"!=", "<=", ">=", "=", "<", ">"};

static int key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int mida__predicate_parse(const char *text, mida__predicate *p, char *why,
                          size_t whylen) {
  memset(p, 0, sizeof *p);
  const char *dot = strchr(text, '.');
  for (size_t i = 0; dot != NULL && i < sizeof docs / sizeof docs[0]; i++)
    if ((size_t)(dot - text) == strlen(docs[i]) &&
        memcmp(text, docs[i], (size_t)(dot - text)) == 0)
      p->doc = docs[i];
  if (p->doc == NULL) {
    snprintf(why, whylen,
             "must start with used., generated., custom. or telemetry.");
    return MIDA_EINVAL;
  }
  const char *s = dot + 1;
  size_t n = 0;
  int keys = 1;
  while (key_char(s[n]) || (s[n] == '.' && n > 0 && s[n - 1] != '.')) {
    if (s[n] == '.')
      keys++;
    n++;
  }
  if (n == 0 || s[n - 1] == '.' || n > MIDA_PREDICATE_MAX_PATH || keys > 4) {
    snprintf(why, whylen,
             "the key path must be 1 to 4 keys of letters, digits, '_' or "
             "'-', separated by '.', at most %d bytes",
             MIDA_PREDICATE_MAX_PATH);
    return MIDA_EINVAL;
  }
  memcpy(p->path, s, n);
  p->path[n] = '\0';
  s += n;
  if (*s == '\0')
    return MIDA_OK; /* the key is there */
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    size_t olen = strlen(ops[i]);
    if (strncmp(s, ops[i], olen) == 0) {
      p->op = ops[i];
      s += olen;
      break;
    }
  }
  if (p->op == NULL) {
    snprintf(why, whylen, "the operator must be one of = != < <= > >=");
    return MIDA_EINVAL;
  }
  p->value = s;
  p->numeric = mida__json_is_number(s);
  if (!p->numeric && strcmp(p->op, "=") != 0 && strcmp(p->op, "!=") != 0) {
    snprintf(why, whylen, "< <= > >= need a number after them");
    return MIDA_EINVAL;
  }
  return MIDA_OK;
}

int mida__predicate_sql(const mida__predicate *p, const char *alias,
                        mida__buf *sql, const char **params, int *np) {
  params[(*np)++] = p->path;
  int path_param = *np;
  if (p->op == NULL)
    return mida__buf_printf(sql,
                            "(mida_num(%s.%s, ?%d) IS NOT NULL OR"
                            " mida_text(%s.%s, ?%d) IS NOT NULL)",
                            alias, p->doc, path_param, alias, p->doc,
                            path_param);
  params[(*np)++] = p->value;
  const char *op = strcmp(p->op, "!=") == 0 ? "<>" : p->op;
  if (p->numeric)
    return mida__buf_printf(sql,
                            "mida_num(%s.%s, ?%d) %s"
                            " CAST(?%d AS DOUBLE PRECISION)",
                            alias, p->doc, path_param, op, *np);
  return mida__buf_printf(sql, "mida_text(%s.%s, ?%d) %s ?%d", alias, p->doc,
                          path_param, op, *np);
}

/*
 * predicate.c -- where=DOC.PATH OP VALUE filters on a task's documents.
 *
 * A scientist steering a run asks "the tasks whose used.lr > 0.01": the
 * predicate names a document column and a key path in it, and is turned
 * into SQL with the value as a bound parameter (never spliced into the
 * text), over the two functions both stores define for it: mida_num(doc,
 * path) for numbers and mida_text(doc, path) for the rest
 * (src/sink/sqlite_functions.c, and the mida schema of
 * src/sink/postgres.c). The key is written as key.h writes it -- the path
 * a checked literal -- so that an index made by `mida index` serves the
 * predicate.
 */
#include "sink/predicate.h"

#include "core/json.h"
#include "sink/key.h"
#include "mida.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest first, so that "<=" is not read as "<". */
static const char *const ops[] = {"!=", "<=", ">=", "=", "<", ">"};

int mida__predicate_parse(const char *text, mida__predicate *p, char *why,
                          size_t whylen) {
  memset(p, 0, sizeof *p);
  const char *s = NULL;
  int rc = mida__key_parse(text, &p->key, &s, why, whylen);
  if (rc != MIDA_OK)
    return rc;
  /* 'used.lr > 0.01' reads as 'used.lr>0.01': no key or operator has a
   * space, and a text value that starts with one ('used.model= resnet')
   * would match nothing, silently. */
  s += strspn(s, " ");
  if (*s == '\0')
    return MIDA_OK; /* the key is there */
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    size_t olen = strlen(ops[i]);
    if (strncmp(s, ops[i], olen) == 0) {
      p->op = ops[i];
      s += olen;
      s += strspn(s, " ");
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
  /* The stores compare numbers as doubles: PostgreSQL refuses to cast one
   * that overflows or underflows to zero, which would fail the query as
   * an error of the store rather than of the request. */
  if (p->numeric) {
    errno = 0;
    double v = strtod(s, NULL);
    if (!isfinite(v) || (errno == ERANGE && v == 0)) {
      snprintf(why, whylen, "the number %.40s is past the range of a double",
               s);
      return MIDA_EINVAL;
    }
  }
  return MIDA_OK;
}

int mida__predicate_sql(const mida__predicate *p, const char *alias,
                        mida__buf *sql, const char **params, int *np) {
  int rc;
  if (p->op == NULL) {
    rc = mida__buf_adds(sql, "(");
    if (rc == MIDA_OK)
      rc = mida__key_expr(sql, &p->key, MIDA_KEY_NUM, alias);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(sql, " IS NOT NULL OR ");
    if (rc == MIDA_OK)
      rc = mida__key_expr(sql, &p->key, MIDA_KEY_TEXT, alias);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(sql, " IS NOT NULL)");
    return rc;
  }
  params[(*np)++] = p->value;
  const char *op = strcmp(p->op, "!=") == 0 ? "<>" : p->op;
  /* The hints of the probe (key_index.h) to SQLite's planner, which has
   * no statistics of an expression's values: unlikely() reads the key's
   * index, likely() walks the table (else SQLite takes any range on an
   * indexed expression for a narrow one and reads the index, whatever
   * the number of matches). */
  rc = mida__buf_adds(sql, p->few ? "unlikely(" : p->many ? "likely(" : "");
  if (rc == MIDA_OK)
    rc = mida__key_expr(sql, &p->key,
                        p->numeric ? MIDA_KEY_NUM : MIDA_KEY_TEXT, alias);
  /* "+ 0": an expression without affinity. SQLite compares an indexed
   * expression (which has none) with a CAST (which has REAL affinity)
   * without the index; and the CAST is needed, or a bound text would
   * compare as text. */
  if (rc == MIDA_OK && p->numeric)
    rc = mida__buf_printf(sql, " %s CAST(?%d AS DOUBLE PRECISION) + 0", op,
                          *np);
  else if (rc == MIDA_OK)
    rc = mida__buf_printf(sql, " %s ?%d", op, *np);
  if (rc == MIDA_OK && (p->few || p->many))
    rc = mida__buf_adds(sql, ")");
  return rc;
}

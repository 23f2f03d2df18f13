/*
 * predicate.h -- the API's filters on a task's JSON documents
 * (where=used.lr>0.01), parsed from outside input into bound SQL.
 */
#ifndef MIDA_SERVE_PREDICATE_H
#define MIDA_SERVE_PREDICATE_H

#include "core/buf.h"

#include <stddef.h>

#define MIDA_PREDICATE_MAX_PATH 128 /* bytes of "a.b.c" */

/* One predicate: DOC.PATH OP VALUE, or DOC.PATH alone (the key is there). */
typedef struct mida__predicate {
  const char *doc;                        /* "used", "generated", ... */
  char path[MIDA_PREDICATE_MAX_PATH + 1]; /* "lr" or "opt.lr" */
  const char *op;                         /* "=", "!=", "<", ... or NULL */
  const char *value;                      /* points into the parsed text */
  int numeric;                            /* value is a JSON number */
} mida__predicate;

/* Parses text: DOC is used, generated, custom or telemetry; PATH is one to
 * four keys of letters, digits, '_' and '-' separated by '.'; OP is one of
 * = != < <= > >=; VALUE is the rest (a number compares as a number, any
 * other text as text, only with = and !=). The predicate keeps pointers
 * into text. Returns MIDA_OK or MIDA_EINVAL with a reason in why. */
int mida__predicate_parse(const char *text, mida__predicate *p, char *why,
                          size_t whylen);

/* Appends the predicate's SQL on the task alias (its parameters become
 * params[*np], ...; *np grows) to sql. It uses the store functions
 * mida_num() and mida_text(), which both stores define. */
int mida__predicate_sql(const mida__predicate *p, const char *alias,
                        mida__buf *sql, const char **params, int *np);

#endif /* MIDA_SERVE_PREDICATE_H */

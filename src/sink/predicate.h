/*
 * predicate.h -- filters on a task's JSON documents (the API's
 * where=used.lr>0.01, `mida tasks --where`), parsed from outside input
 * into bound SQL that both stores run.
 */
#ifndef MIDA_SINK_PREDICATE_H
#define MIDA_SINK_PREDICATE_H

#include "core/buf.h"
#include "sink/key.h"

#include <stddef.h>

/* One predicate: DOC.PATH OP VALUE, or DOC.PATH alone (the key is there). */
typedef struct mida__predicate {
  mida__key key;      /* DOC.PATH */
  const char *op;     /* "=", "!=", "<", ... or NULL */
  const char *value;  /* points into the parsed text */
  int numeric;        /* value is a JSON number */
  int few;            /* an index on the key holds few matching tasks
                         (mida__predicate_probe, key_index.h) */
  int many;           /* it holds many: walking the tasks in the page's
                         order finds a page of matches sooner than the
                         index finds them all */
} mida__predicate;

/* Parses text: DOC is used, generated, custom or telemetry; PATH is one to
 * four keys of letters, digits, '_' and '-' separated by '.'; OP is one of
 * = != < <= > >=, with or without spaces around it; VALUE is the rest
 * (a number compares as a number, any other text as text, only with =
 * and !=). The predicate keeps pointers
 * into text. Returns MIDA_OK or MIDA_EINVAL with a reason in why. */
int mida__predicate_parse(const char *text, mida__predicate *p, char *why,
                          size_t whylen);

/* Appends the predicate's SQL on the task alias (its value becomes
 * params[*np]; *np grows) to sql. It uses the store functions mida_num()
 * and mida_text(), which both stores define, written as key.h
 * writes them, so that a key's index serves it. */
int mida__predicate_sql(const mida__predicate *p, const char *alias,
                        mida__buf *sql, const char **params, int *np);

#endif /* MIDA_SINK_PREDICATE_H */

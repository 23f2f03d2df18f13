/*
 * key.h -- keys of a task's JSON documents (used.lr, generated.loss): the
 * one SQL expression by which both stores index a key and every reader
 * queries it (the indexes themselves: key_index.h).
 *
 * A steering question across all workflows ("the ten tasks with the best
 * generated.val_loss", "the tasks whose used.lr is in [0.01, 0.02]") reads
 * the whole task table unless an index holds the key's values. Both stores
 * index an expression, and a planner uses an expression index only for a
 * query that writes the very same expression, so the expression is built
 * here and nowhere else: mida_num(used, 'lr') for numbers, mida_text(used,
 * 'lr') for text (the functions of sqlite_functions.c and of postgres.c's mida
 * schema). The key path is written into the SQL as a literal, not bound:
 * SQLite matches an indexed expression only against a literal. That is safe
 * because a path holds only letters, digits, '_', '-' and '.' (checked by
 * mida__key_parse). The index holds (expression, id), so a sort by the key
 * with the id as tie-break reads the index in order.
 */
#ifndef MIDA_SINK_KEY_H
#define MIDA_SINK_KEY_H

#include "core/buf.h"

#include <stddef.h>

#define MIDA_KEY_MAX_PATH 128 /* bytes of "a.b.c" */
#define MIDA_KEY_MAX_DEPTH 4  /* keys in a path */
#define MIDA_KEY_INDEX_NAME 64 /* bytes of an index name, with the NUL */

/* What an index or a comparison reads from the key. */
typedef enum mida__key_kind {
  MIDA_KEY_NUM = 0, /* the value when it is a number: mida_num() */
  MIDA_KEY_TEXT = 1 /* a scalar's text: mida_text() */
} mida__key_kind;

/* One key: DOC.PATH. */
typedef struct mida__key {
  const char *doc;                    /* "used", "generated", "custom" or
                                         "telemetry" (static text) */
  char path[MIDA_KEY_MAX_PATH + 1];   /* "lr" or "opt.lr" */
} mida__key;

/* Parses DOC.PATH at the start of text: DOC is used, generated, custom or
 * telemetry; PATH is 1 to 4 keys of letters, digits, '_' and '-' separated
 * by '.'. *end (if not NULL) receives where the key ends in text. Returns
 * MIDA_OK or MIDA_EINVAL with a reason in why. */
int mida__key_parse(const char *text, mida__key *k, const char **end,
                    char *why, size_t whylen);

/* Parses a whole text that is only a key (no operator after it). */
int mida__key_parse_all(const char *text, mida__key *k, char *why,
                        size_t whylen);

/* Appends the key's expression on the task table, alias.doc (alias NULL or
 * "": the bare column): "mida_num(t.used, 'lr')". Returns MIDA_OK or the
 * buffer's error. */
int mida__key_expr(mida__buf *sql, const mida__key *k, mida__key_kind kind,
                   const char *alias);

/* Writes the name of the key's index into out (MIDA_KEY_INDEX_NAME bytes):
 * mida_key_<num|text>_<doc>_<path, '.' and '-' as '_', cut>_<8 hex of a
 * CRC of the key>; short enough for PostgreSQL's 63-byte names. */
void mida__key_index_name(const mida__key *k, mida__key_kind kind, char *out);

#endif /* MIDA_SINK_KEY_H */

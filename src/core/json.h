/*
 * json.h -- JSON checking and escaping without a JSON library.
 *
 * The capture path must reject malformed JSON before it reaches the journal
 * (a bad value would otherwise poison a whole batch at the store), and must do
 * so in well under a microsecond for ~100 bytes: mida__json_check() is a
 * single pass with an explicit, bounded nesting stack and no allocation.
 * The escaping helpers and mida__json_add_cell() are the one JSON writer of
 * query results: the CLI's --json output, the PROV export and the HTTP API
 * of `mida serve` all write cells through them.
 */
#ifndef MIDA_CORE_JSON_H
#define MIDA_CORE_JSON_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>

#define MIDA_JSON_MAX_DEPTH 64

/* Checks that text[0..len) is one JSON value (RFC 8259: strings with valid
 * escapes and UTF-8, numbers, true/false/null, arrays, objects, nesting at
 * most MIDA_JSON_MAX_DEPTH) with only whitespace around it. With
 * object_only, the value must be an object. Returns MIDA_OK or MIDA_EJSON;
 * where (if not NULL) receives the byte offset of the first error. */
int mida__json_check(const char *text, size_t len, bool object_only,
                     size_t *where);

/* Appends s[0..len) to b as a JSON string, quotes included, escaping ", \
 * and control characters, and replacing invalid UTF-8 with U+FFFD. */
int mida__json_add_string(mida__buf *b, const char *s, size_t len);

/* Finds the value at path in the JSON object text[0..len): path is keys
 * separated by dots ("a.b" is text["a"]["b"]), compared with the keys as
 * written (no escapes). Sets *value and *vlen to the value's text (a
 * string keeps its quotes). Returns MIDA_OK, MIDA_ENOTFOUND (no such key,
 * or not an object on the way) or MIDA_EJSON. */
int mida__json_get(const char *text, size_t len, const char *path,
                   const char **value, size_t *vlen);

/* Whether text is exactly a JSON number (as the stores print numbers). */
bool mida__json_is_number(const char *text);

/* Appends one cell of a query result as a JSON value: a number as it is,
 * NULL (SQL NULL) as null, any other text as an escaped string. */
int mida__json_add_cell(mida__buf *b, const char *text);

/* The same for the len bytes at text, which may hold NUL bytes (written
 * as \u0000): text with one is never a number. */
int mida__json_add_cell_n(mida__buf *b, const char *text, size_t len);

/* Appends v to b as a JSON number in its shortest round-trip form
 * (mida__dtoa); NaN and the infinities, which JSON has no number for, as
 * the strings "NaN", "Infinity" and "-Infinity" (Python's json module reads
 * them back with its defaults). Returns MIDA_OK or the buffer's error. */
int mida__json_add_double(mida__buf *b, double v);

/* Shallow merge of two JSON objects: the keys of a that b does not have, in
 * a's order, then every key of b, in b's order (b wins). Either may be NULL
 * or empty, meaning {}. Both must be valid JSON objects (checked).
 * Idempotent: merging b again changes nothing. Used by the stores to merge a
 * task's outputs from several records. Appends to out; returns MIDA_OK,
 * MIDA_EJSON or MIDA_ENOMEM. */
int mida__json_merge(const char *a, size_t alen, const char *b, size_t blen,
                     mida__buf *out);

/* One top-level member of an object, as it is written in the text. */
typedef struct mida__json_member {
  const char *key;    /* the key's bytes, without its quotes, still escaped */
  size_t key_len;     /* bytes of key */
  const char *value;  /* the value's JSON text (a string keeps its quotes) */
  size_t value_len;   /* bytes of value */
} mida__json_member;

/* Calls fn for each top-level member of the JSON object text[0..len), in
 * the order written; fn returns MIDA_OK to go on, anything else stops the
 * walk and is returned. NULL or empty text is {} (no call). Returns MIDA_OK,
 * MIDA_EJSON if the text is not a JSON object, or fn's result. No
 * allocation. */
int mida__json_each_member(const char *text, size_t len,
                           int (*fn)(void *ctx, const mida__json_member *m),
                           void *ctx);

/* Appends the JSON string value v (quotes included, as in a
 * mida__json_member) to b decoded: escapes resolved, as UTF-8. A value
 * that is not a string is appended as it is. Returns MIDA_OK or the
 * buffer's error. */
int mida__json_add_unquoted(mida__buf *b, const char *v, size_t len);

#endif /* MIDA_CORE_JSON_H */

/*
 * pg_json.h -- JSON text made fit for PostgreSQL's jsonb, and text for
 * its text columns.
 *
 * A JSON value that mida__json_check() accepts (RFC 8259) may still be
 * refused by jsonb, and a refused value fails the whole batch it is in:
 * the shipper sends the same batch again and again, and every record
 * behind it stays in the journal. Three kinds of value do this, and all
 * of them reach the store: a NUL character ("\u0000", which a Python
 * string holding "\x00" is written as), an escaped surrogate that is not
 * half of a pair ("\ud800"), which the C API accepts, and a number that
 * PostgreSQL's numeric cannot hold (1e1000000) or that mida's numeric
 * helpers (mida_num, the key indexes) cannot read as a double (1e400).
 *
 * postgres.c writes every JSON column through mida__pg_json_fit, which
 * copies the text with those replaced as mida writes what it cannot keep
 * elsewhere: the escape of U+FFFD for the characters (as for invalid
 * UTF-8, json.h); for a number of magnitude 1e308 or more the strings
 * "Infinity" or "-Infinity" (as mida__json_add_double writes infinities),
 * 0 for one below 1e-307, and its first 17 digits with an exponent for
 * one of more than 10,000 digits. The SQLite store keeps the text as it
 * is.
 */
#ifndef MIDA_SINK_PG_JSON_H
#define MIDA_SINK_PG_JSON_H

#include "core/buf.h"

#include <stddef.h>

/* Appends the JSON value text[0..len), already checked by
 * mida__json_check(), to out with what jsonb refuses replaced (above).
 * Text that needs nothing replaced is copied as it is, in one append.
 * Returns MIDA_OK or the buffer's error. */
int mida__pg_json_fit(const char *text, size_t len, mida__buf *out);

/* Appends the text text[0..len) (a task's activity, an error, a metric's
 * key: text columns) to out with each byte that does not start valid
 * UTF-8 replaced by U+FFFD: PostgreSQL refuses the whole batch ("invalid
 * byte sequence for encoding UTF8") where SQLite keeps the bytes, and the
 * C API takes them as they are. Returns MIDA_OK or the buffer's error. */
int mida__pg_text_fit(const char *text, size_t len, mida__buf *out);

#endif /* MIDA_SINK_PG_JSON_H */

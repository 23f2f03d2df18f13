/*
 * csv.h -- RFC 4180 fields: the one CSV writer of query results (the CLI's
 * --csv output and the CSV download of `mida serve`'s SQL console).
 */
#ifndef MIDA_CORE_CSV_H
#define MIDA_CORE_CSV_H

#include "core/buf.h"

/* Appends one field: as it is, or quoted with quotes doubled when it holds
 * a comma, a quote, CR or LF, or is empty ("" for an empty string); SQL
 * NULL (v == NULL) is an empty field. Returns MIDA_OK or the buffer's
 * error. */
int mida__csv_add_field(mida__buf *b, const char *v);

/* The same for the len bytes at v, which may hold NUL bytes: a field with
 * one is quoted, its bytes kept as they are. */
int mida__csv_add_field_n(mida__buf *b, const char *v, size_t len);

#endif /* MIDA_CORE_CSV_H */

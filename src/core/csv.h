/*
 * csv.h -- RFC 4180 fields: the one CSV writer of query results (the CLI's
 * --csv output and the CSV download of `mida serve`'s SQL console), which
 * keeps the cells of observed programs' values from running as formulas
 * in the spreadsheet that opens the file.
 */
#ifndef MIDA_CORE_CSV_H
#define MIDA_CORE_CSV_H

#include "core/buf.h"

/* Appends one field: as it is, or quoted with quotes doubled when it holds
 * a comma, a quote, CR or LF, or is empty ("" for an empty string); SQL
 * NULL (v == NULL) is an empty field. A field that a spreadsheet would run
 * as a formula (it starts with =, +, -, @, TAB or CR and is not a plain
 * number such as -1.5, +3, -2e-3 or -Inf) is written with a ' before it,
 * which spreadsheets read as "this is text": '=HYPERLINK(...). Returns
 * MIDA_OK or the buffer's error. */
int mida__csv_add_field(mida__buf *b, const char *v);

/* The same for the len bytes at v, which may hold NUL bytes: a field with
 * one is quoted, its bytes kept as they are. */
int mida__csv_add_field_n(mida__buf *b, const char *v, size_t len);

#endif /* MIDA_CORE_CSV_H */

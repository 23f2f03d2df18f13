/*
 * sample_sql.h -- the SQL text that reads a headline value (CPU %, memory
 * in KiB) out of a telemetry sample (the telemetry table's sample column,
 * aliased s), for `mida telemetry` and `mida show`, on both stores.
 *
 * A sample is read with mida_num() (sink/sqlite_functions.c; the
 * PostgreSQL store's function of the same name in postgres.c): a value
 * that is not a JSON number, or a sample that is not a JSON object or not
 * JSON at all, is NULL for that one row. json_extract() failed the whole
 * query instead: SQLite's on a sample that is not JSON ("malformed JSON"),
 * the PostgreSQL store's on a value that is not a number ("cpu_pct":
 * "high"), and SQLite's gave a string's round() as 0.0.
 *
 * KEY is a string literal naming a member of the sample ("cpu_pct"); EXPR
 * a string literal of SQL. Each macro gives a string literal.
 */
#ifndef MIDA_CLI_SAMPLE_SQL_H
#define MIDA_CLI_SAMPLE_SQL_H

/* The number at KEY of the sample, else NULL (a double). */
#define MIDA_SAMPLE_NUM(KEY) "mida_num(s.sample, '" KEY "')"

/* EXPR, a percentage, to one decimal: through NUMERIC, since PostgreSQL
 * has no round() of a double to a scale (and its NUMERIC prints 12.5 as
 * SQLite prints the double). */
#define MIDA_SAMPLE_PCT(EXPR) "round(CAST(" EXPR " AS NUMERIC), 1)"

/* EXPR, a count of KiB, as an integer: 2048, not the double's 2048.0. */
#define MIDA_SAMPLE_KB(EXPR) "CAST(" EXPR " AS BIGINT)"

#endif

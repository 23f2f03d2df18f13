/*
 * sqlite_functions.h -- mida's SQL functions on an SQLite store's
 * connection (internal to the SQLite store's files; sqlite_functions.c
 * says what each one computes).
 */
#ifndef MIDA_SINK_SQLITE_FUNCTIONS_H
#define MIDA_SINK_SQLITE_FUNCTIONS_H

#include <sqlite3.h>

/* Registers mida_merge, mida_status_merge, mida_point, mida_num,
 * mida_text, json_typeof and jsonb_typeof on db, which the store's
 * statements, views and readers' queries call. Returns SQLite's result
 * code. */
int mida__sqlite_register_functions(sqlite3 *db);

#endif

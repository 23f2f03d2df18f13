/*
 * sqlite_schema.h -- making and migrating an SQLite store's schema
 * (internal to the SQLite store's files; sqlite_schema.c says how).
 */
#ifndef MIDA_SINK_SQLITE_SCHEMA_H
#define MIDA_SINK_SQLITE_SCHEMA_H

#include "sink/sink.h"

#include <sqlite3.h>
#include <stdint.h>

/* The schema version recorded in the store of db: 0 when it has none yet,
 * -1 on error. */
int mida__sqlite_schema_version(sqlite3 *db);

/* Creates the tables of the store at path, open as db (all or none),
 * brings an older store up to this version, records the schema version,
 * and refuses a store made by a newer mida; retries while another writer
 * holds the lock until deadline_ms (sqlite_busy.h). Returns MIDA_OK, or
 * MIDA_ESTORE with the message set on base. Not for a read-only
 * connection. */
int mida__sqlite_schema_create(mida__sink *base, sqlite3 *db, const char *path,
                               int64_t deadline_ms);

#endif

/*
 * sqlite_schema.c -- the SQLite store's schema: made in a new file,
 * brought up to this mida's version in an older one (sqlite_schema.h).
 *
 * Every writer's open passes here (sqlite.c, setup) before its first
 * batch, so that the tables, indexes and views that its statements use
 * are there. A store that this mida stamped (the schema version in
 * mida_meta, and the CRC-32C of the schema text in PRAGMA user_version)
 * is read in one statement and left alone; any other takes one write
 * transaction, retried while another writer holds the lock
 * (sqlite_busy.h): all or none of the tables are made, an older store is
 * migrated step by step (schema.h has the SQL of each step and documents
 * the versions), the version is recorded and the file stamped. A store
 * that a newer mida made is refused, by writers and readers alike.
 */
#include "sink/sqlite_schema.h"

#include "core/buf.h"
#include "core/crc32c.h"
#include "sink/key_side.h"
#include "sink/rollup.h"
#include "sink/schema.h"
#include "sink/sqlite_busy.h"

#include <stdint.h>
#include <stdio.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define MIDA_SCHEMA_VERSION_TEXT STRINGIFY(MIDA_SCHEMA_VERSION)

/* The schema version recorded in the store: 0 when it has none yet, -1 on
 * error. */
int mida__sqlite_schema_version(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT 1 FROM sqlite_schema WHERE type = "
                              "'table' AND name = 'mida_meta'",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return -1;
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return -1;
  rc = sqlite3_prepare_v2(db,
                          "SELECT value FROM mida_meta"
                          " WHERE key = 'schema_version'",
                          -1, &st, NULL);
  if (rc != SQLITE_OK)
    return -1;
  int version = -1;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  else if (rc == SQLITE_DONE)
    version = 0;
  sqlite3_finalize(st);
  return version;
}

/* What a version-1 store needs to become a version-2 one (schema.h). */
#define MIGRATE_FROM_1                                                         \
  "ALTER TABLE task_data ADD COLUMN bytes INTEGER;"                            \
  "UPDATE mida_meta SET value = '2' WHERE key = 'schema_version';"

/* Adds column name of type to table unless it has it (migrations). */
static int add_column(sqlite3 *db, const char *table, const char *name,
                      const char *type) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT count(*) FROM pragma_table_info(?1)"
                              " WHERE name = ?2",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  int have = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW)
    return SQLITE_ERROR;
  if (have)
    return SQLITE_OK;
  char sql[200];
  snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, name,
           type);
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* From version 6 to 7: the blocks of the stored metric points
 * (rollup.h), then the version. */
static int migrate_to_7(sqlite3 *db) {
  mida__buf sql;
  mida__buf_init(&sql, 1 << 20);
  int rc = mida__rollup_build_sql(&sql) == MIDA_OK
               ? sqlite3_exec(db, mida__buf_str(&sql), NULL, NULL, NULL)
               : SQLITE_NOMEM;
  mida__buf_free(&sql);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, MIDA_SCHEMA_SQLITE_6_TO_7, NULL, NULL, NULL);
  return rc;
}

/* From version 7 (or older) to 8: the triggers and rows of the side table
 * of each numeric key that mida_index records (key_side.h), then the
 * version. */
static int migrate_to_8(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT key FROM mida_index WHERE kind = 'num'"
                              " ORDER BY name",
                              -1, &st, NULL);
  mida__buf sql;
  mida__buf_init(&sql, 1 << 20);
  while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(st, 0);
    if (key != NULL && mida__key_side_migrate_sql(&sql, key, 0, 1) != MIDA_OK)
      rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_finalize(st);
  else
    sqlite3_finalize(st);
  if (rc == SQLITE_OK && sql.len > 0)
    rc = sqlite3_exec(db, mida__buf_str(&sql), NULL, NULL, NULL);
  mida__buf_free(&sql);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, MIDA_SCHEMA_SQLITE_7_TO_8, NULL, NULL, NULL);
  return rc;
}

/* What mida__sqlite_schema_create runs at every writer's open whatever the
 * stored version: tables, indexes and views, all "IF NOT EXISTS". A statement
 * added there unconditionally must be added here too. */
static const char schema_text[] =
    MIDA_SCHEMA_SQLITE MIDA_SCHEMA_SQLITE_CHANGES MIDA_SCHEMA_SQLITE_VIEWS
    "schema_version " MIDA_SCHEMA_VERSION_TEXT;

/* The stamp that mida__sqlite_schema_create leaves in the file's PRAGMA
 * user_version once schema_text has run on it, in the same transaction: its
 * CRC-32C, positive and never 0 (a file no mida has stamped). */
static int schema_stamp(void) {
  uint32_t crc = mida__crc32c(0, schema_text, sizeof schema_text - 1);
  return (int)((crc & 0x7fffffffu) | 1u);
}

/* Whether the store is at this mida's version and was stamped by this
 * schema_text, read in one statement (one snapshot): then
 * mida__sqlite_schema_create has nothing to do. Running the text again parsed
 * ~50 statements, about 2 M instructions, at every writer's open (twice per
 * `mida run`); a store an older or newer mida stamped, or none, takes the full
 * path. */
static int schema_is_current(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT value FROM mida_meta WHERE key ="
                         " 'schema_version'), user_version"
                         " FROM pragma_user_version",
                         -1, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return 0; /* no mida_meta yet: a new store */
  }
  int current = sqlite3_step(st) == SQLITE_ROW &&
                sqlite3_column_int(st, 0) == MIDA_SCHEMA_VERSION &&
                sqlite3_column_int(st, 1) == schema_stamp();
  sqlite3_finalize(st);
  return current;
}

/* Stamps the file (schema_is_current), inside mida__sqlite_schema_create's
 * transaction. */
static int set_schema_stamp(sqlite3 *db) {
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d", schema_stamp());
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Creates the tables (all or none), brings an older store up to this
 * version, records the schema version, and refuses a store made by a newer
 * mida. */
int mida__sqlite_schema_create(mida__sink *base, sqlite3 *db, const char *path,
                               int64_t deadline_ms) {
  if (schema_is_current(db))
    return MIDA_OK;
  int rc = mida__sqlite_exec_retry(db, "BEGIN IMMEDIATE", deadline_ms);
  if (rc != SQLITE_OK)
    return mida__sink_fail(base, MIDA_ESTORE, "cannot open store '%s': %s",
                           path, sqlite3_errmsg(db));
  int version = mida__sqlite_schema_version(db);
  if (version < 0) {
    rc = mida__sink_fail(base, MIDA_ESTORE, "cannot open store '%s': %s", path,
                         sqlite3_errmsg(db));
    goto fail;
  }
  if (version > MIDA_SCHEMA_VERSION) {
    rc = mida__sink_fail(base, MIDA_ESTORE,
                         "store '%s' has schema version %d, newer than this "
                         "mida's (%d): use a newer mida",
                         path, version, MIDA_SCHEMA_VERSION);
    goto fail;
  }
  if (sqlite3_exec(db, MIDA_SCHEMA_SQLITE, NULL, NULL, NULL) != SQLITE_OK ||
      (version == 1 &&
       sqlite3_exec(db, MIGRATE_FROM_1, NULL, NULL, NULL) != SQLITE_OK) ||
      (version >= 1 && version <= 2 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_2_TO_3, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 3 &&
       (add_column(db, "task", "seq", "INTEGER") != SQLITE_OK ||
        add_column(db, "workflow", "seq", "INTEGER") != SQLITE_OK ||
        sqlite3_exec(db, MIDA_SCHEMA_SQLITE_3_TO_4, NULL, NULL, NULL) !=
            SQLITE_OK)) ||
      (version >= 1 && version <= 4 &&
       (add_column(db, "task", "attempts", "INTEGER") != SQLITE_OK ||
        sqlite3_exec(db, MIDA_SCHEMA_SQLITE_4_TO_5, NULL, NULL, NULL) !=
            SQLITE_OK)) ||
      (version >= 1 && version <= 5 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_5_TO_6, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 6 && migrate_to_7(db) != SQLITE_OK) ||
      (version >= 1 && version <= 7 && migrate_to_8(db) != SQLITE_OK) ||
      (version >= 1 && version <= 8 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_8_TO_9, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 9 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_9_TO_10, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 10 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_10_TO_11, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 11 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_11_TO_12, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 12 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_12_TO_13, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 13 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_13_TO_14, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 14 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_14_TO_15, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 15 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_15_TO_16, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 16 &&
       sqlite3_exec(db, MIDA_SCHEMA_SQLITE_16_TO_17, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      sqlite3_exec(db, MIDA_SCHEMA_SQLITE_CHANGES, NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(db, MIDA_SCHEMA_SQLITE_VIEWS, NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(db,
                   "INSERT OR IGNORE INTO mida_meta(key, value)"
                   " VALUES('schema_version', '" MIDA_SCHEMA_VERSION_TEXT "')",
                   NULL, NULL, NULL) != SQLITE_OK ||
      set_schema_stamp(db) != SQLITE_OK) {
    rc = mida__sink_fail(base, MIDA_ESTORE,
                         "cannot create the schema of store '%s': %s", path,
                         sqlite3_errmsg(db));
    goto fail;
  }
  rc = mida__sqlite_exec_retry(db, "COMMIT", deadline_ms);
  if (rc != SQLITE_OK) {
    rc = mida__sink_fail(base, MIDA_ESTORE,
                         "cannot create the schema of store '%s': %s", path,
                         sqlite3_errmsg(db));
    goto fail;
  }
  return MIDA_OK;
fail:
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/*
 * testutil.h -- small helpers shared by the integration tests: temporary
 * directories, counting rows of a store with SQLite directly (an
 * independent reader, not mida's own query path), and test scale.
 */
#ifndef MIDA_TESTUTIL_H
#define MIDA_TESTUTIL_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh directory under /tmp; the path is written into buf. */
static inline void test_tmpdir(char *buf, size_t len, const char *tag) {
  snprintf(buf, len, "/tmp/mida-%s-XXXXXX", tag);
  if (mkdtemp(buf) == NULL) {
    perror("mkdtemp");
    abort();
  }
}

/* Runs one SQL query that returns one integer; -1 on error. */
static inline long long test_sql_int(const char *db_path, const char *sql) {
  sqlite3 *db = NULL;
  long long v = -1;
  if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 10000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    else
      fprintf(stderr, "test_sql_int: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return v;
}

/* 1 under sanitizers (MIDA_TEST_SCALE=sanitizer), where work is slower and
 * loads are cut by `divisor`; else the full load. */
static inline long test_scaled(long full, long divisor) {
  const char *s = getenv("MIDA_TEST_SCALE");
  return (s != NULL && strcmp(s, "sanitizer") == 0) ? full / divisor : full;
}

/* Removes a directory tree (test scratch only). */
static inline void test_rmtree(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
}

#endif /* MIDA_TESTUTIL_H */

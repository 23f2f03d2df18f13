/*
 * sqlite_file.c -- identity of the SQLite store's files and the bound on
 * its WAL (see sqlite_file.h).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/sqlite_file.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int mida__sqlite_file_init(sqlite3 *db, mida__sqlite_file *f) {
  memset(f, 0, sizeof *f);
  f->wal_max = MIDA_SQLITE_WAL_MAX_DEFAULT;
  char *env = mida__env_dup("MIDA_WAL_MAX");
  uint64_t bytes = 0;
  if (env != NULL && mida__parse_size(env, &bytes) == 0 && bytes > 0 &&
      bytes <= (uint64_t)INT64_MAX)
    f->wal_max = (int64_t)bytes;
  mida__free(env);
  char limit[64];
  snprintf(limit, sizeof limit, "PRAGMA journal_size_limit = %lld",
           (long long)f->wal_max);
  return sqlite3_exec(db, limit, NULL, NULL, NULL);
}

/* <path><suffix> into buf; 0, or -1 if it does not fit. */
static int side_path(char *buf, size_t len, const char *path,
                     const char *suffix) {
  int n = snprintf(buf, len, "%s%s", path, suffix);
  return n < 0 || (size_t)n >= len ? -1 : 0;
}

int mida__sqlite_file_moved(sqlite3 *db, const char *path,
                            mida__sqlite_file *f) {
  int moved = 0;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) !=
      SQLITE_OK)
    moved = 0; /* a VFS that cannot tell: nothing to go by */
  if (moved)
    return 1;
  char wal[1100], shm[1100];
  if (side_path(wal, sizeof wal, path, "-wal") != 0 ||
      side_path(shm, sizeof shm, path, "-shm") != 0)
    return 0;
  struct stat st;
  if (f->shm_ino == 0 && stat(shm, &st) == 0)
    f->shm_ino = (uint64_t)st.st_ino;
  if (stat(wal, &st) != 0) {
    /* A WAL that was there is gone: deleted under the connection. */
    f->wal_bytes = 0;
    return f->wal_ino != 0;
  }
  f->wal_bytes = (int64_t)st.st_size;
  if (f->wal_ino == 0) {
    f->wal_ino = (uint64_t)st.st_ino;
    return 0;
  }
  return (uint64_t)st.st_ino != f->wal_ino;
}

void mida__sqlite_file_forget(const char *path, const mida__sqlite_file *f) {
  const char *suffix[2] = {"-wal", "-shm"};
  const uint64_t ino[2] = {f->wal_ino, f->shm_ino};
  for (int i = 0; i < 2; i++) {
    char side[1100];
    struct stat st;
    if (ino[i] != 0 && side_path(side, sizeof side, path, suffix[i]) == 0 &&
        stat(side, &st) == 0 && (uint64_t)st.st_ino == ino[i])
      unlink(side);
  }
}

void mida__sqlite_wal_bound(sqlite3 *db, mida__sqlite_file *f) {
  if (f->wal_bytes < f->wal_max)
    return;
  int64_t now = mida__monotonic_ms();
  if (now < f->next_reset_ms)
    return;
  /* Readers are waited for only briefly, by the connection's busy wait
   * (MIDA_SQLITE_WAL_WAIT_MS): other writers queue behind us. */
  int log = 0, done = 0;
  int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE,
                                     &log, &done);
  if (rc == SQLITE_OK) {
    f->wal_resets++;
    f->wal_bytes = 0;
    f->next_reset_ms = 0;
  } else {
    f->next_reset_ms = now + MIDA_SQLITE_WAL_RETRY_MS;
  }
}

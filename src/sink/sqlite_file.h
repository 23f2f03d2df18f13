/*
 * sqlite_file.h -- the SQLite store's files as a writer sees them (internal
 * to src/sink/sqlite.c).
 *
 * Two guards of the embedded store that SQLite leaves to its user:
 *
 * Identity. A connection writes to the file it opened, whatever happens to
 * the path: after `rm m.db m.db-wal m.db-shm`, or `mv other.db m.db`, its
 * commits go into a file that no one will ever read again, and succeed.
 * mida__sqlite_file_check() tells, after every batch, whether the database
 * and its WAL at the path are still the ones this connection has open
 * (SQLite's own SQLITE_FCNTL_HAS_MOVED for the database, which compares the
 * path's inode with the open file's; the WAL's inode as first seen). The
 * store then fails the batch, so that the shipper keeps the frames, and
 * reopens the path before the next one, after removing the WAL and
 * shared-memory files that belonged to the old database
 * (mida__sqlite_file_forget).
 *
 * WAL bound. A checkpoint copies the WAL back into the database, but only
 * up to the oldest snapshot a reader still uses, and the WAL starts over
 * from its beginning only once every reader has left it. With steering
 * queries running back to back there is always a reader, and the WAL grows
 * without end. mida__sqlite_wal_bound() therefore forces a TRUNCATE
 * checkpoint when the WAL passes MIDA_WAL_MAX (64 MiB): it waits a
 * moment (MIDA_SQLITE_WAL_WAIT_MS) for readers to finish their statement --
 * new ones start on the newest snapshot, so they do not hold it up -- then
 * resets the WAL to zero bytes. journal_size_limit bounds what the ordinary
 * automatic checkpoints leave behind.
 */
#ifndef MIDA_SINK_SQLITE_FILE_H
#define MIDA_SINK_SQLITE_FILE_H

#include <sqlite3.h>
#include <stdint.h>

/* The WAL size past which a writer forces it back to zero bytes, unless
 * MIDA_WAL_MAX says otherwise (a size such as 64M); also the size to which
 * ordinary checkpoints trim it (journal_size_limit). */
#define MIDA_SQLITE_WAL_MAX_DEFAULT (INT64_C(64) << 20)
/* How long such a reset waits for readers (the connection's busy wait,
 * MIDA_SQLITE_BUSY_TIMEOUT_MS of sqlite_busy.h), and how long after one
 * that failed it tries again. */
#define MIDA_SQLITE_WAL_WAIT_MS 2000
#define MIDA_SQLITE_WAL_RETRY_MS 1000

typedef struct mida__sqlite_file {
  uint64_t wal_ino;      /* inode of <path>-wal when first seen, or 0 */
  uint64_t shm_ino;      /* inode of <path>-shm when first seen, or 0 */
  int64_t wal_bytes;     /* its size at the last check */
  int64_t wal_max;       /* the bound on its size, bytes */
  int64_t next_reset_ms; /* CLOCK_MONOTONIC ms before which no forced
                            reset is tried again */
  uint64_t wal_resets;   /* forced resets that emptied the WAL */
} mida__sqlite_file;

/* Starts watching a connection's files: f zeroed, the bound on the WAL
 * from MIDA_WAL_MAX (or the default), applied as journal_size_limit too.
 * Returns SQLite's result of setting that. */
int mida__sqlite_file_init(sqlite3 *db, mida__sqlite_file *f);

/* Whether the database (and WAL) at path are no longer the files that db
 * has open: 1 if moved, deleted or replaced, else 0. Also notes the WAL's
 * inode and size in f. A stat or two. */
int mida__sqlite_file_moved(sqlite3 *db, const char *path,
                            mida__sqlite_file *f);

/* Before the path is opened again: removes <path>-wal and <path>-shm if
 * they are still the ones of the file that moved away (same inodes as in
 * f). A database moved over the path without its WAL would otherwise be
 * read through the old database's WAL, which SQLite would apply to it. */
void mida__sqlite_file_forget(const char *path, const mida__sqlite_file *f);

/* After a commit: resets the WAL if it has grown past the bound (see
 * above). Never fails the batch: a reset that cannot be had now is tried
 * again later. */
void mida__sqlite_wal_bound(sqlite3 *db, mida__sqlite_file *f);

#endif /* MIDA_SINK_SQLITE_FILE_H */

/*
 * sqlite_wal_writes.c -- the shim VFS that gathers a connection's WAL
 * writes into fewer pwrite(2)s (sqlite_wal_writes.h).
 *
 * xOpen wraps two kinds of file: a main database (whose shared-memory
 * calls write out its WAL's gathered bytes first) and a WAL (which
 * gathers). It finds a WAL's database with sqlite3_database_file_object(),
 * which SQLite answers for the names it gives xOpen. Every other file is
 * the default VFS's own, opened into the memory SQLite gives xOpen. One
 * connection uses a file at a time, so nothing here takes a lock.
 */
#include "sink/sqlite_wal_writes.h"

#include "sink/sqlite_shim.h"

#include "core/alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define WAL_VFS_NAME "mida-wal"
#define FRAME_HEADER_BYTES 24 /* a WAL frame's header (SQLite's wal.c) */

struct wal_file;

typedef struct db_file {
  mida__shim_file shim; /* base and the real file */
  struct wal_file *wal; /* its WAL while both are open, or NULL */
} db_file;

typedef struct wal_file {
  mida__shim_file shim; /* base and the real file */
  db_file *db;          /* the database it belongs to, or NULL */
  char *buf;            /* gathered bytes (MIDA_WAL_GATHER_BYTES), or NULL */
  sqlite3_int64 start;  /* the file offset of buf[0] */
  int len;              /* bytes gathered at buf */
  int commit_page;      /* the last write was a commit frame's header */
  int failed;           /* a write that no call could report failed */
} wal_file;

static sqlite3_vfs wal_vfs;
static pthread_once_t wal_once = PTHREAD_ONCE_INIT;
static int wal_registered;

static sqlite3_vfs *root_vfs(void) { return wal_vfs.pAppData; }

/* ---- the WAL ----------------------------------------------------------- */

/* Writes out what w gathered. What failed is dropped all the same: kept,
 * it could be written later over frames another writer put there. */
static int write_out(wal_file *w) {
  if (w->len == 0)
    return SQLITE_OK;
  sqlite3_file *r = MIDA_SHIM_REAL(w);
  int rc = r->pMethods->xWrite(r, w->buf, w->len, w->start);
  w->len = 0;
  return rc;
}

/* write_out() before a call that can say it failed. */
static int written_out(wal_file *w) {
  if (w->failed)
    return SQLITE_IOERR_WRITE;
  return write_out(w);
}

/* write_out() before a call that has no error to return: a failure fails
 * every later call of the file. */
static void write_out_quietly(wal_file *w) {
  if (w != NULL && write_out(w) != SQLITE_OK)
    w->failed = 1;
}

static uint32_t big_endian32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

/* Whether a write of amt bytes begins with a frame's header: the header
 * alone, or (were SQLite to write them together) the header and a page,
 * whose size is a power of two from 512. */
static int begins_with_header(int amt) {
  if (amt == FRAME_HEADER_BYTES)
    return 1;
  int page = amt - FRAME_HEADER_BYTES;
  return page >= 512 && (page & (page - 1)) == 0;
}

static int wal_write(sqlite3_file *f, const void *data, int amt,
                     sqlite3_int64 off) {
  wal_file *w = (wal_file *)f;
  if (w->failed)
    return SQLITE_IOERR_WRITE;
  /* The header's second word is the database's size after a commit, and
   * zero in any other frame; the commit frame's page ends the commit. */
  int header = begins_with_header(amt);
  int commits = header && big_endian32((const unsigned char *)data + 4) != 0;
  int ends_commit = commits ? amt > FRAME_HEADER_BYTES : w->commit_page;
  w->commit_page = commits && amt == FRAME_HEADER_BYTES;
  int rc = SQLITE_OK;
  if (w->len > 0 &&
      (off != w->start + w->len || w->len + amt > MIDA_WAL_GATHER_BYTES))
    rc = write_out(w);
  if (rc != SQLITE_OK)
    return rc;
  if (w->buf == NULL && amt < MIDA_WAL_GATHER_BYTES)
    w->buf = mida__malloc(MIDA_WAL_GATHER_BYTES);
  if (w->buf == NULL || amt >= MIDA_WAL_GATHER_BYTES) {
    sqlite3_file *r = MIDA_SHIM_REAL(f);
    return r->pMethods->xWrite(r, data, amt, off);
  }
  if (w->len == 0)
    w->start = off;
  memcpy(w->buf + w->len, data, (size_t)amt);
  w->len += amt;
  return ends_commit ? write_out(w) : SQLITE_OK;
}

static int wal_close(sqlite3_file *f) {
  wal_file *w = (wal_file *)f;
  int rc = written_out(w);
  if (w->db != NULL)
    w->db->wal = NULL;
  mida__free(w->buf);
  w->buf = NULL;
  int crc = mida__shim_close(f);
  return rc != SQLITE_OK ? rc : crc;
}

static int wal_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
  int rc = written_out((wal_file *)f);
  return rc != SQLITE_OK ? rc : mida__shim_read(f, buf, amt, off);
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size) {
  int rc = written_out((wal_file *)f);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xTruncate(r, size);
}

static int wal_sync(sqlite3_file *f, int flags) {
  int rc = written_out((wal_file *)f);
  return rc != SQLITE_OK ? rc : mida__shim_sync(f, flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size) {
  int rc = written_out((wal_file *)f);
  return rc != SQLITE_OK ? rc : mida__shim_file_size(f, size);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg) {
  int rc = written_out((wal_file *)f);
  return rc != SQLITE_OK ? rc : mida__shim_file_control(f, op, arg);
}

static const sqlite3_io_methods wal_io = {
    3,
    wal_close,
    wal_read,
    wal_write,
    wal_truncate,
    wal_sync,
    wal_file_size,
    mida__shim_lock,
    mida__shim_unlock,
    mida__shim_check_reserved,
    wal_file_control,
    mida__shim_sector_size,
    mida__shim_device_characteristics,
    mida__shim_shm_map,
    mida__shim_shm_lock,
    mida__shim_shm_barrier,
    mida__shim_shm_unmap,
    mida__shim_fetch,
    mida__shim_unfetch,
};

/* ---- the database: its shared memory comes after its WAL's writes ------ */

static int db_close(sqlite3_file *f) {
  db_file *d = (db_file *)f;
  if (d->wal != NULL)
    d->wal->db = NULL;
  d->wal = NULL;
  return mida__shim_close(f);
}

/* The WAL's gathered bytes written out, before a call on the shared
 * memory; SQLITE_IOERR_WRITE if that failed. */
static int wal_written_out(sqlite3_file *f) {
  db_file *d = (db_file *)f;
  if (d->wal == NULL)
    return SQLITE_OK;
  int rc = written_out(d->wal);
  if (rc != SQLITE_OK)
    d->wal->failed = 1;
  return rc;
}

static int db_shm_map(sqlite3_file *f, int page, int size, int extend,
                      void volatile **out) {
  int rc = wal_written_out(f);
  return rc != SQLITE_OK ? rc : mida__shim_shm_map(f, page, size, extend, out);
}

static int db_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
  /* An unlock goes on whatever the write did: a lock held for ever
   * would stop every other connection. */
  int rc = wal_written_out(f);
  if (rc != SQLITE_OK && (flags & SQLITE_SHM_UNLOCK) == 0)
    return rc;
  int lrc = mida__shim_shm_lock(f, offset, n, flags);
  return rc != SQLITE_OK ? rc : lrc;
}

static void db_shm_barrier(sqlite3_file *f) {
  write_out_quietly(((db_file *)f)->wal);
  mida__shim_shm_barrier(f);
}

static int db_shm_unmap(sqlite3_file *f, int delete_flag) {
  write_out_quietly(((db_file *)f)->wal);
  return mida__shim_shm_unmap(f, delete_flag);
}

static const sqlite3_io_methods db_io = {
    3,
    db_close,
    mida__shim_read,
    mida__shim_write,
    mida__shim_truncate,
    mida__shim_sync,
    mida__shim_file_size,
    mida__shim_lock,
    mida__shim_unlock,
    mida__shim_check_reserved,
    mida__shim_file_control,
    mida__shim_sector_size,
    mida__shim_device_characteristics,
    db_shm_map,
    db_shm_lock,
    db_shm_barrier,
    db_shm_unmap,
    mida__shim_fetch,
    mida__shim_unfetch,
};

/* ---- the VFS ----------------------------------------------------------- */

static int wal_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                    int flags, int *out_flags) {
  (void)vfs;
  sqlite3_vfs *root = root_vfs();
  if (flags & SQLITE_OPEN_MAIN_DB) {
    db_file *d = (db_file *)f;
    int rc = mida__sqlite_shim_open_real(root, name, &d->shim, sizeof *d,
                                         flags, out_flags);
    if (rc == SQLITE_OK)
      d->shim.base.pMethods = &db_io;
    return rc;
  }
  if ((flags & SQLITE_OPEN_WAL) == 0 || name == NULL)
    return root->xOpen(root, name, f, flags, out_flags);
  wal_file *w = (wal_file *)f;
  int rc = mida__sqlite_shim_open_real(root, name, &w->shim, sizeof *w, flags,
                                       out_flags);
  if (rc != SQLITE_OK)
    return rc;
  w->shim.base.pMethods = &wal_io;
  sqlite3_file *db = sqlite3_database_file_object(name);
  if (db != NULL && db->pMethods == &db_io) {
    w->db = (db_file *)db;
    w->db->wal = w;
  }
  return SQLITE_OK;
}

static void register_wal_vfs(void) {
  sqlite3_vfs *root = sqlite3_vfs_find(NULL);
  if (root == NULL)
    return;
  size_t wrapper = sizeof(wal_file) > sizeof(db_file) ? sizeof(wal_file)
                                                      : sizeof(db_file);
  mida__sqlite_shim_init(&wal_vfs, root, WAL_VFS_NAME, (int)wrapper, wal_open);
  wal_registered = sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK;
}

sqlite3_vfs *mida__sqlite_wal_writes_vfs(void) {
  pthread_once(&wal_once, register_wal_vfs);
  return wal_registered ? &wal_vfs : NULL;
}

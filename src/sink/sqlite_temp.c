/*
 * sqlite_temp.c -- the shim VFS that bounds a query's temporary files
 * (sqlite_temp.h).
 *
 * Every method forwards to the VFS behind it (pAppData: the WAL's shim,
 * sqlite_wal_writes.h, or the default). xOpen wraps a file only when it
 * is temporary and a query is running on this thread; the wrapper keeps
 * the file's size as written and charges growth to the budget, and the
 * real file lies right after the wrapper in the memory SQLite gives xOpen
 * (sqlite_shim.h). Files it does not wrap are the VFS behind's own,
 * opened into that same memory.
 */
#include "sink/sqlite_temp.h"

#include "sink/sqlite_shim.h"
#include "sink/sqlite_wal_writes.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

#define TEMP_VFS_NAME "mida-temp"

/* The flags of the files that hold a statement's temporary data. */
#define TEMP_FLAGS                                                             \
  (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TRANSIENT_DB | \
   SQLITE_OPEN_SUBJOURNAL)

static _Thread_local mida__sqlite_temp_budget *current; /* the query's */

typedef struct temp_file {
  mida__shim_file shim;             /* base and the real file */
  mida__sqlite_temp_budget *budget; /* charged with its growth */
  sqlite3_int64 size;               /* bytes written, as counted */
} temp_file;

static sqlite3_vfs temp_vfs;
static pthread_once_t temp_once = PTHREAD_ONCE_INIT;
static int temp_registered;

static sqlite3_vfs *root_vfs(void) { return temp_vfs.pAppData; }

/* ---- the wrapped file's methods ---------------------------------------- */

static int temp_close(sqlite3_file *f) {
  temp_file *t = (temp_file *)f;
  if (t->budget != NULL)
    t->budget->used -= t->size;
  return mida__shim_close(f);
}

static int temp_write(sqlite3_file *f, const void *buf, int amt,
                      sqlite3_int64 off) {
  temp_file *t = (temp_file *)f;
  sqlite3_int64 end = off + amt;
  sqlite3_int64 growth = end > t->size ? end - t->size : 0;
  mida__sqlite_temp_budget *b = t->budget;
  if (b != NULL && growth > 0 && b->active && b->limit > 0 &&
      b->used + growth > b->limit) {
    b->exceeded = 1;
    return SQLITE_FULL;
  }
  int rc = mida__shim_write(f, buf, amt, off);
  if (rc == SQLITE_OK && growth > 0) {
    t->size = end;
    if (b != NULL)
      b->used += growth;
  }
  return rc;
}

static int temp_truncate(sqlite3_file *f, sqlite3_int64 size) {
  temp_file *t = (temp_file *)f;
  int rc = mida__shim_truncate(f, size);
  if (rc == SQLITE_OK && size < t->size) {
    if (t->budget != NULL)
      t->budget->used -= t->size - size;
    t->size = size;
  }
  return rc;
}

/* No memory-mapped reads of a temporary file: every page goes through
 * xRead, and writes through xWrite, where they are counted. */
static int temp_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **p) {
  (void)f;
  (void)off;
  (void)amt;
  *p = NULL;
  return SQLITE_OK;
}

static int temp_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
  (void)f;
  (void)off;
  (void)p;
  return SQLITE_OK;
}

static const sqlite3_io_methods temp_io = {
    3,
    temp_close,
    mida__shim_read,
    temp_write,
    temp_truncate,
    mida__shim_sync,
    mida__shim_file_size,
    mida__shim_lock,
    mida__shim_unlock,
    mida__shim_check_reserved,
    mida__shim_file_control,
    mida__shim_sector_size,
    mida__shim_device_characteristics,
    mida__shim_shm_map,
    mida__shim_shm_lock,
    mida__shim_shm_barrier,
    mida__shim_shm_unmap,
    temp_fetch,
    temp_unfetch,
};

/* ---- the VFS ----------------------------------------------------------- */

static int temp_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                     int flags, int *out_flags) {
  (void)vfs;
  sqlite3_vfs *root = root_vfs();
  mida__sqlite_temp_budget *b = current;
  if (b == NULL || (flags & TEMP_FLAGS) == 0)
    return root->xOpen(root, name, f, flags, out_flags);
  temp_file *t = (temp_file *)f;
  int rc = mida__sqlite_shim_open_real(root, name, &t->shim, sizeof *t,
                                       flags, out_flags);
  if (rc != SQLITE_OK)
    return rc;
  t->budget = b;
  t->shim.base.pMethods = &temp_io;
  return SQLITE_OK;
}

/* In front of the WAL's shim (sqlite_wal_writes.h) where it could be
 * registered, else of the default VFS. */
static void register_temp_vfs(void) {
  sqlite3_vfs *root = mida__sqlite_wal_writes_vfs();
  if (root == NULL)
    root = sqlite3_vfs_find(NULL);
  if (root == NULL)
    return;
  mida__sqlite_shim_init(&temp_vfs, root, TEMP_VFS_NAME,
                         (int)sizeof(temp_file), temp_open);
  temp_registered = sqlite3_vfs_register(&temp_vfs, 0) == SQLITE_OK;
}

const char *mida__sqlite_temp_vfs(void) {
  pthread_once(&temp_once, register_temp_vfs);
  return temp_registered ? TEMP_VFS_NAME : NULL;
}

void mida__sqlite_temp_begin(mida__sqlite_temp_budget *b, int64_t limit) {
  b->limit = limit;
  b->active = 1;
  b->exceeded = 0;
  current = b;
}

void mida__sqlite_temp_end(mida__sqlite_temp_budget *b) {
  b->active = 0;
  current = NULL;
}

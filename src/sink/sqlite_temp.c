/*
 * sqlite_temp.c -- the shim VFS that bounds a query's temporary files
 * (sqlite_temp.h).
 *
 * Every method forwards to the default VFS (pAppData). xOpen wraps a file
 * only when it is temporary and a query is running on this thread; the
 * wrapper keeps the file's size as written and charges growth to the
 * budget, and the real file lies right after the wrapper in the memory
 * SQLite gives xOpen (szOsFile covers both). Files it does not wrap are the
 * default VFS's own, opened into that same memory.
 */
#include "sink/sqlite_temp.h"

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
  sqlite3_file base;                /* pMethods = &temp_io */
  mida__sqlite_temp_budget *budget; /* charged with its growth */
  sqlite3_int64 size;               /* bytes written, as counted */
  sqlite3_int64 pad;                /* keeps the real file 8-aligned */
} temp_file;

#define REAL(f) ((sqlite3_file *)((temp_file *)(f) + 1))

static sqlite3_vfs temp_vfs;
static pthread_once_t temp_once = PTHREAD_ONCE_INIT;
static int temp_registered;

static sqlite3_vfs *root_vfs(void) { return temp_vfs.pAppData; }

/* ---- the wrapped file's methods ---------------------------------------- */

static int temp_close(sqlite3_file *f) {
  temp_file *t = (temp_file *)f;
  if (t->budget != NULL)
    t->budget->used -= t->size;
  sqlite3_file *r = REAL(f);
  return r->pMethods != NULL ? r->pMethods->xClose(r) : SQLITE_OK;
}

static int temp_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
  return REAL(f)->pMethods->xRead(REAL(f), buf, amt, off);
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
  int rc = REAL(f)->pMethods->xWrite(REAL(f), buf, amt, off);
  if (rc == SQLITE_OK && growth > 0) {
    t->size = end;
    if (b != NULL)
      b->used += growth;
  }
  return rc;
}

static int temp_truncate(sqlite3_file *f, sqlite3_int64 size) {
  temp_file *t = (temp_file *)f;
  int rc = REAL(f)->pMethods->xTruncate(REAL(f), size);
  if (rc == SQLITE_OK && size < t->size) {
    if (t->budget != NULL)
      t->budget->used -= t->size - size;
    t->size = size;
  }
  return rc;
}

static int temp_sync(sqlite3_file *f, int flags) {
  return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int temp_file_size(sqlite3_file *f, sqlite3_int64 *size) {
  return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int temp_lock(sqlite3_file *f, int level) {
  return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int temp_unlock(sqlite3_file *f, int level) {
  return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int temp_check_reserved(sqlite3_file *f, int *out) {
  return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int temp_file_control(sqlite3_file *f, int op, void *arg) {
  return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int temp_sector_size(sqlite3_file *f) {
  return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int temp_device_characteristics(sqlite3_file *f) {
  return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int temp_shm_map(sqlite3_file *f, int page, int size, int extend,
                        void volatile **out) {
  sqlite3_file *r = REAL(f);
  if (r->pMethods->iVersion < 2)
    return SQLITE_IOERR;
  return r->pMethods->xShmMap(r, page, size, extend, out);
}

static int temp_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
  sqlite3_file *r = REAL(f);
  if (r->pMethods->iVersion < 2)
    return SQLITE_IOERR;
  return r->pMethods->xShmLock(r, offset, n, flags);
}

static void temp_shm_barrier(sqlite3_file *f) {
  sqlite3_file *r = REAL(f);
  if (r->pMethods->iVersion >= 2)
    r->pMethods->xShmBarrier(r);
}

static int temp_shm_unmap(sqlite3_file *f, int delete_flag) {
  sqlite3_file *r = REAL(f);
  if (r->pMethods->iVersion < 2)
    return SQLITE_OK;
  return r->pMethods->xShmUnmap(r, delete_flag);
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
    temp_read,
    temp_write,
    temp_truncate,
    temp_sync,
    temp_file_size,
    temp_lock,
    temp_unlock,
    temp_check_reserved,
    temp_file_control,
    temp_sector_size,
    temp_device_characteristics,
    temp_shm_map,
    temp_shm_lock,
    temp_shm_barrier,
    temp_shm_unmap,
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
  memset(t, 0, sizeof *t);
  sqlite3_file *r = REAL(f);
  memset(r, 0, (size_t)root->szOsFile);
  int rc = root->xOpen(root, name, r, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (r->pMethods != NULL)
      r->pMethods->xClose(r);
    t->base.pMethods = NULL;
    return rc;
  }
  t->budget = b;
  t->base.pMethods = &temp_io;
  return SQLITE_OK;
}

static int temp_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
  (void)v;
  return root_vfs()->xDelete(root_vfs(), name, sync_dir);
}

static int temp_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  (void)v;
  return root_vfs()->xAccess(root_vfs(), name, flags, out);
}

static int temp_full_pathname(sqlite3_vfs *v, const char *name, int n,
                              char *out) {
  (void)v;
  return root_vfs()->xFullPathname(root_vfs(), name, n, out);
}

static void *temp_dl_open(sqlite3_vfs *v, const char *name) {
  (void)v;
  return root_vfs()->xDlOpen(root_vfs(), name);
}

static void temp_dl_error(sqlite3_vfs *v, int n, char *msg) {
  (void)v;
  root_vfs()->xDlError(root_vfs(), n, msg);
}

static void (*temp_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  (void)v;
  return root_vfs()->xDlSym(root_vfs(), h, sym);
}

static void temp_dl_close(sqlite3_vfs *v, void *h) {
  (void)v;
  root_vfs()->xDlClose(root_vfs(), h);
}

static int temp_randomness(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return root_vfs()->xRandomness(root_vfs(), n, out);
}

static int temp_sleep(sqlite3_vfs *v, int us) {
  (void)v;
  return root_vfs()->xSleep(root_vfs(), us);
}

static int temp_current_time(sqlite3_vfs *v, double *out) {
  (void)v;
  return root_vfs()->xCurrentTime(root_vfs(), out);
}

static int temp_last_error(sqlite3_vfs *v, int n, char *out) {
  (void)v;
  return root_vfs()->xGetLastError(root_vfs(), n, out);
}

static int temp_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) {
  (void)v;
  sqlite3_vfs *root = root_vfs();
  if (root->iVersion >= 2 && root->xCurrentTimeInt64 != NULL)
    return root->xCurrentTimeInt64(root, out);
  double now = 0;
  int rc = root->xCurrentTime(root, &now);
  *out = (sqlite3_int64)(now * 86400000.0);
  return rc;
}

static void register_temp_vfs(void) {
  sqlite3_vfs *root = sqlite3_vfs_find(NULL);
  if (root == NULL)
    return;
  temp_vfs.iVersion = 2;
  temp_vfs.szOsFile = (int)sizeof(temp_file) + root->szOsFile;
  temp_vfs.mxPathname = root->mxPathname;
  temp_vfs.zName = TEMP_VFS_NAME;
  temp_vfs.pAppData = root;
  temp_vfs.xOpen = temp_open;
  temp_vfs.xDelete = temp_delete;
  temp_vfs.xAccess = temp_access;
  temp_vfs.xFullPathname = temp_full_pathname;
  temp_vfs.xDlOpen = temp_dl_open;
  temp_vfs.xDlError = temp_dl_error;
  temp_vfs.xDlSym = temp_dl_sym;
  temp_vfs.xDlClose = temp_dl_close;
  temp_vfs.xRandomness = temp_randomness;
  temp_vfs.xSleep = temp_sleep;
  temp_vfs.xCurrentTime = temp_current_time;
  temp_vfs.xGetLastError = temp_last_error;
  temp_vfs.xCurrentTimeInt64 = temp_current_time_int64;
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

/*
 * sqlite_shim.c -- the forwarding that mida's shim VFSes share
 * (sqlite_shim.h): every VFS method but xOpen, and the file methods a
 * shim does not change, handed to the VFS or file behind it.
 */
#include "sink/sqlite_shim.h"

#include <string.h>

static sqlite3_vfs *root_of(sqlite3_vfs *v) { return v->pAppData; }

static int shim_delete(sqlite3_vfs *v, const char *name, int sync_dir) {
  return root_of(v)->xDelete(root_of(v), name, sync_dir);
}

static int shim_access(sqlite3_vfs *v, const char *name, int flags, int *out) {
  return root_of(v)->xAccess(root_of(v), name, flags, out);
}

static int shim_full_pathname(sqlite3_vfs *v, const char *name, int n,
                              char *out) {
  return root_of(v)->xFullPathname(root_of(v), name, n, out);
}

static void *shim_dl_open(sqlite3_vfs *v, const char *name) {
  return root_of(v)->xDlOpen(root_of(v), name);
}

static void shim_dl_error(sqlite3_vfs *v, int n, char *msg) {
  root_of(v)->xDlError(root_of(v), n, msg);
}

static void (*shim_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void) {
  return root_of(v)->xDlSym(root_of(v), h, sym);
}

static void shim_dl_close(sqlite3_vfs *v, void *h) {
  root_of(v)->xDlClose(root_of(v), h);
}

static int shim_randomness(sqlite3_vfs *v, int n, char *out) {
  return root_of(v)->xRandomness(root_of(v), n, out);
}

static int shim_sleep(sqlite3_vfs *v, int us) {
  return root_of(v)->xSleep(root_of(v), us);
}

static int shim_current_time(sqlite3_vfs *v, double *out) {
  return root_of(v)->xCurrentTime(root_of(v), out);
}

static int shim_last_error(sqlite3_vfs *v, int n, char *out) {
  return root_of(v)->xGetLastError(root_of(v), n, out);
}

static int shim_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) {
  sqlite3_vfs *root = root_of(v);
  if (root->iVersion >= 2 && root->xCurrentTimeInt64 != NULL)
    return root->xCurrentTimeInt64(root, out);
  double now = 0;
  int rc = root->xCurrentTime(root, &now);
  *out = (sqlite3_int64)(now * 86400000.0);
  return rc;
}

void mida__sqlite_shim_init(sqlite3_vfs *vfs, sqlite3_vfs *root,
                            const char *name, int file_bytes,
                            int (*open)(sqlite3_vfs *, const char *,
                                        sqlite3_file *, int, int *)) {
  memset(vfs, 0, sizeof *vfs);
  vfs->iVersion = 2;
  vfs->szOsFile = file_bytes + root->szOsFile;
  vfs->mxPathname = root->mxPathname;
  vfs->zName = name;
  vfs->pAppData = root;
  vfs->xOpen = open;
  vfs->xDelete = shim_delete;
  vfs->xAccess = shim_access;
  vfs->xFullPathname = shim_full_pathname;
  vfs->xDlOpen = shim_dl_open;
  vfs->xDlError = shim_dl_error;
  vfs->xDlSym = shim_dl_sym;
  vfs->xDlClose = shim_dl_close;
  vfs->xRandomness = shim_randomness;
  vfs->xSleep = shim_sleep;
  vfs->xCurrentTime = shim_current_time;
  vfs->xGetLastError = shim_last_error;
  vfs->xCurrentTimeInt64 = shim_current_time_int64;
}

int mida__sqlite_shim_open_real(sqlite3_vfs *root, const char *name,
                                mida__shim_file *w, size_t wrapper_bytes,
                                int flags, int *out_flags) {
  memset(w, 0, wrapper_bytes);
  sqlite3_file *r = (sqlite3_file *)((char *)w + wrapper_bytes);
  memset(r, 0, (size_t)root->szOsFile);
  int rc = root->xOpen(root, name, r, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (r->pMethods != NULL)
      r->pMethods->xClose(r);
    return rc;
  }
  w->real = r;
  return SQLITE_OK;
}

/* ---- file methods that forward ----------------------------------------- */

int mida__shim_close(sqlite3_file *f) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods != NULL ? r->pMethods->xClose(r) : SQLITE_OK;
}

int mida__shim_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xRead(r, buf, amt, off);
}

int mida__shim_write(sqlite3_file *f, const void *buf, int amt,
                     sqlite3_int64 off) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xWrite(r, buf, amt, off);
}

int mida__shim_truncate(sqlite3_file *f, sqlite3_int64 size) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xTruncate(r, size);
}

int mida__shim_sync(sqlite3_file *f, int flags) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xSync(r, flags);
}

int mida__shim_file_size(sqlite3_file *f, sqlite3_int64 *size) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xFileSize(r, size);
}

int mida__shim_lock(sqlite3_file *f, int level) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xLock(r, level);
}

int mida__shim_unlock(sqlite3_file *f, int level) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xUnlock(r, level);
}

int mida__shim_check_reserved(sqlite3_file *f, int *out) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xCheckReservedLock(r, out);
}

int mida__shim_file_control(sqlite3_file *f, int op, void *arg) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xFileControl(r, op, arg);
}

int mida__shim_sector_size(sqlite3_file *f) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xSectorSize(r);
}

int mida__shim_device_characteristics(sqlite3_file *f) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  return r->pMethods->xDeviceCharacteristics(r);
}

int mida__shim_shm_map(sqlite3_file *f, int page, int size, int extend,
                       void volatile **out) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  if (r->pMethods->iVersion < 2)
    return SQLITE_IOERR;
  return r->pMethods->xShmMap(r, page, size, extend, out);
}

int mida__shim_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  if (r->pMethods->iVersion < 2)
    return SQLITE_IOERR;
  return r->pMethods->xShmLock(r, offset, n, flags);
}

void mida__shim_shm_barrier(sqlite3_file *f) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  if (r->pMethods->iVersion >= 2)
    r->pMethods->xShmBarrier(r);
}

int mida__shim_shm_unmap(sqlite3_file *f, int delete_flag) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  if (r->pMethods->iVersion < 2)
    return SQLITE_OK;
  return r->pMethods->xShmUnmap(r, delete_flag);
}

int mida__shim_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **p) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  if (r->pMethods->iVersion < 3) {
    *p = NULL;
    return SQLITE_OK;
  }
  return r->pMethods->xFetch(r, off, amt, p);
}

int mida__shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
  sqlite3_file *r = MIDA_SHIM_REAL(f);
  if (r->pMethods->iVersion < 3)
    return SQLITE_OK;
  return r->pMethods->xUnfetch(r, off, p);
}

/*
 * sqlite_shim.h -- what mida's shim VFSes share (internal to
 * src/sink/sqlite*.c): a VFS in front of another, and a file of it in
 * front of the other's file.
 *
 * A shim VFS (sqlite_temp.c bounds a query's temporary files,
 * sqlite_wal_writes.c gathers the WAL's writes) changes a few methods of
 * a few files and hands everything else to the VFS behind it (its root,
 * kept in pAppData). Its xOpen either opens the root's file straight into
 * the memory SQLite gives it, or wraps it: a wrapper struct that begins
 * with mida__shim_file, and the root's file right after it in that same
 * memory (szOsFile covers both), found through `real`.
 */
#ifndef MIDA_SINK_SQLITE_SHIM_H
#define MIDA_SINK_SQLITE_SHIM_H

#include <sqlite3.h>
#include <stddef.h>

/* The head of a shim's wrapped file. */
typedef struct mida__shim_file {
  sqlite3_file base;  /* pMethods: the shim's methods */
  sqlite3_file *real; /* the root VFS's file, right after the wrapper */
} mida__shim_file;

/* The root's file of a wrapped file f. */
#define MIDA_SHIM_REAL(f) (((mida__shim_file *)(f))->real)

/* Fills vfs as a shim named name in front of root: every method forwards
 * to root, but xOpen, which is open (it finds root in vfs->pAppData), and
 * files of file_bytes bytes of wrapper plus root's own. Does not register
 * it. */
void mida__sqlite_shim_init(sqlite3_vfs *vfs, sqlite3_vfs *root,
                            const char *name, int file_bytes,
                            int (*open)(sqlite3_vfs *, const char *,
                                        sqlite3_file *, int, int *));

/* Opens root's file name into the memory after the wrapper w (of
 * wrapper_bytes bytes, 8-aligned), zeroed first, and sets w->real; w's
 * pMethods are left NULL for the caller to set. On failure the real file
 * is closed if it was opened. Returns root's result. */
int mida__sqlite_shim_open_real(sqlite3_vfs *root, const char *name,
                                mida__shim_file *w, size_t wrapper_bytes,
                                int flags, int *out_flags);

/* Methods that only forward to the wrapped file's real one, for a shim's
 * io_methods table (iVersion 3). */
int mida__shim_close(sqlite3_file *f); /* the real file's, if it is open */
int mida__shim_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off);
int mida__shim_write(sqlite3_file *f, const void *buf, int amt,
                     sqlite3_int64 off);
int mida__shim_truncate(sqlite3_file *f, sqlite3_int64 size);
int mida__shim_sync(sqlite3_file *f, int flags);
int mida__shim_file_size(sqlite3_file *f, sqlite3_int64 *size);
int mida__shim_lock(sqlite3_file *f, int level);
int mida__shim_unlock(sqlite3_file *f, int level);
int mida__shim_check_reserved(sqlite3_file *f, int *out);
int mida__shim_file_control(sqlite3_file *f, int op, void *arg);
int mida__shim_sector_size(sqlite3_file *f);
int mida__shim_device_characteristics(sqlite3_file *f);
int mida__shim_shm_map(sqlite3_file *f, int page, int size, int extend,
                       void volatile **out);
int mida__shim_shm_lock(sqlite3_file *f, int offset, int n, int flags);
void mida__shim_shm_barrier(sqlite3_file *f);
int mida__shim_shm_unmap(sqlite3_file *f, int delete_flag);
int mida__shim_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **p);
int mida__shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p);

#endif /* MIDA_SINK_SQLITE_SHIM_H */

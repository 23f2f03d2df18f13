/*
 * spool_pool.h -- spent segment files kept in the spool for the next
 * journals to take, instead of removed and made anew (spool_pool.c).
 *
 * Every process `mida run` observes makes at least one segment file, and
 * the collector removes it once shipped: an inode made and freed per
 * process. On ext4 without a journal (this project's VM, and scratch disks
 * set up so) each new inode is searched for past every inode of its group
 * freed within the last minute, read one by one from the inode table:
 * after a few hundred processes a segment's O_TMPFILE took ~1.8 ms, a third
 * of the CPU of a loop of short commands under the library; and the
 * removal issues a discard under online discard. A shipped segment of at
 * most MIDA_POOL_MAX_BYTES is therefore renamed to pool.<bytes>.<slot> in
 * its spool, up to MIDA_POOL_SLOTS of each size, and a journal that needs
 * a segment of that size renames one to its own name first: no inode is
 * made or freed, and the file's blocks are already written. Puts fill the
 * lowest free slots and takes empty the highest, each found by bisection
 * (spool_pool.c).
 *
 * A pool file's content is what its last writer left: the journal zeroes
 * every byte of one it takes before it maps it (journal.c), as it zeroes a
 * new file. Names in the pool do not end in .mj, so recovery, the sweep and
 * the spool's size never see them.
 */
#ifndef MIDA_CAPTURE_SPOOL_POOL_H
#define MIDA_CAPTURE_SPOOL_POOL_H

#include <stdbool.h>
#include <stddef.h>

/* Files kept of each size (< 100): more than the segments one commit of
 * `mida run`'s collector releases (recovery.c, GROUP_SEGMENTS, 64), so
 * that a loop of short processes takes back what the last commit put. Of
 * 1,000 `/bin/true`, 560-760 made a new segment file with 16, 4-16 with
 * 96. At the preload library's 68 KiB first segments, 6.5 MB at most. */
#define MIDA_POOL_SLOTS 96
#define MIDA_POOL_MAX_BYTES (132 * 1024) /* the largest file kept */

/* Takes a file of exactly bytes from the pool of the spool directory dir:
 * renames it to path (a name of the caller's own, that does not exist),
 * opens it and locks it (flock, exclusive). The file is this user's own,
 * regular, with one link. Returns its descriptor (O_RDWR, close-on-exec),
 * or -1 when the pool has none to give (nothing is left at path then).
 * Thread-safe; makes no allocation. */
int mida__spool_pool_take(const char *dir, size_t bytes, const char *path);

/* Puts the shipped segment file at path, open as fd and locked by the
 * caller, into its directory's pool if it is small enough and the pool
 * has a free slot of its size. Returns true if it did (path is gone), false
 * if the caller is to remove it as before. Thread-safe. */
bool mida__spool_pool_put(const char *path, int fd);

/* Where the puts of one caller's run of puts try first: the slots below
 * next were found taken by an earlier put of the run, for files of bytes.
 * A run (the segments one recovery removes together) begins with a cursor
 * of zeros, and its first put bisects for the lowest free slot; a slot
 * that frees up meanwhile below next is left for the next run, and a full
 * pool costs one rename, not MIDA_POOL_SLOTS, per file after the first. */
typedef struct mida__pool_cursor {
  size_t bytes; /* the file size the cursor is for; 0: none yet */
  int next;     /* the first slot to try */
} mida__pool_cursor;

/* As mida__spool_pool_put, from the cursor c (updated), or from the lowest
 * free slot when c is NULL. */
bool mida__spool_pool_put_from(const char *path, int fd, mida__pool_cursor *c);

/* Removes every file of the pool of the spool directory dir, of every
 * size: the room they hold, for a segment of another size that found the
 * file system full (journal.c). The pool is a cache, and a file taken
 * meanwhile is the taker's. Returns how many it removed. Makes no
 * allocation. */
int mida__spool_pool_drain(const char *dir);

#endif

/*
 * spool_pool.c -- spent segment files kept for reuse (see spool_pool.h).
 *
 * Slots are names, pool.<bytes>.<slot>, claimed by rename(2): a put renames
 * with RENAME_NOREPLACE into the first free slot, a take renames a slot's
 * file to the taker's own name, and of two takers of one slot one gets
 * ENOENT. Takers try the slots from the lowest, where puts land first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, RENAME_NOREPLACE */
#endif

#include "capture/spool_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Slots a take tries before it makes a new file: all of them. An empty pool
 * costs that many failed renames (~1 us each), a file made anew far more
 * (~1.8 ms after a few hundred, spool_pool.h). With 4, the passes of `mida
 * run` had to come 5 ms apart in a loop of short processes: one 20 ms
 * apart put ~8 files back at once, and the takers, trying slots 0-3, made
 * new files for 582 of 1,000 processes. */
#define TAKE_TRIES MIDA_POOL_SLOTS

/* The path of the slots of size bytes in directory dir (dir_len bytes of
 * it) up to the slot number: "<dir>/pool.<bytes>.", into out (PATH_MAX).
 * Returns its length, or 0 if a slot's path would not fit. */
static size_t slots_prefix(char *out, const char *dir, size_t dir_len,
                           size_t bytes) {
  int n = snprintf(out, PATH_MAX, "%.*s/pool.%zu.", (int)dir_len, dir, bytes);
  return n > 0 && n + 3 < PATH_MAX ? (size_t)n : 0;
}

/* Writes slot number k (< 100) after the prefix of length len. */
static void slot_number(char *out, size_t len, int k) {
  if (k >= 10)
    out[len++] = (char)('0' + k / 10);
  out[len++] = (char)('0' + k % 10);
  out[len] = '\0';
}

int mida__spool_pool_take(const char *dir, size_t bytes, const char *path) {
  if (bytes > MIDA_POOL_MAX_BYTES)
    return -1;
  char slot[PATH_MAX];
  size_t len = slots_prefix(slot, dir, strlen(dir), bytes);
  if (len == 0)
    return -1;
  for (int k = 0; k < TAKE_TRIES; k++) {
    slot_number(slot, len, k);
    if (rename(slot, path) != 0)
      continue; /* ENOENT: empty, or another taker was first */
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                            O_CLOEXEC);
    struct stat st;
    /* Locked before it is looked at: a sweep that removed it between the
     * rename and this lock (its mtime is the old file's, never young) is
     * seen as nlink 0. */
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &st) == 0 &&
        S_ISREG(st.st_mode) && st.st_uid == geteuid() && st.st_nlink == 1 &&
        st.st_size == (off_t)bytes)
      return fd;
    /* Not one of ours, or still locked by the shipper that put it here a
     * moment ago: given up, and a new file made instead. */
    if (fd >= 0)
      close(fd);
    unlink(path);
    return -1;
  }
  return -1;
}

bool mida__spool_pool_put(const char *path, int fd) {
  return mida__spool_pool_put_from(path, fd, NULL);
}

bool mida__spool_pool_put_from(const char *path, int fd,
                               mida__pool_cursor *c) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
      st.st_size <= 0 || st.st_size > MIDA_POOL_MAX_BYTES)
    return false;
  const char *cut = strrchr(path, '/');
  if (cut == NULL)
    return false;
  char slot[PATH_MAX];
  size_t len =
      slots_prefix(slot, path, (size_t)(cut - path), (size_t)st.st_size);
  if (len == 0)
    return false;
  int k = 0;
  if (c != NULL && c->bytes == (size_t)st.st_size)
    k = c->next;
  for (; k < MIDA_POOL_SLOTS; k++) {
    slot_number(slot, len, k);
    if (renameat2(AT_FDCWD, path, AT_FDCWD, slot, RENAME_NOREPLACE) == 0)
      break;
    if (errno != EEXIST)
      return false; /* EINVAL: the file system cannot; removed instead */
  }
  if (c != NULL) {
    c->bytes = (size_t)st.st_size;
    c->next = k < MIDA_POOL_SLOTS ? k + 1 : MIDA_POOL_SLOTS;
  }
  return k < MIDA_POOL_SLOTS;
}

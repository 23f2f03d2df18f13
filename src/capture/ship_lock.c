/*
 * ship_lock.c -- the lock by which readers of a store wait for the
 * detached shippers of `mida run` (ship_lock.h says the protocol).
 */
#include "capture/ship_lock.h"

#include "core/clock.h"
#include "core/config.h"
#include "mida.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 5 /* how often a waiting reader tries the lock again */

static int lock_path(const char *spool, char *buf, size_t cap) {
  int n = snprintf(buf, cap, "%s/%s", spool, MIDA_SHIP_LOCK_NAME);
  return n < 0 || (size_t)n >= cap ? MIDA_ETOOBIG : MIDA_OK;
}

int mida__ship_lock_hold(const char *spool) {
  char path[PATH_MAX];
  if (lock_path(spool, path, sizeof path) != MIDA_OK)
    return MIDA_ETOOBIG;
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return MIDA_EIO;
  /* Blocks only while a reader holds it exclusively: an instant. */
  int rc;
  do {
    rc = flock(fd, LOCK_SH);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return MIDA_EIO;
  }
  return fd;
}

int mida__ship_lock_wait(const char *spool, int timeout_ms) {
  char path[PATH_MAX];
  if (lock_path(spool, path, sizeof path) != MIDA_OK)
    return MIDA_OK; /* no shipper can have made it either */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return MIDA_OK;
  int64_t deadline = mida__monotonic_ms() + timeout_ms;
  int rc = MIDA_ETIMEDOUT;
  for (;;) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      flock(fd, LOCK_UN);
      rc = MIDA_OK;
      break;
    }
    if ((errno != EWOULDBLOCK && errno != EINTR) ||
        mida__monotonic_ms() >= deadline)
      break;
    nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
  }
  close(fd);
  return rc;
}

int mida__ship_lock_hold_store(const char *store_url) {
  char spool[PATH_MAX];
  int rc = mida__spool_in_force(store_url, spool, sizeof spool);
  return rc != MIDA_OK ? rc : mida__ship_lock_hold(spool);
}

int mida__ship_wait_store(const char *store_url, char *note, size_t cap) {
  if (note != NULL && cap > 0)
    note[0] = '\0';
  char spool[PATH_MAX];
  if (mida__spool_in_force(store_url, spool, sizeof spool) != MIDA_OK)
    return MIDA_OK;
  int timeout_ms = MIDA_SHIP_WAIT_MS;
  const char *wait = getenv("MIDA_SHIP_WAIT_MS");
  if (wait != NULL && wait[0] != '\0') {
    char *end;
    long v = strtol(wait, &end, 10);
    if (*end == '\0' && v >= 0 && v <= INT_MAX)
      timeout_ms = (int)v;
  }
  int rc = mida__ship_lock_wait(spool, timeout_ms);
  if (rc == MIDA_ETIMEDOUT && note != NULL && cap > 0)
    snprintf(note, cap,
             "the records of a run that ended are still being shipped "
             "into the store (a detached 'mida recover' after %.1f s); "
             "this answer may lack the last of them",
             timeout_ms / 1000.0);
  return rc;
}

/*
 * close_dup.c -- the calls that end or copy descriptors: close,
 * close_range, closefrom, dup, dup2, dup3, fcntl(F_DUPFD), and pipe and
 * pipe2, which make the descriptors a pipeline's processes share.
 *
 * A close records the file (files.c) before the real call, while the
 * descriptor still shows its identity. The journal's own descriptors are
 * not the program's to close: a close of one fails with EBADF, as for a
 * descriptor that is not open, and the range closes step around them, so
 * that a program that closes "everything" never hands a live journal to
 * recovery.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>


MIDA_PL_EXPORT int close(int fd) {
  if (!mida__pl_enter())
    return MIDA_PL_REAL(close)(fd);
  int saved = errno;
  if (mida__pl_is_journal_fd(fd)) {
    mida__pl_leave();
    errno = EBADF;
    return -1;
  }
  mida__pl_release(fd);
  mida__pl_leave();
  errno = saved;
  return MIDA_PL_REAL(close)(fd);
}

static int compare_fds(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

/* Closes [first, last] with the real close_range, leaving the journal's
 * descriptors open. Called with the guard held. */
static int close_range_around(unsigned first, unsigned last, int flags) {
  int (*real)(unsigned, unsigned, int) = MIDA_PL_REAL(close_range);
  if (real == NULL) {
    errno = ENOSYS;
    return -1;
  }
  int keep[64];
  size_t n = 0;
  mida__journal *j = mida__pl_journal_if_open();
  if (j != NULL)
    n = mida__journal_fds(j, keep, 64);
  qsort(keep, n, sizeof keep[0], compare_fds);
  int rc = 0;
  unsigned from = first;
  int done = 0;
  for (size_t i = 0; i < n && !done; i++) {
    unsigned k = (unsigned)keep[i];
    if (k < from || k > last)
      continue;
    if (k > from && real(from, k - 1, flags) != 0)
      rc = -1;
    if (k == last)
      done = 1;
    from = k + 1;
  }
  if (!done && from <= last && real(from, last, flags) != 0)
    rc = -1;
  return rc;
}

MIDA_PL_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  if ((flags & CLOSE_RANGE_CLOEXEC) != 0 || !mida__pl_enter()) {
    int (*real)(unsigned, unsigned, int) = MIDA_PL_REAL(close_range);
    if (real == NULL) {
      errno = ENOSYS;
      return -1;
    }
    return real(first, last, flags);
  }
  for (unsigned fd = first; fd <= last && fd < (unsigned)mida__pl_fd_bound();
       fd++)
    mida__pl_release((int)fd);
  int rc = close_range_around(first, last, flags);
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT void closefrom(int lowfd) {
  if (!mida__pl_enter()) {
    void (*real)(int) = MIDA_PL_REAL(closefrom);
    if (real != NULL)
      real(lowfd);
    return;
  }
  int saved = errno;
  for (int fd = lowfd < 0 ? 0 : lowfd; fd < mida__pl_fd_bound(); fd++)
    mida__pl_release(fd);
  (void)close_range_around((unsigned)(lowfd < 0 ? 0 : lowfd), UINT_MAX, 0);
  errno = saved;
  mida__pl_leave();
}

/* After a successful copy of old into fd. */
static int copied(int old, int fd) {
  if (fd >= 0 && mida__pl_enter()) {
    int saved = errno;
    mida__pl_dup(old, fd);
    errno = saved;
    mida__pl_leave();
  }
  return fd;
}

/* Before dup2/dup3 replace newfd: record what it held, while it still
 * holds it. */
static void replacing(int old, int newfd) {
  if (old != newfd && mida__pl_file_of(newfd) != NULL && mida__pl_enter()) {
    int saved = errno;
    mida__pl_release(newfd);
    errno = saved;
    mida__pl_leave();
  }
}

MIDA_PL_EXPORT int dup(int old) {
  return copied(old, MIDA_PL_REAL(dup)(old));
}

MIDA_PL_EXPORT int dup2(int old, int newfd) {
  replacing(old, newfd);
  return copied(old, MIDA_PL_REAL(dup2)(old, newfd));
}

MIDA_PL_EXPORT int dup3(int old, int newfd, int flags) {
  replacing(old, newfd);
  return copied(old, MIDA_PL_REAL(dup3)(old, newfd, flags));
}

/* fcntl's third argument is an int or a pointer, by command; passing it on
 * as a pointer-sized value is what every wrapper of fcntl does. */
#define FCNTL_BODY(name)                                                     \
  va_list ap;                                                                \
  va_start(ap, cmd);                                                         \
  void *arg = va_arg(ap, void *);                                            \
  va_end(ap);                                                                \
  int (*real)(int, int, ...) = MIDA_PL_REAL(name);                           \
  if (real == NULL) {                                                        \
    errno = ENOSYS;                                                          \
    return -1;                                                               \
  }                                                                          \
  int rc = real(fd, cmd, arg);                                               \
  if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)                              \
    return copied(fd, rc);                                                   \
  return rc;

MIDA_PL_EXPORT int fcntl(int fd, int cmd, ...) {
  FCNTL_BODY(fcntl)
}

MIDA_PL_EXPORT int fcntl64(int fd, int cmd, ...) {
  FCNTL_BODY(fcntl64)
}

/* After a successful pipe: both ends tracked, by the pipe's inode. */
static int piped(int rc, const int fds[2]) {
  if (rc == 0 && mida__pl_enter()) {
    int saved = errno;
    struct stat st;
    if (fstat(fds[0], &st) == 0) {
      mida__pl_track_pipe(fds[0], (uint64_t)st.st_ino, MIDA_PL_R);
      mida__pl_track_pipe(fds[1], (uint64_t)st.st_ino, MIDA_PL_W);
    }
    errno = saved;
    mida__pl_leave();
  }
  return rc;
}

MIDA_PL_EXPORT int pipe(int fds[2]) {
  return piped(MIDA_PL_REAL(pipe)(fds), fds);
}

MIDA_PL_EXPORT int pipe2(int fds[2], int flags) {
  return piped(MIDA_PL_REAL(pipe2)(fds, flags), fds);
}

/*
 * close_dup.c -- the calls that end or copy descriptors: close,
 * close_range, closefrom, dup, dup2, dup3, fcntl(F_DUPFD), and pipe and
 * pipe2, which make the descriptors a pipeline's processes share.
 *
 * A close records the file (files.c) before the real call, while the
 * descriptor still shows its identity. The journal holds no descriptor
 * (its segments' mappings keep their locks: state.c), so every number is
 * the program's to close, dup onto, or close "everything" with.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <unistd.h>


MIDA_PL_EXPORT int close(int fd) {
  if (!mida__pl_enter())
    return MIDA_PL_REAL(close)(fd);
  int saved = errno;
  mida__pl_release(fd);
  mida__pl_leave();
  errno = saved;
  return MIDA_PL_REAL(close)(fd);
}

/* Before a range of descriptors from first up to last is closed: records
 * the tracked ones, while they still show their files. */
static void closing_range(unsigned first, unsigned last) {
  if (!mida__pl_enter())
    return;
  int saved = errno;
  for (unsigned fd = first; fd <= last && fd < (unsigned)mida__pl_fd_bound();
       fd++)
    mida__pl_release((int)fd);
  mida__pl_leave();
  errno = saved;
}

MIDA_PL_EXPORT int close_range(unsigned first, unsigned last, int flags) {
  int (*real)(unsigned, unsigned, int) = MIDA_PL_REAL(close_range);
  if (real == NULL) {
    errno = ENOSYS;
    return -1;
  }
  if ((flags & CLOSE_RANGE_CLOEXEC) == 0)
    closing_range(first, last);
  return real(first, last, flags);
}

MIDA_PL_EXPORT void closefrom(int lowfd) {
  closing_range(lowfd < 0 ? 0 : (unsigned)lowfd, UINT_MAX);
  void (*real)(int) = MIDA_PL_REAL(closefrom);
  if (real != NULL)
    real(lowfd);
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

/*
 * open.c -- the open family: open, openat, creat and their 64-bit and
 * fortified (_FORTIFY_SOURCE: __open_2, __openat_2) names.
 *
 * The real call comes first, outside the guard; a descriptor it returns is
 * then put in the file table with its absolute path and flags (files.c).
 * Nothing is recorded yet: a file is recorded when it is closed.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>

/* After a successful open: track fd (errno as the real call left it).
 * excl: what mida__pl_excl_begin said before the real call, ended here,
 * once the file is tracked. */
static int opened(int fd, int dirfd, const char *path, int flags, int excl) {
  if (fd >= 0 && mida__pl_enter()) {
    int saved = errno;
    mida__pl_track_open(fd, dirfd, path, flags, excl);
    errno = saved;
    mida__pl_leave();
  }
  mida__pl_excl_end(excl);
  return fd;
}

/* The mode argument of an open that creates (O_CREAT, O_TMPFILE). */
#define MODE_ARG(flags, last, mode)                                          \
  mode_t mode = 0;                                                           \
  if (((flags) & O_CREAT) != 0 || ((flags) & O_TMPFILE) == O_TMPFILE) {      \
    va_list ap;                                                              \
    va_start(ap, last);                                                      \
    mode = (mode_t)va_arg(ap, int);                                          \
    va_end(ap);                                                              \
  }

#define MISSING(name)                                                        \
  if (MIDA_PL_REAL(name) == NULL) {                                          \
    errno = ENOSYS;                                                          \
    return -1;                                                               \
  }

MIDA_PL_EXPORT int open(const char *path, int flags, ...) {
  MODE_ARG(flags, flags, mode);
  MISSING(open);
  int excl = mida__pl_excl_begin(flags);
  return opened(MIDA_PL_REAL(open)(path, flags, mode), AT_FDCWD, path, flags,
                excl);
}

MIDA_PL_EXPORT int open64(const char *path, int flags, ...) {
  MODE_ARG(flags, flags, mode);
  MISSING(open64);
  int excl = mida__pl_excl_begin(flags);
  return opened(MIDA_PL_REAL(open64)(path, flags, mode), AT_FDCWD, path, flags,
                excl);
}

MIDA_PL_EXPORT int openat(int dirfd, const char *path, int flags, ...) {
  MODE_ARG(flags, flags, mode);
  MISSING(openat);
  int excl = mida__pl_excl_begin(flags);
  return opened(MIDA_PL_REAL(openat)(dirfd, path, flags, mode), dirfd, path,
                flags, excl);
}

MIDA_PL_EXPORT int openat64(int dirfd, const char *path, int flags, ...) {
  MODE_ARG(flags, flags, mode);
  MISSING(openat64);
  int excl = mida__pl_excl_begin(flags);
  return opened(MIDA_PL_REAL(openat64)(dirfd, path, flags, mode), dirfd, path,
                flags, excl);
}

MIDA_PL_EXPORT int creat(const char *path, mode_t mode) {
  MISSING(creat);
  return opened(MIDA_PL_REAL(creat)(path, mode), AT_FDCWD, path,
                O_CREAT | O_WRONLY | O_TRUNC, 0);
}

MIDA_PL_EXPORT int creat64(const char *path, mode_t mode) {
  MISSING(creat64);
  return opened(MIDA_PL_REAL(creat64)(path, mode), AT_FDCWD, path,
                O_CREAT | O_WRONLY | O_TRUNC, 0);
}

MIDA_PL_EXPORT int __open_2(const char *path, int flags) {
  MISSING(__open_2);
  return opened(MIDA_PL_REAL(__open_2)(path, flags), AT_FDCWD, path, flags, 0);
}

MIDA_PL_EXPORT int __open64_2(const char *path, int flags) {
  MISSING(__open64_2);
  return opened(MIDA_PL_REAL(__open64_2)(path, flags), AT_FDCWD, path, flags,
                0);
}

MIDA_PL_EXPORT int __openat_2(int dirfd, const char *path, int flags) {
  MISSING(__openat_2);
  return opened(MIDA_PL_REAL(__openat_2)(dirfd, path, flags), dirfd, path,
                flags, 0);
}

MIDA_PL_EXPORT int __openat64_2(int dirfd, const char *path, int flags) {
  MISSING(__openat64_2);
  return opened(MIDA_PL_REAL(__openat64_2)(dirfd, path, flags), dirfd, path,
                flags, 0);
}

/*
 * stat.c -- fstat and fstat64: what a program learns of a descriptor it
 * opened, kept so that the file's identity need not be asked again when it
 * is closed.
 *
 * Many programs look at a file just before they close it (tar checks that
 * the file did not change while it read it, Python and cp look at it right
 * after opening it and read it at once). The wrapper has the file table
 * (mida__pl_fstat) call the real function and keep a successful answer,
 * which may be the identity at close instead of a second fstat(2) (see
 * files.c for when). Like the read/write path it
 * takes no lock, allocates nothing, makes no system call (the time comes
 * from the vDSO's coarse clock) and never touches errno.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <sys/stat.h>

/* The real calls, as mida__pl_fstat makes them. */
static int real_fstat(int fd, void *st) {
  return MIDA_PL_REAL(fstat)(fd, st);
}

MIDA_PL_EXPORT int fstat(int fd, struct stat *st) {
  if (MIDA_PL_REAL(fstat) == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return mida__pl_fstat(fd, st, real_fstat);
}

/* Where off_t is 64 bits (every 64-bit Linux), struct stat64 is struct
 * stat: the answer is kept the same way. Elsewhere it is only passed on. */
#if defined(__LP64__)
_Static_assert(sizeof(struct stat) == sizeof(struct stat64),
               "struct stat64 is struct stat on LP64");

static int real_fstat64(int fd, void *st) {
  return MIDA_PL_REAL(fstat64)(fd, st);
}
#endif

MIDA_PL_EXPORT int fstat64(int fd, struct stat64 *st) {
  if (MIDA_PL_REAL(fstat64) == NULL) {
    errno = ENOSYS;
    return -1;
  }
#if defined(__LP64__)
  return mida__pl_fstat(fd, st, real_fstat64);
#else
  return MIDA_PL_REAL(fstat64)(fd, st);
#endif
}

/*
 * stat.c -- fstat and fstat64: what a program learns of a descriptor it
 * opened, kept so that the file's identity need not be asked again when it
 * is closed.
 *
 * Many programs look at a file just before they close it (tar checks that
 * the file did not change while it read it, Python and cp look at it right
 * after opening it and read it at once). The wrapper calls the real
 * function and hands a successful answer to the file table
 * (mida__pl_saw_stat), which may use it as the identity at close instead
 * of a second fstat(2) (see files.c for when). Like the read/write path it
 * takes no lock, allocates nothing, makes no system call (the time comes
 * from the vDSO's coarse clock) and never touches errno.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <sys/stat.h>

MIDA_PL_EXPORT int fstat(int fd, struct stat *st) {
  if (MIDA_PL_REAL(fstat) == NULL) {
    errno = ENOSYS;
    return -1;
  }
  mida__pl_stat_ticket t;
  int keep = mida__pl_stat_begin(fd, &t);
  int rc = MIDA_PL_REAL(fstat)(fd, st);
  if (rc == 0 && keep)
    mida__pl_saw_stat(fd, st, &t);
  return rc;
}

/* Where off_t is 64 bits (every 64-bit Linux), struct stat64 is struct
 * stat: the answer is kept the same way. Elsewhere it is only passed on. */
MIDA_PL_EXPORT int fstat64(int fd, struct stat64 *st) {
  if (MIDA_PL_REAL(fstat64) == NULL) {
    errno = ENOSYS;
    return -1;
  }
#if defined(__LP64__)
  _Static_assert(sizeof(struct stat) == sizeof(struct stat64),
                 "struct stat64 is struct stat on LP64");
  mida__pl_stat_ticket t;
  int keep = mida__pl_stat_begin(fd, &t);
  int rc = MIDA_PL_REAL(fstat64)(fd, st);
  if (rc == 0 && keep)
    mida__pl_saw_stat(fd, (const struct stat *)(const void *)st, &t);
#else
  int rc = MIDA_PL_REAL(fstat64)(fd, st);
#endif
  return rc;
}

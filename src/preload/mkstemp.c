/*
 * mkstemp.c -- the mkstemp family: mkstemp, mkostemp, mkstemps,
 * mkostemps and their 64-bit names.
 *
 * glibc makes the file with its own internal open, which no wrapper of
 * open.c sees: a program that writes a temporary file and renames it into
 * place (sed -i, editors, most "atomic save" code) would leave no trace of
 * what it generated. So the family is wrapped here, and the descriptor a
 * call returns is tracked as an open(2) with O_CREAT | O_EXCL | O_RDWR (and
 * the flags of mkostemp) of the name the call wrote into its template:
 * the file is new, so it is an exclusive writer (files.c, writer_excl),
 * announced from before the real call. The rename that follows gives its
 * version the final name (names.c).
 *
 * Nothing else of libc that makes a file needs a wrapper: tmpfile() makes
 * a file without a name (O_TMPFILE, or one unlinked at once), no one's
 * data; mkdtemp() makes a directory, and its files are opened by name.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>

/* The flags the family opens its file with, besides the caller's. */
#define MADE (O_CREAT | O_EXCL | O_RDWR)

/* After the real call made fd from template (flags: the caller's). */
static int made(int fd, const char *template, int flags, int excl) {
  if (fd >= 0 && mida__pl_enter()) {
    int saved = errno;
    mida__pl_track_open(fd, AT_FDCWD, template, MADE | flags, excl);
    errno = saved;
    mida__pl_leave();
  }
  mida__pl_excl_end(excl);
  return fd;
}

#define MISSING(name)                                                        \
  if (MIDA_PL_REAL(name) == NULL) {                                          \
    errno = ENOSYS;                                                          \
    return -1;                                                               \
  }

MIDA_PL_EXPORT int mkstemp(char *template) {
  MISSING(mkstemp);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkstemp)(template), template, 0, excl);
}

MIDA_PL_EXPORT int mkstemp64(char *template) {
  MISSING(mkstemp64);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkstemp64)(template), template, 0, excl);
}

MIDA_PL_EXPORT int mkostemp(char *template, int flags) {
  MISSING(mkostemp);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkostemp)(template, flags), template, flags,
              excl);
}

MIDA_PL_EXPORT int mkostemp64(char *template, int flags) {
  MISSING(mkostemp64);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkostemp64)(template, flags), template, flags,
              excl);
}

MIDA_PL_EXPORT int mkstemps(char *template, int suffixlen) {
  MISSING(mkstemps);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkstemps)(template, suffixlen), template, 0,
              excl);
}

MIDA_PL_EXPORT int mkstemps64(char *template, int suffixlen) {
  MISSING(mkstemps64);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkstemps64)(template, suffixlen), template, 0,
              excl);
}

MIDA_PL_EXPORT int mkostemps(char *template, int suffixlen, int flags) {
  MISSING(mkostemps);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkostemps)(template, suffixlen, flags), template,
              flags, excl);
}

MIDA_PL_EXPORT int mkostemps64(char *template, int suffixlen, int flags) {
  MISSING(mkostemps64);
  int excl = mida__pl_excl_begin(MADE);
  return made(MIDA_PL_REAL(mkostemps64)(template, suffixlen, flags),
              template, flags, excl);
}

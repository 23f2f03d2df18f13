/*
 * stdio.c -- streams: fopen, fdopen, freopen, fclose (and 64-bit names),
 * fread and fwrite (and their unlocked and fortified names), fflush (and
 * fflush_unlocked), and closedir.
 *
 * libc's streams open, read, write and close their descriptors with its
 * own internal calls, which no wrapper sees. So a stream is tracked
 * through the descriptor under it (fileno) from fopen to fclose; the bytes
 * are what fread/fwrite say plus, for everything else libc's buffering
 * moved (fprintf, fgets, getc...), how far the descriptor's offset went
 * (files.c, add_buffered). fclose flushes the stream first so that the
 * file's identity is taken with all of its content. A flush into a pipe
 * (fclose, fflush) announces the process as the pipe's writer before
 * libc writes the buffer out (pipes.c).
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>


/* With optimization glibc's <stdio.h> makes these macros. */
#undef fread_unlocked
#undef fwrite_unlocked

/* open(2) flags for an fopen mode ("r", "w+", "ab", "rx"...). */
static int mode_flags(const char *mode, int *append) {
  int plus = strchr(mode, '+') != NULL;
  *append = 0;
  switch (mode[0]) {
  case 'r':
    return plus ? O_RDWR : O_RDONLY;
  case 'w':
    return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC;
  case 'a':
    *append = 1;
    return (plus ? O_RDWR : O_WRONLY) | O_CREAT | O_APPEND;
  default:
    return O_RDONLY;
  }
}

/* No fileno() on a stream without a descriptor (fmemopen): -1, errno
 * kept. */
static int stream_fd(FILE *s) {
  int saved = errno;
  int fd = s != NULL ? fileno(s) : -1;
  errno = saved;
  return fd;
}

static FILE *stream_opened(FILE *s, const char *path, const char *mode) {
  if (s != NULL && mida__pl_enter()) {
    int saved = errno;
    int fd = stream_fd(s);
    int append;
    int flags = mode_flags(mode, &append);
    if (fd >= 0) {
      mida__pl_track_open(fd, AT_FDCWD, path, flags, 0);
      mida__pl_set_stream(fd, s, append);
    }
    errno = saved;
    mida__pl_leave();
  }
  return s;
}

MIDA_PL_EXPORT FILE *fopen(const char *path, const char *mode) {
  return stream_opened(MIDA_PL_REAL(fopen)(path, mode), path, mode);
}

MIDA_PL_EXPORT FILE *fopen64(const char *path, const char *mode) {
  return stream_opened(MIDA_PL_REAL(fopen64)(path, mode), path, mode);
}

MIDA_PL_EXPORT FILE *fdopen(int fd, const char *mode) {
  FILE *s = MIDA_PL_REAL(fdopen)(fd, mode);
  if (s != NULL && mida__pl_enter()) {
    int saved = errno;
    int append;
    (void)mode_flags(mode, &append);
    mida__pl_set_stream(fd, s, append);
    errno = saved;
    mida__pl_leave();
  }
  return s;
}

/* Flushes s, then releases its descriptor (preload.h). A pipe's writer
 * is announced before the flush, not at the release after it: the reader
 * may have read the flushed bytes and ended in between. */
void mida__pl_stream_closing(FILE *s) {
  int fd = stream_fd(s);
  if (mida__pl_file_of(fd) != NULL) {
    mida__pl_stream_flushing(s);
    fflush(s);
    mida__pl_release(fd);
  }
  mida__pl_stdio_closed(s);
}

static FILE *reopen(FILE *(*real)(const char *, const char *, FILE *),
                    const char *path, const char *mode, FILE *s) {
  if (real == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  if (path == NULL || !mida__pl_enter())
    return real(path, mode, s); /* a change of mode keeps the file */
  int saved = errno;
  mida__pl_stream_closing(s);
  errno = saved;
  mida__pl_leave();
  return stream_opened(real(path, mode, s), path, mode);
}

MIDA_PL_EXPORT FILE *freopen(const char *path, const char *mode, FILE *s) {
  return reopen(MIDA_PL_REAL(freopen), path, mode, s);
}

MIDA_PL_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *s) {
  return reopen(MIDA_PL_REAL(freopen64), path, mode, s);
}

MIDA_PL_EXPORT int fclose(FILE *s) {
  if (s != NULL && mida__pl_enter()) {
    int saved = errno;
    mida__pl_stream_closing(s);
    errno = saved;
    mida__pl_leave();
  }
  return MIDA_PL_REAL(fclose)(s);
}

/* fflush(s), and fflush(NULL) for every stream: what a pipe's stream
 * holds reaches its reader, so the pipe's writer is announced first. */
static void flushing(FILE *s) {
  if (mida__pl_enter()) {
    int saved = errno;
    mida__pl_stream_flushing(s);
    errno = saved;
    mida__pl_leave();
  }
}

MIDA_PL_EXPORT int fflush(FILE *s) {
  flushing(s);
  return MIDA_PL_REAL(fflush)(s);
}

MIDA_PL_EXPORT int fflush_unlocked(FILE *s) {
  flushing(s);
  return MIDA_PL_REAL(fflush_unlocked)(s);
}

MIDA_PL_EXPORT int closedir(DIR *d) {
  if (mida__pl_enter()) {
    int saved = errno;
    mida__pl_release(dirfd(d));
    errno = saved;
    mida__pl_leave();
  }
  return MIDA_PL_REAL(closedir)(d);
}

/* Counts size * items moved through stream s. */
static void counted(FILE *s, size_t size, size_t items, int is_write) {
  if (items == 0 || size == 0)
    return;
  int fd = stream_fd(s);
  int64_t n = (int64_t)(size * items);
  if (is_write)
    mida__pl_count_write(mida__pl_file_of(fd), n);
  else
    mida__pl_count_read(fd, n);
}

MIDA_PL_EXPORT size_t fread(void *p, size_t size, size_t n, FILE *s) {
  size_t r = MIDA_PL_REAL(fread)(p, size, n, s);
  counted(s, size, r, 0);
  return r;
}

MIDA_PL_EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *s) {
  if (size != 0 && n != 0)
    mida__pl_stream_writing(s); /* before libc can write into a pipe */
  size_t r = MIDA_PL_REAL(fwrite)(p, size, n, s);
  counted(s, size, r, 1);
  return r;
}

MIDA_PL_EXPORT size_t fread_unlocked(void *p, size_t size, size_t n,
                                     FILE *s) {
  size_t r = MIDA_PL_REAL(fread_unlocked)(p, size, n, s);
  counted(s, size, r, 0);
  return r;
}

MIDA_PL_EXPORT size_t fwrite_unlocked(const void *p, size_t size, size_t n,
                                      FILE *s) {
  if (size != 0 && n != 0)
    mida__pl_stream_writing(s);
  size_t r = MIDA_PL_REAL(fwrite_unlocked)(p, size, n, s);
  counted(s, size, r, 1);
  return r;
}

MIDA_PL_EXPORT size_t __fread_chk(void *p, size_t cap, size_t size, size_t n,
                                  FILE *s) {
  size_t r = MIDA_PL_REAL(__fread_chk)(p, cap, size, n, s);
  counted(s, size, r, 0);
  return r;
}

MIDA_PL_EXPORT size_t __fread_unlocked_chk(void *p, size_t cap, size_t size,
                                           size_t n, FILE *s) {
  size_t r = MIDA_PL_REAL(__fread_unlocked_chk)(p, cap, size, n, s);
  counted(s, size, r, 0);
  return r;
}

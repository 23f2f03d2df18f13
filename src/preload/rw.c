/*
 * rw.c -- reads and writes: read, write, pread, pwrite, readv, writev,
 * preadv, pwritev (with their 64-bit, v2 and fortified names),
 * copy_file_range, splice, sendfile, and dprintf and vdprintf (and their
 * fortified names), which write through libc's own internal write.
 *
 * This is the hot path. A wrapper calls the real function and adds what it
 * moved to the counter of the descriptor's entry in the file table (one
 * array load, one atomic add): no lock, no allocation, no system call, and
 * errno is never touched. The one exception is the first write into a
 * pipe's write end, which puts the writer in the pipe registry (pipes.c)
 * before the data can reach a reader.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <stdarg.h>


/* The descriptor's entry, for a write: a pipe's first write announces its
 * writer first. */
static inline mida__pl_file *writing(int fd) {
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f != NULL && __builtin_expect(
                       (atomic_load_explicit(&f->marks, memory_order_relaxed) &
                        MIDA_PL_UNANNOUNCED) != 0,
                       0) &&
      mida__pl_enter()) {
    int saved = errno;
    mida__pl_pipe_first_write(f);
    errno = saved;
    mida__pl_leave();
  }
  return f;
}

#define REAL_OR_ENOSYS(name)                                                 \
  if (MIDA_PL_REAL(name) == NULL) {                                          \
    errno = ENOSYS;                                                          \
    return -1;                                                               \
  }

MIDA_PL_EXPORT ssize_t read(int fd, void *buf, size_t n) {
  ssize_t r = MIDA_PL_REAL(read)(fd, buf, n);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t write(int fd, const void *buf, size_t n) {
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(write)(fd, buf, n);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) {
  ssize_t r = MIDA_PL_REAL(pread)(fd, buf, n, off);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) {
  REAL_OR_ENOSYS(pread64);
  ssize_t r = MIDA_PL_REAL(pread64)(fd, buf, n, off);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(pwrite)(fd, buf, n, off);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n,
                                off_t off) {
  REAL_OR_ENOSYS(pwrite64);
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(pwrite64)(fd, buf, n, off);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n) {
  ssize_t r = MIDA_PL_REAL(readv)(fd, iov, n);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n) {
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(writev)(fd, iov, n);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int n,
                              off_t off) {
  REAL_OR_ENOSYS(preadv);
  ssize_t r = MIDA_PL_REAL(preadv)(fd, iov, n, off);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int n,
                                off_t off) {
  REAL_OR_ENOSYS(preadv64);
  ssize_t r = MIDA_PL_REAL(preadv64)(fd, iov, n, off);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n,
                               off_t off) {
  REAL_OR_ENOSYS(pwritev);
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(pwritev)(fd, iov, n, off);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n,
                                 off_t off) {
  REAL_OR_ENOSYS(pwritev64);
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(pwritev64)(fd, iov, n, off);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int n,
                               off_t off, int flags) {
  REAL_OR_ENOSYS(preadv2);
  ssize_t r = MIDA_PL_REAL(preadv2)(fd, iov, n, off, flags);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int n,
                                off_t off, int flags) {
  REAL_OR_ENOSYS(pwritev2);
  mida__pl_file *f = writing(fd);
  ssize_t r = MIDA_PL_REAL(pwritev2)(fd, iov, n, off, flags);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t cap) {
  REAL_OR_ENOSYS(__read_chk);
  ssize_t r = MIDA_PL_REAL(__read_chk)(fd, buf, n, cap);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off,
                                   size_t cap) {
  REAL_OR_ENOSYS(__pread_chk);
  ssize_t r = MIDA_PL_REAL(__pread_chk)(fd, buf, n, off, cap);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off,
                                     size_t cap) {
  REAL_OR_ENOSYS(__pread64_chk);
  ssize_t r = MIDA_PL_REAL(__pread64_chk)(fd, buf, n, off, cap);
  mida__pl_count_read(fd, r);
  return r;
}

MIDA_PL_EXPORT ssize_t copy_file_range(int in, off_t *in_off, int out,
                                       off_t *out_off, size_t n,
                                       unsigned flags) {
  REAL_OR_ENOSYS(copy_file_range);
  mida__pl_file *f = writing(out);
  ssize_t r =
      MIDA_PL_REAL(copy_file_range)(in, in_off, out, out_off, n, flags);
  mida__pl_count_read(in, r);
  mida__pl_count_write(f, r);
  return r;
}

/* splice moves bytes between a pipe and a file, or two pipes, without
 * passing them through the program: counted like copy_file_range. */
MIDA_PL_EXPORT ssize_t splice(int in, off_t *in_off, int out, off_t *out_off,
                              size_t n, unsigned flags) {
  REAL_OR_ENOSYS(splice);
  mida__pl_file *f = writing(out);
  ssize_t r = MIDA_PL_REAL(splice)(in, in_off, out, out_off, n, flags);
  mida__pl_count_read(in, r);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n) {
  REAL_OR_ENOSYS(sendfile);
  mida__pl_file *f = writing(out);
  ssize_t r = MIDA_PL_REAL(sendfile)(out, in, off, n);
  mida__pl_count_read(in, r);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t n) {
  REAL_OR_ENOSYS(sendfile64);
  mida__pl_file *f = writing(out);
  ssize_t r = MIDA_PL_REAL(sendfile64)(out, in, off, n);
  mida__pl_count_read(in, r);
  mida__pl_count_write(f, r);
  return r;
}

/* ---- formatted writes into a descriptor -------------------------------- */

MIDA_PL_EXPORT int vdprintf(int fd, const char *fmt, va_list ap) {
  REAL_OR_ENOSYS(vdprintf);
  mida__pl_file *f = writing(fd);
  int r = MIDA_PL_REAL(vdprintf)(fd, fmt, ap);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT int dprintf(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vdprintf(fd, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt,
                                  va_list ap) {
  REAL_OR_ENOSYS(__vdprintf_chk);
  mida__pl_file *f = writing(fd);
  int r = MIDA_PL_REAL(__vdprintf_chk)(fd, flag, fmt, ap);
  mida__pl_count_write(f, r);
  return r;
}

MIDA_PL_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = __vdprintf_chk(fd, flag, fmt, ap);
  va_end(ap);
  return r;
}

/*
 * mmap.c -- mappings of files: a file mapped shared and writable counts as
 * written (generated), one mapped only readable (or privately) as read
 * (used), by the length mapped. Like the read/write path, it only touches
 * the file table's counters and marks.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <sys/mman.h>

static void *mapped(void *p, size_t len, int prot, int flags, int fd) {
  if (p == MAP_FAILED || fd < 0)
    return p;
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f == NULL)
    return p;
  int writes = (prot & PROT_WRITE) != 0 && (flags & MAP_SHARED) != 0;
  if ((prot & PROT_READ) != 0 && !writes) {
    atomic_fetch_or_explicit(&f->marks, MIDA_PL_MAPPED_R,
                             memory_order_relaxed);
    atomic_fetch_add_explicit(&f->nread, len, memory_order_relaxed);
  }
  if (writes) {
    atomic_fetch_or_explicit(&f->marks, MIDA_PL_MAPPED_W,
                             memory_order_relaxed);
    atomic_fetch_add_explicit(&f->nwritten, len, memory_order_relaxed);
  }
  return p;
}

MIDA_PL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd,
                          off_t off) {
  return mapped(MIDA_PL_REAL(mmap)(addr, len, prot, flags, fd, off), len,
                prot, flags, fd);
}

MIDA_PL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags,
                            int fd, off_t off) {
  return mapped(MIDA_PL_REAL(mmap64)(addr, len, prot, flags, fd, off), len,
                prot, flags, fd);
}

/*
 * times.c -- calls that set a file's times: utimensat, futimens, utimes,
 * lutimes, futimes, futimesat and utime.
 *
 * A file's version is "inode:dev:ino:mtime_ns:size": setting its mtime
 * makes another version of the same content. Copiers that keep times set
 * them by name once the copy is closed (rsync -a on its temporary before
 * the rename, Python's shutil.copy2 and copytree), so the version their
 * close recorded is not the one left on the disk, which the next reader
 * uses: the process that set the mtime is recorded as generating the
 * version it made. By name, that is a link of its own, as truncate()
 * makes; through a descriptor (cp -p, tar x, touch), the file's entry is
 * marked, and its close records the new version as generated. A call that
 * leaves the mtime alone (UTIME_OMIT: tar's --atime-preserve) makes no
 * version.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/time.h>
#include <utime.h>

/* A scratch path, per thread, kept out of the program's stack, and what
 * the file was before the call (by_name_before). */
static __thread char tls_path[MIDA_PL_PATH]
    __attribute__((tls_model("initial-exec")));
static __thread struct stat tls_was
    __attribute__((tls_model("initial-exec")));

/* Whether a utimensat times argument may set the mtime. */
static int sets_mtime(const struct timespec *ts) {
  return ts == NULL || ts[1].tv_nsec != UTIME_OMIT;
}

/* The mtime of (dir, path) (fd itself with path ""), -1 if it is no regular
 * file; at_flags as fstatat's. */
static int64_t mtime_of(int dir, const char *path, int at_flags,
                        struct stat *st) {
  if (fstatat(dir, path, st, at_flags) != 0 || !S_ISREG(st->st_mode))
    return -1;
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Around a call that may set the mtime of (dir, path), not following a
 * final symbolic link with AT_SYMLINK_NOFOLLOW in at_flags: before it,
 * the absolute path and the mtime in *was (-1: nothing to record); 1 if
 * the guard is held until by_name_after (as removing() in names.c holds
 * it, so that a signal handler's call leaves tls_path alone) ... */
static int by_name_before(int dir, const char *path, int at_flags,
                          int64_t *was) {
  *was = -1;
  if (path == NULL || !mida__pl_enter())
    return 0;
  int saved = errno;
  if (mida__pl_abspath(dir, path, tls_path) == 0 &&
      !mida__pl_is_noise(tls_path))
    *was = mtime_of(AT_FDCWD, tls_path, at_flags & AT_SYMLINK_NOFOLLOW,
                    &tls_was);
  errno = saved;
  return 1;
}

/* ... and after it (entered: what by_name_before said): if it succeeded
 * and the mtime moved, the version it left is this task's, with the bytes
 * it wrote into the version before, if it generated that one (a copy
 * closed, then given its source's times). */
static int by_name_after(int rc, int entered, int64_t was, int at_flags) {
  if (rc == 0)
    mida__pl_files_changed();
  if (!entered)
    return rc;
  int saved = errno;
  struct stat st;
  if (rc == 0 && was >= 0) {
    int64_t now =
        mtime_of(AT_FDCWD, tls_path, at_flags & AT_SYMLINK_NOFOLLOW, &st);
    if (now >= 0 && now != was) {
      const mida_id_t *task = &mida__pl.task;
      int64_t wrote = mida__pl_link_total(task, &tls_was, MIDA_GENERATED, 0);
      mida__pl_emit_link(task, tls_path, &st, MIDA_GENERATED,
                         wrote > 0 ? mida__pl_link_total(task, &st,
                                                         MIDA_GENERATED,
                                                         (uint64_t)wrote)
                                   : -1);
    }
  }
  errno = saved;
  mida__pl_leave();
  return rc;
}

/* Around a call that may set the mtime of fd's file: before it, the mtime
 * of a writer's file that its close would not record as generated yet
 * (touch of an existing file), or -1: a writer that wrote (tar x and
 * cp -p set the times of what they wrote) costs no system call here ... */
static int64_t fd_before(int fd) {
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f == NULL || (f->mode & MIDA_PL_W) == 0 ||
      atomic_load_explicit(&f->nwritten, memory_order_relaxed) > 0 ||
      (atomic_load_explicit(&f->marks, memory_order_relaxed) &
       (MIDA_PL_TRUNCATED | MIDA_PL_MAPPED_W | MIDA_PL_RETIMED)) != 0)
    return -1;
  int saved = errno;
  struct stat st;
  int64_t was = mtime_of(fd, "", AT_EMPTY_PATH, &st);
  errno = saved;
  return was;
}

/* ... and after it: if the mtime moved, the entry records the version at
 * close as generated. */
static int fd_after(int rc, int fd, int64_t was) {
  if (rc == 0)
    mida__pl_files_changed();
  if (rc != 0 || was < 0)
    return rc;
  int saved = errno;
  struct stat st;
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f != NULL && mtime_of(fd, "", AT_EMPTY_PATH, &st) != was)
    atomic_fetch_or_explicit(&f->marks, MIDA_PL_RETIMED,
                             memory_order_relaxed);
  errno = saved;
  return rc;
}

/* Whether path is "" (not NULL: glibc declares utimensat's path nonnull,
 * which a program may still break). */
static int is_empty(const char *path) {
  return path != NULL && path[0] == '\0';
}

#define REAL_OR_ENOSYS(name)                                                 \
  if (MIDA_PL_REAL(name) == NULL) {                                          \
    errno = ENOSYS;                                                          \
    return -1;                                                               \
  }

MIDA_PL_EXPORT int utimensat(int dir, const char *path,
                             const struct timespec ts[2], int flags) {
  REAL_OR_ENOSYS(utimensat);
  if ((flags & AT_EMPTY_PATH) != 0 && is_empty(path)) {
    int64_t at = sets_mtime(ts) ? fd_before(dir) : -1; /* dir's own file */
    return fd_after(MIDA_PL_REAL(utimensat)(dir, path, ts, flags), dir, at);
  }
  int64_t was = -1;
  int in = sets_mtime(ts) ? by_name_before(dir, path, flags, &was) : 0;
  return by_name_after(MIDA_PL_REAL(utimensat)(dir, path, ts, flags), in,
                       was, flags);
}

MIDA_PL_EXPORT int futimens(int fd, const struct timespec ts[2]) {
  REAL_OR_ENOSYS(futimens);
  int64_t was = sets_mtime(ts) ? fd_before(fd) : -1;
  return fd_after(MIDA_PL_REAL(futimens)(fd, ts), fd, was);
}

MIDA_PL_EXPORT int utimes(const char *path, const struct timeval tv[2]) {
  REAL_OR_ENOSYS(utimes);
  int64_t was = -1;
  int in = by_name_before(AT_FDCWD, path, 0, &was);
  return by_name_after(MIDA_PL_REAL(utimes)(path, tv), in, was, 0);
}

MIDA_PL_EXPORT int lutimes(const char *path, const struct timeval tv[2]) {
  REAL_OR_ENOSYS(lutimes);
  int64_t was = -1;
  int in = by_name_before(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &was);
  return by_name_after(MIDA_PL_REAL(lutimes)(path, tv), in, was,
                       AT_SYMLINK_NOFOLLOW);
}

MIDA_PL_EXPORT int futimesat(int dir, const char *path,
                             const struct timeval tv[2]) {
  REAL_OR_ENOSYS(futimesat);
  if (path == NULL) {
    int64_t at = fd_before(dir);
    return fd_after(MIDA_PL_REAL(futimesat)(dir, path, tv), dir, at);
  }
  int64_t was = -1;
  int in = by_name_before(dir, path, 0, &was);
  return by_name_after(MIDA_PL_REAL(futimesat)(dir, path, tv), in, was, 0);
}

MIDA_PL_EXPORT int futimes(int fd, const struct timeval tv[2]) {
  REAL_OR_ENOSYS(futimes);
  int64_t was = fd_before(fd);
  return fd_after(MIDA_PL_REAL(futimes)(fd, tv), fd, was);
}

MIDA_PL_EXPORT int utime(const char *path, const struct utimbuf *times) {
  REAL_OR_ENOSYS(utime);
  int64_t was = -1;
  int in = by_name_before(AT_FDCWD, path, 0, &was);
  return by_name_after(MIDA_PL_REAL(utime)(path, times), in, was, 0);
}

/*
 * names.c -- calls that change a file by name: rename (renameat,
 * renameat2), link (linkat), unlink (unlinkat, remove), truncate and
 * ftruncate, and the working directory (chdir, fchdir), which relative
 * names depend on.
 *
 * A rename gives the file's version its new name: the data keeps its
 * identity (inode and content did not change) and its URI becomes the new
 * path, so the write-a-temporary-then-rename pattern leaves the final name
 * as the data its writer generated, and the version it replaced there is
 * removed (as by an unlink). A link gives it the new name too: the
 * old one is, as often as not, a temporary about to be unlinked (git's
 * loose objects). An unlink marks the version removed, unless the file
 * has another name (it lives on there). A truncate generates a new
 * version.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>


/* Scratch paths, per thread, kept out of the program's stack. */
static __thread char tls_from[MIDA_PL_PATH]
    __attribute__((tls_model("initial-exec")));
static __thread char tls_to[MIDA_PL_PATH]
    __attribute__((tls_model("initial-exec")));

/* Whether (dir, path) is a regular file, by the path as given. */
static int is_regular_at(int dir, const char *path) {
  struct stat st;
  return fstatat(dir, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(st.st_mode);
}

/* After a successful call that names a file by (dir, path), whose
 * absolute path is too long to be kept (mida__pl_abspath): the version
 * keeps the name it had, which no longer says where it is, so a regular
 * file there is counted (run.untracked_files), as an open of such a path
 * is. */
static void name_not_followed(int dir, const char *path) {
  if (is_regular_at(dir, path))
    mida__pl_count(MIDA_PL_C_UNTRACKED);
}

/* Which call renaming() makes. */
enum rename_call { CALL_RENAME, CALL_RENAMEAT, CALL_RENAMEAT2 };

static int real_rename(int call, int olddir, const char *old, int newdir,
                       const char *new, unsigned flags) {
  if (call == CALL_RENAME)
    return MIDA_PL_REAL(rename)(old, new);
  if (call == CALL_RENAMEAT)
    return MIDA_PL_REAL(renameat)(olddir, old, newdir, new);
  return MIDA_PL_REAL(renameat2)(olddir, old, newdir, new, flags);
}

/* Renames (olddir, old) to (newdir, new) with the real call; then the
 * version takes its new name, and the one it replaced there (a regular
 * file with no other name) is recorded as removed, as unlink would. */
static int renaming(int call, int olddir, const char *old, int newdir,
                    const char *new, unsigned flags) {
  if (!mida__pl_enter())
    return real_rename(call, olddir, old, newdir, new, flags);
  int saved = errno;
  struct stat was;
  int named = mida__pl_abspath(newdir, new, tls_to) == 0 &&
              !mida__pl_is_noise(tls_to);
  int replaces = named && lstat(tls_to, &was) == 0 &&
                 S_ISREG(was.st_mode) && was.st_nlink <= 1;
  errno = saved;
  int rc = real_rename(call, olddir, old, newdir, new, flags);
  saved = errno;
  int followed = rc == 0 && mida__pl_abspath(olddir, old, tls_from) == 0 &&
                 mida__pl_abspath(newdir, new, tls_to) == 0;
  if (rc == 0 && !followed)
    name_not_followed(newdir, new);
  if (followed) {
    mida__pl_files_renamed(tls_from, tls_to);
    struct stat st;
    if (named && lstat(tls_to, &st) == 0 && S_ISREG(st.st_mode)) {
      if (replaces && (st.st_ino != was.st_ino || st.st_dev != was.st_dev))
        mida__pl_emit_named(tls_to, &was, MIDA_PL_NAME_REMOVED);
      mida__pl_emit_named(tls_to, &st, MIDA_PL_NAME_BY_RENAME);
    }
  }
  errno = saved;
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int rename(const char *old, const char *new) {
  return renaming(CALL_RENAME, AT_FDCWD, old, AT_FDCWD, new, 0);
}

MIDA_PL_EXPORT int renameat(int olddir, const char *old, int newdir,
                            const char *new) {
  return renaming(CALL_RENAMEAT, olddir, old, newdir, new, 0);
}

MIDA_PL_EXPORT int renameat2(int olddir, const char *old, int newdir,
                             const char *new, unsigned flags) {
  if (MIDA_PL_REAL(renameat2) == NULL) {
    errno = ENOSYS;
    return -1;
  }
  /* Two files swap names: both are recorded when next used. */
  if ((flags & RENAME_EXCHANGE) != 0)
    return MIDA_PL_REAL(renameat2)(olddir, old, newdir, new, flags);
  return renaming(CALL_RENAMEAT2, olddir, old, newdir, new, flags);
}

/* The descriptor a linkat of (olddir, old) with flags names: olddir with
 * AT_EMPTY_PATH and an empty old, N for "/proc/self/fd/N" followed (the
 * two ways to give an O_TMPFILE file a name); else -1. */
static int linked_fd(int olddir, const char *old, int flags) {
  static const char self_fd[] = "/proc/self/fd/";
  if ((flags & AT_EMPTY_PATH) != 0 && old[0] == '\0')
    return olddir;
  if ((flags & AT_SYMLINK_FOLLOW) == 0 ||
      strncmp(old, self_fd, sizeof self_fd - 1) != 0)
    return -1;
  int fd = 0;
  const char *p = old + sizeof self_fd - 1;
  for (; *p >= '0' && *p <= '9' && fd < MIDA_PL_FDS; p++)
    fd = fd * 10 + (*p - '0');
  return *p == '\0' && p != old + sizeof self_fd - 1 ? fd : -1;
}

/* After a successful link of a file to (newdir, new): the version is
 * named new, and so is the file of descriptor fd (linked_fd) if it had no
 * name. */
static int linked(int rc, int fd, int newdir, const char *new) {
  if (rc != 0 || !mida__pl_enter())
    return rc;
  int saved = errno;
  struct stat st;
  if (mida__pl_abspath(newdir, new, tls_to) != 0) {
    name_not_followed(newdir, new);
  } else if (!mida__pl_is_noise(tls_to) && lstat(tls_to, &st) == 0 &&
             S_ISREG(st.st_mode)) {
    mida__pl_emit_named(tls_to, &st, MIDA_PL_NAME_BY_LINK);
    if (fd >= 0)
      mida__pl_files_named(fd, tls_to);
  }
  errno = saved;
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int link(const char *old, const char *new) {
  return linked(MIDA_PL_REAL(link)(old, new), -1, AT_FDCWD, new);
}

MIDA_PL_EXPORT int linkat(int olddir, const char *old, int newdir,
                          const char *new, int flags) {
  int rc = MIDA_PL_REAL(linkat)(olddir, old, newdir, new, flags);
  return linked(rc, rc == 0 ? linked_fd(olddir, old, flags) : -1, newdir,
                new);
}

/* Unlinks (dir, path) with the real call; a regular file that is not noise
 * and has no other name is recorded as removed. */
static int removing(int dir, const char *path, int at_flags,
                    int (*call)(int, const char *, int, void *), void *ctx) {
  if (!mida__pl_enter())
    return call(dir, path, at_flags, ctx);
  int saved = errno;
  struct stat st;
  int named = (at_flags & AT_REMOVEDIR) == 0 &&
              mida__pl_abspath(dir, path, tls_from) == 0;
  int known = named && !mida__pl_is_noise(tls_from) &&
              lstat(tls_from, &st) == 0 && S_ISREG(st.st_mode) &&
              st.st_nlink <= 1;
  /* A name too long to keep: counted once it is gone (name_not_followed). */
  int lost = !named && (at_flags & AT_REMOVEDIR) == 0 &&
             is_regular_at(dir, path);
  errno = saved;
  int rc = call(dir, path, at_flags, ctx);
  saved = errno;
  if (rc == 0 && known)
    mida__pl_emit_named(tls_from, &st, MIDA_PL_NAME_REMOVED);
  if (rc == 0 && lost)
    mida__pl_count(MIDA_PL_C_UNTRACKED);
  errno = saved;
  mida__pl_leave();
  return rc;
}

static int call_unlink(int dir, const char *path, int flags, void *ctx) {
  (void)dir, (void)flags, (void)ctx;
  return MIDA_PL_REAL(unlink)(path);
}

static int call_unlinkat(int dir, const char *path, int flags, void *ctx) {
  (void)ctx;
  return MIDA_PL_REAL(unlinkat)(dir, path, flags);
}

static int call_remove(int dir, const char *path, int flags, void *ctx) {
  (void)dir, (void)flags, (void)ctx;
  return MIDA_PL_REAL(remove)(path);
}

MIDA_PL_EXPORT int unlink(const char *path) {
  return removing(AT_FDCWD, path, 0, call_unlink, NULL);
}

MIDA_PL_EXPORT int unlinkat(int dir, const char *path, int flags) {
  return removing(dir, path, flags, call_unlinkat, NULL);
}

MIDA_PL_EXPORT int remove(const char *path) {
  return removing(AT_FDCWD, path, 0, call_remove, NULL);
}

/* After a successful truncate(path): a new version, generated. */
static int truncated(int rc, const char *path) {
  if (rc == 0)
    mida__pl_files_changed();
  if (rc != 0 || !mida__pl_enter())
    return rc;
  int saved = errno;
  struct stat st;
  if (mida__pl_abspath(AT_FDCWD, path, tls_to) != 0)
    name_not_followed(AT_FDCWD, path);
  else if (!mida__pl_is_noise(tls_to) && stat(tls_to, &st) == 0 &&
           S_ISREG(st.st_mode))
    mida__pl_emit_link(&mida__pl.task, tls_to, &st, MIDA_GENERATED, -1);
  errno = saved;
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int truncate(const char *path, off_t len) {
  return truncated(MIDA_PL_REAL(truncate)(path, len), path);
}

MIDA_PL_EXPORT int truncate64(const char *path, off_t len) {
  if (MIDA_PL_REAL(truncate64) == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return truncated(MIDA_PL_REAL(truncate64)(path, len), path);
}

/* After ftruncate(fd): its entry marked truncated, and any kept fstat
 * made stale (a writer opened with O_TRUNC is marked from its open, so
 * the mark alone would not change what files.c's own_writes() sums). */
static int ftruncated(int rc, int fd) {
  if (rc == 0)
    mida__pl_files_changed();
  mida__pl_file *f = rc == 0 ? mida__pl_file_of(fd) : NULL;
  if (f != NULL)
    atomic_fetch_or_explicit(&f->marks, MIDA_PL_TRUNCATED,
                             memory_order_relaxed);
  return rc;
}

MIDA_PL_EXPORT int ftruncate(int fd, off_t len) {
  return ftruncated(MIDA_PL_REAL(ftruncate)(fd, len), fd);
}

MIDA_PL_EXPORT int ftruncate64(int fd, off_t len) {
  if (MIDA_PL_REAL(ftruncate64) == NULL) {
    errno = ENOSYS;
    return -1;
  }
  return ftruncated(MIDA_PL_REAL(ftruncate64)(fd, len), fd);
}

MIDA_PL_EXPORT int chdir(const char *path) {
  int rc = MIDA_PL_REAL(chdir)(path);
  if (rc == 0)
    mida__pl_cwd_changed();
  return rc;
}

MIDA_PL_EXPORT int fchdir(int fd) {
  int rc = MIDA_PL_REAL(fchdir)(fd);
  if (rc == 0)
    mida__pl_cwd_changed();
  return rc;
}

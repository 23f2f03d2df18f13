/*
 * spool_dir.c -- makes and checks a spool directory (spool_dir.h).
 *
 * The attack this stops: another local user makes the default spool path
 * (/tmp/mida-spool-<uid>) first, as a directory of theirs or as a link to
 * one, drops a forged segment in it, and waits for the victim's next
 * session to ship it into the victim's store; or renames the victim's
 * unshipped journals away. So the parent is opened (following the links
 * above it, which only root or the user could have made), checked with
 * fstat, and the spool itself is made and opened relative to it with
 * O_NOFOLLOW and checked again on its descriptor.
 */
#include "capture/spool_dir.h"

#include "core/alloc.h"
#include "core/errors.h"
#include "mida.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* mkdir -p with mode 0700 for the directories it creates. Returns MIDA_OK,
 * MIDA_EIO with errno, or MIDA_ENOMEM. */
static int make_dirs(const char *dir) {
  char *copy = mida__strdup(dir);
  if (copy == NULL)
    return MIDA_ENOMEM;
  int rc = MIDA_OK;
  for (char *p = copy + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char c = *p;
    *p = '\0';
    if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
      rc = MIDA_EIO;
      break;
    }
    *p = c;
    if (c == '\0')
      break;
  }
  mida__free(copy);
  return rc;
}

/* Why the directory described by st cannot hold this user's spool, or NULL
 * when it can: only this user, root, and (by the owner's choice) its group
 * can rename entries in it. */
static const char *parent_problem(const struct stat *st, uid_t me) {
  if (st->st_uid != me && st->st_uid != 0)
    return "belongs to another user";
  if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))
    return "is writable by every user and not sticky";
  return NULL;
}

int mida__spool_dir_prepare(const char *dir, bool create, char *err,
                            size_t errlen) {
  mida__errbuf_set(err, errlen, "%s", "");
  size_t len = strlen(dir);
  while (len > 1 && dir[len - 1] == '/')
    len--; /* "spool/" names "spool" */
  char *parent = mida__malloc(len + 2);
  if (parent == NULL) {
    mida__errbuf_set(err, errlen, "out of memory checking the spool %s", dir);
    return MIDA_ENOMEM;
  }
  memcpy(parent, dir, len);
  parent[len] = '\0';
  char *slash = strrchr(parent, '/');
  const char *last = slash != NULL ? slash + 1 : parent;
  if (slash == parent) {
    memmove(parent + 2, parent + 1, len); /* "/x" -> "/\0x" */
    parent[1] = '\0';
    last = parent + 2;
  } else if (slash != NULL) {
    *slash = '\0';
  }
  const char *parent_path = slash != NULL ? parent : ".";
  int rc = MIDA_EIO;
  int pfd = -1, fd = -1;
  uid_t me = geteuid();
  struct stat st;
  if (last[0] == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
    errno = EINVAL;
    mida__errbuf_set(
        err, errlen,
        "spool directory %s: name the directory itself, not / . or ..", dir);
    goto out;
  }
  if (create && slash != NULL) {
    rc = make_dirs(parent_path);
    if (rc != MIDA_OK) {
      int e = errno;
      mida__errbuf_set(err, errlen, "cannot create spool directory %s: %s", dir,
                       rc == MIDA_ENOMEM ? "out of memory" : strerror(e));
      errno = e;
      goto out;
    }
    rc = MIDA_EIO;
  }
  /* A link as the parent is followed only if this user or root made it:
   * in /tmp anyone can make /tmp/mida-spool-<uid> a link to their own
   * directory (or to one of the victim's), and fs.protected_symlinks is
   * not everywhere on. */
  if (lstat(parent_path, &st) == 0 && S_ISLNK(st.st_mode) &&
      st.st_uid != me && st.st_uid != 0) {
    mida__errbuf_set(
        err, errlen,
        "refusing the spool %s: its parent %s is a symbolic link made "
        "by uid %lu, not by you (uid %lu); remove it, or set MIDA_SPOOL "
        "to a directory of your own",
        dir, parent_path, (unsigned long)st.st_uid, (unsigned long)me);
    errno = EPERM;
    goto out;
  }
  pfd = open(parent_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) {
    int e = errno;
    if (e == ENOENT && !create) {
      rc = MIDA_ENOTFOUND;
      goto out;
    }
    mida__errbuf_set(err, errlen,
                     "cannot open %s, the parent of the spool %s: %s",
                     parent_path, dir, strerror(e));
    errno = e;
    goto out;
  }
  const char *why = fstat(pfd, &st) != 0 ? strerror(errno)
                                          : parent_problem(&st, me);
  if (why != NULL) {
    mida__errbuf_set(
        err, errlen,
        "refusing the spool %s: its parent %s %s (uid %lu; you are "
        "uid %lu), so another user could swap or fill it; set "
        "MIDA_SPOOL to a directory of your own",
        dir, parent_path, why, (unsigned long)st.st_uid, (unsigned long)me);
    errno = EPERM;
    goto out;
  }
  if (create && mkdirat(pfd, last, 0700) != 0 && errno != EEXIST) {
    int e = errno;
    mida__errbuf_set(err, errlen, "cannot create spool directory %s: %s", dir,
                     strerror(e));
    errno = e;
    goto out;
  }
  fd = openat(pfd, last, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    bool link = fstatat(pfd, last, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode);
    if (e == ENOENT && !create) {
      rc = MIDA_ENOTFOUND;
      goto out;
    }
    if (link)
      mida__errbuf_set(
          err, errlen,
          "refusing the spool %s: it is a symbolic link (to a directory "
          "someone else may own); remove it, or set MIDA_SPOOL to a "
          "directory of your own",
          dir);
    else
      mida__errbuf_set(err, errlen, "cannot open spool directory %s: %s", dir,
                       strerror(e));
    errno = link ? ELOOP : e;
    goto out;
  }
  if (fstat(fd, &st) != 0) {
    int e = errno;
    mida__errbuf_set(err, errlen, "cannot stat spool directory %s: %s", dir,
                     strerror(e));
    errno = e;
    goto out;
  }
  if (st.st_uid != me) {
    mida__errbuf_set(
        err, errlen,
        "refusing the spool %s: it belongs to uid %lu, not to you (uid "
        "%lu), so its journals could be forged; remove it, or set "
        "MIDA_SPOOL to a directory of your own",
        dir, (unsigned long)st.st_uid, (unsigned long)me);
    errno = EPERM;
    goto out;
  }
  /* Readable by others leaks argv and parameters, writable lets them
   * forge; only the latter is refused when the mode cannot be changed
   * (a read-only file system fails later with its own message). */
  if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) != 0 &&
      (st.st_mode & 022) != 0) {
    int e = errno;
    mida__errbuf_set(
        err, errlen,
        "refusing the spool %s: other users may use it (mode %04o) and "
        "it cannot be made private: %s",
        dir, (unsigned)(st.st_mode & 07777), strerror(e));
    errno = e;
    goto out;
  }
  rc = MIDA_OK;
out:
  if (fd >= 0)
    close(fd);
  if (pfd >= 0)
    close(pfd);
  mida__free(parent);
  return rc;
}

int mida__spool_open_segment(const char *path, int flags) {
  int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  struct stat st;
  int e = 0;
  if (fstat(fd, &st) != 0)
    e = errno;
  else if (!S_ISREG(st.st_mode))
    e = EINVAL;
  else if (st.st_uid != geteuid())
    e = EPERM;
  if (e != 0) {
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

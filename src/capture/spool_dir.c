/*
 * spool_dir.c -- makes and checks a spool directory (spool_dir.h).
 *
 * The attack this stops: another local user makes the default spool path
 * (/tmp/mida-spool-<uid>) first, as a directory of theirs or as a link to
 * one, drops a forged segment in it, and waits for the victim's next
 * session to ship it into the victim's store; or renames the victim's
 * unshipped journals away. Whoever can rename an entry in any directory
 * above the spool can swap the whole path below it, at any time after it
 * was checked (segments are opened by name later), so the parent is
 * reached one component at a time from / (openat with O_NOFOLLOW, as
 * OpenSSH's secure-path check walks up): every directory on the way must
 * belong to the user or root and not be writable by everyone unless
 * sticky, and a link on the way is followed only if the user or root made
 * it (then its target is walked the same way). The spool itself is made
 * and opened relative to the parent with O_NOFOLLOW and checked again on
 * its descriptor.
 */
#include "capture/spool_dir.h"

#include "core/alloc.h"
#include "core/errors.h"
#include "mida.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* Why the directory described by st cannot be on the path of this user's
 * spool, or NULL when it can: only this user, root, and (by the owner's
 * choice) its group can rename entries in it. */
static const char *parent_problem(const struct stat *st, uid_t me) {
  if (st->st_uid != me && st->st_uid != 0)
    return "belongs to another user";
  if ((st->st_mode & S_IWOTH) && !(st->st_mode & S_ISVTX))
    return "is writable by every user and not sticky";
  return NULL;
}

/* The most links followed on the way to the parent (Linux's own bound). */
#define MAX_LINKS 40

/* A new string: head, "/", tail (head alone when tail is empty), or NULL
 * when out of memory. Freed with mida__free. */
static char *join_path(const char *head, const char *tail) {
  size_t hl = strlen(head), tl = strlen(tail);
  char *s = mida__malloc(hl + tl + 2);
  if (s == NULL)
    return NULL;
  memcpy(s, head, hl);
  s[hl] = '/';
  memcpy(s + hl + 1, tail, tl + 1);
  if (tl == 0)
    s[hl] = '\0';
  return s;
}

/* Appends name to the absolute path shown (of size PATH_MAX), or removes
 * its last component for "..". For messages only. */
static void shown_step(char *shown, const char *name) {
  size_t len = strlen(shown);
  if (strcmp(name, "..") == 0) {
    char *slash = strrchr(shown, '/');
    if (slash != NULL)
      slash[slash == shown ? 1 : 0] = '\0';
  } else if (len + strlen(name) + 2 < PATH_MAX) {
    snprintf(shown + len, PATH_MAX - len, "%s%s",
             len > 0 && shown[len - 1] == '/' ? "" : "/", name);
  }
}

/* Opens the directory path (the parent of the spool dir) into *out, walking
 * it from / one component at a time as the file header says. Returns
 * MIDA_OK; MIDA_ENOTFOUND when a component is missing and !create;
 * MIDA_EIO with the reason in err and errno; or MIDA_ENOMEM. */
static int open_parent(const char *path, const char *dir, bool create, uid_t me,
                       int *out, char *err, size_t errlen) {
  *out = -1;
  char shown[PATH_MAX] = "/";
  char *rest;
  if (path[0] == '/') {
    rest = mida__strdup(path);
  } else {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) {
      int e = errno;
      mida__errbuf_set(err, errlen,
                       "cannot check the spool %s: the current directory "
                       "is unknown: %s",
                       dir, strerror(e));
      errno = e;
      return MIDA_EIO;
    }
    rest = join_path(cwd, path);
  }
  int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rest == NULL || fd < 0) {
    int e = rest == NULL ? ENOMEM : errno;
    mida__errbuf_set(err, errlen, "cannot check the spool %s: %s", dir,
                     strerror(e));
    mida__free(rest);
    if (fd >= 0)
      close(fd);
    errno = e;
    return rest == NULL ? MIDA_ENOMEM : MIDA_EIO;
  }
  int rc = MIDA_OK, links = 0;
  char *p = rest;
  struct stat st;
  const char *why =
      fstat(fd, &st) != 0 ? strerror(errno) : parent_problem(&st, me);
  while (rc == MIDA_OK && why == NULL) {
    while (*p == '/')
      p++;
    if (*p == '\0')
      break;
    char *name = p;
    p += strcspn(p, "/");
    if (*p == '/')
      *p++ = '\0';
    if (strcmp(name, ".") == 0)
      continue;
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      /* A link in a directory that only trusted users can change is as
       * trusted as whoever made it. */
      shown_step(shown, name);
      char target[PATH_MAX];
      ssize_t n = -1;
      if (st.st_uid != me && st.st_uid != 0) {
        mida__errbuf_set(
            err, errlen,
            "refusing the spool %s: %s, on its path, is a symbolic link "
            "made by uid %lu, not by you (uid %lu); remove it, or set "
            "MIDA_SPOOL to a directory of your own",
            dir, shown, (unsigned long)st.st_uid, (unsigned long)me);
        errno = EPERM;
        rc = MIDA_EIO;
      } else if (++links > MAX_LINKS ||
                 (n = readlinkat(fd, name, target, sizeof target - 1)) < 0) {
        int e = n < 0 && links <= MAX_LINKS ? errno : ELOOP;
        mida__errbuf_set(err, errlen, "cannot check the spool %s: %s: %s", dir,
                         shown, strerror(e));
        errno = e;
        rc = MIDA_EIO;
      } else {
        target[n] = '\0';
        char *next = join_path(target, p);
        if (next == NULL) {
          rc = MIDA_ENOMEM;
          mida__errbuf_set(err, errlen, "out of memory checking the spool %s",
                           dir);
          break;
        }
        mida__free(rest);
        rest = p = next;
        shown_step(shown, "..");
        if (target[0] == '/') {
          int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (root >= 0) {
            close(fd);
            fd = root;
            snprintf(shown, sizeof shown, "/");
          }
        }
      }
      continue;
    }
    int next =
        openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    shown_step(shown, name);
    if (next < 0) {
      int e = errno;
      if (e == ENOENT && !create) {
        rc = MIDA_ENOTFOUND;
        break;
      }
      mida__errbuf_set(err, errlen,
                       "cannot open %s, on the path of the spool %s: %s", shown,
                       dir, strerror(e));
      errno = e;
      rc = MIDA_EIO;
      break;
    }
    close(fd);
    fd = next;
    why = fstat(fd, &st) != 0 ? strerror(errno) : parent_problem(&st, me);
  }
  if (rc == MIDA_OK && why != NULL) {
    mida__errbuf_set(
        err, errlen,
        "refusing the spool %s: %s, on its path, %s (uid %lu; you are "
        "uid %lu), so another user could swap or fill it; set MIDA_SPOOL "
        "to a directory of your own",
        dir, shown, why, (unsigned long)st.st_uid, (unsigned long)me);
    errno = EPERM;
    rc = MIDA_EIO;
  }
  mida__free(rest);
  if (rc != MIDA_OK) {
    int e = errno;
    close(fd);
    errno = e;
    return rc;
  }
  *out = fd;
  return MIDA_OK;
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
  rc = open_parent(parent_path, dir, create, me, &pfd, err, errlen);
  if (rc != MIDA_OK)
    goto out;
  rc = MIDA_EIO;
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
  struct stat st;
  return mida__spool_open_segment_stat(path, flags, &st);
}

int mida__spool_open_segment_stat(const char *path, int flags,
                                  struct stat *st) {
  int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int e = 0;
  if (fstat(fd, st) != 0)
    e = errno;
  else if (!S_ISREG(st->st_mode))
    e = EINVAL;
  else if (st->st_uid != geteuid())
    e = EPERM;
  if (e != 0) {
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/*
 * sqlite_immutable.c -- whether a reader opens an SQLite store as an
 * unchanging file, and the URI that does (sqlite_immutable.h says why).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* AT_EACCESS */
#endif

#include "sink/sqlite_immutable.h"

#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Whether the file path followed by suffix may be there: only a name that
 * is certainly absent says no, so that any doubt keeps the usual open. */
static int may_be_beside(const char *path, const char *suffix) {
  char name[4096];
  int n = snprintf(name, sizeof name, "%s%s", path, suffix);
  if (n < 0 || (size_t)n >= sizeof name)
    return 1;
  return access(name, F_OK) == 0 || errno != ENOENT;
}

/* Whether this process (its effective ids) may make a file in the
 * directory that holds path. */
static int directory_writable(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (slash == NULL)
    return faccessat(AT_FDCWD, ".", W_OK, AT_EACCESS) == 0;
  size_t len = slash == path ? 1 : (size_t)(slash - path);
  if (len >= sizeof dir)
    return 1;
  memcpy(dir, path, len);
  dir[len] = '\0';
  return faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) == 0;
}

/* `file:` and path, percent-encoded but for the characters that need
 * none, then `?immutable=1` (SQLite would end the path at a `?` or `#`
 * and decode a `%`), to free with mida__free(); NULL without memory. An
 * absolute path gets an empty authority (`file:///d/x.db`), so that one
 * starting `//` is not taken for a host. */
static char *immutable_uri(const char *path) {
  static const char hex[] = "0123456789ABCDEF";
  static const char head_abs[] = "file://", head_rel[] = "file:";
  static const char tail[] = "?immutable=1";
  const char *head = path[0] == '/' ? head_abs : head_rel;
  size_t n = strlen(head);
  char *uri = mida__malloc(n + 3 * strlen(path) + sizeof tail);
  if (uri == NULL)
    return NULL;
  memcpy(uri, head, n);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
        (*p >= '0' && *p <= '9') || strchr("/._-~", *p) != NULL) {
      uri[n++] = (char)*p;
    } else {
      uri[n++] = '%';
      uri[n++] = hex[*p >> 4];
      uri[n++] = hex[*p & 15];
    }
  }
  memcpy(uri + n, tail, sizeof tail);
  return uri;
}

char *mida__sqlite_immutable_uri(const char *path) {
  /* A rollback journal beside it (a store of another tool, left by a
   * writer that died) holds what the file's pages must be rolled back
   * to: the usual open reads it. */
  if (path == NULL || path[0] == '\0' || may_be_beside(path, "-wal") ||
      may_be_beside(path, "-shm") || may_be_beside(path, "-journal") ||
      directory_writable(path))
    return NULL;
  return immutable_uri(path);
}

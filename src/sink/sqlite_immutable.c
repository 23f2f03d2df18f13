/*
 * sqlite_immutable.c -- whether a reader opens an SQLite store as an
 * unchanging file, and the URI that does (sqlite_immutable.h says why).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* AT_EACCESS */
#endif

#include "sink/sqlite_immutable.h"

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

/* Writes `file:` and path, percent-encoded but for the characters that
 * need none, then `?immutable=1`: SQLite would end the path at a `?` or
 * `#` and decode a `%`. An absolute path gets an empty authority
 * (`file:///d/x.db`), so that one starting `//` is not taken for a host.
 * Returns 0, or -1 when it does not fit in len bytes. */
static int write_uri(const char *path, char *uri, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = 0;
  const char *head = path[0] == '/' ? "file://" : "file:";
  const char *tail = "?immutable=1";
  if (strlen(head) + 1 > len)
    return -1;
  memcpy(uri, head, strlen(head));
  n = strlen(head);
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("/._-~", *p) != NULL;
    if (n + (plain ? 1 : 3) >= len)
      return -1;
    if (plain) {
      uri[n++] = (char)*p;
    } else {
      uri[n++] = '%';
      uri[n++] = hex[*p >> 4];
      uri[n++] = hex[*p & 15];
    }
  }
  if (n + strlen(tail) + 1 > len)
    return -1;
  memcpy(uri + n, tail, strlen(tail) + 1);
  return 0;
}

int mida__sqlite_immutable_uri(const char *path, char *uri, size_t urilen) {
  /* A rollback journal beside it (a store of another tool, left by a
   * writer that died) holds what the file's pages must be rolled back
   * to: the usual open reads it. */
  if (path == NULL || path[0] == '\0' || may_be_beside(path, "-wal") ||
      may_be_beside(path, "-shm") || may_be_beside(path, "-journal") ||
      directory_writable(path))
    return 0;
  return write_uri(path, uri, urilen) == 0;
}

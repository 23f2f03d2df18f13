/*
 * fileid.c -- file URIs and file version ids (see fileid.h).
 */
#include "core/fileid.h"
#include "core/hex.h"

#include "mida.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Whether byte c stands for itself in a URI path (RFC 3986 pchar or '/').
 * A switch, not strchr(): the preload library encodes a URI for every file
 * a program closes. */
static int uri_plain(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
      (c >= '0' && c <= '9'))
    return 1;
  switch (c) {
  case '-': case '.': case '_': case '~': case '!': case '$': case '&':
  case '\'': case '(': case ')': case '*': case '+': case ',': case ';':
  case '=': case ':': case '@': case '/':
    return 1;
  default:
    return 0;
  }
}

size_t mida__file_uri_len(const char *path) {
  size_t n = 7; /* file:// */
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    n += uri_plain(*p) ? 1 : 3;
  return n;
}

void mida__file_uri_write(char *out, const char *path) {
  static const char hex[] = "0123456789ABCDEF";
  memcpy(out, "file://", 7);
  out += 7;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (uri_plain(*p)) {
      *out++ = (char)*p;
    } else {
      *out++ = '%';
      *out++ = hex[*p >> 4];
      *out++ = hex[*p & 15];
    }
  }
}

int mida__file_uri(const char *path, char *buf, size_t cap) {
  size_t n = mida__file_uri_len(path);
  if (n >= cap)
    return MIDA_ETOOBIG;
  mida__file_uri_write(buf, path);
  buf[n] = '\0';
  return MIDA_OK;
}

int mida__file_uri_path(const char *ref, char *buf, size_t cap) {
  if (ref == NULL || cap == 0)
    return MIDA_EINVAL;
  const char *p = ref;
  int encoded = 0;
  if (strncmp(p, "file://", 7) == 0) {
    p += 7;
    if (strncmp(p, "localhost/", 10) == 0)
      p += 9;
    encoded = 1;
  }
  if (p[0] != '/')
    return MIDA_EINVAL;
  size_t n = 0;
  while (*p != '\0') {
    char c = *p++;
    if (encoded && c == '%') {
      int hi = mida__hex_value(p[0]), lo = hi < 0 ? -1 : mida__hex_value(p[1]);
      if (lo < 0 || (hi == 0 && lo == 0))
        return MIDA_EINVAL;
      c = (char)(hi * 16 + lo);
      p += 2;
    } else if (encoded && (c == '?' || c == '#')) {
      return MIDA_EINVAL; /* a query or fragment names no file */
    }
    if (n + 1 >= cap)
      return MIDA_ETOOBIG;
    buf[n++] = c;
  }
  buf[n] = '\0';
  return MIDA_OK;
}

/* Writes v in decimal at p; returns the end. */
static char *put_decimal(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0)
    *p++ = tmp[--n];
  return p;
}

int mida__file_version_id(const struct stat *st, char *buf, size_t cap) {
  /* By hand, not snprintf(): on the preload library's close path. */
  char id[6 + 4 * 21];
  char *p = id;
  memcpy(p, "inode:", 6);
  p = put_decimal(p + 6, (uint64_t)st->st_dev);
  *p++ = ':';
  p = put_decimal(p, (uint64_t)st->st_ino);
  *p++ = ':';
  p = put_decimal(p, (uint64_t)((int64_t)st->st_mtim.tv_sec * 1000000000 +
                                st->st_mtim.tv_nsec));
  *p++ = ':';
  p = put_decimal(p, (uint64_t)st->st_size);
  size_t n = (size_t)(p - id);
  if (n >= cap)
    return MIDA_ETOOBIG;
  memcpy(buf, id, n);
  buf[n] = '\0';
  return MIDA_OK;
}

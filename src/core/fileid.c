/*
 * fileid.c -- file URIs and file version ids (see fileid.h).
 */
#include "core/fileid.h"
#include "core/hex.h"

#include "mida.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The bytes each byte takes in a URI path: 1 where it stands for itself
 * (an RFC 3986 pchar or '/': letters, digits and -._~!$&'()*+,;=:@/), 3
 * where it is percent-encoded. A table, not a switch or strchr(): the
 * preload library encodes a URI for every file a program closes, and this
 * makes it one load and one add per byte. */
static const unsigned char uri_width[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x00 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x10 */
    3, 1, 3, 3, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 3, 3, /* 0x30 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 1, /* 0x50 */
    3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 1, 3, /* 0x70 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x80 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x90 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xa0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xb0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xc0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xd0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xe0 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0xf0 */
};

size_t mida__file_uri_len(const char *path) {
  size_t n = 7; /* file:// */
  for (const unsigned char *p = (const unsigned char *)path; *p; p++)
    n += uri_width[*p];
  return n;
}

void mida__file_uri_write(char *out, const char *path) {
  static const char hex[] = "0123456789ABCDEF";
  memcpy(out, "file://", 7);
  out += 7;
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (uri_width[*p] == 1) {
      *out++ = (char)*p;
    } else {
      *out++ = '%';
      *out++ = hex[*p >> 4];
      *out++ = hex[*p & 15];
    }
  }
}

void mida__file_uri_write_len(char *out, const char *path, size_t uri_len) {
  size_t plen = strlen(path);
  if (uri_len != 7 + plen) {
    mida__file_uri_write(out, path);
    return;
  }
  memcpy(out, "file://", 7); /* nothing to encode: a copy */
  memcpy(out + 7, path, plen);
}

int mida__file_uri(const char *path, char *buf, size_t cap) {
  size_t n = mida__file_uri_len(path);
  if (n >= cap)
    return MIDA_ETOOBIG;
  mida__file_uri_write_len(buf, path, n);
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

/* Writes v in decimal at p; returns the end. Its digits are counted
 * first (from its highest bit), then written from the last, eight then two
 * a step from a table, in place: a version id has four numbers of up to 20
 * digits, on the preload library's close path. */
static char *put_decimal(char *p, uint64_t v) {
  static const char pairs[201] = "0001020304050607080910111213141516171819"
                                 "2021222324252627282930313233343536373839"
                                 "4041424344454647484950515253545556575859"
                                 "6061626364656667686970717273747576777879"
                                 "8081828384858687888990919293949596979899";
  static const uint64_t pow10[20] = {
      1ull,
      10ull,
      100ull,
      1000ull,
      10000ull,
      100000ull,
      1000000ull,
      10000000ull,
      100000000ull,
      1000000000ull,
      10000000000ull,
      100000000000ull,
      1000000000000ull,
      10000000000000ull,
      100000000000000ull,
      1000000000000000ull,
      10000000000000000ull,
      100000000000000000ull,
      1000000000000000000ull,
      10000000000000000000ull,
  };
  /* log10 from log2 (1233 / 4096 ~ log10(2)), then one comparison. */
  int bits = 64 - __builtin_clzll(v | 1);
  int digits = (bits * 1233) >> 12;
  if (digits < 20 && v >= pow10[digits])
    digits++;
  if (digits == 0)
    digits = 1;
  char *end = p + digits;
  char *q = end;
  /* Eight digits at a time in 32-bit arithmetic, then pairs. */
  while (v >= 100000000) {
    uint32_t low = (uint32_t)(v % 100000000);
    v /= 100000000;
    uint32_t hi4 = low / 10000, lo4 = low % 10000;
    q -= 8;
    memcpy(q, pairs + 2 * (hi4 / 100), 2);
    memcpy(q + 2, pairs + 2 * (hi4 % 100), 2);
    memcpy(q + 4, pairs + 2 * (lo4 / 100), 2);
    memcpy(q + 6, pairs + 2 * (lo4 % 100), 2);
  }
  uint32_t w = (uint32_t)v;
  while (w >= 100) {
    q -= 2;
    memcpy(q, pairs + 2 * (w % 100), 2);
    w /= 100;
  }
  if (w >= 10) {
    memcpy(q - 2, pairs + 2 * w, 2);
  } else {
    q[-1] = (char)('0' + w);
  }
  return end;
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

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
  size_t path_len;
  return mida__file_uri_measure(path, &path_len);
}

#if defined(__SSE2__)
/* Whether each of the 16 bytes at p stands for itself in a URI's path
 * (those most paths are made of; fileid.h). */
static int plain16(const unsigned char *p) {
  __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
  return mida__uri_plain_mask16(x) == 0xFFFFu;
}
#endif

size_t mida__file_uri_measure(const char *path, size_t *path_len) {
  const unsigned char *p = (const unsigned char *)path;
  size_t len = strlen(path);
  size_t n = 7 + len; /* file:// */
  size_t i = 0;
#if defined(__SSE2__)
  /* Sixteen plain bytes at a time (one byte a step measured most of the
   * preload library's link record); the rest one at a time. */
  for (; i + 16 <= len && plain16(p + i); i += 16) {
  }
#endif
  for (; i < len; i++)
    n += uri_width[p[i]] - 1u;
  *path_len = len;
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
  mida__file_uri_write_known(out, path, strlen(path), uri_len);
}

void mida__file_uri_write_known(char *out, const char *path, size_t plen,
                                size_t uri_len) {
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

/* The eight decimal digits of v (< 100,000,000), leading zeros included,
 * as eight bytes of a word from its lowest (the first digit) up, not yet
 * ASCII: the two halves of four digits in its 32-bit lanes, then pairs in
 * 16-bit lanes, then digits in bytes, each split by a multiplication and a
 * shift that divide every lane at once (10486 / 2^20 is 1/100 and 103 /
 * 2^10 is 1/10, exactly, for the values a lane can hold). */
static uint64_t digits8(uint32_t v) {
  uint64_t y = (uint64_t)(v / 10000) | ((uint64_t)(v % 10000) << 32);
  uint64_t h = ((y * 10486) >> 20) & 0x0000007F0000007Full;
  uint64_t z = h | ((y - h * 100) << 16);
  uint64_t t = ((z * 103) >> 10) & 0x000F000F000F000Full;
  return t | ((z - t * 10) << 8);
}

/* Stores the eight bytes of w at p, its lowest byte first. */
static void store8(char *p, uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  memcpy(p, &w, 8);
}

/* Writes v < 100,000,000 in decimal at p, without leading zeros, and
 * returns the end; always stores eight bytes at p. */
static inline __attribute__((always_inline)) char *put_short(char *p,
                                                             uint32_t v) {
  uint64_t d = digits8(v);
  /* Leading zeros are the lowest zero bytes; "0" keeps its last one. */
  int zeros = d == 0 ? 7 : __builtin_ctzll(d) / 8;
  store8(p, (d >> (8 * zeros)) + 0x3030303030303030ull);
  return p + 8 - zeros;
}

/* The two digits of each number under 100, "00" to "99". */
static const char digit_pairs[] =
    "000102030405060708091011121314151617181920212223242526272829"
    "303132333435363738394041424344454647484950515253545556575859"
    "606162636465666768697071727374757677787980818283848586878889"
    "90919293949596979899";

/* Writes v < 10,000 in decimal at p, without leading zeros, and returns
 * the end: a size, a device number or the first digits of a time take a
 * table's pair or two, not the eight digits of put_short. */
static inline __attribute__((always_inline)) char *put_small(char *p,
                                                             uint32_t v) {
  if (v < 100) {
    if (v < 10) {
      *p = (char)('0' + v);
      return p + 1;
    }
    memcpy(p, digit_pairs + 2 * v, 2);
    return p + 2;
  }
  uint32_t high = v / 100, low = v % 100;
  if (high < 10) {
    *p = (char)('0' + high);
    memcpy(p + 1, digit_pairs + 2 * low, 2);
    return p + 3;
  }
  memcpy(p, digit_pairs + 2 * high, 2);
  memcpy(p + 2, digit_pairs + 2 * low, 2);
  return p + 4;
}

/* Writes v in decimal at p and returns the end; stores up to 24 bytes at
 * p (slack past the end that a later write overwrites). By eight digits
 * at a time (digits8), not a digit or a pair at a time: a version id has
 * four numbers of up to 20 digits, on the preload library's close path;
 * under 10,000 by pairs (put_small). */
static inline __attribute__((always_inline)) char *put_decimal(char *p,
                                                               uint64_t v) {
  if (v < 10000)
    return put_small(p, (uint32_t)v);
  if (v < 1000000) {
    /* A device number's five or six digits: two, then four by pairs. */
    uint32_t high = (uint32_t)v / 10000, low = (uint32_t)v % 10000;
    p = put_small(p, high);
    memcpy(p, digit_pairs + 2 * (low / 100), 2);
    memcpy(p + 2, digit_pairs + 2 * (low % 100), 2);
    return p + 4;
  }
  if (v < 100000000)
    return put_short(p, (uint32_t)v);
  uint32_t low = (uint32_t)(v % 100000000);
  uint64_t high = v / 100000000;
  if (high < 100000000) {
    p = put_short(p, (uint32_t)high);
  } else {
    p = put_small(p, (uint32_t)(high / 100000000)); /* < 1845 */
    store8(p, digits8((uint32_t)(high % 100000000)) + 0x3030303030303030ull);
    p += 8;
  }
  store8(p, digits8(low) + 0x3030303030303030ull);
  return p + 8;
}

size_t mida__file_version_id_write(char *out, const struct stat *st) {
  char *p = out;
  memcpy(p, "inode:", 6);
  p = put_decimal(p + 6, (uint64_t)st->st_dev);
  *p++ = ':';
  p = put_decimal(p, (uint64_t)st->st_ino);
  *p++ = ':';
  /* In unsigned arithmetic: the same bits as the signed sum wherever that
   * is defined, and defined past the year 2262 too. */
  p = put_decimal(p, (uint64_t)st->st_mtim.tv_sec * 1000000000u +
                         (uint64_t)st->st_mtim.tv_nsec);
  *p++ = ':';
  p = put_decimal(p, (uint64_t)st->st_size);
  *p = '\0';
  return (size_t)(p - out);
}

int mida__file_version_id(const struct stat *st, char *buf, size_t cap) {
  char id[MIDA_FILE_VERSION_ID_BYTES];
  size_t n = mida__file_version_id_write(id, st);
  if (n >= cap)
    return MIDA_ETOOBIG;
  memcpy(buf, id, n + 1);
  return MIDA_OK;
}

/*
 * utf8.h -- whether bytes are UTF-8: the one check that the JSON writer
 * and reader, the DOT writer and the OpenLineage export share, so that
 * they agree on what a valid sequence is (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF).
 *
 * File names and programs' argv are bytes, not text; where an output
 * format must be UTF-8, each writer decides what a byte that is not
 * becomes (U+FFFD, a percent escape), and asks here.
 */
#ifndef MIDA_CORE_UTF8_H
#define MIDA_CORE_UTF8_H

#include <stddef.h>
#include <string.h>

/* Length (1..4) of the UTF-8 sequence starting at p, before end, if it is
 * valid; else 0. Inline: the JSON scanner asks it of every byte >= 0x80. */
static inline size_t mida__utf8_seq(const unsigned char *p,
                                    const unsigned char *end) {
  unsigned c = p[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if ((size_t)(end - p) < n)
    return 0;
  if (p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

/* Whether the NUL-terminated s is valid UTF-8 throughout. */
static inline int mida__utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
  while (p < end) {
    size_t n = mida__utf8_seq(p, end);
    if (n == 0)
      return 0;
    p += n;
  }
  return 1;
}

#endif /* MIDA_CORE_UTF8_H */

/*
 * term.c -- text made safe for a terminal (term.h).
 */
#include "core/term.h"

#include "core/utf8.h"
#include "mida.h"

#include <stdint.h>
#include <stdio.h>

/* The length of the UTF-8 sequence at s (1..4) and its code point in *cp,
 * or 0 when the bytes there are not valid UTF-8 (core/utf8.h: overlong,
 * surrogate, cut or past U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
  size_t n = mida__utf8_seq(s, s + len);
  static const unsigned char lead_bits[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  if (n == 0)
    return 0;
  uint32_t v = s[0] & lead_bits[n];
  for (size_t i = 1; i < n; i++)
    v = (v << 6) | (s[i] & 0x3F);
  *cp = v;
  return n;
}

/* Whether code point cp is one that must not reach a terminal as it is:
 * a control, or a format character that is invisible yet reorders or
 * splits the text around it (term.h lists them). */
static int unsafe_cp(uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
         cp == 0x061C || cp == 0x200B || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || cp == 0x2060 ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

/* Whether cp changes in mode: in MIDA_TERM_ESCAPE a backslash is doubled,
 * so that a literal "\n" in a value ("\\n") never reads as the escape
 * of a newline ("\n"); a space stands for nothing else, so
 * MIDA_TERM_SPACE keeps backslashes. */
static int changed_cp(uint32_t cp, mida__term_mode mode) {
  return unsafe_cp(cp) || (mode == MIDA_TERM_ESCAPE && cp == '\\');
}

int mida__term_unsafe(const char *s, size_t len) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_decode(p + i, len - i, &cp);
    if (n == 0 || changed_cp(cp, MIDA_TERM_ESCAPE))
      return 1;
    i += n;
  }
  return 0;
}

/* The visible escape of one unsafe character (or byte, when n is 0). */
static int add_escape(mida__buf *b, const unsigned char *p, size_t n,
                      uint32_t cp) {
  switch (n == 1 ? cp : UINT32_MAX) {
  case '\\':
    return mida__buf_adds(b, "\\\\");
  case '\n':
    return mida__buf_adds(b, "\\n");
  case '\r':
    return mida__buf_adds(b, "\\r");
  case '\t':
    return mida__buf_adds(b, "\\t");
  case 0x1B:
    return mida__buf_adds(b, "\\e");
  default:
    break;
  }
  if (n <= 1)
    return mida__buf_printf(b, "\\x%02X", (unsigned)p[0]);
  return mida__buf_printf(b, "\\u{%04X}", (unsigned)cp);
}

int mida__term_add(mida__buf *b, const char *s, size_t len,
                   mida__term_mode mode) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, run = 0; /* run: safe bytes waiting to be copied */
  int rc = MIDA_OK;
  while (i < len && rc == MIDA_OK) {
    uint32_t cp = 0;
    size_t n = utf8_decode(p + i, len - i, &cp);
    if (n != 0 && !changed_cp(cp, mode)) {
      i += n;
      run += n;
      continue;
    }
    if (run > 0)
      rc = mida__buf_add(b, p + i - run, run);
    run = 0;
    if (rc == MIDA_OK)
      rc = mode == MIDA_TERM_SPACE ? mida__buf_add(b, " ", 1)
                                   : add_escape(b, p + i, n, cp);
    i += n != 0 ? n : 1;
  }
  if (rc == MIDA_OK && run > 0)
    rc = mida__buf_add(b, p + i - run, run);
  return rc;
}

/*
 * pg_json.c -- JSON text made fit for PostgreSQL's jsonb, and text for
 * its text columns (pg_json.h).
 *
 * One pass over text that mida__json_check() accepted, so that the scan
 * can trust its syntax: outside strings, a '"' opens a string and a '-'
 * or a digit starts a number; inside, a '\' starts an escape of two bytes,
 * or six for \uXXXX. The bytes between two replacements are appended in
 * one piece.
 */
#include "sink/pg_json.h"

#include "mida.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The jsonb escape of U+FFFD, what stands for a character it refuses. */
#define REPLACEMENT "\\ufffd"

/* The value of the four hex digits at p (checked JSON: they are digits). */
static unsigned hex4(const char *p) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned c = (unsigned char)p[i];
    v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20u) - 'a' + 10);
  }
  return v;
}

static bool is_low_surrogate(unsigned cp) {
  return cp >= 0xDC00 && cp <= 0xDFFF;
}

/* The bytes of the \uXXXX escape at p (before end) that jsonb takes as
 * they are: 6, or 12 for a pair of surrogates; 0 when it refuses it (a
 * NUL, a surrogate that is not half of a pair). */
static size_t kept_escape(const char *p, const char *end) {
  unsigned cp = hex4(p + 2);
  if (cp == 0 || is_low_surrogate(cp))
    return 0;
  if (cp < 0xD800 || cp > 0xDBFF)
    return 6;
  if (end - p >= 12 && p[6] == '\\' && p[7] == 'u' &&
      is_low_surrogate(hex4(p + 8)))
    return 12;
  return 0;
}

/* What each byte is to the scan: the bytes of numbers, and those that
 * stop a run of plain bytes inside a string and outside one. */
enum { IN_NUMBER = 1, ENDS_STRING_RUN = 2, ENDS_RUN = 4 };
static const unsigned char byte_class[256] = {
    ['"'] = ENDS_STRING_RUN | ENDS_RUN,
    ['\\'] = ENDS_STRING_RUN,
    ['-'] = IN_NUMBER | ENDS_RUN,
    ['+'] = IN_NUMBER,
    ['.'] = IN_NUMBER,
    ['e'] = IN_NUMBER,
    ['E'] = IN_NUMBER,
    ['0'] = IN_NUMBER | ENDS_RUN,
    ['1'] = IN_NUMBER | ENDS_RUN,
    ['2'] = IN_NUMBER | ENDS_RUN,
    ['3'] = IN_NUMBER | ENDS_RUN,
    ['4'] = IN_NUMBER | ENDS_RUN,
    ['5'] = IN_NUMBER | ENDS_RUN,
    ['6'] = IN_NUMBER | ENDS_RUN,
    ['7'] = IN_NUMBER | ENDS_RUN,
    ['8'] = IN_NUMBER | ENDS_RUN,
    ['9'] = IN_NUMBER | ENDS_RUN,
};

/* The first byte at or after p (before end) of class c, or end. */
static const char *skip_to(const char *p, const char *end, unsigned c) {
  while (p < end && !(byte_class[(unsigned char)*p] & c))
    p++;
  return p;
}

/* The end of the number that starts at p (checked JSON), and whether it
 * may need rewriting (*unusual: an exponent or more than 15 bytes). */
static const char *number_end(const char *p, const char *end, bool *unusual) {
  const char *start = p;
  bool exponent = false;
  for (; p < end && (byte_class[(unsigned char)*p] & IN_NUMBER); p++)
    exponent |= (*p | 0x20) == 'e';
  *unusual = exponent || p - start > 15;
  return p;
}

/* The decimal magnitude of a number that fits for certain: from 1e-307 to
 * below 1e308, within the normal doubles (float8in refuses what overflows
 * or underflows to zero; numeric holds these with room to spare). */
#define MAGNITUDE_MAX 307
/* Digits that a number may have and be kept as written: numeric holds
 * 131,072 before the point and 16,383 after. */
#define DIGITS_MAX 10000
/* Significant digits a rewritten number keeps: a double's 17. */
#define SIGNIFICANT 17

/* The parts of a JSON number's text. */
typedef struct number_parts {
  bool negative;      /* a leading '-' */
  const char *digits; /* the integer part's digits */
  size_t int_digits;  /* how many */
  const char *frac;   /* the fraction's digits, after the '.' */
  size_t frac_digits; /* how many (0 without a fraction) */
  long exponent;      /* after 'e', saturated at +-1,000,000 */
} number_parts;

static void number_split(const char *p, const char *end, number_parts *n) {
  memset(n, 0, sizeof *n);
  n->negative = p < end && *p == '-';
  p += n->negative;
  n->digits = p;
  while (p < end && *p >= '0' && *p <= '9')
    p++;
  n->int_digits = (size_t)(p - n->digits);
  n->frac = p;
  if (p < end && *p == '.') {
    n->frac = ++p;
    while (p < end && *p >= '0' && *p <= '9')
      p++;
    n->frac_digits = (size_t)(p - n->frac);
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    bool minus = p < end && *p == '-';
    if (p < end && (*p == '-' || *p == '+'))
      p++;
    for (; p < end; p++)
      if (n->exponent < 1000000)
        n->exponent = n->exponent * 10 + (*p - '0');
    if (minus)
      n->exponent = -n->exponent;
  }
}

/* The i-th digit of the number's integer and fraction digits together. */
static char digit_at(const number_parts *n, size_t i) {
  return i < n->int_digits ? n->digits[i] : n->frac[i - n->int_digits];
}

/* Appends the number text[0..len) to out as it is when jsonb takes it
 * and float8 reads it, else as what stands for it: "Infinity" or
 * "-Infinity" past the doubles, 0 below them, and its first 17 digits
 * with an exponent when it has too many digits. */
static int add_number(const char *text, size_t len, mida__buf *out) {
  number_parts n;
  number_split(text, text + len, &n);
  size_t all = n.int_digits + n.frac_digits;
  size_t first = 0; /* the first digit that is not 0 */
  while (first < all && digit_at(&n, first) == '0')
    first++;
  if (first == all) { /* zero */
    bool fits = all <= DIGITS_MAX && labs(n.exponent) <= DIGITS_MAX;
    return fits ? mida__buf_add(out, text, len) : mida__buf_adds(out, "0");
  }
  /* The value is d.ddd x 10^magnitude, d the first digit not 0. */
  long magnitude = (long)n.int_digits - 1 - (long)first + n.exponent;
  if (magnitude > MAGNITUDE_MAX)
    return mida__buf_adds(out, n.negative ? "\"-Infinity\"" : "\"Infinity\"");
  if (magnitude < -MAGNITUDE_MAX)
    return mida__buf_adds(out, "0");
  if (all <= DIGITS_MAX)
    return mida__buf_add(out, text, len);
  char kept[SIGNIFICANT + 1];
  size_t k = 0;
  for (size_t i = first; i < all && k < SIGNIFICANT; i++)
    kept[k++] = digit_at(&n, i);
  while (k > 1 && kept[k - 1] == '0')
    k--;
  kept[k] = '\0';
  return mida__buf_printf(out, "%s%c%s%se%ld", n.negative ? "-" : "", kept[0],
                          k > 1 ? "." : "", kept + 1, magnitude);
}

int mida__pg_json_fit(const char *text, size_t len, mida__buf *out) {
  const char *p = text, *end = text + len;
  const char *copied = text; /* the bytes before it are in out */
  bool in_string = false;
  int rc = MIDA_OK;
  while (p < end && rc == MIDA_OK) {
    p = skip_to(p, end, in_string ? ENDS_STRING_RUN : ENDS_RUN);
    if (p == end)
      break;
    if (*p == '"') {
      in_string = !in_string;
      p++;
    } else if (in_string && p[1] != 'u') {
      p += 2; /* an escape of two bytes */
    } else if (in_string) {
      size_t kept = kept_escape(p, end);
      if (kept > 0) {
        p += kept;
        continue;
      }
      rc = mida__buf_add(out, copied, (size_t)(p - copied));
      if (rc == MIDA_OK)
        rc = mida__buf_adds(out, REPLACEMENT);
      p += 6;
      copied = p;
    } else {
      bool unusual = false;
      const char *q = number_end(p, end, &unusual);
      if (unusual) {
        rc = mida__buf_add(out, copied, (size_t)(p - copied));
        if (rc == MIDA_OK)
          rc = add_number(p, (size_t)(q - p), out);
        copied = q;
      }
      p = q;
    }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(out, copied, (size_t)(end - copied));
  return rc;
}

/* The length of the valid UTF-8 sequence at p (before end): 1 to 4, or 0
 * when it is not one (a stray continuation byte, an overlong form, a
 * surrogate, past U+10FFFF, cut short), as PostgreSQL checks it. */
static size_t utf8_length(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  size_t n = c < 0x80                 ? 1
             : c >= 0xC2 && c <= 0xDF ? 2
             : c >= 0xE0 && c <= 0xEF ? 3
             : c >= 0xF0 && c <= 0xF4 ? 4
                                      : 0;
  if (n == 0 || (size_t)(end - p) < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F) ||
      (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
    return 0;
  return n;
}

int mida__pg_text_fit(const char *text, size_t len, mida__buf *out) {
  const unsigned char *p = (const unsigned char *)text, *end = p + len;
  const unsigned char *copied = p; /* the bytes before it are in out */
  int rc = MIDA_OK;
  while (p < end && rc == MIDA_OK) {
    size_t n = *p < 0x80 ? 1 : utf8_length(p, end);
    if (n > 0) {
      p += n;
      continue;
    }
    rc = mida__buf_add(out, copied, (size_t)(p - copied));
    if (rc == MIDA_OK)
      rc = mida__buf_adds(out, "\xEF\xBF\xBD"); /* U+FFFD */
    copied = ++p;
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(out, copied, (size_t)(end - copied));
  return rc;
}

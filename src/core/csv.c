/*
 * csv.c -- RFC 4180 fields (csv.h), with the cells a spreadsheet would run
 * as a formula turned into text.
 */
#include "core/csv.h"

#include "mida.h"

#include <string.h>

int mida__csv_add_field(mida__buf *b, const char *v) {
  return mida__csv_add_field_n(b, v, v != NULL ? strlen(v) : 0);
}

/* Whether v[0..len) must be quoted: empty, or with a comma, quote, CR, LF
 * or NUL byte. */
static int needs_quotes(const char *v, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (v[i] == ',' || v[i] == '"' || v[i] == '\r' || v[i] == '\n' ||
        v[i] == '\0')
      return 1;
  return len == 0;
}

/* Moves *i past the ASCII digits of v[*i..len); returns how many. */
static size_t skip_digits(const char *v, size_t len, size_t *i) {
  size_t start = *i;
  while (*i < len && v[*i] >= '0' && v[*i] <= '9')
    (*i)++;
  return *i - start;
}

/* Whether v[0..len) is a plain decimal number, sign and exponent allowed
 * (-1.5, +3, -2e-3, -.5), or the infinity mida__dtoa() writes (-Inf): the
 * text a spreadsheet reads as a number, not as a formula. */
static int is_plain_number(const char *v, size_t len) {
  size_t i = (len > 0 && (v[0] == '+' || v[0] == '-')) ? 1 : 0;
  if (len - i == 3 && memcmp(v + i, "Inf", 3) == 0)
    return 1;
  size_t digits = skip_digits(v, len, &i);
  if (i < len && v[i] == '.') {
    i++;
    digits += skip_digits(v, len, &i);
  }
  if (digits == 0)
    return 0;
  if (i < len && (v[i] == 'e' || v[i] == 'E')) {
    i++;
    if (i < len && (v[i] == '+' || v[i] == '-'))
      i++;
    if (skip_digits(v, len, &i) == 0)
      return 0;
  }
  return i == len;
}

/* Whether a spreadsheet opening the file would run v[0..len) as a formula
 * (OWASP's "CSV injection"): a cell that starts with =, +, -, @, TAB or CR
 * and is not a plain number. The values come from observed programs (an
 * activity, an argv, an error text), which anyone may have written. */
static int runs_as_formula(const char *v, size_t len) {
  static const char starts[] = "=+-@\t\r";
  /* memchr, not strchr, which would find a NUL byte in its terminator. */
  if (len == 0 || memchr(starts, v[0], sizeof starts - 1) == NULL)
    return 0;
  return !is_plain_number(v, len);
}

/* Appends v[0..len) with each quote doubled (the inside of a quoted
 * field). */
static int add_doubling_quotes(mida__buf *b, const char *v, size_t len) {
  int rc = MIDA_OK;
  const char *run = v, *end = v + len;
  for (const char *p = v; p < end && rc == MIDA_OK; p++) {
    if (*p == '"') {
      rc = mida__buf_add(b, run, (size_t)(p + 1 - run)); /* the quote too */
      run = p; /* and once more: doubled */
    }
  }
  if (rc == MIDA_OK)
    rc = mida__buf_add(b, run, (size_t)(end - run));
  return rc;
}

int mida__csv_add_field_n(mida__buf *b, const char *v, size_t len) {
  if (v == NULL)
    return MIDA_OK;
  int quoted = needs_quotes(v, len);
  int rc = quoted ? mida__buf_add(b, "\"", 1) : MIDA_OK;
  if (rc == MIDA_OK && runs_as_formula(v, len))
    rc = mida__buf_add(b, "'", 1); /* a spreadsheet's mark of text */
  if (rc == MIDA_OK)
    rc = quoted ? add_doubling_quotes(b, v, len) : mida__buf_add(b, v, len);
  if (rc == MIDA_OK && quoted)
    rc = mida__buf_add(b, "\"", 1);
  return rc;
}

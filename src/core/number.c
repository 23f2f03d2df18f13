/*
 * number.c -- shortest round-trip text of a double (see number.h).
 */
#include "core/number.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Makes the decimal separator '.' (a locale may have set ','), and tells
 * whether the text already reads as a real (it has a '.' or an exponent). */
static int normalize_point(char *s) {
  int real = 0;
  for (char *p = s; *p; p++) {
    if (*p == 'e' || *p == 'E') {
      real = 1;
    } else if (!(*p >= '0' && *p <= '9') && *p != '-' && *p != '+') {
      *p = '.';
      real = 1;
    }
  }
  return real;
}

size_t mida__dtoa(double v, char buf[MIDA_DTOA_MAX]) {
  if (isnan(v)) {
    memcpy(buf, "NaN", 4);
    return 3;
  }
  if (isinf(v)) {
    const char *word = v > 0 ? "Inf" : "-Inf";
    size_t n = strlen(word);
    memcpy(buf, word, n + 1);
    return n;
  }
  int n = 0;
  /* For a normal double, 15 digits always reach the shortest text of a
   * value that has one of 15 digits or fewer (its half unit in the last
   * place is smaller than half a unit of the 15th digit), and 17 always
   * round-trip. A subnormal has fewer bits, so shorter texts may do: try
   * them all. strtod reads in the same locale that snprintf wrote in. */
  int first = v != 0 && fabs(v) < DBL_MIN ? 1 : 15;
  for (int digits = first; digits <= 17; digits++) {
    n = snprintf(buf, MIDA_DTOA_MAX, "%.*g", digits, v);
    if (digits == 17 || strtod(buf, NULL) == v)
      break;
  }
  if (n < 0 || n >= MIDA_DTOA_MAX - 2) {
    buf[0] = '\0'; /* cannot happen: 17 digits and an exponent fit */
    return 0;
  }
  if (!normalize_point(buf)) {
    memcpy(buf + n, ".0", 3);
    n += 2;
  }
  return (size_t)n;
}

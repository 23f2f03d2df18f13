/*
 * number_test.c -- mida__dtoa: shortest text, exact round trip, the words
 * for NaN and infinities, and the JSON form.
 */
#include "core/json.h"
#include "core/number.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dtoa(double v) {
  static char buf[MIDA_DTOA_MAX];
  size_t n = mida__dtoa(v, buf);
  assert_int_equal(n, strlen(buf));
  return buf;
}

static void test_known_values(void **state) {
  (void)state;
  assert_string_equal(dtoa(0.1), "0.1");
  assert_string_equal(dtoa(1.0 / 3), "0.3333333333333333");
  assert_string_equal(dtoa(0.1 + 0.2), "0.30000000000000004");
  assert_string_equal(dtoa(3.0), "3.0");
  assert_string_equal(dtoa(-0.0), "-0.0");
  assert_string_equal(dtoa(0.0), "0.0");
  assert_string_equal(dtoa(1e300), "1e+300");
  assert_string_equal(dtoa(1e21), "1e+21");
  assert_string_equal(dtoa(123456789012345.0), "123456789012345.0");
  assert_string_equal(dtoa(DBL_MAX), "1.7976931348623157e+308");
  assert_string_equal(dtoa(5e-324), "5e-324");
  assert_string_equal(dtoa(0.6931471805599453), "0.6931471805599453");
  assert_string_equal(dtoa(-2.2250738585072e-310), "-2.2250738585072e-310");
  assert_string_equal(dtoa(NAN), "NaN");
  assert_string_equal(dtoa(INFINITY), "Inf");
  assert_string_equal(dtoa(-INFINITY), "-Inf");
}

/* The fewest significant digits (1..17) whose %.*g text reads back as v. */
static int fewest_digits(double v) {
  char t[64];
  for (int d = 1; d < 17; d++) {
    snprintf(t, sizeof t, "%.*e", d - 1, v);
    if (strtod(t, NULL) == v)
      return d;
  }
  return 17;
}

/* Significant digits in a %g text: digits of the mantissa, leading zeros
 * and trailing ".0" aside. */
static int digits_of(const char *s) {
  int n = 0, leading = 1, zeros = 0;
  for (const char *p = s; *p && *p != 'e'; p++) {
    if (*p < '0' || *p > '9')
      continue;
    if (*p == '0' && leading)
      continue;
    leading = 0;
    zeros = *p == '0' ? zeros + 1 : 0;
    n++;
  }
  return n == 0 ? 1 : n - zeros;
}

static double random_double(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  double v;
  memcpy(&v, x, sizeof v);
  return v;
}

static void test_round_trip_and_shortest(void **state) {
  (void)state;
  uint64_t x = 88172645463325252ull;
  int checked = 0;
  for (int i = 0; i < 30000; i++) {
    double v = random_double(&x);
    if (i % 3 == 1)
      v = (double)(int64_t)(x % 100000) / 1000.0; /* short decimals */
    else if (i % 3 == 2)
      v = ldexp((double)(x >> 12), -1074); /* subnormals and their edge */
    if (!isfinite(v))
      continue;
    const char *s = dtoa(v);
    double back = strtod(s, NULL);
    assert_memory_equal(&back, &v, sizeof v);
    if (digits_of(s) > fewest_digits(v)) {
      fail_msg("%s is not the shortest text of %.17g (%d digits)", s, v,
               fewest_digits(v));
    }
    assert_true(strchr(s, '.') != NULL || strchr(s, 'e') != NULL);
    checked++;
  }
  assert_true(checked > 29000);
}

static void test_json_form(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 1024);
  assert_int_equal(mida__json_add_double(&b, 0.1), MIDA_OK);
  assert_int_equal(mida__buf_add(&b, ",", 1), MIDA_OK);
  assert_int_equal(mida__json_add_double(&b, NAN), MIDA_OK);
  assert_int_equal(mida__buf_add(&b, ",", 1), MIDA_OK);
  assert_int_equal(mida__json_add_double(&b, -INFINITY), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), "0.1,\"NaN\",\"-Infinity\"");
  mida__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_values),
      cmocka_unit_test(test_round_trip_and_shortest),
      cmocka_unit_test(test_json_form),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

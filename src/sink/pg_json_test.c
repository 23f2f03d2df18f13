/*
 * pg_json_test.c -- unit tests of pg_json.h. mida__pg_json_fit: what
 * jsonb refuses (a NUL escape, a surrogate that is not half of a pair, a
 * number numeric cannot hold or float8 cannot read) is replaced, and
 * everything else, look-alikes included, is copied as it is;
 * mida__pg_text_fit: bytes that do not start valid UTF-8 become U+FFFD.
 */
#include "sink/pg_json.h"

#include "core/buf.h"
#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Whether json comes out as want. */
static void assert_fit(const char *json, const char *want) {
  mida__buf b;
  mida__buf_init(&b, (size_t)1 << 20);
  int rc = mida__pg_json_fit(json, strlen(json), &b);
  if (rc != MIDA_OK)
    fail_msg("%s: %s", json, mida_strerror(rc));
  if (strcmp(mida__buf_str(&b), want) != 0)
    fail_msg("%s\n  gave %s\n  want %s", json, mida__buf_str(&b), want);
  mida__buf_free(&b);
}

static void assert_kept(const char *json) {
  assert_fit(json, json);
}

static void test_what_jsonb_takes_is_copied_as_it_is(void **state) {
  (void)state;
  assert_kept("{}");
  assert_kept("{\"a\":\"x\\u0041\\n\",\"b\":[1,2.5,-3e10,1e-05,0,-0.0]}");
  assert_kept("{\"pair\":\"\\ud83d\\ude00\",\"u\":\"\\u00e9\\uFFFD\"}");
  /* An escaped backslash before u0000 is no escape of a NUL. */
  assert_kept("{\"a\":\"\\\\u0000\",\"b\":\"\\\\\\\\ud800\"}");
  /* Text that looks like numbers or escapes inside a string. */
  assert_kept("{\"1e400\":\"1e400 \\\" 1e-999\"}");
  assert_kept("{\"big\":123456789012345678901234567890,\"e\":1E+300}");
  assert_kept("{\"small\":1e-300,\"zero\":0e5,\"z\":0.000e-99}");
}

static void test_a_nul_becomes_the_replacement_character(void **state) {
  (void)state;
  assert_fit("{\"a\":\"a\\u0000b\"}", "{\"a\":\"a\\ufffdb\"}");
  assert_fit("{\"k\\u0000\":[\"\\u0000\\u0000\"]}",
             "{\"k\\ufffd\":[\"\\ufffd\\ufffd\"]}");
  assert_fit("{\"a\":\"\\\\\\u0000\"}", "{\"a\":\"\\\\\\ufffd\"}");
}

static void test_a_lone_surrogate_becomes_the_replacement(void **state) {
  (void)state;
  assert_fit("{\"a\":\"\\ud800x\"}", "{\"a\":\"\\ufffdx\"}");
  assert_fit("{\"a\":\"\\uDC00\"}", "{\"a\":\"\\ufffd\"}");
  assert_fit("{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\ufffd\\u0041\"}");
  /* A low half then a high half is no pair either. */
  assert_fit("{\"a\":\"\\udc00\\ud800\"}", "{\"a\":\"\\ufffd\\ufffd\"}");
  assert_fit("{\"a\":\"\\ud800\"}", "{\"a\":\"\\ufffd\"}");
}

static void test_numbers_past_the_doubles_are_replaced(void **state) {
  (void)state;
  assert_fit("{\"a\":1e400,\"b\":-1e400}",
             "{\"a\":\"Infinity\",\"b\":\"-Infinity\"}");
  assert_fit("{\"a\":1e1000000,\"b\":[1e-1000000]}",
             "{\"a\":\"Infinity\",\"b\":[0]}");
  assert_fit("{\"a\":-2.5e-400}", "{\"a\":0}");
  assert_fit("{\"a\":0.0000e-99999}", "{\"a\":0}");
  assert_fit("{\"a\":100e306}", "{\"a\":\"Infinity\"}");
  assert_kept("{\"a\":9.99e306,\"b\":1e-307,\"c\":10e306}");
}

static void test_a_number_with_too_many_digits_keeps_seventeen(void **state) {
  (void)state;
  char in[20100], want[64];
  size_t n = 0;
  n += (size_t)snprintf(in + n, sizeof in - n, "{\"a\":-0.");
  for (int i = 0; i < 10000; i++)
    in[n++] = '0';
  for (int i = 0; i < 10000; i++)
    in[n++] = (char)('1' + i % 9);
  snprintf(in + n, sizeof in - n, "e10003}");
  snprintf(want, sizeof want, "{\"a\":-1.2345678912345678e2}");
  assert_fit(in, want);
  /* One significant digit: no point. */
  n = 0;
  n += (size_t)snprintf(in + n, sizeof in - n, "{\"a\":");
  in[n++] = '5';
  for (int i = 0; i < 10005; i++)
    in[n++] = '0';
  snprintf(in + n, sizeof in - n, "e-10000}");
  assert_fit(in, "{\"a\":5e5}");
}

/* Whether text comes out of mida__pg_text_fit as want. */
static void assert_text(const char *text, const char *want) {
  mida__buf b;
  mida__buf_init(&b, 4096);
  assert_int_equal(mida__pg_text_fit(text, strlen(text), &b), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), want);
  mida__buf_free(&b);
}

static void test_text_keeps_utf8_and_replaces_the_rest(void **state) {
  (void)state;
  assert_text("", "");
  assert_text("plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
              "plain \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  assert_text("bad\xff", "bad\xef\xbf\xbd");
  assert_text("\x80x\xc3", "\xef\xbf\xbdx\xef\xbf\xbd");
  /* Overlong, a surrogate, past U+10FFFF: one replacement a byte. */
  assert_text("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");
  assert_text("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  assert_text("\xf4\x90\x80\x80!",
              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_what_jsonb_takes_is_copied_as_it_is),
      cmocka_unit_test(test_a_nul_becomes_the_replacement_character),
      cmocka_unit_test(test_a_lone_surrogate_becomes_the_replacement),
      cmocka_unit_test(test_numbers_past_the_doubles_are_replaced),
      cmocka_unit_test(test_a_number_with_too_many_digits_keeps_seventeen),
      cmocka_unit_test(test_text_keeps_utf8_and_replaces_the_rest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * json_test.c -- JSON checking, escaping and shallow merge; the cells of a
 * query result as JSON and CSV.
 */
#include "core/csv.h"
#include "core/json.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

static int check(const char *s, bool object_only) {
  return mida__json_check(s, strlen(s), object_only, NULL);
}

static void test_accepts_valid_values(void **state) {
  (void)state;
  const char *good[] = {"{}",
                        " { } ",
                        "{\"a\":1}",
                        "{\"a\":[1,2,{\"b\":null}],\"c\":true}",
                        "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}",
                        "{\"n\":-0.5e+10}",
                        "{\"u\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
                        "{\"x\":[]}",
                        "{\"a\":0,\"b\":1E5,\"c\":-12.25}",
                        NULL};
  for (int i = 0; good[i] != NULL; i++)
    assert_int_equal(check(good[i], true), MIDA_OK);
  assert_int_equal(check("[1,2]", false), MIDA_OK);
  assert_int_equal(check("42", false), MIDA_OK);
  assert_int_equal(check("\"x\"", false), MIDA_OK);
}

static void test_rejects_malformed_values(void **state) {
  (void)state;
  const char *bad[] = {"",
                       "{",
                       "}",
                       "{\"a\"}",
                       "{\"a\":}",
                       "{\"a\":1,}",
                       "{a:1}",
                       "{\"a\":01}",
                       "{\"a\":1.}",
                       "{\"a\":.5}",
                       "{\"a\":-}",
                       "{\"a\":tru}",
                       "{\"a\":\"\\x\"}",
                       "{\"a\":\"\\u12\"}",
                       "{\"a\":\"tab\there\"}",
                       "{\"a\":\"\xc3\x28\"}",     /* bad continuation */
                       "{\"a\":\"\xc0\xaf\"}",     /* overlong */
                       "{\"a\":\"\xed\xa0\x80\"}", /* surrogate */
                       "{\"a\":1} x",
                       "{\"a\":1}{}",
                       "{\"a\":[1,2}",
                       "{\"a\":\"unterminated}",
                       NULL};
  for (int i = 0; bad[i] != NULL; i++)
    assert_int_equal(check(bad[i], true), MIDA_EJSON);
  assert_int_equal(check("[1,2]", true), MIDA_EJSON); /* not an object */
}

/* Each single byte inside a string: printable ASCII stands for itself,
 * but the quote (which ends the string early) and the backslash (which
 * begins an escape, here a bad one); a control byte is refused, and so is
 * any byte of 0x80 and up alone (not a UTF-8 sequence). */
static void test_each_byte_in_a_string(void **state) {
  (void)state;
  for (int c = 0; c < 256; c++) {
    char doc[] = "{\"a\":\"x?y\"}";
    doc[7] = (char)c;
    int plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    assert_int_equal(mida__json_check(doc, sizeof doc - 1, true, NULL),
                     plain ? MIDA_OK : MIDA_EJSON);
  }
}

static void test_reports_where_the_error_is(void **state) {
  (void)state;
  size_t where = 0;
  const char *s = "{\"a\": 1, \"b\": x}";
  assert_int_equal(mida__json_check(s, strlen(s), true, &where), MIDA_EJSON);
  assert_int_equal(where, 14);
}

static void test_nesting_is_bounded(void **state) {
  (void)state;
  char deep[2 * (MIDA_JSON_MAX_DEPTH + 1) + 16];
  size_t n = 0;
  deep[n++] = '{';
  deep[n++] = '"';
  deep[n++] = 'a';
  deep[n++] = '"';
  deep[n++] = ':';
  for (int i = 0; i < MIDA_JSON_MAX_DEPTH - 1; i++)
    deep[n++] = '[';
  for (int i = 0; i < MIDA_JSON_MAX_DEPTH - 1; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  assert_int_equal(check(deep, true), MIDA_OK);
  /* One level more fails cleanly instead of overflowing anything. */
  char deeper[4 * MIDA_JSON_MAX_DEPTH];
  n = 0;
  for (int i = 0; i < MIDA_JSON_MAX_DEPTH + 1; i++)
    deeper[n++] = '[';
  for (int i = 0; i < MIDA_JSON_MAX_DEPTH + 1; i++)
    deeper[n++] = ']';
  deeper[n] = '\0';
  assert_int_equal(check(deeper, false), MIDA_EJSON);
}

static void test_string_escaping(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  const char in[] = "a\"b\\c\n\x01\xc3\xa9\xff";
  assert_int_equal(mida__json_add_string(&b, in, sizeof in - 1), MIDA_OK);
  assert_string_equal(mida__buf_str(&b),
                      "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\xef\xbf\xbd\"");
  /* The output is itself valid JSON. */
  assert_int_equal(mida__json_check(b.ptr, b.len, false, NULL), MIDA_OK);
  mida__buf_free(&b);
}

static const char *merge(mida__buf *b, const char *x, const char *y) {
  mida__buf_reset(b);
  int rc = mida__json_merge(x, x ? strlen(x) : 0, y, y ? strlen(y) : 0, b);
  return rc == MIDA_OK ? mida__buf_str(b) : "ERROR";
}

static void test_merge_adds_overrides_and_keeps_nulls(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  assert_string_equal(merge(&b, "{\"a\":1}", "{\"b\":2}"), "{\"a\":1,\"b\":2}");
  assert_string_equal(merge(&b, "{\"a\":1,\"c\":3}", "{\"a\":[9]}"),
                      "{\"c\":3,\"a\":[9]}");
  assert_string_equal(merge(&b, "{\"a\":1}", "{\"n\":null}"),
                      "{\"a\":1,\"n\":null}");
  assert_string_equal(merge(&b, NULL, "{\"a\":{\"x\":1}}"),
                      "{\"a\":{\"x\":1}}");
  assert_string_equal(merge(&b, " { } ", NULL), "{}");
  assert_string_equal(merge(&b, "{\"a\":1}", "[1]"), "ERROR");
  mida__buf_free(&b);
}

static void test_merge_is_idempotent(void **state) {
  (void)state;
  mida__buf b, c;
  mida__buf_init(&b, 1 << 20);
  mida__buf_init(&c, 1 << 20);
  const char *once = merge(&b, "{\"x\":1,\"y\":\"s\"}", "{\"y\":2,\"z\":3}");
  const char *twice = merge(&c, once, "{\"y\":2,\"z\":3}");
  assert_string_equal(once, twice);
  mida__buf_free(&b);
  mida__buf_free(&c);
}

/* A cell's NUL byte is escaped and what follows kept; text with one is
 * never a number; a C string cell is as before. The CSV writer of the
 * same cells quotes a field with a NUL and keeps its bytes. */
static void test_cells_keep_nul_bytes(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  assert_int_equal(mida__json_add_cell_n(&b, "\0x", 2), MIDA_OK);
  assert_int_equal(mida__json_add_cell_n(&b, "1\0", 2), MIDA_OK);
  assert_int_equal(mida__json_add_cell(&b, "12"), MIDA_OK);
  assert_int_equal(mida__json_add_cell(&b, NULL), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), "\"\\u0000x\"\"1\\u0000\"12null");
  mida__buf_reset(&b);
  assert_int_equal(mida__csv_add_field_n(&b, "\0x\"", 3), MIDA_OK);
  assert_int_equal(b.len, 6);
  assert_memory_equal(b.ptr, "\"\0x\"\"\"", 6);
  mida__buf_reset(&b);
  assert_int_equal(mida__csv_add_field(&b, "a,b"), MIDA_OK);
  assert_int_equal(mida__csv_add_field(&b, ""), MIDA_OK);
  assert_int_equal(mida__csv_add_field(&b, "plain"), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), "\"a,b\"\"\"plain");
  mida__buf_free(&b);
}

/* The CSV of one field v, in a buffer of the test. */
static const char *csv_of(mida__buf *b, const char *v) {
  mida__buf_reset(b);
  assert_int_equal(mida__csv_add_field(b, v), MIDA_OK);
  return mida__buf_str(b);
}

static void test_csv_keeps_formulas_from_running(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  /* A cell a spreadsheet would run starts with a quote: text. */
  assert_string_equal(csv_of(&b, "=HYPERLINK(\"http://x\",\"y\")"),
                      "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  assert_string_equal(csv_of(&b, "=1+2"), "'=1+2");
  assert_string_equal(csv_of(&b, "+cmd|' /C calc'!A0"),
                      "'+cmd|' /C calc'!A0");
  assert_string_equal(csv_of(&b, "-2+3"), "'-2+3");
  assert_string_equal(csv_of(&b, "@SUM(A1)"), "'@SUM(A1)");
  assert_string_equal(csv_of(&b, "\t=1"), "'\t=1");
  assert_string_equal(csv_of(&b, "\r=1"), "\"'\r=1\"");
  assert_string_equal(csv_of(&b, "-"), "'-");
  assert_string_equal(csv_of(&b, "-e5"), "'-e5");
  assert_string_equal(csv_of(&b, "-1e"), "'-1e");
  assert_string_equal(csv_of(&b, "-."), "'-.");
  assert_string_equal(csv_of(&b, "-Infinity"), "'-Infinity");
  /* A plain number stays a number, and so does mida's -Inf (number.h). */
  const char *numbers[] = {"-1.5", "+3",      "-2e-3", "-0",
                           "-.5",  "+1E+300", "-Inf",  "+Inf"};
  for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
    assert_string_equal(csv_of(&b, numbers[i]), numbers[i]);
  /* Only the first byte counts: "a=b" and "1-2" are left as they are. */
  assert_string_equal(csv_of(&b, "a=b"), "a=b");
  assert_string_equal(csv_of(&b, "1-2"), "1-2");
  mida__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepts_valid_values),
      cmocka_unit_test(test_rejects_malformed_values),
      cmocka_unit_test(test_each_byte_in_a_string),
      cmocka_unit_test(test_reports_where_the_error_is),
      cmocka_unit_test(test_nesting_is_bounded),
      cmocka_unit_test(test_string_escaping),
      cmocka_unit_test(test_merge_adds_overrides_and_keeps_nulls),
      cmocka_unit_test(test_merge_is_idempotent),
      cmocka_unit_test(test_cells_keep_nul_bytes),
      cmocka_unit_test(test_csv_keeps_formulas_from_running),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

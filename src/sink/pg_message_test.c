/*
 * pg_message_test.c -- a PostgreSQL error message loses the lines that
 * quote records' values (pg_message.h).
 */
#include "sink/pg_message.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_a_cut_copy_quotes_no_row(void **state) {
  (void)state;
  char buf[256];
  assert_string_equal(
      mida__pg_message_without_data(
          "FATAL:  terminating connection due to administrator command\n"
          "CONTEXT:  COPY task, line 12: \"01a2\tsecret-argument\"\n",
          buf, sizeof buf),
      "FATAL:  terminating connection due to administrator command\n");
  assert_string_equal(
      mida__pg_message_without_data(
          "ERROR:  duplicate key value\nDETAIL:  Key (id)=(x) exists.\n"
          "CONTEXT:  y\n",
          buf, sizeof buf),
      "ERROR:  duplicate key value\n");
  /* A message without them is kept whole, its hint too. */
  assert_string_equal(mida__pg_message_without_data(
                          "connection refused\n\tIs the server running?\n",
                          buf, sizeof buf),
                      "connection refused\n\tIs the server running?\n");
  assert_string_equal(mida__pg_message_without_data(NULL, buf, sizeof buf),
                      "");
  char small[6];
  assert_string_equal(
      mida__pg_message_without_data("ERROR: long\nCONTEXT: x", small,
                                    sizeof small),
      "ERROR");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_cut_copy_quotes_no_row),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

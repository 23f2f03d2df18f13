/*
 * nats_error_test.c -- libnats' last error loses the place in libnats'
 * sources that set it, and keeps its reason (nats_error.h).
 */
#include "sink/nats_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static void test_the_place_in_libnats_is_left_out(void **state) {
  (void)state;
  assert_string_equal(
      mida__nats_error_reason(
          "(conn.c:2088): No server available for connection"),
      "No server available for connection");
  assert_string_equal(mida__nats_error_reason("(js.c:12):Timeout"),
                      "Timeout");
}

static void test_a_text_without_one_is_kept_whole(void **state) {
  (void)state;
  const char *kept[] = {
      "Authorization Violation",
      "(not a place) reason",
      "(conn.c): no line",
      "(conn.c:12) no colon after",
      "(conn.c:x1): not digits",
      "(:12): no file",
      "(conn.c:12): ",
      "",
  };
  for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
    assert_string_equal(mida__nats_error_reason(kept[i]), kept[i]);
  assert_null(mida__nats_error_reason(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_place_in_libnats_is_left_out),
      cmocka_unit_test(test_a_text_without_one_is_kept_whole),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

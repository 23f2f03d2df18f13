/*
 * path_test.c -- mida__path_append: components appended lexically, the
 * root kept, and a path that does not fit refused.
 */
#include "core/path.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static const char *joined(const char *base, const char *rel, size_t cap) {
  static char out[64];
  snprintf(out, sizeof out, "%s", base);
  size_t n = mida__path_append(out, strlen(out), cap, rel);
  if (n == (size_t)-1)
    return NULL;
  assert_int_equal(n, strlen(out));
  return out;
}

static void test_components_are_appended_lexically(void **state) {
  (void)state;
  assert_string_equal(joined("/home/u", "d/f.txt", 64), "/home/u/d/f.txt");
  assert_string_equal(joined("/home/u", "./d//./f", 64), "/home/u/d/f");
  assert_string_equal(joined("/home/u", "../v/x", 64), "/home/v/x");
  assert_string_equal(joined("/home/u", "../../../x", 64), "/x");
  assert_string_equal(joined("/", "a/../b", 64), "/b");
  assert_string_equal(joined("", "/a/b/..", 64), "/a");
  assert_string_equal(joined("/a", "..", 64), "/");
  assert_string_equal(joined("/a", "", 64), "/a");
}

static void test_a_path_that_does_not_fit_is_refused(void **state) {
  (void)state;
  assert_null(joined("/home/u", "d/f.txt", 15)); /* needs 16 */
  assert_string_equal(joined("/home/u", "d/f.txt", 16), "/home/u/d/f.txt");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_components_are_appended_lexically),
      cmocka_unit_test(test_a_path_that_does_not_fit_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

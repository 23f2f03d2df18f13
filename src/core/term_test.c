/*
 * term_test.c -- text made safe for a terminal (term.h): every control
 * character, C1 control, bidirectional override and invalid byte is shown
 * as an escape or a space; valid UTF-8 is kept.
 */
#include "core/term.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

static void check(const char *in, size_t len, mida__term_mode mode,
                  const char *want) {
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  assert_int_equal(mida__term_add(&b, in, len, mode), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), want);
  assert_int_equal(mida__term_unsafe(in, len), strcmp(in, want) != 0 ||
                                                   len != strlen(in));
  mida__buf_free(&b);
}

static void test_controls_become_visible_escapes(void **state) {
  (void)state;
  check("a\x1b]0;pwn\x07" "b", 10, MIDA_TERM_ESCAPE, "a\\e]0;pwn\\x07b");
  check("x\r\n\ty\x7f", 6, MIDA_TERM_ESCAPE, "x\\r\\n\\ty\\x7F");
  check("a\0b", 3, MIDA_TERM_ESCAPE, "a\\x00b");
  /* C1 (U+009B, 8-bit CSI), bidi override, line separator. */
  check("\xc2\x9b" "31m\xe2\x80\xae\xe2\x80\xa8", 11, MIDA_TERM_ESCAPE,
        "\\u{009B}31m\\u{202E}\\u{2028}");
}

static void test_invalid_utf8_bytes_are_escaped(void **state) {
  (void)state;
  check("a\x9b" "b", 3, MIDA_TERM_ESCAPE, "a\\x9Bb");
  check("\xe2\x80", 2, MIDA_TERM_ESCAPE, "\\xE2\\x80");   /* cut */
  check("\xc0\xaf", 2, MIDA_TERM_ESCAPE, "\\xC0\\xAF");   /* overlong */
  check("\xed\xa0\x80", 3, MIDA_TERM_ESCAPE, "\\xED\\xA0\\x80"); /* UTF-16 */
}

static void test_text_is_kept_and_spaces_mode_keeps_width(void **state) {
  (void)state;
  check("caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80", 14, MIDA_TERM_ESCAPE,
        "caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80");
  check("a\nb\x1b[2Jc\xc2\x85", 10, MIDA_TERM_SPACE, "a b [2Jc ");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_controls_become_visible_escapes),
      cmocka_unit_test(test_invalid_utf8_bytes_are_escaped),
      cmocka_unit_test(test_text_is_kept_and_spaces_mode_keeps_width),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

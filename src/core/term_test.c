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

#include <stdio.h>
#include <string.h>

static void check(const char *in, size_t len, mida__term_mode mode,
                  const char *want) {
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  assert_int_equal(mida__term_add(&b, in, len, mode), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), want);
  if (mode == MIDA_TERM_ESCAPE)
    assert_int_equal(mida__term_unsafe(in, len),
                     strcmp(in, want) != 0 || len != strlen(in));
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

/* A backslash in a value is doubled, so that a value holding the two
 * characters "\n" and one holding a newline never print the same. */
static void test_backslash_is_escaped_unambiguously(void **state) {
  (void)state;
  check("a\\nb", 4, MIDA_TERM_ESCAPE, "a\\\\nb");
  check("a\nb", 3, MIDA_TERM_ESCAPE, "a\\nb");
  check("\\x1B\\e", 6, MIDA_TERM_ESCAPE, "\\\\x1B\\\\e");
  check("c:\\dir\t", 7, MIDA_TERM_SPACE, "c:\\dir ");
}

/* Every invisible mark that reorders or hides text: the Arabic letter mark,
 * zero width space, LRM and RLM, the line and paragraph separators, the
 * embeddings and overrides, word joiner, the isolates and the BOM. */
static void test_bidi_and_invisible_marks_are_escaped(void **state) {
  (void)state;
  static const struct {
    const char *utf8;
    const char *escape;
  } marks[] = {
      {"\xd8\x9c", "\\u{061C}"},     {"\xe2\x80\x8b", "\\u{200B}"},
      {"\xe2\x80\x8e", "\\u{200E}"}, {"\xe2\x80\x8f", "\\u{200F}"},
      {"\xe2\x80\xa8", "\\u{2028}"}, {"\xe2\x80\xa9", "\\u{2029}"},
      {"\xe2\x80\xaa", "\\u{202A}"}, {"\xe2\x80\xab", "\\u{202B}"},
      {"\xe2\x80\xac", "\\u{202C}"}, {"\xe2\x80\xad", "\\u{202D}"},
      {"\xe2\x80\xae", "\\u{202E}"}, {"\xe2\x81\xa0", "\\u{2060}"},
      {"\xe2\x81\xa6", "\\u{2066}"}, {"\xe2\x81\xa7", "\\u{2067}"},
      {"\xe2\x81\xa8", "\\u{2068}"}, {"\xe2\x81\xa9", "\\u{2069}"},
      {"\xef\xbb\xbf", "\\u{FEFF}"},
  };
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
    char in[16], want[32];
    snprintf(in, sizeof in, "a%sb", marks[i].utf8);
    snprintf(want, sizeof want, "a%sb", marks[i].escape);
    check(in, strlen(in), MIDA_TERM_ESCAPE, want);
    check(in, strlen(in), MIDA_TERM_SPACE, "a b");
  }
  /* Joiners that scripts and emoji need are text, and kept. */
  check("\xe2\x80\x8c\xe2\x80\x8d", 6, MIDA_TERM_ESCAPE,
        "\xe2\x80\x8c\xe2\x80\x8d");
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
      cmocka_unit_test(test_backslash_is_escaped_unambiguously),
      cmocka_unit_test(test_bidi_and_invisible_marks_are_escaped),
      cmocka_unit_test(test_invalid_utf8_bytes_are_escaped),
      cmocka_unit_test(test_text_is_kept_and_spaces_mode_keeps_width),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * buf_test.c -- the growable, capped buffer (buf.h): formatted appends give
 * snprintf's text whether or not they fit the room the buffer has, a text
 * past the cap frees the buffer, a text that fits is formatted once, and a
 * buffer over the caller's memory never allocates.
 */
#include "core/buf.h"

#include "core/alloc.h"
#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <printf.h>
#endif

/* Appends of 0 to 299 characters, in and past every room the doubling
 * gives (64, 128, 256, 512 bytes), read back as snprintf wrote them. */
static void test_printf_appends_whatever_the_room(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  char want[1 << 16] = "";
  size_t len = 0;
  for (int n = 0; n < 300; n += 7) {
    assert_int_equal(mida__buf_printf(&b, "%d:%*s|", n, n, "x"), MIDA_OK);
    len +=
        (size_t)snprintf(want + len, sizeof want - len, "%d:%*s|", n, n, "x");
    assert_int_equal(b.len, len);
    assert_string_equal(mida__buf_str(&b), want);
  }
  mida__buf_free(&b);
}

/* A text that would pass the cap frees the buffer, whether the room it
 * has would hold the text (the doubling went past the cap) or not. */
static void test_printf_past_the_cap_frees_the_buffer(void **state) {
  (void)state;
  mida__buf b;
  mida__buf_init(&b, 70); /* the first growth gives 128 bytes */
  char almost[70];
  memset(almost, 'a', sizeof almost - 1);
  almost[sizeof almost - 1] = '\0';
  assert_int_equal(mida__buf_adds(&b, almost), MIDA_OK);
  assert_int_equal(b.len, 70 - 1);
  assert_true(b.cap > 70 + 8);
  assert_int_equal(mida__buf_printf(&b, "%s", "abcdefgh"), MIDA_ETOOBIG);
  assert_null(b.ptr);
  assert_int_equal(b.len, 0);
  mida__buf_init(&b, 70);
  assert_int_equal(mida__buf_printf(&b, "%*s", 71, "y"), MIDA_ETOOBIG);
  assert_null(b.ptr);
  assert_int_equal(mida__buf_printf(&b, "%*s", 70, "y"), MIDA_OK);
  assert_int_equal(b.len, 70);
  mida__buf_free(&b);
}

#ifdef __GLIBC__
static int formatted; /* calls of the %Y conversion below */

static int print_y(FILE *f, const struct printf_info *info,
                   const void *const *args) {
  (void)info;
  (void)args;
  formatted++;
  return fprintf(f, "Y");
}

static int arginfo_y(const struct printf_info *info, size_t n, int *types,
                     int *size) {
  (void)info;
  (void)size;
  if (n > 0)
    types[0] = PA_INT;
  return 1;
}

/* Through a format that is not a literal, so that the compiler does not
 * check %Y. */
static int add_formatted(mida__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mida__buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}
#endif

/* A text that fits the room is formatted once, not measured first and
 * written after; one that does not, twice. */
static void test_a_text_that_fits_is_formatted_once(void **state) {
  (void)state;
#ifdef __GLIBC__
  assert_int_equal(register_printf_specifier('Y', print_y, arginfo_y), 0);
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  assert_int_equal(mida__buf_adds(&b, "room"), MIDA_OK); /* 64 bytes */
  formatted = 0;
  assert_int_equal(add_formatted(&b, "%Y", 1), MIDA_OK);
  assert_int_equal(formatted, 1);
  assert_string_equal(mida__buf_str(&b), "roomY");
  formatted = 0;
  assert_int_equal(add_formatted(&b, "%100s%Y", "", 1), MIDA_OK);
  assert_int_equal(formatted, 2);
  assert_int_equal(b.len, 5 + 100 + 1);
  mida__buf_free(&b);
#else
  skip();
#endif
}

/* A buffer over the caller's memory fills it, NUL included, and no more:
 * an append past it empties it and leaves the memory where it was, with
 * no allocation. */
static void test_fixed_memory_is_never_grown(void **state) {
  (void)state;
  char mem[8];
  mida__buf b;
  uint64_t allocs = mida__alloc_count_thread();
  mida__buf_init_fixed(&b, mem, sizeof mem);
  assert_string_equal(mida__buf_str(&b), "");
  assert_int_equal(mida__buf_adds(&b, "abc"), MIDA_OK);
  assert_int_equal(mida__buf_printf(&b, "%d", 1234), MIDA_OK);
  assert_ptr_equal(b.ptr, mem);
  assert_string_equal(mem, "abc1234");
  assert_int_equal(mida__buf_adds(&b, "x"), MIDA_ETOOBIG);
  assert_ptr_equal(b.ptr, mem);
  assert_int_equal(b.len, 0);
  assert_string_equal(mida__buf_str(&b), "");
  assert_int_equal(mida__buf_printf(&b, "%s", "12345678"), MIDA_ETOOBIG);
  assert_int_equal(b.len, 0);
  assert_int_equal(mida__buf_adds(&b, "again"), MIDA_OK);
  assert_string_equal(mida__buf_str(&b), "again");
  mida__buf_free(&b);
  assert_ptr_equal(b.ptr, mem);
  assert_int_equal(b.len, 0);
  assert_int_equal(mida__alloc_count_thread(), allocs);
}

/* A library's message on one line: libpq's hint on its own indented line
 * is a sentence of its own, not run into the one before ("refused Is"). */
static void test_a_message_is_one_line_of_sentences(void **state) {
  (void)state;
  char buf[256];
  assert_string_equal(
      mida__one_line("failed: Connection refused\n\tIs the server up?\n",
                     buf, sizeof buf),
      "failed: Connection refused. Is the server up?");
  assert_string_equal(mida__one_line("no such role\nwhile connecting", buf,
                                     sizeof buf),
                      "no such role; while connecting");
  assert_string_equal(mida__one_line("FATAL: bad.\n  DETAIL: x\n\n", buf,
                                     sizeof buf),
                      "FATAL: bad. DETAIL: x");
  assert_string_equal(mida__one_line("a \nb", buf, sizeof buf), "a; b");
  assert_string_equal(mida__one_line("\n\tlead", buf, sizeof buf), "lead");
  assert_string_equal(mida__one_line(NULL, buf, sizeof buf), "");
  /* Cut to the buffer, never past it. */
  char small[4];
  assert_string_equal(mida__one_line("ab\ncd", small, sizeof small), "ab;");
  assert_string_equal(mida__one_line("abcdef", small, sizeof small), "abc");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_printf_appends_whatever_the_room),
      cmocka_unit_test(test_printf_past_the_cap_frees_the_buffer),
      cmocka_unit_test(test_a_text_that_fits_is_formatted_once),
      cmocka_unit_test(test_fixed_memory_is_never_grown),
      cmocka_unit_test(test_a_message_is_one_line_of_sentences),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

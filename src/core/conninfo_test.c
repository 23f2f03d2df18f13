/*
 * conninfo_test.c -- the key=value words of a libpq conninfo
 * (conninfo.h): which values are secret, read as libpq reads them, and
 * which store texts are a conninfo rather than a file's name.
 */
#include "core/conninfo.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

/* The secret values of text, each as written, joined by '|'. */
static const char *secrets(const char *text) {
  static char out[256];
  size_t from = 0, off, len, o = 0;
  out[0] = '\0';
  while (mida__conninfo_next_secret(text, &from, &off, &len)) {
    if (o > 0)
      out[o++] = '|';
    memcpy(out + o, text + off, len);
    o += len;
    out[o] = '\0';
  }
  return out;
}

static void test_secret_values_are_read_as_libpq_reads_them(void **state) {
  (void)state;
  assert_string_equal(secrets("host=h password=pw port=1"), "pw");
  /* Quoted, with an escaped quote; a backslash keeping a space. */
  assert_string_equal(secrets("password='a b\\' c' user=u"), "'a b\\' c'");
  assert_string_equal(secrets("password=a\\ b user=u"), "a\\ b");
  /* White space around '=', and a value that is itself a word. */
  assert_string_equal(secrets("password =  pw"), "pw");
  assert_string_equal(secrets("password= host=h"), "host=h");
  /* Empty; unclosed; right after a quoted value, as libpq reads on. */
  assert_string_equal(secrets("password="), "");
  assert_string_equal(secrets("password='a b"), "'a b");
  assert_string_equal(secrets("options='-c x'sslpassword=k"), "k");
  /* Any secret name, anywhere in a text; none inside a URL's query. */
  assert_string_equal(secrets("postgresql://u@h/db password=pwA"), "pwA");
  assert_string_equal(secrets("DB_TOKEN=t apiKey=k max_tokens=5"), "t|k");
  assert_string_equal(secrets("https://h/x?token=abc"), "");
  assert_string_equal(secrets("user=u host=h"), "");
}

static void test_a_conninfo_is_told_from_a_file_name(void **state) {
  (void)state;
  assert_true(mida__conninfo_looks_like("host=h dbname=d password=pw"));
  assert_true(mida__conninfo_looks_like("dbname=mida"));
  assert_true(mida__conninfo_looks_like("  port = 5432"));
  assert_true(mida__conninfo_looks_like("SSLMODE=require"));
  assert_true(mida__conninfo_looks_like("mydb DB_PASSWORD=x"));
  assert_false(mida__conninfo_looks_like("mida.db"));
  assert_false(mida__conninfo_looks_like("/data/run=3/my host.db"));
  assert_false(mida__conninfo_looks_like("a=1.db"));
  assert_false(mida__conninfo_looks_like("sqlite://host=h.db"));
  assert_false(mida__conninfo_looks_like("postgresql://u@h/db password=x"));
  assert_false(mida__conninfo_looks_like(""));
  assert_false(mida__conninfo_looks_like(NULL));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secret_values_are_read_as_libpq_reads_them),
      cmocka_unit_test(test_a_conninfo_is_told_from_a_file_name),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

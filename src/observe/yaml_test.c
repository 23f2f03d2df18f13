/*
 * yaml_test.c -- the meta.yaml reader against what PyYAML writes and reads
 * back (yaml_cases.inc), and against malformed input.
 */
#include "observe/yaml.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

typedef struct want {
  const char *parent, *key, *value;
  size_t len;
} want;

typedef struct yaml_case {
  const char *text;
  want entries[16];
} yaml_case;

static const yaml_case cases[] = {
#include "yaml_cases.inc"
};

static void test_reads_what_pyyaml_writes(void **state) {
  (void)state;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    mida__yaml y;
    int rc = mida__yaml_parse(cases[c].text, strlen(cases[c].text), &y);
    if (rc != MIDA_OK)
      fail_msg("case %zu: rc %d", c, rc);
    size_t n = 0;
    for (const want *w = cases[c].entries; w->key != NULL; w++, n++) {
      size_t len = 0;
      const char *v = mida__yaml_get(&y, w->parent, w->key, &len);
      if (w->value == NULL) {
        if (v != NULL)
          fail_msg("case %zu, %s: want null, got '%s'", c, w->key, v);
        continue;
      }
      if (v == NULL)
        fail_msg("case %zu, %s: missing", c, w->key);
      if (len != w->len || memcmp(v, w->value, len) != 0)
        fail_msg("case %zu, %s: got '%s' (%zu bytes), want '%s'", c, w->key,
                 v, len, w->value);
    }
    assert_int_equal(y.n, n);
    mida__yaml_free(&y);
  }
}

static void test_block_scalars(void **state) {
  (void)state;
  const char *text = "a: |\n  one\n   two\n\n  three\nb: |-\n  x\n  y\n"
                     "c: >\n  folded\n  line\n\n  para\nd: 4\n";
  mida__yaml y;
  assert_int_equal(mida__yaml_parse(text, strlen(text), &y), MIDA_OK);
  assert_string_equal(mida__yaml_get(&y, NULL, "a", NULL),
                      "one\n two\n\nthree\n");
  assert_string_equal(mida__yaml_get(&y, NULL, "b", NULL), "x\ny");
  assert_string_equal(mida__yaml_get(&y, NULL, "c", NULL),
                      "folded line\npara\n");
  assert_string_equal(mida__yaml_get(&y, NULL, "d", NULL), "4");
  mida__yaml_free(&y);
}

static void test_rejects_what_it_does_not_read(void **state) {
  (void)state;
  const char *bad[] = {
      "a: 'open\n",          "a: \"open\n",      "a: \"bad \\q\"\n",
      "a: {x: 1}\n",         "a: [1]\n",         "a: &anchor x\n",
      "a: *alias\n",         "a: !tag x\n",      "- x\n",
      "a:\n  b:\n    c: 1\n", "  a: 1\nb: 2\n",   "a: 1\n   b: 2\n",
      "a: 'x' y\n",          "novalue\n",        ": x\n",
      "a: \"\\ud800\"\n",    "a: \"\\x4\"\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mida__yaml y;
    int rc = mida__yaml_parse(bad[i], strlen(bad[i]), &y);
    if (rc != MIDA_ECORRUPT)
      fail_msg("'%s': rc %d, want MIDA_ECORRUPT", bad[i], rc);
    assert_int_equal(y.n, 0);
  }
}

static void test_empty_and_comments(void **state) {
  (void)state;
  const char *text = "# a comment\n---\na: 1 # not a comment in a plain\n"
                     "\nb:\nc: ~\n";
  mida__yaml y;
  assert_int_equal(mida__yaml_parse(text, strlen(text), &y), MIDA_OK);
  assert_string_equal(mida__yaml_get(&y, NULL, "a", NULL),
                      "1 # not a comment in a plain");
  assert_null(mida__yaml_get(&y, NULL, "b", NULL));
  assert_null(mida__yaml_get(&y, NULL, "c", NULL));
  assert_int_equal(y.n, 3);
  mida__yaml_free(&y);
  assert_int_equal(mida__yaml_parse("", 0, &y), MIDA_OK);
  assert_int_equal(y.n, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reads_what_pyyaml_writes),
      cmocka_unit_test(test_block_scalars),
      cmocka_unit_test(test_rejects_what_it_does_not_read),
      cmocka_unit_test(test_empty_and_comments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

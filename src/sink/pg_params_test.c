/*
 * pg_params_test.c -- unit tests of the scanner that writes mida's ?N
 * query parameters as libpq's $N (pg_guard.h: mida__pg_dollar_params,
 * over mida__pg_write_params), which the PostgreSQL store and the MLflow
 * tracking-store reader (observe/mlflow_pg.c) share: a ?N is rewritten
 * only where PostgreSQL would read it as one, never inside quoted text,
 * E'' strings with their backslash escapes, dollar-quoted bodies or
 * comments, and jsonb's ? operators are left alone.
 */
#include "sink/pg_guard.h"

#include "core/buf.h"
#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Whether sql comes out as want. */
static void assert_rewritten(const char *sql, const char *want) {
  mida__buf b;
  mida__buf_init(&b, 4096);
  int rc = mida__pg_dollar_params(sql, &b);
  if (rc != MIDA_OK)
    fail_msg("%s: %s", sql, mida_strerror(rc));
  if (strcmp(mida__buf_str(&b), want) != 0)
    fail_msg("%s\n  gave %s\n  want %s", sql, mida__buf_str(&b), want);
  mida__buf_free(&b);
}

static void test_placeholders_become_dollars(void **state) {
  (void)state;
  assert_rewritten("SELECT ?1, ?2", "SELECT $1, $2");
  assert_rewritten("WHERE a = ?10 AND b=?2", "WHERE a = $10 AND b=$2");
  assert_rewritten("to_regclass(?1::text)", "to_regclass($1::text)");
  assert_rewritten("", "");
}

static void test_quoted_text_is_copied_as_it_is(void **state) {
  (void)state;
  assert_rewritten("SELECT '?1', \"?2\", ?3", "SELECT '?1', \"?2\", $3");
  assert_rewritten("SELECT 'it''s ?1', ?2", "SELECT 'it''s ?1', $2");
  assert_rewritten("SELECT \"a\"\"?1\", ?2", "SELECT \"a\"\"?1\", $2");
}

static void test_e_strings_keep_their_backslash_escapes(void **state) {
  (void)state;
  /* \' does not end an E'' string: the ?1 after it is still inside. */
  assert_rewritten("SELECT E'it\\'s ?1', ?2", "SELECT E'it\\'s ?1', $2");
  assert_rewritten("SELECT e'\\\\', ?1", "SELECT e'\\\\', $1");
  /* In a plain string a backslash is a character like any other. */
  assert_rewritten("SELECT '\\', ?1", "SELECT '\\', $1");
  assert_rewritten("SELECT name'\\', ?1", "SELECT name'\\', $1");
}

static void test_comments_are_copied_as_they_are(void **state) {
  (void)state;
  assert_rewritten("SELECT ?1 -- it's ?2\n, ?3", "SELECT $1 -- it's ?2\n, $3");
  assert_rewritten("SELECT /* it's ?1 */ ?2", "SELECT /* it's ?1 */ $2");
}

static void test_dollar_quoted_bodies_are_copied_as_they_are(void **state) {
  (void)state;
  assert_rewritten("SELECT $$it's ?1$$, ?2", "SELECT $$it's ?1$$, $2");
  assert_rewritten("SELECT $f$ ?1 $$ ?2 $f$, ?3",
                   "SELECT $f$ ?1 $$ ?2 $f$, $3");
}

static void test_jsonb_question_operators_are_left_alone(void **state) {
  (void)state;
  assert_rewritten("WHERE used ? 'i' AND x ?| ?1",
                   "WHERE used ? 'i' AND x ?| $1");
  assert_rewritten("WHERE d ?& array['a'] AND d->>'k' = ?1",
                   "WHERE d ?& array['a'] AND d->>'k' = $1");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_placeholders_become_dollars),
      cmocka_unit_test(test_quoted_text_is_copied_as_it_is),
      cmocka_unit_test(test_e_strings_keep_their_backslash_escapes),
      cmocka_unit_test(test_comments_are_copied_as_they_are),
      cmocka_unit_test(test_dollar_quoted_bodies_are_copied_as_they_are),
      cmocka_unit_test(test_jsonb_question_operators_are_left_alone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * pg_isolate_test.c -- unit tests of pg_isolate.h, with a store imitated
 * by a function (the real one is tests/multinode/test_postgres_store.py's
 * test_a_refused_record_does_not_hold_back_the_others): every record but
 * the refused ones is applied once, in order; each refused one is
 * reported once; a failure that is not a refusal stops the search; the
 * SQLSTATE classes that refuse the data.
 */
#include "sink/pg_isolate.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define N 100

/* An imitation of a store: a transaction of records applies them all,
 * unless one is poison (refused) or the connection is down (from the
 * try numbered down_at on). */
typedef struct fake_store {
  const mida__rec *base; /* the batch's first record */
  int poison[N];         /* 1: the store refuses record i */
  int applied[N];        /* times record i was applied */
  int refused[N];        /* times record i was reported refused */
  int tries;             /* transactions tried */
  int down_at;           /* the try from which the connection is lost */
} fake_store;

static int try_batch(void *ctx, const mida__rec *recs, size_t n, int *refused) {
  fake_store *f = ctx;
  f->tries++;
  if (f->down_at > 0 && f->tries >= f->down_at)
    return MIDA_ESTORE; /* not a refusal: *refused stays 0 */
  size_t first = (size_t)(recs - f->base);
  for (size_t i = first; i < first + n; i++)
    if (f->poison[i]) {
      *refused = 1;
      return MIDA_ESTORE;
    }
  for (size_t i = first; i < first + n; i++)
    f->applied[i]++;
  return MIDA_OK;
}

static void note_refused(void *ctx, const mida__rec *rec) {
  fake_store *f = ctx;
  f->refused[rec - f->base]++;
}

static void test_every_record_but_the_poison_is_stored(void **state) {
  (void)state;
  static mida__rec recs[N];
  static fake_store f;
  const int poisons[][3] = {
      {0, -1, -1}, {N - 1, -1, -1}, {37, -1, -1}, {3, 4, 90}, {50, 51, 52}};
  for (size_t p = 0; p < sizeof poisons / sizeof poisons[0]; p++) {
    memset(&f, 0, sizeof f);
    f.base = recs;
    int k = 0;
    for (int j = 0; j < 3; j++)
      if (poisons[p][j] >= 0) {
        f.poison[poisons[p][j]] = 1;
        k++;
      }
    assert_int_equal(mida__pg_isolate(recs, N, try_batch, note_refused, &f),
                     MIDA_OK);
    for (int i = 0; i < N; i++) {
      assert_int_equal(f.applied[i], !f.poison[i]);
      assert_int_equal(f.refused[i], f.poison[i]);
    }
    /* About 2 log2(N) transactions a poison record, not one a record. */
    assert_true(f.tries <= k * 2 * 7);
  }
}

static void test_a_lost_connection_stops_the_search(void **state) {
  (void)state;
  static mida__rec recs[N];
  static fake_store f;
  memset(&f, 0, sizeof f);
  f.base = recs;
  f.poison[60] = 1;
  f.down_at = 2; /* the first half goes through, then the server is gone */
  assert_int_equal(mida__pg_isolate(recs, N, try_batch, note_refused, &f),
                   MIDA_ESTORE);
  for (int i = 0; i < N; i++)
    assert_int_equal(f.refused[i], 0); /* nothing counted: kept instead */
  assert_int_equal(f.tries, 2);
}

static void test_the_classes_that_refuse_the_data(void **state) {
  (void)state;
  assert_true(mida__pg_state_refuses_data("22003")); /* out of range */
  assert_true(mida__pg_state_refuses_data("22P05")); /* untranslatable */
  assert_true(mida__pg_state_refuses_data("23502")); /* NOT NULL */
  assert_true(mida__pg_state_refuses_data("23514")); /* CHECK */
  assert_true(mida__pg_state_refuses_data("54000")); /* index row size */
  assert_false(mida__pg_state_refuses_data(NULL));
  assert_false(mida__pg_state_refuses_data(""));
  assert_false(mida__pg_state_refuses_data("08006")); /* connection */
  assert_false(mida__pg_state_refuses_data("53100")); /* disk full */
  assert_false(mida__pg_state_refuses_data("57014")); /* cancelled */
  assert_false(mida__pg_state_refuses_data("40P01")); /* deadlock */
  assert_false(mida__pg_state_refuses_data("25006")); /* read-only */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_record_but_the_poison_is_stored),
      cmocka_unit_test(test_a_lost_connection_stops_the_search),
      cmocka_unit_test(test_the_classes_that_refuse_the_data),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

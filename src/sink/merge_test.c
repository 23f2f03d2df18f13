/*
 * merge_test.c -- unit tests of the batch fold table (merge.h): a row is
 * found again by its entity and id, and a batch clears only the slots it
 * uses, not all that the largest batch before it needed.
 */
#include "sink/merge.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_a_row_is_found_by_its_entity_and_id(void **state) {
  (void)state;
  mida__fold f = {0};
  assert_int_equal(mida__fold_reset(&f, 4), MIDA_OK);
  mida_id_t a = mida_id_new(), b = mida_id_new();
  mida__fold_slot *sa = mida__fold_find(&f, 1, &a);
  assert_int_equal(sa->image, 0);
  sa->image = 1;
  mida__fold_slot *sb = mida__fold_find(&f, 1, &b);
  sb->image = 2;
  mida__fold_slot *other = mida__fold_find(&f, 2, &a);
  assert_int_equal(other->image, 0);
  other->image = 3;
  assert_ptr_equal(mida__fold_find(&f, 1, &a), sa);
  assert_ptr_equal(mida__fold_find(&f, 1, &b), sb);
  assert_int_equal(mida__fold_find(&f, 2, &a)->image, 3);
  assert_int_equal(mida__fold_reset(&f, 4), MIDA_OK);
  assert_int_equal(mida__fold_find(&f, 1, &a)->image, 0);
  mida__fold_free(&f);
}

/* A batch of 4 records after one of 100,000 leaves the slots it does not
 * need as they are: clearing them cost every small batch as much as the
 * big one (bench_dask_ir.py). */
static void test_a_small_batch_clears_only_its_slots(void **state) {
  (void)state;
  mida__fold f = {0};
  assert_int_equal(mida__fold_reset(&f, 100000), MIDA_OK);
  size_t cap = f.cap;
  assert_true(cap >= 200000);
  memset(f.slots, 0xAB, cap * sizeof *f.slots);
  assert_int_equal(mida__fold_reset(&f, 4), MIDA_OK);
  assert_int_equal(f.cap, cap); /* the room stays */
  size_t used = 0;
  while (used < cap && f.slots[used].image == 0)
    used++;
  assert_true(used >= 8 && used <= 64);
  assert_int_equal(f.slots[cap - 1].image, 0xABABABABu);
  for (int i = 0; i < 4; i++) {
    mida_id_t id = mida_id_new();
    mida__fold_slot *s = mida__fold_find(&f, 1, &id);
    assert_int_equal(s->image, 0);
    assert_true(s >= f.slots && s < f.slots + used);
    s->image = (uint32_t)i + 1;
    assert_ptr_equal(mida__fold_find(&f, 1, &id), s);
  }
  mida__fold_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_row_is_found_by_its_entity_and_id),
      cmocka_unit_test(test_a_small_batch_clears_only_its_slots),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * data_rows_test.c -- unit tests of a transaction's kept data records
 * (data_rows.h): they come back in the order of their keys, those of one
 * key in the order they were added, and their strings as they were given.
 */
#include "sink/data_rows.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void add_row(mida__data_rows *d, const char *key, int64_t size) {
  mida__data_row *r = mida__data_rows_add(d);
  assert_non_null(r);
  assert_int_equal(mida__data_rows_text(d, &r->key, key, strlen(key)), MIDA_OK);
  r->size = size;
}

static const char *key_of(const mida__data_rows *d, size_t k, char *buf) {
  const mida__data_row *r = &d->rows[d->order[k]];
  memcpy(buf, mida__data_rows_str(d, r->key), r->key.len);
  buf[r->key.len] = '\0';
  return buf;
}

/* Keys in bytes' order, a prefix before the longer key; rows of one key in
 * the order they were added (a rename's later URI must win). */
static void test_rows_come_back_by_key_then_by_arrival(void **state) {
  (void)state;
  mida__data_rows d = {0};
  const char *keys[] = {"inode:1:20:5:9",
                        "inode:1:3:5:9",
                        "inode:1:20:5:9",
                        "inode:1:2",
                        "inode:1:20:5:9",
                        "b",
                        "a"};
  for (int i = 0; i < 7; i++)
    add_row(&d, keys[i], i);
  assert_int_equal(mida__data_rows_sort(&d), MIDA_OK);
  const char *want[] = {"a",
                        "b",
                        "inode:1:2",
                        "inode:1:20:5:9",
                        "inode:1:20:5:9",
                        "inode:1:20:5:9",
                        "inode:1:3:5:9"};
  const int64_t sizes[] = {6, 5, 3, 0, 2, 4, 1};
  char buf[64];
  for (size_t k = 0; k < 7; k++) {
    assert_string_equal(key_of(&d, k, buf), want[k]);
    assert_int_equal(d.rows[d.order[k]].size, sizes[k]);
  }
  mida__data_rows_free(&d);
}

/* Many rows, with runs already in order and many equal keys: sorted,
 * and stable (each key's rows by arrival). */
static void test_many_rows_sort_stably(void **state) {
  (void)state;
  mida__data_rows d = {0};
  size_t n = 10007;
  srand(7);
  for (size_t i = 0; i < n; i++) {
    char key[32];
    unsigned v = i % 3 == 0 ? (unsigned)i / 16 : (unsigned)rand() % 500;
    snprintf(key, sizeof key, "inode:65024:%u", v);
    add_row(&d, key, (int64_t)i);
  }
  assert_int_equal(mida__data_rows_sort(&d), MIDA_OK);
  int seen[10007] = {0};
  for (size_t k = 0; k < n; k++) {
    seen[d.order[k]]++;
    if (k == 0)
      continue;
    const mida__data_row *a = &d.rows[d.order[k - 1]];
    const mida__data_row *b = &d.rows[d.order[k]];
    size_t len = a->key.len < b->key.len ? a->key.len : b->key.len;
    int c = memcmp(mida__data_rows_str(&d, a->key),
                   mida__data_rows_str(&d, b->key), len);
    assert_true(c < 0 || (c == 0 && a->key.len <= b->key.len));
    if (c == 0 && a->key.len == b->key.len)
      assert_true(a->size < b->size);
  }
  for (size_t i = 0; i < n; i++)
    assert_int_equal(seen[i], 1);
  mida__data_rows_free(&d);
}

/* A string's bytes are copied (the record's frame goes away), an empty one
 * is not NULL, and one never given is. */
static void test_strings_are_copied_and_null_is_kept(void **state) {
  (void)state;
  mida__data_rows d = {0};
  char uri[] = "file:///tmp/x";
  mida__data_row *r = mida__data_rows_add(&d);
  assert_non_null(r);
  assert_int_equal(mida__data_rows_text(&d, &r->key, "k", 1), MIDA_OK);
  assert_int_equal(mida__data_rows_text(&d, &r->uri, uri, strlen(uri)),
                   MIDA_OK);
  assert_int_equal(mida__data_rows_text(&d, &r->name, NULL, 0), MIDA_OK);
  memset(uri, 'z', strlen(uri));
  assert_memory_equal(mida__data_rows_str(&d, r->uri), "file:///tmp/x", 13);
  assert_int_equal(r->uri.len, 13);
  assert_non_null(mida__data_rows_str(&d, r->name));
  assert_int_equal(r->name.len, 0);
  assert_null(mida__data_rows_str(&d, r->kind));
  assert_int_equal(r->size, -1);
  assert_int_equal(r->role, 0);
  mida__data_rows_clear(&d);
  assert_int_equal(d.n, 0);
  assert_false(mida__data_rows_full(&d));
  mida__data_rows_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_come_back_by_key_then_by_arrival),
      cmocka_unit_test(test_many_rows_sort_stably),
      cmocka_unit_test(test_strings_are_copied_and_null_is_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

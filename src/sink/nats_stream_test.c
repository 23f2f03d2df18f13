/*
 * nats_stream_test.c -- unit tests of nats_stream.h: subjects that the
 * previous mapping kept as they are keep their stream's name; subjects
 * that differ only where the previous mapping wrote '_' (a.b, a_b, a-b,
 * a:b) get distinct names, and so do long subjects that differ past the
 * 200th character; every name is a valid stream name. (The end to end
 * test, with nats-server: tests/multinode/test_nats_ingest.py's
 * test_nats_subjects_that_shared_a_stream_name.)
 */
#include "sink/nats_stream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void name_of(const char *subject, char *out) {
  mida__nats_stream_name(subject, out, MIDA_NATS_STREAM_NAME_MAX);
}

/* A name JetStream takes, and a directory name: letters, digits, '-' and
 * '_' only, at most 255 bytes. */
static void assert_valid(const char *name) {
  assert_true(strlen(name) > 0 && strlen(name) < MIDA_NATS_STREAM_NAME_MAX);
  for (const char *p = name; *p != '\0'; p++)
    assert_true((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || *p == '-' || *p == '_');
}

static void test_plain_subjects_keep_their_stream(void **state) {
  (void)state;
  const char *plain[] = {"mida", "a_b", "X-y_z09", "tasks"};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    char now[MIDA_NATS_STREAM_NAME_MAX], before[MIDA_NATS_STREAM_NAME_MAX];
    name_of(plain[i], now);
    mida__nats_legacy_stream_name(plain[i], before, sizeof before);
    assert_string_equal(now, before);
  }
  char name[MIDA_NATS_STREAM_NAME_MAX];
  name_of("mida", name);
  assert_string_equal(name, "MIDA_mida");
}

static void test_subjects_that_shared_a_name_no_longer_do(void **state) {
  (void)state;
  /* The previous mapping gave all of these "MIDA_a_b". */
  const char *subjects[] = {"a_b", "a.b", "a-b", "a:b", "a b", "a*b", "a>b"};
  enum { N = sizeof subjects / sizeof subjects[0] };
  char names[N][MIDA_NATS_STREAM_NAME_MAX];
  for (int i = 0; i < N; i++) {
    char before[MIDA_NATS_STREAM_NAME_MAX];
    mida__nats_legacy_stream_name(subjects[i], before, sizeof before);
    if (i != 2) /* a-b kept its '-' */
      assert_string_equal(before, "MIDA_a_b");
    name_of(subjects[i], names[i]);
    assert_valid(names[i]);
    for (int j = 0; j < i; j++)
      assert_string_not_equal(names[i], names[j]);
  }
  /* The mapped form stays readable. */
  assert_int_equal(strncmp(names[1], "MIDA-a_b-", 9), 0);
  assert_int_equal(strlen(names[1]), 9 + 16);
}

static void test_long_subjects_differing_late_differ(void **state) {
  (void)state;
  char a[256], b[256], c[256];
  memset(a, 'x', 255);
  a[255] = '\0';
  memcpy(b, a, sizeof b);
  b[254] = 'y'; /* past the 200 characters the previous mapping kept */
  memcpy(c, a, sizeof c);
  c[201] = '\0'; /* 201 plain characters */
  char na[MIDA_NATS_STREAM_NAME_MAX], nb[MIDA_NATS_STREAM_NAME_MAX],
      nc[MIDA_NATS_STREAM_NAME_MAX];
  name_of(a, na);
  name_of(b, nb);
  name_of(c, nc);
  assert_valid(na);
  assert_valid(nb);
  assert_valid(nc);
  assert_string_not_equal(na, nb);
  assert_string_not_equal(na, nc);
  char before_a[MIDA_NATS_STREAM_NAME_MAX], before_b[MIDA_NATS_STREAM_NAME_MAX];
  mida__nats_legacy_stream_name(a, before_a, sizeof before_a);
  mida__nats_legacy_stream_name(b, before_b, sizeof before_b);
  assert_string_equal(before_a, before_b); /* the old collision */
  /* 200 plain characters are still kept as they are. */
  c[200] = '\0';
  name_of(c, nc);
  assert_int_equal(strlen(nc), 205);
  assert_int_equal(strncmp(nc, "MIDA_", 5), 0);
}

static void test_a_short_buffer_is_cut_not_overrun(void **state) {
  (void)state;
  char small[8];
  memset(small, '#', sizeof small);
  mida__nats_stream_name("a.b.c.d.e", small, 4);
  assert_string_equal(small, "MID");
  assert_int_equal(small[4], '#');
  mida__nats_legacy_stream_name("a.b", small, 6);
  assert_string_equal(small, "MIDA_");
}

static void test_subject_patterns(void **state) {
  (void)state;
  assert_true(mida__nats_subject_matches("a.b", "a.b"));
  assert_false(mida__nats_subject_matches("a.b", "a_b"));
  assert_false(mida__nats_subject_matches("a_b", "a.b"));
  assert_false(mida__nats_subject_matches("a.b", "a.b.c"));
  assert_false(mida__nats_subject_matches("a.b.c", "a.b"));
  assert_true(mida__nats_subject_matches("a.*", "a.b"));
  assert_false(mida__nats_subject_matches("a.*", "a.b.c"));
  assert_false(mida__nats_subject_matches("a.*", "a"));
  assert_true(mida__nats_subject_matches("*.b", "a.b"));
  assert_true(mida__nats_subject_matches("a.>", "a.b.c"));
  assert_false(mida__nats_subject_matches("a.>", "a"));
  assert_true(mida__nats_subject_matches(">", "a"));
  assert_true(mida__nats_subject_matches("mida", "mida"));
  assert_false(mida__nats_subject_matches("mida", "mid"));
  assert_false(mida__nats_subject_matches("mid", "mida"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_subjects_keep_their_stream),
      cmocka_unit_test(test_subjects_that_shared_a_name_no_longer_do),
      cmocka_unit_test(test_long_subjects_differing_late_differ),
      cmocka_unit_test(test_a_short_buffer_is_cut_not_overrun),
      cmocka_unit_test(test_subject_patterns),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * record_test.c -- the record payload format: round trip, forward
 * compatibility, and rejection of corrupt payloads.
 */
#include "core/record.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

static size_t encode_sample(uint8_t *buf, size_t cap, mida_id_t *id) {
  mida__enc e;
  mida__enc_init(&e, buf, cap);
  *id = mida_id_new();
  mida__enc_id(&e, MIDA_F_ID, id);
  mida__enc_str(&e, MIDA_F_ACTIVITY, "simulate", (size_t)-1);
  mida__enc_i64(&e, MIDA_F_STARTED, -42);
  mida__enc_f64(&e, MIDA_F_VALUE, -INFINITY);
  mida__enc_str(&e, MIDA_F_USED, "{\"lr\":0.1}", (size_t)-1);
  mida__enc_str(&e, MIDA_F_ERROR, "", 0);
  return e.overflow ? 0 : e.len;
}

static void test_round_trip_keeps_every_field(void **state) {
  (void)state;
  uint8_t buf[256];
  mida_id_t id;
  size_t len = encode_sample(buf, sizeof buf, &id);
  assert_true(len > 0);
  mida__rec rec;
  assert_int_equal(mida__rec_decode(MIDA_REC_TASK, buf, len, &rec), MIDA_OK);
  assert_int_equal(rec.type, MIDA_REC_TASK);
  assert_true(rec.f[MIDA_F_ID].present);
  assert_memory_equal(rec.f[MIDA_F_ID].v.id.bytes, id.bytes, 16);
  assert_int_equal(rec.f[MIDA_F_ACTIVITY].v.str.len, 8);
  assert_memory_equal(rec.f[MIDA_F_ACTIVITY].v.str.ptr, "simulate", 8);
  assert_int_equal(rec.f[MIDA_F_STARTED].v.i64, -42);
  assert_true(isinf(rec.f[MIDA_F_VALUE].v.f64) &&
              rec.f[MIDA_F_VALUE].v.f64 < 0);
  assert_true(rec.f[MIDA_F_ERROR].present);
  assert_int_equal(rec.f[MIDA_F_ERROR].v.str.len, 0);
  assert_false(rec.f[MIDA_F_GENERATED].present);

  /* Re-encoding a decoded record gives a payload that decodes the same. */
  uint8_t again[256];
  size_t len2 = mida__rec_encode(&rec, again, sizeof again);
  assert_int_equal(len2, len);
  assert_int_equal(mida__rec_encoded_size(&rec), len);
  mida__rec rec2;
  assert_int_equal(mida__rec_decode(MIDA_REC_TASK, again, len2, &rec2),
                   MIDA_OK);
  assert_memory_equal(rec2.f[MIDA_F_USED].v.str.ptr, "{\"lr\":0.1}", 10);
}

static void test_encoder_reports_overflow_without_writing_past(void **state) {
  (void)state;
  uint8_t buf[40];
  memset(buf, 0xAB, sizeof buf);
  mida_id_t id;
  assert_int_equal(encode_sample(buf, 30, &id), 0);
  assert_int_equal(buf[30], 0xAB);
  assert_int_equal(buf[39], 0xAB);
}

/* A string built in place decodes as one given whole; one that does not
 * fit is counted, as mida__enc_str counts it. */
static void test_string_reserved_then_filled(void **state) {
  (void)state;
  uint8_t buf[64];
  mida__enc e;
  mida__enc_init(&e, buf, sizeof buf);
  char *p = mida__enc_str_reserve(&e, MIDA_F_URI, 10);
  assert_non_null(p);
  memcpy(p, "file:///ab", 10);
  mida__enc_i64(&e, MIDA_F_BYTES, 4096);
  mida__rec rec;
  assert_int_equal(mida__rec_decode(MIDA_REC_DATA, buf, e.len, &rec), MIDA_OK);
  assert_int_equal(rec.f[MIDA_F_URI].v.str.len, 10);
  assert_memory_equal(rec.f[MIDA_F_URI].v.str.ptr, "file:///ab", 10);
  assert_int_equal(rec.f[MIDA_F_BYTES].v.i64, 4096);
  size_t used = e.len;
  assert_null(mida__enc_str_reserve(&e, MIDA_F_NAME, 100));
  assert_true(e.overflow);
  assert_int_equal(e.len, used + 106);
}

static void test_unknown_fields_are_skipped(void **state) {
  (void)state;
  uint8_t buf[64];
  mida__enc e;
  mida__enc_init(&e, buf, sizeof buf);
  mida__enc_str(&e, 200, "from the future", (size_t)-1);
  mida__enc_i64(&e, 201, 7);
  mida__enc_i64(&e, MIDA_F_STEP, 3);
  mida__rec rec;
  assert_int_equal(mida__rec_decode(MIDA_REC_METRIC, buf, e.len, &rec),
                   MIDA_OK);
  assert_int_equal(rec.f[MIDA_F_STEP].v.i64, 3);
}

static void test_corrupt_payloads_are_rejected(void **state) {
  (void)state;
  uint8_t buf[256];
  mida_id_t id;
  size_t len = encode_sample(buf, sizeof buf, &id);
  mida__rec rec;
  /* Every truncation either decodes a prefix of whole fields or fails. */
  for (size_t cut = 1; cut < len; cut++) {
    int rc = mida__rec_decode(MIDA_REC_TASK, buf, cut, &rec);
    assert_true(rc == MIDA_OK || rc == MIDA_ECORRUPT);
  }
  assert_int_equal(mida__rec_decode(MIDA_REC_TASK, buf, 5, &rec),
                   MIDA_ECORRUPT);
  /* A known tag with the wrong kind. */
  uint8_t wrong[] = {MIDA_F_ACTIVITY, MIDA_KIND_I64, 1, 0, 0, 0, 0, 0, 0, 0};
  assert_int_equal(mida__rec_decode(MIDA_REC_TASK, wrong, sizeof wrong, &rec),
                   MIDA_ECORRUPT);
  /* A repeated tag. */
  uint8_t twice[20];
  mida__enc e;
  mida__enc_init(&e, twice, sizeof twice);
  mida__enc_i64(&e, MIDA_F_STEP, 1);
  mida__enc_i64(&e, MIDA_F_STEP, 2);
  assert_int_equal(mida__rec_decode(MIDA_REC_METRIC, twice, e.len, &rec),
                   MIDA_ECORRUPT);
  /* A string whose length runs past the end. */
  uint8_t longstr[] = {MIDA_F_KEY, MIDA_KIND_STR, 0xFF, 0xFF, 0xFF, 0x7F, 'a'};
  assert_int_equal(
      mida__rec_decode(MIDA_REC_METRIC, longstr, sizeof longstr, &rec),
      MIDA_ECORRUPT);
  /* An unknown kind. */
  uint8_t kind[] = {MIDA_F_KEY, 9, 0, 0};
  assert_int_equal(mida__rec_decode(MIDA_REC_METRIC, kind, sizeof kind, &rec),
                   MIDA_ECORRUPT);
}

static void test_names_of_fields_and_types(void **state) {
  (void)state;
  assert_string_equal(mida__field_name(MIDA_F_SOURCE_KEY), "source_key");
  assert_string_equal(mida__rec_type_name(MIDA_REC_METRIC), "metric");
  assert_null(mida__field_name(250));
  assert_int_equal(mida__field_kind(MIDA_F_VALUE), MIDA_KIND_F64);
  for (unsigned t = 1; t < MIDA_F_COUNT; t++) {
    assert_non_null(mida__field_name(t));
    assert_true(mida__field_kind(t) != 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_keeps_every_field),
      cmocka_unit_test(test_encoder_reports_overflow_without_writing_past),
      cmocka_unit_test(test_string_reserved_then_filled),
      cmocka_unit_test(test_unknown_fields_are_skipped),
      cmocka_unit_test(test_corrupt_payloads_are_rejected),
      cmocka_unit_test(test_names_of_fields_and_types),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

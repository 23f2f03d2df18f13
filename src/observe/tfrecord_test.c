/*
 * tfrecord_test.c -- unit tests of the TFRecord framing of event files:
 * the masked CRC against TensorFlow's values, whole records, records still
 * being written, bad checksums, and finding the next record after garbage.
 */
#include "observe/tfrecord.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_masked_crc_matches_tensorflow(void **state) {
  (void)state;
  /* Values computed by tensorboardX's crc32c.masked_crc32c(). */
  assert_int_equal(mida__tfr_masked_crc("hello", 5), 0x191c1fbbu);
  assert_int_equal(mida__tfr_masked_crc("", 0), 0xa282ead8u);
}

static void test_written_record_reads_back(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = mida__tfr_write(buf, sizeof buf, "event!", 6);
  assert_int_equal(n, 6 + MIDA_TFR_OVERHEAD);
  mida__tfr_frame fr;
  assert_int_equal(mida__tfr_next(buf, n, 1024, &fr), MIDA_TFR_RECORD);
  assert_int_equal(fr.consumed, n);
  assert_int_equal(fr.data_len, 6);
  assert_memory_equal(fr.data, "event!", 6);
}

static void test_write_refuses_small_buffer(void **state) {
  (void)state;
  uint8_t buf[20];
  assert_int_equal(mida__tfr_write(buf, sizeof buf, "12345", 5), 0);
  assert_int_equal(mida__tfr_write(buf, sizeof buf, "1234", 4), 20);
}

static void test_every_prefix_is_partial(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = mida__tfr_write(buf, sizeof buf, "0123456789", 10);
  for (size_t len = 0; len < n; len++) {
    mida__tfr_frame fr;
    assert_int_equal(mida__tfr_next(buf, len, 1024, &fr), MIDA_TFR_PARTIAL);
    assert_int_equal(fr.consumed, 0);
    assert_int_equal(fr.needed, len < MIDA_TFR_HEADER ? MIDA_TFR_HEADER : n);
  }
}

static void test_flipped_data_byte_is_bad_data(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = mida__tfr_write(buf, sizeof buf, "0123456789", 10);
  buf[MIDA_TFR_HEADER + 3] ^= 0x10;
  mida__tfr_frame fr;
  assert_int_equal(mida__tfr_next(buf, n, 1024, &fr), MIDA_TFR_BAD_DATA);
  assert_int_equal(fr.consumed, n); /* the whole record is skipped */
  assert_null(fr.data);
}

static void test_flipped_data_crc_is_bad_data(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = mida__tfr_write(buf, sizeof buf, "0123456789", 10);
  buf[n - 1] ^= 0x01;
  mida__tfr_frame fr;
  assert_int_equal(mida__tfr_next(buf, n, 1024, &fr), MIDA_TFR_BAD_DATA);
}

static void test_flipped_length_is_bad_header(void **state) {
  (void)state;
  uint8_t buf[64];
  size_t n = mida__tfr_write(buf, sizeof buf, "0123456789", 10);
  buf[0] ^= 0x02;
  mida__tfr_frame fr;
  assert_int_equal(mida__tfr_next(buf, n, 1024, &fr), MIDA_TFR_BAD_HEADER);
  assert_int_equal(fr.consumed, 1);
}

static void test_length_over_cap_is_bad_header(void **state) {
  (void)state;
  uint8_t buf[128];
  static const uint8_t twenty[20] = {1, 2, 3};
  size_t n = mida__tfr_write(buf, sizeof buf, twenty, sizeof twenty);
  mida__tfr_frame fr;
  assert_int_equal(mida__tfr_next(buf, n, 19, &fr), MIDA_TFR_BAD_HEADER);
  assert_int_equal(mida__tfr_next(buf, n, 20, &fr), MIDA_TFR_RECORD);
}

static void test_scan_finds_record_after_garbage(void **state) {
  (void)state;
  uint8_t buf[128];
  memset(buf, 0xA5, 37);
  size_t n = 37 + mida__tfr_write(buf + 37, sizeof buf - 37, "found", 5);
  size_t pos = 0, skipped = 0;
  mida__tfr_frame fr;
  mida__tfr_status st;
  while ((st = mida__tfr_next(buf + pos, n - pos, 1024, &fr)) ==
         MIDA_TFR_BAD_HEADER) {
    pos += fr.consumed;
    skipped++;
  }
  assert_int_equal(st, MIDA_TFR_RECORD);
  assert_int_equal(skipped, 37);
  assert_memory_equal(fr.data, "found", 5);
}

static void test_empty_record(void **state) {
  (void)state;
  uint8_t buf[16];
  size_t n = mida__tfr_write(buf, sizeof buf, NULL, 0);
  assert_int_equal(n, 16);
  mida__tfr_frame fr;
  assert_int_equal(mida__tfr_next(buf, n, 1024, &fr), MIDA_TFR_RECORD);
  assert_int_equal(fr.data_len, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_masked_crc_matches_tensorflow),
      cmocka_unit_test(test_written_record_reads_back),
      cmocka_unit_test(test_write_refuses_small_buffer),
      cmocka_unit_test(test_every_prefix_is_partial),
      cmocka_unit_test(test_flipped_data_byte_is_bad_data),
      cmocka_unit_test(test_flipped_data_crc_is_bad_data),
      cmocka_unit_test(test_flipped_length_is_bad_header),
      cmocka_unit_test(test_length_over_cap_is_bad_header),
      cmocka_unit_test(test_scan_finds_record_after_garbage),
      cmocka_unit_test(test_empty_record),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

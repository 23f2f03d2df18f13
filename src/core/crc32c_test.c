/*
 * crc32c_test.c -- unit tests of the CRC-32C that guards journal frames:
 * known check values, hardware and table paths agreeing byte for byte, and
 * chaining.
 */
#include "core/crc32c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define RANDOM_BYTES 1100

/* A fixed pseudo-random sequence (xorshift64), so failures reproduce. */
static void fill_random(uint8_t *buf, size_t len, uint64_t seed) {
  uint64_t x = seed | 1;
  for (size_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    buf[i] = (uint8_t)(x >> 32);
  }
}

static void test_check_value_of_123456789(void **state) {
  (void)state;
  assert_int_equal(mida__crc32c(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(mida__crc32c_sw(0, "123456789", 9), 0xE3069283u);
}

static void test_32_zero_bytes(void **state) {
  (void)state;
  uint8_t zeros[32] = {0};
  assert_int_equal(mida__crc32c(0, zeros, sizeof zeros), 0x8A9136AAu);
  assert_int_equal(mida__crc32c_sw(0, zeros, sizeof zeros), 0x8A9136AAu);
}

static void test_32_ones_bytes(void **state) {
  (void)state;
  uint8_t ones[32];
  memset(ones, 0xff, sizeof ones);
  assert_int_equal(mida__crc32c(0, ones, sizeof ones), 0x62A8AB43u);
}

static void test_empty_input_keeps_crc(void **state) {
  (void)state;
  assert_int_equal(mida__crc32c(0, NULL, 0), 0);
  assert_int_equal(mida__crc32c(0x12345678u, "", 0), 0x12345678u);
}

static void
test_dispatch_equals_table_on_all_lengths_and_offsets(void **state) {
  (void)state;
  uint8_t *buf = malloc(RANDOM_BYTES + 8);
  assert_non_null(buf);
  fill_random(buf, RANDOM_BYTES + 8, 42);
  for (size_t start = 0; start < 8; start++) {
    for (size_t len = 0; len <= 1000; len++) {
      uint32_t fast = mida__crc32c(0, buf + start, len);
      uint32_t slow = mida__crc32c_sw(0, buf + start, len);
      if (fast != slow)
        fail_msg("start %zu len %zu: %08x != %08x", start, len, fast, slow);
    }
  }
  free(buf);
}

static void test_chained_equals_whole(void **state) {
  (void)state;
  uint8_t buf[RANDOM_BYTES];
  fill_random(buf, sizeof buf, 7);
  uint32_t whole = mida__crc32c(0, buf, sizeof buf);
  for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
    uint32_t a = mida__crc32c(0, buf, cut);
    assert_int_equal(mida__crc32c(a, buf + cut, sizeof buf - cut), whole);
    uint32_t b = mida__crc32c_sw(0, buf, cut);
    assert_int_equal(mida__crc32c_sw(b, buf + cut, sizeof buf - cut), whole);
  }
}

/* A journal frame's checksum: eight header bytes, then a payload that is
 * not adjacent to them, in one call, is the two calls' CRC (and the
 * table's), from any starting CRC, payloads of every length and offset. */
static void test_8_then_equals_two_calls(void **state) {
  (void)state;
  uint8_t buf[1100];
  fill_random(buf, sizeof buf, 11);
  for (uint32_t crc = 0; crc < 3; crc++) {
    for (size_t start = 16; start < 24; start++) {
      for (size_t len = 0; len <= 1000; len += 1 + len / 16) {
        uint32_t want = mida__crc32c(mida__crc32c(crc, buf, 8),
                                     buf + start, len);
        uint32_t table = mida__crc32c_sw(mida__crc32c_sw(crc, buf, 8),
                                         buf + start, len);
        assert_int_equal(want, table);
        assert_int_equal(mida__crc32c_8_then(crc, buf, buf + start, len),
                         want);
      }
    }
  }
}

static void test_flipped_bit_changes_crc(void **state) {
  (void)state;
  uint8_t buf[256];
  fill_random(buf, sizeof buf, 9);
  uint32_t before = mida__crc32c(0, buf, sizeof buf);
  for (size_t i = 0; i < sizeof buf; i++) {
    buf[i] ^= 0x10;
    assert_int_not_equal(mida__crc32c(0, buf, sizeof buf), before);
    buf[i] ^= 0x10;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check_value_of_123456789),
      cmocka_unit_test(test_32_zero_bytes),
      cmocka_unit_test(test_32_ones_bytes),
      cmocka_unit_test(test_empty_input_keeps_crc),
      cmocka_unit_test(test_dispatch_equals_table_on_all_lengths_and_offsets),
      cmocka_unit_test(test_chained_equals_whole),
      cmocka_unit_test(test_8_then_equals_two_calls),
      cmocka_unit_test(test_flipped_bit_changes_crc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

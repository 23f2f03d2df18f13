/*
 * sha256_test.c -- SHA-256 against the FIPS 180-4 examples and a long
 * message fed in uneven pieces.
 */
#include "core/sha256.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static void hex(const uint8_t d[32], char out[65]) {
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void digest_of(const char *s, size_t len, char out[65]) {
  mida__sha256 c;
  uint8_t d[32];
  mida__sha256_init(&c);
  mida__sha256_update(&c, s, len);
  mida__sha256_final(&c, d);
  hex(d, out);
}

static void test_known_answers(void **state) {
  (void)state;
  char h[65];
  digest_of("", 0, h);
  assert_string_equal(
      h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  digest_of("abc", 3, h);
  assert_string_equal(
      h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  digest_of(two, strlen(two), h);
  assert_string_equal(
      h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_pieces_give_the_same_digest(void **state) {
  (void)state;
  static char million[1000000];
  memset(million, 'a', sizeof million);
  mida__sha256 c;
  mida__sha256_init(&c);
  size_t at = 0, step = 1;
  while (at < sizeof million) {
    size_t n = step < sizeof million - at ? step : sizeof million - at;
    mida__sha256_update(&c, million + at, n);
    at += n;
    step = step * 3 % 1000 + 1;
  }
  uint8_t d[32];
  char h[65];
  mida__sha256_final(&c, d);
  hex(d, h);
  assert_string_equal(
      h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_answers),
      cmocka_unit_test(test_pieces_give_the_same_digest),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

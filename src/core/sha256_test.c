/*
 * sha256_test.c -- SHA-256 against the FIPS 180-4 examples, and fed in
 * pieces of every size.
 */
#include "core/sha256.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

static void test_known_digests(void **state) {
  (void)state;
  char t[MIDA_SHA256_TEXT];
  mida__sha256_text("", 0, t);
  assert_string_equal(t, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b"
                         "934ca495991b7852b855");
  mida__sha256_text("abc", 3, t);
  assert_string_equal(t, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a39617"
                         "7a9cb410ff61f20015ad");
  const char *two =
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  mida__sha256_text(two, strlen(two), t);
  assert_string_equal(t, "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff"
                         "2167f6ecedd419db06c1");
}

static void test_pieces(void **state) {
  (void)state;
  static char a[1000000];
  memset(a, 'a', sizeof a);
  for (size_t piece = 1; piece <= 130; piece += 43) {
    mida__sha256 c;
    mida__sha256_init(&c);
    for (size_t off = 0; off < sizeof a; off += piece)
      mida__sha256_add(&c, a + off,
                       sizeof a - off < piece ? sizeof a - off : piece);
    unsigned char d[32];
    mida__sha256_done(&c, d);
    /* FIPS 180-4: one million 'a' */
    static const unsigned char want[32] = {
        0xcd, 0xc7, 0x6e, 0x5c, 0x99, 0x14, 0xfb, 0x92, 0x81, 0xa1, 0xc7,
        0xe2, 0x84, 0xd7, 0x3e, 0x67, 0xf1, 0x80, 0x9a, 0x48, 0xa4, 0x97,
        0x20, 0x0e, 0x04, 0x6d, 0x39, 0xcc, 0xc7, 0x11, 0x2c, 0xd0};
    assert_memory_equal(d, want, 32);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_digests),
      cmocka_unit_test(test_pieces),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

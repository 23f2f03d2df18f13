/*
 * wire_test.c -- unit tests of the broker message format (wire.h): a batch
 * survives encoding and decoding; large batches split into messages under
 * the size limit; every kind of damage is rejected with its own reason and
 * adds no record; broker URLs parse.
 */
#include "sink/wire.h"

#include "core/crc32c.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define N 50

static mida__rec in[N], out[4 * N];
static mida_id_t ids[N];
static char names[N][16];

static void make_batch(void) {
  memset(in, 0, sizeof in);
  for (int i = 0; i < N; i++) {
    ids[i] = mida_id_new();
    snprintf(names[i], sizeof names[i], "step-%d", i);
    in[i].type = MIDA_REC_TASK;
    mida__rec_set_id(&in[i], MIDA_F_ID, &ids[i]);
    mida__rec_set_str(&in[i], MIDA_F_ACTIVITY, names[i], (size_t)-1);
    mida__rec_set_i64(&in[i], MIDA_F_STATUS, MIDA_STATUS_FINISHED);
    mida__rec_set_i64(&in[i], MIDA_F_ENDED, 1000 + i);
  }
}

static void encode_all(mida__buf *b, size_t max) {
  mida__origin o = {"node-7", 1234};
  size_t next = 0;
  assert_int_equal(mida__wire_encode(in, N, &next, &o, 99, 5, max, b), MIDA_OK);
  assert_int_equal(next, N);
}

static void test_roundtrip_keeps_every_record_and_the_origin(void **state) {
  (void)state;
  make_batch();
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  encode_all(&b, 1 << 20);
  mida__wire_msg msg;
  size_t n = 0;
  int reason = -1;
  assert_int_equal(
      mida__wire_decode(b.ptr, b.len, &msg, out, 4 * N, &n, &reason), MIDA_OK);
  assert_int_equal(n, N);
  assert_int_equal(reason, MIDA_WIRE_OK);
  assert_string_equal(msg.host, "node-7");
  assert_int_equal(msg.pid, 1234);
  assert_int_equal(msg.sender, 99);
  assert_int_equal(msg.seq, 5);
  for (int i = 0; i < N; i++) {
    assert_int_equal(out[i].type, MIDA_REC_TASK);
    assert_memory_equal(&out[i].f[MIDA_F_ID].v.id, &ids[i], 16);
    assert_int_equal(out[i].f[MIDA_F_ACTIVITY].v.str.len, strlen(names[i]));
    assert_memory_equal(out[i].f[MIDA_F_ACTIVITY].v.str.ptr, names[i],
                        strlen(names[i]));
    assert_int_equal(out[i].f[MIDA_F_ENDED].v.i64, 1000 + i);
  }
  mida__buf_free(&b);
}

static void test_large_batch_splits_under_the_limit(void **state) {
  (void)state;
  make_batch();
  mida__origin o = {"h", 1};
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  size_t next = 0, total = 0;
  int messages = 0;
  while (next < N) {
    size_t before = next;
    assert_int_equal(mida__wire_encode(in, N, &next, &o, 1, 1, 400, &b),
                     MIDA_OK);
    assert_true(next > before);
    assert_true(b.len <= 400);
    mida__wire_msg msg;
    size_t n = 0;
    int reason = 0;
    assert_int_equal(
        mida__wire_decode(b.ptr, b.len, &msg, out, 4 * N, &n, &reason),
        MIDA_OK);
    total += n;
    messages++;
  }
  assert_int_equal(total, N);
  assert_true(messages > 1);
  mida__buf_free(&b);
}

/* Decodes data and checks it is rejected for reason, adding nothing. */
static void assert_rejected(const void *data, size_t len, int want) {
  mida__wire_msg msg;
  size_t n = 3; /* records already there stay, none is added */
  int reason = 0;
  assert_int_equal(mida__wire_decode(data, len, &msg, out, 4 * N, &n, &reason),
                   MIDA_ECORRUPT);
  assert_int_equal(reason, want);
  assert_int_equal(n, 3);
  assert_string_not_equal(mida__wire_reason_name(reason), "unknown reason");
}

/* Rewrites the CRC of a damaged message so that the damage is what the
 * decoder finds, not the CRC. */
static void fix_crc(char *p, size_t len) {
  uint32_t crc = mida__crc32c(0, p, len - 4);
  for (int i = 0; i < 4; i++)
    p[len - 4 + (size_t)i] = (char)(crc >> (8 * i));
}

static void test_damage_is_rejected_with_its_reason(void **state) {
  (void)state;
  make_batch();
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  encode_all(&b, 1 << 20);
  char *m = b.ptr;
  size_t len = b.len;

  assert_rejected("", 0, MIDA_WIRE_SHORT);
  assert_rejected(m, 20, MIDA_WIRE_SHORT);
  assert_rejected("{\"json\": \"from someone else\"}", 30, MIDA_WIRE_MAGIC_BAD);

  m[len - 1] ^= 1;
  assert_rejected(m, len, MIDA_WIRE_CRC_BAD);
  m[len - 1] ^= 1;

  m[8] = 2; /* version 2 */
  fix_crc(m, len);
  assert_rejected(m, len, MIDA_WIRE_VERSION_BAD);
  m[8] = 1;

  m[10] = 1; /* a flag this reader does not know */
  fix_crc(m, len);
  assert_rejected(m, len, MIDA_WIRE_FLAGS_BAD);
  m[10] = 0;

  m[12] = (char)(m[12] + 1); /* one record more than there are */
  fix_crc(m, len);
  assert_rejected(m, len, MIDA_WIRE_LENGTH_BAD);
  m[12] = (char)(m[12] - 1);

  size_t first = 42 + 6; /* header, host "node-7" */
  m[first + 2] = 9;      /* record version 9 */
  fix_crc(m, len);
  assert_rejected(m, len, MIDA_WIRE_RECORD_BAD);
  m[first + 2] = 1;

  m[first + 6] = 0x7f; /* a record length past the end */
  fix_crc(m, len);
  assert_rejected(m, len, MIDA_WIRE_LENGTH_BAD);
  m[first + 6] = 0;

  fix_crc(m, len);
  mida__wire_msg msg;
  size_t n = 0;
  int reason = 0;
  assert_int_equal(mida__wire_decode(m, len, &msg, out, 4 * N, &n, &reason),
                   MIDA_OK);
  /* Too little room: nothing added, and the caller can grow and retry. */
  n = 0;
  assert_int_equal(mida__wire_decode(m, len, &msg, out, N - 1, &n, &reason),
                   MIDA_ETOOBIG);
  assert_int_equal(n, 0);
  mida__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_keeps_every_record_and_the_origin),
      cmocka_unit_test(test_large_batch_splits_under_the_limit),
      cmocka_unit_test(test_damage_is_rejected_with_its_reason),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

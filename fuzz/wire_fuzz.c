/*
 * wire_fuzz.c -- libFuzzer target for the broker message decoder
 * (src/sink/wire.h), which reads whatever a Redis stream, a NATS subject or
 * an MQTT topic holds. A message that decodes must re-encode into one that
 * decodes to the same number of records; anything else must be rejected
 * with a reason, never read out of bounds.
 */
#include "sink/wire.h"

#include "core/crc32c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mida__rec recs[CAP], again[CAP];
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  /* The fuzzer cannot forge CRCs: for inputs of even length, make the CRC
   * right so that the checks behind it are explored too. */
  if (size >= 4 && size % 2 == 0) {
    uint32_t crc = mida__crc32c(0, copy, size - 4);
    for (int i = 0; i < 4; i++)
      copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
  }
  mida__wire_msg msg, msg2;
  size_t n = 0;
  int reason = 0;
  int rc = mida__wire_decode(copy, size, &msg, recs, CAP, &n, &reason);
  if (rc == MIDA_ECORRUPT &&
      (reason <= MIDA_WIRE_OK || reason >= MIDA_WIRE_REASON_COUNT))
    abort();
  if (rc == MIDA_OK) {
    mida__buf out;
    mida__buf_init(&out, (size_t)1 << 26);
    mida__origin origin = {msg.host, msg.pid};
    size_t next = 0;
    if (mida__wire_encode(recs, n, &next, &origin, msg.sender, msg.seq,
                          (size_t)1 << 26, &out) == MIDA_OK) {
      size_t n2 = 0;
      if (next != n ||
          mida__wire_decode(out.ptr, out.len, &msg2, again, CAP, &n2,
                            &reason) != MIDA_OK ||
          n2 != n || msg2.pid != msg.pid || strcmp(msg2.host, msg.host) != 0)
        abort();
    }
    mida__buf_free(&out);
  }
  free(copy);
  return 0;
}

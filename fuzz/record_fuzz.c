/*
 * record_fuzz.c -- libFuzzer target for the record decoder, which reads
 * journal frames and broker messages from other processes and hosts. A
 * payload that decodes must re-encode to a payload that decodes the same.
 */
#include "core/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  static mida__rec rec, again;
  if (mida__rec_decode(MIDA_REC_TASK, copy, size, &rec) == MIDA_OK) {
    size_t cap = size + 16;
    uint8_t *buf = malloc(cap);
    size_t n = buf ? mida__rec_encode(&rec, buf, cap) : 0;
    if (buf != NULL) {
      if (n == 0 && size > 0 && cap >= size) {
        /* Unknown fields are dropped on re-encoding, so it can only
         * shrink: failing to fit is a bug. */
        int any = 0;
        for (unsigned t = 1; t < MIDA_F_COUNT; t++)
          any |= rec.f[t].present;
        if (any)
          abort();
      }
      if (n > 0 && mida__rec_decode(MIDA_REC_TASK, buf, n, &again) != MIDA_OK)
        abort();
      free(buf);
    }
  }
  free(copy);
  return 0;
}

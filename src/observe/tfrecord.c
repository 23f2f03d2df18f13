/*
 * tfrecord.c -- TFRecord framing with masked CRC-32C checks (see
 * tfrecord.h for the format). Pure functions over bytes in memory.
 */
#include "observe/tfrecord.h"

#include "core/crc32c.h"

#include <string.h>

#define MASK_DELTA 0xa282ead8u

uint32_t mida__tfr_masked_crc(const void *data, size_t len) {
  uint32_t crc = mida__crc32c(0, data, len);
  return ((crc >> 15) | (crc << 17)) + MASK_DELTA;
}

static uint64_t load_u64le(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static uint32_t load_u32le(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void store_u32le(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

mida__tfr_status mida__tfr_next(const uint8_t *buf, size_t len, size_t max_data,
                                mida__tfr_frame *out) {
  memset(out, 0, sizeof *out);
  out->needed = MIDA_TFR_HEADER;
  if (len < MIDA_TFR_HEADER)
    return MIDA_TFR_PARTIAL;
  uint64_t dlen = load_u64le(buf);
  if (load_u32le(buf + 8) != mida__tfr_masked_crc(buf, 8) ||
      dlen > (uint64_t)max_data) {
    out->consumed = 1;
    return MIDA_TFR_BAD_HEADER;
  }
  size_t whole = (size_t)dlen + MIDA_TFR_OVERHEAD;
  out->needed = whole;
  if (len < whole)
    return MIDA_TFR_PARTIAL;
  out->consumed = whole;
  const uint8_t *data = buf + MIDA_TFR_HEADER;
  if (load_u32le(data + dlen) != mida__tfr_masked_crc(data, (size_t)dlen))
    return MIDA_TFR_BAD_DATA;
  out->data = data;
  out->data_len = (size_t)dlen;
  return MIDA_TFR_RECORD;
}

size_t mida__tfr_write(uint8_t *out, size_t cap, const void *data, size_t len) {
  if (cap < MIDA_TFR_OVERHEAD || len > cap - MIDA_TFR_OVERHEAD)
    return 0;
  uint64_t l = len;
  for (int i = 0; i < 8; i++)
    out[i] = (uint8_t)(l >> (8 * i));
  store_u32le(out + 8, mida__tfr_masked_crc(out, 8));
  if (len > 0)
    memcpy(out + MIDA_TFR_HEADER, data, len);
  store_u32le(out + MIDA_TFR_HEADER + len, mida__tfr_masked_crc(data, len));
  return len + MIDA_TFR_OVERHEAD;
}

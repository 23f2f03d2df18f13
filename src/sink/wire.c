/*
 * wire.c -- encoding and checking broker messages (format in wire.h) and
 * the sender ids of broker producers. (The consumer dispatch is in
 * consumer.c, which knows which backends are built in; URLs are read by
 * core/url.h.)
 *
 * The decoder is the one place where bytes from a broker -- possibly from
 * another program, another mida version, or a corrupted store -- enter
 * mida; it checks every length before reading and decodes every record
 * before it accepts the message, so that a message is applied whole or not
 * at all. fuzz/wire_fuzz.c drives it.
 */
#include "sink/wire.h"

#include "core/crc32c.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const reason_names[MIDA_WIRE_REASON_COUNT] = {
    [MIDA_WIRE_OK] = "accepted",
    [MIDA_WIRE_SHORT] = "too short to be a mida message",
    [MIDA_WIRE_MAGIC_BAD] = "not a mida message (bad magic)",
    [MIDA_WIRE_VERSION_BAD] = "unsupported wire version",
    [MIDA_WIRE_FLAGS_BAD] = "unknown flags",
    [MIDA_WIRE_CRC_BAD] = "bad CRC",
    [MIDA_WIRE_LENGTH_BAD] = "bad record lengths",
    [MIDA_WIRE_RECORD_BAD] = "undecodable record",
};

const char *mida__wire_reason_name(int reason) {
  if (reason < 0 || reason >= MIDA_WIRE_REASON_COUNT)
    return "unknown reason";
  return reason_names[reason];
}

/* ---- little-endian access ---------------------------------------------- */

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) {
    p[i] = (uint8_t)(v & 0xff);
    v >>= 8;
  }
}

static int add_le(mida__buf *b, uint64_t v, int bytes) {
  uint8_t t[8];
  put_le(t, v, bytes);
  return mida__buf_add(b, t, (size_t)bytes);
}

/* ---- decode ------------------------------------------------------------ */

int mida__wire_decode(const void *data, size_t len, mida__wire_msg *msg,
                      mida__rec *recs, size_t cap, size_t *nrecs, int *reason) {
  const uint8_t *p = data;
  *reason = MIDA_WIRE_OK;
  memset(msg, 0, sizeof *msg);
  if (data == NULL || len < MIDA_WIRE_HEADER_MIN + 4) {
    *reason = MIDA_WIRE_SHORT;
    /* Too short for a header, yet still a bad magic if it begins wrong:
     * the more useful of the two names for foreign data. */
    if (data != NULL && len >= 8 && memcmp(p, MIDA_WIRE_MAGIC, 8) != 0)
      *reason = MIDA_WIRE_MAGIC_BAD;
    return MIDA_ECORRUPT;
  }
  if (memcmp(p, MIDA_WIRE_MAGIC, 8) != 0) {
    *reason = MIDA_WIRE_MAGIC_BAD;
    return MIDA_ECORRUPT;
  }
  msg->version = (uint16_t)get_le(p + 8, 2);
  if (msg->version != MIDA_WIRE_VERSION) {
    *reason = MIDA_WIRE_VERSION_BAD;
    return MIDA_ECORRUPT;
  }
  if (get_le(p + 10, 2) != 0) {
    *reason = MIDA_WIRE_FLAGS_BAD;
    return MIDA_ECORRUPT;
  }
  uint32_t crc = (uint32_t)get_le(p + len - 4, 4);
  if (mida__crc32c(0, p, len - 4) != crc) {
    *reason = MIDA_WIRE_CRC_BAD;
    return MIDA_ECORRUPT;
  }
  msg->count = (uint32_t)get_le(p + 12, 4);
  msg->pid = (int64_t)get_le(p + 16, 8);
  msg->sender = get_le(p + 24, 8);
  msg->seq = get_le(p + 32, 8);
  size_t hostlen = (size_t)get_le(p + 40, 2);
  size_t end = len - 4;
  size_t pos = MIDA_WIRE_HEADER_MIN;
  if (hostlen > end - pos) {
    *reason = MIDA_WIRE_LENGTH_BAD;
    return MIDA_ECORRUPT;
  }
  size_t copy = hostlen < sizeof msg->host - 1 ? hostlen : sizeof msg->host - 1;
  memcpy(msg->host, p + pos, copy);
  msg->host[copy] = '\0';
  if (memchr(msg->host, 0, copy) != NULL) {
    *reason = MIDA_WIRE_LENGTH_BAD;
    return MIDA_ECORRUPT;
  }
  pos += hostlen;
  /* Each record takes at least its head: a count beyond that is a lie. */
  if ((uint64_t)msg->count * MIDA_WIRE_RECORD_HEAD > end - pos) {
    *reason = MIDA_WIRE_LENGTH_BAD;
    return MIDA_ECORRUPT;
  }
  if (msg->count > cap - *nrecs)
    return MIDA_ETOOBIG;
  size_t base = *nrecs;
  for (uint32_t i = 0; i < msg->count; i++) {
    if (end - pos < MIDA_WIRE_RECORD_HEAD) {
      *reason = MIDA_WIRE_LENGTH_BAD;
      return MIDA_ECORRUPT;
    }
    uint16_t type = (uint16_t)get_le(p + pos, 2);
    uint8_t version = p[pos + 2];
    size_t rlen = (size_t)get_le(p + pos + 3, 4);
    pos += MIDA_WIRE_RECORD_HEAD;
    if (rlen > end - pos) {
      *reason = MIDA_WIRE_LENGTH_BAD;
      return MIDA_ECORRUPT;
    }
    if (version != MIDA_RECORD_VERSION ||
        mida__rec_decode(type, p + pos, rlen, &recs[base + i]) != MIDA_OK) {
      *reason = MIDA_WIRE_RECORD_BAD;
      return MIDA_ECORRUPT;
    }
    pos += rlen;
  }
  if (pos != end) {
    *reason = MIDA_WIRE_LENGTH_BAD;
    return MIDA_ECORRUPT;
  }
  *nrecs = base + msg->count;
  return MIDA_OK;
}

/* ---- encode ------------------------------------------------------------ */

int mida__wire_encode(const mida__rec *recs, size_t n, size_t *next,
                      const mida__origin *origin, uint64_t sender, uint64_t seq,
                      size_t max_bytes, mida__buf *out) {
  mida__buf_reset(out);
  const char *host = origin != NULL && origin->host != NULL ? origin->host : "";
  size_t hostlen = strlen(host);
  if (hostlen > 0xffff)
    hostlen = 0xffff;
  int rc = mida__buf_add(out, MIDA_WIRE_MAGIC, 8);
  if (rc == MIDA_OK)
    rc = add_le(out, MIDA_WIRE_VERSION, 2);
  if (rc == MIDA_OK)
    rc = add_le(out, 0, 2);
  size_t count_at = out->len;
  if (rc == MIDA_OK)
    rc = add_le(out, 0, 4); /* count, filled in below */
  if (rc == MIDA_OK)
    rc = add_le(out, (uint64_t)(origin != NULL ? origin->pid : 0), 8);
  if (rc == MIDA_OK)
    rc = add_le(out, sender, 8);
  if (rc == MIDA_OK)
    rc = add_le(out, seq, 8);
  if (rc == MIDA_OK)
    rc = add_le(out, hostlen, 2);
  if (rc == MIDA_OK)
    rc = mida__buf_add(out, host, hostlen);
  uint32_t count = 0;
  size_t i = *next;
  for (; i < n && rc == MIDA_OK; i++) {
    size_t need = mida__rec_encoded_size(&recs[i]);
    if (count > 0 && out->len + MIDA_WIRE_RECORD_HEAD + need + 4 > max_bytes)
      break;
    if (need > UINT32_MAX)
      return MIDA_ETOOBIG;
    rc = add_le(out, recs[i].type, 2);
    if (rc == MIDA_OK)
      rc = add_le(out, MIDA_RECORD_VERSION, 1);
    if (rc == MIDA_OK)
      rc = add_le(out, need, 4);
    if (rc != MIDA_OK)
      break;
    /* Room for the payload, written in place. */
    size_t at = out->len;
    if (need > 0) {
      for (size_t k = 0; k < need && rc == MIDA_OK; k += 4096) {
        static const char zeros[4096];
        size_t chunk = need - k < sizeof zeros ? need - k : sizeof zeros;
        rc = mida__buf_add(out, zeros, chunk);
      }
      if (rc == MIDA_OK &&
          mida__rec_encode(&recs[i], out->ptr + at, need) != need)
        rc = MIDA_ECORRUPT;
    }
    count++;
  }
  if (rc != MIDA_OK)
    return rc;
  put_le((uint8_t *)out->ptr + count_at, count, 4);
  uint32_t crc = mida__crc32c(0, out->ptr, out->len);
  rc = add_le(out, crc, 4);
  if (rc == MIDA_OK)
    *next = i;
  return rc;
}

uint64_t mida__wire_sender_id(void) {
  static unsigned counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t h = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  h ^= (uint64_t)getpid() << 32;
  h ^= (uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) << 48;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

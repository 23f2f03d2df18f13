/*
 * id.c -- time-ordered 128-bit identifiers (UUIDv7, RFC 9562) and the clock.
 *
 * Layout of an id made here (big-endian bit numbers):
 *
 *     0..47   Unix time in milliseconds
 *    48..51   version, 7
 *    52..63   counter, high 12 bits
 *    64..65   variant, binary 10
 *    66..83   counter, low 18 bits
 *    84..127  44 random bits, fresh for each id
 *
 * Each thread keeps its own 30-bit counter, started at a random value below
 * 2^29 each new millisecond and incremented for every id, so the ids of one
 * thread are strictly increasing; if a thread makes 2^29 ids in one
 * millisecond it borrows the next millisecond. Ids of different threads,
 * processes or hosts collide only if the millisecond, the randomly started
 * counter and 44 random bits all agree. The generator is seeded from
 * getrandom(2) on a thread's first id and again in the child after fork(),
 * which is the only time it makes a system call.
 */
#include "core/hex.h"
#include "core/id.h"
#include "core/tls_addr.h"
#include "mida.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define COUNTER_BITS 30
#define COUNTER_START_MASK ((UINT32_C(1) << (COUNTER_BITS - 1)) - 1)
#define COUNTER_LIMIT (UINT32_C(1) << COUNTER_BITS)

typedef struct id_state {
  uint64_t last_ms;    /* millisecond of the previous id */
  uint32_t counter;    /* counter of the previous id */
  uint64_t rng;        /* splitmix64 state */
  unsigned generation; /* fork generation the state was seeded in */
  bool seeded;         /* whether rng was seeded */
} id_state;

static _Thread_local id_state tls_state;
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void) {
  atomic_fetch_add(&fork_generation, 1);
}

static void register_atfork(void) {
  pthread_atfork(NULL, NULL, after_fork_in_child);
}

static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Seeds the thread's generator from the kernel; falls back to mixing the
 * clock and the state's address if getrandom is unavailable. */
static void seed_state(id_state *st) {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
           (uint64_t)(uintptr_t)st;
  }
  st->rng = seed;
  st->last_ms = 0;
  st->counter = 0;
  st->generation = atomic_load_explicit(&fork_generation, memory_order_relaxed);
  st->seeded = true;
}

int64_t mida_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

mida_id_t mida_id_new(void) { return mida__id_new_at(mida_now_ns()); }

mida_id_t mida__id_new_at(int64_t now_ns) {
  id_state *st = &tls_state;
  MIDA_TLS_KEEP(st); /* one __tls_get_addr, not three (core/tls_addr.h) */
  if (!st->seeded ||
      st->generation !=
          atomic_load_explicit(&fork_generation, memory_order_relaxed)) {
    pthread_once(&atfork_once, register_atfork);
    seed_state(st);
  }

  uint64_t ms = (uint64_t)now_ns / 1000000;
  if (ms > st->last_ms) {
    st->last_ms = ms;
    st->counter = (uint32_t)splitmix64(&st->rng) & COUNTER_START_MASK;
  } else if (++st->counter >= COUNTER_LIMIT) {
    /* Clock went back or 2^29 ids in a millisecond: borrow the next one. */
    st->last_ms++;
    st->counter = (uint32_t)splitmix64(&st->rng) & COUNTER_START_MASK;
  }

  uint64_t hi = (st->last_ms << 16) | (UINT64_C(7) << 12) | (st->counter >> 18);
  uint64_t lo = (UINT64_C(2) << 62) |
                ((uint64_t)(st->counter & 0x3FFFF) << 44) |
                (splitmix64(&st->rng) >> 20);
  mida_id_t id;
  for (int i = 0; i < 8; i++) {
    id.bytes[i] = (uint8_t)(hi >> (56 - 8 * i));
    id.bytes[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
  }
  return id;
}

char *mida_id_format(const mida_id_t *id, char *buf) {
  static const char hex[] = "0123456789abcdef";
  char *p = buf;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *p++ = '-';
    *p++ = hex[id->bytes[i] >> 4];
    *p++ = hex[id->bytes[i] & 0xF];
  }
  *p = '\0';
  return buf;
}

int mida_id_parse(const char *text, mida_id_t *out) {
  if (text == NULL || out == NULL)
    return MIDA_EINVAL;
  mida_id_t id;
  const char *p = text;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      if (*p != '-')
        return MIDA_EINVAL;
      p++;
    }
    int h = mida__hex_value(p[0]);
    int l = h < 0 ? -1 : mida__hex_value(p[1]);
    if (l < 0)
      return MIDA_EINVAL;
    id.bytes[i] = (uint8_t)(h << 4 | l);
    p += 2;
  }
  if (*p != '\0')
    return MIDA_EINVAL;
  *out = id;
  return MIDA_OK;
}

int mida_id_is_nil(const mida_id_t *id) {
  static const mida_id_t nil;
  return id == NULL || memcmp(id->bytes, nil.bytes, 16) == 0;
}

/* FNV-1a over ns, a separator and name, from the given offset basis, then
 * a strong finalizer so that every output bit depends on every input bit. */
static uint64_t name_hash(uint64_t basis, const char *ns, const char *name) {
  uint64_t h = basis;
  const char *parts[2] = {ns, name};
  for (int k = 0; k < 2; k++) {
    for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
      h ^= *p;
      h *= UINT64_C(0x100000001B3);
    }
    h ^= 0xFF; /* separator: ("ab","c") differs from ("a","bc") */
    h *= UINT64_C(0x100000001B3);
  }
  uint64_t state = h;
  return splitmix64(&state);
}

mida_id_t mida_id_from_name(const char *ns, const char *name) {
  mida_id_t id;
  if (mida_id_parse(name, &id) == MIDA_OK)
    return id;
  uint64_t hi = name_hash(UINT64_C(0xCBF29CE484222325), ns, name);
  uint64_t lo = name_hash(UINT64_C(0x84222325CBF29CE4), ns, name);
  hi = (hi & ~UINT64_C(0xF000)) | (UINT64_C(8) << 12);
  lo = (lo & ~(UINT64_C(3) << 62)) | (UINT64_C(2) << 62);
  for (int i = 0; i < 8; i++) {
    id.bytes[i] = (uint8_t)(hi >> (56 - 8 * i));
    id.bytes[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
  }
  return id;
}

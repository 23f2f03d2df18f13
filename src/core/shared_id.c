/*
 * shared_id.c -- the sequence lock of shared_id.h.
 */
#include "core/shared_id.h"

void mida__shared_id_store(mida__shared_id *sid, const mida_id_t *id) {
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; i++) {
    hi = hi << 8 | id->bytes[i];
    lo = lo << 8 | id->bytes[8 + i];
  }
  atomic_fetch_add_explicit(&sid->seq, 1, memory_order_acq_rel);
  atomic_store_explicit(&sid->hi, hi, memory_order_relaxed);
  atomic_store_explicit(&sid->lo, lo, memory_order_relaxed);
  atomic_fetch_add_explicit(&sid->seq, 1, memory_order_release);
}

mida_id_t mida__shared_id_load(const mida__shared_id *sid) {
  mida__shared_id *s = (mida__shared_id *)sid;
  uint64_t before, after, hi, lo;
  do {
    before = atomic_load_explicit(&s->seq, memory_order_acquire);
    hi = atomic_load_explicit(&s->hi, memory_order_relaxed);
    lo = atomic_load_explicit(&s->lo, memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    after = atomic_load_explicit(&s->seq, memory_order_relaxed);
  } while ((before & 1) != 0 || before != after);
  mida_id_t id;
  for (int i = 0; i < 8; i++) {
    id.bytes[i] = (uint8_t)(hi >> (56 - 8 * i));
    id.bytes[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
  }
  return id;
}

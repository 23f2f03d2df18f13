/*
 * shared_id.h -- an id that one thread may replace while others read it
 * without a lock.
 *
 * The session's default workflow is read by every capture call (and by
 * the telemetry sampler for each sample) and replaced rarely, by whoever
 * begins a workflow. A sequence lock over two 64-bit words lets the
 * readers stay lock-free: a reader retries while a writer is in the
 * middle of a change. Writers must be serialized by their caller (one
 * mutex per shared id).
 */
#ifndef MIDA_CORE_SHARED_ID_H
#define MIDA_CORE_SHARED_ID_H

#include "mida.h"

#include <stdatomic.h>

typedef struct mida__shared_id {
  atomic_uint_fast64_t seq; /* odd while a writer is changing hi/lo */
  atomic_uint_fast64_t hi;  /* bytes 0..7 of the id, big-endian */
  atomic_uint_fast64_t lo;  /* bytes 8..15 */
} mida__shared_id;

/* Replaces the id. One writer at a time (the caller serializes). */
void mida__shared_id_store(mida__shared_id *sid, const mida_id_t *id);

/* The id as last stored (nil before the first store); lock-free. */
mida_id_t mida__shared_id_load(const mida__shared_id *sid);

#endif /* MIDA_CORE_SHARED_ID_H */

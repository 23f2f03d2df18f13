/*
 * id.h -- what libmida's own callers of the id generator (id.c) use
 * beyond the public mida_id_new() and mida_now_ns().
 */
#ifndef MIDA_CORE_ID_H
#define MIDA_CORE_ID_H

#include "mida.h"

#include <stdint.h>
#include <string.h>

/* mida_id_new() for a wall-clock time now_ns (mida_now_ns) the caller has
 * just read: the same id, without a second reading of the clock for a
 * record that also carries the time (a task's begin). */
mida_id_t mida__id_new_at(int64_t now_ns);

/* mida_id_is_nil() for a non-NULL id, inline: the exported function is
 * reached through the PLT from inside the library, ~10 instructions a
 * call on the capture path. */
static inline int mida__id_nil(const mida_id_t *id) {
  uint64_t a, b;
  memcpy(&a, id->bytes, 8);
  memcpy(&b, id->bytes + 8, 8);
  return (a | b) == 0;
}

#endif /* MIDA_CORE_ID_H */

/*
 * left_out.h -- what a broker sink keeps of the records it leaves out of a
 * batch because the broker can never take them: a record larger than the
 * broker takes in one message (NATS's max_payload, 1 MiB by default, or a
 * JetStream stream's max_msg_size).
 *
 * Sending such a record again can never succeed: failing its batch would
 * hold back every record of the journal behind it, for ever (the shipper
 * and `mida recover` alike). The sink publishes the rest of the batch,
 * leaves the record out, and counts it as a store counts the records it
 * refuses (sink.h's refused and notice; the counter `refused`,
 * docs/reliability.md). The store is on the other side of the broker: the
 * count reaches it as a COUNTER record of the batch's origin, which the
 * store keeps as its largest value, so this module keeps a running count
 * per origin (host, pid) for it to carry. A sink ships one origin at a
 * time (a shipper its process's; `mida recover` one journal after
 * another), so one origin is kept: the count starts again for another.
 */
#ifndef MIDA_SINK_LEFT_OUT_H
#define MIDA_SINK_LEFT_OUT_H

#include "sink/sink.h"

#include <stddef.h>
#include <stdint.h>

/* The running count of one origin. Zero-initialize. */
typedef struct mida__left_out {
  char host[256]; /* the origin's host name, "" before the first */
  int64_t pid;    /* the origin's process id */
  uint64_t count; /* records of that origin left out so far */
} mida__left_out;

/* Counts rec, of `bytes` encoded bytes, left out of a batch of origin o
 * by the broker at `where` (its URL as it may be shown, never a
 * password), for `why` (the broker's own words): adds it to sink->refused
 * and, when sink's notice is empty, names the record (its type and size,
 * never a value) and what to change in the notice. Returns the origin's
 * count so far, the value of its counter `refused`. */
uint64_t mida__left_out_note(mida__left_out *lo, mida__sink *sink,
                             const mida__origin *o, const mida__rec *rec,
                             size_t bytes, const char *where,
                             const char *why);

#endif /* MIDA_SINK_LEFT_OUT_H */

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
 *
 * mida__left_out_publish is the put_batch of a broker sink around its
 * publish of one message: a message refused for its size is encoded again
 * in messages half its size, down to the one record, which is left out.
 */
#ifndef MIDA_SINK_LEFT_OUT_H
#define MIDA_SINK_LEFT_OUT_H

#include "core/buf.h"
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

/* Publishes msg (a wire message, wire.h) to the broker of sink and waits
 * until the broker took it. Returns MIDA_OK; MIDA_ETOOBIG when the broker
 * refused it for its size, which no retry mends (the broker's words in
 * sink's errmsg); any other error fails the batch, which is sent again. */
typedef int (*mida__publish_fn)(mida__sink *sink, const mida__buf *msg);

/* Publishes recs[0..n) of origin as wire messages of sender, numbered
 * from *seq + 1 (*seq advances by the messages the broker took), of at
 * most limit bytes, encoded into msg. A message the broker refuses for
 * its size is encoded again with half the limit; a single record it
 * refuses is left out and counted (mida__left_out_note, where naming the
 * broker), and after the batch the counter `refused` of origin is
 * published. Returns MIDA_OK when every other record was taken, else the
 * error of publish or of the encoding (sink's errmsg says it). */
int mida__left_out_publish(mida__left_out *lo, mida__sink *sink,
                           const mida__rec *recs, size_t n,
                           const mida__origin *origin, size_t limit,
                           uint64_t sender, uint64_t *seq, mida__buf *msg,
                           mida__publish_fn publish, const char *where);

#endif /* MIDA_SINK_LEFT_OUT_H */

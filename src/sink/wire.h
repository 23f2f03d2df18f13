/*
 * wire.h -- the broker message: how a batch of records crosses a broker
 * (Redis Streams, NATS JetStream, MQTT) from a shipper to `mida ingest`.
 *
 * A broker sink (redis.c, nats.c, mqtt.c) encodes the batch the shipper
 * hands it into one or more messages of at most a broker-specific size,
 * publishes them and waits for the broker's acknowledgement; `mida ingest`
 * reads them back through a consumer (below), checks and decodes them, and
 * applies the records to a store. Producers and consumers may run different
 * mida versions on different hosts, so the format is versioned and every
 * field is little-endian.
 *
 * Message format, version 1 (MIDA_WIRE_VERSION):
 *
 *   message := header record* crc
 *   header  := magic    8 bytes "MIDAWIR1"
 *              version  u16   1
 *              flags    u16   0 (reserved; a reader rejects unknown bits)
 *              count    u32   number of records that follow
 *              pid      i64   origin process id (fills records' PID)
 *              sender   u64   random id of the sending sink instance
 *              seq      u64   the sender's message sequence, from 1: with
 *                             sender, names a message in diagnostics
 *              hostlen  u16   then hostlen bytes of origin host name
 *                             (fills records' HOST), UTF-8, no NUL
 *   record  := type     u16   mida__rec_type
 *              version  u8    payload version (MIDA_RECORD_VERSION)
 *              len      u32   payload bytes
 *              payload  len bytes, the record encoding of core/record.h
 *   crc     := u32 CRC32C (core/crc32c.h) of every byte before it
 *
 * A reader rejects a message, whole, when: it is shorter than a header and
 * a CRC; the magic differs (not a mida message); the version is not one it
 * reads; flags has unknown bits; the CRC does not match; a record runs past
 * the end, or bytes remain after count records; a record's version is not
 * MIDA_RECORD_VERSION or its payload does not decode. Each rejection has a
 * reason (mida__wire_reason) so that the consumer can count and name it.
 * Rejected messages are never applied, in part or in whole.
 */
#ifndef MIDA_SINK_WIRE_H
#define MIDA_SINK_WIRE_H

#include "core/buf.h"
#include "sink/sink.h"

#include <stddef.h>
#include <stdint.h>

#define MIDA_WIRE_MAGIC "MIDAWIR1"
#define MIDA_WIRE_VERSION 1
#define MIDA_WIRE_HEADER_MIN 42 /* header bytes with an empty host name */
#define MIDA_WIRE_RECORD_HEAD 7 /* type, version, len */

/* Why a message was rejected. */
typedef enum mida__wire_reason {
  MIDA_WIRE_OK = 0,
  MIDA_WIRE_SHORT = 1,       /* shorter than a header and a CRC */
  MIDA_WIRE_MAGIC_BAD = 2,   /* not a mida message */
  MIDA_WIRE_VERSION_BAD = 3, /* a wire version this reader does not read */
  MIDA_WIRE_FLAGS_BAD = 4,   /* unknown flag bits */
  MIDA_WIRE_CRC_BAD = 5,     /* CRC mismatch */
  MIDA_WIRE_LENGTH_BAD = 6,  /* a record past the end, or bytes left over */
  MIDA_WIRE_RECORD_BAD = 7,  /* a record's version or payload is bad */
  MIDA_WIRE_REASON_COUNT
} mida__wire_reason;

/* The reason's name, e.g. "bad CRC"; never NULL. */
const char *mida__wire_reason_name(int reason);

/* A decoded message: its header and its records, whose strings borrow the
 * message bytes (keep them alive while the records are used). */
typedef struct mida__wire_msg {
  uint16_t version; /* wire version */
  uint32_t count;   /* records */
  int64_t pid;      /* origin pid */
  uint64_t sender;  /* sender id */
  uint64_t seq;     /* sender's sequence */
  char host[256];   /* origin host, NUL-terminated (cut at 255 bytes) */
} mida__wire_msg;

/* Checks and decodes a message. Records go to recs[*nrecs...] (at most
 * cap - *nrecs of them, *nrecs grows by count); the header to *msg.
 * Returns MIDA_OK; MIDA_ECORRUPT with *reason set when the message is
 * rejected (nothing is added to recs); MIDA_ETOOBIG when recs is too
 * small (nothing added). Pure, thread-safe. */
int mida__wire_decode(const void *data, size_t len, mida__wire_msg *msg,
                      mida__rec *recs, size_t cap, size_t *nrecs, int *reason);

/* Encodes recs[*next...] into out (reset first): as many records as fit in
 * max_bytes (at least one, whatever its size), advancing *next. Returns
 * MIDA_OK, MIDA_ENOMEM or MIDA_ETOOBIG (one record larger than the buffer
 * allows). */
int mida__wire_encode(const mida__rec *recs, size_t n, size_t *next,
                      const mida__origin *origin, uint64_t sender, uint64_t seq,
                      size_t max_bytes, mida__buf *out);

/* A random 64-bit sender id (from the clock, pid and a counter). */
uint64_t mida__wire_sender_id(void);

/* ---- consumers: what `mida ingest` reads ------------------------------ */

typedef struct mida__consumer mida__consumer;

/* One message fetched from a broker, to be acknowledged after its records
 * are committed. data stays valid until the next fetch or close. */
typedef struct mida__consumer_msg {
  const void *data; /* message bytes */
  size_t len;       /* bytes */
  char id[64];      /* the broker's id of the message (for ack and logs) */
  void *handle;     /* backend's own (e.g. a NATS message) */
} mida__consumer_msg;

typedef struct mida__consumer_methods {
  const char *scheme; /* "redis", "nats", "mqtt" */
  /* Joins group (shared consumption) as consumer name. Messages that a
   * consumer fetched but did not acknowledge for claim_ms milliseconds (it
   * died) are handed to another one. A broker that cannot be reached (no
   * connection, no answer in time) is MIDA_EUNREACHABLE, one that answers
   * but cannot serve yet (Redis loading its data) MIDA_EBUSY: `mida
   * ingest` waits for both (cli/ingest_connect.h), and for no other. */
  int (*open)(const char *url, const char *group, const char *name,
              int claim_ms, mida__consumer **out, char *err, size_t errlen);
  /* Waits up to timeout_ms for messages; fills up to max of msgs. Returns
   * the number (0 on timeout) or a negative MIDA_E* code. Messages whose
   * previous consumer died are returned too (claimed). */
  int (*fetch)(mida__consumer *c, mida__consumer_msg *msgs, int max,
               int timeout_ms);
  /* Acknowledges n fetched messages: they will not be delivered again. */
  int (*ack)(mida__consumer *c, mida__consumer_msg *msgs, int n);
  void (*close)(mida__consumer *c);
} mida__consumer_methods;

/* The common head of every consumer. */
struct mida__consumer {
  const mida__consumer_methods *methods;
  char errmsg[512]; /* the last error */
  char note[512];   /* what to say once, not an error ("" if nothing):
                     * ingest prints it after a fetch or an ack and
                     * clears it */
};

/* Opens the consumer for url's scheme. Returns MIDA_OK, MIDA_EURL (scheme
 * not a broker this build reads) or the backend's error, message in err. */
int mida__consumer_open(const char *url, const char *group, const char *name,
                        int claim_ms, mida__consumer **out, char *err,
                        size_t errlen);

/* Sets the consumer's message printf-style; returns rc. */
int mida__consumer_fail(mida__consumer *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

extern const mida__consumer_methods mida__redis_consumer;
extern const mida__consumer_methods mida__nats_consumer;
extern const mida__consumer_methods mida__mqtt_consumer;

#endif /* MIDA_SINK_WIRE_H */

/*
 * left_out.c -- a broker sink's publish of a batch, which leaves out the
 * records the broker can never take; their count, per origin, and the
 * notice that names the first (left_out.h).
 */
#include "sink/left_out.h"
#include "sink/wire.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int same_origin(const mida__left_out *lo, const char *host,
                       int64_t pid) {
  return lo->pid == pid && strcmp(lo->host, host) == 0;
}

uint64_t mida__left_out_note(mida__left_out *lo, mida__sink *sink,
                             const mida__origin *o, const mida__rec *rec,
                             size_t bytes, const char *where,
                             const char *why) {
  const char *host = o != NULL && o->host != NULL ? o->host : "";
  int64_t pid = o != NULL ? o->pid : 0;
  if (!same_origin(lo, host, pid)) {
    snprintf(lo->host, sizeof lo->host, "%s", host);
    lo->pid = pid;
    lo->count = 0;
  }
  lo->count++;
  sink->refused++;
  if (sink->notice[0] == '\0') /* the first is kept until taken */
    snprintf(sink->notice, sizeof sink->notice,
             "%s cannot take a %s record of %zu bytes in one message (%s):"
             " it was left out and counted (counter refused), the other"
             " records sent; raise the broker's message size limit to keep"
             " such records",
             where, mida__rec_type_name(rec->type), bytes, why);
  return lo->count;
}

/* Publishes the counter `refused` of origin, count records left out so
 * far, so that the store counts what never reaches it. */
static int publish_count(mida__sink *sink, const mida__origin *origin,
                         uint64_t count, uint64_t sender, uint64_t *seq,
                         mida__buf *msg, mida__publish_fn publish) {
  mida__rec counter;
  mida__rec_counter(&counter, NULL, 0, "refused", (int64_t)count);
  size_t next = 0;
  int rc = mida__wire_encode(&counter, 1, &next, origin, sender, *seq + 1,
                             SIZE_MAX, msg);
  if (rc != MIDA_OK)
    return mida__sink_fail(sink, rc, "cannot encode a counter: %s",
                           mida_strerror(rc));
  rc = publish(sink, msg);
  if (rc == MIDA_OK)
    ++*seq;
  return rc;
}

int mida__left_out_publish(mida__left_out *lo, mida__sink *sink,
                           const mida__rec *recs, size_t n,
                           const mida__origin *origin, size_t limit,
                           uint64_t sender, uint64_t *seq, mida__buf *msg,
                           mida__publish_fn publish, const char *where) {
  size_t next = 0;
  uint64_t count = 0; /* the origin's count, once one was left out */
  while (next < n) {
    size_t first = next;
    int rc = mida__wire_encode(recs, n, &next, origin, sender, *seq + 1,
                               limit, msg);
    if (rc != MIDA_OK)
      return mida__sink_fail(sink, rc, "cannot encode a batch: %s",
                             mida_strerror(rc));
    rc = publish(sink, msg);
    if (rc == MIDA_OK) {
      ++*seq;
    } else if (rc == MIDA_ETOOBIG && next - first > 1) {
      limit = msg->len / 2;
      next = first;
    } else if (rc == MIDA_ETOOBIG) {
      count = mida__left_out_note(lo, sink, origin, &recs[first], msg->len,
                                  where, mida__sink_errmsg(sink));
      sink->errmsg[0] = '\0';
    } else {
      return rc;
    }
  }
  return count > 0
             ? publish_count(sink, origin, count, sender, seq, msg, publish)
             : MIDA_OK;
}

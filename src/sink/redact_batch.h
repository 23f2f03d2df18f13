/*
 * redact_batch.h -- the secrets of a batch of records, hidden before the
 * batch reaches a store or a broker.
 *
 * What a program hands mida may hold a password or a token: a task's
 * argument named api_key, a database URL with its password as an
 * argument, a data URI with a token in its query, an error that quotes
 * the URL a library could not reach. Before each batch is written
 * (mida__sink_put_batch), every record is checked, and a copy of the
 * batch is written instead where one must change:
 *
 *   - in `used` and a workflow's metadata, the value of every member
 *     whose name looks like a secret's (core/redact.h) becomes "***", at
 *     any depth;
 *   - in every text a program chose (names, activity, source key, used,
 *     generated, custom, error, metadata, a data's URI and identity),
 *     each URL's password and secret query values become "***"
 *     (core/url_text.h), as in mida's messages.
 *
 * The checks are cheap when there is nothing to hide (a pass for the
 * stems of the secret words, a look for "://"), and they run on the
 * shipper's thread, never on the capture path. MIDA_REDACT_USED=0 turns
 * both off (sink.c reads it).
 */
#ifndef MIDA_SINK_REDACT_BATCH_H
#define MIDA_SINK_REDACT_BATCH_H

#include "core/buf.h"
#include "core/record.h"

#include <stddef.h>

/* A batch's copy with its secrets hidden; its texts own the new strings. */
typedef struct mida__redacted {
  mida__rec *recs;  /* the copy, n records */
  mida__buf *texts; /* the rewritten strings the copy points into */
  size_t ntexts;    /* entries of texts */
} mida__redacted;

/* The index of the first of recs[0..n) that holds a secret to hide, or n
 * when none does. */
size_t mida__redact_first(const mida__rec *recs, size_t n);

/* Fills *out with a copy of recs[0..n) whose records from first on have
 * their secrets hidden. Returns MIDA_OK, MIDA_ENOMEM or MIDA_EJSON (a
 * `used` to redact that is not JSON); out is then empty. */
int mida__redact_batch(const mida__rec *recs, size_t n, size_t first,
                       mida__redacted *out);

/* Frees what mida__redact_batch made. */
void mida__redacted_free(mida__redacted *r);

#endif /* MIDA_SINK_REDACT_BATCH_H */

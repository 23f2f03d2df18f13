/*
 * pg_isolate.h -- finding the records a store refuses inside a batch, so
 * that one "poison" record does not hold back every record behind it.
 *
 * postgres.c applies a batch in one transaction. When the server refuses
 * it twice on a live connection (the second time with its JSON and text
 * fitted, pg_json.h) for a reason that lies in the data (an SQLSTATE of
 * the classes mida__pg_state_refuses_data names: a value out of range, a
 * constraint, a key over the index's row size), sending it again can
 * never succeed: the shipper would resend it for ever, the journal fill,
 * and capture be dropped. mida__pg_isolate then applies the batch in
 * halves, each in its own transaction, and each half that is refused in
 * halves again, down to single records: every record the server takes is
 * stored, and each one it refuses on its own is handed to a callback,
 * which counts it (the counter `refused`, docs/reliability.md). A batch
 * with k such records costs about 2k log2(n) transactions more, and only
 * after the two failed attempts: the normal path does nothing more.
 *
 * A failure that is not a refusal of the data (the connection lost, the
 * disk full, a lock timeout) stops the search with that error: the
 * caller keeps the whole batch and sends it again later, as before; the
 * halves already committed are applied again then, which changes nothing
 * (idempotent merge, sink.h).
 */
#ifndef MIDA_SINK_PG_ISOLATE_H
#define MIDA_SINK_PG_ISOLATE_H

#include "core/record.h"

#include <stddef.h>

/* 1 when SQLSTATE state (five characters, or NULL) says the server
 * refused the data of a statement: classes 22 (data exception), 23
 * (integrity constraint violation) and 54 (program limit exceeded, e.g.
 * an index row too large); 0 for everything else (connection, resources,
 * locks, cancellation), which may pass. */
int mida__pg_state_refuses_data(const char *state);

/* Applies recs[0..n) in one transaction. Returns MIDA_OK, or an error
 * with *refused set to 1 when the error is a refusal of the data (the
 * connection still live), else left 0. */
typedef int (*mida__pg_try_fn)(void *ctx, const mida__rec *recs, size_t n,
                               int *refused);

/* Called with a record that the store refused on its own. */
typedef void (*mida__pg_refused_fn)(void *ctx, const mida__rec *rec);

/* Applies recs[0..n), which the store refused as a whole, in halves (the
 * header comment) through try_batch; calls refused for each record
 * refused alone. Returns MIDA_OK when every other record is stored, else
 * the first error that is not a refusal (the caller keeps the batch).
 * Not thread-safe beyond what try_batch is. */
int mida__pg_isolate(const mida__rec *recs, size_t n, mida__pg_try_fn try_batch,
                     mida__pg_refused_fn refused, void *ctx);

#endif

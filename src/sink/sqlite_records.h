/*
 * sqlite_records.h -- the records of a batch that are not a merged row,
 * written into the SQLite store (internal to the SQLite store's files;
 * sqlite_records.c says how).
 *
 * sqlite.c's write_batch gives each record of these types to its applier
 * here, inside the batch's write transaction, in the order of the batch;
 * then, after the batch's row images, its LOST records and its metric
 * blocks; and, at the commit, the data records kept meanwhile. Each
 * returns MIDA_OK (a record it cannot use is counted in counts, not
 * failed), or an error with the sink's message set. Not thread-safe: the
 * sink's writing thread.
 */
#ifndef MIDA_SINK_SQLITE_RECORDS_H
#define MIDA_SINK_SQLITE_RECORDS_H

#include "core/record.h"
#include "sink/sink.h"

struct sqlite_sink;
struct batch_counts;

/* Keeps a DATA record r (its data row, and its link to a task if it has
 * one) for the commit of the open transaction; when the kept rows are
 * full, writes them first. */
int mida__sqlite_keep_data(struct sqlite_sink *s, const mida__rec *r,
                           struct batch_counts *counts);

/* Writes the kept data records in the order of their keys, and forgets
 * them (data_rows.h): before a transaction commits. */
int mida__sqlite_apply_data_rows(struct sqlite_sink *s);

/* Writes a METRIC record's point, folds a new point into the batch's
 * metric blocks, and gives its task the batch's change number. */
int mida__sqlite_apply_metric(struct sqlite_sink *s, const mida__rec *r,
                              struct batch_counts *counts);

/* Writes the batch's metric blocks (rollup.h): after its records. */
int mida__sqlite_apply_blocks(struct sqlite_sink *s);

/* Writes a TELEMETRY record's sample; host and pid default to origin's. */
int mida__sqlite_apply_telemetry(struct sqlite_sink *s, const mida__rec *r,
                                 const mida__origin *origin,
                                 struct batch_counts *counts);

/* Writes a CURSOR record: an observer's position, never moved back. */
int mida__sqlite_apply_cursor(struct sqlite_sink *s, const mida__rec *r,
                              struct batch_counts *counts);

/* Writes a COUNTER record, which keeps its maximum; host and pid default
 * to origin's. */
int mida__sqlite_apply_counter(struct sqlite_sink *s, const mida__rec *r,
                               const mida__origin *origin,
                               struct batch_counts *counts);

/* Writes a LOST record: marks what the dead process left unfinished.
 * After the batch's row images. */
int mida__sqlite_apply_lost(struct sqlite_sink *s, const mida__rec *r,
                            const mida__origin *origin,
                            struct batch_counts *counts);

#endif

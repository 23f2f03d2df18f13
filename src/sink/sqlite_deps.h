/*
 * sqlite_deps.h -- a batch's task dependencies (DEP records), kept as
 * they come and written after the batch's rows, ROWS_PER_STEP to a
 * statement (internal to the SQLite store's files; sqlite_deps.c).
 *
 * A dependency is a row of task_dep (task, upstream), written INSERT OR
 * IGNORE: a dependency stored already stays as it is, so the order in
 * which they are written changes nothing. One statement a dependency cost
 * a Dask scheduler's shipper ~12,500 instructions each (bench_sink_dask
 * with two dependencies a task), about half of it the statement's own
 * start and end.
 */
#ifndef MIDA_SINK_SQLITE_DEPS_H
#define MIDA_SINK_SQLITE_DEPS_H

#include "core/record.h"

#include <stddef.h>

struct sqlite_sink;
struct batch_counts;

/* The dependencies kept for the open batch. */
typedef struct mida__dep_rows {
  mida_id_t (*pair)[2]; /* [0] the task, [1] its upstream task */
  size_t n;             /* kept */
  size_t cap;           /* allocated at pair */
} mida__dep_rows;

/* Keeps a DEP record r (a task's upstream task) for the end of the batch;
 * one without both ids is skipped and counted. Returns MIDA_OK, or
 * MIDA_ENOMEM with the sink's message set. */
int mida__sqlite_keep_dep(struct sqlite_sink *s, const mida__rec *r,
                          struct batch_counts *counts);

/* Writes the kept dependencies, inside the batch's write transaction, and
 * forgets them. Returns MIDA_OK, or an error with the sink's message
 * set. */
int mida__sqlite_apply_deps(struct sqlite_sink *s);

/* Forgets the kept dependencies (a batch that failed). */
static inline void mida__dep_rows_clear(mida__dep_rows *d) { d->n = 0; }

/* Frees what d holds (at close). */
void mida__dep_rows_free(mida__dep_rows *d);

#endif

/*
 * rows.h -- small query results copied into memory, for the read side
 * (the CLI's verbs, `mida serve`, the lineage walk) when a result must be
 * looked at before it is written out.
 */
#ifndef MIDA_REPORT_ROWS_H
#define MIDA_REPORT_ROWS_H

#include "sink/sink.h"

#include <stddef.h>

/* At most max_rows rows are kept; truncated tells whether more came. */
typedef struct mida__rows {
  int ncols;        /* columns per row */
  size_t nrows;     /* rows kept */
  size_t max_rows;  /* the most rows kept */
  int truncated;    /* 1 if the query had more rows than max_rows */
  int rc;           /* MIDA_OK, or MIDA_ENOMEM while collecting */
  char **cells;     /* nrows * ncols copies, NULL for SQL NULL */
  size_t cells_cap; /* cells allocated */
} mida__rows;

/* Runs sql with text parameters and collects up to max_rows rows into out,
 * which the caller frees with mida__rows_free() whatever the result.
 * Returns the sink's result, or MIDA_ENOMEM. */
int mida__rows_fetch(mida__sink *sink, const char *sql,
                     const char *const *params, int nparams, size_t max_rows,
                     mida__rows *out);

/* A cell of a fetched result, NULL for SQL NULL or out of range. */
const char *mida__rows_cell(const mida__rows *r, size_t row, int col);

void mida__rows_free(mida__rows *r);

#endif /* MIDA_REPORT_ROWS_H */

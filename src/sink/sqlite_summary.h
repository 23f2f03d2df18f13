/*
 * sqlite_summary.h -- a task's row as the summary of its runs, in the
 * SQLite store (internal to the SQLite store's files; sqlite_summary.c
 * says how, and why in three forms).
 *
 * The cache of summary statements lives on the sink (sqlite_int.h); a
 * batch (sqlite.c, write_batch) plans which task images the summaries
 * write, then applies each run's summary after the run's own row.
 */
#ifndef MIDA_SINK_SQLITE_SUMMARY_H
#define MIDA_SINK_SQLITE_SUMMARY_H

#include "core/record.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite_sink;
struct row_image;
struct mida__origin;

/* The forms of a run summary (sqlite_summary.c says which runs when). */
enum {
  SUMMARY_FIRST,
  SUMMARY_UPDATE,
  SUMMARY_INSERT,
  SUMMARY_UPSERT,
  SUMMARY_FIRST_NEW,  /* SUMMARY_FIRST of a run row just inserted */
  SUMMARY_INSERT_NEW, /* SUMMARY_INSERT of a run row just inserted */
  SUMMARY_FORMS
};

/* The run summaries prepared so far, one per set of task columns they
 * also write (run_summary_sql), up to RUN_SUMMARIES sets; past that, a
 * task image keeps its own upsert (mida__sqlite_plan_run_summaries). */
#define RUN_SUMMARIES 16
typedef struct run_summary {
  uint32_t task_mask;                /* bit c: it writes task column c too */
  sqlite3_stmt *stmt[SUMMARY_FORMS]; /* each form, once prepared, or NULL */
} run_summary;

/* Lets the summary of each run image among the first nimages of the
 * batch's row images (recs: its records) also write its task's image,
 * where it can, and marks those task images in_summary: the batch then
 * leaves them to the summary. Keeps an entry in the sink's cache of
 * summaries for each set of task columns it plans (its statements are
 * prepared on first use). */
void mida__sqlite_plan_run_summaries(struct sqlite_sink *s,
                                     const mida__rec *recs, size_t nimages);

/* Recomputes the summary of the task of the run's row image img from its
 * runs (with the task image planned into it), inside the batch's write
 * transaction, after img itself was applied. run_new: img's row was
 * just inserted, from img and the batch's origin alone (then the
 * summary takes the run's values from them rather than read its row
 * back). Returns MIDA_OK, or an error with the sink's message set. */
int mida__sqlite_apply_run_summary(struct sqlite_sink *s, const mida__rec *recs,
                                   const struct row_image *img,
                                   const struct mida__origin *origin,
                                   int run_new);

/* Finalizes the cached summary statements (at close, or before a
 * reopen). */
void mida__sqlite_forget_summaries(struct sqlite_sink *s);

#endif

/*
 * counts.h -- what a store holds, read at a cost that does not grow with
 * it: the rows of each table, the tasks of each status and the sums of
 * the stored counters, for `mida stats` (src/cli/stats.c) and GET
 * /api/stats (src/serve/stats.c), which a dashboard or a steering script
 * calls again and again while workflows run.
 *
 * Each count of rows stops at MIDA_COUNT_BOUND rows: below it a count is
 * exact, at it the count says it is a lower bound ("at least"). The
 * statuses are those of the newest MIDA_COUNT_BOUND tasks, so they are
 * exact when the task table is below the bound and lower bounds
 * otherwise. The counters' sums are always exact: they account for what
 * was lost, and their table grows with the processes that wrote to the
 * store (a row per process and name), not with the tasks. Asked for
 * exact counts, every count reads all rows. One statement reads them all
 * (one snapshot), in both SQL dialects, through the sink's one query
 * guard (guard.h), as any reader's.
 *
 * Why not exact counts kept by the store: SQLite triggers that keep a
 * count table cost about 23,000 instructions per row written (a trigger
 * frame, and a statement journal for every upsert that has a trigger),
 * which doubled the cost of ingesting a task (bench_sink_apply, callgrind:
 * 53,500 -> 105,100 instructions a task, short tasks); counting in the
 * writers' C code needs the old status of every row a batch changes.
 * docs/cli.md, "mida stats", has the figures.
 */
#ifndef MIDA_SINK_COUNTS_H
#define MIDA_SINK_COUNTS_H

#include "core/buf.h"
#include "sink/sink.h"

#include <stddef.h>
#include <stdint.h>

/* The most rows a count reads (docs/cli.md, "mida stats", has its
 * cost). */
#define MIDA_COUNT_BOUND 10000

/* The tables counted, in the order of mida__counts.rows. */
enum {
  MIDA_COUNT_CAMPAIGN,
  MIDA_COUNT_WORKFLOW,
  MIDA_COUNT_TASK,
  MIDA_COUNT_DATA,
  MIDA_COUNT_TASK_DATA,
  MIDA_COUNT_TASK_DEP,
  MIDA_COUNT_METRIC,
  MIDA_COUNT_TELEMETRY,
  MIDA_COUNT_SOURCE_CURSOR,
  MIDA_COUNT_COUNTER,
  MIDA_COUNT_TABLES
};

/* The name of table t (a MIDA_COUNT_* value). */
const char *mida__count_table(int t);

/* A named count: a status's tasks, or a counter's sum. */
typedef struct mida__count_item {
  size_t name;   /* offset of its NUL-terminated name in mida__counts.names */
  int64_t value; /* tasks, or the counter's sum */
} mida__count_item;

/* The most statuses and counters read (any more are left out). */
#define MIDA_COUNT_ITEMS 1000

typedef struct mida__counts {
  int exact;                                  /* no count reached the bound */
  int64_t rows[MIDA_COUNT_TABLES];            /* rows of each table */
  int rows_at_least[MIDA_COUNT_TABLES];       /* rows[t] is a lower bound */
  mida__count_item status[MIDA_COUNT_ITEMS];  /* by status name */
  size_t nstatus;                             /* entries of status */
  int status_at_least;                        /* each is a lower bound */
  mida__count_item counter[MIDA_COUNT_ITEMS]; /* by counter name */
  size_t ncounter;                            /* entries of counter */
  mida__buf names;                            /* the names, NUL-terminated */
} mida__counts;

/* Reads the counts of the store behind sink into *out (about 32 KiB:
 * better on the heap), bounded, or all of them exactly if exact is
 * nonzero; mida__counts_free frees *out (also after a failure). Statuses
 * and counters come sorted by name (bytewise); a NULL status is UNKNOWN.
 * Returns MIDA_OK, the sink's error (its message in mida__sink_errmsg),
 * or MIDA_ENOMEM. Thread safety: the sink's. */
int mida__counts_read(mida__sink *sink, int exact, mida__counts *out);

/* A status's or counter's name. */
const char *mida__count_name(const mida__counts *c,
                             const mida__count_item *item);

/* Appends the JSON array of what is only a lower bound: the names of the
 * tables at the bound, then "tasks_by_status" when that list is; [] when
 * every count is exact. Returns MIDA_OK or the
 * buffer's error. */
int mida__counts_at_least_json(const mida__counts *c, mida__buf *b);

void mida__counts_free(mida__counts *c);

#endif /* MIDA_SINK_COUNTS_H */

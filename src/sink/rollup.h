/*
 * rollup.h -- the per-block summaries of metric series (the table
 * metric_block, schema.h version 7) that both SQL stores keep as points
 * arrive, so that a long series is downsampled without reading its points
 * (src/serve/metrics.c).
 *
 * A series (task_id, key) is cut on each axis (MIDA_ROLLUP_STEP: the step;
 * MIDA_ROLLUP_TIME: ts) into blocks of 2^shift units aligned on multiples
 * of 2^shift: block = floor(x / 2^shift), what x >> shift gives in C (for
 * the int64 of this file), SQLite and PostgreSQL alike. The shifts of an
 * axis are its finest one, then every MIDA_ROLLUP_STRIDE bits up to its
 * coarsest (below), so one block of a level is exactly 64 blocks of the
 * level below, and a bucket of 2^b units aligned like them is exactly
 * 2^(b - shift) blocks of any level with shift <= b. A block row holds
 * what its points have in common, computed from them exactly: x0, x1 (the
 * least and greatest x), t0, t1 (the least and greatest ts: on the step
 * axis, where to find the block's points by the metric key), lo, hi (the
 * least and greatest value, NULL when all are NaN) and n (the points). On
 * the step axis only the points that have a step count.
 *
 * A point counts once: the stores fold into the blocks only the points
 * their metric insert added (not one it already held), in the same
 * transaction, so the blocks always sum the table's points.
 *
 * SQLite folds a batch's new points into block images in C (this file);
 * PostgreSQL folds them in SQL (MIDA_ROLLUP_FROM). Both write the same
 * rows, and the migration to version 7 computes them from the stored
 * points with mida__rollup_build_sql (the same text on both).
 */
#ifndef MIDA_SINK_ROLLUP_H
#define MIDA_SINK_ROLLUP_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* The axes: the values of metric_block.axis. */
enum { MIDA_ROLLUP_STEP = 0, MIDA_ROLLUP_TIME = 1, MIDA_ROLLUP_AXES = 2 };

/* Levels: the finest and coarsest shift of each axis, every STRIDE bits
 * (a block is 64 blocks of the level below). Steps: blocks of 64 steps,
 * 4,096 and 262,144; time: of 2^26 ns (67 ms), 2^32 (4.3 s) and 2^38 (4.6
 * minutes). The writers pay a block row per 64 steps and per 67 ms of a
 * series, and a few rows per series and batch (docs/serve.md,
 * "Measured"); a bucket is read from at most 64 blocks, more only for a
 * series of over 17 billion steps or 200 days. */
#define MIDA_ROLLUP_STRIDE 6
#define MIDA_ROLLUP_STEP_MIN 6
#define MIDA_ROLLUP_STEP_MAX 18
#define MIDA_ROLLUP_TIME_MIN 26
#define MIDA_ROLLUP_TIME_MAX 38

/* The finest and coarsest shift of an axis. */
int mida__rollup_min_shift(int axis);
int mida__rollup_max_shift(int axis);

/* floor(x / 2^shift) (an arithmetic shift). */
int64_t mida__rollup_block(int64_t x, int shift);

/* The columns of a block row, in the order every statement here writes
 * them. */
#define MIDA_ROLLUP_COLUMNS                                                    \
  "task_id, key, axis, shift, block, x0, x1, t0, t1, lo, hi, n"

/* A series of a batch (task, key). */
typedef struct mida__rollup_series {
  char task[37];    /* the task id (MIDA_ID_STRLEN) */
  const char *key;  /* the metric key, borrowed from the batch */
  uint32_t key_len; /* its bytes */
  uint64_t hash;    /* of task and key; 0: a free slot */
} mida__rollup_series;

/* One block's summary, folded in C. */
typedef struct mida__rollup_cell {
  uint32_t series;  /* its series: an index into mida__rollup.series */
  int8_t axis;      /* MIDA_ROLLUP_STEP or MIDA_ROLLUP_TIME */
  int8_t shift;     /* the level */
  uint8_t has_value;
  uint8_t used;     /* the slot holds a block */
  int64_t block;
  int64_t x0, x1, t0, t1;
  double lo, hi; /* when has_value */
  int64_t n;
} mida__rollup_cell;

/* A batch's block images: open addressing, grown as needed. */
typedef struct mida__rollup {
  mida__rollup_cell *cells;     /* cap of them */
  size_t cap;                   /* a power of two, or 0 */
  size_t count;                 /* slots in use */
  mida__rollup_series *series;  /* series_cap of them, by hash */
  size_t series_cap;            /* a power of two, or 0 */
  size_t series_count;          /* slots in use */
  uint32_t last;                /* the series of the last point + 1 */
  struct mida__rollup_entry *sorted; /* mida__rollup_sort's */
  size_t sorted_cap;
} mida__rollup;

/* A block image and its series, as mida__rollup_sort lists them. */
typedef struct mida__rollup_entry {
  const mida__rollup_series *series;
  const mida__rollup_cell *cell;
} mida__rollup_entry;

/* Empties the images for the next batch (keeps the memory). */
void mida__rollup_reset(mida__rollup *r);

/* Folds one new point of the series (task, key) into the images of its
 * blocks on both axes (the step axis only when has_step; NaN values are
 * no value, as the stores keep them). task is its 36-character id; key
 * must stay valid until the images are written. Returns MIDA_OK or
 * MIDA_ENOMEM. */
int mida__rollup_add(mida__rollup *r, const char *task, const char *key,
                     size_t key_len, int has_step, int64_t step, int64_t ts,
                     int has_value, double value);

/* The images, in no particular order: cells[i] for i < cap with used; a
 * cell's task and key are those of series[cell.series]. */

/* The images in the order of the table's key (task_id, key, axis, shift,
 * block; texts as memcmp orders them), so that a store writes them in
 * order; *out holds count entries until the next call. Returns MIDA_OK or
 * MIDA_ENOMEM. */
int mida__rollup_sort(mida__rollup *r, const mida__rollup_entry **out,
                      size_t *count);

void mida__rollup_free(mida__rollup *r);

/* Appends the statements that (re)compute every block row from the
 * stored points (the migration to version 7; also right for a store whose
 * blocks were lost): the table emptied, the finest level of each axis
 * from metric, each coarser level from the one below. The same text on
 * SQLite and PostgreSQL. */
int mida__rollup_build_sql(mida__buf *b);

/* The SELECT that computes the block rows of the points of table `from`
 * (columns task_id, key, step, ts, value) on every level of both axes,
 * sorted by block key (PostgreSQL's batch fold, postgres.c: writers lock
 * blocks in one order). Appended to b. */
int mida__rollup_select_sql(mida__buf *b, const char *from);

#endif /* MIDA_SINK_ROLLUP_H */

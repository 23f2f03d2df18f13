/*
 * rollup.c -- the per-block summaries of metric series (rollup.h): the
 * levels, the fold of a batch's new points into block images (SQLite's
 * writer), and the SQL that both stores share.
 */
#include "sink/rollup.h"

#include "core/alloc.h"
#include "mida.h"

#include <stdlib.h>
#include <string.h>

int mida__rollup_min_shift(int axis) {
  return axis == MIDA_ROLLUP_STEP ? MIDA_ROLLUP_STEP_MIN
                                  : MIDA_ROLLUP_TIME_MIN;
}

int mida__rollup_max_shift(int axis) {
  return axis == MIDA_ROLLUP_STEP ? MIDA_ROLLUP_STEP_MAX
                                  : MIDA_ROLLUP_TIME_MAX;
}

int64_t mida__rollup_block(int64_t x, int shift) {
  /* floor division by 2^shift, without relying on >> of a negative. */
  if (x >= 0)
    return x >> shift;
  return -(int64_t)(((uint64_t)(-(x + 1))) >> shift) - 1;
}

/* ---- the fold ----------------------------------------------------------- */

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 33);
}

static uint64_t cell_hash(uint32_t series, int axis, int shift,
                          int64_t block) {
  return mix((uint64_t)block * 0x9E3779B97F4A7C15ull ^
             ((uint64_t)series << 16 | (uint64_t)(axis * 64 + shift)));
}

/* Puts a copy of a cell into a table of cap cells that lacks it. */
static void put_cell(mida__rollup_cell *cells, size_t cap,
                     const mida__rollup_cell *c) {
  size_t j =
      (size_t)cell_hash(c->series, c->axis, c->shift, c->block) & (cap - 1);
  while (cells[j].used)
    j = (j + 1) & (cap - 1);
  cells[j] = *c;
}

static int grow_cells(mida__rollup *r) {
  size_t cap = r->cap ? r->cap * 2 : 1024;
  mida__rollup_cell *cells = mida__calloc(cap, sizeof *cells);
  if (cells == NULL)
    return MIDA_ENOMEM;
  for (size_t i = 0; i < r->cap; i++)
    if (r->cells[i].used)
      put_cell(cells, cap, &r->cells[i]);
  mida__free(r->cells);
  r->cells = cells;
  r->cap = cap;
  return MIDA_OK;
}

/* Series are found by hash; their slots never move within a batch (the
 * cells name them by slot), so the table is sized once per batch. */
static int reserve_series(mida__rollup *r, size_t want) {
  if (want <= r->series_cap)
    return MIDA_OK;
  size_t cap = r->series_cap ? r->series_cap : 64;
  while (cap < want)
    cap *= 2;
  mida__rollup_series *series = mida__calloc(cap, sizeof *series);
  if (series == NULL)
    return MIDA_ENOMEM;
  mida__free(r->series);
  r->series = series;
  r->series_cap = cap;
  return MIDA_OK;
}

void mida__rollup_reset(mida__rollup *r) {
  if (r->count > 0)
    memset(r->cells, 0, r->cap * sizeof *r->cells);
  if (r->series_count > 0)
    memset(r->series, 0, r->series_cap * sizeof *r->series);
  r->count = r->series_count = 0;
  r->last = 0;
}

/* The slot of the series (task, key), added if new; UINT32_MAX when the
 * table is full (the caller makes room between batches only). */
static uint32_t find_series(mida__rollup *r, const char *task,
                            const char *key, size_t key_len) {
  if (r->last != 0) {
    const mida__rollup_series *l = &r->series[r->last - 1];
    if (l->key_len == key_len && memcmp(l->key, key, key_len) == 0 &&
        memcmp(l->task, task, 36) == 0)
      return r->last - 1;
  }
  uint64_t h = 0xCBF29CE484222325ull;
  for (int i = 0; i < 36; i++)
    h = (h ^ (unsigned char)task[i]) * 0x100000001B3ull;
  for (size_t i = 0; i < key_len; i++)
    h = (h ^ (unsigned char)key[i]) * 0x100000001B3ull;
  h = mix(h) | 1;
  size_t mask = r->series_cap - 1;
  size_t i = (size_t)h & mask;
  for (; r->series[i].hash != 0; i = (i + 1) & mask) {
    const mida__rollup_series *e = &r->series[i];
    if (e->hash == h && e->key_len == key_len &&
        memcmp(e->key, key, key_len) == 0 && memcmp(e->task, task, 36) == 0)
      break;
  }
  mida__rollup_series *e = &r->series[i];
  if (e->hash == 0) {
    if (2 * (r->series_count + 1) > r->series_cap)
      return UINT32_MAX;
    e->hash = h;
    memcpy(e->task, task, 36);
    e->task[36] = '\0';
    e->key = key;
    e->key_len = (uint32_t)key_len;
    r->series_count++;
  }
  r->last = (uint32_t)i + 1;
  return (uint32_t)i;
}

/* Folds one point into the block (series, axis, shift, block). */
static int fold(mida__rollup *r, uint32_t series, int axis, int shift,
                int64_t x, int64_t ts, int has_value, double value) {
  if (2 * (r->count + 1) > r->cap && grow_cells(r) != MIDA_OK)
    return MIDA_ENOMEM;
  int64_t block = mida__rollup_block(x, shift);
  size_t mask = r->cap - 1;
  size_t i = (size_t)cell_hash(series, axis, shift, block) & mask;
  mida__rollup_cell *c;
  for (;; i = (i + 1) & mask) {
    c = &r->cells[i];
    if (!c->used || (c->block == block && c->series == series &&
                     c->axis == axis && c->shift == shift))
      break;
  }
  if (!c->used) {
    c->series = series;
    c->axis = (int8_t)axis;
    c->shift = (int8_t)shift;
    c->block = block;
    c->used = 1;
    c->has_value = 0;
    c->n = 0;
    c->x0 = c->x1 = x;
    c->t0 = c->t1 = ts;
    r->count++;
  }
  if (x < c->x0)
    c->x0 = x;
  if (x > c->x1)
    c->x1 = x;
  if (ts < c->t0)
    c->t0 = ts;
  if (ts > c->t1)
    c->t1 = ts;
  if (has_value && !c->has_value) {
    c->lo = c->hi = value;
    c->has_value = 1;
  } else if (has_value) {
    if (value < c->lo)
      c->lo = value;
    if (value > c->hi)
      c->hi = value;
  }
  c->n++;
  return MIDA_OK;
}

int mida__rollup_add(mida__rollup *r, const char *task, const char *key,
                     size_t key_len, int has_step, int64_t step, int64_t ts,
                     int has_value, double value) {
  if (has_value && value != value)
    has_value = 0; /* NaN: stored as NULL, no value */
  if (r->series_cap == 0 && reserve_series(r, 64) != MIDA_OK)
    return MIDA_ENOMEM;
  uint32_t series = find_series(r, task, key, key_len);
  if (series == UINT32_MAX) {
    /* More series than the table holds: a table twice as large, and the
     * cells put back under their series' new slots. */
    mida__rollup old = *r;
    mida__rollup_cell *cells = mida__calloc(old.cap, sizeof *cells);
    r->series = NULL;
    r->series_cap = r->series_count = 0;
    r->last = 0;
    if (cells == NULL || reserve_series(r, old.series_cap * 2) != MIDA_OK) {
      mida__free(cells);
      mida__free(r->series);
      *r = old;
      return MIDA_ENOMEM;
    }
    for (size_t i = 0; i < old.cap; i++) {
      if (!old.cells[i].used)
        continue;
      mida__rollup_cell c = old.cells[i];
      const mida__rollup_series *e = &old.series[c.series];
      c.series = find_series(r, e->task, e->key, e->key_len);
      put_cell(cells, old.cap, &c);
    }
    mida__free(old.cells);
    mida__free(old.series);
    r->cells = cells;
    series = find_series(r, task, key, key_len);
  }
  int rc = MIDA_OK;
  for (int axis = 0; axis < MIDA_ROLLUP_AXES && rc == MIDA_OK; axis++) {
    if (axis == MIDA_ROLLUP_STEP && !has_step)
      continue;
    int64_t x = axis == MIDA_ROLLUP_STEP ? step : ts;
    for (int shift = mida__rollup_min_shift(axis);
         shift <= mida__rollup_max_shift(axis) && rc == MIDA_OK;
         shift += MIDA_ROLLUP_STRIDE)
      rc = fold(r, series, axis, shift, x, ts, has_value, value);
  }
  return rc;
}

static int text_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  int c = memcmp(a, b, alen < blen ? alen : blen);
  return c != 0 ? c : (alen > blen) - (alen < blen);
}

static int entry_cmp(const void *pa, const void *pb) {
  const mida__rollup_entry *a = pa, *b = pb;
  int c = 0;
  if (a->series != b->series) {
    c = memcmp(a->series->task, b->series->task, 36);
    if (c == 0)
      c = text_cmp(a->series->key, a->series->key_len, b->series->key,
                   b->series->key_len);
  }
  if (c != 0)
    return c;
  const mida__rollup_cell *x = a->cell, *y = b->cell;
  if (x->axis != y->axis)
    return x->axis < y->axis ? -1 : 1;
  if (x->shift != y->shift)
    return x->shift < y->shift ? -1 : 1;
  return (x->block > y->block) - (x->block < y->block);
}

int mida__rollup_sort(mida__rollup *r, const mida__rollup_entry **out,
                      size_t *count) {
  if (r->count > r->sorted_cap) {
    mida__rollup_entry *p = mida__realloc(r->sorted, r->count * sizeof *p);
    if (p == NULL)
      return MIDA_ENOMEM;
    r->sorted = p;
    r->sorted_cap = r->count;
  }
  size_t n = 0;
  for (size_t i = 0; i < r->cap; i++)
    if (r->cells[i].used) {
      r->sorted[n].cell = &r->cells[i];
      r->sorted[n++].series = &r->series[r->cells[i].series];
    }
  if (n > 1)
    qsort(r->sorted, n, sizeof *r->sorted, entry_cmp);
  *out = r->sorted;
  *count = n;
  return MIDA_OK;
}

void mida__rollup_free(mida__rollup *r) {
  mida__free(r->cells);
  mida__free(r->series);
  mida__free(r->sorted);
  memset(r, 0, sizeof *r);
}

/* ---- SQL ---------------------------------------------------------------- */

/* The x of an axis, as SQL over a metric row. */
static const char *axis_x(int axis) {
  return axis == MIDA_ROLLUP_STEP ? "step" : "ts";
}

int mida__rollup_build_sql(mida__buf *b) {
  int rc = mida__buf_adds(b, "DELETE FROM metric_block;\n");
  for (int axis = 0; axis < MIDA_ROLLUP_AXES && rc == MIDA_OK; axis++) {
    const char *x = axis_x(axis);
    int s0 = mida__rollup_min_shift(axis);
    rc = mida__buf_printf(
        b,
        "INSERT INTO metric_block(" MIDA_ROLLUP_COLUMNS ") SELECT task_id,"
        " key, %d, %d, %s >> %d, min(%s), max(%s), min(ts), max(ts),"
        " min(nullif(value, 'NaN')), max(nullif(value, 'NaN')), count(*)"
        " FROM metric%s"
        " GROUP BY task_id, key, %s >> %d;\n",
        axis, s0, x, s0, x, x,
        axis == MIDA_ROLLUP_STEP ? " WHERE step IS NOT NULL" : "", x, s0);
    for (int s = s0 + MIDA_ROLLUP_STRIDE;
         s <= mida__rollup_max_shift(axis) && rc == MIDA_OK;
         s += MIDA_ROLLUP_STRIDE)
      rc = mida__buf_printf(
          b,
          "INSERT INTO metric_block(" MIDA_ROLLUP_COLUMNS ") SELECT task_id,"
          " key, %d, %d, block >> %d, min(x0), max(x1), min(t0), max(t1),"
          " min(lo), max(hi), sum(n) FROM metric_block WHERE axis = %d AND"
          " shift = %d GROUP BY task_id, key, block >> %d;\n",
          axis, s, MIDA_ROLLUP_STRIDE, axis, s - MIDA_ROLLUP_STRIDE,
          MIDA_ROLLUP_STRIDE);
  }
  return rc;
}

int mida__rollup_select_sql(mida__buf *b, const char *from) {
  /* The finest level of each axis from the points (f0: steps, f1: time),
   * each coarser one from those rows. */
  int rc = mida__buf_adds(b, "WITH ");
  for (int axis = 0; axis < MIDA_ROLLUP_AXES && rc == MIDA_OK; axis++) {
    const char *x = axis_x(axis);
    int s0 = mida__rollup_min_shift(axis);
    rc = mida__buf_printf(
        b,
        "%sf%d AS (SELECT task_id, key, %d AS axis, %d AS shift, %s >> %d AS"
        " block, min(%s) AS x0, max(%s) AS x1, min(ts) AS t0, max(ts) AS t1,"
        " min(nullif(value, 'NaN')) AS lo, max(nullif(value, 'NaN')) AS hi,"
        " count(*) AS n FROM %s%s GROUP BY task_id, key, %s >> %d)",
        axis ? ", " : "", axis, axis, s0, x, s0, x, x, from,
        axis == MIDA_ROLLUP_STEP ? " WHERE step IS NOT NULL" : "", x, s0);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, " SELECT * FROM (");
  for (int axis = 0; axis < MIDA_ROLLUP_AXES && rc == MIDA_OK; axis++) {
    int s0 = mida__rollup_min_shift(axis);
    rc = mida__buf_printf(b, "%sSELECT * FROM f%d", axis ? " UNION ALL " : "",
                          axis);
    for (int s = s0 + MIDA_ROLLUP_STRIDE;
         s <= mida__rollup_max_shift(axis) && rc == MIDA_OK;
         s += MIDA_ROLLUP_STRIDE)
      rc = mida__buf_printf(
          b,
          " UNION ALL SELECT task_id, key, %d, %d, block >> %d, min(x0),"
          " max(x1), min(t0), max(t1), min(lo), max(hi),"
          " CAST(sum(n) AS BIGINT) FROM f%d GROUP BY task_id, key,"
          " block >> %d",
          axis, s, s - s0, axis, s - s0);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ") AS b ORDER BY 1, 2, 3, 4, 5");
  return rc;
}

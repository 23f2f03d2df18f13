/*
 * sqlite_deps.c -- a batch's task dependencies, written ROWS_PER_STEP to
 * a statement (sqlite_deps.h says why).
 */
#include "sink/sqlite_deps.h"

#include "core/alloc.h"
#include "sink/sqlite_int.h"

#include <sqlite3.h>

int mida__sqlite_keep_dep(sqlite_sink *s, const mida__rec *r,
                          batch_counts *counts) {
  if (!mida__sqlite_field_usable(r, MIDA_F_TASK, 0, counts) ||
      !mida__sqlite_field_usable(r, MIDA_F_PARENT, 0, counts)) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  mida__dep_rows *d = &s->deps;
  if (d->n == d->cap) {
    size_t cap = d->cap != 0 ? d->cap * 2 : 256;
    void *p = cap <= SIZE_MAX / sizeof *d->pair
                  ? mida__realloc(d->pair, cap * sizeof *d->pair)
                  : NULL;
    if (p == NULL)
      return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
    d->pair = p;
    d->cap = cap;
  }
  d->pair[d->n][0] = r->f[MIDA_F_TASK].v.id;
  d->pair[d->n][1] = r->f[MIDA_F_PARENT].v.id;
  d->n++;
  return MIDA_OK;
}

/* Binds the n dependencies at pair to st, from parameter 1 on (their ids'
 * text into text, which must outlive the step), and steps it. */
static int write_deps(sqlite_sink *s, sqlite3_stmt *st,
                      const mida_id_t (*pair)[2], size_t n,
                      char (*text)[MIDA_ID_STRLEN]) {
  for (size_t i = 0; i < 2 * n; i++) {
    mida_id_format(&pair[i / 2][i % 2], text[i]);
    sqlite3_bind_text(st, (int)i + 1, text[i], MIDA_ID_STRLEN - 1,
                      SQLITE_STATIC);
  }
  return mida__sqlite_step_write(s, st, "dep");
}

int mida__sqlite_apply_deps(sqlite_sink *s) {
  mida__dep_rows *d = &s->deps;
  char text[2 * ROWS_PER_STEP][MIDA_ID_STRLEN]; /* bound without a copy */
  int rc = MIDA_OK;
  size_t k = 0;
  for (; k + ROWS_PER_STEP <= d->n && rc == MIDA_OK; k += ROWS_PER_STEP) {
    sqlite3_stmt *st = mida__sqlite_statement(s, ST_DEP_ROWS);
    rc = st != NULL ? write_deps(s, st, &d->pair[k], ROWS_PER_STEP, text)
                    : MIDA_ESTORE;
  }
  for (; k < d->n && rc == MIDA_OK; k++) {
    sqlite3_stmt *st = mida__sqlite_statement(s, ST_DEP);
    rc = st != NULL ? write_deps(s, st, &d->pair[k], 1, text) : MIDA_ESTORE;
  }
  mida__dep_rows_clear(d);
  return rc;
}

void mida__dep_rows_free(mida__dep_rows *d) {
  mida__free(d->pair);
  d->pair = NULL;
  d->n = d->cap = 0;
}

/*
 * rows.c -- small query results copied into memory (rows.h).
 */
#include "report/rows.h"

#include "core/alloc.h"
#include "mida.h"

#include <string.h>

static int fetch_row(void *ctx, int ncols, const char *const *names,
                     const char *const *values) {
  (void)names;
  mida__rows *r = ctx;
  if (r->nrows == 0 && r->ncols == 0)
    r->ncols = ncols;
  if (ncols != r->ncols || r->nrows >= r->max_rows) {
    r->truncated = 1;
    return 1;
  }
  size_t need = (r->nrows + 1) * (size_t)ncols;
  if (need > r->cells_cap) {
    size_t cap = r->cells_cap ? r->cells_cap * 2 : 16 * (size_t)ncols;
    while (cap < need)
      cap *= 2;
    char **cells = mida__realloc(r->cells, cap * sizeof(*cells));
    if (cells == NULL) {
      r->rc = MIDA_ENOMEM;
      return 1;
    }
    r->cells = cells;
    r->cells_cap = cap;
  }
  char **row = r->cells + r->nrows * (size_t)ncols;
  for (int i = 0; i < ncols; i++) {
    row[i] = NULL;
    if (values[i] == NULL)
      continue;
    row[i] = mida__strdup(values[i]);
    if (row[i] == NULL) {
      for (int j = 0; j < i; j++)
        mida__free(row[j]);
      r->rc = MIDA_ENOMEM;
      return 1;
    }
  }
  r->nrows++;
  return 0;
}

int mida__rows_fetch(mida__sink *sink, const char *sql,
                     const char *const *params, int nparams, size_t max_rows,
                     mida__rows *out) {
  memset(out, 0, sizeof(*out));
  out->max_rows = max_rows;
  int rc = mida__sink_query(sink, sql, params, nparams, fetch_row, out);
  if (out->rc != MIDA_OK)
    return out->rc;
  return rc;
}

const char *mida__rows_cell(const mida__rows *r, size_t row, int col) {
  if (row >= r->nrows || col < 0 || col >= r->ncols)
    return NULL;
  return r->cells[row * (size_t)r->ncols + (size_t)col];
}

void mida__rows_free(mida__rows *r) {
  size_t n = r->nrows * (size_t)r->ncols;
  for (size_t i = 0; i < n; i++)
    mida__free(r->cells[i]);
  mida__free(r->cells);
  memset(r, 0, sizeof(*r));
}

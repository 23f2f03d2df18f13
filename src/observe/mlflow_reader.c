/*
 * mlflow_reader.c -- the row helpers that both MLflow readers
 * (mlflow_sqlite.c, mlflow_pg.c) use to copy rows out of their database
 * (see mlflow_reader.h). The PostgreSQL reader is built into the
 * postgresql module, so these helpers are built there too.
 */
#include "observe/mlflow_reader.h"

#include "core/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void mida__mlf_rows_free(mida__mlf_rows *r) {
  for (size_t i = 0; i < r->n * (size_t)r->ncols; i++)
    mida__free(r->c[i].s);
  mida__free(r->c);
  memset(r, 0, sizeof *r);
}

mida__mlf_cell *mida__mlf_rows_add(mida__mlf_rows *r) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 64;
    mida__mlf_cell *c = mida__realloc(
        r->c, cap * (size_t)r->ncols * sizeof *c + (r->ncols == 0));
    if (c == NULL)
      return NULL;
    r->c = c;
    r->cap = cap;
  }
  mida__mlf_cell *row = &r->c[r->n * (size_t)r->ncols];
  memset(row, 0, (size_t)r->ncols * sizeof *row);
  r->n++;
  return row;
}

int mida__mlf_cell_set(mida__mlf_cell *c, int type, const char *s,
                       size_t len) {
  c->type = type;
  c->s = mida__malloc(len + 1);
  if (c->s == NULL)
    return MIDA_ENOMEM;
  memcpy(c->s, s, len);
  c->s[len] = '\0';
  c->len = len;
  c->i = strtoll(s, NULL, 10);
  c->d = strtod(s, NULL);
  if (type == MIDA__MLF_FLOAT)
    c->i = isfinite(c->d) && fabs(c->d) < 9.2e18 ? (int64_t)c->d : 0;
  return MIDA_OK;
}

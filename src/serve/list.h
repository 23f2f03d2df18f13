/*
 * list.h -- keyset-paged lists (list.c), for workflows.c and tasks.c.
 */
#ifndef MIDA_SERVE_LIST_H
#define MIDA_SERVE_LIST_H

#include "core/buf.h"

/* One way a list may be sorted. */
typedef struct mida__list_sort {
  const char *name;  /* as the client writes it, without the '-' */
  const char *expr;  /* the key on the outer table, e.g. "coalesce(t.x, 0)" */
  const char *inner; /* the same key in the cursor's subquery (no alias) */
} mida__list_sort;

/* Finds "name" or "-name" (descending) in sorts (ended by a NULL name).
 * Returns 1 and sets *out, *desc; 0 when text names no sort. */
int mida__list_pick(const mida__list_sort *sorts, const char *text,
                    const mida__list_sort **out, int *desc);

/* Appends the keyset condition (when have_after; ?after_param is the last
 * id of the previous page), ORDER BY and LIMIT limit + 1 (the extra row
 * says whether there is a next page) to sql, whose WHERE clause so far is
 * where ("" or NULL when it has none). */
int mida__list_sql(mida__buf *sql, const mida__list_sort *sort, int desc,
                   const char *alias, const char *table, int have_after,
                   const char *where, int after_param, long long limit);

#endif /* MIDA_SERVE_LIST_H */

/*
 * list.h -- keyset-paged lists (list.c), for workflows.c and tasks.c.
 */
#ifndef MIDA_SERVE_LIST_H
#define MIDA_SERVE_LIST_H

#include "core/buf.h"
#include "serve/serve.h"

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

/* Whether after, the cursor of a page of table's list ("task",
 * "workflow", "campaign"), names a row of table: the keyset condition compares
 * with that row, so a cursor that names none would give an empty page, as
 * if the list had ended. Sets *known; when the store has no such row,
 * makes resp a 400 naming the parameter. On a store error makes resp a
 * 503 or 400 as mida__serve_exists() does; the caller goes on only when
 * *known. A primary-key lookup. */
int mida__list_after_known(mida__serve *srv, mida__resp *resp,
                           const char *table, const char *after, int *known);

#endif /* MIDA_SERVE_LIST_H */

/*
 * list.c -- keyset-paged lists, shared by the workflow and task lists.
 *
 * A page is asked for by its sort ("-started", "name", ...), a limit and
 * the id of the last row of the previous page (after=ID). The next page
 * holds the rows after that row in the sort order: the condition
 * (key, id) < (SELECT key, id FROM table WHERE id = ?) is a row-value
 * comparison that SQLite and PostgreSQL both evaluate, on the primary key
 * for the default sort (ids are time-ordered UUIDv7, so "-id" is newest
 * first) -- no OFFSET, so page 10,000 costs what page 1 costs. Sort keys
 * are wrapped in coalesce() so that NULLs sort as a value instead of
 * falling out of the comparison. A cursor that names no row of its table
 * would make that subquery empty and the page empty, as if the list had
 * ended: mida__list_after_known() makes it a 400 instead.
 */
#include "serve/list.h"

#include "mida.h"

#include <stdio.h>
#include <string.h>

int mida__list_sql(mida__buf *sql, const mida__list_sort *sort, int desc,
                   const char *alias, const char *table, int have_after,
                   const char *where, int after_param, long long limit) {
  const char *cmp = desc ? "<" : ">";
  const char *dir = desc ? "DESC" : "ASC";
  int rc = MIDA_OK;
  int any = where != NULL && where[0] != '\0';
  if (have_after)
    rc = mida__buf_printf(sql,
                          " %s (%s, %s.id) %s (SELECT %s, id FROM %s"
                          " WHERE id = ?%d)",
                          any ? "AND" : "WHERE", sort->expr, alias, cmp,
                          sort->inner, table, after_param);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(sql, " ORDER BY %s %s, %s.id %s LIMIT %lld",
                          sort->expr, dir, alias, dir, limit + 1);
  return rc;
}

int mida__list_pick(const mida__list_sort *sorts, const char *text,
                    const mida__list_sort **out, int *desc) {
  *desc = 0;
  if (text[0] == '-') {
    *desc = 1;
    text++;
  }
  for (const mida__list_sort *s = sorts; s->name != NULL; s++) {
    if (strcmp(s->name, text) == 0) {
      *out = s;
      return 1;
    }
  }
  return 0;
}

int mida__list_after_known(mida__serve *srv, mida__resp *resp,
                           const char *table, const char *after, int *known) {
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ?1", table);
  int rc = mida__serve_exists(srv, resp, table, sql, after, known);
  if (rc == MIDA_OK && !*known && resp->status == 404)
    mida__resp_error(resp, 400,
                     "parameter 'after' must be the id of a %s (the 'next'"
                     " of an earlier page): there is no %s '%.200s'",
                     table, table, after);
  return rc;
}

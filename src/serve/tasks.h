/*
 * tasks.h -- the SQL of a task list request (tasks.c), apart from running
 * it, so that a test can ask the store how it would run it (EXPLAIN QUERY
 * PLAN: does an index made by `mida index` serve it?).
 */
#ifndef MIDA_SERVE_TASKS_H
#define MIDA_SERVE_TASKS_H

#include "core/buf.h"
#include "serve/list.h"
#include "serve/serve.h"
#include "sink/key.h"

/* The most where= predicates in one list request. */
#define TASK_PREDICATES_MAX 8

/* One task list request as SQL. */
typedef struct mida__tasks_query {
  mida__buf where;                                  /* " WHERE ... AND ..." */
  mida__buf sql;                                    /* the whole SELECT */
  const char *params[16 + 3 * TASK_PREDICATES_MAX]; /* ?1.., in the request */
  int np;                                           /* parameters used */
  long long limit;                                  /* rows in a page */
  mida__list_sort key_sort;  /* a sort by a document key, when asked */
  mida__buf sort_expr;       /* its key on the alias t */
  mida__buf sort_inner;      /* its key on the bare table */
  mida__key sort_key;        /* that key (key_sort.expr not NULL) */
  int rc;                    /* first error building it */
} mida__tasks_query;

/* Builds the SQL of GET /api/tasks for req into q (which it sets up; free
 * it with mida__tasks_query_free in every case), asking srv's store
 * whether a key's index holds few matches of a where= (NULL srv: no
 * asking). Returns 1 with q->rc MIDA_OK or an error (out of memory); 0
 * when the request is wrong and a 400 answer is in resp. The parameters
 * point into req. */
int mida__tasks_query_build(mida__serve *srv, const mida__req *req,
                            mida__resp *resp, mida__tasks_query *q);

void mida__tasks_query_free(mida__tasks_query *q);

#endif /* MIDA_SERVE_TASKS_H */

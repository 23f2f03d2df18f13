/*
 * counts.c -- the store's counts, each with a bound, read in one
 * statement (counts.h).
 *
 * The statement gives rows (name, value): name is a table's name, or
 * 'status:' and a status, or 'counter:' and a counter's name. One
 * statement reads one snapshot, so the counts agree with each other.
 */
#include "sink/counts.h"

#include "core/alloc.h"
#include "mida.h"

#include <stdlib.h>
#include <string.h>

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define BOUND STRINGIFY(MIDA_COUNT_BOUND)

static const char *const table_names[MIDA_COUNT_TABLES] = {
    "campaign", "workflow", "task",      "data",          "task_data",
    "task_dep", "metric",   "telemetry", "source_cursor", "counter",
};

const char *mida__count_table(int t) {
  return t >= 0 && t < MIDA_COUNT_TABLES ? table_names[t] : NULL;
}

/* The count of a table, stopping at the bound. */
#define BOUNDED(t)                                                             \
  " SELECT '" t "', count(*) FROM (SELECT 1 FROM " t " LIMIT " BOUND ") x"

/* The count of a table, all of it. */
#define EXACT(t) " SELECT '" t "', count(*) FROM " t

/* The sums of the stored counters, over all their rows: they are the
 * account of what was lost (docs/reliability.md), never a lower bound.
 * The counter table has a row per process and counter name, so it grows
 * with the processes that wrote to the store, not with their tasks. */
#define COUNTERS                                                               \
  " UNION ALL SELECT 'counter:' || name, sum(value) FROM counter"              \
  " GROUP BY name"

/* Every count, none reading more than the bound's rows but the counters'
 * sums: the statuses are those of the newest tasks (ids are time-ordered,
 * so the current work's: what a steering view asks about), lower bounds
 * once the task table reaches the bound. Both SQL dialects read it; each
 * LIMIT scan reads the smallest index that covers it (SQLite) or the
 * table (PostgreSQL), and stops at the bound. */
/* clang-format off */
static const char bounded_sql[] =
    BOUNDED("campaign") " UNION ALL"
    BOUNDED("workflow") " UNION ALL"
    BOUNDED("task") " UNION ALL"
    BOUNDED("data") " UNION ALL"
    BOUNDED("task_data") " UNION ALL"
    BOUNDED("task_dep") " UNION ALL"
    BOUNDED("metric") " UNION ALL"
    BOUNDED("telemetry") " UNION ALL"
    BOUNDED("source_cursor") " UNION ALL"
    BOUNDED("counter") " UNION ALL"
    " SELECT 'status:' || status, count(*) FROM (SELECT"
    " coalesce(status, 'UNKNOWN') AS status FROM task ORDER BY id DESC"
    " LIMIT " BOUND ") x GROUP BY status"
    COUNTERS;

/* Every count exact (mida stats --exact, GET /api/stats?exact=true): a
 * cost that grows with the store (~1 s at 2.1 M tasks, docs/cli.md). */
static const char exact_sql[] =
    EXACT("campaign") " UNION ALL"
    EXACT("workflow") " UNION ALL"
    EXACT("task") " UNION ALL"
    EXACT("data") " UNION ALL"
    EXACT("task_data") " UNION ALL"
    EXACT("task_dep") " UNION ALL"
    EXACT("metric") " UNION ALL"
    EXACT("telemetry") " UNION ALL"
    EXACT("source_cursor") " UNION ALL"
    EXACT("counter") " UNION ALL"
    " SELECT 'status:' || coalesce(status, 'UNKNOWN'), count(*) FROM task"
    " GROUP BY coalesce(status, 'UNKNOWN')"
    COUNTERS;
/* clang-format on */

typedef struct read_ctx {
  mida__counts *c;
  int rc; /* MIDA_ENOMEM when a name could not be kept */
} read_ctx;

/* Adds a named count to a list, unless it is full. */
static int add_item(mida__counts *c, mida__count_item *items, size_t *count,
                    const char *name, int64_t value) {
  if (*count >= MIDA_COUNT_ITEMS)
    return MIDA_OK;
  size_t at = c->names.len;
  int rc = mida__buf_add(&c->names, name, strlen(name) + 1);
  if (rc != MIDA_OK)
    return rc;
  items[*count].name = at;
  items[*count].value = value;
  (*count)++;
  return MIDA_OK;
}

static int count_row(void *ctx, int ncols, const char *const *names,
                     const char *const *values) {
  (void)names;
  read_ctx *r = ctx;
  mida__counts *c = r->c;
  if (ncols < 2 || values[0] == NULL)
    return 0;
  const char *name = values[0];
  /* A sum over no rows is NULL; a PostgreSQL sum is numeric text. */
  int64_t value = values[1] != NULL ? strtoll(values[1], NULL, 10) : 0;
  int rc = MIDA_OK;
  if (strncmp(name, "status:", 7) == 0) {
    rc = add_item(c, c->status, &c->nstatus, name + 7, value);
  } else if (strncmp(name, "counter:", 8) == 0) {
    rc = add_item(c, c->counter, &c->ncounter, name + 8, value);
  } else {
    for (int t = 0; t < MIDA_COUNT_TABLES; t++)
      if (strcmp(name, table_names[t]) == 0)
        c->rows[t] = value;
  }
  if (rc != MIDA_OK) {
    r->rc = rc;
    return 1;
  }
  return 0;
}

static int by_name(const void *a, const void *b, const mida__counts *c) {
  return strcmp(mida__count_name(c, a), mida__count_name(c, b));
}

/* Sorts a list by name (the statement's rows come unsorted); insertion
 * sort, as qsort passes no context. */
static void sort_items(const mida__counts *c, mida__count_item *items,
                       size_t n) {
  for (size_t i = 1; i < n; i++) {
    mida__count_item x = items[i];
    size_t j = i;
    while (j > 0 && by_name(&items[j - 1], &x, c) > 0) {
      items[j] = items[j - 1];
      j--;
    }
    items[j] = x;
  }
}

int mida__counts_read(mida__sink *sink, int exact, mida__counts *out) {
  memset(out, 0, sizeof *out);
  mida__buf_init(&out->names, (size_t)1 << 20);
  read_ctx r = {out, MIDA_OK};
  int rc = mida__sink_query(sink, exact ? exact_sql : bounded_sql, NULL, 0,
                            count_row, &r);
  if (rc == MIDA_OK)
    rc = r.rc;
  if (rc != MIDA_OK)
    return rc;
  out->exact = 1;
  for (int t = 0; t < MIDA_COUNT_TABLES; t++) {
    out->rows_at_least[t] = !exact && out->rows[t] >= MIDA_COUNT_BOUND;
    if (out->rows_at_least[t])
      out->exact = 0;
  }
  out->status_at_least = out->rows_at_least[MIDA_COUNT_TASK];
  sort_items(out, out->status, out->nstatus);
  sort_items(out, out->counter, out->ncounter);
  return MIDA_OK;
}

const char *mida__count_name(const mida__counts *c,
                             const mida__count_item *item) {
  return c->names.ptr + item->name;
}

int mida__counts_at_least_json(const mida__counts *c, mida__buf *b) {
  int rc = mida__buf_adds(b, "[");
  size_t n = 0;
  for (int t = 0; rc == MIDA_OK && t < MIDA_COUNT_TABLES; t++)
    if (c->rows_at_least[t])
      rc = mida__buf_printf(b, "%s\"%s\"", n++ > 0 ? ", " : "", table_names[t]);
  if (rc == MIDA_OK && c->status_at_least)
    rc = mida__buf_printf(b, "%s\"tasks_by_status\"", n++ > 0 ? ", " : "");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "]");
  return rc;
}

void mida__counts_free(mida__counts *c) {
  mida__buf_free(&c->names);
}

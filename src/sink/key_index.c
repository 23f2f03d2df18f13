/*
 * key_index.c -- the indexes declared on document keys (key_index.h): what
 * `mida index` runs, what MIDA_INDEX asks for at a writer's open, and the
 * probe that tells a predicate whether its key's index holds few matches.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/key_index.h"
#include "sink/key_side.h"

#include "mida.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The SQL that creates and records, or drops and forgets, one index. Both
 * stores read it as it is (PostgreSQL finds mida_num in its schema mida,
 * last on the search path of every connection mida opens). */
static int index_sql(mida__buf *sql, const mida__key *k, mida__key_kind kind,
                     int drop) {
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(k, kind, name);
  if (drop)
    return mida__buf_printf(sql,
                            "DROP INDEX IF EXISTS %s;\n"
                            "DELETE FROM mida_index WHERE name = '%s';\n",
                            name, name);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  long long ns = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
  int rc = mida__buf_printf(sql, "CREATE INDEX IF NOT EXISTS %s ON task(",
                            name);
  if (rc == MIDA_OK)
    rc = mida__key_expr(sql, k, kind, NULL);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(sql,
                          ", id);\n"
                          "INSERT INTO mida_index(name, key, kind, created)"
                          " VALUES('%s', '%s.%s', '%s', %lld)"
                          " ON CONFLICT(name) DO NOTHING;\n",
                          name, k->doc, k->path,
                          kind == MIDA_KEY_TEXT ? "text" : "num", ns);
  return rc;
}

int mida__key_index_apply(mida__sink *sink, const mida__key *k,
                          mida__key_kind kind, int drop) {
  mida__buf sql;
  mida__buf_init(&sql, 4096);
  int postgres = strncmp(sink->methods->scheme, "postgres", 8) == 0;
  int rc = index_sql(&sql, k, kind, drop);
  /* A numeric key's side table (key_side.h), kept from now on by
   * triggers and filled in the same transaction. */
  if (rc == MIDA_OK && kind == MIDA_KEY_NUM)
    rc = mida__key_side_sql(&sql, k, postgres, drop);
  if (rc == MIDA_OK)
    rc = mida__sink_exec_schema(sink, mida__buf_str(&sql));
  mida__buf_free(&sql);
  /* PostgreSQL keeps statistics of an indexed expression's values only
   * from its next ANALYZE, which autovacuum runs only after enough rows
   * change: until then it guesses a third of the table for a one-sided
   * range and walks the table instead of the new index. SQLite keeps no
   * such statistics (predicate.h's probe stands in for them), and an
   * ANALYZE there would change the plans of every query. */
  if (rc == MIDA_OK && !drop && postgres)
    rc = mida__sink_exec_schema(sink, "ANALYZE task");
  /* The side table's primary key is read alone (an index-only scan) only
   * where the visibility map says its pages are all visible: without a
   * VACUUM, each match of a range costs a read of its row until
   * autovacuum comes by. */
  if (rc == MIDA_OK && !drop && postgres && kind == MIDA_KEY_NUM)
    rc = mida__sink_exec_schema(sink, "VACUUM (ANALYZE) task_key_num");
  return rc;
}

static int seen_row(void *ctx, int ncols, const char *const *names,
                    const char *const *values) {
  (void)ncols;
  (void)names;
  (void)values;
  *(int *)ctx = 1;
  return 1; /* one row says it all */
}

int mida__key_index_declared(mida__sink *sink, const char *list, char *err,
                             size_t errlen) {
  const char *p = list;
  while (*p != '\0') {
    size_t n = strcspn(p, ",");
    char item[MIDA_KEY_MAX_PATH + 32];
    if (n >= sizeof item) {
      snprintf(err, errlen, "MIDA_INDEX: a key longer than %zu bytes",
               sizeof item - 1);
      return MIDA_EINVAL;
    }
    memcpy(item, p, n);
    item[n] = '\0';
    p += n + (p[n] == ',');
    const char *text = item;
    while (*text == ' ')
      text++;
    for (size_t e = strlen(text); e > 0 && text[e - 1] == ' '; e--)
      item[(size_t)(text - item) + e - 1] = '\0';
    if (*text == '\0')
      continue;
    mida__key_kind kind = MIDA_KEY_NUM;
    if (strncmp(text, "text:", 5) == 0) {
      kind = MIDA_KEY_TEXT;
      text += 5;
    }
    mida__key k;
    char why[200];
    if (mida__key_parse_all(text, &k, why, sizeof why) != MIDA_OK) {
      snprintf(err, errlen, "MIDA_INDEX: '%s': %s", text, why);
      return MIDA_EINVAL;
    }
    char name[MIDA_KEY_INDEX_NAME];
    mida__key_index_name(&k, kind, name);
    const char *params[1] = {name};
    int seen = 0;
    /* A store whose queries this role may not run (PostgreSQL's query
     * guard not arranged) cannot say: the index is made again, which
     * changes nothing but costs a transaction. */
    (void)mida__sink_query(sink, "SELECT 1 FROM mida_index WHERE name = ?1",
                           params, 1, seen_row, &seen);
    int rc = seen ? MIDA_OK : mida__key_index_apply(sink, &k, kind, 0);
    if (rc != MIDA_OK) {
      snprintf(err, errlen, "MIDA_INDEX: cannot index %s: %s", text,
               mida__sink_errmsg(sink));
      return rc;
    }
  }
  return MIDA_OK;
}

static int count_row(void *ctx, int ncols, const char *const *names,
                     const char *const *values) {
  (void)names;
  if (ncols > 0 && values[0] != NULL)
    *(long long *)ctx = strtoll(values[0], NULL, 10);
  return 0;
}

/* Whether an index on its key may serve p. */
static int indexable(const mida__predicate *p) {
  return p->op != NULL && strcmp(p->op, "!=") != 0;
}

static int same_key(const mida__predicate *a, const mida__predicate *b) {
  return a->numeric == b->numeric && strcmp(a->key.doc, b->key.doc) == 0 &&
         strcmp(a->key.path, b->key.path) == 0;
}

/* ---- the side table (key_side.h) ------------------------------------- */

static int side_op(const mida__predicate *p) {
  static const char *const ops[] = {"=", "<", "<=", ">", ">="};
  if (p->op == NULL || !p->numeric)
    return 0;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(p->op, ops[i]) == 0)
      return 1;
  return 0;
}

/* Appends " AND COLUMN OP CAST(?N AS DOUBLE PRECISION)" for each
 * predicate, binding its value. column is "value", or "value + 0", which
 * no index serves: a walk by id compares it on each entry, and neither
 * planner then reads the primary key's range instead. */
static int side_conditions(mida__buf *sql, const mida__predicate *preds, int n,
                           const char *column, const char **params, int *np) {
  int rc = MIDA_OK;
  for (int i = 0; i < n && rc == MIDA_OK; i++) {
    params[(*np)++] = preds[i].value;
    rc = mida__buf_printf(sql, " AND %s %s CAST(?%d AS DOUBLE PRECISION)",
                          column, preds[i].op, *np);
  }
  return rc;
}

/* Counts into *matches the tasks (at most max) whose value at the key of
 * preds (all numeric comparisons on one key) matches them all, in the
 * side table. Returns MIDA_OK or the store's error (an older store has no
 * side table). */
static int side_count(mida__sink *sink, const mida__predicate *preds, int n,
                      long long max, long long *matches) {
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(&preds[0].key, MIDA_KEY_NUM, name);
  const char *params[MIDA_PREDICATE_PROBE_MAX + 1] = {name};
  int np = 1;
  mida__buf sql;
  mida__buf_init(&sql, 1 << 14);
  int rc = mida__buf_adds(&sql, "SELECT count(*) FROM (SELECT 1 FROM"
                                " task_key_num WHERE name = ?1");
  if (rc == MIDA_OK)
    rc = side_conditions(&sql, preds, n, "value", params, &np);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&sql, " LIMIT %lld) AS m", max);
  *matches = max;
  if (rc == MIDA_OK)
    rc = mida__sink_query(sink, mida__buf_str(&sql), params, np, count_row,
                          matches);
  mida__buf_free(&sql);
  return rc;
}

/* How many tasks (at most MIDA_PREDICATE_FEW) the key's index holds that
 * match all of preds (one key); MIDA_PREDICATE_FEW on a store error. */
static long long index_count(mida__sink *sink, const mida__predicate *preds,
                             int n) {
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  const char *vals[MIDA_PREDICATE_PROBE_MAX];
  int np = 0;
  int rc = mida__buf_adds(&sql, "SELECT count(*) FROM (SELECT 1 FROM task t"
                                " WHERE TRUE");
  for (int i = 0; i < n && rc == MIDA_OK; i++) {
    rc = mida__buf_adds(&sql, " AND ");
    if (rc == MIDA_OK)
      rc = mida__predicate_sql(&preds[i], "t", &sql, vals, &np);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_printf(&sql, " LIMIT %d) AS m", MIDA_PREDICATE_FEW);
  long long matches = MIDA_PREDICATE_FEW;
  if (rc != MIDA_OK || mida__sink_query(sink, mida__buf_str(&sql), vals, np,
                                        count_row, &matches) != MIDA_OK)
    matches = MIDA_PREDICATE_FEW;
  mida__buf_free(&sql);
  return matches;
}

/* Probes the predicates of preds that share the key of preds[first]. */
static void probe_key(mida__sink *sink, mida__predicate *preds, int n,
                      int first) {
  mida__predicate *p = &preds[first];
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(&p->key, p->numeric ? MIDA_KEY_NUM : MIDA_KEY_TEXT,
                       name);
  const char *params[1] = {name};
  long long indexed = 0;
  /* A store older than version 6 has no mida_index: no index, no hint. */
  if (mida__sink_query(sink,
                       "SELECT count(*) FROM mida_index WHERE name = ?1",
                       params, 1, count_row, &indexed) != MIDA_OK ||
      indexed == 0)
    return;
  mida__predicate same[MIDA_PREDICATE_PROBE_MAX];
  int nsame = 0;
  for (int i = first; i < n && nsame < MIDA_PREDICATE_PROBE_MAX; i++)
    if (indexable(&preds[i]) && same_key(p, &preds[i]))
      same[nsame++] = preds[i];
  long long matches = MIDA_PREDICATE_FEW;
  /* A numeric key: counted in its side table, whose primary key holds the
   * values (an index on an expression is read with a lookup of each
   * match's row); an older store, which has none: on the index. */
  if (!p->numeric ||
      side_count(sink, same, nsame, MIDA_PREDICATE_FEW, &matches) != MIDA_OK)
    matches = index_count(sink, same, nsame);
  for (int i = first; i < n; i++)
    if (indexable(&preds[i]) && same_key(p, &preds[i])) {
      preds[i].few = matches < MIDA_PREDICATE_FEW;
      preds[i].many = !preds[i].few;
    }
}

void mida__predicate_probe(mida__sink *sink, mida__predicate *preds, int n) {
  for (int i = 0; i < n; i++)
    preds[i].few = preds[i].many = 0;
  for (int i = 0; i < n; i++) {
    int seen = 0;
    for (int j = 0; j < i && !seen; j++)
      seen = indexable(&preds[j]) && same_key(&preds[i], &preds[j]);
    if (indexable(&preds[i]) && !seen)
      probe_key(sink, preds, n, i);
  }
}

/* How many of the first entries (at most first) of the key's side table
 * that a walk by id (desc: newest first; after: from that id on, NULL:
 * from the start) reads match all of preds; -1 on a store error. */
static long long side_first_count(mida__sink *sink,
                                  const mida__predicate *preds, int n, int desc,
                                  const char *after, long long first) {
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(&preds[0].key, MIDA_KEY_NUM, name);
  const char *params[MIDA_PREDICATE_PROBE_MAX + 2] = {name, after};
  int np = after != NULL ? 2 : 1;
  mida__buf sql;
  mida__buf_init(&sql, 1 << 14);
  /* The inner LIMIT keeps either planner from reading the primary key's
   * range: neither merges a limited subquery into the outer WHERE. */
  int rc = mida__buf_printf(&sql,
                            "SELECT count(*) FROM (SELECT value FROM"
                            " task_key_num WHERE name = ?1%s ORDER BY"
                            " task_id %s LIMIT %lld) AS f WHERE TRUE",
                            after == NULL ? ""
                            : desc        ? " AND task_id < ?2"
                                          : " AND task_id > ?2",
                            desc ? "DESC" : "ASC", first);
  if (rc == MIDA_OK)
    rc = side_conditions(&sql, preds, n, "value", params, &np);
  long long matches = -1;
  if (rc != MIDA_OK || mida__sink_query(sink, mida__buf_str(&sql), params, np,
                                        count_row, &matches) != MIDA_OK)
    matches = -1;
  mida__buf_free(&sql);
  return matches;
}

const mida__key_side_limits *mida__key_side_limits_of(const mida__sink *sink) {
  static const mida__key_side_limits sqlite = {
      MIDA_KEY_SIDE_FEW, MIDA_KEY_SIDE_FIRST, MIDA_KEY_SIDE_WALK_MOST};
  static const mida__key_side_limits postgres = {
      MIDA_KEY_SIDE_FEW_PG, MIDA_KEY_SIDE_FIRST_PG, MIDA_KEY_SIDE_WALK_MOST_PG};
  return strncmp(sink->methods->scheme, "postgres", 8) == 0 ? &postgres
                                                            : &sqlite;
}

int mida__key_side_fits(mida__sink *sink, mida__predicate *preds, int n,
                        int desc, const char *after, long long page) {
  return mida__key_side_fits_within(sink, preds, n, desc, after, page,
                                    mida__key_side_limits_of(sink));
}

static int side_declared_row(void *ctx, int ncols, const char *const *names,
                             const char *const *values) {
  (void)names;
  long long *out = ctx;
  for (int i = 0; i < ncols && i < 2; i++)
    out[i] = values[i] != NULL ? strtoll(values[i], NULL, 10) : 0;
  return 0;
}

int mida__key_side_fits_within(mida__sink *sink, mida__predicate *preds, int n,
                               int desc, const char *after, long long page,
                               const mida__key_side_limits *limits) {
  if (n < 1 || n > MIDA_PREDICATE_PROBE_MAX)
    return 0;
  for (int i = 0; i < n; i++)
    if (!side_op(&preds[i]) || strcmp(preds[i].key.doc, preds[0].key.doc) ||
        strcmp(preds[i].key.path, preds[0].key.path))
      return 0;
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(&preds[0].key, MIDA_KEY_NUM, name);
  const char *params[1] = {name};
  /* Whether the key is declared (rows are kept only for a declared key),
   * and the store's version: before 8 no side table, before 10 no index
   * of it by id. */
  long long got[2] = {0, 0};
  if (mida__sink_query(sink,
                       "SELECT (SELECT count(*) FROM mida_index WHERE name ="
                       " ?1), (SELECT value FROM mida_meta WHERE key ="
                       " 'schema_version')",
                       params, 1, side_declared_row, got) != MIDA_OK ||
      got[0] == 0 || got[1] < 8)
    return 0;
  int by_id = got[1] >= 10;
  /* A page among the first entries of the walk by id, or enough matches
   * there that the walk finds a page within walk_most entries: by id,
   * without a count of all the matches. */
  if (by_id) {
    long long first =
        side_first_count(sink, preds, n, desc, after, limits->first);
    if (first < 0)
      return 0;
    if (first >= page || first * limits->walk_most >= page * limits->first)
      return MIDA_KEY_SIDE_BY_ID;
  }
  long long matches = limits->few;
  if (side_count(sink, preds, n, limits->few, &matches) != MIDA_OK)
    return 0;
  /* As many as that: more than the probe's few (key_index.h). */
  for (int i = 0; i < n; i++) {
    preds[i].few = 0;
    preds[i].many = matches >= limits->few;
  }
  if (matches < limits->few)
    return MIDA_KEY_SIDE_BY_VALUE;
  return by_id ? MIDA_KEY_SIDE_BY_ID : 0;
}

int mida__key_side_where(mida__buf *sql, const mida__predicate *preds, int n,
                         const char *alias, int desc, int have_after,
                         long long limit, int way, const char **params,
                         int *np) {
  char name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(&preds[0].key, MIDA_KEY_NUM, name);
  int by_id = way == MIDA_KEY_SIDE_BY_ID;
  int rc = mida__buf_printf(sql,
                            "%s.id IN (SELECT task_id FROM task_key_num"
                            " WHERE name = '%s'",
                            alias, name);
  /* By id: the value compared on each entry of the walk in id order. By
   * value: the range of the primary key, the matches sorted by an
   * expression of the id (the same order) that no index gives, so that
   * PostgreSQL's planner does not take the walk by id for it. */
  if (rc == MIDA_OK)
    rc = side_conditions(sql, preds, n, by_id ? "value + 0" : "value", params,
                         np);
  if (rc == MIDA_OK && have_after)
    rc =
        mida__buf_printf(sql, " AND task_id %s ?%d", desc ? "<" : ">", *np + 1);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(sql, " ORDER BY task_id%s %s LIMIT %lld)",
                          by_id ? "" : " || ''", desc ? "DESC" : "ASC", limit);
  return rc;
}

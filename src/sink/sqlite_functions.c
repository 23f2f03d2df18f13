/*
 * sqlite_functions.c -- the SQL functions of mida's that the SQLite store
 * registers on each connection (sqlite_functions.h).
 *
 * The writer's upserts merge a stored row with an incoming one in SQL
 * (the merge rules of sqlite.c): mida_status_merge(old, new) keeps the
 * higher-ranked status, mida_merge(old, new) merges two JSON objects key
 * by key, and mida_point(step, value) makes a metric point's identity
 * (schema.h). Readers' queries and the API's predicates read values out
 * of the JSON columns with mida_num(doc, path) and mida_text(doc, path).
 * The PostgreSQL store defines the same functions in its mida schema
 * (postgres.c), so that one query serves both stores; for the same
 * reason json_typeof(doc) and jsonb_typeof(doc) are PostgreSQL's own. All
 * of them are deterministic and innocuous: a reader's connection, which
 * trusts no schema it did not make, may still call them.
 */
#include "sink/sqlite_functions.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "sink/merge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mida_status_merge(old, new): the higher-ranked status; NULL loses. */
static void sql_status_merge(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_value(ctx, argv[1]);
    return;
  }
  const unsigned char *a = sqlite3_value_text(argv[0]);
  int alen = sqlite3_value_bytes(argv[0]);
  const unsigned char *b = sqlite3_value_text(argv[1]);
  int blen = sqlite3_value_bytes(argv[1]);
  if (a == NULL || b == NULL) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  int keep_old = mida__status_rank_of_name((const char *)a, (size_t)alen) >=
                 mida__status_rank_of_name((const char *)b, (size_t)blen);
  sqlite3_result_value(ctx, argv[keep_old ? 0 : 1]);
}

/* mida_point(step, value): a metric point's identity within its series
 * and time (schema.h): the step (empty when NULL), ':', and the value's
 * IEEE 754 bits as 16 hex digits, with NULL and every NaN as the canonical
 * NaN and -0 as 0, so that equal values (as SQL compares them) give equal
 * points. The PostgreSQL store computes the same text in SQL. */
static void sql_metric_point(sqlite3_context *ctx, int argc,
                             sqlite3_value **argv) {
  (void)argc;
  char text[64];
  int n = 0;
  if (sqlite3_value_type(argv[0]) != SQLITE_NULL)
    n = snprintf(text, sizeof text, "%lld",
                 (long long)sqlite3_value_int64(argv[0]));
  uint64_t bits = UINT64_C(0x7ff8000000000000);
  if (sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    double v = sqlite3_value_double(argv[1]);
    if (v == v) {
      v += 0.0; /* -0 + 0 is +0 */
      memcpy(&bits, &v, sizeof bits);
    }
  }
  n += snprintf(text + n, sizeof text - (size_t)n, ":%016llx",
                (unsigned long long)bits);
  sqlite3_result_text(ctx, text, n, SQLITE_TRANSIENT);
}

static void free_merged(void *p) {
  mida__free(p);
}

/* mida_merge(old, new): the two JSON objects merged key by key, new's
 * values winning; NULL stands for no object. If one side is not a JSON
 * object the other is kept, so that one bad value never blocks a batch. */
static void sql_json_merge(sqlite3_context *ctx, int argc,
                           sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[1]) == SQLITE_NULL) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_value(ctx, argv[1]);
    return;
  }
  const char *a = (const char *)sqlite3_value_text(argv[0]);
  size_t alen = (size_t)sqlite3_value_bytes(argv[0]);
  const char *b = (const char *)sqlite3_value_text(argv[1]);
  size_t blen = (size_t)sqlite3_value_bytes(argv[1]);
  if (a == NULL || b == NULL) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  /* Applying the same record again is the common repeat: nothing to do. */
  if (alen == blen && memcmp(a, b, alen) == 0) {
    sqlite3_result_value(ctx, argv[0]);
    return;
  }
  mida__buf out;
  mida__buf_init(&out, (size_t)1 << 30);
  int rc = mida__json_merge(a, alen, b, blen, &out);
  if (rc == MIDA_ENOMEM || rc == MIDA_ETOOBIG) {
    mida__buf_free(&out);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (rc != MIDA_OK) {
    mida__buf_free(&out);
    int b_ok = mida__json_check(b, blen, true, NULL) == MIDA_OK;
    sqlite3_result_value(ctx, argv[b_ok ? 1 : 0]);
    return;
  }
  sqlite3_result_text(ctx, out.ptr, (int)out.len, free_merged);
}

/* The value at a dotted path of a JSON document column, for the API's
 * predicates (used.lr > 0.01); the PostgreSQL store defines the same two
 * functions in its mida schema (postgres.c), so one query serves both.
 * mida_num(doc, path): the value when it is a JSON number, else NULL.
 * mida_text(doc, path): a string's characters (escapes left as written),
 * a number's or a boolean's JSON text, else NULL. */
static int json_at(sqlite3_value **argv, const char **v, size_t *n) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
      sqlite3_value_type(argv[1]) == SQLITE_NULL)
    return 0;
  const char *doc = (const char *)sqlite3_value_text(argv[0]);
  const char *path = (const char *)sqlite3_value_text(argv[1]);
  if (doc == NULL || path == NULL)
    return 0;
  return mida__json_get(doc, (size_t)sqlite3_value_bytes(argv[0]), path, v,
                        n) == MIDA_OK;
}

static void sql_json_num(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *v;
  size_t n;
  char num[64];
  if (!json_at(argv, &v, &n) || n >= sizeof num)
    return; /* NULL */
  memcpy(num, v, n);
  num[n] = '\0';
  if (!mida__json_is_number(num))
    return;
  sqlite3_result_double(ctx, strtod(num, NULL));
}

static void sql_json_text(sqlite3_context *ctx, int argc,
                          sqlite3_value **argv) {
  (void)argc;
  const char *v;
  size_t n;
  if (!json_at(argv, &v, &n) || n == 0 || v[0] == '{' || v[0] == '[' ||
      v[0] == 'n')
    return; /* NULL */
  if (v[0] == '"')
    sqlite3_result_text(ctx, v + 1, (int)n - 2, SQLITE_TRANSIENT);
  else
    sqlite3_result_text(ctx, v, (int)n, SQLITE_TRANSIENT);
}

/* json_typeof(doc) and jsonb_typeof(doc), PostgreSQL's functions of those
 * names, so that one query guards both stores' JSON columns (the
 * PostgreSQL store's used is jsonb, its telemetry json): the type of the
 * JSON value doc, "object", "array", "string", "number", "boolean" or
 * "null"; NULL for NULL and for text that is not JSON, which SQLite's
 * json_each() refuses with an error that ends the whole statement. */
static void sql_json_typeof(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv) {
  (void)argc;
  const char *doc = (const char *)sqlite3_value_text(argv[0]);
  size_t len = (size_t)sqlite3_value_bytes(argv[0]);
  if (doc == NULL || mida__json_check(doc, len, false, NULL) != MIDA_OK)
    return; /* NULL */
  const char *type = "number";
  switch (doc[strspn(doc, " \t\r\n")]) {
  case '{':
    type = "object";
    break;
  case '[':
    type = "array";
    break;
  case '"':
    type = "string";
    break;
  case 'n':
    type = "null";
    break;
  case 't':
  case 'f':
    type = "boolean";
    break;
  }
  sqlite3_result_text(ctx, type, -1, SQLITE_STATIC);
}

/* Every function registered: its SQL name, its number of arguments, and
 * the C function that computes it. */
static const struct sql_function {
  const char *name; /* the name SQL calls it by */
  int nargs;        /* its number of arguments */
  void (*fn)(sqlite3_context *, int, sqlite3_value **); /* computes it */
} sql_functions[] = {
    {"mida_merge", 2, sql_json_merge},
    {"mida_status_merge", 2, sql_status_merge},
    {"mida_point", 2, sql_metric_point},
    {"mida_num", 2, sql_json_num},
    {"mida_text", 2, sql_json_text},
    {"json_typeof", 1, sql_json_typeof},
    {"jsonb_typeof", 1, sql_json_typeof},
};

int mida__sqlite_register_functions(sqlite3 *db) {
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = SQLITE_OK;
  size_t n = sizeof sql_functions / sizeof sql_functions[0];
  for (size_t i = 0; i < n && rc == SQLITE_OK; i++)
    rc = sqlite3_create_function(db, sql_functions[i].name,
                                 sql_functions[i].nargs, flags, NULL,
                                 sql_functions[i].fn, NULL, NULL);
  return rc;
}

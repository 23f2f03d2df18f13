/*
 * sqlite_query.c -- the read path of the SQLite store: `mida query`, the
 * dashboard and the API run their SQL here (sqlite_query.h), under the
 * query guard (guard.h).
 *
 * A query is one read-only statement. Its preparation runs under an
 * authorizer that refuses writes, ATTACH, transactions, settings and the
 * functions the guard refuses, and lets through the pragmas that only
 * describe the store; sqlite3_stmt_readonly() is the last word on writes.
 * While it steps, a progress handler ends it at its deadline, when it is
 * cancelled (mida__sqlite_cancel, from another thread) or when the
 * caller's stop function says so, and its temporary files are held to
 * their budget (sqlite_temp.h). Each row goes to the caller's row
 * function as text with each value's length (a TEXT may hold NUL bytes),
 * a REAL as mida__dtoa() writes it, a BLOB in hex after "\x" as
 * PostgreSQL writes a bytea (its bytes as they are were no text: x'ff'
 * came out as an invalid UTF-8 byte). Queries read the
 * store's snapshot in WAL mode: they never wait for the writers of
 * sqlite.c's batches, nor make them wait. A snapshot read (sink.h,
 * mida__sink_snapshot_begin) is a BEGIN ... COMMIT around the queries on
 * the reader's connection, which the authorizer keeps the queries
 * themselves from ending: their read transaction, and so what they see,
 * is the first one's.
 */
#include "sink/sqlite_query.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/number.h"
#include "sink/sqlite_busy.h"
#include "sink/sqlite_int.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copies up to 40 bytes of sql into buf (one line) for messages. */
static const char *snippet(const char *sql, char *buf, size_t buflen) {
  while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')
    sql++;
  size_t max = buflen - 4 < 40 ? buflen - 4 : 40;
  size_t n = 0;
  for (; sql[n] != '\0' && n < max; n++)
    buf[n] =
        (sql[n] == '\n' || sql[n] == '\r' || sql[n] == '\t') ? ' ' : sql[n];
  if (sql[n] != '\0') {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

typedef struct auth_state {
  int denied;        /* set when the statement asked for something not
                        allowed */
  const char *why;   /* a refused function's reason (guard.h), or NULL */
  char function[64]; /* that function's name */
} auth_state;

/* Pragmas a query may run: they only describe the store. */
static int pragma_allowed(const char *name, const char *arg) {
  static const char *const any_arg[] = {
      "table_info",       "table_xinfo",     "index_list",
      "index_info",       "index_xinfo",     "table_list",
      "foreign_key_list", "integrity_check", "quick_check",
  };
  static const char *const no_arg[] = {
      "database_list",  "collation_list",  "function_list", "module_list",
      "pragma_list",    "compile_options", "user_version",  "schema_version",
      "application_id", "page_count",      "page_size",     "freelist_count",
      "data_version",   "encoding",
  };
  if (name == NULL)
    return 0;
  for (int i = 0; i < COUNT_OF(any_arg); i++)
    if (sqlite3_stricmp(name, any_arg[i]) == 0)
      return 1;
  for (int i = 0; i < COUNT_OF(no_arg); i++)
    if (arg == NULL && sqlite3_stricmp(name, no_arg[i]) == 0)
      return 1;
  return 0;
}

/* The authorizer of a query's preparation. sqlite3_stmt_readonly() is the
 * guard against writes; this refuses, besides, what a read-only statement
 * may still do to the connection (ATTACH, transactions, settings), the
 * functions that the query guard refuses (guard.h: fts3_tokenizer hands
 * out pointers into the library, load_extension loads code), and names
 * writes early. SQLite itself reports reads of the schema table as
 * SQLITE_UPDATE of sqlite_master while it loads the schema: let those by. */
static int query_authorizer(void *ctx, int action, const char *a1,
                            const char *a2, const char *db,
                            const char *trigger) {
  (void)db;
  (void)trigger;
  auth_state *st = ctx;
  switch (action) {
  case SQLITE_FUNCTION:
    /* a2 is the function's name. */
    if (a2 != NULL && st->why == NULL) {
      st->why = mida__guard_denied_function(a2, strlen(a2));
      if (st->why != NULL) {
        snprintf(st->function, sizeof st->function, "%s", a2);
        break;
      }
    }
    return SQLITE_OK;
  case SQLITE_SELECT:
  case SQLITE_READ:
  case SQLITE_RECURSIVE:
    return SQLITE_OK;
  case SQLITE_UPDATE:
    if (a1 != NULL && (strcmp(a1, "sqlite_master") == 0 ||
                       strcmp(a1, "sqlite_temp_master") == 0))
      return SQLITE_OK;
    break;
  case SQLITE_PRAGMA:
    if (pragma_allowed(a1, a2))
      return SQLITE_OK;
    break;
  default:
    break;
  }
  st->denied = 1;
  return SQLITE_DENY;
}

static int is_blank(const char *p) {
  for (; *p != '\0'; p++)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ';')
      return 0;
  return 1;
}

/* Where the slash-star comment that sql ends in and never closes starts,
 * when nothing but white space, ';' and closed comments come before it
 * (a slash-star then " x", or a slash-star alone); NULL otherwise. SQLite
 * reads such a comment to the end of the text and finds no statement
 * ("empty query"), or, for a slash-star alone, a '/' ('near "/": syntax
 * error'): neither says that a comment was left open. */
static const char *unclosed_comment(const char *sql) {
  const char *open = NULL;
  return mida__sql_skip_blank(sql, &open) == NULL ? open : NULL;
}

/* The progress handler of a query: ends it at its deadline, when it is
 * cancelled (mida__sqlite_cancel), or when the caller's stop function says so
 * (asked every MIDA_GUARD_STOP_MS, not at every call). */
static int query_progress(void *ctx) {
  sqlite_sink *s = ctx;
  if (s->cancelled)
    return 1;
  const mida__query_limits *lim = &s->base.limits;
  if (s->query_deadline_ms <= 0 && lim->stop == NULL)
    return 0;
  int64_t now = mida__monotonic_ms();
  if (s->query_deadline_ms > 0 && now >= s->query_deadline_ms) {
    s->query_timed_out = 1;
    return 1;
  }
  if (lim->stop != NULL && now >= s->query_stop_asked_ms + MIDA_GUARD_STOP_MS) {
    s->query_stop_asked_ms = now;
    if (lim->stop(lim->stop_ctx) != 0) {
      s->cancelled = 1;
      return 1;
    }
  }
  return 0;
}

/* The bound of mida__sink_bound_reader_memory (sink.h), in bytes; 0 none. */
static int64_t reader_memory_bound;

int64_t mida__sink_bound_reader_memory(void) {
  int64_t bound = mida__guard_reader_mem_bytes();
  /* The limit needs SQLite's count of its memory, which mida's own
   * processes turn off for the writers' speed (mida__sink_own_process): on
   * again here, where it can still be, before SQLite's first use; else no
   * bound is claimed. */
  if (bound > 0 && sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1) != SQLITE_OK)
    bound = 0;
  reader_memory_bound = bound;
  sqlite3_hard_heap_limit64(reader_memory_bound);
  return reader_memory_bound;
}

/* The message of a failed step, said for the user when the guard ended
 * it. */
static int step_error(sqlite_sink *s, int src) {
  if ((src & 0xff) == SQLITE_INTERRUPT && s->cancelled)
    return mida__sink_fail(&s->base, MIDA_ECLOSED, "the query was cancelled");
  if ((src & 0xff) == SQLITE_INTERRUPT && s->query_timed_out)
    return mida__sink_fail(&s->base, MIDA_ETIMEDOUT,
                           "the query ran past its time limit of %lld ms "
                           "(MIDA_QUERY_TIMEOUT_MS)",
                           (long long)s->base.limits.timeout_ms);
  if ((src & 0xff) == SQLITE_FULL && s->temp.exceeded)
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "the query needs more temporary space than its "
                           "bound of %lld MiB (MIDA_QUERY_TEMP_MB)",
                           (long long)(s->temp.limit >> 20));
  if ((src & 0xff) == SQLITE_NOMEM && reader_memory_bound > 0)
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "the query needs more memory than its bound of "
                           "%lld MiB (MIDA_QUERY_MEM_MB)",
                           (long long)(reader_memory_bound >> 20));
  return mida__sink_fail(&s->base, MIDA_ESTORE, "%s", sqlite3_errmsg(s->db));
}

static int run_query(sqlite_sink *s, const char *sql, const char *const *params,
                     int nparams, mida__cells_fn row, void *ctx);

/* Runs a query within the guard's bounds (guard.h): a deadline kept by the
 * progress handler, the budget of temporary space, cancellation. */
int mida__sqlite_query(mida__sink *base, const char *sql,
                       const char *const *params, int nparams,
                       mida__cells_fn row, void *ctx) {
  sqlite_sink *s = (sqlite_sink *)base;
  /* A snapshot's transaction that SQLite ended on its own (an I/O error
   * or a lack of memory may roll one back): a query now would read
   * another state than the snapshot's first queries. */
  if (base->snapshot && sqlite3_get_autocommit(s->db))
    return mida__sink_fail(base, MIDA_ESTORE,
                           "the read of one snapshot of store '%s' ended "
                           "before its last query",
                           s->path);
  s->cancelled = 0;
  s->query_timed_out = 0;
  s->query_stop_asked_ms = mida__monotonic_ms();
  s->query_deadline_ms = base->limits.timeout_ms > 0
                             ? mida__monotonic_ms() + base->limits.timeout_ms
                             : 0;
  /* Temporary data in files again after a batch (mida__sqlite_set_temp_store);
   * inside a group's transaction, where it cannot change, a query on the writer
   * keeps the batches' MEMORY. */
  if (!s->group_open && mida__sqlite_set_temp_store(s, 0) != MIDA_OK)
    return MIDA_ESTORE;
  /* Every 1000 virtual machine instructions: a few microseconds. */
  sqlite3_progress_handler(s->db, 1000, query_progress, s);
  mida__sqlite_temp_begin(&s->temp, base->limits.temp_bytes);
  int rc = run_query(s, sql, params, nparams, row, ctx);
  mida__sqlite_temp_end(&s->temp);
  sqlite3_progress_handler(s->db, 0, NULL, NULL);
  return rc;
}

int mida__sqlite_snapshot(mida__sink *base, int on) {
  sqlite_sink *s = (sqlite_sink *)base;
  if (!on) {
    if (!sqlite3_get_autocommit(s->db))
      (void)sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    return MIDA_OK;
  }
  if (!(s->flags & MIDA_SINK_READONLY) || !sqlite3_get_autocommit(s->db))
    return mida__sink_fail(base, MIDA_EINVAL,
                           "a snapshot read is for a reader's connection "
                           "with no transaction open");
  /* Deferred: the read transaction, and with it the snapshot, starts
   * with the first query, which the guard bounds. */
  if (sqlite3_exec(s->db, "BEGIN DEFERRED", NULL, NULL, NULL) != SQLITE_OK)
    return mida__sink_fail(base, MIDA_ESTORE, "%s", sqlite3_errmsg(s->db));
  return MIDA_OK;
}

void mida__sqlite_cancel(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  s->cancelled = 1;
  sqlite3_interrupt(s->db);
}

/* Announces the columns of st, a statement that returned no row, to row
 * (values NULL: sink.h). */
static int announce_columns(sqlite_sink *s, sqlite3_stmt *st,
                            mida__cells_fn row, void *ctx) {
  int ncols = sqlite3_column_count(st);
  const char **names = mida__calloc(ncols > 0 ? (size_t)ncols : 1,
                                    sizeof *names);
  if (names == NULL)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  int rc = MIDA_OK;
  for (int c = 0; c < ncols && rc == MIDA_OK; c++)
    if ((names[c] = sqlite3_column_name(st, c)) == NULL)
      rc = mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  if (rc == MIDA_OK)
    (void)row(ctx, ncols, names, NULL, NULL); /* the last call: moot */
  mida__free(names);
  return rc;
}

/* Appends blob[0..n) to b as PostgreSQL writes a bytea: "\x", two
 * lowercase hex digits a byte, then a NUL. */
static int add_blob_hex(mida__buf *b, const unsigned char *blob, size_t n) {
  static const char digits[] = "0123456789abcdef";
  char chunk[512];
  size_t used = 0;
  int rc = mida__buf_add(b, "\\x", 2);
  for (size_t i = 0; i < n && rc == MIDA_OK; i++) {
    chunk[used++] = digits[blob[i] >> 4];
    chunk[used++] = digits[blob[i] & 0xF];
    if (used == sizeof chunk || i + 1 == n) {
      rc = mida__buf_add(b, chunk, used);
      used = 0;
    }
  }
  return rc == MIDA_OK ? mida__buf_add(b, "", 1) : rc;
}

/* Column c of st's row as text: values[c] and lens[c] (sink.h,
 * mida__cells_fn). A REAL is written into real; a BLOB's hex is appended
 * to hex, its offset there put into *hex_at (the caller points values[c]
 * at it once the row's blobs are all in: hex may move as it grows), else
 * *hex_at is SIZE_MAX. */
static int cell_text(sqlite3_stmt *st, int c, char *real, mida__buf *hex,
                     size_t *hex_at, const char **value, size_t *len) {
  int type = sqlite3_column_type(st, c);
  *hex_at = SIZE_MAX;
  if (type == SQLITE_FLOAT) {
    *len = mida__dtoa(sqlite3_column_double(st, c), real);
    *value = real;
    return MIDA_OK;
  }
  if (type == SQLITE_BLOB) {
    const unsigned char *blob = sqlite3_column_blob(st, c);
    size_t n = (size_t)sqlite3_column_bytes(st, c);
    *hex_at = hex->len;
    *len = 2 + 2 * n;
    *value = "";
    return add_blob_hex(hex, blob, blob != NULL ? n : 0);
  }
  *value = (const char *)sqlite3_column_text(st, c);
  *len = (size_t)sqlite3_column_bytes(st, c);
  return *value != NULL || type == SQLITE_NULL ? MIDA_OK : MIDA_ENOMEM;
}

/* Binds a parameter's text as its kind (sink.h, mida__sink_query_typed):
 * 'i' an integer, 'r' a real, else a text; NULL is NULL. A text that does
 * not read whole as its kind is bound as the text it is. */
static void bind_param(sqlite3_stmt *st, int idx, const char *text,
                       char kind) {
  if (text == NULL)
    return; /* unbound: NULL */
  char *end = NULL;
  errno = 0;
  if (kind == 'i') {
    long long v = strtoll(text, &end, 10);
    if (end != text && *end == '\0' && errno == 0) {
      sqlite3_bind_int64(st, idx, v);
      return;
    }
  } else if (kind == 'r') {
    double v = strtod(text, &end);
    if (end != text && *end == '\0') {
      sqlite3_bind_double(st, idx, v);
      return;
    }
  }
  sqlite3_bind_text(st, idx, text, -1, SQLITE_STATIC);
}

static int run_query(sqlite_sink *s, const char *sql, const char *const *params,
                     int nparams, mida__cells_fn row, void *ctx) {
  mida__sink *base = &s->base;
  char what[48];
  sqlite3_stmt *st = NULL;
  const char **names = NULL;
  const char **values = NULL;
  size_t *lens = NULL;                /* each value's bytes */
  size_t *hex_at = NULL;              /* a BLOB's place in hex, per column */
  mida__buf hex;                      /* the row's BLOBs in hex */
  mida__buf_init(&hex, 2 * (size_t)MIDA_SQLITE_READER_VALUE_MAX + 64);
  char(*reals)[MIDA_DTOA_MAX] = NULL; /* REAL cells as text, per column */
  const char *tail = NULL;
  auth_state auth = {0};
  int rc = MIDA_OK;

  const char *open_comment = unclosed_comment(sql);
  if (open_comment != NULL) {
    /* PostgreSQL's words for it, so that both stores say the same. */
    rc = mida__sink_fail(base, MIDA_EINVAL,
                         "unterminated /* comment at or near \"%s\"",
                         snippet(open_comment, what, sizeof what));
    goto out;
  }
  sqlite3_set_authorizer(s->db, query_authorizer, &auth);
  int src = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
  sqlite3_set_authorizer(s->db, NULL, NULL);
  if (auth.why != NULL) {
    rc = mida__sink_fail(base, MIDA_EREADONLY, "%s: %s() %s",
                         mida_strerror(MIDA_EREADONLY), auth.function,
                         auth.why);
    goto out;
  }
  if (auth.denied || (st != NULL && !sqlite3_stmt_readonly(st))) {
    rc = mida__sink_fail(base, MIDA_EREADONLY, "%s: it would write (%s)",
                         mida_strerror(MIDA_EREADONLY),
                         snippet(sql, what, sizeof what));
    goto out;
  }
  if (src != SQLITE_OK) {
    rc = mida__sink_fail(base, MIDA_ESTORE, "%s", sqlite3_errmsg(s->db));
    goto out;
  }
  if (st == NULL) {
    rc = mida__sink_fail(base, MIDA_EINVAL, "empty query");
    goto out;
  }
  /* A comment left open after the statement is read to the end of the
   * text, as SQLite reads one after a statement without ';' ("SELECT 1
   * slash-star x"): SQLite's parser would take a slash-star alone for a
   * '/' ('near "/": syntax error'), a second statement. */
  if (tail != NULL && !is_blank(tail) && unclosed_comment(tail) == NULL) {
    /* What follows may be only a comment: then it is no statement. */
    sqlite3_stmt *next = NULL;
    auth_state tail_auth = {0};
    sqlite3_set_authorizer(s->db, query_authorizer, &tail_auth);
    src = sqlite3_prepare_v2(s->db, tail, -1, &next, NULL);
    sqlite3_set_authorizer(s->db, NULL, NULL);
    sqlite3_finalize(next);
    if (src != SQLITE_OK || next != NULL) {
      rc = mida__sink_fail(base, MIDA_EINVAL,
                           "queries run one statement at a time; found "
                           "more after the first (%s)",
                           snippet(tail, what, sizeof what));
      goto out;
    }
  }
  /* As many values as the statement has parameters (the largest ?N): a
   * parameter without a value would be NULL, and a value without a
   * parameter would be lost, both silently. */
  int want = sqlite3_bind_parameter_count(st);
  if (nparams != want) {
    rc = mida__sink_fail(base, MIDA_EINVAL,
                         "the query takes %d parameters, %d given", want,
                         nparams);
    goto out;
  }
  for (int i = 0; i < nparams; i++)
    bind_param(st, i + 1, params[i],
               base->param_kinds != NULL ? base->param_kinds[i] : 't');

  /* Column names are fetched after each step: a step may re-prepare the
   * statement (the schema changed), which frees the old names. They are
   * announced once, with the first row or, for a result without rows,
   * once the statement is done (values NULL: sink.h). */
  int ncols = 0;
  for (;;) {
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
      if (names == NULL && row != NULL)
        rc = announce_columns(s, st, row, ctx);
      break;
    }
    if (src != SQLITE_ROW) {
      rc = step_error(s, src);
      goto out;
    }
    int first = names == NULL;
    if (first) {
      ncols = sqlite3_column_count(st);
      size_t slots = ncols > 0 ? (size_t)ncols : 1;
      names = mida__calloc(slots, sizeof *names);
      values = mida__calloc(slots, sizeof *values);
      lens = mida__calloc(slots, sizeof *lens);
      hex_at = mida__calloc(slots, sizeof *hex_at);
      reals = mida__calloc(slots, sizeof *reals);
      if (names == NULL || values == NULL || lens == NULL || hex_at == NULL ||
          reals == NULL) {
        rc = mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
        goto out;
      }
    }
    mida__buf_reset(&hex);
    for (int c = 0; c < ncols; c++) {
      names[c] = sqlite3_column_name(st, c);
      /* SQLite's own text of a REAL has 15 digits; ours reads back the
       * same double. */
      int crc = cell_text(st, c, reals[c], &hex, &hex_at[c], &values[c],
                          &lens[c]);
      if (names[c] == NULL || crc != MIDA_OK) {
        rc = mida__sink_fail(base, crc == MIDA_ETOOBIG ? MIDA_ETOOBIG
                                                       : MIDA_ENOMEM,
                             crc == MIDA_ETOOBIG ? "a BLOB is too large"
                                                 : "out of memory");
        goto out;
      }
    }
    for (int c = 0; c < ncols; c++)
      if (hex_at[c] != SIZE_MAX)
        values[c] = hex.ptr + hex_at[c];
    if (first && row != NULL && row(ctx, ncols, names, NULL, NULL) != 0)
      break;
    if (row != NULL && row(ctx, ncols, names, values, lens) != 0)
      break;
  }
out:
  sqlite3_finalize(st);
  mida__free(names);
  mida__free(values);
  mida__free(lens);
  mida__free(hex_at);
  mida__free(reals);
  mida__buf_free(&hex);
  return rc;
}

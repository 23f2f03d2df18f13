/*
 * mlflow_pg.c -- the MLflow observer's reader of PostgreSQL tracking
 * stores (mlflow_reader.h, libpq); mlflow.c does the mapping. Built only
 * when libpq is found (MIDA_HAVE_LIBPQ), like the PostgreSQL sink.
 *
 * Never in MLflow's way: the connection's default is read-only
 * (default_transaction_read_only), and a statement runs at most
 * STATEMENT_MS. A pass is one REPEATABLE READ READ ONLY transaction: its
 * reads see one snapshot, and under PostgreSQL's MVCC a reader blocks no
 * writer, so MLflow's inserts and updates go on while it reads (only DDL
 * waits for its end).
 *
 * Never part of a deadlock: a pass takes ACCESS SHARE on every table it
 * will read in its first statement, "LOCK TABLE ... NOWAIT", before its
 * snapshot, and reads no other table. A lock refused (55P03: MLflow's
 * migration holds the table) ends the pass at once, holding nothing
 * (MIDA_EBUSY: the next pass tries again). So the reader never waits for
 * a lock while it holds one, and cannot close a cycle with a migration
 * that holds one table and waits for another: PostgreSQL would cancel one
 * of the two, perhaps MLflow's. Which tables exist is asked just before
 * the pass's transaction (to_regclass() locks nothing); a table made
 * since is left for the next pass (columns() says MIDA_EBUSY), one gone
 * since makes the LOCK fail (42P01, MIDA_EBUSY too). Locks taken before
 * the snapshot also mean a migration that rewrote a table committed
 * before the snapshot, never between it and the read (a rewritten table
 * looks empty to an older snapshot). lock_timeout (LOCK_MS) stays as a
 * bound on what LOCK TABLE does not cover (an index that a REINDEX
 * holds).
 *
 * Incremental reading without rowids. MLflow's metrics and inputs tables
 * have no serial key, so the reader uses transaction ids. Each pass runs
 * in one snapshot (pg_current_snapshot(), PostgreSQL >= 13;
 * txid_current_snapshot() before), "xmin:xmax:xip,...", and the next pass
 * reads the rows whose inserting transaction id (the system column xmin)
 * is at or after that snapshot's xmin: every transaction that committed
 * after the snapshot was taken has an id >= its xmin (it was running, so
 * in xip, or started later, so >= xmax). This also covers rows written by
 * subtransactions (savepoints), which a pg_visible_in_snapshot() test
 * gets wrong (the snapshot lists top-level ids only). xmin is a 32-bit
 * id: "age(xmin) <= age(previous xmin)" compares both with one reference
 * inside the pass's transaction, modulo 2^32, so no epoch arithmetic is
 * needed (a position more than 2^31 ids old means a full read; frozen
 * rows have the greatest age).
 *
 * The horizon overlaps the previous pass: transactions between its xmin
 * and xmax that had committed are seen again. So a position is
 * "<snapshot>/<id>,<id>,..." where the ids (at most MAX_READ_XIDS, those
 * at or after the snapshot's xmin) are transactions whose rows were read;
 * the next scan drops their rows. All rows of a transaction become visible
 * at once, so a listed id was read whole. Past MAX_READ_XIDS the list is
 * left out and some rows are read twice, which changes nothing in the
 * store (a metric point's key is (task, key, step, ts); data links
 * merge). A position is saved (cursors "metrics.snapshot",
 * "inputs.snapshot") only once a table has been read to its end in a pass;
 * a killed observer reads that pass again.
 *
 * Rows are read through a server-side cursor (DECLARE ... FETCH n), in
 * batches, so that a first pass over millions of points holds one batch
 * in memory. A snapshot whose xmax is below the saved one means the
 * database was replaced (restored into another cluster): everything is
 * read again.
 *
 * Change detection: poll() compares the current snapshot with the last
 * good pass's; when no transaction started or ended anywhere in the
 * cluster, nothing is read. Between passes the reader sleeps poll_ms, or
 * PACE times the last pass if longer (at most PACE_MAX_MS): with no key on
 * transaction ids, a pass scans the metrics table whole (about 60 ms per
 * million rows), and pacing bounds the observer's share of the server.
 * Columns come from pg_attribute, by name, in the connection's search
 * path (the one MLflow uses with the same URI).
 */
#include "observe/mlflow_reader.h"

#include "mida_config.h"

#if MIDA_HAVE_LIBPQ

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"
#include "core/url.h"
#include "core/url_scrub.h"
#include "sink/pg_guard.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* lock_timeout of every statement (ms): a bound on a wait for a lock that
 * the pass's LOCK TABLE does not take (an index's). A pass refused a
 * table's lock also sleeps this long, holding nothing, before it says
 * busy, so that --once's tries span a few seconds. */
#define LOCK_MS 200
#define LOCK_MS_TEXT "200"
#define STATEMENT_MS "60000" /* statement_timeout */
#define SNAP_MAX 65536       /* longest snapshot text kept (bytes) */
#define PACE 4               /* wait at least PACE times the last pass */
#define PACE_MAX_MS 10000ul  /* but at most this long (ms) */
#define MAX_TABLES 64        /* tables one pass may name */

/* Type OIDs of pg_type (fixed since PostgreSQL 7). */
#define OID_BOOL 16
#define OID_INT8 20
#define OID_INT2 21
#define OID_INT4 23
#define OID_OID 26
#define OID_FLOAT4 700
#define OID_FLOAT8 701
#define OID_NUMERIC 1700

typedef struct pg_reader {
  mida__mlf_reader base;
  char *uri;               /* what libpq gets (owned) */
  PGconn *conn;            /* or NULL */
  int in_pass;             /* a transaction is open */
  int named;               /* where is the database's identity */
  char snap[SNAP_MAX];     /* the current pass's snapshot */
  char done_snap[SNAP_MAX]; /* the last good pass's snapshot, or "" */
  char poll_snap[SNAP_MAX]; /* the snapshot poll() read */
  const char *snap_fn;     /* the snapshot function of this server */
  struct timespec began;   /* when the current pass began */
  long pass_ms;            /* how long the last pass took */
  const char *const *tables; /* the current pass's (begin's), or NULL */
  uint64_t locked;         /* bit i: tables[i] is there and locked */
} pg_reader;

#define MAX_READ_XIDS 1024 /* ids kept in a position, at most */

struct mida__mlf_scan {
  bool done;                     /* FETCH returned a short batch */
  bool open;                     /* the server-side cursor is declared */
  mida__buf pos;                 /* the position once done */
  uint32_t now_xmin;             /* this pass's snapshot's xmin */
  uint32_t old[MAX_READ_XIDS];   /* ids the position says were read */
  size_t nold;
  uint32_t read[MAX_READ_XIDS];  /* ids read by this scan, >= now_xmin */
  size_t nread;
  bool overflow;                 /* more than MAX_READ_XIDS: none kept */
  uint64_t skipped;              /* overlap rows dropped */
};

/* Turns a failed result (cleared here) into an error code and message. A
 * lock or statement timeout, a serialization failure, a table or column
 * gone since the pass read the schema, or a lost connection is
 * MIDA_EBUSY: the pass is left for later. */
static int pg_fail(pg_reader *r, PGresult *res, const char *what) {
  char m[512], code[8] = "";
  const char *field =
      res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (field != NULL)
    snprintf(code, sizeof code, "%s", field);
  const char *state = code[0] != '\0' ? code : NULL;
  const char *msg = res != NULL ? PQresultErrorMessage(res) : NULL;
  if (msg == NULL || msg[0] == '\0')
    msg = PQerrorMessage(r->conn);
  mida__one_line(msg, m, sizeof m);
  PQclear(res); /* field and msg point into res: copied above */
  if (PQstatus(r->conn) != CONNECTION_OK)
    return mida__set_error(MIDA_EBUSY, "%s: connection lost (%s)",
                           r->base.where, m);
  if (state != NULL &&
      (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0 ||
       strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
    return mida__set_error(MIDA_EBUSY, "%s: database busy (%s)",
                           r->base.where, m);
  /* A table or column that was there when the pass looked at the schema
   * and is gone now: MLflow is migrating it (alembic renames and rebuilds
   * tables). The next pass looks again. */
  if (state != NULL &&
      (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0))
    return mida__set_error(MIDA_EBUSY, "%s: schema changing (%s)",
                           r->base.where, m);
  return mida__set_error(MIDA_EIO, "%s: %s: %s", r->base.where, what, m);
}

static int exec_cmd(pg_reader *r, const char *sql) {
  PGresult *res = PQexec(r->conn, sql);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    return pg_fail(r, res, sql);
  PQclear(res);
  return MIDA_OK;
}

static void quiet_notice(void *arg, const char *message) {
  (void)arg;
  (void)message;
}

/* The identity of the database: postgresql://host:port/dbname, without
 * user, password or options, for ids and messages. */
static int set_where(pg_reader *r) {
  if (r->named)
    return MIDA_OK; /* kept: ids and the cursor source derive from it */
  const char *host = PQhost(r->conn), *port = PQport(r->conn);
  const char *db = PQdb(r->conn);
  mida__buf b;
  mida__buf_init(&b, 4096);
  int rc = mida__buf_printf(
      &b, "postgresql://%s%s%s/%s",
      host != NULL && host[0] != '/' ? host : "localhost",
      port != NULL && port[0] ? ":" : "", port != NULL ? port : "",
      db != NULL ? db : "");
  char *w = rc == MIDA_OK ? mida__strdup(b.ptr) : NULL;
  mida__buf_free(&b);
  if (w == NULL)
    return MIDA_ENOMEM;
  mida__free(r->base.where);
  r->base.where = w;
  r->named = 1;
  return MIDA_OK;
}

static int pg_connect(pg_reader *r) {
  if (r->conn != NULL)
    PQfinish(r->conn);
  r->in_pass = 0;
  /* Later keywords override earlier ones, so the URI's own settings win
   * over these defaults (except the options, which are the reader's). */
  const char *keys[] = {"connect_timeout", "application_name", "dbname",
                        "options", NULL};
  const char *vals[] = {"10", "mida observe mlflow", r->uri,
                        "-c default_transaction_read_only=on"
                        " -c lock_timeout=" LOCK_MS_TEXT
                        " -c statement_timeout=" STATEMENT_MS
                        " -c extra_float_digits=3",
                        NULL};
  r->conn = PQconnectdbParams(keys, vals, 1);
  if (r->conn == NULL)
    return MIDA_ENOMEM;
  if (PQstatus(r->conn) != CONNECTION_OK) {
    /* libpq quotes a URI, or a token of one, that it cannot read: what it
     * repeats of the URI's secrets is masked (url_scrub.h). */
    char m[512], safe[512];
    mida__one_line(PQerrorMessage(r->conn), m, sizeof m);
    return mida__set_error(MIDA_EIO, "%s: cannot connect: %s", r->base.where,
                           mida__url_scrub(m, r->uri, safe, sizeof safe));
  }
  PQsetNoticeProcessor(r->conn, quiet_notice, NULL);
  r->snap_fn = PQserverVersion(r->conn) >= 130000 ? "pg_current_snapshot()"
                                                  : "txid_current_snapshot()";
  return set_where(r);
}

static int cell_type(Oid oid) {
  switch (oid) {
  case OID_BOOL:
  case OID_INT2:
  case OID_INT4:
  case OID_INT8:
  case OID_OID:
    return MIDA__MLF_INT;
  case OID_FLOAT4:
  case OID_FLOAT8:
  case OID_NUMERIC:
    return MIDA__MLF_FLOAT;
  default:
    return MIDA__MLF_TEXT;
  }
}

/* Copies up to max_rows rows of a TUPLES_OK result out (res is kept). */
static int copy_rows(PGresult *res, size_t max_rows, mida__mlf_rows *out) {
  int ncols = PQnfields(res);
  out->ncols = ncols > MIDA__MLF_MAX_COLS ? MIDA__MLF_MAX_COLS : ncols;
  int types[MIDA__MLF_MAX_COLS];
  for (int j = 0; j < out->ncols; j++)
    types[j] = cell_type(PQftype(res, j));
  int rc = MIDA_OK;
  size_t n = (size_t)PQntuples(res);
  for (size_t i = 0; rc == MIDA_OK && i < n && i < max_rows; i++) {
    mida__mlf_cell *row = mida__mlf_rows_add(out);
    if (row == NULL)
      return MIDA_ENOMEM;
    for (int j = 0; rc == MIDA_OK && j < out->ncols; j++) {
      if (PQgetisnull(res, (int)i, j))
        continue;
      const char *v = PQgetvalue(res, (int)i, j);
      size_t len = (size_t)PQgetlength(res, (int)i, j);
      if (PQftype(res, j) == OID_BOOL) {
        v = v[0] == 't' ? "1" : "0"; /* as SQLite keeps booleans */
        len = 1;
      }
      rc = mida__mlf_cell_set(&row[j], types[j], v, len);
    }
  }
  return rc;
}

static int pg_fetch(mida__mlf_reader *base, const char *sql,
                    const char *const *params, int nparams, size_t max_rows,
                    mida__mlf_rows *out) {
  pg_reader *r = (pg_reader *)base;
  memset(out, 0, sizeof *out);
  mida__buf q;
  mida__buf_init(&q, (size_t)1 << 20);
  int rc = mida__pg_dollar_params(sql, &q);
  if (rc != MIDA_OK) {
    mida__buf_free(&q);
    return rc;
  }
  PGresult *res = PQexecParams(r->conn, mida__buf_str(&q), nparams, NULL,
                               params, NULL, NULL, 0);
  mida__buf_free(&q);
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    return pg_fail(r, res, "read");
  rc = copy_rows(res, max_rows, out);
  PQclear(res);
  if (rc != MIDA_OK)
    mida__mlf_rows_free(out);
  return rc;
}

static int pg_columns(mida__mlf_reader *base, const char *table,
                      mida__mlf_colset *cs) {
  pg_reader *r = (pg_reader *)base;
  memset(cs, 0, sizeof *cs);
  int at = -1;
  for (int i = 0; r->tables != NULL && r->tables[i] != NULL; i++)
    if (strcmp(r->tables[i], table) == 0)
      at = i;
  if (at < 0) /* a table the pass did not lock: it reads none */
    return mida__set_error(MIDA_EINVAL, "%s: %s is not a table this pass "
                           "named at its start", base->where, table);
  const char *p[1] = {table};
  mida__mlf_rows rows;
  int rc = pg_fetch(base,
                    "SELECT attname::text FROM pg_attribute WHERE attrelid ="
                    " to_regclass(?1::text) AND attnum > 0 AND NOT"
                    " attisdropped ORDER BY attnum",
                    p, 1, 64, &rows);
  if (rc != MIDA_OK)
    return rc;
  for (size_t i = 0; i < rows.n; i++) {
    const char *name = rows.c[i * (size_t)rows.ncols].s;
    if (name != NULL && strlen(name) < 64)
      snprintf(cs->names[cs->n++], 64, "%s", name);
  }
  cs->present = rows.n > 0;
  mida__mlf_rows_free(&rows);
  /* Made since the pass looked (MLflow is migrating): not locked, so not
   * read; the next pass locks it. */
  if (cs->present && !(r->locked & (1ull << at)))
    return mida__set_error(MIDA_EBUSY, "%s: schema changing (%s is new)",
                           base->where, table);
  return MIDA_OK;
}

/* The current snapshot's text into buf. */
static int current_snapshot(pg_reader *r, char *buf, size_t len) {
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT %s::text", r->snap_fn);
  mida__mlf_rows rows;
  int rc = pg_fetch(&r->base, sql, NULL, 0, 1, &rows);
  if (rc != MIDA_OK)
    return rc;
  const char *s = rows.n == 1 ? rows.c[0].s : NULL;
  if (s == NULL || strlen(s) >= len)
    rc = mida__set_error(MIDA_EIO, "%s: cannot read the snapshot",
                         r->base.where);
  else
    snprintf(buf, len, "%s", s);
  mida__mlf_rows_free(&rows);
  return rc;
}

static int pg_poll(mida__mlf_reader *base, bool *changed) {
  pg_reader *r = (pg_reader *)base;
  *changed = false;
  if (r->conn == NULL || PQstatus(r->conn) != CONNECTION_OK) {
    int rc = pg_connect(r);
    if (rc == MIDA_EIO)
      rc = MIDA_EBUSY; /* the server went away: try again later */
    if (rc != MIDA_OK)
      return rc;
  }
  int rc = current_snapshot(r, r->poll_snap, sizeof r->poll_snap);
  if (rc == MIDA_OK)
    *changed = strcmp(r->poll_snap, r->done_snap) != 0;
  return rc;
}

/* Which of the pass's tables exist, as the statement that locks them:
 * "LOCK TABLE <t>, ... IN ACCESS SHARE MODE NOWAIT" into lock (left empty
 * when none does), their bits into r->locked. Run outside the pass's
 * transaction, so that it takes neither a lock on them nor the snapshot;
 * to_regclass() resolves a name as the LOCK and the reads will (the
 * search path) and gives it back quoted as needed. */
static int find_tables(pg_reader *r, mida__buf *lock) {
  r->locked = 0;
  mida__buf q;
  mida__buf_init(&q, 65536);
  int rc = mida__buf_adds(&q, "SELECT to_regclass(n)::text FROM unnest("
                              "ARRAY[");
  int n = 0;
  for (; rc == MIDA_OK && r->tables[n] != NULL; n++) {
    if (n == MAX_TABLES) {
      rc = mida__set_error(MIDA_EINVAL, "%s: a pass names more than %d "
                           "tables", r->base.where, MAX_TABLES);
      break;
    }
    char *lit = PQescapeLiteral(r->conn, r->tables[n],
                                strlen(r->tables[n]));
    if (lit == NULL) {
      rc = MIDA_ENOMEM;
      break;
    }
    rc = mida__buf_printf(&q, "%s%s", n > 0 ? ", " : "", lit);
    PQfreemem(lit);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&q, "]::text[]) WITH ORDINALITY AS u(n, i)"
                            " ORDER BY i");
  if (rc != MIDA_OK || n == 0) {
    mida__buf_free(&q);
    return rc;
  }
  PGresult *res = PQexec(r->conn, mida__buf_str(&q));
  mida__buf_free(&q);
  if (PQresultStatus(res) != PGRES_TUPLES_OK)
    return pg_fail(r, res, "find tables");
  for (int i = 0; rc == MIDA_OK && i < PQntuples(res) && i < n; i++) {
    if (PQgetisnull(res, i, 0))
      continue; /* not there (yet) */
    rc = mida__buf_printf(lock, "%s%s", r->locked ? ", " : "LOCK TABLE ",
                          PQgetvalue(res, i, 0));
    r->locked |= 1ull << i;
  }
  PQclear(res);
  if (rc == MIDA_OK && r->locked)
    rc = mida__buf_adds(lock, " IN ACCESS SHARE MODE NOWAIT");
  return rc;
}

static int pg_begin(mida__mlf_reader *base, const char *const *tables) {
  pg_reader *r = (pg_reader *)base;
  r->tables = tables;
  r->locked = 0;
  mida__buf lock;
  mida__buf_init(&lock, 65536);
  int rc = find_tables(r, &lock);
  if (rc == MIDA_OK)
    rc = exec_cmd(r, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
  if (rc != MIDA_OK) {
    mida__buf_free(&lock);
    return rc;
  }
  r->in_pass = 1;
  clock_gettime(CLOCK_MONOTONIC, &r->began);
  /* Every table at once, waiting for none (the top of this file): a
   * refusal lets go of what it took and leaves the pass for later. LOCK
   * takes no snapshot; the first statement after it does. */
  if (r->locked)
    rc = exec_cmd(r, mida__buf_str(&lock));
  mida__buf_free(&lock);
  if (rc == MIDA_EBUSY && PQstatus(r->conn) == CONNECTION_OK) {
    PQclear(PQexec(r->conn, "ROLLBACK"));
    r->in_pass = 0;
    struct timespec ts = {0, LOCK_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (rc != MIDA_OK)
    return rc;
  /* The first statement after the locks takes the transaction's snapshot:
   * the one every read of this pass sees. */
  return current_snapshot(r, r->snap, sizeof r->snap);
}

static void pg_end(mida__mlf_reader *base, bool ok) {
  pg_reader *r = (pg_reader *)base;
  r->tables = NULL;
  r->locked = 0;
  if (!r->in_pass)
    return;
  r->in_pass = 0;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  r->pass_ms = (now.tv_sec - r->began.tv_sec) * 1000L +
               (now.tv_nsec - r->began.tv_nsec) / 1000000L;
  if (PQstatus(r->conn) != CONNECTION_OK)
    return;
  PGresult *res = PQexec(r->conn, ok ? "COMMIT" : "ROLLBACK");
  bool committed = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (ok && committed)
    snprintf(r->done_snap, sizeof r->done_snap, "%s", r->snap);
}

/* The xmin and xmax of a snapshot's text "xmin:xmax:xip,..."; false if it
 * is not one. */
static bool parse_snapshot(const char *s, uint64_t *xmin, uint64_t *xmax) {
  if (s == NULL || s[0] < '0' || s[0] > '9')
    return false;
  char *end = NULL;
  errno = 0;
  unsigned long long a = strtoull(s, &end, 10);
  if (errno != 0 || *end != ':' || end[1] < '0' || end[1] > '9')
    return false;
  const char *p = end + 1;
  unsigned long long b = strtoull(p, &end, 10);
  if (errno != 0 || *end != ':' || a > b)
    return false;
  *xmin = a;
  *xmax = b;
  return true;
}

/* Whether the 32-bit id x is at or after the 32-bit id from, as
 * PostgreSQL compares ids (modulo 2^32, within 2^31). */
static bool xid_at_or_after(uint32_t x, uint32_t from) {
  return (uint32_t)(x - from) < (1u << 31);
}

static int xid_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Whether x is among the ids the position says were read (old is sorted
 * once its list is parsed). */
static bool xid_listed(const mida__mlf_scan *sc, uint32_t x) {
  return sc->nold > 0 &&
         bsearch(&x, sc->old, sc->nold, sizeof x, xid_cmp) != NULL;
}

/* Adds x to the ids read in this scan (at or after its snapshot's xmin),
 * once. */
static void xid_add(mida__mlf_scan *sc, uint32_t x) {
  if (!xid_at_or_after(x, sc->now_xmin) || sc->overflow)
    return;
  for (size_t i = sc->nread; i > 0 && i + 8 > sc->nread; i--)
    if (sc->read[i - 1] == x)
      return; /* rows of one transaction come together, mostly */
  for (size_t i = 0; i < sc->nread; i++)
    if (sc->read[i] == x)
      return;
  if (sc->nread == MAX_READ_XIDS) {
    sc->overflow = true; /* too many: the next pass reads some again */
    return;
  }
  sc->read[sc->nread++] = x;
}

static int pg_scan_begin(mida__mlf_reader *base, const char *cols,
                         const char *from, const char *alias,
                         const char *position, mida__mlf_scan **out) {
  pg_reader *r = (pg_reader *)base;
  *out = NULL;
  mida__mlf_scan *sc = mida__calloc(1, sizeof *sc);
  if (sc == NULL)
    return MIDA_ENOMEM;
  mida__buf_init(&sc->pos, (size_t)1 << 20);
  uint64_t prev_xmin, prev_xmax, now_xmin, now_xmax;
  bool since = parse_snapshot(position, &prev_xmin, &prev_xmax) &&
               parse_snapshot(r->snap, &now_xmin, &now_xmax) &&
               prev_xmin <= now_xmax && now_xmax - prev_xmin < (1ull << 31);
  if (parse_snapshot(r->snap, &now_xmin, &now_xmax))
    sc->now_xmin = (uint32_t)now_xmin;
  /* The ids read already: "<snapshot>/<id>,<id>...". */
  const char *list = since ? strchr(position, '/') : NULL;
  for (const char *p = list; p != NULL && sc->nold < MAX_READ_XIDS;) {
    char *end = NULL;
    errno = 0;
    unsigned long x = strtoul(p + 1, &end, 10);
    if (errno != 0 || end == p + 1 || x > UINT32_MAX)
      break;
    sc->old[sc->nold++] = (uint32_t)x;
    p = *end == ',' ? end : NULL;
  }
  qsort(sc->old, sc->nold, sizeof sc->old[0], xid_cmp);
  mida__buf sql;
  mida__buf_init(&sql, 16384);
  int rc = mida__buf_printf(&sql,
                            "DECLARE mida_scan NO SCROLL CURSOR FOR"
                            " SELECT %s.xmin::text, %s FROM %s",
                            alias, cols, from);
  /* The row's inserting transaction at or after the previous pass's
   * xmin: age() counts back from one reference within this transaction,
   * modulo 2^32, so the 32-bit xmin needs no epoch. */
  if (rc == MIDA_OK && since)
    rc = mida__buf_printf(&sql, " WHERE age(%s.xmin) <= age('%" PRIu32
                                "'::xid)",
                          alias, (uint32_t)(prev_xmin & 0xffffffffu));
  if (rc == MIDA_OK)
    rc = exec_cmd(r, sql.ptr);
  mida__buf_free(&sql);
  if (rc != MIDA_OK) {
    mida__buf_free(&sc->pos);
    mida__free(sc);
    return rc;
  }
  sc->open = true;
  *out = sc;
  return MIDA_OK;
}

/* Drops the rows whose transaction was read by an earlier pass (the
 * overlap), and notes the others' ids. */
static void skip_read_rows(mida__mlf_scan *sc, mida__mlf_rows *rows) {
  size_t kept = 0, w = (size_t)rows->ncols;
  for (size_t i = 0; i < rows->n; i++) {
    mida__mlf_cell *row = &rows->c[i * w];
    uint32_t x = (uint32_t)row[0].i;
    if (row[0].s != NULL && xid_listed(sc, x)) {
      for (size_t j = 0; j < w; j++)
        mida__free(row[j].s);
      sc->skipped++;
      continue;
    }
    if (row[0].s != NULL)
      xid_add(sc, x);
    if (kept != i)
      memcpy(&rows->c[kept * w], row, w * sizeof *row);
    kept++;
  }
  rows->n = kept;
}

/* The position once the table is read to its end: this pass's snapshot
 * and the ids at or after its xmin whose rows are read. */
static int make_position(pg_reader *r, mida__mlf_scan *sc) {
  int rc = mida__buf_adds(&sc->pos, r->snap);
  bool first = true;
  for (size_t i = 0; rc == MIDA_OK && !sc->overflow && i < sc->nold; i++)
    if (xid_at_or_after(sc->old[i], sc->now_xmin)) {
      rc = mida__buf_printf(&sc->pos, "%c%" PRIu32, first ? '/' : ',',
                            sc->old[i]);
      first = false;
    }
  for (size_t i = 0; rc == MIDA_OK && !sc->overflow && i < sc->nread; i++) {
    rc = mida__buf_printf(&sc->pos, "%c%" PRIu32, first ? '/' : ',',
                          sc->read[i]);
    first = false;
  }
  return rc;
}

static int pg_scan_next(mida__mlf_reader *base, mida__mlf_scan *sc,
                        size_t batch, mida__mlf_rows *out) {
  pg_reader *r = (pg_reader *)base;
  memset(out, 0, sizeof *out);
  char sql[64];
  snprintf(sql, sizeof sql, "FETCH FORWARD %zu FROM mida_scan", batch);
  /* A batch that was all overlap is not the end: fetch on. */
  while (!sc->done && out->n == 0) {
    PGresult *res = PQexec(r->conn, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
      return pg_fail(r, res, "read");
    size_t fetched = (size_t)PQntuples(res);
    int rc = copy_rows(res, batch, out);
    PQclear(res);
    if (rc != MIDA_OK) {
      mida__mlf_rows_free(out);
      return rc;
    }
    sc->done = fetched < batch;
    skip_read_rows(sc, out);
    if (sc->done) {
      rc = make_position(r, sc);
      if (rc != MIDA_OK) {
        mida__mlf_rows_free(out);
        return rc;
      }
    }
  }
  return MIDA_OK;
}

static const char *pg_scan_position(mida__mlf_reader *base,
                                    mida__mlf_scan *sc) {
  (void)base;
  return sc->done ? mida__buf_str(&sc->pos) : NULL;
}

static void pg_scan_end(mida__mlf_reader *base, mida__mlf_scan *sc) {
  pg_reader *r = (pg_reader *)base;
  if (sc == NULL)
    return;
  if (sc->open && PQstatus(r->conn) == CONNECTION_OK &&
      PQtransactionStatus(r->conn) == PQTRANS_INTRANS)
    PQclear(PQexec(r->conn, "CLOSE mida_scan"));
  mida__buf_free(&sc->pos);
  mida__free(sc);
}

/* The transaction ids went back: another cluster (a restored dump) or a
 * rebuilt one. */
static int pg_rebuilt(mida__mlf_reader *base, const char *table,
                      const char *position, bool *rebuilt) {
  pg_reader *r = (pg_reader *)base;
  (void)table;
  uint64_t prev_xmin, prev_xmax, now_xmin, now_xmax;
  if (parse_snapshot(position, &prev_xmin, &prev_xmax) &&
      parse_snapshot(r->snap, &now_xmin, &now_xmax) && now_xmax < prev_xmax)
    *rebuilt = true;
  return MIDA_OK;
}

/* Sleeps poll_ms, or PACE times the last pass when that is longer: a pass
 * scans MLflow's metrics table whole (it has no key on transaction ids),
 * and pacing keeps the observer's share of the server bounded. */
static void pg_wait(mida__mlf_reader *base, unsigned poll_ms) {
  pg_reader *r = (pg_reader *)base;
  unsigned long paced = (unsigned long)(r->pass_ms > 0 ? r->pass_ms : 0) * PACE;
  if (paced > PACE_MAX_MS)
    paced = PACE_MAX_MS;
  if (paced > poll_ms)
    poll_ms = (unsigned)paced;
  struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void pg_disconnect(mida__mlf_reader *base) {
  pg_reader *r = (pg_reader *)base;
  if (r->conn != NULL)
    PQfinish(r->conn);
  r->conn = NULL;
  r->in_pass = 0;
}

static void pg_close(mida__mlf_reader *base) {
  pg_reader *r = (pg_reader *)base;
  if (r == NULL)
    return;
  pg_disconnect(base);
  mida__free(r->uri);
  mida__free(r->base.where);
  mida__free(r);
}

static const mida__mlf_methods pg_methods = {
    .name = "postgresql",
    .cursor_unit = "snapshot",
    .poll = pg_poll,
    .begin = pg_begin,
    .end = pg_end,
    .fetch = pg_fetch,
    .columns = pg_columns,
    .scan_begin = pg_scan_begin,
    .scan_next = pg_scan_next,
    .scan_position = pg_scan_position,
    .scan_end = pg_scan_end,
    .rebuilt = pg_rebuilt,
    .wait = pg_wait,
    .disconnect = pg_disconnect,
    .close = pg_close,
};

/* The URI without SQLAlchemy's "+driver" (postgresql+psycopg2://...),
 * which libpq does not know; postgres:// stays as it is. */
static char *libpq_uri(const char *uri) {
  const char *scheme_end = strstr(uri, "://");
  const char *plus = strchr(uri, '+');
  mida__buf b, escaped;
  mida__buf_init(&b, strlen(uri) + 1);
  mida__buf_init(&escaped, 3 * strlen(uri) + 1);
  int rc = MIDA_OK;
  if (scheme_end == NULL || plus == NULL || plus > scheme_end) {
    rc = mida__buf_adds(&b, uri);
  } else {
    rc = mida__buf_add(&b, uri, (size_t)(plus - uri));
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&b, scheme_end);
  }
  /* A password's '@' as libpq reads it (url.h). */
  if (rc == MIDA_OK)
    rc = mida__url_escape_userinfo(mida__buf_str(&b), &escaped);
  char *out = rc == MIDA_OK ? mida__strdup(mida__buf_str(&escaped)) : NULL;
  mida__buf_free(&b);
  mida__buf_free(&escaped);
  return out;
}

int mida__mlf_pg_open(const char *uri, const mida__obs_opts *opts,
                      mida__mlf_reader **out) {
  *out = NULL;
  pg_reader *r = mida__calloc(1, sizeof *r);
  if (r == NULL)
    return MIDA_ENOMEM;
  r->base.methods = &pg_methods;
  r->base.opts = opts;
  r->uri = libpq_uri(uri);
  char shown[MIDA_URL_SHOWN];
  r->base.where = mida__strdup(mida__url_redact(uri, shown, sizeof shown));
  int rc = r->uri != NULL && r->base.where != NULL ? pg_connect(r)
                                                    : MIDA_ENOMEM;
  if (rc != MIDA_OK) {
    pg_close(&r->base);
    return rc;
  }
  *out = &r->base;
  return MIDA_OK;
}

#else /* !MIDA_HAVE_LIBPQ */

#include "core/errors.h"

int mida__mlf_pg_open(const char *uri, const mida__obs_opts *opts,
                      mida__mlf_reader **out) {
  (void)opts;
  *out = NULL;
  (void)uri; /* may hold a password: not repeated */
  return mida__set_error(MIDA_EUNSUPPORTED,
                         "this mida was built without libpq, so it cannot "
                         "read PostgreSQL tracking stores");
}

#endif /* MIDA_HAVE_LIBPQ */

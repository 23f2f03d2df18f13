/*
 * mlflow_sqlite.c -- the MLflow observer's reader of SQLite tracking
 * stores (mlflow_reader.h); mlflow.c does the mapping.
 *
 * Never in MLflow's way: the database is opened read-only ("file:...?
 * mode=ro"), every read is one short statement whose rows are copied out
 * and the statement finalized (ending the read transaction) before any
 * record is appended, and SQLITE_BUSY is waited out briefly (BUSY_MS) and
 * then reported as MIDA_EBUSY, for the next pass. A reader in
 * rollback-journal mode holds a SHARED lock only while a statement runs;
 * MLflow's writers wait up to 5 s for it.
 *
 * Change detection: PRAGMA data_version (changes when another connection
 * commits), checked every pass; between passes the reader waits on inotify
 * for the database's directory (db, -journal, -wal) or poll_ms, whichever
 * comes first. Insert-only tables are read by rowid above the position
 * (the largest rowid read), in batches; a table whose largest rowid fell
 * below the position was rebuilt.
 */
#include "observe/mlflow_reader.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/errors.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUSY_MS 1000 /* how long one statement waits for a writer */

typedef struct sqlite_reader {
  mida__mlf_reader base;
  sqlite3 *db;          /* read-only connection, or NULL */
  int64_t done_version; /* data_version of the last good pass, or -1 */
  int64_t version;      /* data_version seen by the current pass */
  int inotify_fd;       /* -1 without inotify */
  bool borrowed;        /* db is the caller's (mida__mlf_sqlite_wrap) */
} sqlite_reader;

struct mida__mlf_scan {
  char *sql;          /* the batch statement (owned) */
  int64_t hwm;        /* largest rowid handed out */
  char pos[32];       /* hwm as text */
  bool done;          /* the last batch was short */
};

static int sqlite_error(sqlite_reader *r, int src, const char *what) {
  const char *path = r->base.where;
  if (src == SQLITE_BUSY || src == SQLITE_LOCKED)
    return mida__set_error(MIDA_EBUSY,
                           "%s: database busy (MLflow is writing)", path);
  if (src == SQLITE_NOTADB)
    return mida__set_error(MIDA_ECORRUPT,
                           "%s: not an SQLite database (so not an MLflow "
                           "tracking store)",
                           path);
  if (src == SQLITE_CORRUPT)
    return mida__set_error(MIDA_ECORRUPT, "%s: database is corrupt: %s", path,
                           what);
  return mida__set_error(MIDA_EIO, "%s: %s: %s", path, what,
                         r->db != NULL ? sqlite3_errmsg(r->db)
                                       : sqlite3_errstr(src));
}

/* Runs one statement with text parameters and copies up to max_rows rows
 * out. The statement is finalized before returning, which ends SQLite's
 * read transaction: no lock outlives this call. */
static int sq_fetch(mida__mlf_reader *base, const char *sql,
                    const char *const *params, int nparams, size_t max_rows,
                    mida__mlf_rows *out) {
  sqlite_reader *r = (sqlite_reader *)base;
  memset(out, 0, sizeof *out);
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
  if (src != SQLITE_OK)
    return sqlite_error(r, src, sql);
  for (int i = 0; i < nparams; i++)
    sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
  int ncols = sqlite3_column_count(st);
  out->ncols = ncols > MIDA__MLF_MAX_COLS ? MIDA__MLF_MAX_COLS : ncols;
  int rc = MIDA_OK;
  while (out->n < max_rows) {
    src = sqlite3_step(st);
    if (src == SQLITE_DONE)
      break;
    if (src != SQLITE_ROW) {
      rc = sqlite_error(r, src, "read");
      break;
    }
    mida__mlf_cell *row = mida__mlf_rows_add(out);
    if (row == NULL) {
      rc = MIDA_ENOMEM;
      break;
    }
    for (int j = 0; j < out->ncols; j++) {
      mida__mlf_cell *c = &row[j];
      int t = sqlite3_column_type(st, j);
      c->type = t == SQLITE_INTEGER ? MIDA__MLF_INT
                : t == SQLITE_FLOAT ? MIDA__MLF_FLOAT
                : t == SQLITE_NULL  ? MIDA__MLF_NULL
                                    : MIDA__MLF_TEXT;
      c->i = sqlite3_column_int64(st, j);
      c->d = sqlite3_column_double(st, j);
      c->s = NULL;
      c->len = 0;
      if (t != SQLITE_NULL) {
        /* The whole text, NULs included (MLflow keeps a tag value with
         * a NUL whole). */
        const unsigned char *s = sqlite3_column_text(st, j);
        size_t len = (size_t)sqlite3_column_bytes(st, j);
        c->s = mida__malloc(len + 1);
        if (c->s == NULL) {
          rc = MIDA_ENOMEM;
        } else {
          if (len > 0 && s != NULL)
            memcpy(c->s, s, len);
          c->s[len] = '\0';
          c->len = s != NULL ? len : 0;
        }
      }
    }
    if (rc != MIDA_OK)
      break;
  }
  sqlite3_finalize(st);
  if (rc != MIDA_OK)
    mida__mlf_rows_free(out);
  return rc;
}

static int sq_columns(mida__mlf_reader *base, const char *table,
                      mida__mlf_colset *cs) {
  memset(cs, 0, sizeof *cs);
  char sql[128];
  snprintf(sql, sizeof sql, "PRAGMA table_info(%s)", table);
  mida__mlf_rows r;
  int rc = sq_fetch(base, sql, NULL, 0, 64, &r);
  if (rc != MIDA_OK)
    return rc;
  for (size_t i = 0; i < r.n; i++) {
    const char *name = r.c[i * (size_t)r.ncols + 1].s;
    if (name != NULL && strlen(name) < 64)
      snprintf(cs->names[cs->n++], 64, "%s", name);
  }
  cs->present = r.n > 0;
  mida__mlf_rows_free(&r);
  return MIDA_OK;
}

static int open_db(sqlite_reader *r) {
  const char *path = r->base.where;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return mida__set_error(MIDA_ENOTFOUND, "%s: no MLflow database (%s)",
                           path, strerror(errno));
  mida__buf uri;
  mida__buf_init(&uri, PATH_MAX * 3 + 32);
  int rc = mida__buf_adds(&uri, "file:");
  /* Percent-encode what a URI filename may not hold as it is. */
  for (const char *p = path; rc == MIDA_OK && *p != '\0'; p++) {
    if (*p == '?' || *p == '#' || *p == '%')
      rc = mida__buf_printf(&uri, "%%%02X", (unsigned char)*p);
    else
      rc = mida__buf_add(&uri, p, 1);
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&uri, "?mode=ro");
  if (rc != MIDA_OK) {
    mida__buf_free(&uri);
    return rc;
  }
  int src = sqlite3_open_v2(
      uri.ptr, &r->db,
      SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
  mida__buf_free(&uri);
  if (src != SQLITE_OK) {
    rc = mida__set_error(MIDA_EIO, "%s: cannot open: %s", path,
                         r->db != NULL ? sqlite3_errmsg(r->db)
                                       : sqlite3_errstr(src));
    sqlite3_close(r->db);
    r->db = NULL;
    return rc;
  }
  sqlite3_busy_timeout(r->db, BUSY_MS);
  return MIDA_OK;
}

static int sq_poll(mida__mlf_reader *base, bool *changed) {
  sqlite_reader *r = (sqlite_reader *)base;
  *changed = false;
  if (r->db == NULL) {
    int rc = open_db(r);
    if (rc != MIDA_OK)
      return rc;
  }
  mida__mlf_rows dv;
  int rc = sq_fetch(base, "PRAGMA data_version", NULL, 0, 1, &dv);
  if (rc != MIDA_OK)
    return rc;
  r->version = dv.n == 1 ? dv.c[0].i : -2;
  mida__mlf_rows_free(&dv);
  *changed = r->version != r->done_version;
  return MIDA_OK;
}

static int sq_begin(mida__mlf_reader *base, const char *const *tables) {
  (void)tables;
  (void)base; /* every statement is its own read transaction */
  return MIDA_OK;
}

static void sq_end(mida__mlf_reader *base, bool ok) {
  sqlite_reader *r = (sqlite_reader *)base;
  if (ok)
    r->done_version = r->version;
}

static int64_t parse_rowid(const char *position) {
  if (position == NULL || position[0] == '\0')
    return 0;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(position, &end, 10);
  if (errno != 0 || end == position || *end != '\0' || v < 0)
    return 0;
  return v;
}

static int sq_scan_begin(mida__mlf_reader *base, const char *cols,
                         const char *from, const char *alias,
                         const char *position, mida__mlf_scan **out) {
  (void)base;
  *out = NULL;
  mida__mlf_scan *sc = mida__calloc(1, sizeof *sc);
  if (sc == NULL)
    return MIDA_ENOMEM;
  sc->hwm = parse_rowid(position);
  snprintf(sc->pos, sizeof sc->pos, "%" PRId64, sc->hwm);
  mida__buf sql;
  mida__buf_init(&sql, 16384);
  int rc = mida__buf_printf(&sql,
                            "SELECT %s.rowid, %s FROM %s WHERE %s.rowid > ?1"
                            " ORDER BY %s.rowid LIMIT CAST(?2 AS INTEGER)",
                            alias, cols, from, alias, alias);
  if (rc == MIDA_OK) {
    sc->sql = mida__strdup(sql.ptr);
    if (sc->sql == NULL)
      rc = MIDA_ENOMEM;
  }
  mida__buf_free(&sql);
  if (rc != MIDA_OK) {
    mida__free(sc);
    return rc;
  }
  *out = sc;
  return MIDA_OK;
}

static int sq_scan_next(mida__mlf_reader *base, mida__mlf_scan *sc,
                        size_t batch, mida__mlf_rows *out) {
  memset(out, 0, sizeof *out);
  if (sc->done)
    return MIDA_OK;
  char hwm[32], lim[32];
  snprintf(hwm, sizeof hwm, "%" PRId64, sc->hwm);
  snprintf(lim, sizeof lim, "%zu", batch); /* LIMIT takes it as a number */
  const char *p[2] = {hwm, lim};
  int rc = sq_fetch(base, sc->sql, p, 2, batch, out);
  if (rc != MIDA_OK)
    return rc;
  if (out->n > 0)
    sc->hwm = out->c[(out->n - 1) * (size_t)out->ncols].i;
  sc->done = out->n < batch;
  return MIDA_OK;
}

static const char *sq_scan_position(mida__mlf_reader *base,
                                    mida__mlf_scan *sc) {
  (void)base;
  if (sc->hwm == 0)
    return NULL; /* nothing read yet: nothing to save */
  snprintf(sc->pos, sizeof sc->pos, "%" PRId64, sc->hwm);
  return sc->pos;
}

static void sq_scan_end(mida__mlf_reader *base, mida__mlf_scan *sc) {
  (void)base;
  if (sc == NULL)
    return;
  mida__free(sc->sql);
  mida__free(sc);
}

/* A table's largest rowid below the observer's mark means it was rebuilt
 * (vacuumed into a new table, restored, recreated). */
static int sq_rebuilt(mida__mlf_reader *base, const char *table,
                      const char *position, bool *rebuilt) {
  int64_t hwm = parse_rowid(position);
  if (hwm <= 0)
    return MIDA_OK;
  char sql[96];
  snprintf(sql, sizeof sql, "SELECT max(rowid) FROM %s", table);
  mida__mlf_rows r;
  int rc = sq_fetch(base, sql, NULL, 0, 1, &r);
  if (rc != MIDA_OK)
    return rc;
  if (r.n == 1 && r.c[0].i < hwm)
    *rebuilt = true;
  mida__mlf_rows_free(&r);
  return MIDA_OK;
}

static void sq_wait(mida__mlf_reader *base, unsigned poll_ms) {
  mida__obs_wait(((sqlite_reader *)base)->inotify_fd, poll_ms);
}

static void sq_disconnect(mida__mlf_reader *base) {
  sqlite_reader *r = (sqlite_reader *)base;
  if (r->db != NULL && !r->borrowed)
    sqlite3_close(r->db);
  if (!r->borrowed)
    r->db = NULL;
}

static void sq_close(mida__mlf_reader *base) {
  sqlite_reader *r = (sqlite_reader *)base;
  if (r == NULL)
    return;
  sq_disconnect(base);
  if (r->inotify_fd >= 0)
    close(r->inotify_fd);
  mida__free(r->base.where);
  mida__free(r);
}

static const mida__mlf_methods sqlite_methods = {
    .name = "sqlite",
    .cursor_unit = "rowid",
    .poll = sq_poll,
    .begin = sq_begin,
    .end = sq_end,
    .fetch = sq_fetch,
    .columns = sq_columns,
    .scan_begin = sq_scan_begin,
    .scan_next = sq_scan_next,
    .scan_position = sq_scan_position,
    .scan_end = sq_scan_end,
    .rebuilt = sq_rebuilt,
    .wait = sq_wait,
    .disconnect = sq_disconnect,
    .close = sq_close,
};

int mida__mlf_sqlite_wrap(struct sqlite3 *db, const char *where,
                          const mida__obs_opts *opts,
                          mida__mlf_reader **out) {
  int rc = mida__mlf_sqlite_open(where, opts, false, out);
  if (rc != MIDA_OK)
    return rc;
  sqlite_reader *r = (sqlite_reader *)*out;
  r->db = db;
  r->borrowed = true;
  return MIDA_OK;
}

int mida__mlf_sqlite_open(const char *path, const mida__obs_opts *opts,
                          bool with_inotify, mida__mlf_reader **out) {
  *out = NULL;
  sqlite_reader *r = mida__calloc(1, sizeof *r);
  if (r == NULL)
    return MIDA_ENOMEM;
  r->base.methods = &sqlite_methods;
  r->base.opts = opts;
  r->base.where = mida__strdup(path);
  r->done_version = -1;
  r->inotify_fd = -1;
  if (r->base.where == NULL) {
    mida__free(r);
    return MIDA_ENOMEM;
  }
  if (with_inotify) {
    r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL)
      *slash = '\0';
    if (r->inotify_fd >= 0 &&
        inotify_add_watch(r->inotify_fd, dir[0] != '\0' ? dir : "/",
                          IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE |
                              IN_MOVED_TO) < 0) {
      close(r->inotify_fd);
      r->inotify_fd = -1;
    }
    if (r->inotify_fd < 0)
      mida__obs_log(opts, MIDA_OBS_WARN,
                    "inotify unavailable (%s); polling every %u ms",
                    strerror(errno), opts->poll_ms ? opts->poll_ms : 500);
  }
  *out = &r->base;
  return MIDA_OK;
}

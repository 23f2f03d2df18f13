/*
 * mlflow_reader.h -- how the MLflow observer reads a tracking store: one
 * method table, one file per database (mlflow_sqlite.c, mlflow_pg.c).
 *
 * mlflow.c holds the mapping (experiments, runs, metrics ... to records)
 * and the loop; a reader holds the connection and knows its database:
 * how to run a statement and copy its rows out, which columns a table
 * has, whether anything was committed since the last pass, and how to
 * read the rows of an insert-only table (metrics, inputs) added since a
 * position. Statements are written with ?1..?n parameters, all text;
 * PostgreSQL's reader rewrites them to $1..$n.
 *
 * Positions are text kept in the store's source_cursor table under the
 * keys "<table>.<cursor_unit>": SQLite's "metrics.rowid" holds the largest
 * rowid read, PostgreSQL's "metrics.snapshot" the snapshot of the last pass
 * that read the table to its end. An empty position means "from the
 * start"; a reader takes one it cannot parse as empty too.
 *
 * Errors: MIDA_EBUSY means "MLflow is in the way (a lock), try again
 * later", said after the reader has waited a little (SQLite's busy
 * timeout, PostgreSQL's pause after a refused lock); MIDA_ENOTFOUND from
 * poll() means "no database yet" (SQLite: the file does not exist; the
 * loop waits for MLflow); anything else is reported with
 * mida__set_error(). A reader is used by one thread.
 */
#ifndef MIDA_OBSERVE_MLFLOW_READER_H
#define MIDA_OBSERVE_MLFLOW_READER_H

#include "observe/observer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIDA__MLF_MAX_COLS 16 /* cells kept per row */

struct sqlite3; /* sqlite3.h's connection */

/* The type of a cell, as the database reported it. */
enum {
  MIDA__MLF_NULL = 0,
  MIDA__MLF_INT = 1,   /* integers and booleans (1 / 0) */
  MIDA__MLF_FLOAT = 2, /* floating-point and numeric */
  MIDA__MLF_TEXT = 3   /* everything else */
};

typedef struct mida__mlf_cell {
  int type;  /* MIDA__MLF_* */
  int64_t i; /* integer value (floats truncated, text parsed, else 0) */
  double d;  /* float value (integers converted, text parsed, else 0) */
  char *s;   /* text (owned, NUL-terminated), or NULL for NULL */
  size_t len; /* bytes of text, which may hold NULs of its own */
} mida__mlf_cell;

/* Rows copied out of the database. Free with mida__mlf_rows_free(). */
typedef struct mida__mlf_rows {
  size_t n, cap;     /* rows held, rows allocated */
  int ncols;         /* cells per row */
  mida__mlf_cell *c; /* n * ncols */
} mida__mlf_rows;

/* The row helpers (mlflow_reader.c). */
void mida__mlf_rows_free(mida__mlf_rows *r);

/* Makes room for one more row and returns its cells (zeroed, ncols of
 * them; n is already counted), or NULL when out of memory. */
mida__mlf_cell *mida__mlf_rows_add(mida__mlf_rows *r);

/* Fills a cell from len bytes of text the way SQLite converts: i and d
 * parsed, type given. s is copied (NULs included); returns MIDA_OK or
 * MIDA_ENOMEM. */
int mida__mlf_cell_set(mida__mlf_cell *c, int type, const char *s,
                       size_t len);

/* The columns of one table, by name. */
typedef struct mida__mlf_colset {
  int present; /* the table exists */
  char names[64][64];
  int n;
} mida__mlf_colset;

typedef struct mida__mlf_reader mida__mlf_reader;
typedef struct mida__mlf_scan mida__mlf_scan; /* a reader's own */

typedef struct mida__mlf_methods {
  const char *name;        /* "sqlite", "postgresql" */
  const char *cursor_unit; /* cursor key suffix: "rowid", "snapshot" */
  /* Connects if needed, then says whether anything was committed since
   * the last pass that ended well (always true before the first). A
   * reader whose poll reads much (the file store's walk) ends it early
   * when opts->stop asks MIDA_OBS_INTERRUPT, leaving its state so that
   * the next poll goes on from there; the caller then maps nothing. */
  int (*poll)(mida__mlf_reader *r, bool *changed);
  /* Starts and ends a pass; end(ok) remembers the change token of poll
   * when the pass went well, and releases whatever the pass held. tables
   * (NULL-terminated) names every table the pass may read, some perhaps
   * not there yet: a reader that locks takes them all here, at once
   * (PostgreSQL's), and then reads no other. */
  int (*begin)(mida__mlf_reader *r, const char *const *tables);
  void (*end)(mida__mlf_reader *r, bool ok);
  /* Runs sql with text parameters; copies up to max_rows rows out. */
  int (*fetch)(mida__mlf_reader *r, const char *sql,
               const char *const *params, int nparams, size_t max_rows,
               mida__mlf_rows *out);
  /* The columns of table (present = 0 when it does not exist), one that
   * begin() named. */
  int (*columns)(mida__mlf_reader *r, const char *table,
                 mida__mlf_colset *cs);
  /* Reads "SELECT <pos>, cols FROM from" for the rows of alias (a table
   * of from, named "<table> <alias>") added since position, in batches
   * that scan_next() returns (none left: 0 rows). Column 0 is the
   * reader's own (SQLite's rowid). */
  int (*scan_begin)(mida__mlf_reader *r, const char *cols, const char *from,
                    const char *alias, const char *position,
                    mida__mlf_scan **out);
  int (*scan_next)(mida__mlf_reader *r, mida__mlf_scan *scan, size_t batch,
                   mida__mlf_rows *out);
  /* The position that covers every row handed out so far, or NULL when
   * there is none to save yet. Valid until the next call on scan. */
  const char *(*scan_position)(mida__mlf_reader *r, mida__mlf_scan *scan);
  void (*scan_end)(mida__mlf_reader *r, mida__mlf_scan *scan);
  /* Readers that follow many files (the file store) keep a position per
   * file instead of scan_position()'s one (which is then NULL): after each
   * batch of scan, calls save(ctx, key, position) for each position that
   * moved and that the rows handed out so far cover; restore() takes one
   * back when the observer starts (keys the mapping does not know). Both
   * NULL for the database readers. */
  int (*positions)(mida__mlf_reader *r, mida__mlf_scan *scan,
                   int (*save)(void *ctx, const char *key,
                               const char *position),
                   void *ctx);
  int (*restore)(mida__mlf_reader *r, const char *key, const char *position);
  /* Whether table was rebuilt (or the database replaced) since position
   * was taken, so that reading on from it would miss rows. */
  int (*rebuilt)(mida__mlf_reader *r, const char *table, const char *position,
                 bool *rebuilt);
  /* Waits up to poll_ms for a change (or just sleeps). */
  void (*wait)(mida__mlf_reader *r, unsigned poll_ms);
  /* Drops the connection; the next poll() opens it again. */
  void (*disconnect)(mida__mlf_reader *r);
  void (*close)(mida__mlf_reader *r);
} mida__mlf_methods;

/* What every reader starts with. */
struct mida__mlf_reader {
  const mida__mlf_methods *methods;
  char *where;                 /* identity in ids and messages (owned) */
  const mida__obs_opts *opts;  /* for warnings */
};

/* Opens a reader of the SQLite database at path (absolute; it may not
 * exist yet). with_inotify: wait on inotify for its directory. */
int mida__mlf_sqlite_open(const char *path, const mida__obs_opts *opts,
                          bool with_inotify, mida__mlf_reader **out);

/* A reader of an SQLite database the caller has opened and keeps (the
 * file store's mirror in mlflow_file.c uses its fetch, columns and scans);
 * close() leaves db open. where names it in messages. */
int mida__mlf_sqlite_wrap(struct sqlite3 *db, const char *where,
                          const mida__obs_opts *opts, mida__mlf_reader **out);

/* Opens a reader of an MLflow file store (the mlruns directory at root,
 * absolute; it may not exist yet): see mlflow_file.c. */
int mida__mlf_file_open(const char *root, const mida__obs_opts *opts,
                        bool with_inotify, mida__mlf_reader **out);

/* One line of a file store's metric file. Strings borrow the line. */
typedef struct mida__mlf_point {
  int64_t timestamp;          /* ms since the epoch */
  double value;               /* as Python wrote it: NaN, inf included */
  int64_t step;               /* 0 when the line has none */
  const char *run;            /* logged models: the run, or NULL */
  size_t run_len;             /* bytes */
  const char *dataset_name;   /* or NULL */
  size_t dataset_name_len;    /* bytes */
  const char *dataset_digest; /* or NULL */
  size_t dataset_digest_len;  /* bytes */
} mida__mlf_point;

/* Parses one metric line (without its newline) of a run ("<timestamp>
 * <value> [<step> [<dataset name> <dataset digest>]]", with_run 0) or of a
 * logged model ("<timestamp> <value> <step> [<run> [<dataset name>
 * <digest>]]", with_run 1), single spaces between fields, as MLflow's
 * FileStore writes and reads them. Returns MIDA_OK or MIDA_ECORRUPT. */
int mida__mlf_metric_line(const char *line, size_t len, int with_run,
                          mida__mlf_point *pt);

/* Opens a reader of the PostgreSQL database a postgresql:// (or
 * postgres://, postgresql+driver://) URI names, and connects to it: an
 * unreachable server or a missing database is an error here. Returns
 * MIDA_EUNSUPPORTED in a build without libpq. */
int mida__mlf_pg_open(const char *uri, const mida__obs_opts *opts,
                      mida__mlf_reader **out);

#endif /* MIDA_OBSERVE_MLFLOW_READER_H */

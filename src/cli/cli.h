/*
 * cli.h -- what the verbs of the `mida` command share.
 *
 * The `mida` command sits on top of the data path: it reads the store
 * through the sink interface (src/sink/sink.h) only, never through a
 * database library directly, so that every store that answers queries
 * answers every verb. main.c dispatches a verb to one function of the form
 * mida__cli_<verb>(); each verb group lives in its own file (query.c,
 * list.c, show.c, lineage.c, export.c, recover.c, stats.c, version.c).
 *
 * This header offers the pieces each verb needs: option parsing with --help
 * and usage errors, opening the store with a clear message when it is
 * missing, collecting small query results, and the result printer of
 * output.c (aligned table, CSV, JSON).
 *
 * The CLI, not the library, decides what to print and the exit status:
 * MIDA_CLI_OK (0) on success, MIDA_CLI_FAIL (1) on failure, MIDA_CLI_USAGE
 * (2) on a usage error. Messages go to stderr as "mida: ...".
 */
#ifndef MIDA_CLI_CLI_H
#define MIDA_CLI_CLI_H

#include "core/buf.h"
#include "report/report.h"
#include "report/rows.h"
#include "sink/sink.h"

#include <stdio.h>
#include <sys/types.h>

#define MIDA_CLI_OK 0
#define MIDA_CLI_FAIL 1
#define MIDA_CLI_USAGE 2
/* Returned by the helpers below when the verb should go on. */
#define MIDA_CLI_CONTINUE (-1)

/* What every verb receives from main. */
typedef struct mida__cli {
  const char *store; /* store URL in force: --store, MIDA_STORE or default */
} mida__cli;

/* A verb: argv[0] is the verb's name, its own arguments follow. Returns an
 * exit status. */
typedef int (*mida__cli_verb_fn)(mida__cli *cli, int argc, char **argv);

/* ---- option parsing ---------------------------------------------------- */

/* One option of a verb. Exactly one of value and flag is set, except in a
 * repeatable option (MIDA_CLI_REPEATABLE), which sets both. */
typedef struct mida__cli_opt {
  const char *name;   /* long form with dashes, e.g. "--workflow" */
  const char *alias;  /* short form, e.g. "-o", or NULL */
  const char **value; /* for an option with an argument: receives it; for
                         a repeatable one: the first of
                         MIDA_CLI_REPEAT_MAX slots that receive its values
                         in the order given */
  int *flag;          /* for a flag: set to 1 when present; for a
                         repeatable option: the number of its values */
} mida__cli_opt;

/* The most values one repeatable option takes (as many as the HTTP API's
 * where= parameters, src/serve/tasks.h). */
#define MIDA_CLI_REPEAT_MAX 8

/* An option that may be given up to MIDA_CLI_REPEAT_MAX times (`mida tasks
 * --where`): values is an array of MIDA_CLI_REPEAT_MAX, *count starts at
 * 0. Every other option with a value given twice is a usage error. */
#define MIDA_CLI_REPEATABLE(name, values, count)                              \
  { (name), NULL, (values), (count) }

/* Parses a verb's arguments argv[1..argc). opts ends with a zeroed entry.
 * "--help"/"-h" print help to stdout; "--store URL" is understood by every
 * verb and sets cli->store; "--" ends the options; "--name=value" and
 * "--name value" are both accepted; an option with a value given twice is
 * a usage error, unless it is repeatable (MIDA_CLI_REPEATABLE). Positional
 * arguments go to pos (at most maxpos), their number to *npos; fewer than
 * minpos or more than maxpos is a usage error. Returns MIDA_CLI_CONTINUE
 * to go on, MIDA_CLI_OK after printing help, or MIDA_CLI_USAGE after
 * printing the error to stderr. */
int mida__cli_parse(mida__cli *cli, const char *verb, const char *help,
                    const mida__cli_opt *opts, int argc, char **argv,
                    const char **pos, int minpos, int maxpos, int *npos);

/* Prints "mida VERB: <message>" and a hint to run --help to stderr; returns
 * MIDA_CLI_USAGE. */
int mida__cli_usage_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a non-negative decimal integer option value (no sign, no spaces,
 * at most 10^12). Returns 0 on success, -1 if text is not one. */
int mida__cli_parse_count(const char *text, long long *out);

/* ---- errors and the store ---------------------------------------------- */

/* Prints "mida: <message>\n" to stderr; returns MIDA_CLI_FAIL. */
int mida__cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints one line on stderr, printf-style, with the control characters of
 * what was formatted escaped (core/term.h); a newline at the end of fmt is
 * the line's own. For warnings and notes that echo names, paths or the
 * messages of stores and brokers. */
void mida__cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns a copy of argv (argc strings and a NULL; freed at exit) and
 * overwrites with '*', in argv's own memory, the passwords of the URLs in
 * it, their secret query parameters and the values of secret key=value
 * words (a libpq conninfo), so that another user's `ps` does not show them
 * (ps_mask.c). Returns argv itself when it holds none of them or memory is
 * short. */
char **mida__cli_mask_argv(int argc, char **argv);

/* The environment of a mida child process (an observer beside a command,
 * a detached recover): base (NULL: this process's) without the entries
 * that start with one of drop (a NULL-terminated list, or NULL) or with
 * one of names[i] whose values[i] is not NULL, and with "names[i]values[i]"
 * appended for each such i (names end in '='). URLs go to a child this
 * way, never in its argv: a password in argv is shown by `ps` to every
 * user, the environment only to the same user (docs/security.md). A
 * copy: later changes to this process's environment do not reach it.
 * Free with mida__cli_child_env_free. NULL when out of memory. */
char **mida__cli_child_env(char *const *base, const char *const *drop,
                           const char *const *names, const char *const *values,
                           int n);
void mida__cli_child_env_free(char **env);

/* fork() for a child that only execs (or _exits): without the
 * pthread_atfork handlers where the C library can (_Fork), since libmida's
 * (src/sink/sink.c) holds a fork back until the store call in flight on
 * the shipper's thread is done -- the store's opening, a batch -- which
 * protects a child that uses the store, not one that execs at once. The
 * child may make only async-signal-safe calls. */
pid_t mida__cli_fork_to_exec(void);

/* The variables a command started by mida run gets on top of this
 * process's environment, kept here and never set with setenv: mida run
 * has threads (the store's shipper, the telemetry sampler, SQLite's and
 * libpq's start) that read the environment, and setenv under a reader is
 * undefined behaviour (a getenv that crashed on environ moved by setenv).
 * Names end in '='; values are copies, freed by mida__cli_env_free. */
#define MIDA_CLI_ENV_EDITS 16
typedef struct mida__cli_env {
  const char *name[MIDA_CLI_ENV_EDITS]; /* "NAME=", a static string */
  char *value[MIDA_CLI_ENV_EDITS];      /* its new value (owned) */
  int n;                                /* entries in use */
} mida__cli_env;

/* Sets name (ending in '=') to a copy of value, replacing an earlier
 * edit of it. Returns MIDA_OK, MIDA_ENOMEM, or MIDA_EINVAL when full. */
int mida__cli_env_set(mida__cli_env *e, const char *name, const char *value);
/* The value name (ending in '=') has in e, else in this environment, or
 * NULL. Valid until e's next change. */
const char *mida__cli_env_get(const mida__cli_env *e, const char *name);
/* Undoes the edits made after the first mark of them (mark: e->n as it
 * was then); an edit of a name set before the mark is not undone. */
void mida__cli_env_undo(mida__cli_env *e, int mark);
/* This environment with e's edits (mida__cli_child_env), NULL when out of
 * memory. Free with mida__cli_child_env_free. */
char **mida__cli_env_build(const mida__cli_env *e, const char *const *drop);
void mida__cli_env_free(mida__cli_env *e);

/* path made absolute against the working directory into buf (cap bytes),
 * joined as written (no component resolved or dropped: a store or spool
 * path names the file the system opens, core/path.h is for the paths a
 * program's opens are recorded by). Returns 0, or -1 when it does not fit
 * or there is no working directory. */
int mida__cli_absolute(const char *path, char *buf, size_t cap);

/* Whether store (--store, MIDA_STORE, `mida ingest --to`) is one mida
 * may open: a libpq key=value conninfo is not (core/conninfo.h), and is
 * refused before anything opens or makes a file, without being shown.
 * Returns MIDA_CLI_CONTINUE, or MIDA_CLI_USAGE after printing why. */
int mida__cli_check_store(const char *store);

/* How a verb opens the store (mida__cli_open_store's writable). */
#define MIDA_CLI_STORE_READ 0   /* read-only; never created */
#define MIDA_CLI_STORE_WRITE 1  /* written; created when it is not there */
#define MIDA_CLI_STORE_CHANGE 2 /* written, only when it is there */

/* Opens the store named by cli->store. Read-only verbs pass writable 0: the
 * store is opened with MIDA_SINK_READONLY | MIDA_SINK_NOCREATE, and a
 * missing store is reported as "mida: no store at PATH (set --store or
 * MIDA_STORE)"; it first waits, bounded, for a detached shipper of the
 * store (capture/ship_lock.h), with a warning on stderr when it gives up.
 * A verb that only changes what a store holds (mida index --drop) passes
 * MIDA_CLI_STORE_CHANGE: a missing store is reported the same way.
 * Returns MIDA_CLI_CONTINUE with *out set (close it with
 * mida__sink_close), MIDA_CLI_USAGE for a store that
 * mida__cli_check_store refuses, or MIDA_CLI_FAIL, each after printing the
 * reason. */
int mida__cli_open_store(const mida__cli *cli, int writable, mida__sink **out);

/* Lifts the guard's time limit from sink's statements, unless
 * MIDA_QUERY_TIMEOUT_MS is set: for the verbs that run many of mida's own
 * statements in one snapshot, whose time limit bounds the snapshot as a
 * whole (sink.h): an export, which streams the whole selection for
 * minutes on a store of millions of tasks by design, and a lineage walk of
 * up to --max-nodes nodes, a few statements each. The guard's limit is
 * for statements a person writes; the temporary-space bound stays, and
 * Ctrl-C still cancels. */
void mida__cli_unbounded_time(mida__sink *sink);

/* Prints "mida: <what>: <the sink's message>" (or the code's message when
 * the sink has none), saying so when a missing table or column means that
 * the store is empty or not a mida store (no mida_meta), and returns
 * MIDA_CLI_FAIL. */
int mida__cli_store_error(mida__sink *sink, int rc, const char *what);

/* ---- small results ----------------------------------------------------- */

/* The rows of a query copied into memory, for the verbs that look at a
 * result before printing it (show, lineage): report/rows.h. */
typedef mida__rows mida__cli_rows;

/* Runs sql with text parameters and collects up to max_rows rows into out,
 * which the caller frees with mida__cli_rows_free() whatever the result.
 * Returns the sink's result, or MIDA_ENOMEM. */
int mida__cli_fetch(mida__sink *sink, const char *sql,
                    const char *const *params, int nparams, size_t max_rows,
                    mida__cli_rows *out);

/* A cell of a fetched result, NULL for SQL NULL or out of range. */
const char *mida__cli_cell(const mida__cli_rows *r, size_t row, int col);

void mida__cli_rows_free(mida__cli_rows *r);

/* Whether sql, with text parameters, returns a row, into *any (the first
 * row ends the query). Returns the sink's result; *any may be 1 with an
 * error that came after the row. */
int mida__cli_has_row(mida__sink *sink, const char *sql,
                      const char *const *params, int nparams, int *any);

/* ---- ids named by a source's key (source_key.c) ------------------------ */

/* For a verb whose argument key no id matched: the task (or, with
 * workflows, also the MLflow experiment's workflow) whose source's key it
 * is (report/source_key.h). One: its id into id (cap bytes), said on
 * stderr ("mida VERB: 'KEY' is the source key of task ID (ACTIVITY)"),
 * MIDA_OK. None: MIDA_ENOTFOUND, nothing said. Several: they are listed
 * on stderr, the newest first, and MIDA_EINVAL is returned (the verb fails
 * without a message of its own). Else the store's error. */
int mida__cli_source_key(mida__sink *sink, const char *verb, const char *key,
                         int workflows, char *id, size_t cap);

/* ---- the result printer (output.c) ------------------------------------- */

/* Writes text (NULL: nothing) to fp with its control characters shown as
 * visible escapes (core/term.h, MIDA_TERM_ESCAPE): every value from the
 * store or a workflow that a verb prints outside a table goes through it.
 * Returns MIDA_OK, MIDA_EIO or MIDA_ENOMEM. */
int mida__cli_put_text(FILE *fp, const char *text);

typedef enum mida__out_format {
  MIDA_OUT_TABLE = 0, /* aligned columns, header and rule, for people */
  MIDA_OUT_CSV = 1,   /* RFC 4180, header line first */
  MIDA_OUT_JSON = 2   /* an array of objects, one per line */
} mida__out_format;

/* A printer of query results. The table collects rows (in a capped buffer)
 * to size its columns and prints them at mida__out_end(); CSV and JSON are
 * written as the rows come. */
typedef struct mida__out {
  mida__out_format format;  /* how rows are printed */
  FILE *fp;                 /* where they go */
  size_t max_cell;          /* table: widest cell, in characters */
  const char *indent;       /* table: written before every line ("") */
  const char *empty;        /* table: the line printed for no rows */
  const char *json_object;  /* JSON: the column whose cells that are JSON
                               objects are nested as objects, not written
                               as strings (NULL: none) */
  int ncols;                /* columns, from the first row; 0 before it */
  char **names;             /* column names, copied from the first row
                               (JSON: made distinct keys) */
  size_t *width;            /* table: width of each column, in characters */
  int *numeric;             /* table: 1 while a column holds only numbers */
  mida__buf rows;           /* table: collected cells, each NUL-terminated */
  mida__buf line;           /* scratch: one row being formatted */
  size_t pending;           /* table: rows in the buffer, not yet printed */
  int header_done;          /* table: header already printed */
  unsigned long long count; /* rows seen */
  int rc;                   /* MIDA_OK, or the first error (ENOMEM, EIO) */
} mida__out;

/* Table cells longer than this many characters are cut with "…". */
#define MIDA_OUT_MAX_CELL 60

/* Sets up a printer of format fmt onto fp. */
void mida__out_init(mida__out *o, mida__out_format fmt, FILE *fp);

/* Adds one row: a mida__cells_fn, so a printer can be passed straight to
 * mida__sink_query_cells() with itself as ctx (each value's length keeps
 * a text's NUL bytes). Returns 0, or 1 to stop on an error (kept in
 * o->rc). */
int mida__out_row(void *o, int ncols, const char *const *names,
                  const char *const *values, const size_t *lens);

/* Takes the result's columns before its rows: a mida__columns_fn, for
 * mida__sink_query_described(), so that a CSV without rows still has its
 * header line. Returns 0, or 1 to stop on an error (kept in o->rc). */
int mida__out_columns(void *o, int ncols, const char *const *names);

/* Prints what is left (the table, the closing bracket) and frees the
 * printer. Returns MIDA_OK, or the first error (MIDA_ENOMEM, MIDA_EIO). */
int mida__out_end(mida__out *o);

/* Frees the printer without printing anything more. */
void mida__out_discard(mida__out *o);

/* Chooses the format from the --csv and --json flags; both at once is a
 * usage error. Returns MIDA_CLI_CONTINUE or MIDA_CLI_USAGE. */
int mida__out_pick(const char *verb, int csv, int json, mida__out_format *fmt);

/* Runs sql with params on the store (read-only), printing its rows in fmt
 * (list.c). Returns an exit status. */
int mida__cli_print_query(const mida__cli *cli, const char *sql,
                          const char *const *params, int nparams,
                          mida__out_format fmt);

/* Display width of UTF-8 text: the number of characters. */
size_t mida__out_width(const char *text);

/* ---- write errors (write_error.c) -------------------------------------- */

/* Notes errno as the reason of a write of the command's output that just
 * failed (fwrite, fputs, fopen, fclose, fsync, rename); returns MIDA_EIO,
 * which mida__cli_write_error() then names in the system's words
 * ("No space left on device"), where mida_strerror() says only
 * "input/output error". */
int mida__cli_write_failed(void);

/* Flushes fp: MIDA_OK, or MIDA_EIO with the reason noted, also for a
 * write that failed earlier on fp unchecked (then "Input/output error"
 * unless its errno was noted). */
int mida__cli_flush(FILE *fp);

/* The reason of rc: for MIDA_EIO after a failed write, that write's
 * errno as strerror() says it; else mida_strerror(rc). */
const char *mida__cli_write_error(int rc);

/* Whether rc is a failed write of the output (noted), not the store's. */
int mida__cli_write_broke(int rc);

/* ---- destinations of exports (dest.c) ---------------------------------- */

/* Where an export goes: standard output, or a file or directory written
 * under a temporary name and renamed when complete. */
/* ---- progress (progress.c) -------------------------------------------- */

/* A one-line counter on stderr for a long verb (an export, a recovery),
 * drawn only when stderr is a terminal. */
typedef struct mida__cli_progress {
  const char *label; /* "mida export", put before each line */
  int on;            /* 1: stderr is a terminal */
  double at;         /* when the line was last drawn, seconds */
  int shown;         /* 1 once a line is on the terminal */
} mida__cli_progress;

void mida__cli_progress_init(mida__cli_progress *p, const char *label);

/* Draws the line (printf-style) in place of the last one: at most five
 * times a second, or at once when now is 1. */
void mida__cli_progress_show(mida__cli_progress *p, int now, const char *fmt,
                             ...) __attribute__((format(printf, 3, 4)));

/* Ends the line, if one was drawn, so that what follows starts on its
 * own. */
void mida__cli_progress_end(mida__cli_progress *p);

typedef struct mida__cli_dest {
  const char *label;   /* "mida export", for messages */
  const char *path;    /* the final path, NULL for standard output */
  char tmp[4096];      /* the temporary file or directory */
  int is_dir;          /* 1: a directory of files (begin_file/end_file) */
  int force;           /* 1: an existing path may be replaced */
  int open;            /* 1 while tmp exists */
  FILE *fp;            /* the file being written, or NULL */
  mida__cli_progress progress; /* the line on stderr */
} mida__cli_dest;

/* Prepares d for path (NULL or "-": standard output; not for a
 * directory) and fills io to write into it, with progress on stderr when
 * it is a terminal. An existing path is refused unless force (and then a
 * directory only if it is an earlier RO-Crate). Returns MIDA_CLI_CONTINUE,
 * or MIDA_CLI_FAIL after printing why. */
int mida__cli_dest_open(mida__cli_dest *d, const char *label,
                        const char *path, int is_dir, int force,
                        mida__report_io *io);

/* Completes the export: flushes, syncs and renames into place. Returns
 * MIDA_OK or MIDA_EIO (mida__cli_write_error() says why; nothing is left
 * behind). */
int mida__cli_dest_commit(mida__cli_dest *d);

/* Gives up: removes the temporary file or directory. */
void mida__cli_dest_abort(mida__cli_dest *d);

/* ---- the verbs --------------------------------------------------------- */

int mida__cli_query(mida__cli *cli, int argc, char **argv);
int mida__cli_workflows(mida__cli *cli, int argc, char **argv);
int mida__cli_tasks(mida__cli *cli, int argc, char **argv);
int mida__cli_index(mida__cli *cli, int argc, char **argv);
int mida__cli_show(mida__cli *cli, int argc, char **argv);
int mida__cli_lineage(mida__cli *cli, int argc, char **argv);
int mida__cli_export(mida__cli *cli, int argc, char **argv);
/* diff.c: `mida diff A B` (issue 15). */
int mida__cli_diff(mida__cli *cli, int argc, char **argv);
int mida__cli_recover(mida__cli *cli, int argc, char **argv);
int mida__cli_stats(mida__cli *cli, int argc, char **argv);
/* ingest.c: broker -> store consumer (issue 5). */
int mida__cli_ingest(mida__cli *cli, int argc, char **argv);
/* observe.c: MLflow and TensorBoard observers (issue 4). */
int mida__cli_observe(mida__cli *cli, int argc, char **argv);
/* For `mida run`: starts `mida [--store STORE] observe KIND --tracking-uri
 * ARG` (kind "mlflow") or `... --logdir ARG` (kind "tensorboard") as a
 * child process, with the environment base_env (NULL: this process's;
 * MIDA_CAMPAIGN, MIDA_PARENT_TASK), and runs begun since since_ns (0:
 * now) taken as the command's; writes its pid. Returns MIDA_OK,
 * MIDA_EINVAL or MIDA_EIO. mida__cli_observe_stop() sends it SIGUSR1 (it
 * makes a last pass that reads everything, and flushes), waits up to
 * timeout_ms (negative: forever; then SIGKILL) and reaps it; MIDA_OK if it
 * exited with status 0. */
int mida__cli_observe_spawn(const char *kind, const char *arg,
                            const char *store, int64_t since_ns,
                            char *const *base_env, pid_t *pid);
int mida__cli_observe_stop(pid_t pid, int timeout_ms);
/* telemetry.c: telemetry samples (issue 6). */
int mida__cli_telemetry(mida__cli *cli, int argc, char **argv);
/* run.c: `mida run -- COMMAND` (issue 3). */
int mida__cli_run(mida__cli *cli, int argc, char **argv);
/* serve.c: `mida serve`, the HTTP API and dashboard (issue 13). */
int mida__cli_serve(mida__cli *cli, int argc, char **argv);
int mida__cli_version(mida__cli *cli, int argc, char **argv);

#endif /* MIDA_CLI_CLI_H */

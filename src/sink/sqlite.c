/*
 * sqlite.c -- the embedded store: records merged into one SQLite file.
 *
 * This is the default sink (sqlite://mida.db). The shipper of every process
 * that captures, `mida recover` and `mida ingest` all write into the same
 * file at once, so each batch is one BEGIN IMMEDIATE ... COMMIT in WAL mode,
 * retried while another writer holds the lock; readers (`mida query`, the
 * dashboard) never wait for writers.
 *
 * Merge rules. Several records describe one task (begin, end, late
 * annotations, possibly delivered twice and in any order); applying them in
 * any order, any number of times, gives the same row:
 *
 *   status                 the highest mida_status_t wins (stored as text,
 *                          ranked by the enum's number: FINISHED beats
 *                          RUNNING whichever arrives first);
 *   submitted, started     the smallest value; created likewise;
 *   ended                  the largest value;
 *   used, generated,       JSON objects merged key by key (mida__json_merge,
 *   custom, telemetry,     the SQL function mida_merge(old, new));
 *   metadata
 *   host, pid              the record's own value if it has one; a value
 *                          defaulted from the batch's origin only fills an
 *                          empty column, so an explicit host always wins;
 *   everything else        the record's value when it has one, else the old.
 *
 * Link tables (task_data, task_dep, metric, telemetry, counter) are keyed so
 * that a repeated record is ignored; counters keep their maximum; a source
 * cursor never moves back in time.
 *
 * Speed: the rules above are associative, so put_batch first folds the
 * records of one task (or workflow, campaign) within a batch into one row
 * image -- a task's begin and end become one INSERT instead of an INSERT and
 * an UPDATE that rewrites the row and its index entries. Records that cannot
 * be folded exactly (two records both carrying the same JSON column) are
 * applied one after the other, in order. A run's summary of its task also
 * writes the task's image that came in the same batch (a Dask worker's
 * arguments and result, and where the scheduler is the same process, its
 * begin), rather than a second statement writing the same row. A batch
 * of many task or run rows the store does not hold yet (a scheduler's
 * submissions, a worker's runs) inserts them several to a statement
 * (apply_group), and merges those it held with their upserts.
 *
 * A record of a type this store does not know, or one without the fields
 * that key its row, is skipped and counted; a JSON field that is not a JSON
 * object is dropped (the rest of the record is applied) and counted. Neither
 * fails the batch: a batch that could never succeed would stall the shipper.
 *
 * Metric values: SQLite cannot store NaN as REAL (it becomes NULL), so a NaN
 * value is stored as NULL; infinities are stored as they are. A point is
 * keyed by its task, key, time and point text (mida_point(step, value),
 * schema.h), so a point applied twice is one row and two values at one step
 * and time are two; a point without a step has a NULL step.
 *
 * Metric blocks (rollup.h): each point the metric insert adds (not one the
 * store held) is folded into the batch's block images in C, and the images
 * are upserted once before the commit (min/max kept, counts added).
 *
 * Schema versions: a writer migrates an older store in its first
 * transaction (schema.h); a newer one is refused.
 *
 * Deferred durability (sink.h): while the sink is deferred, a batch leaves
 * its write transaction open and the next batches go on in it; sqlite_sync
 * commits them all at once. A commit writes every page its transaction
 * changed to the WAL, and the batches of one caller touch the same pages
 * (the right-most leaves of the tables and of their indexes): `mida
 * recover` and the collector of `mida run`, which ship one batch per
 * journal segment, wrote each such page once per segment (33 pages a commit
 * for 37 records a segment in a `make -j2` of this project). A failing
 * batch rolls back the whole group, which the caller sends again (sink.h).
 *
 * Threads: a sink is used by one thread at a time (the connection is opened
 * without SQLite's mutex); several sinks, in several threads or processes,
 * may write one file at once.
 *
 * Files. This one holds the store's method table, its opening and
 * closing, and a batch's flow: the statements it caches and its row
 * images. Beside it, each with one job:
 *
 *   sqlite_int.h        the sink's structure and the helpers its files
 *                       share;
 *   sqlite_records.c    the records that are not a merged row (data and
 *                       its links, dependencies, metric points and
 *                       blocks, telemetry, cursors, counters, a lost
 *                       process), each to its own statement;
 *   sqlite_summary.c    a task's row as the summary of its runs, written
 *                       after each run's row;
 *   sqlite_schema.c     the schema made, migrated and stamped at a
 *                       writer's open;
 *   sqlite_functions.c  the SQL functions of the merge rules and of the
 *                       API's predicates (mida_merge, mida_num, ...);
 *   sqlite_query.c      the read path: a guarded query, its cancellation;
 *   sqlite_busy.c       waiting for the other writers of the file;
 *   sqlite_file.c, sqlite_checkpoint.c, sqlite_temp.c, sqlite_fork.c
 *                       the file's identity and WAL bound, its checkpoints,
 *                       the queries' temporary space, and fork safety.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/sqlite_int.h"

#include "sink/sqlite_busy.h"
#include "sink/sqlite_fork.h"
#include "sink/sqlite_functions.h"
#include "sink/sqlite_immutable.h"
#include "sink/sqlite_query.h"
#include "sink/sqlite_records.h"
#include "sink/sqlite_schema.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/url.h"
#include "sink/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The cached upsert statement of each merged table. */
static const int entity_statement[ENT_COUNT] = {
    [ENT_TASK] = ST_TASK,
    [ENT_WORKFLOW] = ST_WORKFLOW,
    [ENT_CAMPAIGN] = ST_CAMPAIGN,
    [ENT_RUN] = ST_RUN,
};

/* The SQL text of the statements that are not generated from a column
 * table. */
/* How a block row of a metric series (rollup.h) merges. */
#define BLOCK_UPSERT                                                           \
  " ON CONFLICT(task_id, key, axis, shift, block) DO UPDATE"                   \
  " SET x0 = min(x0, excluded.x0), x1 = max(x1, excluded.x1),"                 \
  " t0 = min(t0, excluded.t0), t1 = max(t1, excluded.t1),"                     \
  " lo = min(coalesce(lo, excluded.lo), coalesce(excluded.lo, lo)),"           \
  " hi = max(coalesce(hi, excluded.hi), coalesce(excluded.hi, hi)),"           \
  " n = n + excluded.n"

/* An upsert's DO UPDATE writes its row even when no value changes: a file
 * read again by every run (a source, a header, an input) had its data row
 * and its link written anew each time, a dirty page in the WAL and a
 * checkpoint's copy each. The WHERE of data's and task_data's lets only a
 * change through. */
#define DATA_COLUMNS "data(id, kind, uri, size, digest, metadata)"
/* A data's URI: the newer one, but a name that a rename or a link gave a
 * file's version ({"named_by": ...}, src/preload/names.c) is not replaced
 * by one without: the writer's record of the temporary and the renamer's
 * record of the final name come from two processes' journals, shipped in
 * either order. By instr, not json_extract: no error on whatever metadata
 * a store holds, and no parse. */
#define DATA_URI_MERGED                                                        \
  "CASE WHEN instr(data.metadata, '\"named_by\":') > 0"                        \
  " AND coalesce(instr(excluded.metadata, '\"named_by\":'), 0) = 0"            \
  " THEN data.uri ELSE coalesce(excluded.uri, data.uri) END"
#define DATA_UPSERT                                                            \
  " ON CONFLICT(id) DO UPDATE SET"                                             \
  " kind = coalesce(excluded.kind, data.kind),"                                \
  " uri = " DATA_URI_MERGED ","                                                \
  " size = coalesce(excluded.size, data.size),"                                \
  " digest = coalesce(excluded.digest, data.digest),"                          \
  " metadata = mida_merge(data.metadata, excluded.metadata)"                   \
  " WHERE coalesce(excluded.kind, data.kind) IS NOT data.kind"                 \
  " OR " DATA_URI_MERGED " IS NOT data.uri"                                    \
  " OR coalesce(excluded.size, data.size) IS NOT data.size"                    \
  " OR coalesce(excluded.digest, data.digest) IS NOT data.digest"              \
  " OR excluded.metadata IS NOT NULL"
#define TASK_DATA_COLUMNS "task_data(task_id, data_id, role, name, bytes)"
#define TASK_DATA_UPSERT                                                       \
  " ON CONFLICT(task_id, data_id, role) DO UPDATE SET"                         \
  " name = coalesce(excluded.name, task_data.name),"                           \
  " bytes = nullif(max(coalesce(excluded.bytes, -1),"                          \
  " coalesce(task_data.bytes, -1)), -1)"                                       \
  " WHERE coalesce(excluded.name, task_data.name)"                             \
  " IS NOT task_data.name"                                                     \
  " OR coalesce(excluded.bytes, -1)"                                           \
  " > coalesce(task_data.bytes, -1)"

static const char *const fixed_sql[ST_COUNT] = {
    [ST_DATA] = "INSERT INTO " DATA_COLUMNS
                " VALUES(?1, ?2, ?3, ?4, ?5, ?6)" DATA_UPSERT,
    [ST_TASK_DATA] = "INSERT INTO " TASK_DATA_COLUMNS
                     " VALUES(?1, ?2, ?3, ?4, ?5)" TASK_DATA_UPSERT,
    [ST_DEP] = "INSERT OR IGNORE INTO task_dep(task_id, upstream_id)"
               " VALUES(?1, ?2)",
    [ST_METRIC] = "INSERT OR IGNORE INTO metric(task_id, key, step, ts, value,"
                  " point) VALUES(?1, ?2, ?3, ?4, ?5, mida_point(?3, ?5))",
    [ST_TELEMETRY] =
        "INSERT OR IGNORE INTO telemetry(host, pid, ts, workflow_id,"
        " task_id, sample) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_CURSOR] = "INSERT INTO source_cursor(source, key, position, updated)"
                  " VALUES(?1, ?2, ?3, ?4)"
                  " ON CONFLICT(source, key) DO UPDATE SET"
                  " position = excluded.position, updated = excluded.updated"
                  " WHERE source_cursor.updated IS NULL"
                  " OR excluded.updated >= source_cursor.updated",
    [ST_COUNTER] = "INSERT INTO counter(host, pid, name, value)"
                   " VALUES(?1, ?2, ?3, ?4)"
                   " ON CONFLICT(host, pid, name) DO UPDATE SET"
                   " value = max(counter.value, excluded.value)",
    /* The batch's change number (schema.h, "Change numbers"). */
    [ST_SEQ] = "INSERT INTO mida_meta(key, value) VALUES('change_seq', 1)"
               " ON CONFLICT(key) DO UPDATE SET"
               " value = CAST(value AS INTEGER) + 1"
               " RETURNING CAST(value AS INTEGER)",
    /* A block of a metric series (rollup.h) gets a batch's new points:
     * the least and greatest of each column kept, NULL values lose. */
    [ST_BLOCK] = "INSERT INTO metric_block(" MIDA_ROLLUP_COLUMNS ") VALUES"
                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" BLOCK_UPSERT,
    /* A task that got metric points has changed too. */
    [ST_TOUCH] = "UPDATE task SET seq = ?1 WHERE id = ?2 AND seq IS NOT ?1",
    /* Whether a group of rows is likely new (apply_group). */
    [ST_TASK_HELD] = "SELECT 1 FROM task WHERE id = ?1",
    [ST_RUN_HELD] = "SELECT 1 FROM task_run WHERE id = ?1",
    [ST_LOST_TASKS] = MIDA_LOST_TASKS_SQL("?6"),
    [ST_LOST_WORKFLOWS] = MIDA_LOST_WORKFLOWS_SQL("?6"),
    [ST_LOST_RUNS] = MIDA_LOST_RUNS_SQL,
    [ST_LOST_ANY] = MIDA_LOST_ANY_SQL,
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
};

/* Records skipped and JSON fields dropped by this sink since it was opened
 * (committed batches only). For tests and for `mida ingest`'s report. */
uint64_t mida__sqlite_skipped(const mida__sink *sink);
uint64_t mida__sqlite_dropped_fields(const mida__sink *sink);
/* The sink's connection, for tests that watch its statements
 * (sqlite3_trace_v2); NULL for none. */
sqlite3 *mida__sqlite_connection(const mida__sink *sink);

uint64_t mida__sqlite_skipped(const mida__sink *sink) {
  return sink != NULL ? ((const sqlite_sink *)sink)->skipped_records : 0;
}

uint64_t mida__sqlite_dropped_fields(const mida__sink *sink) {
  return sink != NULL ? ((const sqlite_sink *)sink)->dropped_fields : 0;
}

sqlite3 *mida__sqlite_connection(const mida__sink *sink) {
  return sink != NULL ? ((const sqlite_sink *)sink)->db : NULL;
}

/* ---- statements -------------------------------------------------------- */

/* Whether an entity's table has a change number (schema.h). */
static int has_seq(const entity *ent) {
  return ent == &entities[ENT_TASK] || ent == &entities[ENT_WORKFLOW];
}

/* The parameter that carries an entity's change number: after the columns'
 * and the origin defaults'. */
static int seq_param(const entity *ent) {
  int n = ent->ncolumns;
  for (int c = 0; c < ent->ncolumns; c++)
    if (ent->columns[c].rule == MIDA_RULE_ORIGIN)
      n++;
  return n + 1;
}

/* Writes the merged value of column c of an entity's upsert: the stored
 * value (table.col) and the incoming one (excluded.col) combined by the
 * column's rule. */
int mida__sqlite_merge_expr(const entity *ent, int c, mida__buf *out) {
  const char *t = ent->table;
  const char *n = ent->columns[c].name;
  switch (ent->columns[c].rule) {
  case MIDA_RULE_MIN:
  case MIDA_RULE_MAX:
    return mida__buf_printf(out,
                            "coalesce(%s(%s.%s, excluded.%s), %s.%s,"
                            " excluded.%s)",
                            ent->columns[c].rule == MIDA_RULE_MIN ? "min"
                                                                  : "max",
                            t, n, n, t, n, n);
  case MIDA_RULE_STATUS:
    return mida__buf_printf(out, "mida_status_merge(%s.%s, excluded.%s)", t, n,
                            n);
  case MIDA_RULE_JSON:
    return mida__buf_printf(out, "mida_merge(%s.%s, excluded.%s)", t, n, n);
  case MIDA_RULE_ORIGIN:
    /* ?c is the record's own value: it wins; else the stored value; else
     * the origin's default, which excluded holds. */
    return mida__buf_printf(out, "coalesce(?%d, %s.%s, excluded.%s)", c + 1, t,
                            n, n);
  default:
    return mida__buf_printf(out, "coalesce(excluded.%s, %s.%s)", n, t, n);
  }
}

/* Writes the upsert of an entity into out: the columns in table order,
 * MIDA_RULE_ORIGIN columns also take a default parameter after the columns',
 * and the change number comes last. Its update sets the change number and
 * the columns whose bit is in set_mask (all: ~0u); the parameters are the
 * same whatever the mask. */
static int entity_sql(const entity *ent, uint32_t set_mask, mida__buf *out) {
  int rc = mida__buf_printf(out, "INSERT INTO %s(", ent->table);
  for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++)
    rc = mida__buf_printf(out, "%s%s", c ? ", " : "", ent->columns[c].name);
  if (rc == MIDA_OK && has_seq(ent))
    rc = mida__buf_adds(out, ", seq");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, ") VALUES(");
  int extra = ent->ncolumns;
  for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++) {
    const char *sep = c ? ", " : "";
    if (ent->columns[c].rule == MIDA_RULE_ORIGIN)
      rc = mida__buf_printf(out, "%scoalesce(?%d, ?%d)", sep, c + 1, ++extra);
    else
      rc = mida__buf_printf(out, "%s?%d", sep, c + 1);
  }
  if (rc == MIDA_OK && has_seq(ent))
    rc = mida__buf_printf(out, ", ?%d", seq_param(ent));
  int nset = has_seq(ent);
  for (int c = 1; c < ent->ncolumns; c++)
    nset += (set_mask >> c) & 1;
  if (rc == MIDA_OK && nset == 0)
    return mida__buf_printf(out, ") ON CONFLICT(%s) DO NOTHING",
                            ent->columns[0].name);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(out, ") ON CONFLICT(%s) DO UPDATE SET",
                          ent->columns[0].name);
  const char *sep = " ";
  if (rc == MIDA_OK && has_seq(ent)) {
    rc = mida__buf_adds(out, " seq = excluded.seq");
    sep = ", ";
  }
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
    const char *t = ent->table;
    const char *n = ent->columns[c].name;
    int from_runs = ent->columns[c].from_runs;
    if (((set_mask >> c) & 1) == 0)
      continue;
    rc = mida__buf_printf(out, "%s%s = ", sep, n);
    sep = ", ";
    /* A column that the task's runs summarise keeps its value once the
     * row has runs (schema.h, task_run). */
    if (rc == MIDA_OK && from_runs)
      rc = mida__buf_printf(out,
                            "CASE WHEN %s.attempts IS NOT NULL THEN %s.%s"
                            " ELSE ",
                            t, t, n);
    if (rc == MIDA_OK)
      rc = mida__sqlite_merge_expr(ent, c, out);
    if (rc == MIDA_OK && from_runs)
      rc = mida__buf_adds(out, " END");
  }
  return rc;
}

/* The parameters of one row of an entity's upsert (entity_sql): its
 * columns', the origin defaults' and the change number's. */
static int row_params(const entity *ent) {
  return has_seq(ent) ? seq_param(ent) : seq_param(ent) - 1;
}

/* Writes the INSERT OR IGNORE of IMAGE_ROWS_PER_STEP rows of an entity into
 * out: each row's values as entity_sql's VALUES, its parameters after
 * the rows' before it (row_params each). It inserts the rows the store
 * does not hold, as the upsert would, and leaves the others. */
static int entity_rows_sql(const entity *ent, mida__buf *out) {
  int rc = mida__buf_printf(out, "INSERT OR IGNORE INTO %s(", ent->table);
  for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++)
    rc = mida__buf_printf(out, "%s%s", c ? ", " : "", ent->columns[c].name);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, has_seq(ent) ? ", seq) VALUES" : ") VALUES");
  int per_row = row_params(ent);
  for (int i = 0; i < IMAGE_ROWS_PER_STEP && rc == MIDA_OK; i++) {
    int at = i * per_row, extra = at + ent->ncolumns;
    rc = mida__buf_adds(out, i ? ",(" : "(");
    for (int c = 0; c < ent->ncolumns && rc == MIDA_OK; c++) {
      const char *sep = c ? ", " : "";
      if (ent->columns[c].rule == MIDA_RULE_ORIGIN)
        rc = mida__buf_printf(out, "%scoalesce(?%d, ?%d)", sep, at + c + 1,
                              ++extra);
      else
        rc = mida__buf_printf(out, "%s?%d", sep, at + c + 1);
    }
    if (rc == MIDA_OK && has_seq(ent))
      rc = mida__buf_printf(out, ", ?%d", at + seq_param(ent));
    if (rc == MIDA_OK)
      rc = mida__buf_adds(out, ")");
  }
  return rc;
}

/* Prepares text, kept across many steps, into *out, once build_rc (the
 * result of building it into sql) says it could be built; frees sql. */
int mida__sqlite_prepare_built(sqlite_sink *s, int build_rc, mida__buf *sql,
                               const char *text, sqlite3_stmt **out) {
  int src = SQLITE_OK;
  if (build_rc == MIDA_OK)
    src = sqlite3_prepare_v3(s->db, text, -1, SQLITE_PREPARE_PERSISTENT, out,
                             NULL);
  mida__buf_free(sql);
  if (build_rc != MIDA_OK)
    return mida__sink_fail(&s->base, build_rc, "cannot build store statements");
  if (src != SQLITE_OK)
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "cannot prepare store statement on '%s': %s",
                           s->path, sqlite3_errmsg(s->db));
  return MIDA_OK;
}

/* Prepares statement which (ST_*) on its first use
 * (mida__sqlite_statement, sqlite_int.h, says why). */
sqlite3_stmt *mida__sqlite_prepare_statement(sqlite_sink *s, int which) {
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  int rc = MIDA_OK;
  const char *text = fixed_sql[which];
  if (which == ST_DEP_ROWS) {
    rc = mida__buf_adds(&sql, "INSERT OR IGNORE INTO task_dep(task_id,"
                              " upstream_id) VALUES");
    for (int i = 0; i < ROWS_PER_STEP && rc == MIDA_OK; i++)
      rc = mida__buf_adds(&sql, &",(?, ?)"[i == 0]);
    text = mida__buf_str(&sql);
  } else if (which == ST_DATA_ROWS || which == ST_TASK_DATA_ROWS ||
             which == ST_DATA_ROWS_NEW || which == ST_TASK_DATA_ROWS_NEW) {
    int data = which == ST_DATA_ROWS || which == ST_DATA_ROWS_NEW;
    int upsert = which == ST_DATA_ROWS || which == ST_TASK_DATA_ROWS;
    rc = mida__buf_adds(&sql,
                        upsert ? "INSERT INTO " : "INSERT OR IGNORE INTO ");
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&sql, data ? DATA_COLUMNS " VALUES"
                                     : TASK_DATA_COLUMNS " VALUES");
    for (int i = 0; i < ROWS_PER_STEP && rc == MIDA_OK; i++)
      rc = mida__buf_adds(&sql, data ? &",(?, ?, ?, ?, ?, ?)"[i == 0]
                                     : &",(?, ?, ?, ?, ?)"[i == 0]);
    if (rc == MIDA_OK && upsert)
      rc = mida__buf_adds(&sql, data ? DATA_UPSERT : TASK_DATA_UPSERT);
    text = mida__buf_str(&sql);
  }
  if (which == ST_TASK_ROWS_NEW || which == ST_RUN_ROWS_NEW) {
    rc = entity_rows_sql(&entities[which == ST_TASK_ROWS_NEW ? ENT_TASK
                                                              : ENT_RUN],
                         &sql);
    text = mida__buf_str(&sql);
  }
  for (int e = 0; e < ENT_COUNT && text == NULL; e++) {
    if (entity_statement[e] != which)
      continue;
    rc = entity_sql(&entities[e], ~0u, &sql);
    text = mida__buf_str(&sql);
  }
  return mida__sqlite_prepare_built(s, rc, &sql, text, &s->stmt[which]) ==
                 MIDA_OK
             ? s->stmt[which]
             : NULL;
}

/* The statements every batch runs (its transaction and change number). */
static int prepare_statements(sqlite_sink *s) {
  static const int every_batch[] = {ST_BEGIN, ST_COMMIT, ST_SEQ};
  for (int i = 0; i < COUNT_OF(every_batch); i++)
    if (mida__sqlite_statement(s, every_batch[i]) == NULL)
      return MIDA_ESTORE;
  return MIDA_OK;
}

/* ---- binding ----------------------------------------------------------- */

/* Binds one record field to parameter idx. idbuf (MIDA_ID_STRLEN bytes) must
 * outlive the step, since ids are bound without a copy. */
void mida__sqlite_bind_field(sqlite3_stmt *st, int idx, unsigned tag,
                             const mida__field *f, char *idbuf) {
  switch (mida__field_kind(tag)) {
  case MIDA_KIND_ID:
    mida_id_format(&f->v.id, idbuf);
    sqlite3_bind_text(st, idx, idbuf, MIDA_ID_STRLEN - 1, SQLITE_STATIC);
    break;
  case MIDA_KIND_I64:
    if (tag == MIDA_F_STATUS)
      sqlite3_bind_text(st, idx, mida__status_name(f->v.i64), -1,
                        SQLITE_STATIC);
    else
      sqlite3_bind_int64(st, idx, f->v.i64);
    break;
  case MIDA_KIND_F64:
    if (isnan(f->v.f64))
      sqlite3_bind_null(st, idx);
    else
      sqlite3_bind_double(st, idx, f->v.f64);
    break;
  case MIDA_KIND_STR:
    sqlite3_bind_text(st, idx, f->v.str.ptr != NULL ? f->v.str.ptr : "",
                      (int)f->v.str.len, SQLITE_STATIC);
    break;
  default:
    sqlite3_bind_null(st, idx);
    break;
  }
}

/* Steps a bound statement inside the batch's transaction; on failure sets
 * the message. Clears the bindings. */
int mida__sqlite_step_write(sqlite_sink *s, sqlite3_stmt *st,
                            const char *what) {
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_DONE || rc == SQLITE_ROW)
    return MIDA_OK;
  return mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot write a %s record to store '%s': %s", what,
                         s->path, sqlite3_errmsg(s->db));
}

/* ---- entities: task, workflow, campaign -------------------------------- */

/* Adds record i to the batch's row images: folded into the image of the
 * same row when that is exact, else as a new image applied after it. */
static void fold_entity(sqlite_sink *s, const mida__rec *recs, size_t i,
                        int ent_no, size_t *nimages, batch_counts *counts) {
  const entity *ent = &entities[ent_no];
  const mida__rec *r = &recs[i];
  if (!mida__sqlite_field_usable(r, MIDA_F_ID, 0, counts)) {
    counts->skipped_records++;
    return;
  }
  uint32_t mask = 1, json_mask = 0;
  for (int c = 1; c < ent->ncolumns; c++) {
    int is_json = ent->columns[c].rule == MIDA_RULE_JSON;
    if (mida__sqlite_field_usable(r, ent->columns[c].tag, is_json, counts))
      mask |= (uint32_t)1 << c;
    if (is_json)
      json_mask |= (uint32_t)1 << c;
  }

  mida__fold_slot *slot =
      mida__fold_find(&s->fold, ent_no, &r->f[MIDA_F_ID].v.id);
  row_image *img = slot->image != 0 ? &s->images[slot->image - 1] : NULL;
  /* Two JSON values for one column would need merging here; leave that to
   * the store, in order, by starting a new image. */
  if (img != NULL && (img->mask & mask & json_mask) != 0) {
    img->shares_row = 1;
    img = NULL;
  }
  if (img == NULL) {
    img = &s->images[(*nimages)++];
    img->entity = (uint8_t)ent_no;
    img->shares_row = slot->image != 0;
    img->in_summary = 0;
    img->task_image = 0;
    img->mask = mask;
    for (int c = 0; c < ent->ncolumns; c++)
      img->source[c] = (uint32_t)i;
    slot->image = (uint32_t)*nimages;
    return;
  }
  for (int c = 1; c < ent->ncolumns; c++) {
    uint32_t bit = (uint32_t)1 << c;
    if ((mask & bit) == 0)
      continue;
    unsigned tag = ent->columns[c].tag;
    const mida__field *cur = &recs[img->source[c]].f[tag];
    const mida__field *inc = &r->f[tag];
    if ((img->mask & bit) == 0 ||
        mida__merge_takes(ent->columns[c].rule, inc->v.i64, cur->v.i64)) {
      img->source[c] = (uint32_t)i;
      img->mask |= bit;
    }
  }
}

/* The columns an image's upsert must set: those it has a value for, and
 * the MIDA_RULE_ORIGIN ones, which the batch's origin fills when the stored
 * row has no value. Every other column's merge keeps the stored value. */
static uint32_t image_set_mask(const entity *ent, const row_image *img) {
  uint32_t set = img->mask;
  for (int c = 1; c < ent->ncolumns; c++)
    if (ent->columns[c].rule == MIDA_RULE_ORIGIN)
      set |= (uint32_t)1 << c;
  return set;
}

/* The upsert for an image, into *out: the narrow one for the columns it
 * sets (made on first use), or the full one when it sets them all or the
 * cache is full. The full one is prepared only then: the task table's,
 * whose update has eight indexes to keep, and the workflow table's took
 * 1.15 M instructions to prepare, and a `mida run` of a short command,
 * 6.8 M in all, never used them (callgrind, 2026-12-05). */
static int image_upsert(sqlite_sink *s, const row_image *img,
                        sqlite3_stmt **out) {
  const entity *ent = &entities[img->entity];
  uint32_t all = ((uint32_t)1 << ent->ncolumns) - 1;
  uint32_t set = image_set_mask(ent, img) | 1u;
  for (int i = 0; set != all && i < s->nnarrow; i++)
    if (s->narrow[i].entity == img->entity && s->narrow[i].set_mask == set) {
      *out = s->narrow[i].stmt;
      return MIDA_OK;
    }
  if (set == all || s->nnarrow == NARROW_UPSERTS) {
    *out = mida__sqlite_statement(s, entity_statement[img->entity]);
    return *out != NULL ? MIDA_OK : MIDA_ESTORE;
  }
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  sqlite3_stmt *st = NULL;
  int rc = entity_sql(ent, set, &sql);
  rc = mida__sqlite_prepare_built(s, rc, &sql, mida__buf_str(&sql), &st);
  if (rc != MIDA_OK)
    return rc;
  s->narrow[s->nnarrow].entity = img->entity;
  s->narrow[s->nnarrow].set_mask = set;
  s->narrow[s->nnarrow].stmt = st;
  s->nnarrow++;
  *out = st;
  return MIDA_OK;
}

/* Finalizes the narrow upserts and the run summaries (at close, or before
 * a reopen). */
static void forget_built_statements(sqlite_sink *s) {
  for (int i = 0; i < s->nnarrow; i++)
    sqlite3_finalize(s->narrow[i].stmt);
  s->nnarrow = 0;
  mida__sqlite_forget_summaries(s);
}

/* Binds an image's row at the parameters after at (entity_sql's
 * parameters, each at + its number); ids (MIDA_MERGE_MAX_COLUMNS ids'
 * text) must outlive the step. */
static void bind_image(sqlite_sink *s, sqlite3_stmt *st, int at,
                       const mida__rec *recs, const row_image *img,
                       const mida__origin *origin,
                       char ids[][MIDA_ID_STRLEN]) {
  const entity *ent = &entities[img->entity];
  int extra = at + ent->ncolumns;
  for (int c = 0; c < ent->ncolumns; c++) {
    unsigned tag = ent->columns[c].tag;
    if (img->mask & ((uint32_t)1 << c))
      mida__sqlite_bind_field(st, at + c + 1, tag,
                              &recs[img->source[c]].f[tag], ids[c]);
    if (ent->columns[c].rule != MIDA_RULE_ORIGIN)
      continue;
    ++extra;
    if (origin != NULL && tag == MIDA_F_HOST && origin->host != NULL)
      sqlite3_bind_text(st, extra, origin->host, -1, SQLITE_STATIC);
    else if (origin != NULL && tag == MIDA_F_PID)
      sqlite3_bind_int64(st, extra, origin->pid);
  }
  if (has_seq(ent))
    sqlite3_bind_int64(st, at + seq_param(ent), s->batch_seq);
}

static int apply_image(sqlite_sink *s, const mida__rec *recs,
                       const row_image *img, const mida__origin *origin) {
  sqlite3_stmt *st;
  int rc = image_upsert(s, img, &st);
  if (rc != MIDA_OK)
    return rc;
  char ids[MIDA_MERGE_MAX_COLUMNS][MIDA_ID_STRLEN];
  bind_image(s, st, 0, recs, img, origin, ids);
  return mida__sqlite_step_write(s, st, entities[img->entity].table);
}

/* The multi-row statement of an image's rows (entity_rows_sql), or -1:
 * task and run rows, which a batch carries by the hundred (a Dask
 * scheduler's submissions, a worker's runs), and only an image that is
 * its row's one image in the batch: the rows of a statement are written
 * at once, before the images after them, so an image that must follow
 * another of its row waits for its turn. */
static int rows_statement(const row_image *img) {
  if (img->shares_row || img->in_summary)
    return -1;
  if (img->entity == ENT_TASK)
    return ST_TASK_ROWS_NEW;
  return img->entity == ENT_RUN ? ST_RUN_ROWS_NEW : -1;
}

/* Writes an image and, for a run's, its task's summary. */
static int apply_one(sqlite_sink *s, const mida__rec *recs,
                     const row_image *img, const mida__origin *origin) {
  int rc = apply_image(s, recs, img, origin);
  if (rc == MIDA_OK && img->entity == ENT_RUN)
    rc = mida__sqlite_apply_run_summary(s, recs, img, origin, 0);
  return rc;
}

/* Whether the store holds the row of image img: 1, 0, or -1 with the
 * sink's message set. */
static int row_held(sqlite_sink *s, const mida__rec *recs,
                    const row_image *img) {
  sqlite3_stmt *st = mida__sqlite_statement(
      s, img->entity == ENT_TASK ? ST_TASK_HELD : ST_RUN_HELD);
  if (st == NULL)
    return -1;
  char id[MIDA_ID_STRLEN];
  mida__sqlite_bind_field(st, 1, MIDA_F_ID, &recs[img->source[0]].f[MIDA_F_ID],
                          id);
  int rc = sqlite3_step(st);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    return rc == SQLITE_ROW;
  mida__sink_fail(&s->base, MIDA_ESTORE, "cannot read store '%s': %s",
                  s->path, sqlite3_errmsg(s->db));
  return -1;
}

/* Writes the n images of s->group, of one entity: when there are
 * IMAGE_ROWS_PER_STEP of them and *try_new, by one INSERT OR IGNORE of
 * rows (each statement's overhead -- its cursors, its registers freed --
 * shared, and its cursors left on the leaf where the next row goes; it
 * keeps no statement journal, as an upsert of many rows would); the rows
 * it left because the store held them are then merged by each image's
 * upsert, which merges the rows it inserted into themselves (applying an
 * image twice changes nothing), and *try_new is cleared for the rest of
 * the batch. The first row is looked up first: where the store holds it
 * (a scheduler's submissions after the workers' runs made the rows), the
 * rows are likely all there, and the INSERT would look each up in vain.
 * Else each by its upsert. Then the runs' summaries, in order: a summary
 * reads its own task's runs alone, whose rows are written by then (and a
 * run's row that the INSERT made is its image's values, which the
 * summary then takes without reading the row back). */
static int apply_group(sqlite_sink *s, const mida__rec *recs, size_t n,
                       const mida__origin *origin, int *try_new) {
  int rc = MIDA_OK, written = 0;
  if (n == IMAGE_ROWS_PER_STEP && *try_new) {
    int held = row_held(s, recs, &s->images[s->group[0]]);
    if (held < 0)
      return MIDA_ESTORE;
    *try_new = !held;
  }
  if (n == IMAGE_ROWS_PER_STEP && *try_new) {
    const row_image *first = &s->images[s->group[0]];
    sqlite3_stmt *st = mida__sqlite_statement(s, rows_statement(first));
    if (st == NULL)
      return MIDA_ESTORE;
    int per_row = row_params(&entities[first->entity]);
    for (size_t i = 0; i < n; i++)
      bind_image(s, st, (int)i * per_row, recs, &s->images[s->group[i]],
                 origin, s->group_ids[i]);
    rc = mida__sqlite_step_write(s, st, entities[first->entity].table);
    written = rc == MIDA_OK && sqlite3_changes(s->db) == (int)n;
    if (rc == MIDA_OK && !written)
      *try_new = 0;
  }
  for (size_t i = 0; i < n && rc == MIDA_OK; i++) {
    const row_image *img = &s->images[s->group[i]];
    if (!written)
      rc = apply_image(s, recs, img, origin);
    if (rc == MIDA_OK && img->entity == ENT_RUN)
      rc = mida__sqlite_apply_run_summary(s, recs, img, origin, written);
  }
  return rc;
}

/* Writes the batch's row images in array order (which keeps the order of
 * each row's images), the task and run images of a row of their own
 * IMAGE_ROWS_PER_STEP to a statement (apply_group): consecutive ones of
 * one entity, when the batch has many or the statement is prepared
 * already. Compiling the two statements costs ~1.5 M instructions (16
 * rows: 3.1 M for 32, 19 M for 64, which saved no more), what a Dask
 * worker's runs save in ~250 tasks and a scheduler's submissions in
 * ~40; a batch of fewer images (a `mida run` of a short command) leaves
 * them uncompiled. */
#define MANY_IMAGES_MIN (4 * IMAGE_ROWS_PER_STEP)
static int apply_images(sqlite_sink *s, const mida__rec *recs, size_t nimages,
                        const mida__origin *origin) {
  int many = nimages >= MANY_IMAGES_MIN ||
             s->stmt[ST_TASK_ROWS_NEW] != NULL ||
             s->stmt[ST_RUN_ROWS_NEW] != NULL;
  int try_new[ENT_COUNT] = {1, 1, 1, 1};
  int rc = MIDA_OK, which = -1;
  size_t n = 0; /* images in s->group */
  for (size_t k = 0; k < nimages && rc == MIDA_OK; k++) {
    const row_image *img = &s->images[k];
    if (img->in_summary)
      continue;
    int rows = many ? rows_statement(img) : -1;
    if (n > 0 && (rows != which || n == IMAGE_ROWS_PER_STEP)) {
      rc = apply_group(s, recs, n, origin,
                       &try_new[s->images[s->group[0]].entity]);
      n = 0;
    }
    if (rc != MIDA_OK)
      break;
    which = rows;
    if (rows < 0)
      rc = apply_one(s, recs, img, origin);
    else
      s->group[n++] = (uint32_t)k;
  }
  if (rc == MIDA_OK && n > 0)
    rc = apply_group(s, recs, n, origin,
                     &try_new[s->images[s->group[0]].entity]);
  return rc;
}

/* ---- put_batch --------------------------------------------------------- */

/* Makes room for the row images and hash slots of a batch of n records. */
static int reserve_scratch(sqlite_sink *s, size_t n) {
  if (n > UINT32_MAX / 4)
    return mida__sink_fail(&s->base, MIDA_EINVAL, "batch too large: %zu", n);
  if (n > s->images_cap) {
    row_image *p = mida__realloc(s->images, n * sizeof *p);
    if (p == NULL)
      return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
    s->images = p;
    s->images_cap = n;
  }
  if (mida__fold_reset(&s->fold, n) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  mida__rollup_reset(&s->rollup);
  return MIDA_OK;
}

/* Takes the write lock, waiting for other writers (other processes'
 * shippers) up to MIDA_SQLITE_BUSY_GIVE_UP_MS in all. */
static int begin_write(sqlite_sink *s, int64_t deadline_ms) {
  int rc = mida__sqlite_step_retry(s->stmt[ST_BEGIN], deadline_ms);
  if (rc == SQLITE_OK)
    return MIDA_OK;
  if (mida__sqlite_is_busy(rc))
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "store '%s' is busy: another writer held it for "
                           "%d s",
                           s->path, MIDA_SQLITE_BUSY_GIVE_UP_MS / 1000);
  return mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot begin a transaction on store '%s': %s",
                         s->path, sqlite3_errmsg(s->db));
}

/* Takes the batch's change number, inside its write transaction. */
static int next_change_seq(sqlite_sink *s) {
  sqlite3_stmt *st = s->stmt[ST_SEQ];
  int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    s->batch_seq = sqlite3_column_int64(st, 0);
  sqlite3_reset(st);
  if (rc == SQLITE_ROW)
    return MIDA_OK;
  return mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot number a batch in store '%s': %s", s->path,
                         sqlite3_errmsg(s->db));
}

/* Stores how often this sink found its file deleted or replaced (the
 * counter store_replaced of the batch's origin), in the batch's own
 * transaction on the new file. */
static int record_replaced(sqlite_sink *s, const mida__origin *origin,
                           batch_counts *counts) {
  mida__rec r;
  memset(&r, 0, sizeof r);
  r.type = MIDA_REC_COUNTER;
  r.f[MIDA_F_KEY].present = true;
  r.f[MIDA_F_KEY].v.str.ptr = "store_replaced";
  r.f[MIDA_F_KEY].v.str.len = (uint32_t)strlen("store_replaced");
  r.f[MIDA_F_VALUE_I].present = true;
  r.f[MIDA_F_VALUE_I].v.i64 = (int64_t)s->replaced;
  return mida__sqlite_apply_counter(s, &r, origin, counts);
}

static int reopen(sqlite_sink *s);

/* The page cache of a writer in mida's own processes (`mida run`,
 * `ingest`, `recover`), in KiB. SQLite's default, 2 MiB, holds fewer pages
 * than a pass over scattered keys touches (a file's data id: inode numbers
 * in the order a directory lists them): the shipper read back from the
 * WAL pages it had just written, and wrote dirty ones into the WAL before
 * the commit, to be written again at it. Pages are allocated as they are
 * used: a small store takes no more memory. Inside observed programs the
 * default stays. */
#define OWN_WRITER_CACHE_KIB 32768
static atomic_int own_process; /* mida__sink_own_process was called */
static atomic_int leave_wal;   /* mida__sink_leave_wal was called */

void mida__sink_own_process(void) {
  /* Fails (SQLITE_MISUSE) once SQLite is in use: then it stays as it is. */
  (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  mida__sqlite_ckpt_allow();
  atomic_store(&own_process, 1);
}

void mida__sink_leave_wal(void) { atomic_store(&leave_wal, 1); }

/* Whether this writer's WAL is left to another process (sink.h). */
static int wal_left(void) {
  return atomic_load(&own_process) && atomic_load(&leave_wal);
}

/* Where a batch's statement journals go. Once the task table has a
 * trigger (a declared key's, key_side.h), every upsert of a task in a
 * batch's transaction keeps a statement journal: the first image of each
 * page the statement changes, so that a failing statement can be undone
 * alone. Under temp_store = FILE SQLite keeps one in memory only up to
 * 64 KiB (SQLITE_STMTJRNL_SPILL; sqlite3_config changes it only for the
 * whole process, before SQLite is first used: not a library's to set),
 * and once one statement passes that, the journal is a file for the rest
 * of the transaction: about 17 writes per task (strace: 350,000 pwrite for
 * 20,000 tasks with one key, 19,000 without a trigger), a tenth of the
 * tasks/s of a store without a key. So a batch runs under
 * temp_store = MEMORY, and everything else (queries, schema changes,
 * index builds, migrations) under FILE, where sqlite_temp.h bounds it.
 *
 * This stays bounded: a batch runs only mida's own statements, each
 * writing a few rows by key (one entity, metric or block, with the
 * triggers' rows), except the updates of a lost process's unfinished
 * tasks, workflows and runs. A statement journal holds at most one image
 * (page size + 4 bytes) of each page the statement changes, so it is no
 * larger than what the statement itself writes to the WAL, and it is
 * freed when the statement ends. No statement of a batch sorts more than
 * the runs of one task (a run summary), so no sorter or temporary table
 * grows in memory either. SQLite reads temp_store when a transaction
 * begins (the statement journals) and when a sort begins, and changing
 * it outside a transaction, with no temporary database open (a store
 * connection creates no temporary table), costs nothing else.
 *
 * The setting changes only when it must: a batch sets MEMORY and leaves
 * it, and a query or a schema change sets FILE first (SQLite parses a
 * PRAGMA anew at each sqlite3_exec, and sets temp_store when it compiles
 * it, so it cannot be kept prepared: the two of every batch cost a Dask
 * process's shipper ~15,000 instructions a batch, bench_dask_ir.py). */
int mida__sqlite_set_temp_store(sqlite_sink *s, int memory) {
  if (s->temp_memory == memory)
    return MIDA_OK;
  const char *sql =
      memory ? "PRAGMA temp_store = MEMORY" : "PRAGMA temp_store = FILE";
  if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK) {
    s->temp_memory = memory;
    return MIDA_OK;
  }
  return mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot set where store '%s' keeps temporary data: "
                         "%s",
                         s->path, sqlite3_errmsg(s->db));
}

static int write_batch(sqlite_sink *s, const mida__rec *recs, size_t n,
                       const mida__origin *origin);

static int sqlite_put_batch(mida__sink *base, const mida__rec *recs, size_t n,
                            const mida__origin *origin) {
  sqlite_sink *s = (sqlite_sink *)base;
  if (s->flags & MIDA_SINK_READONLY)
    return mida__sink_fail(base, MIDA_EREADONLY,
                           "store '%s' was opened read-only", s->path);
  if (n == 0)
    return MIDA_OK;
  int rc = s->stale ? reopen(s) : MIDA_OK;
  if (rc == MIDA_OK)
    rc = prepare_statements(s);
  if (rc == MIDA_OK)
    rc = reserve_scratch(s, n);
  /* Inside a group's transaction, temp_store is MEMORY already. */
  if (rc == MIDA_OK && !s->group_open)
    rc = mida__sqlite_set_temp_store(s, 1);
  if (rc != MIDA_OK)
    return rc;
  /* temp_store stays MEMORY until a query or a schema change. */
  return write_batch(s, recs, n, origin);
}

static int end_write(sqlite_sink *s);

/* Applies the data records that the open group keeps for its commit,
 * sorted (data_rows.h). On a failure the group is over: what it kept is
 * dropped and its transaction rolled back, and the caller sends its
 * batches again. */
static int apply_kept_rows(sqlite_sink *s) {
  int rc = mida__sqlite_apply_data_rows(s);
  if (rc != MIDA_OK) {
    s->group_open = 0;
    mida__data_rows_clear(&s->data);
    if (!sqlite3_get_autocommit(s->db))
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
  return rc;
}

/* Commits the deferred batches' transaction, if one is open. */
static int sqlite_sync(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  if (!s->group_open)
    return MIDA_OK;
  int rc = apply_kept_rows(s);
  if (rc != MIDA_OK)
    return rc;
  s->group_open = 0;
  return end_write(s);
}

/* Applies what the open group keeps for its commit now, in the group's
 * transaction, which stays open (mida__sink_settle). */
static int sqlite_settle(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  return s->group_open ? apply_kept_rows(s) : MIDA_OK;
}

/* Applies a batch in one write transaction (sqlite_put_batch). */
static int write_batch(sqlite_sink *s, const mida__rec *recs, size_t n,
                       const mida__origin *origin) {
  int64_t deadline = mida__monotonic_ms() + MIDA_SQLITE_BUSY_GIVE_UP_MS;
  int rc = MIDA_OK;
  if (!s->group_open)
    rc = begin_write(s, deadline);
  if (rc != MIDA_OK)
    return rc;
  s->group_open = 0; /* until this batch has been applied */
  rc = next_change_seq(s);

  batch_counts counts = {0, 0};
  if (rc == MIDA_OK && s->replaced_unrecorded)
    rc = record_replaced(s, origin, &counts);
  size_t nimages = 0;
  for (size_t i = 0; i < n && rc == MIDA_OK; i++) {
    const mida__rec *r = &recs[i];
    switch (r->type) {
    case MIDA_REC_TASK:
      fold_entity(s, recs, i, ENT_TASK, &nimages, &counts);
      break;
    case MIDA_REC_WORKFLOW:
      fold_entity(s, recs, i, ENT_WORKFLOW, &nimages, &counts);
      break;
    case MIDA_REC_CAMPAIGN:
      fold_entity(s, recs, i, ENT_CAMPAIGN, &nimages, &counts);
      break;
    case MIDA_REC_RUN:
      if (mida__sqlite_field_usable(r, MIDA_F_TASK, 0, &counts))
        fold_entity(s, recs, i, ENT_RUN, &nimages, &counts);
      else
        counts.skipped_records++;
      break;
    case MIDA_REC_DATA:
      rc = mida__sqlite_keep_data(s, r, &counts);
      break;
    case MIDA_REC_DEP: /* after the rows, below */
      rc = mida__sqlite_keep_dep(s, r, &counts);
      break;
    case MIDA_REC_METRIC:
      rc = mida__sqlite_apply_metric(s, r, &counts);
      break;
    case MIDA_REC_TELEMETRY:
      rc = mida__sqlite_apply_telemetry(s, r, origin, &counts);
      break;
    case MIDA_REC_CURSOR:
      rc = mida__sqlite_apply_cursor(s, r, &counts);
      break;
    case MIDA_REC_COUNTER:
      rc = mida__sqlite_apply_counter(s, r, origin, &counts);
      break;
    case MIDA_REC_PAD:
    case MIDA_REC_LOST: /* after the rows, below */
      break;
    default:
      counts.skipped_records++;
      break;
    }
  }
  /* Images of one row were appended in the order of their records, so
   * applying them in array order keeps each row's order. A run's row also
   * updates its task's summary (schema.h, task_run), which may write a
   * task image too (mida__sqlite_plan_run_summaries). */
  if (rc == MIDA_OK)
    mida__sqlite_plan_run_summaries(s, recs, nimages);
  if (rc == MIDA_OK)
    rc = apply_images(s, recs, nimages, origin);
  if (rc == MIDA_OK)
    rc = mida__sqlite_apply_deps(s);
  for (size_t i = 0; i < n && rc == MIDA_OK; i++)
    if (recs[i].type == MIDA_REC_LOST)
      rc = mida__sqlite_apply_lost(s, &recs[i], origin, &counts);
  if (rc == MIDA_OK)
    rc = mida__sqlite_apply_blocks(s);
  /* The data records wait for the commit (data_rows.h). */
  if (rc == MIDA_OK && !s->base.deferred)
    rc = mida__sqlite_apply_data_rows(s);
  if (rc != MIDA_OK) {
    mida__data_rows_clear(&s->data);
    mida__dep_rows_clear(&s->deps);
    if (!sqlite3_get_autocommit(s->db))
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  s->skipped_records += counts.skipped_records;
  s->dropped_fields += counts.dropped_fields;
  if (s->base.deferred) {
    s->group_open = 1; /* committed by sqlite_sync */
    return MIDA_OK;
  }
  return end_write(s);
}

/* Commits the write transaction (of one batch, or of a group of deferred
 * ones) and checks that it went to the file at the path. */
static int end_write(sqlite_sink *s) {
  mida__sink *base = &s->base;
  int src = mida__sqlite_step_retry(
      s->stmt[ST_COMMIT], mida__monotonic_ms() + MIDA_SQLITE_BUSY_GIVE_UP_MS);
  if (src != SQLITE_OK) {
    int rc = mida__sink_fail(base, MIDA_ESTORE,
                             "cannot commit a batch to store '%s': %s", s->path,
                             sqlite3_errmsg(s->db));
    if (!sqlite3_get_autocommit(s->db))
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  /* Committed -- but to the file at the path? If it was deleted or
   * replaced, the batch fails (the shipper keeps it and sends it again)
   * and the path is opened afresh before the next one. */
  if (mida__sqlite_file_moved(s->db, s->path, &s->file)) {
    s->stale = 1;
    return mida__sink_fail(base, MIDA_ESTORE,
                           "store '%s' was deleted or replaced while this "
                           "process wrote to it: the batch goes again to "
                           "the file now at that path",
                           s->path);
  }
  s->replaced_unrecorded = 0;
  mida__sqlite_wal_bound(s->db, &s->file);
  if (!wal_left())
    mida__sqlite_ckpt_after_commit(s->ckpt);
  return MIDA_OK;
}

/* ---- open and close ---------------------------------------------------- */

/* Makes what a writer about to close committed durable. Under
 * synchronous = NORMAL (setup) no commit syncs the WAL: what is committed
 * reaches the disk at a checkpoint, and the close checkpoints only when
 * it is the store's last connection. With a reader open (`mida serve`, a
 * notebook's connection, a `mida query`), `mida run` returned with the
 * run's last records in a WAL that no one had synced (strace: no
 * fdatasync after the commits), which a power loss could take. So the
 * writer checkpoints first (PASSIVE: it waits for no one; it syncs the
 * WAL before it copies and the database after), and syncs the WAL itself
 * when a reader's snapshot kept some of it from being copied. As the last
 * connection, this checkpoint is the one the close would have made, and
 * the close finds nothing left to copy or sync. Only in mida's own
 * processes (`mida run`, `ingest`, `recover`: they say what they stored);
 * inside someone else's program the close stays SQLite's, as its
 * checkpoints do (sqlite_checkpoint.h). */
static void make_durable_before_close(sqlite_sink *s) {
  if (s->db == NULL || (s->flags & MIDA_SINK_READONLY) ||
      !atomic_load(&own_process))
    return;
  int log = 0, copied = 0;
  int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                     &log, &copied);
  if (rc == SQLITE_OK && copied >= log) {
    /* All copied back and synced (or no WAL: -1, -1). The close of the
     * store's last connection then deletes the WAL under the database's
     * exclusive lock, and another process's connection that opens it
     * meanwhile without a busy wait (the sqlite3 shell, a script's
     * timeout=0) failed with "database is locked": ~1 read in 10 right
     * after `mida run` returned, as its detached settle closed. The WAL is
     * emptied first, outside that lock (readers read on), so that its
     * deletion frees no blocks under it. Not waited for: a reader still
     * on the WAL (busy) leaves it for the close, as before. */
    if (log > 0) {
      sqlite3_busy_handler(s->db, NULL, NULL);
      (void)sqlite3_wal_checkpoint_v2(s->db, "main",
                                      SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    return;
  }
  sqlite3_file *wal = NULL;
  if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) !=
          SQLITE_OK ||
      wal == NULL || wal->pMethods == NULL)
    return; /* no WAL open */
  (void)wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
}

static void sqlite_close(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  if (s == NULL)
    return;
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->stmt[i]);
  forget_built_statements(s);
  /* Its connection first: the writer's close, the last, checkpoints what
   * is left and removes the WAL; with other connections open, it leaves
   * the WAL as it is: make_durable_before_close. In a process that leaves
   * its WAL to another (mida__sink_leave_wal), it does neither. */
  mida__sqlite_ckpt_stop(s->ckpt, s->db);
  if (s->db != NULL && wal_left())
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  else
    make_durable_before_close(s);
  mida__sqlite_conn_closing(s->db);
  sqlite3_close(s->db);
  mida__free(s->images);
  mida__data_rows_free(&s->data);
  mida__dep_rows_free(&s->deps);
  mida__fold_free(&s->fold);
  mida__rollup_free(&s->rollup);
  mida__free(s);
}

/* Configures a freshly opened connection and, unless read-only, creates the
 * schema. */
static int setup(sqlite_sink *s) {
  int readonly = (s->flags & MIDA_SINK_READONLY) != 0;
  int64_t deadline = mida__monotonic_ms() + MIDA_SQLITE_BUSY_GIVE_UP_MS;
  sqlite3_busy_handler(s->db, mida__sqlite_busy_wait, NULL);
  /* Reading the schema is the first access to the file: a file that is not
   * a database fails here, with SQLite's "file is not a database". */
  int rc = mida__sqlite_exec_retry(s->db, "SELECT count(*) FROM sqlite_schema",
                                   deadline);
  if (rc == SQLITE_OK && readonly)
    rc = sqlite3_exec(s->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
  /* Temporary data in files, where the query guard bounds it
   * (sqlite_temp.h), never in unbounded memory (but for a batch's
   * statement journals, mida__sqlite_set_temp_store). */
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db, "PRAGMA temp_store = FILE", NULL, NULL, NULL);
  s->temp_memory = 0;
  /* A reader's single value (a string or blob a query makes, such as
   * randomblob(N) or a group_concat) stays within this, in memory. */
  if (rc == SQLITE_OK && readonly)
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, MIDA_SQLITE_READER_VALUE_MAX);
  if (rc == SQLITE_OK && !readonly)
    rc = mida__sqlite_exec_retry(s->db, "PRAGMA journal_mode = WAL", deadline);
  if (rc == SQLITE_OK && !readonly)
    rc = sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
  /* SQLite's automatic checkpoint at MIDA_SQLITE_CKPT_FALLBACK_FRAMES
   * (sqlite_checkpoint.h says why), until connect_store hands the WAL to
   * a checkpointing thread. */
  if (rc == SQLITE_OK && !readonly)
    rc = sqlite3_wal_autocheckpoint(s->db, MIDA_SQLITE_CKPT_FALLBACK_FRAMES);
  /* The bound on the WAL while readers run (sqlite_file.h). */
  if (rc == SQLITE_OK && !readonly)
    rc = mida__sqlite_file_init(s->db, &s->file);
  if (rc == SQLITE_OK)
    rc = mida__sqlite_register_functions(s->db);
  if (rc != SQLITE_OK)
    return mida__sink_fail(&s->base, MIDA_ESTORE, "cannot open store '%s': %s",
                           s->path, sqlite3_errmsg(s->db));
  if (!readonly)
    return mida__sqlite_schema_create(&s->base, s->db, s->path, deadline);
  int version = mida__sqlite_schema_version(s->db);
  if (version > MIDA_SCHEMA_VERSION)
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "store '%s' has schema version %d, newer than "
                           "this mida's (%d): use a newer mida",
                           s->path, version, MIDA_SCHEMA_VERSION);
  return MIDA_OK;
}

/* Opens s->path (created unless read-only or NOCREATE) and sets the
 * connection up. */
static int connect_store(sqlite_sink *s) {
  /* A read-only store is never created: `mida query` on a misspelt path
   * must say so rather than make an empty file. */
  int create = !(s->flags & (MIDA_SINK_NOCREATE | MIDA_SINK_READONLY));
  struct stat sb;
  if (stat(s->path, &sb) != 0) {
    int e = errno;
    if (!create && e == ENOENT)
      return mida__sink_fail(&s->base, MIDA_ENOTFOUND,
                             "store '%s' does not exist", s->path);
    if (e != ENOENT)
      return mida__sink_fail(&s->base, MIDA_ESTORE,
                             "cannot open store '%s': %s", s->path,
                             strerror(e));
    /* Made here, private, before SQLite makes it with 0644 less the umask:
     * the store holds argv and parameters. SQLite gives its WAL and shared
     * memory files the mode of the database file. */
    int fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd < 0 && errno != EEXIST) /* EEXIST: another process made it */
      return mida__sink_fail(&s->base, MIDA_ESTORE,
                             "cannot create store '%s': %s", s->path,
                             strerror(errno));
    if (fd >= 0)
      close(fd);
  } else if (S_ISDIR(sb.st_mode)) {
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "cannot open store '%s': it is a directory",
                           s->path);
  }
  /* A reader's connection cannot write at all (the query guard's first
   * line; WAL readers still read while writers write). */
  int oflags = (s->flags & MIDA_SINK_READONLY ? SQLITE_OPEN_READONLY
                                              : SQLITE_OPEN_READWRITE) |
               SQLITE_OPEN_NOMUTEX;
  if (create)
    oflags |= SQLITE_OPEN_CREATE;
  /* A fork child's inherited connections first (sqlite_fork.h). */
  if (mida__sqlite_conn_before_open() != 0)
    return mida__sink_fail(
        &s->base, MIDA_EBUSY,
        "cannot open store '%s' in this process: it was forked while its "
        "parent wrote to the store, whose state it inherited; its records "
        "stay in its journal for 'mida recover' once it has ended",
        s->path);
  /* A reader that cannot write beside a store no one has open reads it
   * as an unchanging file (sqlite_immutable.h). */
  char *uri = s->flags & MIDA_SINK_READONLY
                  ? mida__sqlite_immutable_uri(s->path)
                  : NULL;
  if (uri != NULL)
    oflags |= SQLITE_OPEN_URI;
  int src = sqlite3_open_v2(uri != NULL ? uri : s->path, &s->db, oflags,
                            mida__sqlite_temp_vfs());
  mida__free(uri);
  if (src == SQLITE_OK)
    mida__sqlite_conn_opened(s->db);
  if (src != SQLITE_OK) {
    int e = s->db != NULL ? sqlite3_system_errno(s->db) : 0;
    return mida__sink_fail(
        &s->base, MIDA_ESTORE, "cannot open store '%s': %s%s%s%s", s->path,
        s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(src),
        e ? " (" : "", e ? strerror(e) : "", e ? ")" : "");
  }
  /* A reader may be pointed at a file someone else made: its views,
   * triggers and generated columns may call no function that is not
   * innocuous (mida's are), and nothing may corrupt the file. */
  if (s->flags & MIDA_SINK_READONLY) {
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  }
  int rc = setup(s);
  if (rc == MIDA_OK && !(s->flags & MIDA_SINK_READONLY) &&
      atomic_load(&own_process)) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", OWN_WRITER_CACHE_KIB);
    (void)sqlite3_exec(s->db, sql, NULL, NULL, NULL); /* else the default */
  }
  if (rc == MIDA_OK && !(s->flags & MIDA_SINK_READONLY)) {
    (void)mida__sqlite_file_moved(s->db, s->path, &s->file); /* the WAL */
    s->ckpt = mida__sqlite_ckpt_watch(s->db, s->path, mida__sqlite_temp_vfs());
  }
  return rc;
}

/* Closes the connection to a file that is no longer at the path and opens
 * the path again. */
static int reopen(sqlite_sink *s) {
  for (int i = 0; i < ST_COUNT; i++) {
    sqlite3_finalize(s->stmt[i]);
    s->stmt[i] = NULL;
  }
  forget_built_statements(s);
  /* The old files' WAL and shared memory go while this connection still
   * holds them open, so that their inode numbers cannot have been reused
   * by new files at the path; and the close must not checkpoint or delete
   * anything by name, which would now be someone else's file. */
  mida__sqlite_file_forget(s->path, &s->file);
  mida__sqlite_ckpt_stop(s->ckpt, s->db);
  s->ckpt = NULL;
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  mida__sqlite_conn_closing(s->db);
  sqlite3_close(s->db);
  s->db = NULL;
  int rc = connect_store(s);
  if (rc != MIDA_OK)
    return rc;
  s->stale = 0;
  s->replaced++;
  s->replaced_unrecorded = 1;
  return MIDA_OK;
}

/* Runs mida's own schema statements (sink.h, exec_schema) in one write
 * transaction: an index build on a large store takes a while, and the
 * other writers wait for it as for a long batch. */
static int sqlite_exec_schema(mida__sink *base, const char *sql) {
  sqlite_sink *s = (sqlite_sink *)base;
  if (s->flags & MIDA_SINK_READONLY)
    return mida__sink_fail(base, MIDA_EREADONLY,
                           "store '%s' is open read-only", s->path);
  /* An index build sorts in files, within its bound
   * (mida__sqlite_set_temp_store). */
  if (!s->group_open && mida__sqlite_set_temp_store(s, 0) != MIDA_OK)
    return MIDA_ESTORE;
  int64_t deadline = mida__monotonic_ms() + MIDA_SQLITE_BUSY_GIVE_UP_MS;
  int rc = mida__sqlite_exec_retry(s->db, "BEGIN IMMEDIATE", deadline);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = mida__sqlite_exec_retry(s->db, "COMMIT", deadline);
  if (rc == SQLITE_OK)
    return MIDA_OK;
  int failed = mida__sink_fail(base, MIDA_ESTORE, "store '%s': %s", s->path,
                               sqlite3_errmsg(s->db));
  if (!sqlite3_get_autocommit(s->db))
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return failed;
}

static int sqlite_open(const char *url, int flags, mida__sink **out, char *err,
                       size_t errlen) {
  *out = NULL;
  sqlite_sink *s = mida__calloc(1, sizeof *s);
  if (s == NULL) {
    if (err != NULL && errlen > 0)
      snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  s->base.methods = &mida__sqlite_sink;
  s->flags = flags;
  int rc = mida__url_sqlite_path(url, s->path, sizeof s->path);
  if (rc != MIDA_OK) {
    /* As every message shows a URL: a conninfo's password masked. */
    char shown[MIDA_URL_SHOWN];
    rc = mida__sink_fail(&s->base, MIDA_EURL,
                         "'%s' does not name an SQLite file",
                         mida__url_redact(url, shown, sizeof shown));
    goto fail;
  }
  rc = connect_store(s);
  if (rc != MIDA_OK)
    goto fail;
  *out = &s->base;
  return MIDA_OK;
fail:
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", s->base.errmsg);
  sqlite_close(&s->base);
  return rc;
}

/* SQLite reads its temporary directory (SQLITE_TMPDIR, TMPDIR) when it
 * starts: here, on the thread of mida_open (sink.h). */
static void sqlite_process_init(void) {
  (void)sqlite3_initialize();
}

/* The file open is not the one at the path (deleted, renamed, or
 * another put in its place): SQLite's unix VFS compares the inode. */
static int sqlite_moved(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  int moved = 0;
  if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) !=
      SQLITE_OK)
    return 0; /* a VFS that cannot tell: nothing to go by */
  return moved != 0;
}

const mida__sink_methods mida__sqlite_sink = {
    "sqlite",
    sqlite_open,
    sqlite_put_batch,
    mida__sqlite_query,
    sqlite_exec_schema,
    sqlite_close,
    mida__sqlite_cancel,
    sqlite_sync,
    sqlite_process_init,
    sqlite_settle,
    sqlite_moved,
    NULL, /* check_url: a path, whose mistakes sink.c's backend_for says */
    mida__sqlite_snapshot,
};

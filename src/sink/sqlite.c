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
 * begin), rather than a second statement writing the same row.
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
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "sink/data_rows.h"
#include "sink/key_side.h"
#include "sink/merge.h"
#include "sink/rollup.h"
#include "sink/sink.h"
#include "sink/sqlite_checkpoint.h"
#include "sink/sqlite_file.h"
#include "sink/sqlite_fork.h"
#include "sink/sqlite_temp.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crc32c.h"
#include "core/json.h"
#include "core/number.h"
#include "core/url.h"
#include "sink/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long one attempt waits for another writer inside SQLite, and how long
 * a batch keeps trying before it gives up. */
#define BUSY_TIMEOUT_MS 2000
_Static_assert(BUSY_TIMEOUT_MS == MIDA_SQLITE_WAL_WAIT_MS,
               "the WAL reset waits for readers as long as a busy wait");
#define BUSY_GIVE_UP_MS 30000

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define MIDA_SCHEMA_VERSION_TEXT STRINGIFY(MIDA_SCHEMA_VERSION)

/* ---- the row images of merged entities --------------------------------- */


/* The prepared statements a sink caches, one per record type and a few for
 * transactions. */
enum {
  ST_TASK,
  ST_WORKFLOW,
  ST_CAMPAIGN,
  ST_DATA,
  ST_TASK_DATA,
  ST_DATA_ROWS,      /* ST_DATA with ROWS_PER_STEP rows */
  ST_TASK_DATA_ROWS, /* ST_TASK_DATA with ROWS_PER_STEP rows */
  ST_DEP,
  ST_METRIC,
  ST_TELEMETRY,
  ST_CURSOR,
  ST_COUNTER,
  ST_SEQ,
  ST_TOUCH,
  ST_BLOCK,
  ST_RUN,
  ST_LOST_TASKS,
  ST_LOST_WORKFLOWS,
  ST_LOST_RUNS,
  ST_BEGIN,
  ST_COMMIT,
  ST_COUNT
};

/* The merged tables and their columns: one table for every store. */
typedef mida__merge_entity entity;
enum {
  ENT_TASK = MIDA_ENT_TASK,
  ENT_WORKFLOW = MIDA_ENT_WORKFLOW,
  ENT_CAMPAIGN = MIDA_ENT_CAMPAIGN,
  ENT_RUN = MIDA_ENT_RUN,
  ENT_COUNT = MIDA_ENT_COUNT
};
static const entity *const entities = mida__merge_entities;

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The cached upsert statement of each merged table. */
static const int entity_statement[ENT_COUNT] = {
    [ENT_TASK] = ST_TASK,
    [ENT_WORKFLOW] = ST_WORKFLOW,
    [ENT_CAMPAIGN] = ST_CAMPAIGN,
    [ENT_RUN] = ST_RUN,
};

/* One row image within a batch: which record supplies each column. */
typedef struct row_image {
  uint8_t entity;               /* ENT_* */
  uint8_t shares_row;           /* another image of its row is in the batch */
  uint8_t in_summary;           /* a task's: its run's summary writes it */
  uint32_t mask;                /* bit c: column c has a source */
  uint32_t task_image;          /* a run's: the number + 1 of the task
                                   image its summary writes too; 0: none */
  uint32_t source[MIDA_MERGE_MAX_COLUMNS]; /* index in the batch of the
                                              record of column c */
} row_image;

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

/* The data records of a transaction go ROWS_PER_STEP to a statement, in
 * the order of their keys (data_rows.h): each statement's overhead (its
 * cursors opened and closed, its registers freed: ~4,000 instructions)
 * is shared, and the cursors, left on the leaf of the last row, append
 * the next ones without a descent from the root. A file record of `mida
 * recover` of `tar c`'s 10,000 into a new store ~24,200 -> ~15,800
 * instructions (one a statement) -> ~15,400 (128 a statement, which took
 * twice as long to compile). Such a statement keeps a statement journal
 * (it can fail after some rows), which is part of the figure. */
#define ROWS_PER_STEP 64
#define MANY_ROWS_MIN (4 * ROWS_PER_STEP)

/* An upsert's DO UPDATE writes its row even when no value changes: a file
 * read again by every run (a source, a header, an input) had its data row
 * and its link written anew each time, a dirty page in the WAL and a
 * checkpoint's copy each. The WHERE of data's and task_data's lets only a
 * change through. */
#define DATA_COLUMNS "data(id, kind, uri, size, digest, metadata)"
#define DATA_UPSERT                                                            \
  " ON CONFLICT(id) DO UPDATE SET"                                             \
  " kind = coalesce(excluded.kind, data.kind),"                                \
  " uri = coalesce(excluded.uri, data.uri),"                                   \
  " size = coalesce(excluded.size, data.size),"                                \
  " digest = coalesce(excluded.digest, data.digest),"                          \
  " metadata = mida_merge(data.metadata, excluded.metadata)"                   \
  " WHERE coalesce(excluded.kind, data.kind) IS NOT data.kind"                 \
  " OR coalesce(excluded.uri, data.uri) IS NOT data.uri"                       \
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
    [ST_LOST_TASKS] = MIDA_LOST_TASKS_SQL("?6"),
    [ST_LOST_WORKFLOWS] = MIDA_LOST_WORKFLOWS_SQL("?6"),
    [ST_LOST_RUNS] = MIDA_LOST_RUNS_SQL,
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
};

/* The summary of task ?1 from its runs (schema.h, task_run), with the
 * batch's change number ?2: the latest run (the last entry of
 * task_run_by_task, whose entries end with the run's id) and scalar
 * subqueries on the same index. A CTE of the runs read twice would be
 * materialized, with a temporary B-tree for its ORDER BY, for every run a
 * batch applies (about 3 times the CPU). Its variants also write the
 * columns of the task's image in the batch that no run summarises (the
 * scheduler's submission, the worker's arguments and result) in the same
 * statement (run_summary_sql): the image's status as ?3 and ?4
 * (RUN_SUMMARY_STATUS), its other columns as ?5 and on.
 *
 * Three forms of it, which write the same row (apply_run_summary):
 *
 *   SUMMARY_UPDATE  the task's row, when it has one and a run of it has
 *                   started (the run applied just before has);
 *   SUMMARY_INSERT  the row, when the UPDATE found none (or before it,
 *                   for a task image that is likely a new row's: the
 *                   INSERT ignores a row that is there);
 *   SUMMARY_UPSERT  either, when no run may have started (a run's end
 *                   alone): no row if none has.
 *
 * Why not the upsert alone: a statement that may write more than one row
 * (an INSERT ... SELECT) and that may fail part way (it calls a function
 * of mida's, which may fail, as every function call may for SQLite) keeps
 * a statement journal, a copy of each page it changes, so that a failure
 * undoes that statement alone (SQLite's usesStmtJournal: isMultiWrite and
 * mayAbort). A failing statement fails the whole batch, which is rolled
 * back (write_batch): mida has no use for it, and it was a sixth of the
 * instructions of a Dask worker's shipper. An UPDATE of one row by its key
 * writes one row; an INSERT OR IGNORE ... SELECT that calls no function
 * cannot abort; neither keeps one. The INSERT's IGNORE leaves a row that
 * is there to the UPDATE (which then runs); IGNORE rather than FAIL also
 * because the statements of a trigger take the conflict clause of the
 * statement that fires them, and those of the key triggers (key_side.h)
 * are INSERT OR IGNORE. */

/* The status that task ?1's runs give it, beside its latest run r:
 * FINISHED if any run that started finished, else RUNNING. A CASE
 * evaluates a WHEN only when the ones before it are false: the latest
 * run's status decides alone when it is FINISHED (nearly always), and the
 * other runs' are read (from the table: task_run_by_task does not hold
 * them) only when it is not. The number of runs comes from the index
 * alone. Merged with the status of a task image written in the same
 * statement, without a function call (which would make the INSERT keep a
 * statement journal, below): ?3 is that status where it ranks above
 * FINISHED, ?4 where it ranks above RUNNING, else NULL (bind_summary). */
#define RUN_SUMMARY_STATUS                                                     \
  "CASE WHEN r.status = 'FINISHED' THEN coalesce(?3, 'FINISHED')"              \
  " WHEN EXISTS (SELECT 1 FROM task_run f WHERE f.task_id = ?1"                \
  " AND f.started IS NOT NULL AND f.status = 'FINISHED')"                      \
  " THEN coalesce(?3, 'FINISHED') ELSE coalesce(?4, 'RUNNING') END"
#define RUN_SUMMARY_INSERT                                                     \
  "INSERT INTO task(id, status, started, ended, host, pid, worker,"            \
  " telemetry, attempts, seq"
#define RUN_SUMMARY_INSERT_OR_IGNORE                                           \
  "INSERT OR IGNORE INTO task(id, status, started, ended, host, pid,"          \
  " worker, telemetry, attempts, seq"
#define RUN_SUMMARY_SELECT                                                     \
  ") SELECT ?1, " RUN_SUMMARY_STATUS ","                                       \
  " r.started, r.ended, r.host, r.pid, r.worker, r.telemetry,"                 \
  " (SELECT count(*) FROM task_run WHERE task_id = ?1"                         \
  " AND started IS NOT NULL), ?2"
#define RUN_SUMMARY_FROM                                                       \
  " FROM task_run r WHERE r.task_id = ?1 AND r.started IS NOT NULL"            \
  " ORDER BY r.started DESC, r.id DESC LIMIT 1"
#define RUN_SUMMARY_UPSERT                                                     \
  " ON CONFLICT(id) DO UPDATE SET"                                             \
  " status = mida_status_merge(task.status, excluded.status),"                 \
  " started = excluded.started, ended = excluded.ended,"                       \
  " host = excluded.host, pid = excluded.pid, worker = excluded.worker,"       \
  " telemetry = excluded.telemetry, attempts = excluded.attempts,"             \
  " seq = excluded.seq"
/* The UPDATE: the latest run's columns from one subquery (SQLite reads a
 * row value's subquery once), with the status merged into the stored
 * one. */
#define RUN_SUMMARY_UPDATE                                                     \
  "UPDATE task SET (started, ended, host, pid, worker, telemetry, status) ="   \
  " (SELECT r.started, r.ended, r.host, r.pid, r.worker, r.telemetry,"         \
  " mida_status_merge(task.status, " RUN_SUMMARY_STATUS ")" RUN_SUMMARY_FROM   \
  "), attempts = (SELECT count(*) FROM task_run WHERE task_id = ?1"            \
  " AND started IS NOT NULL), seq = ?2"

/* The forms of a run summary (above). */
enum { SUMMARY_UPDATE, SUMMARY_INSERT, SUMMARY_UPSERT, SUMMARY_FORMS };

/* The run summaries prepared so far, one per set of task columns they
 * also write (run_summary_sql), up to RUN_SUMMARIES sets; past that, a
 * task image keeps its own upsert (plan_run_summaries). */
#define RUN_SUMMARIES 16
typedef struct run_summary {
  uint32_t task_mask;                /* bit c: it writes task column c too */
  sqlite3_stmt *stmt[SUMMARY_FORMS]; /* each form, once prepared, or NULL */
} run_summary;

/* The upserts of a merged table that update only some of its columns:
 * an UPDATE rewrites the entries of every index on a column that its SET
 * names, even when the value stays the same, so an upsert that sets every
 * column rewrites every index entry of the row (and dirties the index
 * pages all over again). A row image sets the columns it has a value for
 * (and the ones a merge fills from elsewhere); the others keep the stored
 * value, which is what the full upsert would have computed for them. One
 * statement per (table, columns) seen, up to NARROW_UPSERTS of them; past
 * that, the full upsert. */
#define NARROW_UPSERTS 24
typedef struct narrow_upsert {
  uint8_t entity;     /* ENT_* */
  uint32_t set_mask;  /* bit c: the SET clause names column c */
  sqlite3_stmt *stmt; /* its upsert */
} narrow_upsert;

typedef struct sqlite_sink {
  mida__sink base;              /* common head; must be first */
  sqlite3 *db;                  /* the connection */
  int flags;                    /* MIDA_SINK_* given to open */
  char path[1024];              /* the file, for messages */
  sqlite3_stmt *stmt[ST_COUNT]; /* prepared on first use, or NULL */
  narrow_upsert narrow[NARROW_UPSERTS]; /* upserts that set some columns */
  int nnarrow;                  /* entries used in narrow */
  run_summary summary[RUN_SUMMARIES]; /* run summaries prepared */
  int nsummary;                       /* entries used in summary */
  row_image *images;            /* scratch: row images of a batch */
  size_t images_cap;            /* entries allocated at images */
  mida__data_rows data;         /* the open transaction's data records,
                                   applied at its commit (data_rows.h) */
  mida__fold fold;              /* scratch: rows to their images */
  mida__rollup rollup;          /* scratch: the batch's metric blocks */
  uint64_t skipped_records;     /* records skipped since open */
  uint64_t dropped_fields;      /* malformed JSON fields dropped */
  int64_t batch_seq;            /* the change number of the open batch */
  mida__sqlite_file file;       /* identity of the files, WAL bound */
  mida__sqlite_ckpt *ckpt;      /* the WAL's checkpoints off this thread */
  int stale;                    /* the file at path is not the one open:
                                   reopen before the next batch */
  uint64_t replaced;            /* times the store had to be reopened */
  int replaced_unrecorded;      /* replaced not yet stored as a counter */
  int group_open;               /* deferred batches' write transaction is
                                   open: sqlite_sync commits it */
  int temp_memory;              /* temp_store is MEMORY (set_temp_store) */
  mida__sqlite_temp_budget temp; /* queries' temporary files */
  int64_t query_deadline_ms;    /* monotonic end of the running query, 0 */
  int64_t query_stop_asked_ms;  /* when limits.stop was last asked */
  int query_timed_out;          /* the progress handler ended it */
  volatile sig_atomic_t cancelled; /* sqlite_cancel was called */
} sqlite_sink;

/* Counts of one batch, added to the sink's when the batch commits. */
typedef struct batch_counts {
  uint64_t skipped_records; /* unknown type or key fields missing */
  uint64_t dropped_fields;  /* JSON fields that were not JSON objects */
} batch_counts;

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

/* ---- status names and SQL functions ------------------------------------ */

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

/* ---- small helpers ----------------------------------------------------- */

static int64_t monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps before trying a busy store again: a wait that holds no
 * process-wide lock, during which the program may fork (sink.h). */
static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  mida__sink_blocking_begin();
  nanosleep(&ts, NULL);
  mida__sink_blocking_end();
}

/* SQLite's busy handler, as sqlite3_busy_timeout(BUSY_TIMEOUT_MS) would
 * install it (the same delays, 1 ms growing to 100 ms), but with its
 * sleeps made through sleep_ms: a statement that waits for another
 * program's lock lets this program fork meanwhile. */
static int busy_wait(void *arg, int count) {
  (void)arg;
  static const unsigned char delays[] = {1,  2,  5,  10, 15, 20,
                                         25, 25, 25, 50, 50, 100};
  enum { NDELAYS = sizeof delays / sizeof delays[0] };
  int prior = 0;
  for (int i = 0; i < count && i < NDELAYS; i++)
    prior += delays[i];
  if (count > NDELAYS)
    prior += (count - NDELAYS) * 100;
  int delay = count < NDELAYS ? delays[count] : 100;
  if (prior + delay > BUSY_TIMEOUT_MS)
    delay = BUSY_TIMEOUT_MS - prior;
  if (delay <= 0)
    return 0;
  sleep_ms(delay);
  return 1;
}

static int is_busy(int rc) {
  return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

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

/* Runs SQL that returns no rows the caller needs, retrying while the store
 * is busy until deadline_ms (monotonic). */
static int exec_retry(sqlite3 *db, const char *sql, int64_t deadline_ms) {
  int delay = 1;
  for (;;) {
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (!is_busy(rc) || monotonic_ms() >= deadline_ms)
      return rc;
    sleep_ms(delay);
    delay = delay < 32 ? delay * 2 : 50;
  }
}

/* Steps a prepared statement that returns no rows, retrying while busy until
 * deadline_ms. Leaves the statement reset. */
static int step_retry(sqlite3_stmt *st, int64_t deadline_ms) {
  int delay = 1;
  for (;;) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
      return SQLITE_OK;
    if (!is_busy(rc) || monotonic_ms() >= deadline_ms)
      return rc;
    sleep_ms(delay);
    delay = delay < 32 ? delay * 2 : 50;
  }
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
static int merge_expr(const entity *ent, int c, mida__buf *out) {
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
      rc = merge_expr(ent, c, out);
    if (rc == MIDA_OK && from_runs)
      rc = mida__buf_adds(out, " END");
  }
  return rc;
}

/* Prepares text, kept across many steps, into *out, once build_rc (the
 * result of building it into sql) says it could be built; frees sql. */
static int prepare_built(sqlite_sink *s, int build_rc, mida__buf *sql,
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

/* Statement which (ST_*), prepared on its first use: a connection that
 * writes tasks and files never compiles the metric, telemetry or lost-
 * process statements (a short-lived writer, a `mida run`, used to prepare
 * all of them, ~150,000 instructions each). Returns NULL, with the sink's
 * message set, if it cannot be prepared. */
static sqlite3_stmt *statement(sqlite_sink *s, int which) {
  if (s->stmt[which] != NULL)
    return s->stmt[which];
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  int rc = MIDA_OK;
  const char *text = fixed_sql[which];
  if (which == ST_DATA_ROWS || which == ST_TASK_DATA_ROWS) {
    int data = which == ST_DATA_ROWS;
    rc =
        mida__buf_adds(&sql, data ? "INSERT INTO " DATA_COLUMNS " VALUES"
                                  : "INSERT INTO " TASK_DATA_COLUMNS " VALUES");
    for (int i = 0; i < ROWS_PER_STEP && rc == MIDA_OK; i++)
      rc = mida__buf_adds(&sql, data ? &",(?, ?, ?, ?, ?, ?)"[i == 0]
                                     : &",(?, ?, ?, ?, ?)"[i == 0]);
    if (rc == MIDA_OK)
      rc = mida__buf_adds(&sql, data ? DATA_UPSERT : TASK_DATA_UPSERT);
    text = mida__buf_str(&sql);
  }
  for (int e = 0; e < ENT_COUNT && text == NULL; e++) {
    if (entity_statement[e] != which)
      continue;
    rc = entity_sql(&entities[e], ~0u, &sql);
    text = mida__buf_str(&sql);
  }
  return prepare_built(s, rc, &sql, text, &s->stmt[which]) == MIDA_OK
             ? s->stmt[which]
             : NULL;
}

/* The statements every batch runs (its transaction and change number). */
static int prepare_statements(sqlite_sink *s) {
  static const int every_batch[] = {ST_BEGIN, ST_COMMIT, ST_SEQ};
  for (int i = 0; i < COUNT_OF(every_batch); i++)
    if (statement(s, every_batch[i]) == NULL)
      return MIDA_ESTORE;
  return MIDA_OK;
}

/* ---- binding ----------------------------------------------------------- */

/* Binds one record field to parameter idx. idbuf (MIDA_ID_STRLEN bytes) must
 * outlive the step, since ids are bound without a copy. */
static void bind_field(sqlite3_stmt *st, int idx, unsigned tag,
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

/* Whether a record carries a usable value for a field: present, an id that
 * is not nil, a JSON field that is a JSON object (else it is counted as
 * dropped). */
static int field_usable(const mida__rec *r, unsigned tag, int is_json,
                        batch_counts *counts) {
  const mida__field *f = &r->f[tag];
  if (!f->present)
    return 0;
  if (mida__field_kind(tag) == MIDA_KIND_ID)
    return !mida_id_is_nil(&f->v.id);
  if (is_json &&
      mida__json_check(f->v.str.ptr, f->v.str.len, true, NULL) != MIDA_OK) {
    counts->dropped_fields++;
    return 0;
  }
  return 1;
}

/* Binds a string field or NULL. */
static void bind_str_or_null(sqlite3_stmt *st, int idx, const mida__rec *r,
                             unsigned tag) {
  if (r->f[tag].present)
    bind_field(st, idx, tag, &r->f[tag], NULL);
  else
    sqlite3_bind_null(st, idx);
}

/* Steps a bound statement inside the batch's transaction; on failure sets
 * the message. Clears the bindings. */
static int run(sqlite_sink *s, sqlite3_stmt *st, const char *what) {
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
  if (!field_usable(r, MIDA_F_ID, 0, counts)) {
    counts->skipped_records++;
    return;
  }
  uint32_t mask = 1, json_mask = 0;
  for (int c = 1; c < ent->ncolumns; c++) {
    int is_json = ent->columns[c].rule == MIDA_RULE_JSON;
    if (field_usable(r, ent->columns[c].tag, is_json, counts))
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
 * cache is full. */
static int image_upsert(sqlite_sink *s, const row_image *img,
                        sqlite3_stmt **out) {
  const entity *ent = &entities[img->entity];
  uint32_t all = ((uint32_t)1 << ent->ncolumns) - 1;
  uint32_t set = image_set_mask(ent, img) | 1u;
  *out = statement(s, entity_statement[img->entity]);
  if (*out == NULL)
    return MIDA_ESTORE;
  if (set == all)
    return MIDA_OK;
  for (int i = 0; i < s->nnarrow; i++)
    if (s->narrow[i].entity == img->entity && s->narrow[i].set_mask == set) {
      *out = s->narrow[i].stmt;
      return MIDA_OK;
    }
  if (s->nnarrow == NARROW_UPSERTS)
    return MIDA_OK;
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  sqlite3_stmt *st = NULL;
  int rc = entity_sql(ent, set, &sql);
  rc = prepare_built(s, rc, &sql, mida__buf_str(&sql), &st);
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
  for (int i = 0; i < s->nsummary; i++)
    for (int f = 0; f < SUMMARY_FORMS; f++)
      sqlite3_finalize(s->summary[i].stmt[f]);
  s->nsummary = 0;
}

static int apply_image(sqlite_sink *s, const mida__rec *recs,
                       const row_image *img, const mida__origin *origin) {
  const entity *ent = &entities[img->entity];
  sqlite3_stmt *st;
  int rc = image_upsert(s, img, &st);
  if (rc != MIDA_OK)
    return rc;
  char ids[MIDA_MERGE_MAX_COLUMNS][MIDA_ID_STRLEN];
  int extra = ent->ncolumns;
  for (int c = 0; c < ent->ncolumns; c++) {
    unsigned tag = ent->columns[c].tag;
    if (img->mask & ((uint32_t)1 << c))
      bind_field(st, c + 1, tag, &recs[img->source[c]].f[tag], ids[c]);
    if (ent->columns[c].rule != MIDA_RULE_ORIGIN)
      continue;
    ++extra;
    if (origin != NULL && tag == MIDA_F_HOST && origin->host != NULL)
      sqlite3_bind_text(st, extra, origin->host, -1, SQLITE_STATIC);
    else if (origin != NULL && tag == MIDA_F_PID)
      sqlite3_bind_int64(st, extra, origin->pid);
  }
  if (has_seq(ent))
    sqlite3_bind_int64(st, seq_param(ent), s->batch_seq);
  return run(s, st, ent->table);
}

/* The task columns a run summary may write besides its own: all but the
 * key and those that the runs summarise (which the summary sets from the
 * latest run whatever a task record says). */
static uint32_t summary_task_columns(void) {
  const entity *ent = &entities[ENT_TASK];
  uint32_t cols = 0;
  for (int c = 1; c < ent->ncolumns; c++)
    if (!ent->columns[c].from_runs)
      cols |= (uint32_t)1 << c;
  return cols;
}

/* The bit of the task's status column. */
static uint32_t task_status_bit(void) {
  const entity *ent = &entities[ENT_TASK];
  for (int c = 1; c < ent->ncolumns; c++)
    if (ent->columns[c].rule == MIDA_RULE_STATUS)
      return (uint32_t)1 << c;
  return 0; /* not reached: merge.c's table has it */
}

/* The bit of the task's submission time. */
static uint32_t task_submitted_bit(void) {
  const entity *ent = &entities[ENT_TASK];
  for (int c = 1; c < ent->ncolumns; c++)
    if (ent->columns[c].tag == MIDA_F_SUBMITTED)
      return (uint32_t)1 << c;
  return 0; /* not reached: merge.c's table has it */
}

/* Writes the merge of task column c's stored value with parameter ?param,
 * as a task's upsert merges it (merge_expr), for an UPDATE's SET. */
static int update_merge_expr(int c, int param, mida__buf *out) {
  const mida__merge_column *col = &entities[ENT_TASK].columns[c];
  switch (col->rule) {
  case MIDA_RULE_MIN:
  case MIDA_RULE_MAX:
    return mida__buf_printf(out, "coalesce(%s(%s, ?%d), %s, ?%d)",
                            col->rule == MIDA_RULE_MIN ? "min" : "max",
                            col->name, param, col->name, param);
  case MIDA_RULE_JSON:
    return mida__buf_printf(out, "mida_merge(%s, ?%d)", col->name, param);
  default: /* LAST; a status and the ORIGIN columns never come here */
    return mida__buf_printf(out, "coalesce(?%d, %s)", param, col->name);
  }
}

/* Writes form (SUMMARY_*) of the run summary that also writes the task
 * columns of task_mask (within summary_task_columns): the status through
 * ?3 and ?4 (RUN_SUMMARY_STATUS), each other column as the parameter
 * after the ones before it (?5 and on), merged into the stored value as a
 * task's upsert merges it (the INSERT has no stored value). */
static int run_summary_sql(int form, uint32_t task_mask, mida__buf *out) {
  const entity *ent = &entities[ENT_TASK];
  uint32_t others = task_mask & ~task_status_bit();
  int rc = MIDA_OK;
  if (form == SUMMARY_UPDATE) {
    rc = mida__buf_adds(out, RUN_SUMMARY_UPDATE);
    int param = 5;
    for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
      if (((others >> c) & 1) == 0)
        continue;
      rc = mida__buf_printf(out, ", %s = ", ent->columns[c].name);
      if (rc == MIDA_OK)
        rc = update_merge_expr(c, param++, out);
    }
    return rc == MIDA_OK ? mida__buf_adds(out, " WHERE id = ?1") : rc;
  }
  rc = mida__buf_adds(out, form == SUMMARY_INSERT ? RUN_SUMMARY_INSERT_OR_IGNORE
                                                  : RUN_SUMMARY_INSERT);
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++)
    if ((others >> c) & 1)
      rc = mida__buf_printf(out, ", %s", ent->columns[c].name);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, RUN_SUMMARY_SELECT);
  int param = 5;
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++)
    if ((others >> c) & 1)
      rc = mida__buf_printf(out, ", ?%d", param++);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, RUN_SUMMARY_FROM);
  if (rc != MIDA_OK || form == SUMMARY_INSERT)
    return rc;
  rc = mida__buf_adds(out, RUN_SUMMARY_UPSERT);
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
    if (((others >> c) & 1) == 0)
      continue;
    rc = mida__buf_printf(out, ", %s = ", ent->columns[c].name);
    if (rc == MIDA_OK)
      rc = merge_expr(ent, c, out);
  }
  return rc;
}

/* The cached run summaries of the task columns task_mask; with add, a new
 * entry (its forms prepared on first use) when there is none and there is
 * room. The last entry is kept for the summary that writes no task
 * column, which a run without a task image needs: a batch never lacks it.
 * NULL: none. */
static run_summary *find_summary(sqlite_sink *s, uint32_t task_mask, int add) {
  int plain = 0; /* the summary of no task column is cached */
  for (int i = 0; i < s->nsummary; i++) {
    if (s->summary[i].task_mask == task_mask)
      return &s->summary[i];
    plain |= s->summary[i].task_mask == 0;
  }
  int room = RUN_SUMMARIES - s->nsummary - (task_mask != 0 && !plain);
  if (!add || room <= 0)
    return NULL;
  run_summary *sum = &s->summary[s->nsummary++];
  memset(sum, 0, sizeof *sum);
  sum->task_mask = task_mask;
  return sum;
}

/* Form (SUMMARY_*) of the run summary that also writes the task columns
 * of task_mask, into *out (prepared on first use). */
static int run_summary_stmt(sqlite_sink *s, int form, uint32_t task_mask,
                            sqlite3_stmt **out) {
  run_summary *sum = find_summary(s, task_mask, 1);
  if (sum != NULL && sum->stmt[form] != NULL) {
    *out = sum->stmt[form];
    return MIDA_OK;
  }
  mida__buf sql;
  mida__buf_init(&sql, 1 << 16);
  int rc = sum != NULL ? run_summary_sql(form, task_mask, &sql) : MIDA_EINVAL;
  sqlite3_stmt *st = NULL;
  rc = prepare_built(s, rc, &sql, mida__buf_str(&sql), &st);
  if (rc != MIDA_OK)
    return rc;
  sum->stmt[form] = st;
  *out = st;
  return MIDA_OK;
}

/* The column of task_run that holds a run's start. */
static int run_started_column(void) {
  const entity *run = &entities[ENT_RUN];
  for (int c = 1; c < run->ncolumns; c++)
    if (run->columns[c].tag == MIDA_F_STARTED)
      return c;
  return 0; /* not reached: merge.c's table has it */
}

/* The task columns of a task image that a run summary writes with it. */
static uint32_t image_summary_mask(const row_image *task) {
  return task->mask & summary_task_columns();
}

/* Lets the summary of each run image also write its task's image, when
 * that image is the only one of its row in the batch: one statement
 * writes the task row instead of two (a Dask task's scheduler record and
 * its worker's run and arguments, when they reach one batch; a new task's
 * row is then inserted whole, each index entry once, rather than inserted
 * and rewritten). The run image must have a start, so that the summary's
 * SELECT has a row, which then sets every column the runs summarise: the
 * image's values of those would not last, and the summary leaves them
 * out. Moving the image to its run's summary changes nothing else: the
 * other images of the batch that write the row are run summaries, which
 * write only those columns and merge the status, whose merge does not
 * depend on the order; the updates of lost processes come after all of
 * them. */
static void plan_run_summaries(sqlite_sink *s, const mida__rec *recs,
                               size_t nimages) {
  uint32_t started = (uint32_t)1 << run_started_column();
  for (size_t k = 0; k < nimages; k++) {
    row_image *img = &s->images[k];
    if (img->entity != ENT_RUN || (img->mask & started) == 0)
      continue;
    /* task_id is column 1 of task_run (merge.c). */
    const mida__rec *r = &recs[img->source[1]];
    mida__fold_slot *slot =
        mida__fold_find(&s->fold, ENT_TASK, &r->f[MIDA_F_TASK].v.id);
    if (slot->image == 0)
      continue;
    row_image *task = &s->images[slot->image - 1];
    if (task->shares_row || task->in_summary ||
        find_summary(s, image_summary_mask(task), 1) == NULL)
      continue;
    task->in_summary = 1;
    img->task_image = slot->image;
  }
}

/* Binds the parameters of a run summary for the run of record rec, with
 * the columns of the task image task (or NULL) of task_mask (all its
 * forms have the same parameters), and runs it. */
static int step_run_summary(sqlite_sink *s, sqlite3_stmt *st,
                            const mida__rec *recs, const mida__rec *rec,
                            const row_image *task, uint32_t task_mask) {
  const entity *ent = &entities[ENT_TASK];
  uint32_t status = task_status_bit();
  char ids[MIDA_MERGE_MAX_COLUMNS][MIDA_ID_STRLEN];
  bind_field(st, 1, MIDA_F_TASK, &rec->f[MIDA_F_TASK], ids[0]);
  sqlite3_bind_int64(st, 2, s->batch_seq);
  int param = 5;
  for (int c = 1; c < ent->ncolumns; c++) {
    uint32_t bit = (uint32_t)1 << c;
    if ((task_mask & bit) == 0)
      continue;
    unsigned tag = ent->columns[c].tag;
    const mida__field *f = &recs[task->source[c]].f[tag];
    if (bit != status) {
      bind_field(st, param++, tag, f, ids[c]);
      continue;
    }
    /* The image's status, where it outranks what the runs give. */
    int rank = mida__status_rank(f->v.i64);
    const char *name = mida__status_name(f->v.i64);
    if (rank > mida__status_rank(MIDA_STATUS_FINISHED))
      sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    if (rank > mida__status_rank(MIDA_STATUS_RUNNING))
      sqlite3_bind_text(st, 4, name, -1, SQLITE_STATIC);
  }
  return run(s, st, "run");
}

/* Recomputes the summary of the task of a run's row image from its runs,
 * with the columns of the task image planned into it (plan_run_summaries):
 * the UPDATE of the task's row, and the INSERT where it has none, when the
 * run has a start (then the stored run has one: started is the least of
 * the values); else the upsert, which writes nothing if no run of the task
 * has started. A task image with a submission time (the scheduler's
 * begin) is nearly always a new task's: the INSERT goes first, and the
 * UPDATE only if the row was there (an UPDATE that finds no row cost a
 * Dask task ~12,000 instructions, bench_sink_dask one_process). */
static int apply_run_summary(sqlite_sink *s, const mida__rec *recs,
                             const row_image *img) {
  const row_image *task =
      img->task_image != 0 ? &s->images[img->task_image - 1] : NULL;
  uint32_t task_mask = task != NULL ? image_summary_mask(task) : 0;
  /* task_id is column 1 of task_run (merge.c); a run record without a
   * task never gets an image. */
  const mida__rec *r = &recs[img->source[1]];
  int started = (img->mask & ((uint32_t)1 << run_started_column())) != 0;
  sqlite3_stmt *st = NULL;
  int first = started ? SUMMARY_UPDATE : SUMMARY_UPSERT;
  int then = SUMMARY_INSERT; /* when the first changed no row */
  if (started && (task_mask & task_submitted_bit()) != 0) {
    first = SUMMARY_INSERT;
    then = SUMMARY_UPDATE;
  }
  int rc = run_summary_stmt(s, first, task_mask, &st);
  if (rc == MIDA_OK)
    rc = step_run_summary(s, st, recs, r, task, task_mask);
  if (rc != MIDA_OK || !started || sqlite3_changes(s->db) != 0)
    return rc;
  rc = run_summary_stmt(s, then, task_mask, &st);
  if (rc == MIDA_OK)
    rc = step_run_summary(s, st, recs, r, task, task_mask);
  return rc;
}

/* ---- the other record types -------------------------------------------- */

/* Copies a string field into the row's text, if the record has it. */
static int keep_str(mida__data_rows *d, mida__data_text *t, const mida__rec *r,
                    unsigned tag) {
  if (!r->f[tag].present)
    return MIDA_OK;
  return mida__data_rows_text(d, t, r->f[tag].v.str.ptr, r->f[tag].v.str.len);
}

static int apply_data_rows(sqlite_sink *s);

/* Keeps a data record for the commit of the open transaction, which
 * applies the transaction's data records in the order of their keys
 * (data_rows.h); what the record lacks or has malformed is counted now,
 * as if it were applied. */
static int keep_data(sqlite_sink *s, const mida__rec *r, batch_counts *counts) {
  /* The data's identity: DATA_ID, else the digest, else the URI. */
  unsigned key = MIDA_F_DATA_ID;
  if (!r->f[key].present)
    key = r->f[MIDA_F_DIGEST].present ? MIDA_F_DIGEST : MIDA_F_URI;
  if (!r->f[key].present || r->f[key].v.str.len == 0) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  mida__data_rows *d = &s->data;
  if (mida__data_rows_full(d)) {
    int rc = apply_data_rows(s);
    if (rc != MIDA_OK)
      return rc;
  }
  mida__data_row *row = mida__data_rows_add(d);
  int rc = row != NULL ? MIDA_OK : MIDA_ENOMEM;
  if (rc == MIDA_OK)
    rc = keep_str(d, &row->key, r, key);
  if (rc == MIDA_OK)
    rc = keep_str(d, &row->kind, r, MIDA_F_KIND);
  if (rc == MIDA_OK)
    rc = keep_str(d, &row->uri, r, MIDA_F_URI);
  if (rc == MIDA_OK)
    rc = keep_str(d, &row->digest, r, MIDA_F_DIGEST);
  if (rc == MIDA_OK && field_usable(r, MIDA_F_METADATA, 1, counts))
    rc = keep_str(d, &row->metadata, r, MIDA_F_METADATA);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  if (r->f[MIDA_F_SIZE].present && r->f[MIDA_F_SIZE].v.i64 >= 0)
    row->size = r->f[MIDA_F_SIZE].v.i64;
  if (!field_usable(r, MIDA_F_TASK, 0, counts))
    return MIDA_OK;

  int64_t role = r->f[MIDA_F_ROLE].present ? r->f[MIDA_F_ROLE].v.i64 : 0;
  if (role != MIDA_USED && role != MIDA_GENERATED) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  row->role = (uint8_t)role;
  row->task = r->f[MIDA_F_TASK].v.id;
  if (keep_str(d, &row->name, r, MIDA_F_NAME) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  if (r->f[MIDA_F_BYTES].present && r->f[MIDA_F_BYTES].v.i64 >= 0)
    row->bytes = r->f[MIDA_F_BYTES].v.i64;
  return MIDA_OK;
}

/* Binds a kept string, or NULL. */
static void bind_kept(sqlite3_stmt *st, int idx, const mida__data_rows *d,
                      mida__data_text t) {
  const char *p = mida__data_rows_str(d, t);
  if (p == NULL)
    sqlite3_bind_null(st, idx);
  else
    sqlite3_bind_text(st, idx, t.len > 0 ? p : "", (int)t.len, SQLITE_STATIC);
}

/* Binds a kept record's data row at parameters at..at+5. */
static void bind_data(sqlite3_stmt *st, int at, const mida__data_rows *d,
                      const mida__data_row *row) {
  bind_kept(st, at, d, row->key);
  bind_kept(st, at + 1, d, row->kind);
  bind_kept(st, at + 2, d, row->uri);
  if (row->size >= 0)
    sqlite3_bind_int64(st, at + 3, row->size);
  else
    sqlite3_bind_null(st, at + 3);
  bind_kept(st, at + 4, d, row->digest);
  bind_kept(st, at + 5, d, row->metadata);
}

/* Binds a kept record's link at parameters at..at+4; task (MIDA_ID_STRLEN
 * bytes) must outlive the step. */
static void bind_link(sqlite3_stmt *st, int at, const mida__data_rows *d,
                      const mida__data_row *row, char *task) {
  mida_id_format(&row->task, task);
  sqlite3_bind_text(st, at, task, MIDA_ID_STRLEN - 1, SQLITE_STATIC);
  bind_kept(st, at + 1, d, row->key);
  sqlite3_bind_text(st, at + 2, row->role == MIDA_USED ? "used" : "generated",
                    -1, SQLITE_STATIC);
  bind_kept(st, at + 3, d, row->name);
  if (row->bytes >= 0)
    sqlite3_bind_int64(st, at + 4, row->bytes);
  else
    sqlite3_bind_null(st, at + 4);
}

/* Writes the kept data rows (links 0) or the links (links 1) of the rows
 * at order[0..n): ROWS_PER_STEP rows a statement, while a transaction
 * has that many left (when it holds MANY_ROWS_MIN rows or more: below,
 * compiling the two statements costs more than they save), and the rest
 * one by one. */
static int apply_kept(sqlite_sink *s, const uint32_t *order, size_t n,
                      int links) {
  const mida__data_rows *d = &s->data;
  int stmt_one = links ? ST_TASK_DATA : ST_DATA;
  int stmt_many = links ? ST_TASK_DATA_ROWS : ST_DATA_ROWS;
  int use_many = s->stmt[stmt_many] != NULL || n >= MANY_ROWS_MIN;
  char task[ROWS_PER_STEP][MIDA_ID_STRLEN]; /* bound without a copy */
  uint32_t pick[ROWS_PER_STEP];
  int rc = MIDA_OK;
  size_t k = 0;
  while (k < n && rc == MIDA_OK) {
    int got = 0;
    for (; k < n && got < ROWS_PER_STEP; k++)
      if (!links || d->rows[order[k]].role != 0)
        pick[got++] = order[k];
    if (got == 0)
      break; /* no link left */
    int many = use_many && got == ROWS_PER_STEP;
    sqlite3_stmt *st = statement(s, many ? stmt_many : stmt_one);
    if (st == NULL)
      return MIDA_ESTORE;
    for (int i = 0; i < got && rc == MIDA_OK; i++) {
      const mida__data_row *row = &d->rows[pick[i]];
      int at = many ? 1 + (links ? 5 : 6) * i : 1;
      if (links)
        bind_link(st, at, d, row, task[i]);
      else
        bind_data(st, at, d, row);
      if (!many)
        rc = run(s, st, "data");
    }
    if (many)
      rc = run(s, st, "data");
  }
  return rc;
}

/* Writes the kept data records in the order of their keys, and forgets
 * them (data_rows.h). */
static int apply_data_rows(sqlite_sink *s) {
  mida__data_rows *d = &s->data;
  if (d->n == 0)
    return MIDA_OK;
  if (mida__data_rows_sort(d) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  int rc = apply_kept(s, d->order, d->n, 0);
  if (rc == MIDA_OK)
    rc = apply_kept(s, d->order, d->n, 1);
  mida__data_rows_clear(d);
  return rc;
}

static int apply_dep(sqlite_sink *s, const mida__rec *r, batch_counts *counts) {
  if (!field_usable(r, MIDA_F_TASK, 0, counts) ||
      !field_usable(r, MIDA_F_PARENT, 0, counts)) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  char task[MIDA_ID_STRLEN], up[MIDA_ID_STRLEN];
  sqlite3_stmt *st = statement(s, ST_DEP);
  if (st == NULL)
    return MIDA_ESTORE;
  bind_field(st, 1, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  bind_field(st, 2, MIDA_F_PARENT, &r->f[MIDA_F_PARENT], up);
  return run(s, st, "dep");
}

static int apply_metric(sqlite_sink *s, const mida__rec *r,
                        batch_counts *counts) {
  if (!field_usable(r, MIDA_F_TASK, 0, counts) || !r->f[MIDA_F_KEY].present ||
      !r->f[MIDA_F_TS].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  char task[MIDA_ID_STRLEN];
  sqlite3_stmt *st = statement(s, ST_METRIC);
  if (st == NULL)
    return MIDA_ESTORE;
  bind_field(st, 1, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  bind_field(st, 2, MIDA_F_KEY, &r->f[MIDA_F_KEY], NULL);
  if (r->f[MIDA_F_STEP].present) /* negative steps too; absent: NULL */
    sqlite3_bind_int64(st, 3, r->f[MIDA_F_STEP].v.i64);
  sqlite3_bind_int64(st, 4, r->f[MIDA_F_TS].v.i64);
  if (r->f[MIDA_F_VALUE].present)
    bind_field(st, 5, MIDA_F_VALUE, &r->f[MIDA_F_VALUE], NULL);
  int rc = run(s, st, "metric");
  if (rc != MIDA_OK)
    return rc;
  /* A new point (not one the store held) goes into its blocks. */
  if (sqlite3_changes(s->db) == 1 &&
      mida__rollup_add(&s->rollup, task, r->f[MIDA_F_KEY].v.str.ptr,
                       r->f[MIDA_F_KEY].v.str.len, r->f[MIDA_F_STEP].present,
                       r->f[MIDA_F_STEP].v.i64, r->f[MIDA_F_TS].v.i64,
                       r->f[MIDA_F_VALUE].present,
                       r->f[MIDA_F_VALUE].v.f64) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  st = statement(s, ST_TOUCH);
  if (st == NULL)
    return MIDA_ESTORE;
  sqlite3_bind_int64(st, 1, s->batch_seq);
  bind_field(st, 2, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  return run(s, st, "metric");
}

/* Writes the batch's metric blocks (rollup.h), in key order: each upsert
 * finds its page next to the last one's (a third less work than in the
 * order of the hash table). */
static int apply_blocks(sqlite_sink *s) {
  const mida__rollup_entry *blocks = NULL;
  size_t n = 0;
  if (mida__rollup_sort(&s->rollup, &blocks, &n) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  if (n == 0)
    return MIDA_OK; /* no metric: its statement is not compiled (statement) */
  sqlite3_stmt *st = statement(s, ST_BLOCK);
  if (st == NULL)
    return MIDA_ESTORE;
  int rc = MIDA_OK;
  for (size_t i = 0; i < n && rc == MIDA_OK; i++) {
    const mida__rollup_cell *c = blocks[i].cell;
    const mida__rollup_series *e = blocks[i].series;
    sqlite3_bind_text(st, 1, e->task, 36, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->key, (int)e->key_len, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, c->axis);
    sqlite3_bind_int(st, 4, c->shift);
    sqlite3_bind_int64(st, 5, c->block);
    sqlite3_bind_int64(st, 6, c->x0);
    sqlite3_bind_int64(st, 7, c->x1);
    sqlite3_bind_int64(st, 8, c->t0);
    sqlite3_bind_int64(st, 9, c->t1);
    if (c->has_value) {
      sqlite3_bind_double(st, 10, c->lo);
      sqlite3_bind_double(st, 11, c->hi);
    }
    sqlite3_bind_int64(st, 12, c->n);
    rc = run(s, st, "metric");
  }
  return rc;
}

/* Binds HOST (at idx) and PID (at idx + 1), defaulting to the origin's;
 * returns 0 when either is still unknown. */
static int bind_host_pid(sqlite3_stmt *st, int idx, const mida__rec *r,
                         const mida__origin *origin) {
  if (r->f[MIDA_F_HOST].present)
    bind_field(st, idx, MIDA_F_HOST, &r->f[MIDA_F_HOST], NULL);
  else if (origin != NULL && origin->host != NULL)
    sqlite3_bind_text(st, idx, origin->host, -1, SQLITE_STATIC);
  else
    return 0;
  if (r->f[MIDA_F_PID].present)
    sqlite3_bind_int64(st, idx + 1, r->f[MIDA_F_PID].v.i64);
  else if (origin != NULL)
    sqlite3_bind_int64(st, idx + 1, origin->pid);
  else
    return 0;
  return 1;
}

static int apply_telemetry(sqlite_sink *s, const mida__rec *r,
                           const mida__origin *origin, batch_counts *counts) {
  sqlite3_stmt *st = statement(s, ST_TELEMETRY);
  if (st == NULL)
    return MIDA_ESTORE;
  if (!r->f[MIDA_F_TS].present || !bind_host_pid(st, 1, r, origin)) {
    sqlite3_clear_bindings(st);
    counts->skipped_records++;
    return MIDA_OK;
  }
  char wf[MIDA_ID_STRLEN], task[MIDA_ID_STRLEN];
  sqlite3_bind_int64(st, 3, r->f[MIDA_F_TS].v.i64);
  if (field_usable(r, MIDA_F_WORKFLOW, 0, counts))
    bind_field(st, 4, MIDA_F_WORKFLOW, &r->f[MIDA_F_WORKFLOW], wf);
  if (field_usable(r, MIDA_F_TASK, 0, counts))
    bind_field(st, 5, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  if (field_usable(r, MIDA_F_METADATA, 1, counts))
    bind_field(st, 6, MIDA_F_METADATA, &r->f[MIDA_F_METADATA], NULL);
  return run(s, st, "telemetry");
}

static int apply_cursor(sqlite_sink *s, const mida__rec *r,
                        batch_counts *counts) {
  if (!r->f[MIDA_F_SOURCE].present || !r->f[MIDA_F_KEY].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  sqlite3_stmt *st = statement(s, ST_CURSOR);
  if (st == NULL)
    return MIDA_ESTORE;
  bind_field(st, 1, MIDA_F_SOURCE, &r->f[MIDA_F_SOURCE], NULL);
  bind_field(st, 2, MIDA_F_KEY, &r->f[MIDA_F_KEY], NULL);
  bind_str_or_null(st, 3, r, MIDA_F_TEXT);
  if (r->f[MIDA_F_TS].present)
    sqlite3_bind_int64(st, 4, r->f[MIDA_F_TS].v.i64);
  return run(s, st, "cursor");
}

static int apply_counter(sqlite_sink *s, const mida__rec *r,
                         const mida__origin *origin, batch_counts *counts) {
  sqlite3_stmt *st = statement(s, ST_COUNTER);
  if (st == NULL)
    return MIDA_ESTORE;
  if (!r->f[MIDA_F_KEY].present || !r->f[MIDA_F_VALUE_I].present ||
      !bind_host_pid(st, 1, r, origin)) {
    sqlite3_clear_bindings(st);
    counts->skipped_records++;
    return MIDA_OK;
  }
  bind_field(st, 3, MIDA_F_KEY, &r->f[MIDA_F_KEY], NULL);
  sqlite3_bind_int64(st, 4, r->f[MIDA_F_VALUE_I].v.i64);
  return run(s, st, "counter");
}

/* A LOST record (record.h): marks what the dead process left unfinished.
 * Applied after the batch's rows, so that tasks begun in the same batch
 * are marked too. */
static int apply_lost(sqlite_sink *s, const mida__rec *r,
                      const mida__origin *origin, batch_counts *counts) {
  if (!r->f[MIDA_F_STARTED].present || !r->f[MIDA_F_ERROR].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  int64_t until =
      r->f[MIDA_F_ENDED].present ? r->f[MIDA_F_ENDED].v.i64 : INT64_MAX;
  const int which[3] = {ST_LOST_TASKS, ST_LOST_WORKFLOWS, ST_LOST_RUNS};
  int rc = MIDA_OK;
  for (int i = 0; i < 3 && rc == MIDA_OK; i++) {
    sqlite3_stmt *st = statement(s, which[i]);
    if (st == NULL)
      return MIDA_ESTORE;
    if (!bind_host_pid(st, 1, r, origin)) {
      sqlite3_clear_bindings(st);
      counts->skipped_records++;
      return MIDA_OK;
    }
    sqlite3_bind_int64(st, 3, r->f[MIDA_F_STARTED].v.i64);
    sqlite3_bind_int64(st, 4, until);
    if (sqlite3_bind_parameter_name(st, 5) != NULL)
      bind_field(st, 5, MIDA_F_ERROR, &r->f[MIDA_F_ERROR], NULL);
    if (sqlite3_bind_parameter_name(st, 6) != NULL) /* the change number */
      sqlite3_bind_int64(st, 6, s->batch_seq);
    rc = run(s, st, "lost");
  }
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
 * shippers) up to BUSY_GIVE_UP_MS in all. */
static int begin_write(sqlite_sink *s, int64_t deadline_ms) {
  int rc = step_retry(s->stmt[ST_BEGIN], deadline_ms);
  if (rc == SQLITE_OK)
    return MIDA_OK;
  if (is_busy(rc))
    return mida__sink_fail(&s->base, MIDA_ESTORE,
                           "store '%s' is busy: another writer held it for "
                           "%d s",
                           s->path, BUSY_GIVE_UP_MS / 1000);
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
  return apply_counter(s, &r, origin, counts);
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

void mida__sink_own_process(void) {
  /* Fails (SQLITE_MISUSE) once SQLite is in use: then it stays as it is. */
  (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  mida__sqlite_ckpt_allow();
  atomic_store(&own_process, 1);
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
static int set_temp_store(sqlite_sink *s, int memory) {
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
    rc = set_temp_store(s, 1);
  if (rc != MIDA_OK)
    return rc;
  /* temp_store stays MEMORY until a query or a schema change. */
  return write_batch(s, recs, n, origin);
}

static int end_write(sqlite_sink *s);

/* Commits the deferred batches' transaction, if one is open. */
static int sqlite_sync(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  if (!s->group_open)
    return MIDA_OK;
  s->group_open = 0;
  int rc = apply_data_rows(s);
  if (rc != MIDA_OK) {
    mida__data_rows_clear(&s->data);
    if (!sqlite3_get_autocommit(s->db))
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  } else {
    rc = end_write(s);
  }
  return rc;
}

/* Applies a batch in one write transaction (sqlite_put_batch). */
static int write_batch(sqlite_sink *s, const mida__rec *recs, size_t n,
                       const mida__origin *origin) {
  int64_t deadline = monotonic_ms() + BUSY_GIVE_UP_MS;
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
      if (field_usable(r, MIDA_F_TASK, 0, &counts))
        fold_entity(s, recs, i, ENT_RUN, &nimages, &counts);
      else
        counts.skipped_records++;
      break;
    case MIDA_REC_DATA:
      rc = keep_data(s, r, &counts);
      break;
    case MIDA_REC_DEP:
      rc = apply_dep(s, r, &counts);
      break;
    case MIDA_REC_METRIC:
      rc = apply_metric(s, r, &counts);
      break;
    case MIDA_REC_TELEMETRY:
      rc = apply_telemetry(s, r, origin, &counts);
      break;
    case MIDA_REC_CURSOR:
      rc = apply_cursor(s, r, &counts);
      break;
    case MIDA_REC_COUNTER:
      rc = apply_counter(s, r, origin, &counts);
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
   * task image too (plan_run_summaries). */
  if (rc == MIDA_OK)
    plan_run_summaries(s, recs, nimages);
  for (size_t k = 0; k < nimages && rc == MIDA_OK; k++) {
    if (s->images[k].in_summary)
      continue;
    rc = apply_image(s, recs, &s->images[k], origin);
    if (rc == MIDA_OK && s->images[k].entity == ENT_RUN)
      rc = apply_run_summary(s, recs, &s->images[k]);
  }
  for (size_t i = 0; i < n && rc == MIDA_OK; i++)
    if (recs[i].type == MIDA_REC_LOST)
      rc = apply_lost(s, &recs[i], origin, &counts);
  if (rc == MIDA_OK)
    rc = apply_blocks(s);
  /* The data records wait for the commit (data_rows.h). */
  if (rc == MIDA_OK && !s->base.deferred)
    rc = apply_data_rows(s);
  if (rc != MIDA_OK) {
    mida__data_rows_clear(&s->data);
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
  int src = step_retry(s->stmt[ST_COMMIT], monotonic_ms() + BUSY_GIVE_UP_MS);
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
  mida__sqlite_ckpt_after_commit(s->ckpt);
  return MIDA_OK;
}

/* ---- query ------------------------------------------------------------- */

/* The largest string or blob a reader's query may make (SQLite's default:
 * 1,000,000,000 bytes). mida stores summaries of large values, and a
 * journal record is far smaller. */
#define READER_VALUE_MAX (256 * 1024 * 1024)

typedef struct auth_state {
  int denied;          /* set when the statement asked for something not
                          allowed */
  const char *why;     /* a refused function's reason (guard.h), or NULL */
  char function[64];   /* that function's name */
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

/* The progress handler of a query: ends it at its deadline, when it is
 * cancelled (sqlite_cancel), or when the caller's stop function says so
 * (asked every MIDA_GUARD_STOP_MS, not at every call). */
static int query_progress(void *ctx) {
  sqlite_sink *s = ctx;
  if (s->cancelled)
    return 1;
  const mida__query_limits *lim = &s->base.limits;
  if (s->query_deadline_ms <= 0 && lim->stop == NULL)
    return 0;
  int64_t now = monotonic_ms();
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
  return mida__sink_fail(&s->base, MIDA_ESTORE, "%s", sqlite3_errmsg(s->db));
}

static int run_query(sqlite_sink *s, const char *sql,
                     const char *const *params, int nparams, mida__row_fn row,
                     void *ctx);

/* Runs a query within the guard's bounds (guard.h): a deadline kept by the
 * progress handler, the budget of temporary space, cancellation. */
static int sqlite_query(mida__sink *base, const char *sql,
                        const char *const *params, int nparams,
                        mida__row_fn row, void *ctx) {
  sqlite_sink *s = (sqlite_sink *)base;
  s->cancelled = 0;
  s->query_timed_out = 0;
  s->query_stop_asked_ms = monotonic_ms();
  s->query_deadline_ms = base->limits.timeout_ms > 0
                             ? monotonic_ms() + base->limits.timeout_ms
                             : 0;
  /* Temporary data in files again after a batch (set_temp_store); inside
   * a group's transaction, where it cannot change, a query on the writer
   * keeps the batches' MEMORY. */
  if (!s->group_open && set_temp_store(s, 0) != MIDA_OK)
    return MIDA_ESTORE;
  /* Every 1000 virtual machine instructions: a few microseconds. */
  sqlite3_progress_handler(s->db, 1000, query_progress, s);
  mida__sqlite_temp_begin(&s->temp, base->limits.temp_bytes);
  int rc = run_query(s, sql, params, nparams, row, ctx);
  mida__sqlite_temp_end(&s->temp);
  sqlite3_progress_handler(s->db, 0, NULL, NULL);
  return rc;
}

static void sqlite_cancel(mida__sink *base) {
  sqlite_sink *s = (sqlite_sink *)base;
  s->cancelled = 1;
  sqlite3_interrupt(s->db);
}

static int run_query(sqlite_sink *s, const char *sql,
                     const char *const *params, int nparams, mida__row_fn row,
                     void *ctx) {
  mida__sink *base = &s->base;
  char what[48];
  sqlite3_stmt *st = NULL;
  const char **names = NULL;
  const char **values = NULL;
  char(*reals)[MIDA_DTOA_MAX] = NULL; /* REAL cells as text, per column */
  const char *tail = NULL;
  auth_state auth = {0};
  int rc = MIDA_OK;

  sqlite3_set_authorizer(s->db, query_authorizer, &auth);
  int src = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
  sqlite3_set_authorizer(s->db, NULL, NULL);
  if (auth.why != NULL) {
    rc = mida__sink_fail(base, MIDA_EREADONLY,
                         "the query guard refuses this statement: %s() %s",
                         auth.function, auth.why);
    goto out;
  }
  if (auth.denied || (st != NULL && !sqlite3_stmt_readonly(st))) {
    rc = mida__sink_fail(base, MIDA_EREADONLY,
                         "mida query is read-only: this statement would "
                         "write (%s)",
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
  if (tail != NULL && !is_blank(tail)) {
    /* What follows may be only a comment: then it is no statement. */
    sqlite3_stmt *next = NULL;
    auth_state tail_auth = {0};
    sqlite3_set_authorizer(s->db, query_authorizer, &tail_auth);
    src = sqlite3_prepare_v2(s->db, tail, -1, &next, NULL);
    sqlite3_set_authorizer(s->db, NULL, NULL);
    sqlite3_finalize(next);
    if (src != SQLITE_OK || next != NULL) {
      rc = mida__sink_fail(base, MIDA_EINVAL,
                           "mida query runs one statement at a time; found "
                           "more after the first (%s)",
                           snippet(tail, what, sizeof what));
      goto out;
    }
  }
  int want = sqlite3_bind_parameter_count(st);
  if (nparams > want) {
    rc = mida__sink_fail(base, MIDA_EINVAL,
                         "the query takes %d parameters, %d given", want,
                         nparams);
    goto out;
  }
  for (int i = 0; i < nparams; i++) {
    if (params[i] != NULL)
      sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
  }

  /* Column names are fetched after each step: a step may re-prepare the
   * statement (the schema changed), which frees the old names. */
  int ncols = 0;
  for (;;) {
    src = sqlite3_step(st);
    if (src == SQLITE_DONE)
      break;
    if (src != SQLITE_ROW) {
      rc = step_error(s, src);
      goto out;
    }
    if (names == NULL) {
      ncols = sqlite3_column_count(st);
      size_t slots = ncols > 0 ? (size_t)ncols : 1;
      names = mida__calloc(slots, sizeof *names);
      values = mida__calloc(slots, sizeof *values);
      reals = mida__calloc(slots, sizeof *reals);
      if (names == NULL || values == NULL || reals == NULL) {
        rc = mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
        goto out;
      }
    }
    for (int c = 0; c < ncols; c++) {
      names[c] = sqlite3_column_name(st, c);
      /* SQLite's own text of a REAL has 15 digits; ours reads back the
       * same double. */
      int type = sqlite3_column_type(st, c);
      if (type == SQLITE_FLOAT) {
        mida__dtoa(sqlite3_column_double(st, c), reals[c]);
        values[c] = reals[c];
      } else {
        values[c] = (const char *)sqlite3_column_text(st, c);
      }
      if (names[c] == NULL || (values[c] == NULL && type != SQLITE_NULL)) {
        rc = mida__sink_fail(base, MIDA_ENOMEM, "out of memory");
        goto out;
      }
    }
    if (row != NULL && row(ctx, ncols, names, values) != 0)
      break;
  }
out:
  sqlite3_finalize(st);
  mida__free(names);
  mida__free(values);
  mida__free(reals);
  return rc;
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
  if (rc == SQLITE_OK && copied >= log)
    return; /* all copied back and synced (or no WAL: -1, -1) */
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
   * the WAL as it is: make_durable_before_close. */
  mida__sqlite_ckpt_stop(s->ckpt, s->db);
  make_durable_before_close(s);
  mida__sqlite_conn_closing(s->db);
  sqlite3_close(s->db);
  mida__free(s->images);
  mida__data_rows_free(&s->data);
  mida__fold_free(&s->fold);
  mida__rollup_free(&s->rollup);
  mida__free(s);
}

/* The schema version recorded in the store: 0 when it has none yet, -1 on
 * error. */
static int stored_schema_version(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT 1 FROM sqlite_schema WHERE type = "
                              "'table' AND name = 'mida_meta'",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return -1;
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc == SQLITE_DONE)
    return 0;
  if (rc != SQLITE_ROW)
    return -1;
  rc = sqlite3_prepare_v2(db,
                          "SELECT value FROM mida_meta"
                          " WHERE key = 'schema_version'",
                          -1, &st, NULL);
  if (rc != SQLITE_OK)
    return -1;
  int version = -1;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW)
    version = sqlite3_column_int(st, 0);
  else if (rc == SQLITE_DONE)
    version = 0;
  sqlite3_finalize(st);
  return version;
}

/* What a version-1 store needs to become a version-2 one (schema.h). */
#define MIGRATE_FROM_1                                                        \
  "ALTER TABLE task_data ADD COLUMN bytes INTEGER;"                           \
  "UPDATE mida_meta SET value = '2' WHERE key = 'schema_version';"

/* Adds column name of type to table unless it has it (migrations). */
static int add_column(sqlite3 *db, const char *table, const char *name,
                      const char *type) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT count(*) FROM pragma_table_info(?1)"
                              " WHERE name = ?2",
                              -1, &st, NULL);
  if (rc != SQLITE_OK)
    return rc;
  sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(st);
  int have = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW)
    return SQLITE_ERROR;
  if (have)
    return SQLITE_OK;
  char sql[200];
  snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", table, name,
           type);
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* From version 6 to 7: the blocks of the stored metric points
 * (rollup.h), then the version. */
static int migrate_to_7(sqlite3 *db) {
  mida__buf sql;
  mida__buf_init(&sql, 1 << 20);
  int rc = mida__rollup_build_sql(&sql) == MIDA_OK
               ? sqlite3_exec(db, mida__buf_str(&sql), NULL, NULL, NULL)
               : SQLITE_NOMEM;
  mida__buf_free(&sql);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, MIDA_SCHEMA_SQLITE_6_TO_7, NULL, NULL, NULL);
  return rc;
}

/* From version 7 (or older) to 8: the triggers and rows of the side table
 * of each numeric key that mida_index records (key_side.h), then the
 * version. */
static int migrate_to_8(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT key FROM mida_index WHERE kind = 'num'"
                              " ORDER BY name",
                              -1, &st, NULL);
  mida__buf sql;
  mida__buf_init(&sql, 1 << 20);
  while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(st, 0);
    if (key != NULL && mida__key_side_migrate_sql(&sql, key, 0, 1) != MIDA_OK)
      rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_finalize(st);
  else
    sqlite3_finalize(st);
  if (rc == SQLITE_OK && sql.len > 0)
    rc = sqlite3_exec(db, mida__buf_str(&sql), NULL, NULL, NULL);
  mida__buf_free(&sql);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, MIDA_SCHEMA_SQLITE_7_TO_8, NULL, NULL, NULL);
  return rc;
}

/* What create_schema runs at every writer's open whatever the stored
 * version: tables, indexes and views, all "IF NOT EXISTS". A statement
 * added there unconditionally must be added here too. */
static const char schema_text[] =
    MIDA_SCHEMA_SQLITE MIDA_SCHEMA_SQLITE_CHANGES MIDA_SCHEMA_SQLITE_TASK_V
    "schema_version " MIDA_SCHEMA_VERSION_TEXT;

/* The stamp that create_schema leaves in the file's PRAGMA user_version
 * once schema_text has run on it, in the same transaction: its CRC-32C,
 * positive and never 0 (a file no mida has stamped). */
static int schema_stamp(void) {
  uint32_t crc = mida__crc32c(0, schema_text, sizeof schema_text - 1);
  return (int)((crc & 0x7fffffffu) | 1u);
}

/* Whether the store is at this mida's version and was stamped by this
 * schema_text, read in one statement (one snapshot): then create_schema
 * has nothing to do. Running the text again parsed ~50 statements, about
 * 2 M instructions, at every writer's open (twice per `mida run`); a
 * store an older or newer mida stamped, or none, takes the full path. */
static int schema_is_current(sqlite3 *db) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT value FROM mida_meta WHERE key ="
                         " 'schema_version'), user_version"
                         " FROM pragma_user_version",
                         -1, &st, NULL) != SQLITE_OK) {
    sqlite3_finalize(st);
    return 0; /* no mida_meta yet: a new store */
  }
  int current = sqlite3_step(st) == SQLITE_ROW &&
                sqlite3_column_int(st, 0) == MIDA_SCHEMA_VERSION &&
                sqlite3_column_int(st, 1) == schema_stamp();
  sqlite3_finalize(st);
  return current;
}

/* Stamps the file (schema_is_current), inside create_schema's
 * transaction. */
static int set_schema_stamp(sqlite3 *db) {
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d", schema_stamp());
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Creates the tables (all or none), brings an older store up to this
 * version, records the schema version, and refuses a store made by a newer
 * mida. */
static int create_schema(sqlite_sink *s, int64_t deadline_ms) {
  if (schema_is_current(s->db))
    return MIDA_OK;
  int rc = exec_retry(s->db, "BEGIN IMMEDIATE", deadline_ms);
  if (rc != SQLITE_OK)
    return mida__sink_fail(&s->base, MIDA_ESTORE, "cannot open store '%s': %s",
                           s->path, sqlite3_errmsg(s->db));
  int version = stored_schema_version(s->db);
  if (version < 0) {
    rc = mida__sink_fail(&s->base, MIDA_ESTORE, "cannot open store '%s': %s",
                         s->path, sqlite3_errmsg(s->db));
    goto fail;
  }
  if (version > MIDA_SCHEMA_VERSION) {
    rc = mida__sink_fail(&s->base, MIDA_ESTORE,
                         "store '%s' has schema version %d, newer than this "
                         "mida's (%d): use a newer mida",
                         s->path, version, MIDA_SCHEMA_VERSION);
    goto fail;
  }
  if (sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE, NULL, NULL, NULL) != SQLITE_OK ||
      (version == 1 &&
       sqlite3_exec(s->db, MIGRATE_FROM_1, NULL, NULL, NULL) != SQLITE_OK) ||
      (version >= 1 && version <= 2 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_2_TO_3, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 3 &&
       (add_column(s->db, "task", "seq", "INTEGER") != SQLITE_OK ||
        add_column(s->db, "workflow", "seq", "INTEGER") != SQLITE_OK ||
        sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_3_TO_4, NULL, NULL, NULL) !=
            SQLITE_OK)) ||
      (version >= 1 && version <= 4 &&
       (add_column(s->db, "task", "attempts", "INTEGER") != SQLITE_OK ||
        sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_4_TO_5, NULL, NULL, NULL) !=
            SQLITE_OK)) ||
      (version >= 1 && version <= 5 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_5_TO_6, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 6 && migrate_to_7(s->db) != SQLITE_OK) ||
      (version >= 1 && version <= 7 && migrate_to_8(s->db) != SQLITE_OK) ||
      (version >= 1 && version <= 8 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_8_TO_9, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 9 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_9_TO_10, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 10 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_10_TO_11, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 11 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_11_TO_12, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 12 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_12_TO_13, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      (version >= 1 && version <= 13 &&
       sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_13_TO_14, NULL, NULL, NULL) !=
           SQLITE_OK) ||
      sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_CHANGES, NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(s->db, MIDA_SCHEMA_SQLITE_TASK_V, NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(s->db,
                   "INSERT OR IGNORE INTO mida_meta(key, value)"
                   " VALUES('schema_version', '" MIDA_SCHEMA_VERSION_TEXT "')",
                   NULL, NULL, NULL) != SQLITE_OK ||
      set_schema_stamp(s->db) != SQLITE_OK) {
    rc = mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot create the schema of store '%s': %s", s->path,
                         sqlite3_errmsg(s->db));
    goto fail;
  }
  rc = exec_retry(s->db, "COMMIT", deadline_ms);
  if (rc != SQLITE_OK) {
    rc = mida__sink_fail(&s->base, MIDA_ESTORE,
                         "cannot create the schema of store '%s': %s", s->path,
                         sqlite3_errmsg(s->db));
    goto fail;
  }
  return MIDA_OK;
fail:
  sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
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

static void sql_json_num(sqlite3_context *ctx, int argc,
                         sqlite3_value **argv) {
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

static int register_functions(sqlite3 *db) {
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function(db, "mida_merge", 2, flags, NULL,
                                   sql_json_merge, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "mida_status_merge", 2, flags, NULL,
                                 sql_status_merge, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "mida_point", 2, flags, NULL,
                                 sql_metric_point, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "mida_num", 2, flags, NULL, sql_json_num,
                                 NULL, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "mida_text", 2, flags, NULL,
                                 sql_json_text, NULL, NULL);
  return rc;
}

/* Configures a freshly opened connection and, unless read-only, creates the
 * schema. */
static int setup(sqlite_sink *s) {
  int readonly = (s->flags & MIDA_SINK_READONLY) != 0;
  int64_t deadline = monotonic_ms() + BUSY_GIVE_UP_MS;
  sqlite3_busy_handler(s->db, busy_wait, NULL);
  /* Reading the schema is the first access to the file: a file that is not
   * a database fails here, with SQLite's "file is not a database". */
  int rc = exec_retry(s->db, "SELECT count(*) FROM sqlite_schema", deadline);
  if (rc == SQLITE_OK && readonly)
    rc = sqlite3_exec(s->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
  /* Temporary data in files, where the query guard bounds it
   * (sqlite_temp.h), never in unbounded memory (but for a batch's
   * statement journals, set_temp_store). */
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db, "PRAGMA temp_store = FILE", NULL, NULL, NULL);
  s->temp_memory = 0;
  /* A reader's single value (a string or blob a query makes, such as
   * randomblob(N) or a group_concat) stays within this, in memory. */
  if (rc == SQLITE_OK && readonly)
    sqlite3_limit(s->db, SQLITE_LIMIT_LENGTH, READER_VALUE_MAX);
  if (rc == SQLITE_OK && !readonly)
    rc = exec_retry(s->db, "PRAGMA journal_mode = WAL", deadline);
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
    rc = register_functions(s->db);
  if (rc != SQLITE_OK)
    return mida__sink_fail(&s->base, MIDA_ESTORE, "cannot open store '%s': %s",
                           s->path, sqlite3_errmsg(s->db));
  if (!readonly)
    return create_schema(s, deadline);
  int version = stored_schema_version(s->db);
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
    if (fd >= 0)
      close(fd); /* else SQLite says why, or another process made it */
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
  int src = sqlite3_open_v2(s->path, &s->db, oflags, mida__sqlite_temp_vfs());
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
  /* An index build sorts in files, within its bound (set_temp_store). */
  if (!s->group_open && set_temp_store(s, 0) != MIDA_OK)
    return MIDA_ESTORE;
  int64_t deadline = monotonic_ms() + BUSY_GIVE_UP_MS;
  int rc = exec_retry(s->db, "BEGIN IMMEDIATE", deadline);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  if (rc == SQLITE_OK)
    rc = exec_retry(s->db, "COMMIT", deadline);
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
    rc = mida__sink_fail(&s->base, MIDA_EURL,
                         "'%s' does not name an SQLite file", url);
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

const mida__sink_methods mida__sqlite_sink = {
    "sqlite",           sqlite_open,  sqlite_put_batch, sqlite_query,
    sqlite_exec_schema, sqlite_close, sqlite_cancel,    sqlite_sync,
    sqlite_process_init,
};

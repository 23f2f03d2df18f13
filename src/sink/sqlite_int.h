/*
 * sqlite_int.h -- the internals of the SQLite store that its files share
 * (SQLite's own sqliteInt.h, on a small scale): the sink's structure, the
 * row images of a batch, the cached statements, and the helpers that
 * bind and run a batch's statements. Only the files of the SQLite store
 * include it: sqlite.c (the method table, opening, and the batch flow),
 * sqlite_records.c (the records that are not a merged row),
 * sqlite_summary.c (the run summaries a batch writes) and sqlite_query.c
 * (the read path).
 *
 * The data path: a shipper's batch of records comes to sqlite.c's
 * put_batch, which folds the records of one row into a row image
 * (row_image), writes each image with an upsert built from merge.c's
 * column table, and, after a run's row, its task's summary
 * (sqlite_summary.h); the other records go to their own statements
 * (sqlite.c's fixed_sql), through sqlite_records.h. Everything happens
 * in one write transaction on the connection db.
 */
#ifndef MIDA_SINK_SQLITE_INT_H
#define MIDA_SINK_SQLITE_INT_H

#include "core/buf.h"
#include "core/json.h"
#include "core/record.h"
#include "sink/data_rows.h"
#include "sink/merge.h"
#include "sink/rollup.h"
#include "sink/sink.h"
#include "sink/sqlite_checkpoint.h"
#include "sink/sqlite_deps.h"
#include "sink/sqlite_file.h"
#include "sink/sqlite_summary.h"
#include "sink/sqlite_temp.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The task or run rows of a batch that one INSERT goes to (sqlite.c,
 * apply_group). */
#ifndef IMAGE_ROWS_PER_STEP
#define IMAGE_ROWS_PER_STEP 16
#endif

/* The prepared statements a sink caches, one per record type and a few for
 * transactions. */
enum {
  ST_TASK,
  ST_WORKFLOW,
  ST_CAMPAIGN,
  ST_DATA,
  ST_TASK_DATA,
  ST_DATA_ROWS,          /* ST_DATA with ROWS_PER_STEP rows */
  ST_TASK_DATA_ROWS,     /* ST_TASK_DATA with ROWS_PER_STEP rows */
  ST_DATA_ROWS_NEW,      /* ST_DATA_ROWS for rows not yet stored */
  ST_TASK_DATA_ROWS_NEW, /* ST_TASK_DATA_ROWS for rows not yet stored */
  ST_DEP,
  ST_DEP_ROWS, /* ST_DEP with ROWS_PER_STEP rows */
  ST_METRIC,
  ST_TELEMETRY,
  ST_CURSOR,
  ST_COUNTER,
  ST_SEQ,
  ST_TOUCH,
  ST_BLOCK,
  ST_RUN,
  ST_TASK_ROWS_NEW, /* IMAGE_ROWS_PER_STEP task rows not yet stored */
  ST_RUN_ROWS_NEW,  /* IMAGE_ROWS_PER_STEP run rows not yet stored */
  ST_TASK_HELD,     /* whether the store holds a task's row */
  ST_RUN_HELD,      /* whether the store holds a run's row */
  ST_LOST_TASKS,
  ST_LOST_WORKFLOWS,
  ST_LOST_RUNS,
  ST_LOST_ANY, /* whether the three above have a row to mark */
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

/* One row image within a batch: which record supplies each column. */
typedef struct row_image {
  uint8_t entity;      /* ENT_* */
  uint8_t shares_row;  /* another image of its row is in the batch */
  uint8_t in_summary;  /* a task's: its run's summary writes it */
  uint32_t mask;       /* bit c: column c has a source */
  uint32_t task_image; /* a run's: the number + 1 of the task
                          image its summary writes too; 0: none */
  uint32_t source[MIDA_MERGE_MAX_COLUMNS]; /* index in the batch of the
                                              record of column c */
} row_image;

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

/* An SQLite store's sink: one connection to one file, its cached
 * statements, and the scratch space of its batches. */
typedef struct sqlite_sink {
  mida__sink base;                      /* common head; must be first */
  sqlite3 *db;                          /* the connection */
  int flags;                            /* MIDA_SINK_* given to open */
  char path[1024];                      /* the file, for messages */
  sqlite3_stmt *stmt[ST_COUNT];         /* prepared on first use, or NULL */
  narrow_upsert narrow[NARROW_UPSERTS]; /* upserts that set some columns */
  int nnarrow;                          /* entries used in narrow */
  run_summary summary[RUN_SUMMARIES];   /* run summaries prepared */
  int nsummary;                         /* entries used in summary */
  row_image *images;                    /* scratch: row images of a batch */
  size_t images_cap;                    /* entries allocated at images */
  mida__data_rows data;                 /* the open transaction's data
                                           records, applied at its commit
                                           (data_rows.h) */
  mida__dep_rows deps;                  /* the open batch's dependencies,
                                           written after its rows */
  mida__fold fold;                      /* scratch: rows to their images */
  uint32_t group[IMAGE_ROWS_PER_STEP];  /* scratch: images written by one
                                           statement (sqlite.c) */
  char group_ids[IMAGE_ROWS_PER_STEP][MIDA_MERGE_MAX_COLUMNS]
                [MIDA_ID_STRLEN];       /* scratch: their ids' text */
  mida__rollup rollup;                  /* scratch: the batch's metric blocks */
  uint64_t skipped_records;             /* records skipped since open */
  uint64_t dropped_fields;              /* malformed JSON fields dropped */
  int64_t batch_seq;       /* the change number of the open batch */
  mida__sqlite_file file;  /* identity of the files, WAL bound */
  mida__sqlite_ckpt *ckpt; /* the WAL's checkpoints off this thread */
  int stale;               /* the file at path is not the one open:
                              reopen before the next batch */
  uint64_t replaced;       /* times the store had to be reopened */
  int replaced_unrecorded; /* replaced not yet stored as a counter */
  int group_open;          /* deferred batches' write transaction is
                              open: sqlite_sync commits it */
  int temp_memory; /* temp_store is MEMORY (mida__sqlite_set_temp_store) */
  mida__sqlite_temp_budget temp;   /* queries' temporary files */
  int64_t query_deadline_ms;       /* monotonic end of the running query, 0 */
  int64_t query_stop_asked_ms;     /* when limits.stop was last asked */
  int query_timed_out;             /* the progress handler ended it */
  volatile sig_atomic_t cancelled; /* mida__sqlite_cancel was called */
} sqlite_sink;

/* Counts of one batch, added to the sink's when the batch commits. */
typedef struct batch_counts {
  uint64_t skipped_records; /* unknown type or key fields missing */
  uint64_t dropped_fields;  /* JSON fields that were not JSON objects */
} batch_counts;

/* Prepares statement which (ST_*) on its first use and keeps it on the
 * sink. Returns it, or NULL, with the sink's message set, if it cannot be
 * prepared. */
sqlite3_stmt *mida__sqlite_prepare_statement(sqlite_sink *s, int which);

/* Statement which (ST_*), prepared on its first use: a connection that
 * writes tasks and files never compiles the metric, telemetry or lost-
 * process statements (a short-lived writer, a `mida run`, used to prepare
 * all of them, ~150,000 instructions each). Returns NULL, with the sink's
 * message set, if it cannot be prepared. Inline: each record asks for its
 * statement, which is prepared but once. */
static inline sqlite3_stmt *mida__sqlite_statement(sqlite_sink *s, int which) {
  if (s->stmt[which] != NULL)
    return s->stmt[which];
  return mida__sqlite_prepare_statement(s, which);
}

/* Whether a record carries a usable value for a field: present, an id that
 * is not nil, a JSON field that is a JSON object (else it is counted as
 * dropped). */
static inline int mida__sqlite_field_usable(const mida__rec *r, unsigned tag,
                                            int is_json, batch_counts *counts) {
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

/* Binds one record field to parameter idx of st. idbuf (MIDA_ID_STRLEN
 * bytes) must outlive the step, since ids are bound without a copy. */
void mida__sqlite_bind_field(sqlite3_stmt *st, int idx, unsigned tag,
                             const mida__field *f, char *idbuf);

/* Steps the bound statement st inside the batch's transaction and clears
 * its bindings; what: the kind of record, for the message. Returns
 * MIDA_OK, or MIDA_ESTORE with the sink's message set. */
int mida__sqlite_step_write(sqlite_sink *s, sqlite3_stmt *st, const char *what);

/* Prepares text, kept across many steps, into *out, once build_rc (the
 * result of building it into sql) says it could be built; frees sql.
 * Returns MIDA_OK, or an error with the sink's message set. */
int mida__sqlite_prepare_built(sqlite_sink *s, int build_rc, mida__buf *sql,
                               const char *text, sqlite3_stmt **out);

/* Writes into out the merged value of column c of an entity's upsert: the
 * stored value and the incoming one (excluded) combined by the column's
 * rule (merge.h). */
int mida__sqlite_merge_expr(const entity *ent, int c, mida__buf *out);

/* Sets where the connection keeps temporary data: in memory (memory 1,
 * for a batch's statement journals) or in files (0, for everything else),
 * when it is not set so already. Returns MIDA_OK, or MIDA_ESTORE with the
 * sink's message set. */
int mida__sqlite_set_temp_store(sqlite_sink *s, int memory);

#endif

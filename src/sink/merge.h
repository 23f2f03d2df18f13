/*
 * merge.h -- how every store merges the records of one task, workflow or
 * campaign into one row: the columns of those tables, the record field that
 * supplies each, and its merge rule.
 *
 * The stores (src/sink/sqlite.c, src/sink/postgres.c) turn this one table
 * into their own upsert SQL, so the rules of docs/architecture.md ("Merge
 * rules") are written once and cannot drift apart between stores.
 */
#ifndef MIDA_SINK_MERGE_H
#define MIDA_SINK_MERGE_H

#include "core/record.h"
#include "sink/schema.h"

#include <stddef.h>
#include <stdint.h>

/* How a column merges an incoming value with the stored one. */
typedef enum mida__merge_rule {
  MIDA_RULE_KEY,    /* the primary key */
  MIDA_RULE_LAST,   /* the incoming value when present, else the stored one */
  MIDA_RULE_MIN,    /* the smaller of the non-null values */
  MIDA_RULE_MAX,    /* the larger of the non-null values */
  MIDA_RULE_STATUS, /* the higher-ranked status */
  MIDA_RULE_JSON,   /* JSON objects merged key by key */
  MIDA_RULE_ORIGIN  /* as LAST, but defaults from the batch's origin only
                       fill an empty column */
} mida__merge_rule;

typedef struct mida__merge_column {
  const char *name;  /* column name in the schema (unquoted) */
  uint8_t tag;       /* record field that supplies it */
  uint8_t rule;      /* mida__merge_rule */
  uint8_t from_runs; /* task columns: 1 if the task's runs summarise it
                        (schema.h, task_run): once the row has runs
                        (attempts IS NOT NULL) its own records leave it
                        as it is */
} mida__merge_column;

/* The most columns a merged table has. */
#define MIDA_MERGE_MAX_COLUMNS 18

/* The merged tables, in this order; the key is each table's first column.
 * MIDA_ENT_RUN is the table task_run (keyed by the run's id): after a
 * store applies a run's row it recomputes the summary of the run's task
 * (schema.h, task_run), each store with its own statement. */
enum {
  MIDA_ENT_TASK,
  MIDA_ENT_WORKFLOW,
  MIDA_ENT_CAMPAIGN,
  MIDA_ENT_RUN,
  MIDA_ENT_COUNT
};

typedef struct mida__merge_entity {
  const char *table;                 /* table name */
  const mida__merge_column *columns; /* its columns, the key first */
  int ncolumns;                      /* entries in columns */
} mida__merge_entity;

extern const mida__merge_entity mida__merge_entities[MIDA_ENT_COUNT];

/* Statuses. Stores keep a status as its name; a merge keeps the one of
 * higher rank. The rank is the mida_status_t number except for LOST,
 * which ranks between RUNNING and FINISHED: recovery marks what a dead
 * process left running, and a real end (FINISHED, CANCELLED, ERROR) that
 * arrives before or after still wins. */

/* Every status name, by mida_status_t number, then NULL: the values that
 * a status filter takes (`mida tasks --status`, /api/tasks?status=). */
extern const char *const mida__status_names[];

/* The name of a status number; one this build does not know is
 * "UNKNOWN". */
const char *mida__status_name(int64_t status);

/* The merge rank of a status number (unknown ones rank as UNKNOWN). */
int mida__status_rank(int64_t status);

/* The merge rank of a status name of len bytes; -1 if it is none. */
int mida__status_rank_of_name(const char *name, size_t len);

/* What a LOST record (record.h) does in a store: the tasks, then the
 * workflows, then the runs (task_run) of the process (host ?1, pid ?2)
 * that are not over and were begun from ?3 to ?4 (or carry no time at
 * all) become LOST, the reason ?5 going into a task's or run's error text
 * unless it has one. The same text for
 * every store (PostgreSQL writes the parameters $1..$5); a store's JSON
 * merge of a workflow's metadata is its own, named by the %s. A task or
 * workflow marked LOST is a changed row: its change number (schema.h,
 * version 4) becomes the batch's, the store's SQL expression SEQ (SQLite:
 * a parameter; PostgreSQL: the writing transaction's id), so that readers
 * of changes (`mida serve`'s events, its kept answers) see it. */
#define MIDA_LOST_NOT_OVER " AND " MIDA_SCHEMA_NOT_OVER
#define MIDA_LOST_TASKS_WHERE                                                  \
  " WHERE host = ?1 AND pid = ?2" MIDA_LOST_NOT_OVER                           \
  " AND (coalesce(started, submitted) IS NULL"                                 \
  " OR coalesce(started, submitted) BETWEEN ?3 AND ?4)"
#define MIDA_LOST_TASKS_SQL(SEQ)                                               \
  "UPDATE task SET status = 'LOST', error = coalesce(error, ?5), seq = " SEQ   \
      MIDA_LOST_TASKS_WHERE
#define MIDA_LOST_WORKFLOWS_WHERE                                              \
  " WHERE host = ?1 AND pid = ?2" MIDA_LOST_NOT_OVER                           \
  " AND (started IS NULL OR started BETWEEN ?3 AND ?4)"
#define MIDA_LOST_WORKFLOWS_SQL(SEQ)                                           \
  "UPDATE workflow SET status = 'LOST', seq = " SEQ MIDA_LOST_WORKFLOWS_WHERE
/* ... and its runs (task_run) that had not ended. */
#define MIDA_LOST_RUNS_WHERE                                                   \
  " WHERE host = ?1 AND pid = ?2" MIDA_LOST_NOT_OVER                           \
  " AND (started IS NULL OR started BETWEEN ?3 AND ?4)"
#define MIDA_LOST_RUNS_SQL                                                     \
  "UPDATE task_run SET status = 'LOST', error = coalesce(error, "              \
  "?5)" MIDA_LOST_RUNS_WHERE
/* Whether a LOST record (host ?1, pid ?2, from ?3 to ?4) has a row to
 * mark: a read of the same partial indexes as the updates'. */
#define MIDA_LOST_ANY_SQL                                                      \
  "SELECT EXISTS (SELECT 1 FROM task" MIDA_LOST_TASKS_WHERE ")"                \
  " OR EXISTS (SELECT 1 FROM workflow" MIDA_LOST_WORKFLOWS_WHERE ")"           \
  " OR EXISTS (SELECT 1 FROM task_run" MIDA_LOST_RUNS_WHERE ")"

/* The status names in rank order, as an SQL list of literals (for a
 * store's own rank function). */
#define MIDA_STATUS_NAMES_BY_RANK_SQL                                          \
  "'UNKNOWN','SUBMITTED','RUNNING','LOST','FINISHED','CANCELLED','ERROR'"

/* ---- folding a batch ----------------------------------------------------
 *
 * The rules above are associative, so both SQL stores first fold the
 * records of one row within a batch into one row image (sqlite.c keeps
 * which record supplies each column, postgres.c the values themselves) and
 * write each row once. What they share: the table that finds a row's image
 * in the batch, and the rule that says whether an incoming value replaces
 * the one an image holds. */

/* The rule of an integer column: whether incoming replaces held (MIN,
 * MAX, STATUS by rank; for any other rule, the incoming value wins). */
int mida__merge_takes(int rule, int64_t incoming, int64_t held);

/* One slot of the table: the row (entity, id) and its image. */
typedef struct mida__fold_slot {
  mida_id_t id;   /* the row's key */
  uint32_t image; /* its image's number + 1; 0: a free slot */
  int32_t entity; /* MIDA_ENT_* */
} mida__fold_slot;

/* Rows to images for one batch: open addressing over a power of two of
 * slots, at least twice the records. The table keeps the room of the
 * largest batch, but a batch uses (and clears) only the slots it needs. */
typedef struct mida__fold {
  mida__fold_slot *slots; /* cap of them */
  size_t cap;             /* 0 before the first batch */
  size_t size;            /* slots of this batch: a power of two <= cap */
} mida__fold;

/* Empties the table for a batch of n records, growing it if need be; it
 * clears only the slots the batch uses, so a small batch after a big one
 * costs what a small batch costs. Returns MIDA_OK, MIDA_ENOMEM, or
 * MIDA_EINVAL for a batch too large. */
int mida__fold_reset(mida__fold *f, size_t n);

/* The slot of the row (entity, id): the one that holds its image (image
 * != 0), or the free one where its image goes (image == 0; the caller
 * sets image to its image's number + 1). */
mida__fold_slot *mida__fold_find(mida__fold *f, int entity,
                                 const mida_id_t *id);

void mida__fold_free(mida__fold *f);

#endif /* MIDA_SINK_MERGE_H */

/*
 * sqlite_summary.c -- a task's row as the summary of its runs, written by
 * the SQLite store's batches (sqlite_summary.h).
 *
 * A task may run more than once (a retry, a speculative copy, a worker
 * that died): each run is a row of task_run (schema.h), and the task's
 * row holds what its runs say together: its status, the start, end,
 * host, pid, worker and telemetry of its latest run, and the number of
 * runs that started. sqlite.c's batch writes each run's row image (its
 * upsert of task_run) and then calls mida__sqlite_apply_run_summary,
 * which recomputes the task's columns from its runs in one statement.
 *
 * The same statement may also write the task's own row image of the
 * batch (a Dask worker's arguments and result, and the scheduler's
 * submission where the scheduler is the same process), rather than a
 * second statement writing the same row: mida__sqlite_plan_run_summaries
 * picks those images before the batch's images are applied, and sqlite.c
 * then skips them. The statements are built from merge.c's column table,
 * one per set of task columns they write, and cached on the sink.
 */
#include "sink/sqlite_summary.h"

#include "core/buf.h"
#include "sink/merge.h"
#include "sink/sqlite_int.h"

#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

/* The summary of task ?1 from its runs (schema.h, task_run), with the
 * batch's change number ?2: the latest run (the last entry of
 * task_run_by_task, whose entries end with the run's id) and scalar
 * subqueries on the same index. A CTE of the runs read twice would be
 * materialized, with a temporary B-tree for its ORDER BY, for every run a
 * batch applies (about 3 times the CPU). Its variants also write the
 * columns of the task's image in the batch that no run summarises (the
 * scheduler's submission, the worker's arguments and result) in the same
 * statement (run_summary_sql): the image's status as ?3 and ?4
 * (RUN_SUMMARY_STATUS), its other columns as ?6 and on; ?5 is the run's
 * id (SUMMARY_FIRST reads the run by it).
 *
 * Four forms of it, and two variants, which write the same row
 * (mida__sqlite_apply_run_summary):
 *
 *   SUMMARY_FIRST   the task's row, when it has one and its runs have not
 *                   been summarised yet (attempts IS NULL): then the run
 *                   applied just before, which has started, is the only
 *                   one that has, and the summary is that run's row, read
 *                   by its key (?5) -- no subquery on task_run_by_task;
 *   SUMMARY_UPDATE  the task's row, when it has one and a run of it has
 *                   started (the run applied just before has);
 *   SUMMARY_INSERT  the row, when the UPDATE found none (or before it,
 *                   for a task image that is likely a new row's: the
 *                   INSERT ignores a row that is there). A task without a
 *                   row never had a run summarised, so the row it inserts
 *                   is SUMMARY_FIRST's: the run read by its key;
 *   SUMMARY_UPSERT  either, when no run may have started (a run's end
 *                   alone): no row if none has;
 *   SUMMARY_FIRST_NEW, SUMMARY_INSERT_NEW
 *                   SUMMARY_FIRST and SUMMARY_INSERT for a run whose row
 *                   the batch just inserted from its image alone: the
 *                   run's values as parameters (RUN_NEW_FROM).
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

/* Whether task ?1's latest run r reopened it: the task has other runs
 * that started, and each of them had ended by the time r started (an
 * MLflow run resumed after it ended, a Dask key computed again after its
 * result was lost). A run still open beside r (or one whose end never
 * came: its process died) makes r a copy beside it, which reopens
 * nothing. The first EXISTS, false for a task of one run, is one probe of
 * task_run_by_task. */
#define RUN_REOPENED                                                           \
  "(EXISTS (SELECT 1 FROM task_run o WHERE o.task_id = ?1"                     \
  " AND o.started IS NOT NULL AND o.id <> r.id)"                               \
  " AND NOT EXISTS (SELECT 1 FROM task_run o WHERE o.task_id = ?1"             \
  " AND o.started IS NOT NULL AND o.id <> r.id"                                \
  " AND (o.ended IS NULL OR o.ended > r.started)))"
/* The status of a task that its latest run r reopened: r's own, RUNNING
 * until it ends, whatever the task's earlier runs and records said (the
 * stored status is replaced, not merged); a task image written in the
 * same statement still counts, as it does beside RUN_RUNS_STATUS (?3 and
 * ?4, step_run_summary). */
#define RUN_REOPENED_STATUS                                                    \
  "coalesce(?3, CASE WHEN r.status IN ('FINISHED', 'ERROR', 'CANCELLED',"     \
  " 'LOST') THEN r.status END, ?4, 'RUNNING')"

/* The status that task ?1's runs give it, beside its latest run r:
 * FINISHED if any run that started finished, else RUNNING. A CASE
 * evaluates a WHEN only when the ones before it are false: the latest
 * run's status decides alone when it is FINISHED (nearly always), and the
 * other runs' are read (from the table: task_run_by_task does not hold
 * them) only when it is not. The number of runs comes from the index
 * alone. Merged with the status of a task image written in the same
 * statement, without a function call (which would make the INSERT keep a
 * statement journal, below): ?3 is that status where it ranks above
 * FINISHED, ?4 where it ranks above RUNNING, else NULL (step_run_summary). */
#define RUN_RUNS_STATUS                                                        \
  "CASE WHEN r.status = 'FINISHED' THEN coalesce(?3, 'FINISHED')"              \
  " WHEN EXISTS (SELECT 1 FROM task_run f WHERE f.task_id = ?1"                \
  " AND f.started IS NOT NULL AND f.status = 'FINISHED')"                      \
  " THEN coalesce(?3, 'FINISHED') ELSE coalesce(?4, 'RUNNING') END"
/* The summary's status: a reopened task's, else its runs'. */
#define RUN_SUMMARY_STATUS                                                     \
  "CASE WHEN " RUN_REOPENED " THEN " RUN_REOPENED_STATUS " ELSE "              \
  RUN_RUNS_STATUS " END"
/* The number of task ?1's runs that started, from the index alone. */
#define RUN_SUMMARY_COUNT                                                      \
  "(SELECT count(*) FROM task_run WHERE task_id = ?1"                          \
  " AND started IS NOT NULL)"
/* The latest started run r of task ?1. */
#define RUN_SUMMARY_FROM                                                       \
  " FROM task_run r WHERE r.task_id = ?1 AND r.started IS NOT NULL"            \
  " ORDER BY r.started DESC, r.id DESC LIMIT 1"

/* A task's first summary (SUMMARY_FIRST, and the INSERT, which writes a
 * row only where the task has none): the run ?5 just applied has started,
 * and it is the only run of the task that has (each run with a start is
 * summarised right after it is applied, in the same transaction, and sets
 * attempts), so it is the latest, its status alone decides
 * (RUN_SUMMARY_STATUS with one run), and attempts is 1. About a fifth of
 * a Dask worker's store work a task went into the subqueries these forms
 * do without (bench_sink_dask.sh). */
#define RUN_FIRST_STATUS                                                       \
  "CASE WHEN r.status = 'FINISHED' THEN coalesce(?3, 'FINISHED')"              \
  " ELSE coalesce(?4, 'RUNNING') END"
#define RUN_FIRST_FROM " FROM task_run r WHERE r.id = ?5"
/* The same run, where its row was just inserted from the batch's image
 * alone (mida__sqlite_apply_run_summary's run_new): its values as
 * parameters, from RUN_NEW_PARAM on (bind_new_run), past every task
 * column's (SQLite reads the subquery as the constants it is). Its read
 * back by the key was ~5,000 instructions of a Dask worker's task:
 * a cursor opened and closed, a descent, the texts copied. */
#define RUN_NEW_PARAM 24
#define RUN_NEW_FROM                                                           \
  " FROM (SELECT ?24 AS started, ?25 AS ended, ?26 AS host, ?27 AS pid,"       \
  " ?28 AS worker, ?29 AS telemetry, ?30 AS status) r"

#define RUN_SUMMARY_INSERT                                                     \
  "INSERT INTO task(id, status, started, ended, host, pid, worker,"            \
  " telemetry, attempts, seq"
#define RUN_SUMMARY_INSERT_OR_IGNORE                                           \
  "INSERT OR IGNORE INTO task(id, status, started, ended, host, pid,"          \
  " worker, telemetry, attempts, seq"
/* The INSERT's SELECT of a summary (status, attempts: SQL text), before
 * the task image's columns and the FROM. */
#define RUN_SELECT_OF(status, attempts)                                        \
  ") SELECT ?1, " status ","                                                   \
  " r.started, r.ended, r.host, r.pid, r.worker, r.telemetry, " attempts       \
  ", ?2"
#define RUN_SUMMARY_SELECT RUN_SELECT_OF(RUN_SUMMARY_STATUS, RUN_SUMMARY_COUNT)
#define RUN_FIRST_SELECT RUN_SELECT_OF(RUN_FIRST_STATUS, "1")
#define RUN_SUMMARY_UPSERT                                                     \
  " ON CONFLICT(id) DO UPDATE SET"                                             \
  " status = CASE WHEN (SELECT " RUN_REOPENED RUN_SUMMARY_FROM ")"             \
  " THEN excluded.status"                                                      \
  " ELSE mida_status_merge(task.status, excluded.status) END,"                 \
  " started = excluded.started, ended = excluded.ended,"                       \
  " host = excluded.host, pid = excluded.pid, worker = excluded.worker,"       \
  " telemetry = excluded.telemetry, attempts = excluded.attempts,"             \
  " seq = excluded.seq"
/* The UPDATE of a summary (status, the run's FROM, attempts: SQL text):
 * the run's columns from one subquery (SQLite reads a row value's
 * subquery once), with the status merged into the stored one. */
#define RUN_UPDATE_OF(status, from, attempts)                                  \
  "UPDATE task SET (started, ended, host, pid, worker, telemetry, status) ="   \
  " (SELECT r.started, r.ended, r.host, r.pid, r.worker, r.telemetry, "        \
  status from "), attempts = " attempts ", seq = ?2"
/* The stored status merged with status (SQL text). */
#define RUN_MERGED(status) "mida_status_merge(task.status, " status ")"
/* The general UPDATE: a reopened task's status replaces the stored one. */
#define RUN_SUMMARY_UPDATE                                                     \
  RUN_UPDATE_OF("CASE WHEN " RUN_REOPENED " THEN " RUN_REOPENED_STATUS         \
                " ELSE " RUN_MERGED(RUN_RUNS_STATUS) " END",                   \
                RUN_SUMMARY_FROM, RUN_SUMMARY_COUNT)
#define RUN_SUMMARY_FIRST                                                      \
  RUN_UPDATE_OF(RUN_MERGED(RUN_FIRST_STATUS), RUN_FIRST_FROM, "1")
#define RUN_SUMMARY_FIRST_NEW                                                  \
  RUN_UPDATE_OF(RUN_MERGED(RUN_FIRST_STATUS), RUN_NEW_FROM, "1")

/* The parameter of the first task column a summary writes besides its
 * own (?1 task, ?2 change number, ?3 and ?4 status, ?5 run). */
#define FIRST_TASK_PARAM 6
_Static_assert(FIRST_TASK_PARAM + MIDA_MERGE_MAX_COLUMNS <= RUN_NEW_PARAM,
               "the task columns' parameters reach RUN_NEW_FROM's");

/* Whether form reads the run just applied as its task's only one. */
static int first_form(int form) {
  return form == SUMMARY_FIRST || form == SUMMARY_FIRST_NEW ||
         form == SUMMARY_INSERT || form == SUMMARY_INSERT_NEW;
}

/* Whether form takes the run's values as parameters (RUN_NEW_FROM). */
static int new_run_form(int form) {
  return form == SUMMARY_FIRST_NEW || form == SUMMARY_INSERT_NEW;
}

/* The FROM of the run of form (SUMMARY_*). */
static const char *form_from(int form) {
  if (new_run_form(form))
    return RUN_NEW_FROM;
  return first_form(form) ? RUN_FIRST_FROM : RUN_SUMMARY_FROM;
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
 * as a task's upsert merges it (mida__sqlite_merge_expr), for an UPDATE's SET.
 */
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
 * after the ones before it (?6 and on), merged into the stored value as a
 * task's upsert merges it (the INSERT has no stored value). */
static int run_summary_sql(int form, uint32_t task_mask, mida__buf *out) {
  const entity *ent = &entities[ENT_TASK];
  uint32_t others = task_mask & ~task_status_bit();
  int rc = MIDA_OK;
  int first = first_form(form);
  if (form == SUMMARY_UPDATE || form == SUMMARY_FIRST ||
      form == SUMMARY_FIRST_NEW) {
    if (form == SUMMARY_UPDATE)
      rc = mida__buf_adds(out, RUN_SUMMARY_UPDATE);
    else
      rc = mida__buf_adds(out, form == SUMMARY_FIRST ? RUN_SUMMARY_FIRST
                                                     : RUN_SUMMARY_FIRST_NEW);
    int param = FIRST_TASK_PARAM;
    for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
      if (((others >> c) & 1) == 0)
        continue;
      rc = mida__buf_printf(out, ", %s = ", ent->columns[c].name);
      if (rc == MIDA_OK)
        rc = update_merge_expr(c, param++, out);
    }
    if (rc != MIDA_OK)
      return rc;
    return mida__buf_adds(out, first ? " WHERE id = ?1 AND attempts IS NULL"
                                     : " WHERE id = ?1");
  }
  rc = mida__buf_adds(out, first ? RUN_SUMMARY_INSERT_OR_IGNORE
                                 : RUN_SUMMARY_INSERT);
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++)
    if ((others >> c) & 1)
      rc = mida__buf_printf(out, ", %s", ent->columns[c].name);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, first ? RUN_FIRST_SELECT : RUN_SUMMARY_SELECT);
  int param = FIRST_TASK_PARAM;
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++)
    if ((others >> c) & 1)
      rc = mida__buf_printf(out, ", ?%d", param++);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(out, form_from(form));
  if (rc != MIDA_OK || first)
    return rc;
  rc = mida__buf_adds(out, RUN_SUMMARY_UPSERT);
  for (int c = 1; c < ent->ncolumns && rc == MIDA_OK; c++) {
    if (((others >> c) & 1) == 0)
      continue;
    rc = mida__buf_printf(out, ", %s = ", ent->columns[c].name);
    if (rc == MIDA_OK)
      rc = mida__sqlite_merge_expr(ent, c, out);
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
  rc = mida__sqlite_prepare_built(s, rc, &sql, mida__buf_str(&sql), &st);
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
void mida__sqlite_plan_run_summaries(sqlite_sink *s, const mida__rec *recs,
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

/* Binds the parameters of a run summary for the run of record rec (its
 * task and its id), with the columns of the task image task (or NULL) of
 * task_mask (all its forms have the same parameters), and runs it. */
static int step_run_summary(sqlite_sink *s, sqlite3_stmt *st,
                            const mida__rec *recs, const mida__rec *rec,
                            const row_image *task, uint32_t task_mask) {
  const entity *ent = &entities[ENT_TASK];
  uint32_t status = task_status_bit();
  char ids[MIDA_MERGE_MAX_COLUMNS][MIDA_ID_STRLEN];
  char run[MIDA_ID_STRLEN];
  mida__sqlite_bind_field(st, 1, MIDA_F_TASK, &rec->f[MIDA_F_TASK], ids[0]);
  sqlite3_bind_int64(st, 2, s->batch_seq);
  mida__sqlite_bind_field(st, 5, MIDA_F_ID, &rec->f[MIDA_F_ID], run);
  int param = FIRST_TASK_PARAM;
  for (int c = 1; c < ent->ncolumns; c++) {
    uint32_t bit = (uint32_t)1 << c;
    if ((task_mask & bit) == 0)
      continue;
    unsigned tag = ent->columns[c].tag;
    const mida__field *f = &recs[task->source[c]].f[tag];
    if (bit != status) {
      mida__sqlite_bind_field(st, param++, tag, f, ids[c]);
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
  return mida__sqlite_step_write(s, st, "run");
}

/* Binds the values of run image img's row, just inserted from img and
 * the batch's origin alone (the origin's host and pid where img has
 * none, as the row's INSERT took them), at RUN_NEW_FROM's parameters. */
static void bind_new_run(sqlite3_stmt *st, const mida__rec *recs,
                         const row_image *img, const mida__origin *origin) {
  static const unsigned tags[] = {MIDA_F_STARTED, MIDA_F_ENDED,
                                  MIDA_F_HOST,    MIDA_F_PID,
                                  MIDA_F_WORKER,  MIDA_F_TELEMETRY,
                                  MIDA_F_STATUS};
  const entity *run = &entities[ENT_RUN];
  for (int i = 0; i < COUNT_OF(tags); i++) {
    int param = RUN_NEW_PARAM + i;
    for (int c = 1; c < run->ncolumns; c++) {
      if (run->columns[c].tag != tags[i])
        continue;
      if (img->mask & ((uint32_t)1 << c))
        mida__sqlite_bind_field(st, param, tags[i],
                                &recs[img->source[c]].f[tags[i]], NULL);
      else if (origin != NULL && tags[i] == MIDA_F_HOST &&
               origin->host != NULL)
        sqlite3_bind_text(st, param, origin->host, -1, SQLITE_STATIC);
      else if (origin != NULL && tags[i] == MIDA_F_PID)
        sqlite3_bind_int64(st, param, origin->pid);
    }
  }
}

/* Recomputes the summary of the task of a run's row image from its runs,
 * with the columns of the task image planned into it
 * (mida__sqlite_plan_run_summaries): the UPDATE of the task's row, and the
 * INSERT where it has none, when the run has a start (then the stored run has
 * one: started is the least of the values); else the upsert, which writes
 * nothing if no run of the task has started. The UPDATE is first tried in
 * its form for a task whose runs were never summarised (SUMMARY_FIRST: a
 * task's first run, nearly always its only one), then in the general form
 * if that changed nothing. A task image with a submission time (the
 * scheduler's begin) is nearly always a new task's: the INSERT goes first,
 * and the UPDATE only if the row was there (an UPDATE that finds no row
 * cost a Dask task ~12,000 instructions, bench_sink_dask one_process).
 * Where the run's row was just inserted from img alone (run_new), the
 * forms that read that row take its values from img instead (*_NEW). */
int mida__sqlite_apply_run_summary(sqlite_sink *s, const mida__rec *recs,
                                   const row_image *img,
                                   const mida__origin *origin, int run_new) {
  const row_image *task =
      img->task_image != 0 ? &s->images[img->task_image - 1] : NULL;
  uint32_t task_mask = task != NULL ? image_summary_mask(task) : 0;
  /* task_id is column 1 of task_run (merge.c); a run record without a
   * task never gets an image. */
  const mida__rec *r = &recs[img->source[1]];
  int started = (img->mask & ((uint32_t)1 << run_started_column())) != 0;
  /* The forms to try in turn, until one changes the row. */
  int forms[3] = {SUMMARY_UPSERT}, nforms = 1;
  if (started && (task_mask & task_submitted_bit()) != 0) {
    forms[0] = SUMMARY_INSERT;
    forms[1] = SUMMARY_FIRST;
    forms[2] = SUMMARY_UPDATE;
    nforms = 3;
  } else if (started) {
    forms[0] = SUMMARY_FIRST;
    forms[1] = SUMMARY_UPDATE;
    forms[2] = SUMMARY_INSERT;
    nforms = 3;
  }
  for (int i = 0; i < nforms && run_new; i++)
    if (forms[i] == SUMMARY_FIRST || forms[i] == SUMMARY_INSERT)
      forms[i] = forms[i] == SUMMARY_FIRST ? SUMMARY_FIRST_NEW
                                           : SUMMARY_INSERT_NEW;
  int rc = MIDA_OK;
  for (int i = 0; i < nforms && rc == MIDA_OK; i++) {
    sqlite3_stmt *st = NULL;
    rc = run_summary_stmt(s, forms[i], task_mask, &st);
    if (rc == MIDA_OK && new_run_form(forms[i]))
      bind_new_run(st, recs, img, origin);
    if (rc == MIDA_OK)
      rc = step_run_summary(s, st, recs, r, task, task_mask);
    if (rc == MIDA_OK && sqlite3_changes(s->db) != 0)
      break;
  }
  return rc;
}

/* Finalizes the run summaries prepared so far. */
void mida__sqlite_forget_summaries(sqlite_sink *s) {
  for (int i = 0; i < s->nsummary; i++)
    for (int f = 0; f < SUMMARY_FORMS; f++)
      sqlite3_finalize(s->summary[i].stmt[f]);
  s->nsummary = 0;
}

/*
 * sqlite_records.c -- the records of a batch that are not a merged row,
 * written into the SQLite store: data (a file, dataset or model) and its
 * link to a task, a metric point and the blocks of its series, a
 * telemetry sample, an observer's cursor, a counter, and the marks of a
 * process that died (a task's dependencies: sqlite_deps.c). sqlite.c
 * folds the task, workflow, campaign and run records into row images;
 * every other record comes here, one applier a type (sqlite_records.h),
 * each binding the record to its own cached statement (sqlite.c,
 * fixed_sql) inside the batch's write transaction.
 *
 * Data records wait: they are kept as they come and written at the
 * commit, in the order of their keys, many rows a statement (data_rows.h,
 * ROWS_PER_STEP): rows the store does not hold by an INSERT OR IGNORE,
 * until one meets a stored row, then by upserts (apply_kept). A
 * metric point that the store did not hold goes into the batch's blocks
 * (rollup.h), written once after the batch's records. A record without
 * the fields that key its row is skipped and counted, as everywhere in
 * the store (sqlite.c says why).
 */
#include "sink/sqlite_records.h"

#include "sink/sqlite_int.h"

#include <sqlite3.h>
#include <stdint.h>

/* Below this many data rows in a transaction, each is written alone
 * (apply_kept says why). */
#define MANY_ROWS_MIN (4 * ROWS_PER_STEP)

/* Copies a string field into the row's text, if the record has it. */
static int keep_str(mida__data_rows *d, mida__data_text *t, const mida__rec *r,
                    unsigned tag) {
  if (!r->f[tag].present)
    return MIDA_OK;
  return mida__data_rows_text(d, t, r->f[tag].v.str.ptr, r->f[tag].v.str.len);
}

/* Keeps a data record for the commit of the open transaction, which
 * applies the transaction's data records in the order of their keys
 * (data_rows.h); what the record lacks or has malformed is counted now,
 * as if it were applied. */
int mida__sqlite_keep_data(sqlite_sink *s, const mida__rec *r,
                           batch_counts *counts) {
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
    int rc = mida__sqlite_apply_data_rows(s);
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
  if (rc == MIDA_OK && mida__sqlite_field_usable(r, MIDA_F_METADATA, 1, counts))
    rc = keep_str(d, &row->metadata, r, MIDA_F_METADATA);
  if (rc != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  if (r->f[MIDA_F_SIZE].present && r->f[MIDA_F_SIZE].v.i64 >= 0)
    row->size = r->f[MIDA_F_SIZE].v.i64;
  if (!mida__sqlite_field_usable(r, MIDA_F_TASK, 0, counts))
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

/* Writes ROWS_PER_STEP kept rows (data rows, or links if links) at pick
 * with the statement of as many rows which: an upsert, or an INSERT OR
 * IGNORE of rows the store may not hold (it keeps no statement journal,
 * which a multi-row upsert always does, ~1,000 instructions a row;
 * sqlite3_changes then says how many it inserted). */
static int write_many(sqlite_sink *s, int which, const uint32_t *pick,
                      int links, char task[][MIDA_ID_STRLEN]) {
  const mida__data_rows *d = &s->data;
  sqlite3_stmt *st = mida__sqlite_statement(s, which);
  if (st == NULL)
    return MIDA_ESTORE;
  for (int i = 0; i < ROWS_PER_STEP; i++) {
    const mida__data_row *row = &d->rows[pick[i]];
    if (links)
      bind_link(st, 1 + 5 * i, d, row, task[i]);
    else
      bind_data(st, 1 + 6 * i, d, row);
  }
  return mida__sqlite_step_write(s, st, "data");
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
  int stmt_new = links ? ST_TASK_DATA_ROWS_NEW : ST_DATA_ROWS_NEW;
  int use_many = s->stmt[stmt_many] != NULL || n >= MANY_ROWS_MIN;
  int try_new = 1; /* until a statement of new rows meets a stored one */
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
    if (use_many && got == ROWS_PER_STEP) {
      if (try_new) {
        rc = write_many(s, stmt_new, pick, links, task);
        if (rc != MIDA_OK || sqlite3_changes(s->db) == got)
          continue;
        try_new = 0; /* a row was stored: the upserts below merge it */
      }
      rc = write_many(s, stmt_many, pick, links, task);
      continue;
    }
    sqlite3_stmt *st = mida__sqlite_statement(s, stmt_one);
    if (st == NULL)
      return MIDA_ESTORE;
    for (int i = 0; i < got && rc == MIDA_OK; i++) {
      const mida__data_row *row = &d->rows[pick[i]];
      if (links)
        bind_link(st, 1, d, row, task[i]);
      else
        bind_data(st, 1, d, row);
      rc = mida__sqlite_step_write(s, st, "data");
    }
  }
  return rc;
}

/* Writes the kept data records in the order of their keys, and forgets
 * them (data_rows.h). */
int mida__sqlite_apply_data_rows(sqlite_sink *s) {
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

int mida__sqlite_apply_metric(sqlite_sink *s, const mida__rec *r,
                              batch_counts *counts) {
  if (!mida__sqlite_field_usable(r, MIDA_F_TASK, 0, counts) ||
      !r->f[MIDA_F_KEY].present || !r->f[MIDA_F_TS].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  char task[MIDA_ID_STRLEN];
  sqlite3_stmt *st = mida__sqlite_statement(s, ST_METRIC);
  if (st == NULL)
    return MIDA_ESTORE;
  mida__sqlite_bind_field(st, 1, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  mida__sqlite_bind_field(st, 2, MIDA_F_KEY, &r->f[MIDA_F_KEY], NULL);
  if (r->f[MIDA_F_STEP].present) /* negative steps too; absent: NULL */
    sqlite3_bind_int64(st, 3, r->f[MIDA_F_STEP].v.i64);
  sqlite3_bind_int64(st, 4, r->f[MIDA_F_TS].v.i64);
  if (r->f[MIDA_F_VALUE].present)
    mida__sqlite_bind_field(st, 5, MIDA_F_VALUE, &r->f[MIDA_F_VALUE], NULL);
  int rc = mida__sqlite_step_write(s, st, "metric");
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
  st = mida__sqlite_statement(s, ST_TOUCH);
  if (st == NULL)
    return MIDA_ESTORE;
  sqlite3_bind_int64(st, 1, s->batch_seq);
  mida__sqlite_bind_field(st, 2, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  return mida__sqlite_step_write(s, st, "metric");
}

/* Writes the batch's metric blocks (rollup.h), in key order: each upsert
 * finds its page next to the last one's (a third less work than in the
 * order of the hash table). */
int mida__sqlite_apply_blocks(sqlite_sink *s) {
  const mida__rollup_entry *blocks = NULL;
  size_t n = 0;
  if (mida__rollup_sort(&s->rollup, &blocks, &n) != MIDA_OK)
    return mida__sink_fail(&s->base, MIDA_ENOMEM, "out of memory");
  if (n == 0)
    return MIDA_OK; /* no metric: its statement is not compiled
                       (mida__sqlite_statement) */
  sqlite3_stmt *st = mida__sqlite_statement(s, ST_BLOCK);
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
    rc = mida__sqlite_step_write(s, st, "metric");
  }
  return rc;
}

/* Binds HOST (at idx) and PID (at idx + 1), defaulting to the origin's;
 * returns 0 when either is still unknown. */
static int bind_host_pid(sqlite3_stmt *st, int idx, const mida__rec *r,
                         const mida__origin *origin) {
  if (r->f[MIDA_F_HOST].present)
    mida__sqlite_bind_field(st, idx, MIDA_F_HOST, &r->f[MIDA_F_HOST], NULL);
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

int mida__sqlite_apply_telemetry(sqlite_sink *s, const mida__rec *r,
                                 const mida__origin *origin,
                                 batch_counts *counts) {
  sqlite3_stmt *st = mida__sqlite_statement(s, ST_TELEMETRY);
  if (st == NULL)
    return MIDA_ESTORE;
  if (!r->f[MIDA_F_TS].present || !bind_host_pid(st, 1, r, origin)) {
    sqlite3_clear_bindings(st);
    counts->skipped_records++;
    return MIDA_OK;
  }
  char wf[MIDA_ID_STRLEN], task[MIDA_ID_STRLEN];
  sqlite3_bind_int64(st, 3, r->f[MIDA_F_TS].v.i64);
  if (mida__sqlite_field_usable(r, MIDA_F_WORKFLOW, 0, counts))
    mida__sqlite_bind_field(st, 4, MIDA_F_WORKFLOW, &r->f[MIDA_F_WORKFLOW], wf);
  if (mida__sqlite_field_usable(r, MIDA_F_TASK, 0, counts))
    mida__sqlite_bind_field(st, 5, MIDA_F_TASK, &r->f[MIDA_F_TASK], task);
  if (mida__sqlite_field_usable(r, MIDA_F_METADATA, 1, counts))
    mida__sqlite_bind_field(st, 6, MIDA_F_METADATA, &r->f[MIDA_F_METADATA],
                            NULL);
  return mida__sqlite_step_write(s, st, "telemetry");
}

/* Binds a string field or NULL. */
static void bind_str_or_null(sqlite3_stmt *st, int idx, const mida__rec *r,
                             unsigned tag) {
  if (r->f[tag].present)
    mida__sqlite_bind_field(st, idx, tag, &r->f[tag], NULL);
  else
    sqlite3_bind_null(st, idx);
}

int mida__sqlite_apply_cursor(sqlite_sink *s, const mida__rec *r,
                              batch_counts *counts) {
  if (!r->f[MIDA_F_SOURCE].present || !r->f[MIDA_F_KEY].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  sqlite3_stmt *st = mida__sqlite_statement(s, ST_CURSOR);
  if (st == NULL)
    return MIDA_ESTORE;
  mida__sqlite_bind_field(st, 1, MIDA_F_SOURCE, &r->f[MIDA_F_SOURCE], NULL);
  mida__sqlite_bind_field(st, 2, MIDA_F_KEY, &r->f[MIDA_F_KEY], NULL);
  bind_str_or_null(st, 3, r, MIDA_F_TEXT);
  if (r->f[MIDA_F_TS].present)
    sqlite3_bind_int64(st, 4, r->f[MIDA_F_TS].v.i64);
  return mida__sqlite_step_write(s, st, "cursor");
}

int mida__sqlite_apply_counter(sqlite_sink *s, const mida__rec *r,
                               const mida__origin *origin,
                               batch_counts *counts) {
  sqlite3_stmt *st = mida__sqlite_statement(s, ST_COUNTER);
  if (st == NULL)
    return MIDA_ESTORE;
  if (!r->f[MIDA_F_KEY].present || !r->f[MIDA_F_VALUE_I].present ||
      !bind_host_pid(st, 1, r, origin)) {
    sqlite3_clear_bindings(st);
    counts->skipped_records++;
    return MIDA_OK;
  }
  mida__sqlite_bind_field(st, 3, MIDA_F_KEY, &r->f[MIDA_F_KEY], NULL);
  sqlite3_bind_int64(st, 4, r->f[MIDA_F_VALUE_I].v.i64);
  return mida__sqlite_step_write(s, st, "counter");
}

/* Whether the LOST record r (host and pid from r or origin; from started
 * to until) has an unfinished row to mark: 1, 0, or -1 with the sink's
 * message set. 1 when r names no host or pid: the updates skip and count
 * it. */
static int lost_rows_left(sqlite_sink *s, const mida__rec *r,
                          const mida__origin *origin, int64_t until) {
  sqlite3_stmt *st = mida__sqlite_statement(s, ST_LOST_ANY);
  if (st == NULL)
    return -1;
  if (!bind_host_pid(st, 1, r, origin)) {
    sqlite3_clear_bindings(st);
    return 1;
  }
  sqlite3_bind_int64(st, 3, r->f[MIDA_F_STARTED].v.i64);
  sqlite3_bind_int64(st, 4, until);
  int rc = sqlite3_step(st);
  int any = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : -1;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (any < 0)
    mida__sink_fail(&s->base, MIDA_ESTORE,
                    "cannot read the unfinished rows of store '%s': %s",
                    s->path, sqlite3_errmsg(s->db));
  return any;
}

/* A LOST record (record.h): marks what the dead process left unfinished.
 * Applied after the batch's rows, so that tasks begun in the same batch
 * are marked too. Most dead processes left nothing (every process of a
 * `mida run` that exits ends its task): the updates, whose status change
 * takes rows out of the partial index that finds them, first collect
 * their rows in a temporary table, made and zeroed even when none
 * matches (~27,000 instructions each, a quarter of what `mida run` spends
 * on a short process); a read of the same indexes comes first. */
int mida__sqlite_apply_lost(sqlite_sink *s, const mida__rec *r,
                            const mida__origin *origin, batch_counts *counts) {
  if (!r->f[MIDA_F_STARTED].present || !r->f[MIDA_F_ERROR].present) {
    counts->skipped_records++;
    return MIDA_OK;
  }
  int64_t until =
      r->f[MIDA_F_ENDED].present ? r->f[MIDA_F_ENDED].v.i64 : INT64_MAX;
  int left = lost_rows_left(s, r, origin, until);
  if (left <= 0)
    return left < 0 ? MIDA_ESTORE : MIDA_OK;
  const int which[3] = {ST_LOST_TASKS, ST_LOST_WORKFLOWS, ST_LOST_RUNS};
  int rc = MIDA_OK;
  for (int i = 0; i < 3 && rc == MIDA_OK; i++) {
    sqlite3_stmt *st = mida__sqlite_statement(s, which[i]);
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
      mida__sqlite_bind_field(st, 5, MIDA_F_ERROR, &r->f[MIDA_F_ERROR], NULL);
    if (sqlite3_bind_parameter_name(st, 6) != NULL) /* the change number */
      sqlite3_bind_int64(st, 6, s->batch_seq);
    rc = mida__sqlite_step_write(s, st, "lost");
  }
  return rc;
}

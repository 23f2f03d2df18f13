/*
 * key_side.h -- the side table of the numeric keys declared with `mida
 * index` (schema.h, version 8): task_key_num(name, value, task_id), one row
 * per task whose document holds a number at the key, keyed by (name,
 * value, task_id) where name is the key's index name (key.h).
 *
 * Why a table and not only the expression index: a range on a key read
 * newest first ("where used.lr in [0.5, 0.501), a page of 100 by id") must
 * sort every match by id. The expression index on task(mida_num(...), id)
 * holds the ids, but SQLite (before 3.41) never reads an index on an
 * expression as covering, and PostgreSQL never does, so each match costs a
 * lookup of its whole task row: 56 ms SQLite, 117 ms PostgreSQL for 5,000
 * matches over 5M tasks. The side table's primary key is covering on both:
 * the matching ids are read from it alone, the newest page of them taken,
 * and only that page's rows are looked up. Since version 10 the index
 * task_key_num_by_task(name, task_id, value) holds the same entries in id
 * order: a wide range is walked in it newest first, the value compared
 * on each entry, until a page of matches (key_index.h, "by id"), instead
 * of reading and sorting every match.
 *
 * The store keeps it exact by itself: triggers on task, made with the
 * key's index by mida__key_index_apply (SQLite: three row triggers per
 * key, insert, update of the document, delete; PostgreSQL, since version
 * 9: three statement-level triggers per key, insert, update, delete, each
 * one set-based statement over the statement's rows, calling
 * mida.task_key_num_insert/_update/_delete()), so no writer's code path
 * knows of it; the
 * same transaction fills it from the tasks already stored (the backfill),
 * and dropping the index drops the triggers and the key's rows. Its reads:
 * mida__key_side_fits and mida__key_side_where (key_index.h).
 */
#ifndef MIDA_SINK_KEY_SIDE_H
#define MIDA_SINK_KEY_SIDE_H

#include "core/buf.h"
#include "sink/key.h"

/* Appends the SQL that makes the side table of numeric key k kept (its
 * triggers) and fills it from the stored tasks, or (drop) that drops the
 * triggers and the key's rows. postgres: the PostgreSQL store's dialect,
 * else SQLite's. Returns MIDA_OK or the buffer's error. */
int mida__key_side_sql(mida__buf *sql, const mida__key *k, int postgres,
                       int drop);

/* Appends mida__key_side_sql for the key text ("used.lr") of a numeric
 * key mida_index records: what the migrations run for each key declared
 * before -- to version 8 with the backfill (fill), and on PostgreSQL to
 * version 9 without it (the rows are there; only the triggers change). A
 * text that is not a key is skipped (mida_index holds only parsed keys);
 * SQLite's SQL always backfills. */
int mida__key_side_migrate_sql(mida__buf *sql, const char *key, int postgres,
                               int fill);

#endif /* MIDA_SINK_KEY_SIDE_H */

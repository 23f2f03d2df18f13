/*
 * key_index.h -- the indexes declared on keys of the task documents
 * (key.h): what `mida index` makes and drops, and what MIDA_INDEX asks a
 * writer to make when it opens the store.
 *
 * Declared indexes are recorded in the table mida_index (schema.h, version
 * 6): name (the index's), key ("used.lr"), kind ("num" or "text"),
 * created (ns since the epoch).
 */
#ifndef MIDA_SINK_KEY_INDEX_H
#define MIDA_SINK_KEY_INDEX_H

#include "sink/key.h"
#include "sink/predicate.h"
#include "sink/sink.h"

/* Creates the key's index on the store and records it in mida_index, or
 * (drop) drops it and forgets it. Takes the writer's lock: on PostgreSQL
 * the build holds writers of the task table until it is done. Returns
 * MIDA_OK or the store's error (message in the sink). */
int mida__key_index_apply(mida__sink *sink, const mida__key *k,
                          mida__key_kind kind, int drop);

/* Applies MIDA_INDEX, if set, to a store opened for writing: a list of
 * keys separated by ',' (a "text:" before a key asks for a text index),
 * each created unless mida_index records it already. Returns MIDA_OK, or
 * MIDA_EINVAL (a key that is not one; message in err) or the store's
 * error. */
int mida__key_index_declared(mida__sink *sink, const char *list, char *err,
                             size_t errlen);

/* At most this many matching tasks make a predicate's match "few". */
#define MIDA_PREDICATE_FEW 10000

/* The most predicates on one key that one probe combines. */
#define MIDA_PREDICATE_PROBE_MAX 16

/* Sets preds[i].few for the predicates whose key has an index (mida_index,
 * `mida index`) that holds fewer than MIDA_PREDICATE_FEW tasks matching
 * all the predicates on that key (a range is two): per key, two small
 * queries, the second reading at most that many entries of the key's side
 * table (a numeric key, key_side.h) or of its index. Then the predicate's
 * SQL wraps the comparison in unlikely(), which tells SQLite's planner --
 * which has no statistics of an expression's values -- to read the index
 * rather than walk the whole table in id order looking for matches
 * (PostgreSQL's store defines unlikely() and likely() as the comparison
 * itself). Where the matches are many, walking in id order finds a page
 * of them soon, and reading the index would sort them all: preds[i].many
 * is set, and likely() tells SQLite to walk (without it, SQLite takes any
 * range on an indexed expression for a narrow one). A store error leaves
 * both at 0. */
void mida__predicate_probe(mida__sink *sink, mida__predicate *preds, int n);

/* A range newest first reads the side table of its key (key_side.h) when
 * fewer than this many tasks match: over 1M tasks on SQLite, reading
 * 50,000 matching ids from it and taking the newest 100 took 13 ms;
 * walking the tasks newest first until 100 of them match reads about
 * 100 / (the fraction matching) rows, fewer than that beyond it. */
#define MIDA_KEY_SIDE_FEW 50000

/* Whether the predicates (all of them) can be answered from the side
 * table: each a numeric comparison (= < <= > >=) on one and the same key,
 * whose index is declared, and fewer than MIDA_KEY_SIDE_FEW tasks match
 * (one count over the side table's primary key). When the count was made,
 * it also sets each predicate's few (0) and many (the count reached
 * MIDA_KEY_SIDE_FEW), so that no probe need count them again. A store
 * error answers 0 and changes nothing. */
int mida__key_side_fits(mida__sink *sink, mida__predicate *preds, int n);

/* Appends "t.id IN (SELECT task_id FROM task_key_num WHERE ... ORDER BY
 * task_id DESC LIMIT limit)" for preds (which mida__key_side_fits
 * accepted), alias the task table's: the page of limit ids in id order
 * (desc: newest first). The values become params[*np], *np growing; with
 * have_after, the page starts after the id that the caller binds as the
 * next parameter (?*np+1). Returns MIDA_OK or the buffer's error. */
int mida__key_side_where(mida__buf *sql, const mida__predicate *preds, int n,
                         const char *alias, int desc, int have_after,
                         long long limit, const char **params, int *np);

#endif /* MIDA_SINK_KEY_INDEX_H */

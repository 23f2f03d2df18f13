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
 * fewer than this many tasks match, and when the first
 * MIDA_KEY_WALK_FIRST tasks in the page's order do not hold a page of
 * them. Reading n matching ids from the side table and sorting them costs
 * about n entries (13 ms for 50,000 over 1M tasks on SQLite, loaded);
 * walking the tasks until a page of 100 matches costs 100 / (the fraction
 * that matches) rows, about 1 us each; counting the matches costs as much
 * as reading them. With this threshold the medians stay under 20 ms at
 * 1M tasks on both stores and at 5M on SQLite; PostgreSQL at 5M is over
 * it around 1 % (docs/performance.md, run D). */
#define MIDA_KEY_SIDE_FEW 30000
#define MIDA_KEY_WALK_FIRST 2000

/* Whether the predicates (all of them) are best answered from the side
 * table, for a page of page rows in id order (desc: newest first), after
 * the id after (NULL: from the start): each a numeric comparison (= < <=
 * > >=) on one and the same key, whose index is declared; the first
 * MIDA_KEY_WALK_FIRST tasks of the walk in id order hold fewer than a
 * page of matches (one bounded read), and fewer than MIDA_KEY_SIDE_FEW
 * tasks match in all (one count over the side table's primary key). When
 * it counted, it also sets each predicate's few (0) and many (the walk's
 * first tasks held a page, or the count reached MIDA_KEY_SIDE_FEW), so
 * that no probe need count them again. A store error answers 0 and
 * changes nothing. */
int mida__key_side_fits(mida__sink *sink, mida__predicate *preds, int n,
                        int desc, const char *after, long long page);

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

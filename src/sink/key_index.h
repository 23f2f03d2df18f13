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

/* When a range newest first reads the side table of its key
 * (key_side.h): when fewer than few tasks match, and the first walk_first
 * tasks in the page's order hold too few of them for the walk to find a
 * page within walk_most tasks (at that rate). Reading n
 * matching ids from the side table and sorting them costs about n index
 * entries; walking the tasks until a page of 100 matches costs 100 / (the
 * fraction that matches) rows; counting the matches costs as much as
 * reading them. The limits differ by store, as a row's cost against an
 * entry's does (mida__key_side_limits_of). */
typedef struct mida__key_side_limits {
  long long few;        /* at least this many matches: walk */
  long long walk_first; /* tasks of the walk looked at first */
  long long walk_most;  /* tasks worth walking without a count */
} mida__key_side_limits;

/* SQLite: a row read and its JSON decoded cost about 1 us, an entry of
 * the side table about 0.25 us (13 ms for 50,000 over 1M tasks, loaded):
 * with these the medians stay under 20 ms at 1M and 5M tasks
 * (docs/performance.md, run D). It walks without a count only when the
 * first tasks hold a page (walk_most = walk_first). */
#define MIDA_KEY_SIDE_FEW 30000
#define MIDA_KEY_WALK_FIRST 2000

/* PostgreSQL: a row of the walk costs about 2.5 us (its jsonb decoded by
 * mida_num), an entry of the side table about 0.5 us read index-only,
 * counted and read again (loaded, 5M tasks): the two meet near 30,000
 * matches as on SQLite, but the first look of the walk, 2,000 rows, cost
 * 10-16 ms, half of a narrow range's time: it looks at 500, and walks
 * without counting when those say a page is within 5,000 rows (about
 * 12 ms; a count of 30,000 entries costs as much). */
#define MIDA_KEY_SIDE_FEW_PG 30000
#define MIDA_KEY_WALK_FIRST_PG 500
#define MIDA_KEY_WALK_MOST_PG 5000

/* The limits for the sink's store. */
const mida__key_side_limits *mida__key_side_limits_of(const mida__sink *sink);

/* Whether the predicates (all of them) are best answered from the side
 * table, for a page of page rows in id order (desc: newest first), after
 * the id after (NULL: from the start): each a numeric comparison (= < <=
 * > >=) on one and the same key, whose index is declared; the first
 * walk_first tasks of the walk in id order hold fewer than a page of
 * matches (one bounded read), and fewer than few tasks match in all (one
 * count over the side table's primary key), with the limits of the
 * sink's store. When it counted, it also sets each predicate's few (0)
 * and many (the walk's first tasks held a page, or the count reached
 * few), so that no probe need count them again. A store error answers 0
 * and changes nothing. */
int mida__key_side_fits(mida__sink *sink, mida__predicate *preds, int n,
                        int desc, const char *after, long long page);

/* mida__key_side_fits with the given limits (a benchmark compares them). */
int mida__key_side_fits_within(mida__sink *sink, mida__predicate *preds, int n,
                               int desc, const char *after, long long page,
                               const mida__key_side_limits *limits);

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

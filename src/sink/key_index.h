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

/* How a range in id order reads the side table of its key (key_side.h),
 * and when. Two ways, each read from an index of the side table alone:
 *
 *   by value  the matching entries of the primary key (name, value,
 *             task_id), all of them, the page's ids kept (a sort of the
 *             matches): costs about the number of matches;
 *   by id     the index task_key_num_by_task (name, task_id, value),
 *             version 10, walked in the page's order, the value compared
 *             on each entry, stopped after a page of matches: costs about
 *             page / (the fraction that matches) entries.
 *
 * Which: first the first `first` entries of the walk by id are looked at
 * (one bounded read); if they hold a page, or enough matches that the
 * walk finds a page within walk_most entries (at that rate), by id.
 * Else the matches are counted by value, at most few: fewer, by value
 * (which then reads them a second time); as many, by id (a fraction of
 * at least few / the key's entries). The limits differ by store, as an
 * entry's cost does (mida__key_side_limits_of). */
typedef struct mida__key_side_limits {
  long long few;       /* at least this many matches: by id */
  long long first;     /* entries of the walk by id looked at first */
  long long walk_most; /* entries worth walking by id without a count */
} mida__key_side_limits;

/* SQLite: an entry of the side table costs about 0.25 us read from
 * either index (loaded); a walk of the task rows instead, their JSON
 * decoded, about 1 us. The first look is 2,000 entries (~0.5 ms): a
 * range of at least ~0.5 % of the tasks is walked by id without a count
 * (a page of 101 within 20,000 entries); below, the count (at most 30,000
 * entries) says. docs/performance.md, run G. */
#define MIDA_KEY_SIDE_FEW 30000
#define MIDA_KEY_SIDE_FIRST 2000
#define MIDA_KEY_SIDE_WALK_MOST 20000

/* PostgreSQL: an entry about 0.5 us read index-only (loaded, 5M tasks),
 * a walked task row 2.5 us (its jsonb decoded): the same shape. */
#define MIDA_KEY_SIDE_FEW_PG 30000
#define MIDA_KEY_SIDE_FIRST_PG 2000
#define MIDA_KEY_SIDE_WALK_MOST_PG 20000

/* The limits for the sink's store. */
const mida__key_side_limits *mida__key_side_limits_of(const mida__sink *sink);

/* The ways of mida__key_side_fits (above). */
#define MIDA_KEY_SIDE_BY_VALUE 1
#define MIDA_KEY_SIDE_BY_ID 2

/* How the predicates (all of them) are best answered from the side table,
 * for a page of page rows in id order (desc: newest first), after the id
 * after (NULL: from the start): 0 when not (a predicate that is not a
 * numeric comparison (= < <= > >=) on one and the same key, whose index
 * is declared; a store older than version 8), else
 * MIDA_KEY_SIDE_BY_VALUE or MIDA_KEY_SIDE_BY_ID (above), with the limits
 * of the sink's store. A store of version 8 or 9 has no index by id: by
 * value when fewer than few match, else 0 with each predicate's many set
 * (the walk of the tasks, key_index.h's probe). When it counted, it also
 * sets each predicate's few (0) and many, so that no probe need count
 * them again. A store error answers 0 and changes nothing. */
int mida__key_side_fits(mida__sink *sink, mida__predicate *preds, int n,
                        int desc, const char *after, long long page);

/* mida__key_side_fits with the given limits (a benchmark compares them). */
int mida__key_side_fits_within(mida__sink *sink, mida__predicate *preds, int n,
                               int desc, const char *after, long long page,
                               const mida__key_side_limits *limits);

/* Appends "t.id IN (SELECT task_id FROM task_key_num WHERE ... ORDER BY
 * task_id DESC LIMIT limit)" for preds (which mida__key_side_fits
 * accepted, way: what it answered), alias the task table's: the page of
 * limit ids in id order (desc: newest first), read by value or by id. The
 * values become params[*np], *np growing; with have_after, the page
 * starts after the id that the caller binds as the next parameter
 * (?*np+1). Returns MIDA_OK or the buffer's error. */
int mida__key_side_where(mida__buf *sql, const mida__predicate *preds, int n,
                         const char *alias, int desc, int have_after,
                         long long limit, int way, const char **params,
                         int *np);

#endif /* MIDA_SINK_KEY_INDEX_H */

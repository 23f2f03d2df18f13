/*
 * data_rows.h -- the data records of a store's write transaction, kept
 * until its commit and then given back in the order of their data's key.
 *
 * A file record of `mida run` writes three B-trees of an SQLite store:
 * data (keyed by the data's id), task_data (task, data, role) and its
 * index task_data_by_data (data, role, task). A file's id,
 * "inode:<dev>:<inode>:<mtime_ns>:<size>", comes in the order in which
 * the program met the files (a directory's listing order), so applied as
 * they come each insert lands in the middle of the trees, and SQLite
 * rebalances a full leaf with its siblings about every other insert.
 * Applied in key order, a transaction's new keys are appended, where
 * SQLite adds a leaf cheaply (balance_quick) and fills it whole. The
 * order has to hold over the whole transaction, not each batch: a
 * recovery's or a collector's group of segments is one transaction of
 * many batches, and keys sorted batch by batch land in the middle of the
 * previous batches' all the same (measured: no fewer instructions).
 *
 * The store (sqlite_records.c) copies each data record here as it is put
 * (what it will bind: strings into one buffer of this struct's), and at
 * the commit applies them sorted by key; the records of one key keep the
 * order in which they came, which the merge of the data's row needs (the
 * URI of a later rename wins). Bounded: past DATA_ROWS_MAX rows or
 * DATA_ROWS_TEXT_MAX bytes of text, mida__data_rows_full says so, and the
 * store applies what it holds, sorted, before going on.
 *
 * Not thread-safe: one store's writing thread.
 */
#ifndef MIDA_SINK_DATA_ROWS_H
#define MIDA_SINK_DATA_ROWS_H

#include "mida.h"

#include <stddef.h>
#include <stdint.h>

/* A string of a row: where its bytes are in the rows' text. */
typedef struct mida__data_text {
  uint32_t off; /* offset in text, or MIDA_DATA_NO_TEXT: SQL NULL */
  uint32_t len; /* bytes */
} mida__data_text;

#define MIDA_DATA_NO_TEXT UINT32_MAX

/* What one data record writes: the data's row and, where role is set,
 * its task's link. */
typedef struct mida__data_row {
  mida__data_text key;      /* the data's id (never NULL) */
  mida__data_text kind;     /* data.kind */
  mida__data_text uri;      /* data.uri */
  mida__data_text digest;   /* data.digest */
  mida__data_text metadata; /* data.metadata (a JSON object) */
  mida__data_text name;     /* task_data.name */
  int64_t size;             /* data.size, or -1: NULL */
  int64_t bytes;            /* task_data.bytes, or -1: NULL */
  mida_id_t task;           /* the link's task */
  uint8_t role;             /* MIDA_USED, MIDA_GENERATED, or 0: no link */
} mida__data_row;

typedef struct mida__data_rows {
  mida__data_row *rows;         /* in the order they were added */
  size_t n;                     /* entries at rows */
  size_t cap;                   /* entries allocated at rows */
  char *text;                   /* the rows' strings, one after the other */
  size_t text_len;              /* bytes used at text */
  size_t text_cap;              /* bytes allocated at text */
  uint32_t *order;              /* after mida__data_rows_sort: indexes of rows,
                                   by key, then by arrival */
  size_t order_cap;             /* entries allocated at order */
  struct mida__data_sort *sort; /* the sort's scratch, 2 * order_cap */
} mida__data_rows;

/* Bounds before mida__data_rows_full says to apply what is held. */
#define DATA_ROWS_MAX 65536
#define DATA_ROWS_TEXT_MAX (16u << 20)

/* A new row at the end, all strings NULL, size and bytes -1, no link; NULL
 * when out of memory. Valid until the next call of _add. */
mida__data_row *mida__data_rows_add(mida__data_rows *d);

/* Copies len bytes at ptr (NULL with len 0: an empty string) into the
 * rows' text and points *t at them. MIDA_OK or MIDA_ENOMEM (the row
 * stays, with *t NULL: the caller drops it with mida__data_rows_clear). */
int mida__data_rows_text(mida__data_rows *d, mida__data_text *t,
                         const char *ptr, size_t len);

/* A row's string, not NUL-terminated; NULL when it is SQL NULL. Valid
 * until the next _text or _clear. */
static inline const char *mida__data_rows_str(const mida__data_rows *d,
                                              mida__data_text t) {
  return t.off == MIDA_DATA_NO_TEXT ? NULL : d->text + t.off;
}

/* Whether the rows have reached their bounds (apply them now). */
int mida__data_rows_full(const mida__data_rows *d);

/* Fills d->order: the rows by key (bytes, a prefix first), rows of one key
 * in the order they were added. MIDA_OK or MIDA_ENOMEM. */
int mida__data_rows_sort(mida__data_rows *d);

/* Forgets every row (keeps the memory). */
void mida__data_rows_clear(mida__data_rows *d);

/* Frees the memory; d is empty after. */
void mida__data_rows_free(mida__data_rows *d);

#endif /* MIDA_SINK_DATA_ROWS_H */

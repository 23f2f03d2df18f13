/*
 * data_rows.c -- a transaction's data records, copied and sorted by key
 * (data_rows.h says why).
 */
#include "sink/data_rows.h"

#include "core/alloc.h"

#include <string.h>

mida__data_row *mida__data_rows_add(mida__data_rows *d) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 256;
    mida__data_row *p = mida__realloc(d->rows, cap * sizeof *p);
    if (p == NULL)
      return NULL;
    d->rows = p;
    d->cap = cap;
  }
  mida__data_row *r = &d->rows[d->n++];
  const mida__data_text none = {MIDA_DATA_NO_TEXT, 0};
  r->key = r->kind = r->uri = r->digest = r->metadata = r->name = none;
  r->size = r->bytes = -1;
  memset(&r->task, 0, sizeof r->task);
  r->role = 0;
  return r;
}

int mida__data_rows_text(mida__data_rows *d, mida__data_text *t,
                         const char *ptr, size_t len) {
  t->off = MIDA_DATA_NO_TEXT;
  t->len = 0;
  if (len > UINT32_MAX / 2 || d->text_len + len >= UINT32_MAX / 2)
    return MIDA_ENOMEM;
  if (d->text_len + len > d->text_cap) {
    size_t cap = d->text_cap ? d->text_cap : 64 * 1024;
    while (cap < d->text_len + len)
      cap *= 2;
    char *p = mida__realloc(d->text, cap);
    if (p == NULL)
      return MIDA_ENOMEM;
    d->text = p;
    d->text_cap = cap;
  }
  if (len > 0)
    memcpy(d->text + d->text_len, ptr, len);
  t->off = (uint32_t)d->text_len;
  t->len = (uint32_t)len;
  d->text_len += len;
  return MIDA_OK;
}

int mida__data_rows_full(const mida__data_rows *d) {
  return d->n >= DATA_ROWS_MAX || d->text_len >= DATA_ROWS_TEXT_MAX;
}

/* A row as the sort sees it: its index, and the 8 bytes of its key that
 * follow the prefix that every key shares, big-endian (zeros past the
 * key's end), which decide most comparisons without reading the keys:
 * file ids share their first 14 bytes or so ("inode:65024:21"). */
typedef struct mida__data_sort {
  uint64_t head;  /* the key's 8 bytes after the common prefix */
  uint32_t index; /* the row's */
} data_sort;

/* Whether a goes before b: by key; a tie keeps their order (the merge
 * below takes from the left run first). */
static inline int sort_before(const mida__data_rows *d, const data_sort *a,
                              const data_sort *b) {
  if (a->head != b->head)
    return a->head < b->head;
  mida__data_text ka = d->rows[a->index].key, kb = d->rows[b->index].key;
  size_t n = ka.len < kb.len ? ka.len : kb.len;
  int c = memcmp(d->text + ka.off, d->text + kb.off, n);
  return c < 0 || (c == 0 && ka.len < kb.len);
}

/* The bytes that every row's key starts with. */
static size_t common_prefix(const mida__data_rows *d) {
  const char *first = d->text + d->rows[0].key.off;
  size_t len = d->rows[0].key.len;
  for (size_t i = 1; i < d->n && len > 0; i++) {
    mida__data_text k = d->rows[i].key;
    const char *p = d->text + k.off;
    size_t m = k.len < len ? k.len : len;
    size_t j = 0;
    while (j < m && p[j] == first[j])
      j++;
    len = j;
  }
  return len;
}

int mida__data_rows_sort(mida__data_rows *d) {
  size_t n = d->n;
  if (n > d->order_cap) {
    uint32_t *p = mida__realloc(d->order, n * sizeof *p);
    if (p == NULL)
      return MIDA_ENOMEM;
    d->order = p;
    data_sort *q = mida__realloc(d->sort, 2 * n * sizeof *q);
    if (q == NULL)
      return MIDA_ENOMEM;
    d->sort = q;
    d->order_cap = n;
  }
  if (n == 0)
    return MIDA_OK;
  data_sort *a = d->sort, *b = d->sort + n;
  size_t skip = common_prefix(d);
  for (size_t i = 0; i < n; i++) {
    mida__data_text k = d->rows[i].key;
    const unsigned char *p = (const unsigned char *)d->text + k.off + skip;
    size_t m = k.len - skip < 8 ? k.len - skip : 8;
    uint64_t head = 0;
    for (size_t j = 0; j < 8; j++)
      head = head << 8 | (j < m ? p[j] : 0);
    a[i] = (data_sort){head, (uint32_t)i};
  }
  /* Runs of 8 by insertion (stable: a row moves only past greater keys),
   * then merged bottom-up. A tar's or a build's files come in runs
   * already (a directory's inodes), which the check before each merge
   * skips. */
  for (size_t lo = 0; lo < n; lo += 8) {
    size_t hi = lo + 8 < n ? lo + 8 : n;
    for (size_t i = lo + 1; i < hi; i++) {
      data_sort x = a[i];
      size_t j = i;
      for (; j > lo && sort_before(d, &x, &a[j - 1]); j--)
        a[j] = a[j - 1];
      a[j] = x;
    }
  }
  for (size_t width = 8; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = lo + width < n ? lo + width : n;
      size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
      if (mid == hi || !sort_before(d, &a[mid], &a[mid - 1])) {
        memcpy(b + lo, a + lo, (hi - lo) * sizeof *a); /* in order */
        continue;
      }
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        b[k++] = sort_before(d, &a[j], &a[i]) ? a[j++] : a[i++];
      while (i < mid)
        b[k++] = a[i++];
      while (j < hi)
        b[k++] = a[j++];
    }
    data_sort *t = a;
    a = b;
    b = t;
  }
  for (size_t i = 0; i < n; i++)
    d->order[i] = a[i].index;
  return MIDA_OK;
}

void mida__data_rows_clear(mida__data_rows *d) {
  d->n = 0;
  d->text_len = 0;
}

void mida__data_rows_free(mida__data_rows *d) {
  mida__free(d->rows);
  mida__free(d->text);
  mida__free(d->order);
  mida__free(d->sort);
  memset(d, 0, sizeof *d);
}

/*
 * series_cache.c -- the last downsampled metric series the server sent,
 * kept for the next request of the same series.
 *
 * Downsampling a series of millions of points reads all of them; a
 * dashboard asks for the same series again and again (every open page,
 * every refresh), and a finished run's series never changes. An entry is
 * keyed by the request (task, key, axis, points, range) and validated by
 * the task's change number (task.seq, schema.h), which moves whenever the
 * task gets metric points: a hit is one primary-key lookup. A store without
 * change numbers (seq NULL) is never cached. The cache holds at most
 * SERIES_CACHE_ENTRIES entries and SERIES_CACHE_BYTES bytes, the least
 * recently used going first; it is shared by the request threads under one
 * mutex.
 */
#include "serve/series_cache.h"

#include "core/alloc.h"
#include "mida.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define SERIES_CACHE_ENTRIES 64
#define SERIES_CACHE_BYTES ((size_t)32 << 20)

typedef struct entry {
  char *key;       /* the request, NULL for a free entry */
  char *validator; /* the task's change number when it was made */
  char *json;      /* the series object as sent */
  size_t len;      /* bytes at json */
  uint64_t used;   /* when it was last used (a counter) */
} entry;

struct mida__series_cache {
  pthread_mutex_t lock;                /* guards everything below */
  entry entries[SERIES_CACHE_ENTRIES]; /* the entries */
  size_t bytes;                        /* bytes of json held */
  uint64_t clock;                      /* the use counter */
};

mida__series_cache *mida__series_cache_new(void) {
  mida__series_cache *c = mida__calloc(1, sizeof *c);
  if (c != NULL)
    pthread_mutex_init(&c->lock, NULL);
  return c;
}

static void drop(mida__series_cache *c, entry *e) {
  c->bytes -= e->len;
  mida__free(e->key);
  mida__free(e->validator);
  mida__free(e->json);
  memset(e, 0, sizeof *e);
}

void mida__series_cache_free(mida__series_cache *c) {
  if (c == NULL)
    return;
  for (int i = 0; i < SERIES_CACHE_ENTRIES; i++)
    drop(c, &c->entries[i]);
  pthread_mutex_destroy(&c->lock);
  mida__free(c);
}

int mida__series_cache_get(mida__series_cache *c, const char *key,
                           const char *validator, mida__buf *out) {
  if (c == NULL || validator == NULL)
    return 0;
  int hit = 0;
  pthread_mutex_lock(&c->lock);
  for (int i = 0; i < SERIES_CACHE_ENTRIES; i++) {
    entry *e = &c->entries[i];
    if (e->key == NULL || strcmp(e->key, key) != 0)
      continue;
    if (strcmp(e->validator, validator) != 0) {
      drop(c, e); /* the series changed */
      break;
    }
    hit = mida__buf_add(out, e->json, e->len) == MIDA_OK;
    e->used = ++c->clock;
    break;
  }
  pthread_mutex_unlock(&c->lock);
  return hit;
}

void mida__series_cache_put(mida__series_cache *c, const char *key,
                            const char *validator, const char *json,
                            size_t len) {
  if (c == NULL || validator == NULL || len > SERIES_CACHE_BYTES / 4)
    return;
  char *k = mida__strdup(key);
  char *v = mida__strdup(validator);
  char *j = mida__malloc(len);
  if (k == NULL || v == NULL || j == NULL) {
    mida__free(k);
    mida__free(v);
    mida__free(j);
    return;
  }
  memcpy(j, json, len);
  pthread_mutex_lock(&c->lock);
  for (int i = 0; i < SERIES_CACHE_ENTRIES; i++)
    if (c->entries[i].key != NULL && strcmp(c->entries[i].key, key) == 0)
      drop(c, &c->entries[i]);
  /* Room: a free entry, and bytes under the cap, by evicting the least
   * recently used. */
  for (;;) {
    entry *free_one = NULL, *oldest = NULL;
    for (int i = 0; i < SERIES_CACHE_ENTRIES; i++) {
      entry *e = &c->entries[i];
      if (e->key == NULL && free_one == NULL)
        free_one = e;
      if (e->key != NULL && (oldest == NULL || e->used < oldest->used))
        oldest = e;
    }
    if (free_one != NULL && c->bytes + len <= SERIES_CACHE_BYTES) {
      free_one->key = k;
      free_one->validator = v;
      free_one->json = j;
      free_one->len = len;
      free_one->used = ++c->clock;
      c->bytes += len;
      break;
    }
    drop(c, oldest);
  }
  pthread_mutex_unlock(&c->lock);
}

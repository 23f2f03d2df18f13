/*
 * answer_cache.c -- answers that cost much to compute, kept for the next
 * request of the same thing while what they were computed from has not
 * changed.
 *
 * Two answers read far more than they send: a metric series downsampled
 * from millions of points, and the workflow list with the task counts of
 * every workflow (an index scan over every task). A dashboard asks for
 * them again and again (every open page, every refresh). An entry is keyed
 * by the request and carries a validator -- a change number of the store
 * (schema.h): the task's seq for a series, the store's horizon for the
 * workflow list -- and is used only while the validator is the same, so a
 * hit costs one indexed lookup. Without change numbers (NULL) nothing is
 * cached. At most ANSWER_CACHE_ENTRIES entries and ANSWER_CACHE_BYTES
 * bytes, the least recently used going first; one mutex, shared by the
 * request threads.
 */
#include "serve/answer_cache.h"

#include "core/alloc.h"
#include "mida.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define ANSWER_CACHE_ENTRIES 64
#define ANSWER_CACHE_BYTES ((size_t)32 << 20)

typedef struct entry {
  char *key;       /* the request, NULL for a free entry */
  char *validator; /* the task's change number when it was made */
  char *json;      /* the series object as sent */
  size_t len;      /* bytes at json */
  uint64_t used;   /* when it was last used (a counter) */
} entry;

struct mida__answer_cache {
  pthread_mutex_t lock;                /* guards everything below */
  entry entries[ANSWER_CACHE_ENTRIES]; /* the entries */
  size_t bytes;                        /* bytes of json held */
  uint64_t clock;                      /* the use counter */
};

mida__answer_cache *mida__answer_cache_new(void) {
  mida__answer_cache *c = mida__calloc(1, sizeof *c);
  if (c != NULL)
    pthread_mutex_init(&c->lock, NULL);
  return c;
}

static void drop(mida__answer_cache *c, entry *e) {
  c->bytes -= e->len;
  mida__free(e->key);
  mida__free(e->validator);
  mida__free(e->json);
  memset(e, 0, sizeof *e);
}

void mida__answer_cache_free(mida__answer_cache *c) {
  if (c == NULL)
    return;
  for (int i = 0; i < ANSWER_CACHE_ENTRIES; i++)
    drop(c, &c->entries[i]);
  pthread_mutex_destroy(&c->lock);
  mida__free(c);
}

int mida__answer_cache_get(mida__answer_cache *c, const char *key,
                           const char *validator, mida__buf *out) {
  if (c == NULL || validator == NULL)
    return 0;
  int hit = 0;
  pthread_mutex_lock(&c->lock);
  for (int i = 0; i < ANSWER_CACHE_ENTRIES; i++) {
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

void mida__answer_cache_put(mida__answer_cache *c, const char *key,
                            const char *validator, const char *json,
                            size_t len) {
  if (c == NULL || validator == NULL || len > ANSWER_CACHE_BYTES / 4)
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
  for (int i = 0; i < ANSWER_CACHE_ENTRIES; i++)
    if (c->entries[i].key != NULL && strcmp(c->entries[i].key, key) == 0)
      drop(c, &c->entries[i]);
  /* Room: a free entry, and bytes under the cap, by evicting the least
   * recently used. */
  for (;;) {
    entry *free_one = NULL, *oldest = NULL;
    for (int i = 0; i < ANSWER_CACHE_ENTRIES; i++) {
      entry *e = &c->entries[i];
      if (e->key == NULL && free_one == NULL)
        free_one = e;
      if (e->key != NULL && (oldest == NULL || e->used < oldest->used))
        oldest = e;
    }
    if (free_one != NULL && c->bytes + len <= ANSWER_CACHE_BYTES) {
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

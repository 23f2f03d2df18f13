/*
 * series_cache.h -- downsampled series kept for their next request
 * (series_cache.c), validated by the task's change number.
 */
#ifndef MIDA_SERVE_SERIES_CACHE_H
#define MIDA_SERVE_SERIES_CACHE_H

#include "core/buf.h"

#include <stddef.h>

typedef struct mida__series_cache mida__series_cache;

/* A new, empty cache, or NULL when out of memory (then nothing is cached).
 * Free it with mida__series_cache_free(). Thread-safe. */
mida__series_cache *mida__series_cache_new(void);
void mida__series_cache_free(mida__series_cache *c);

/* Appends the series cached for key to out and returns 1 when there is one
 * made under the same validator (the task's change number); else 0. A NULL
 * cache or validator is always a miss. */
int mida__series_cache_get(mida__series_cache *c, const char *key,
                           const char *validator, mida__buf *out);

/* Keeps json[0..len) for key and validator (copied), evicting the least
 * recently used entries as needed. */
void mida__series_cache_put(mida__series_cache *c, const char *key,
                            const char *validator, const char *json,
                            size_t len);

#endif /* MIDA_SERVE_SERIES_CACHE_H */

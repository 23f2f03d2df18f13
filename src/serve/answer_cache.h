/*
 * answer_cache.h -- costly answers kept for their next request
 * (answer_cache.c), validated by a change number of the store.
 */
#ifndef MIDA_SERVE_ANSWER_CACHE_H
#define MIDA_SERVE_ANSWER_CACHE_H

#include "core/buf.h"

#include <stddef.h>

typedef struct mida__answer_cache mida__answer_cache;

/* A new, empty cache, or NULL when out of memory (then nothing is cached).
 * Free it with mida__answer_cache_free(). Thread-safe. */
mida__answer_cache *mida__answer_cache_new(void);
void mida__answer_cache_free(mida__answer_cache *c);

/* Appends the answer cached for key to out and returns 1 when there is one
 * made under the same validator (a change number); else 0. A NULL cache or
 * validator is always a miss. */
int mida__answer_cache_get(mida__answer_cache *c, const char *key,
                           const char *validator, mida__buf *out);

/* Keeps json[0..len) for key and validator (copied), evicting the least
 * recently used entries as needed. */
void mida__answer_cache_put(mida__answer_cache *c, const char *key,
                            const char *validator, const char *json,
                            size_t len);

#endif /* MIDA_SERVE_ANSWER_CACHE_H */

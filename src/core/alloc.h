/*
 * alloc.h -- the one pair of allocation wrappers every module uses.
 *
 * All heap memory of libmida goes through mida__malloc/calloc/realloc/free so
 * that tests can count allocations (to prove the hot path makes none) and
 * make the n-th one fail (to prove out-of-memory is reported, not fatal).
 */
#ifndef MIDA_CORE_ALLOC_H
#define MIDA_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *mida__malloc(size_t n);
void *mida__calloc(size_t count, size_t n);
void *mida__realloc(void *p, size_t n);
void mida__free(void *p);
/* A copy of s (NULL gives NULL), to free with mida__free(). */
char *mida__strdup(const char *s);

/* For tests: allocations made so far (all threads), and a countdown after
 * which allocations fail (negative: never). */
uint64_t mida__alloc_count(void);
/* Allocations made so far by the calling thread. */
uint64_t mida__alloc_count_thread(void);
void mida__alloc_fail_after(int64_t n);

#endif /* MIDA_CORE_ALLOC_H */

/*
 * alloc.c -- counting, failable allocation wrappers (see alloc.h).
 */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint_fast64_t alloc_count;
static _Thread_local uint64_t thread_alloc_count;
static atomic_int_fast64_t fail_countdown = -1;

/* Whether this allocation must fail, per mida__alloc_fail_after(). */
static int should_fail(void) {
  atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
  thread_alloc_count++;
  if (atomic_load_explicit(&fail_countdown, memory_order_relaxed) < 0)
    return 0;
  return atomic_fetch_sub(&fail_countdown, 1) == 0;
}

void *mida__malloc(size_t n) {
  return should_fail() ? NULL : malloc(n);
}

void *mida__calloc(size_t count, size_t n) {
  return should_fail() ? NULL : calloc(count, n);
}

void *mida__realloc(void *p, size_t n) {
  return should_fail() ? NULL : realloc(p, n);
}

void mida__free(void *p) {
  free(p);
}

char *mida__strdup(const char *s) {
  if (s == NULL)
    return NULL;
  size_t n = strlen(s) + 1;
  char *copy = mida__malloc(n);
  if (copy != NULL)
    memcpy(copy, s, n);
  return copy;
}

uint64_t mida__alloc_count(void) {
  return atomic_load(&alloc_count);
}

uint64_t mida__alloc_count_thread(void) {
  return thread_alloc_count;
}

void mida__alloc_fail_after(int64_t n) {
  atomic_store(&fail_countdown, n);
}

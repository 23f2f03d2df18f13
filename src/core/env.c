/*
 * env.c -- the copy of the environment that mida's threads read (env.h).
 *
 * The list below is every variable read by code that runs on a mida
 * thread: a store's or broker's opening on the shipper (MIDA_INDEX,
 * MIDA_REDACT_USED, MIDA_WAL_MAX, MIDA_QUERY_*, MIDA_MODULE_DIR,
 * MIDA_TLS_*) and the sampler's GPU libraries. A name read on a mida
 * thread must be added here: one that is not is read with getenv, which
 * tests/preload/test_run_environment.py (getenv_guard.c) catches.
 */
#include "core/env.h"

#include "core/alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[] = {
    "MIDA_INDEX",           "MIDA_REDACT_USED",      "MIDA_WAL_MAX",
    "MIDA_QUERY_TEMP_MB",   "MIDA_QUERY_TIMEOUT_MS", "MIDA_MODULE_DIR",
    "MIDA_TLS_CA",          "MIDA_TLS_CERT",         "MIDA_TLS_KEY",
    "MIDA_TLS_SERVER_NAME", "MIDA_GPU_BACKENDS",     "MIDA_NVML_LIBRARY",
    "MIDA_AMDSMI_LIBRARY",
};
#define NAME_COUNT (sizeof names / sizeof names[0])

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *values[NAME_COUNT]; /* under lock; NULL: unset */
static _Thread_local int own_thread;

void mida__env_capture(void) {
  char *fresh[NAME_COUNT];
  for (size_t i = 0; i < NAME_COUNT; i++) {
    const char *v = getenv(names[i]);
    fresh[i] = v != NULL ? mida__strdup(v) : NULL;
  }
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < NAME_COUNT; i++) {
    char *old = values[i];
    values[i] = fresh[i];
    fresh[i] = old;
  }
  pthread_mutex_unlock(&lock);
  for (size_t i = 0; i < NAME_COUNT; i++)
    mida__free(fresh[i]);
}

void mida__env_own_thread(void) {
  own_thread = 1;
}

char *mida__env_dup(const char *name) {
  size_t i = 0;
  while (own_thread && i < NAME_COUNT && strcmp(names[i], name) != 0)
    i++;
  if (!own_thread || i == NAME_COUNT) {
    const char *v = getenv(name);
    return v != NULL ? mida__strdup(v) : NULL;
  }
  pthread_mutex_lock(&lock);
  char *copy = values[i] != NULL ? mida__strdup(values[i]) : NULL;
  pthread_mutex_unlock(&lock);
  return copy;
}

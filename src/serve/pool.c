/*
 * pool.c -- the read-only sinks the server's handlers share.
 *
 * A sink serves one thread at a time (sink.h), and opening one costs a
 * file open (SQLite) or a connection (PostgreSQL), so the server keeps a
 * small pool of them, opened on first use with MIDA_SINK_READONLY |
 * MIDA_SINK_NOCREATE and given from handler to handler. A sink whose query
 * failed on the store's side is closed and opened anew next time, so that
 * a store that went away and came back (a restarted PostgreSQL, a replaced
 * file) is read again without restarting the server; a SQLite file that
 * was deleted or replaced is found at each acquire (mida__sink_moved),
 * before any query reads the old one. When the server stops, the pool
 * gives no more sinks and ends the queries of those it gave. Each handler's
 * acquire first waits, bounded, while a `mida run` that returned is still
 * shipping into the store (capture/ship_lock.h), as every reader does; each
 * release passes the guard's query notice to the log, once.
 */
#include "serve/serve.h"

#include "capture/ship_lock.h"
#include "core/alloc.h"
#include "mida.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int mida__serve_pool_init(mida__serve_pool *pool, const char *url, int size) {
  memset(pool, 0, sizeof *pool);
  atomic_init(&pool->stopping, 0);
  pool->url = mida__strdup(url);
  pool->sinks = mida__calloc((size_t)size, sizeof *pool->sinks);
  pool->busy = mida__calloc((size_t)size, sizeof *pool->busy);
  if (pool->url == NULL || pool->sinks == NULL || pool->busy == NULL) {
    mida__free(pool->url);
    mida__free(pool->sinks);
    mida__free(pool->busy);
    return MIDA_ENOMEM;
  }
  pool->size = size;
  pthread_mutex_init(&pool->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&pool->freed, &attr);
  pthread_condattr_destroy(&attr);
  return MIDA_OK;
}

void mida__serve_pool_free(mida__serve_pool *pool) {
  if (pool->sinks == NULL)
    return;
  for (int i = 0; i < pool->size; i++)
    mida__sink_close(pool->sinks[i]);
  if (pool->url != NULL)
    memset(pool->url, 0, strlen(pool->url)); /* it may hold a password */
  mida__free(pool->url);
  mida__free(pool->sinks);
  mida__free(pool->busy);
  pthread_mutex_destroy(&pool->lock);
  pthread_cond_destroy(&pool->freed);
  memset(pool, 0, sizeof *pool);
}

/* The sinks' stop function (guard.h): whether the server stops. */
static int pool_stopping(void *ctx) {
  mida__serve_pool *pool = ctx;
  return atomic_load(&pool->stopping);
}

void mida__serve_pool_stop(mida__serve_pool *pool) {
  atomic_store(&pool->stopping, 1);
  mida__sink_cancel_queries();
}

void mida__serve_deadline(int ms, struct timespec *out) {
  clock_gettime(CLOCK_MONOTONIC, out);
  out->tv_sec += ms / 1000;
  out->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (out->tv_nsec >= 1000000000L) {
    out->tv_sec++;
    out->tv_nsec -= 1000000000L;
  }
}

int mida__serve_acquire(mida__serve_pool *pool, int wait_ms, mida__sink **out,
                        char *err, size_t errlen) {
  struct timespec deadline;
  mida__serve_deadline(wait_ms, &deadline);
  *out = NULL;
  if (atomic_load(&pool->stopping)) {
    snprintf(err, errlen, "the server is stopping");
    return MIDA_ECLOSED;
  }
  pthread_mutex_lock(&pool->lock);
  int slot = -1;
  for (;;) {
    /* An open idle sink first, else an empty slot. */
    for (int i = 0; i < pool->size && slot < 0; i++)
      if (!pool->busy[i] && pool->sinks[i] != NULL)
        slot = i;
    for (int i = 0; i < pool->size && slot < 0; i++)
      if (!pool->busy[i])
        slot = i;
    if (slot >= 0)
      break;
    if (pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) ==
        ETIMEDOUT) {
      pthread_mutex_unlock(&pool->lock);
      snprintf(err, errlen,
               "the server is busy: every store connection "
               "is in use");
      return MIDA_EBUSY;
    }
  }
  pool->busy[slot] = 1;
  mida__sink *sink = pool->sinks[slot];
  pthread_mutex_unlock(&pool->lock);

  /* A SQLite store deleted or replaced since this sink opened it: the
   * sink would read the deleted file on, so the path is opened again (no
   * file there: the open fails, and the request is a 503). */
  if (sink != NULL && mida__sink_moved(sink)) {
    mida__sink_close(sink);
    sink = NULL;
    pthread_mutex_lock(&pool->lock);
    pool->generation++;
    pthread_mutex_unlock(&pool->lock);
  }

  /* Each request waits, bounded, for the records of a `mida run` that
   * returned while they are still being shipped (an open(2) when none). */
  char note[256];
  if (mida__ship_wait_store(pool->url, note, sizeof note) != MIDA_OK)
    fprintf(stderr, "mida serve: warning: %s\n", note);
  int rc = MIDA_OK;
  if (sink == NULL) {
    /* Opened outside the lock: a PostgreSQL connection takes a while. */
    err[0] = '\0';
    rc = mida__sink_open(pool->url, MIDA_SINK_READONLY | MIDA_SINK_NOCREATE,
                         &sink, err, errlen);
    if (rc != MIDA_OK) {
      sink = NULL;
      if (err[0] == '\0')
        snprintf(err, errlen, "%s", mida_strerror(rc));
    } else {
      /* The guard's bounds, and the server's stop, which ends a query
       * that started after the stop cancelled those in flight. */
      mida__query_limits lim;
      mida__guard_limits_default(&lim);
      lim.stop = pool_stopping;
      lim.stop_ctx = pool;
      mida__sink_set_limits(sink, &lim);
    }
  }
  pthread_mutex_lock(&pool->lock);
  pool->sinks[slot] = sink;
  if (sink == NULL) {
    pool->busy[slot] = 0;
    pthread_cond_signal(&pool->freed);
  }
  pthread_mutex_unlock(&pool->lock);
  *out = sink;
  return rc;
}

int64_t mida__serve_generation(mida__serve_pool *pool) {
  pthread_mutex_lock(&pool->lock);
  int64_t generation = pool->generation;
  pthread_mutex_unlock(&pool->lock);
  return generation;
}

void mida__serve_release(mida__serve_pool *pool, mida__sink *sink, int failed) {
  if (sink == NULL)
    return;
  char unbounded[512];
  if (mida__sink_take_query_notice(sink, unbounded, sizeof unbounded))
    fprintf(stderr, "mida serve: warning: %s\n", unbounded);
  pthread_mutex_lock(&pool->lock);
  for (int i = 0; i < pool->size; i++) {
    if (pool->sinks[i] != sink)
      continue;
    pool->busy[i] = 0;
    if (failed)
      pool->sinks[i] = NULL;
    break;
  }
  pthread_cond_signal(&pool->freed);
  pthread_mutex_unlock(&pool->lock);
  if (failed)
    mida__sink_close(sink);
}

/*
 * session.h -- the session behind the public API (internal).
 *
 * A session ties together the three layers of the data path: the journal
 * that the capture calls append to (src/capture/journal.h), and the shipper
 * thread (src/capture/shipper.h) that opens the sink (src/sink/sink.h: the
 * store or broker) and moves records from one to the other.
 */
#ifndef MIDA_API_SESSION_H
#define MIDA_API_SESSION_H

#include "capture/journal.h"
#include "capture/shipper.h"
#include "core/shared_id.h"
#include "mida.h"
#include "sink/sink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct mida_session {
  char *store_url;               /* the sink's URL (owned) */
  char *spool_dir;               /* the journal's directory (owned) */
  bool disabled;                 /* MIDA_DISABLE: calls record nothing */
  atomic_bool closed;            /* set by mida_close() */
  mida_id_t campaign;            /* the session's campaign, or nil */
  char *campaign_name;           /* its name as configured (owned), or NULL */
  mida_id_t parent_task;         /* default parent of tasks, or nil */
  mida__shared_id workflow;      /* default workflow of tasks */
  pthread_mutex_t workflow_lock; /* serializes writers of .workflow */
  mida__journal *journal;        /* this session's journal */
  mida__shipper *shipper;        /* the shipper thread */
  int telemetry_task;            /* per-task telemetry level, 0..2 */
  struct mida__sampler *sampler; /* the telemetry sampler, or NULL */
};

/* Sets the calling thread's last error message for mida_errmsg(), and
 * returns rc. */
int mida__set_error(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends a record built by hand (by an observer or the Python binding) to
 * the session's journal, as the capture calls do for theirs. Returns
 * MIDA_OK, MIDA_EFULL, MIDA_ETOOBIG or MIDA_ECLOSED (with mida_errmsg). */
int mida__session_put(mida_session_t *s, const mida__rec *rec);

#endif /* MIDA_API_SESSION_H */

/*
 * session.h -- the session behind the public API, private to src/api/.
 *
 * A session ties together the three layers of the data path: the journal
 * that the capture calls append to (src/capture/journal.h), and the shipper
 * thread (src/capture/shipper.h) that opens the sink (src/sink/sink.h: the
 * store or broker) and moves records from one to the other; and the
 * telemetry sampler (src/telemetry/telemetry.h), which appends through it.
 * Code above the API sees only api/session_access.h.
 */
#ifndef MIDA_API_SESSION_H
#define MIDA_API_SESSION_H

#include "api/session_access.h"
#include "api/workflow_campaigns.h"
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
  char *store_shown;             /* it, redacted (owned): to show */
  char *spool_dir;               /* the journal's directory (owned) */
  bool disabled;                 /* MIDA_DISABLE: calls record nothing */
  atomic_bool closed;            /* set by mida_close() */
  mida_id_t campaign;            /* the session's campaign, or nil */
  char *campaign_name;           /* its name as configured (owned), or NULL */
  mida_id_t parent_task;         /* default parent of tasks, or nil */
  mida__shared_id workflow;      /* default workflow of tasks */
  _Atomic(mida__wf_campaigns *) wf_campaigns; /* the campaigns of the
                                       workflows begun here with one of
                                       their own (NULL: none yet) */
  pthread_mutex_t workflow_lock; /* serializes writers of .workflow */
  mida__journal *journal;        /* this session's journal */
  mida__shipper *shipper;        /* the shipper thread */
  int telemetry_task;            /* per-task telemetry level, 0..2 */
  struct mida__sampler *sampler; /* the telemetry sampler, or NULL */
  pthread_mutex_t error_lock;    /* guards errmsg */
  char errmsg[512];              /* the last failed call's message */
};

/* The sizes of version 1 of the public structs, this release's layout. When
 * a field is added to one, its line here becomes offsetof(type, the new
 * field): a caller's struct_size of 0 keeps meaning this layout. */
#define MIDA__WORKFLOW_INFO_V1 sizeof(mida_workflow_info_t)
#define MIDA__TASK_INFO_V1 sizeof(mida_task_info_t)
#define MIDA__TASK_UPDATE_V1 sizeof(mida_task_update_t)
#define MIDA__DATA_INFO_V1 sizeof(mida_data_info_t)
#define MIDA__TASK_RUN_V1 sizeof(mida_task_run_t)

/* Checks a caller's struct_size: 0 (version 1) or at least the size of
 * version 1 (v1_size). */
static inline int mida__struct_size_ok(size_t struct_size, size_t v1_size) {
  return struct_size == 0 || struct_size >= v1_size;
}

#endif /* MIDA_API_SESSION_H */

/*
 * run_early.h -- `mida run`'s early flush: the records made before the
 * command (its workflow, its task) reach the store while the command
 * starts (run_early.c).
 *
 * Opening the store (a new one: its schema, six fdatasync) and the first
 * commit took ~30-80 ms of every `mida run`'s start, so they are not
 * waited for before the command: a thread waits for the opening and
 * flushes, while this process holds the spool's shipping lock
 * (capture/ship_lock.h), so that a query of the command's (mida.query, a
 * `mida` verb) waits for those records as it waits for any shipper.
 *
 * The command's end cuts the flush short (mida__run_early_end): what it
 * had not shipped by then goes with mida run's last pass and close, or
 * stays in the spool; a broker that accepts connections and never answers
 * (under SIGSTOP) held every end for the flush's whole 5 s.
 */
#ifndef MIDA_CLI_RUN_EARLY_H
#define MIDA_CLI_RUN_EARLY_H

#include "mida.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct mida__run_early {
  mida_session_t *session; /* mida run's */
  int open_wait_ms;        /* how long to wait for the store's opening */
  int lock;                /* the shipping lock held, or < 0 */
  atomic_bool cut;         /* the command has ended: stop waiting */
  pthread_t thread;        /* flushes, then lets the lock go */
  int started;             /* the thread runs */
} mida__run_early;

/* Says that the store cannot be opened now (rc, msg: the open's error),
 * and where s's records are meanwhile: in the journal, or nowhere when it
 * has no room (no spool, a full disk); unless this run said that message
 * already (run_said.h). */
void mida__run_note_store_down(mida_session_t *s, int rc, const char *msg);

/* Starts the flush of s's records into store, waiting up to open_wait_ms
 * for its opening; synchronous when no thread can be started. f is
 * zeroed by the caller. */
void mida__run_early_begin(mida__run_early *f, mida_session_t *s,
                           const char *store, int open_wait_ms);

/* Cuts the flush short and waits for its thread (within ~100 ms). */
void mida__run_early_end(mida__run_early *f);

#endif

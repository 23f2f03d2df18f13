/*
 * shipper.h -- moves committed journal frames into a sink.
 *
 * The shipper is one thread per session. It wakes every few milliseconds
 * (never woken by writers, so that appending stays free of system calls),
 * peeks a batch of committed frames, decodes them, hands them to the sink in
 * one put_batch call, and releases them from the journal only when the sink
 * has made them durable. A failed batch is kept and retried with backoff; a
 * frame that does not decode is counted as corrupt and skipped.
 *
 * Recovery (capture/recovery.h) does the same for the segments of dead
 * processes found in a spool directory; the shipper runs it once its sink
 * is open, before it ships its own frames, and `mida recover` runs it on
 * demand. Both hand frames to the sink through capture/ship.h.
 */
#ifndef MIDA_CAPTURE_SHIPPER_H
#define MIDA_CAPTURE_SHIPPER_H

#include "capture/journal.h"
#include "sink/sink.h"

#include <stdint.h>

typedef struct mida__shipper mida__shipper;

typedef struct mida__shipper_stats {
  uint64_t shipped;     /* records the sink has made durable */
  uint64_t batches;     /* successful put_batch calls */
  uint64_t errors;      /* failed put_batch calls */
  uint64_t undecodable; /* frames skipped because they did not decode */
  uint64_t denied;      /* records the sink refused for good (MIDA_EDENIED),
                           dropped */
  uint64_t refused;     /* records the store refused on their own, left out
                           of batches that went through (sink.h) */
} mida__shipper_stats;

/* Starts the thread, which opens the sink named by url itself (retrying
 * with backoff while the open fails, except for a malformed URL), ships the
 * orphan segments of spool_dir (mida__recover_spool) once it is open, then
 * the frames of j, which it borrows until stopped; it sleeps at most
 * interval_ms between looks at the journal. Returns MIDA_OK, MIDA_EINVAL,
 * MIDA_ENOMEM or MIDA_EIO (thread creation). */
int mida__shipper_start(mida__journal *j, const char *url,
                        const char *spool_dir, unsigned interval_ms,
                        mida__shipper **out);

/* The same, with a quiet start: the sink is not opened (no work on the
 * store at all) for quiet_ms, unless a flush, a collect pass or the stop
 * asks for it sooner. `mida run --detach-ship` starts so: a short command
 * then runs beside no store work, and what it recorded is shipped after
 * it by a detached recover. */
int mida__shipper_start_quiet(mida__journal *j, const char *url,
                              const char *spool_dir, unsigned interval_ms,
                              int quiet_ms, mida__shipper **out);

/* Waits until the thread's first attempt to open the sink is over, or
 * timeout_ms passes (negative: no limit). Returns MIDA_OK (open), the
 * open's error (message in msg), or MIDA_ETIMEDOUT (still trying). */
int mida__shipper_wait_open(mida__shipper *sh, int timeout_ms, char *msg,
                            size_t msglen);

/* Waits until everything committed before the call is durable in the sink,
 * or timeout_ms passes (negative: no limit); a sink that keeps failing does
 * not end the wait early, as it may come back. Returns MIDA_OK, or at the
 * deadline the sink's last error (it failed on the last attempt) or
 * MIDA_ETIMEDOUT. */
int mida__shipper_flush(mida__shipper *sh, int timeout_ms);

/* What one orphan pass shipped. */
typedef struct mida__collected {
  uint64_t records;  /* records, from orphans and live segments */
  uint64_t segments; /* orphan segments shipped and removed (or pooled):
                      * journals of processes that ended, or handed over
                      * full */
} mida__collected;

/* Asks the thread for a pass over spool_dir's orphan segments (the
 * journals of processes that ended: under `mida run`, the command's),
 * shipped into its sink between two batches of its own, and waits until
 * that pass is over or timeout_ms passes (negative: no limit). So a
 * process that ships others' journals needs no second connection to the
 * store. flags (MIDA_RECOVER_*, recovery.h) are the pass's; a pass that
 * answers several asks has all their flags. *out (may be NULL) gets what
 * the pass shipped. Returns MIDA_OK, MIDA_ETIMEDOUT (the pass is not
 * over: a slow store), MIDA_ECLOSED (the thread is stopping), the open's
 * error while the sink is not open (then it does not wait), or, at the
 * timeout, the error of the sink's last failed call (a store that fails
 * the thread's own batches, which come first: the pass is not made). */
int mida__shipper_collect(mida__shipper *sh, int timeout_ms, unsigned flags,
                          mida__collected *out);

/* Ends the quiet start now: the sink is opened at once (`mida run` ends
 * it once its command runs, so that the store's opening does not delay
 * the command's exec). Thread-safe; does not wait. */
void mida__shipper_quiet_end(mida__shipper *sh);

/* Makes a held group (MIDA_RECOVER_HOLD) durable now, and no pass hold
 * one from now on: `mida run`'s command has ended, and what is left is to
 * be in the store at once. Thread-safe; does not wait. */
void mida__shipper_cut_hold(mida__shipper *sh);

/* Ships what remains (one last attempt), stops and joins the thread, and
 * frees the shipper. Returns MIDA_OK, or the sink's error if frames remain
 * unshipped (they stay in the journal for recovery), whose message is then
 * the calling thread's last error (core/errors.h). A thread that has
 * been in one call of a network store or broker (an open, a batch) for
 * 3 s is not waited for (a local SQLite store always is): a hung store (a server that accepts and never answers, one under
 * SIGSTOP) does not hold the program's exit. It is then left running,
 * detached, and MIDA_ETIMEDOUT returned: its frames stay in the journal,
 * and the caller must neither free nor unmap the journal (the shipper,
 * not freed, still reads it). */
int mida__shipper_stop(mida__shipper *sh);

void mida__shipper_stats_get(mida__shipper *sh, mida__shipper_stats *out);

/* The sink's last error message ("" if none). Thread-safe copy into buf. */
void mida__shipper_errmsg(mida__shipper *sh, char *buf, size_t buflen);

#endif /* MIDA_CAPTURE_SHIPPER_H */

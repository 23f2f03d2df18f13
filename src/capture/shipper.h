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
 * recovery (mida__recover_spool) does the same for the segments of dead
 * processes found in a spool directory; the shipper runs it once its sink
 * is open, before it ships its own frames, and `mida recover` runs it on
 * demand.
 */
#ifndef MIDA_CAPTURE_SHIPPER_H
#define MIDA_CAPTURE_SHIPPER_H

#include "capture/journal.h"
#include "sink/sink.h"

#include <stdint.h>

#define MIDA_SHIP_BATCH 4096 /* frames per sink batch */

typedef struct mida__shipper mida__shipper;

typedef struct mida__shipper_stats {
  uint64_t shipped;     /* records the sink has made durable */
  uint64_t batches;     /* successful put_batch calls */
  uint64_t errors;      /* failed put_batch calls */
  uint64_t undecodable; /* frames skipped because they did not decode */
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

/* Ships what remains (one last attempt), stops and joins the thread, and
 * frees the shipper. Returns MIDA_OK, or the sink's error if frames remain
 * unshipped (they stay in the journal for recovery). */
int mida__shipper_stop(mida__shipper *sh);

void mida__shipper_stats_get(mida__shipper *sh, mida__shipper_stats *out);

/* The sink's last error message ("" if none). Thread-safe copy into buf. */
void mida__shipper_errmsg(mida__shipper *sh, char *buf, size_t buflen);

/* Decodes frames into recs (same count) and sends them to sink with origin.
 * Frames that do not decode are left out and counted in *undecodable.
 * Returns the sink's result. Used by the shipper and by recovery. */
int mida__ship_frames(mida__sink *sink, const mida__frame *frames, size_t n,
                      mida__rec *recs, const mida__origin *origin,
                      uint64_t *undecodable);

typedef struct mida__recover_stats {
  uint64_t segments; /* orphan segments shipped and removed */
  uint64_t records;  /* records shipped from them */
  uint64_t corrupt;  /* frames skipped as corrupt or undecodable */
  uint64_t dropped;  /* records their writers had dropped (DROP policy) */
  uint64_t busy;     /* segments skipped: a live process holds them */
  uint64_t foreign;  /* files that were not journal segments, left alone */
  uint64_t quarantined; /* of the segments, those whose header was damaged:
                           shipped frame by frame and kept aside */
  uint64_t lost;        /* dead journals whose unfinished tasks and
                           workflows were marked LOST */
} mida__recover_stats;

/* Ships every orphan segment in spool_dir into sink and removes each one
 * fully shipped. Also records the corrupt and dropped counts in the sink
 * (COUNTER records) so that they stay queryable, and marks LOST what each
 * dead journal, shipped whole, left unfinished. Returns MIDA_OK, or the
 * first error that stopped it (with a message in err); segments not shipped
 * stay in place. */
int mida__recover_spool(const char *spool_dir, mida__sink *sink,
                        mida__recover_stats *st, char *err, size_t errlen);

/* Told the totals so far after each batch a recovery ships (on the
 * recovering thread). */
typedef void (*mida__recover_progress_fn)(void *ctx,
                                          const mida__recover_stats *st);

/* mida__recover_spool, calling progress(progress_ctx, st) as it goes
 * (progress may be NULL): for a long `mida recover` on a terminal. */
int mida__recover_spool_progress(const char *spool_dir, mida__sink *sink,
                                 mida__recover_stats *st, char *err,
                                 size_t errlen,
                                 mida__recover_progress_fn progress,
                                 void *progress_ctx);

#endif /* MIDA_CAPTURE_SHIPPER_H */

/*
 * recovery.h -- ships the journal segments that dead processes left in a
 * spool directory (recovery.c). The shipper runs it once its sink is open
 * (shipper.h); `mida recover` runs it on demand.
 */
#ifndef MIDA_CAPTURE_RECOVERY_H
#define MIDA_CAPTURE_RECOVERY_H

#include "sink/sink.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mida__recover_stats {
  uint64_t segments; /* orphan segments shipped and removed */
  uint64_t records;  /* records shipped from them */
  uint64_t corrupt;  /* frames skipped as corrupt or undecodable */
  uint64_t dropped;  /* records their writers had dropped (DROP policy) */
  uint64_t busy;     /* segments skipped: a live process holds them */
  uint64_t foreign;  /* files that were not journal segments, or that
                        another user owns: left alone */
  uint64_t quarantined; /* of the segments, those whose header was damaged:
                           shipped frame by frame and kept aside */
  uint64_t lost;        /* dead journals whose unfinished tasks and
                           workflows were marked LOST */
  uint64_t tailed;      /* live segments read (MIDA_RECOVER_TAIL_LIVE) */
  uint64_t later;       /* segments left for a later pass: their journal
                           started at or after before_ns */
} mida__recover_stats;

/* mida__recover_spool_with's flags: also read the live segments whose
 * writers let another process read them (recovery.c, "Live segments"). */
#define MIDA_RECOVER_TAIL_LIVE 1u
/* ... and, when a pass has shipped from a live segment, hold its
 * transaction open while the writers go on, reading on in their segments,
 * up to MIDA_RECOVER_HOLD_MS (recovery.c, "Holding a group"): one commit
 * for what would have been many. Only with the wait of
 * mida__recover_buffers_hold; the pass's thread is the sink's until the
 * pass returns. */
#define MIDA_RECOVER_HOLD 2u
#define MIDA_RECOVER_HOLD_MS 500

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

/* The buffers one recovery works in (3.8 MB, most of it a batch of decoded
 * records). A caller that recovers again and again (the collector of `mida
 * run`, several passes a second) keeps one set rather than having each
 * pass allocate, fault in and unmap them afresh: about 1 ms of system time
 * a pass. */
typedef struct mida__recover_buffers mida__recover_buffers;

/* A set of buffers into *out, freed by mida__recover_buffers_free().
 * Returns MIDA_OK, or MIDA_ENOMEM (*out NULL). */
int mida__recover_buffers_new(mida__recover_buffers **out);
void mida__recover_buffers_free(mida__recover_buffers *b); /* NULL: no-op */

/* Names the journal (pid, start_ns) of the process that recovers with b:
 * its own, whose segments it holds locked and reads itself. The
 * recoveries made in b count them as busy without opening them (a pass of
 * `mida run`'s collector opened each twice, to find it held and not
 * tailable). */
void mida__recover_buffers_own(mida__recover_buffers *b, int64_t pid,
                               int64_t start_ns);

/* Waits up to ms between two readings of a held group's live segments
 * (MIDA_RECOVER_HOLD). Returns false when the group is to be made durable
 * now: its owner stops, or the command whose files they are has ended. */
typedef bool (*mida__recover_hold_fn)(void *ctx, int ms);

/* Lets the recoveries made in b hold a group of live segments open
 * (MIDA_RECOVER_HOLD), waiting with wait(ctx, ms) between readings. */
void mida__recover_buffers_hold(mida__recover_buffers *b,
                                mida__recover_hold_fn wait, void *ctx);

/* mida__recover_spool_progress in the buffers b (used by one recovery at a
 * time), with flags (MIDA_RECOVER_*). A before_ns above 0 leaves alone the
 * journals that started at or after it (by their file names), counted in
 * st->later: a shipper opening its sink ships the journals older than its
 * own before its own records, and the younger ones after them. */
int mida__recover_spool_with(mida__recover_buffers *b, const char *spool_dir,
                             unsigned flags, int64_t before_ns,
                             mida__sink *sink,
                             mida__recover_stats *st, char *err, size_t errlen,
                             mida__recover_progress_fn progress,
                             void *progress_ctx);

#endif /* MIDA_CAPTURE_RECOVERY_H */

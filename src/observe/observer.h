/*
 * observer.h -- what the MLflow and TensorBoard observers share.
 *
 * An observer reads what another tool writes (MLflow's tracking database,
 * TensorBoard's event files) while it writes it, turns it into records
 * (src/core/record.h) and appends them to a session's journal with
 * mida__session_put(), so that they reach the store crash-safely like every
 * other record. Where it has read up to is recorded too (MIDA_REC_CURSOR,
 * the store's source_cursor table); a restarted observer reads its cursors
 * back from the store and goes on from there. Ids are derived from the
 * source's own identity (mida_id_from_name), so two observers, or one
 * restarted, map the same run to the same task.
 *
 * The observers are library code: they never print; warnings go through
 * the log callback, and a failure's message is the calling thread's
 * (mida_errmsg(NULL)). They run in the calling thread until *stop asks
 * them to return (set from a signal handler or another thread; see
 * MIDA_OBS_DRAIN and MIDA_OBS_INTERRUPT) or, with once, after one pass.
 */
#ifndef MIDA_OBSERVE_OBSERVER_H
#define MIDA_OBSERVE_OBSERVER_H

#include "core/buf.h"
#include "core/record.h"
#include "mida.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Severity of a log message. */
typedef enum mida__obs_level {
  MIDA_OBS_INFO = 0,
  MIDA_OBS_WARN = 1,
  MIDA_OBS_ERROR = 2
} mida__obs_level;

typedef void (*mida__obs_log_fn)(void *ctx, mida__obs_level level,
                                 const char *msg);

/* The default of mida__obs_opts.end_after_s (`mida observe --end-after`):
 * longer than the writers' usual flush interval (PyTorch's SummaryWriter
 * flushes every 120 s). */
#define MIDA_OBS_END_AFTER_S 300

/* What *mida__obs_opts.stop asks for; it is only ever raised. */
#define MIDA_OBS_GO_ON 0
/* One more whole pass, which reads everything written until now, then
 * return (mida run, once its command has exited). */
#define MIDA_OBS_DRAIN 1
/* Return at the next safe point, however much is left: after the batch
 * being read (a chunk of a file, a batch of rows, a run), its records and
 * the cursor that covers them appended, so that the next start goes on
 * exactly there (Ctrl-C). Between passes, at once. */
#define MIDA_OBS_INTERRUPT 2

typedef struct mida__obs_opts {
  int once;             /* 1: one pass over everything, then return */
  unsigned poll_ms;     /* longest wait between passes; 0: 500 */
  atomic_int *stop;     /* MIDA_OBS_*: what is asked; may be NULL */
  mida__obs_log_fn log; /* warnings and notes; may be NULL */
  void *log_ctx;        /* passed to log */
  unsigned end_after_s; /* TensorBoard: a run whose files have not grown
                           for this many seconds has ended; 0: never */
  int end_at_stop;      /* TensorBoard: every run has ended when the
                           observer stops (its writer is gone) */
  int64_t parent_since_ns; /* the session's parent task (MIDA_PARENT_TASK)
                              is the parent of the runs begun at or after
                              this time (ns since the epoch) only, so that
                              the observer of a `mida run` command leaves
                              earlier commands' runs alone; 0: of all */
} mida__obs_opts;

/* What an observer has done so far (cumulative over its run). */
typedef struct mida__obs_stats {
  uint64_t passes;      /* passes over the source */
  uint64_t records;     /* records appended to the journal */
  uint64_t metrics;     /* metric points among them */
  uint64_t tasks;       /* distinct tasks (runs) seen */
  uint64_t files;       /* event files followed (TensorBoard) */
  uint64_t bad_records; /* records skipped: bad CRC (TensorBoard) */
  uint64_t bad_bytes;   /* bytes skipped while resynchronizing */
  uint64_t bad_events;  /* records whose Event could not be decoded */
  uint64_t errors;      /* source errors (an unreadable file; a database
                           still locked or unreachable when the observer
                           gives up or stops) */
  uint64_t items;       /* non-scalar records kept (TensorBoard histograms,
                           images, audio, text) */
  uint64_t skipped;     /* records read but not kept (kinds mida does not
                           record, records too large for the journal);
                           by kind in the store's counters */
  uint64_t ended;       /* runs ended by the observer (TensorBoard) */
  uint64_t waits;       /* passes that found the source busy (MLflow
                           holding its database locked, a server gone a
                           moment) and were made again: not errors while
                           a later pass gets through */
} mida__obs_stats;

/* Follows every event file under logdir (see tensorboard.c). Returns
 * MIDA_OK when stopped or after one pass with once; MIDA_ENOTFOUND if
 * logdir is not a directory; the session's error when a record cannot be
 * appended. stats (may be NULL) is updated as it goes. */
int mida__tb_observe(mida_session_t *s, const char *logdir,
                     const mida__obs_opts *opts, mida__obs_stats *stats);

/* Follows an MLflow tracking store (see mlflow.c). tracking_uri is
 * sqlite:///path, postgresql://..., file:///path/mlruns or a path. Returns
 * MIDA_OK when stopped or after one pass with once; MIDA_EURL for a URI it
 * cannot read; MIDA_ENOTFOUND for a missing store; MIDA_ECORRUPT for one
 * that is not MLflow's. */
int mida__mlflow_observe(mida_session_t *s, const char *tracking_uri,
                         const mida__obs_opts *opts, mida__obs_stats *stats);

/* Reads the cursors of source from the session's store: calls fn for each
 * (key, position) pair. Returns MIDA_OK (also when the store has none
 * yet) or the store's error. */
int mida__obs_cursors(mida_session_t *s, const char *source,
                      int (*fn)(void *ctx, const char *key,
                                const char *position),
                      void *ctx);

/* Appends rec to s's journal (mida__session_put()), a task, run or
 * workflow record with an explicit pid of MIDA_OBS_NO_PID unless it names
 * one: the runs and experiments an observer reads are not the observer
 * process's work, and without a pid of their own they would take the
 * observer's from its journal, so that recovery, after a SIGKILL of the observer,
 * would mark them LOST (and an MLflow experiment LOST for good) while
 * MLflow's runs go on. Returns mida__session_put()'s code. */
#define MIDA_OBS_NO_PID 0
int mida__obs_put(mida_session_t *s, const mida__rec *rec);

/* Appends a cursor record (source, key, position, now). */
int mida__obs_put_cursor(mida_session_t *s, const char *source, const char *key,
                         const char *position);

/* Where an observer's caller passed NULL options or stats: points them at
 * the caller's storage, zeroed (defaults; counts nobody reads). */
void mida__obs_defaults(const mida__obs_opts **opts, mida__obs_stats **stats,
                        mida__obs_opts *opts_storage,
                        mida__obs_stats *stats_storage);

/* Whether opts->stop asks for at least level (MIDA_OBS_DRAIN or
 * MIDA_OBS_INTERRUPT). */
bool mida__obs_asked(const mida__obs_opts *opts, int level);

/* Whether opts->stop asks to return at the next safe point
 * (MIDA_OBS_INTERRUPT); the first time (*noted 0, then set), says so in a
 * note. */
bool mida__obs_interrupted(const mida__obs_opts *opts, int *noted);

/* How long the observer lets a writer go on after the first sign of a
 * write (an inotify event) before it reads: the events of that time make
 * one pass, not one each. A writer that flushes every step (TensorBoard's
 * SummaryWriter in a fast loop, MLflow logging point by point) made
 * thousands of passes a second, each rescanning and rereading; with this
 * settle time a steady writer costs at most 1000 / MIDA_OBS_SETTLE_MS
 * passes a second, and what it wrote reaches the store within this time
 * and one pass, well inside the dashboard's budget (DESIGN.md: a task's
 * end visible in an open dashboard within 1 s). ms. */
#define MIDA_OBS_SETTLE_MS 100

/* Waits up to poll_ms for an inotify event on inotify_fd; after one, lets
 * the writer go on for MIDA_OBS_SETTLE_MS and drains what came meanwhile.
 * Sleeps poll_ms when inotify_fd is -1. A signal ends either wait early. */
void mida__obs_wait(int inotify_fd, unsigned poll_ms);

/* Formats a message and passes it to opts->log, if any. */
void mida__obs_log(const mida__obs_opts *opts, mida__obs_level level,
                   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* MIDA_OBSERVE_OBSERVER_H */

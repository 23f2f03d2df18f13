/*
 * shipper.c -- the thread that drains a session's journal into its sink.
 *
 * Loop: peek a batch of committed frames, decode them, put them to the sink
 * in one call, release them from the journal once the sink has made them
 * durable. Writers never wake the shipper (that would cost them a system
 * call); it polls, sleeping interval_ms after a pass that found less than a
 * full batch and not at all after a full one. A sink failure keeps the batch in
 * the journal and backs off (doubling up to one second) before the same frames
 * are tried again: the journal is the buffer, so producers never wait for the
 * network.
 *
 * The thread opens the sink itself, so that a store or broker that is slow,
 * hung or down never holds up the program's thread in mida_open(): it
 * retries the open with the same backoff, ships the spool's orphan segments
 * (journals of dead processes) once connected and before its own frames, and
 * owns the sink until it stops. mida_open() waits a moment for the first
 * attempt (mida__shipper_wait_open) to report a bad URL at once. Asked to
 * (mida__shipper_collect), it ships the spool's orphans again, between two
 * batches: `mida run` has the command's journals shipped that way.
 *
 * A flush waits for its whole timeout while the sink fails, without cutting
 * the backoff short: the sink may come back before the deadline.
 *
 * A batch the sink refuses for good (MIDA_EDENIED: a broker's ACL denies
 * the topic) cannot get through by retrying: it is released from the
 * journal, its records are counted as dropped (mida_stats_t.dropped), and
 * the first refusal is reported once, by the next flush (or close).
 *
 * Besides the frames, each batch carries COUNTER records whenever the
 * journal's dropped or corrupt counts have grown, so that losses are visible
 * in the store, not only in this process.
 */
#include "capture/shipper.h"

#include "capture/recovery.h"
#include "capture/ship.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/errors.h"
#include "core/env.h"
#include "core/url.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_BACKOFF_MS 1000

/* mida__shipper_stop waits for the thread while it is in no sink call, or
 * in one for less than this: a store across the network that has not
 * answered one call (an open, a batch) in this long is hung (a server
 * that accepts and never answers, a process under SIGSTOP), and the
 * program's exit is not held for it (libpq's connect timeout alone was
 * 10 s of every exit). */
#define STOP_STUCK_MS 3000
/* As STOP_STUCK_MS, for a call made after the last one failed: a retry to
 * a store that has just not answered (a broker under SIGSTOP answers no
 * reconnection either), which held each exit for a second STOP_STUCK_MS. */
#define STOP_RETRY_MS 300

struct mida__shipper {
  mida__journal *journal;  /* borrowed */
  mida__sink *sink;        /* owned; NULL until opened */
  char *url;               /* the sink's URL */
  bool local_store;        /* url names a local SQLite file: never stuck */
  char *spool_dir;         /* the spool whose orphans to recover */
  unsigned interval_ms;    /* longest idle sleep */
  int64_t quiet_until_ms;  /* no open before (monotonic ms; 0: none) */
  pthread_t thread;        /* the shipper thread */
  pthread_mutex_t lock;    /* guards the fields below it */
  pthread_cond_t wake;     /* shipper sleeps here; flush/stop signal */
  pthread_cond_t progress; /* flush waits here; the shipper signals */
  bool stopping;           /* stop requested */
  bool hold_cut;           /* no held group from now on (cut_hold) */
  bool quiet_ended;        /* the quiet start is over (quiet_end) */
  bool wake_requested;     /* a flush wants a pass now */
  unsigned flushes_waiting; /* threads in mida__shipper_flush */
  uint64_t idle_passes;    /* passes that found nothing left to ship */
  uint64_t open_attempts;  /* attempts to open the sink so far */
  int open_rc;             /* result of the last attempt to open */
  int last_rc;             /* result of the last open or put_batch */
  char errmsg[512];        /* the sink's message for last_rc */
  atomic_uint_fast64_t shipped, batches, errors, undecodable;
  atomic_uint_fast64_t denied; /* records the sink refused: dropped */
  atomic_uint_fast64_t refused; /* records of batches that went through
                                   which the store refused on their own
                                   and left out (sink.h's refused) */
  bool denied_said;            /* the first refusal is in errmsg */
  bool denial_unreported;      /* no flush has returned it yet */
  bool refusal_said;           /* the store's first notice is in errmsg */
  bool refusal_unreported;     /* no flush has returned MIDA_EREFUSED */
  uint64_t reported_dropped; /* dropped count already sent as COUNTER */
  uint64_t reported_corrupt; /* corrupt count already sent as COUNTER */
  uint64_t reported_errors;  /* failed attempts already sent as COUNTER */
  uint64_t frames_released;  /* of our journal, shipped or dropped: this
                                thread's own */
  uint64_t collects_asked;   /* orphan passes asked for (collect) */
  uint64_t collects_done;    /* ... and made, in order */
  unsigned collect_flags;    /* the asks' MIDA_RECOVER_* since the last */
  mida__collected collected; /* what the last of them shipped */
  mida__recover_buffers *buffers; /* theirs, made at the first */
  atomic_int_fast64_t in_call_since; /* when the thread entered the sink
                                        call it is in (open, put), in
                                        monotonic ms; 0: in none */
  bool exited;               /* the thread has returned */
  mida__frame *frames;       /* batch buffers, MIDA_SHIP_BATCH each */
  mida__rec *recs;           /* MIDA_SHIP_BATCH + 3 (counters) */
};

/* Records a failed attempt (to open or to put) for flush and stats. */
static void note_failure(mida__shipper *sh, int rc, const char *msg) {
  atomic_fetch_add(&sh->errors, 1);
  pthread_mutex_lock(&sh->lock);
  sh->last_rc = rc;
  snprintf(sh->errmsg, sizeof sh->errmsg, "%s", msg);
  pthread_mutex_unlock(&sh->lock);
}

/* Around a sink call that may wait for the network: mida__shipper_stop
 * leaves a thread that is in one for more than STOP_STUCK_MS. */
static void call_begins(mida__shipper *sh) {
  atomic_store(&sh->in_call_since, mida__monotonic_ms());
}

static void call_ends(mida__shipper *sh) {
  atomic_store(&sh->in_call_since, 0);
}

/* Ships one batch. Returns the number of frames shipped (0 when there was
 * nothing), or a negative error from the sink. */
static long ship_once(mida__shipper *sh) {
  uint64_t mark = 0;
  size_t n =
      mida__journal_peek(sh->journal, sh->frames, MIDA_SHIP_BATCH, &mark);
  mida__journal_stats js;
  mida__journal_stats_get(sh->journal, &js);
  uint64_t undecodable = 0;
  mida__origin origin = {mida__journal_host(sh->journal),
                         mida__journal_pid(sh->journal)};

  /* Decode the frames; the counters (if they moved) ride in the same
   * batch, after them. */
  size_t used = mida__decode_frames(sh->frames, n, sh->recs, &undecodable);
  /* The journal's count holds the undecodable frames of the batches
   * released before (mida__journal_release_skipping), as the segments
   * that recovery reads should this process die do: the same total. */
  uint64_t corrupt = js.corrupt + undecodable;
  /* The total recovery sends from the journal's segments (journal.h). */
  uint64_t dropped = mida__journal_dropped_total(sh->journal);
  bool send_dropped = dropped > sh->reported_dropped;
  bool send_corrupt = corrupt > sh->reported_corrupt;
  if (send_dropped)
    mida__rec_counter(&sh->recs[used++], NULL, 0, "dropped", dropped);
  if (send_corrupt)
    mida__rec_counter(&sh->recs[used++], NULL, 0, "corrupt", corrupt);
  /* Failed attempts (a broker or store outage) become visible in the store
   * once a batch gets through: `mida stats` shows them as ship_retries. */
  uint64_t errors = atomic_load(&sh->errors);
  bool send_errors = used > 0 && errors > sh->reported_errors;
  if (send_errors)
    mida__rec_counter(&sh->recs[used++], NULL, 0, "ship_retries", errors);
  if (used == 0 && n == 0)
    return 0;

  uint64_t refused_before = sh->sink->refused;
  call_begins(sh);
  int rc = used > 0 ? mida__sink_put_batch(sh->sink, sh->recs, used, &origin)
                    : MIDA_OK;
  call_ends(sh);
  if (rc == MIDA_EDENIED) {
    atomic_fetch_add(&sh->denied, n - undecodable);
    pthread_mutex_lock(&sh->lock);
    if (!sh->denied_said) {
      sh->denied_said = sh->denial_unreported = true;
      snprintf(sh->errmsg, sizeof sh->errmsg,
               "%s; they were dropped and counted",
               mida__sink_errmsg(sh->sink));
    }
    pthread_mutex_unlock(&sh->lock);
    if (n > 0)
      mida__journal_release_skipping(sh->journal, mark, undecodable);
    sh->frames_released += n;
    atomic_fetch_add(&sh->undecodable, undecodable);
    return (long)n;
  }
  if (rc != MIDA_OK) {
    note_failure(sh, rc, mida__sink_errmsg(sh->sink));
    return rc;
  }
  if (n > 0)
    mida__journal_release_skipping(sh->journal, mark, undecodable);
  sh->frames_released += n;
  if (send_dropped)
    sh->reported_dropped = dropped;
  if (send_corrupt)
    sh->reported_corrupt = corrupt;
  if (send_errors)
    sh->reported_errors = errors;
  atomic_fetch_add(&sh->undecodable, undecodable);
  atomic_fetch_add(&sh->shipped, n - undecodable);
  atomic_fetch_add(&sh->refused, sh->sink->refused - refused_before);
  atomic_fetch_add(&sh->batches, 1);
  char notice[sizeof sh->errmsg];
  int noticed = mida__sink_take_notice(sh->sink, notice, sizeof notice);
  pthread_mutex_lock(&sh->lock);
  sh->last_rc = MIDA_OK;
  /* Records the store refused on their own were left out and counted:
   * the next flush says so, once (as a broker's denial above). */
  if (noticed && !sh->refusal_said && !sh->denial_unreported) {
    sh->refusal_said = sh->refusal_unreported = true;
    snprintf(sh->errmsg, sizeof sh->errmsg, "%s", notice);
  }
  pthread_mutex_unlock(&sh->lock);
  return (long)n;
}

/* A deadline ms milliseconds from now on the condition variables' clock. */
static struct timespec deadline_after(int ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  return until;
}

/* Sleeps on the wake condition for ms milliseconds, or until stopped, or
 * (with wakeable) until a flush asks for a pass. */
static void sleep_ms(mida__shipper *sh, unsigned ms, bool wakeable) {
  struct timespec until = deadline_after((int)ms);
  pthread_mutex_lock(&sh->lock);
  /* The flag, not the signal alone, says a pass is wanted: a signal sent
   * while this thread was shipping would otherwise be lost. */
  while (!sh->stopping && !(wakeable && sh->wake_requested)) {
    if (pthread_cond_timedwait(&sh->wake, &sh->lock, &until) == ETIMEDOUT)
      break;
  }
  if (wakeable)
    sh->wake_requested = false;
  pthread_mutex_unlock(&sh->lock);
}

/* Whether an error of the sink's open can never go away by retrying (a
 * malformed or unsupported URL): the shipper then stops trying. */
static bool open_error_is_final(int rc) {
  return rc == MIDA_EURL || rc == MIDA_EINVAL;
}

/* Opens the sink, then ships the spool's orphans into it. Returns MIDA_OK,
 * or the open's error. */
static long open_sink(mida__shipper *sh) {
  char err[512] = "";
  mida__sink *sink = NULL;
  call_begins(sh);
  int rc = mida__sink_open(sh->url, 0, &sink, err, sizeof err);
  call_ends(sh);
  if (rc != MIDA_OK) {
    note_failure(sh, rc, err);
    pthread_mutex_lock(&sh->lock);
    sh->open_attempts++;
    sh->open_rc = rc;
    pthread_cond_broadcast(&sh->progress); /* mida__shipper_wait_open */
    pthread_mutex_unlock(&sh->lock);
    return rc;
  }
  /* Journals of dead processes that started before ours go first, so that
   * their records are not overtaken by ours; those that started after it
   * (the command of `mida run`, a forked child, that ended while the store
   * opened) go after our first batch, by a collect pass asked for here, so
   * that ours are not overtaken by theirs: the same records reach a new
   * store in the same order as one already open. Our own segments are
   * locked by this process and left alone. A failure leaves them for
   * later. Without buffers (out of memory) all of it waits for a later
   * recovery. */
  mida__recover_stats rst = {0};
  char rerr[512] = "";
  mida__recover_buffers *b = NULL;
  if (mida__recover_buffers_new(&b) == MIDA_OK)
    (void)mida__recover_spool_with(b, sh->spool_dir, 0,
                                   mida__journal_start_ns(sh->journal), sink,
                                   &rst, rerr, sizeof rerr, NULL, NULL);
  mida__recover_buffers_free(b);
  pthread_mutex_lock(&sh->lock);
  if (rst.later > 0)
    sh->collects_asked++;
  sh->sink = sink;
  sh->open_attempts++;
  sh->open_rc = MIDA_OK;
  sh->last_rc = MIDA_OK;
  sh->errmsg[0] = '\0';
  /* Told now, not after the pass that follows, which may hold a group of
   * the command's segments while the command writes (hold_wait): `mida
   * run`'s early flush waits for this open (mida__shipper_wait_open), and
   * in 3 of 20 runs of `tar c` into a new store, whose creation took 23-26
   * ms that time, it was told only 31-34 ms after the command had ended
   * (2026-12-05). */
  pthread_cond_broadcast(&sh->progress);
  pthread_mutex_unlock(&sh->lock);
  return MIDA_OK;
}

/* The wait of a held group (MIDA_RECOVER_HOLD, recovery.h): up to ms,
 * unless the shipper stops, no group is to be held any more, or a flush
 * waits (mida__shipper_flush). A pass asked for meanwhile waits for the
 * held pass; a flush does not, or it would wait for as long as the
 * command writes: `mida run`'s early flush of its own records, begun once
 * the store is open, met a group begun first and returned only after the
 * command. Cut, the group reads what is there and commits (as when the
 * command ends), the flush's records follow in their own transaction, and
 * the next pass holds a group again. With the open told at once
 * (open_sink), 30 alternated rounds of `tar c` into a new store (plain 40
 * ms): `mida run` 73.6 -> 62.4 ms on average, its 90th percentile 101.8
 * -> 65.8 ms, the median 62.4 -> 61.6 ms (2026-12-05). */
static bool hold_wait(void *ctx, int ms) {
  mida__shipper *sh = ctx;
  struct timespec until = deadline_after(ms);
  pthread_mutex_lock(&sh->lock);
  while (!sh->stopping && !sh->hold_cut && sh->flushes_waiting == 0)
    if (pthread_cond_timedwait(&sh->wake, &sh->lock, &until) == ETIMEDOUT)
      break;
  bool go_on = !sh->stopping && !sh->hold_cut && sh->flushes_waiting == 0;
  pthread_mutex_unlock(&sh->lock);
  return go_on;
}

/* Makes the orphan passes asked for since the last (one pass answers
 * them all), if the sink is open: after our own records appended before
 * the ask, which are shipped first. The loop's batch of ours, just before,
 * may have been read before them: `mida run` appends its command's task,
 * starts the command and asks for passes while this thread is in a batch
 * (a store busy with another writer) or preempted after it; a pass then
 * shipped the command's own record of its task, and our older one
 * overwrote it (seen once in CI, under ASan). Returns false when a batch
 * of ours failed: the pass stays asked for. */
static bool collect_if_asked(mida__shipper *sh) {
  pthread_mutex_lock(&sh->lock);
  uint64_t asked = sh->collects_asked;
  bool wanted = asked > sh->collects_done && sh->sink != NULL;
  pthread_mutex_unlock(&sh->lock);
  if (!wanted)
    return true;
  /* Up to what was committed by then, not until the journal is empty: a
   * program that records faster than the store takes its records must
   * not keep the pass from ever being made. */
  mida__journal_stats js;
  mida__journal_stats_get(sh->journal, &js);
  long own = 0;
  while (sh->frames_released < js.records && (own = ship_once(sh)) > 0)
    ;
  if (own < 0)
    return false;
  pthread_mutex_lock(&sh->lock);
  unsigned flags = sh->collect_flags;
  sh->collect_flags = 0;
  pthread_mutex_unlock(&sh->lock);
  mida__recover_stats st = {0};
  char err[512] = "";
  if (sh->buffers == NULL &&
      mida__recover_buffers_new(&sh->buffers) == MIDA_OK) {
    mida__recover_buffers_own(sh->buffers, mida__journal_pid(sh->journal),
                              mida__journal_start_ns(sh->journal));
    mida__recover_buffers_hold(sh->buffers, hold_wait, sh);
  }
  /* Without buffers (out of memory) the pass is not made: what it would
   * have shipped stays in the spool, for the next pass or a recover. A
   * pass that failed shipped nothing, whatever it counted before the
   * failure: its records stay in the spool too. */
  int rc =
      sh->buffers != NULL
          ? mida__recover_spool_with(sh->buffers, sh->spool_dir, flags, 0,
                                     sh->sink, &st, err, sizeof err, NULL, NULL)
          : MIDA_ENOMEM;
  pthread_mutex_lock(&sh->lock);
  sh->collects_done = asked;
  sh->collected = rc == MIDA_OK ? (mida__collected){st.records, st.segments}
                                : (mida__collected){0, 0};
  pthread_cond_broadcast(&sh->progress);
  pthread_mutex_unlock(&sh->lock);
  return true;
}

/* The quiet start (mida__shipper_start_quiet): no open of the sink, and
 * so no work on the store at all, until quiet_until_ms, unless a flush,
 * a collect pass, the stop or mida__shipper_quiet_end asks for it
 * first. */
static void wait_quiet(mida__shipper *sh) {
  int64_t left = sh->quiet_until_ms - mida__monotonic_ms();
  if (left <= 0)
    return;
  struct timespec until = deadline_after((int)left);
  pthread_mutex_lock(&sh->lock);
  while (!sh->stopping && !sh->quiet_ended && sh->flushes_waiting == 0 &&
         sh->collects_asked == sh->collects_done)
    if (pthread_cond_timedwait(&sh->wake, &sh->lock, &until) == ETIMEDOUT)
      break;
  pthread_mutex_unlock(&sh->lock);
  sh->quiet_until_ms = 0;
}

static void *shipper_main(void *arg) {
  pthread_setname_np(pthread_self(), "mida-shipper"); /* for top -H, perf */
  mida__env_own_thread(); /* the environment as mida_open read it */
  mida__shipper *sh = arg;
  unsigned backoff = 0;
  for (;;) {
    /* The stop counts from the pass that began after it: records appended
     * just before mida__shipper_stop (a command's end, while this thread
     * made a collect pass) are read by that pass, not left behind. */
    pthread_mutex_lock(&sh->lock);
    bool stop_seen = sh->stopping;
    pthread_mutex_unlock(&sh->lock);
    mida__journal_maintain(sh->journal); /* room for a new segment? */
    if (sh->quiet_until_ms != 0)
      wait_quiet(sh);
    long shipped = sh->sink != NULL ? 0 : open_sink(sh);
    if (sh->sink != NULL)
      shipped = ship_once(sh);
    /* After a batch of ours, never instead of it: a batch that failed
     * (a store that refused it, then took it again in another form) is
     * not overtaken by the spool's younger records. */
    if (shipped >= 0 && !collect_if_asked(sh))
      shipped = -1; /* a batch of ours failed: as above */
    pthread_mutex_lock(&sh->lock);
    bool stopping = sh->stopping;
    bool final = sh->sink == NULL && open_error_is_final(sh->open_rc);
    if (shipped == 0)
      sh->idle_passes++;
    pthread_cond_broadcast(&sh->progress);
    pthread_mutex_unlock(&sh->lock);

    if (shipped < 0) {
      backoff = backoff ? backoff * 2 : 10;
      if (backoff > MAX_BACKOFF_MS)
        backoff = MAX_BACKOFF_MS;
      if (stopping)
        break; /* the rest stays in the journal for recovery */
      /* A flush does not cut the backoff short: it waits for its own
       * deadline while the sink fails. A bad URL is not retried at all. */
      sleep_ms(sh, final ? UINT32_MAX / 2 : backoff, false);
      continue;
    }
    backoff = 0;
    if (shipped == MIDA_SHIP_BATCH)
      continue; /* more is waiting */
    if (stop_seen && shipped == 0)
      break;
    if (stopping)
      continue; /* asked during this pass: one more */
    /* A partial batch: records trickle in. Waiting the whole interval
     * lets them gather into one transaction instead of one each (at a
     * trickle, the cost of a transaction dominates); flush() and stop
     * still wake the thread at once. */
    sleep_ms(sh, sh->interval_ms, true);
  }
  pthread_mutex_lock(&sh->lock);
  sh->exited = true;
  pthread_cond_broadcast(&sh->progress); /* mida__shipper_stop */
  pthread_mutex_unlock(&sh->lock);
  return NULL;
}

/* Frees what mida__shipper_start allocated (not the thread's objects). */
static void shipper_free(mida__shipper *sh) {
  mida__sink_close(sh->sink);
  mida__recover_buffers_free(sh->buffers);
  mida__free(sh->url);
  mida__free(sh->spool_dir);
  mida__free(sh->frames);
  mida__free(sh->recs);
  mida__free(sh);
}

int mida__shipper_start(mida__journal *j, const char *url,
                        const char *spool_dir, unsigned interval_ms,
                        mida__shipper **out) {
  return mida__shipper_start_quiet(j, url, spool_dir, interval_ms, 0, out);
}

int mida__shipper_start_quiet(mida__journal *j, const char *url,
                              const char *spool_dir, unsigned interval_ms,
                              int quiet_ms, mida__shipper **out) {
  *out = NULL;
  if (j == NULL || url == NULL || spool_dir == NULL)
    return MIDA_EINVAL;
  mida__shipper *sh = mida__calloc(1, sizeof *sh);
  if (sh == NULL)
    return MIDA_ENOMEM;
  sh->journal = j;
  sh->interval_ms = interval_ms ? interval_ms : 20;
  sh->quiet_until_ms = quiet_ms > 0 ? mida__monotonic_ms() + quiet_ms : 0;
  sh->frames = mida__calloc(MIDA_SHIP_BATCH, sizeof *sh->frames);
  sh->recs = mida__calloc(MIDA_SHIP_BATCH + 3, sizeof *sh->recs);
  sh->url = mida__strdup(url);
  sh->spool_dir = mida__strdup(spool_dir);
  if (sh->frames == NULL || sh->recs == NULL || sh->url == NULL ||
      sh->spool_dir == NULL) {
    shipper_free(sh);
    return MIDA_ENOMEM;
  }
  /* Decided once, for stuck(), which asks every 100 ms of a stop. Any
   * answer but MIDA_EURL names a file: the path does not fit in path. */
  char path[8];
  sh->local_store =
      mida__url_sqlite_path(url, path, sizeof path) != MIDA_EURL;
  pthread_mutex_init(&sh->lock, NULL);
  pthread_cond_init(&sh->wake, NULL);
  pthread_cond_init(&sh->progress, NULL);
  if (pthread_create(&sh->thread, NULL, shipper_main, sh) != 0) {
    pthread_cond_destroy(&sh->progress);
    pthread_cond_destroy(&sh->wake);
    pthread_mutex_destroy(&sh->lock);
    shipper_free(sh);
    return MIDA_EIO;
  }
  *out = sh;
  return MIDA_OK;
}

int mida__shipper_wait_open(mida__shipper *sh, int timeout_ms, char *msg,
                            size_t msglen) {
  struct timespec until = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
  pthread_mutex_lock(&sh->lock);
  while (sh->open_attempts == 0) {
    int w = timeout_ms >= 0
                ? pthread_cond_timedwait(&sh->progress, &sh->lock, &until)
                : pthread_cond_wait(&sh->progress, &sh->lock);
    if (w == ETIMEDOUT)
      break;
  }
  int rc = sh->open_attempts == 0 ? MIDA_ETIMEDOUT : sh->open_rc;
  if (msg != NULL && msglen > 0)
    snprintf(msg, msglen, "%s",
             rc != MIDA_OK && rc != MIDA_ETIMEDOUT ? sh->errmsg : "");
  pthread_mutex_unlock(&sh->lock);
  return rc;
}

int mida__shipper_flush(mida__shipper *sh, int timeout_ms) {
  struct timespec until = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
  int rc = MIDA_OK;
  pthread_mutex_lock(&sh->lock);
  sh->flushes_waiting++; /* a held group is cut for it (hold_wait) */
  /* Two idle passes: the first may have started before this call. */
  uint64_t target = sh->idle_passes + 2;
  sh->wake_requested = true;
  pthread_cond_signal(&sh->wake);
  while (sh->idle_passes < target) {
    int w = timeout_ms >= 0
                ? pthread_cond_timedwait(&sh->progress, &sh->lock, &until)
                : pthread_cond_wait(&sh->progress, &sh->lock);
    if (w == ETIMEDOUT) {
      /* Say why, when the sink is what keeps records back. */
      rc = sh->last_rc != MIDA_OK ? sh->last_rc : MIDA_ETIMEDOUT;
      break;
    }
    sh->wake_requested = true;
    pthread_cond_signal(&sh->wake);
  }
  sh->flushes_waiting--;
  if (rc == MIDA_OK && sh->denial_unreported) {
    sh->denial_unreported = false;
    sh->last_rc = rc = MIDA_EDENIED;
  } else if (rc == MIDA_OK && sh->refusal_unreported) {
    sh->refusal_unreported = false;
    rc = MIDA_EREFUSED; /* not last_rc: the store takes batches */
  }
  pthread_mutex_unlock(&sh->lock);
  return rc;
}

int mida__shipper_collect(mida__shipper *sh, int timeout_ms, unsigned flags,
                          mida__collected *out) {
  struct timespec until = deadline_after(timeout_ms < 0 ? 0 : timeout_ms);
  int rc = MIDA_OK;
  pthread_mutex_lock(&sh->lock);
  uint64_t ticket = ++sh->collects_asked;
  sh->collect_flags |= flags;
  sh->wake_requested = true;
  pthread_cond_signal(&sh->wake);
  while (sh->collects_done < ticket) {
    if (sh->stopping) {
      rc = MIDA_ECLOSED;
      break;
    }
    if (sh->sink == NULL && sh->open_attempts > 0 && sh->open_rc != MIDA_OK) {
      rc = sh->open_rc; /* not open: the spool keeps its orphans */
      break;
    }
    int w = timeout_ms >= 0
                ? pthread_cond_timedwait(&sh->progress, &sh->lock, &until)
                : pthread_cond_wait(&sh->progress, &sh->lock);
    if (w == ETIMEDOUT) {
      /* A store that fails our batches (a full disk) keeps the pass from
       * being made at all: say why, as a flush does, so that the caller
       * does not wait for it as for a slow one. */
      rc = sh->last_rc != MIDA_OK ? sh->last_rc : MIDA_ETIMEDOUT;
      break;
    }
  }
  if (out != NULL)
    *out = rc == MIDA_OK ? sh->collected : (mida__collected){0, 0};
  pthread_mutex_unlock(&sh->lock);
  return rc;
}

void mida__shipper_quiet_end(mida__shipper *sh) {
  pthread_mutex_lock(&sh->lock);
  sh->quiet_ended = true;
  pthread_cond_broadcast(&sh->wake);
  pthread_mutex_unlock(&sh->lock);
}

void mida__shipper_cut_hold(mida__shipper *sh) {
  pthread_mutex_lock(&sh->lock);
  sh->hold_cut = true;
  pthread_cond_broadcast(&sh->wake);
  pthread_mutex_unlock(&sh->lock);
}

/* Whether the thread has been in one sink call for STOP_STUCK_MS, to a
 * store across the network, or for STOP_RETRY_MS when the call before it
 * failed. A local SQLite store is waited for: a long call there is a wait
 * for another writer's lock, which ends. Called with sh->lock held. */
static bool stuck(mida__shipper *sh) {
  int64_t since = atomic_load(&sh->in_call_since);
  int64_t limit = sh->last_rc != MIDA_OK ? STOP_RETRY_MS : STOP_STUCK_MS;
  return !sh->local_store && since != 0 &&
         mida__monotonic_ms() - since >= limit;
}

int mida__shipper_stop(mida__shipper *sh) {
  pthread_mutex_lock(&sh->lock);
  sh->stopping = true;
  sh->wake_requested = true;
  pthread_cond_signal(&sh->wake);
  /* Checked every 100 ms: the thread says when it exits, not when a call
   * of its hangs. */
  while (!sh->exited && !stuck(sh)) {
    struct timespec until = deadline_after(100);
    pthread_cond_timedwait(&sh->progress, &sh->lock, &until);
  }
  bool exited = sh->exited;
  pthread_mutex_unlock(&sh->lock);
  if (!exited) {
    /* Left to itself: what it has not shipped stays in the journal for
     * the next process or `mida recover`, as after a crash. It still uses
     * the shipper and the journal: the caller keeps both (process exit
     * takes them). */
    pthread_detach(sh->thread);
    return MIDA_ETIMEDOUT;
  }
  pthread_join(sh->thread, NULL);
  int rc = sh->last_rc != MIDA_OK   ? sh->last_rc
           : sh->denial_unreported  ? MIDA_EDENIED
           : sh->refusal_unreported ? MIDA_EREFUSED
                                    : MIDA_OK;
  /* Why, for the caller to say: the sink's message outlives the shipper
   * as the thread's last error (mida_errmsg(NULL) after mida_close). */
  if (rc != MIDA_OK && sh->errmsg[0] != '\0')
    mida__set_error(rc, "%s", sh->errmsg);
  pthread_cond_destroy(&sh->progress);
  pthread_cond_destroy(&sh->wake);
  pthread_mutex_destroy(&sh->lock);
  shipper_free(sh);
  return rc;
}

void mida__shipper_stats_get(mida__shipper *sh, mida__shipper_stats *out) {
  out->shipped = atomic_load(&sh->shipped);
  out->batches = atomic_load(&sh->batches);
  out->errors = atomic_load(&sh->errors);
  out->undecodable = atomic_load(&sh->undecodable);
  out->denied = atomic_load(&sh->denied);
  out->refused = atomic_load(&sh->refused);
}

void mida__shipper_errmsg(mida__shipper *sh, char *buf, size_t buflen) {
  pthread_mutex_lock(&sh->lock);
  snprintf(buf, buflen, "%s", sh->errmsg);
  pthread_mutex_unlock(&sh->lock);
}

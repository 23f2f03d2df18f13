/*
 * recovery.c -- ships the journals that dead processes left behind.
 *
 * A segment file in the spool directory whose flock(2) can be taken has no
 * live writer: its process died (or closed without shipping everything).
 * Recovery reads it from its recorded head, ships the frames it can verify
 * (skipping and counting torn or corrupt ones), records the counts in the
 * store as COUNTER records of the dead process, and removes the file once
 * everything in it is durable in the sink: the batches of up to
 * GROUP_SEGMENTS segments are put deferred (sink.h) and made durable by
 * one mida__sink_sync, before those segments are removed. A failure of the
 * sink leaves the group's files where they are, each with its head at the
 * last batch known to be durable, so a later recovery goes on from there
 * (a record applied twice changes nothing). A segment whose header is damaged
 * is read frame by frame without it (journal.h, "Damaged headers") and kept
 * aside as <name>.mj.quarantine rather than removed; the store counts it.
 * Only a spool that passes the checks of spool_dir.h is read, and only the
 * segments this user owns are shipped: another user's file is left alone.
 *
 * Live segments. Asked to (MIDA_RECOVER_TAIL_LIVE: `mida run`'s
 * collector), a pass also reads the segments whose writer lives and lets
 * another process read them (mida__tail_open: the preload library's), one
 * batch each, so that a running program's records reach the store as it
 * makes them rather than when it hands a full segment over or ends. They
 * join the group like orphans' and are released once it is durable; a
 * recovery killed before that ships them again later (a record applied
 * twice changes nothing). A journal's segments go in order: after a live
 * one not read to its tail, its later ones wait for the next pass.
 *
 * Holding a group (MIDA_RECOVER_HOLD: `mida run`'s collector while the
 * command runs). A commit writes every page its transaction changed, and
 * the file records of one process land all over three B-trees: a pass of
 * ~500 of them, committed, rewrote about half of a new store's pages, so
 * that `tar c` of 10,000 files wrote 2,200-6,500 WAL frames where one
 * transaction writes ~800. So a group with a live segment in it is held
 * open: its live segments are read every few milliseconds (HOLD_STEP_MS,
 * sooner while they grow) from where the group got to
 * (mida__tail_peek_from: nothing is released), what is read is applied
 * in the same transaction (mida__sink_settle: on the
 * shipper's core while the command runs, not at the commit), and the
 * spool is walked again at each reading (a writer whose ring filled goes
 * on in a new segment, which joins the group, as do the segments of
 * processes that began or ended since: a loop of short processes fills
 * the group to GROUP_SEGMENTS, whose commit gives their files back to the
 * spool's pool for the next processes). The group is made durable as
 * usual once its writers were idle for HOLD_QUIET_MS, after
 * MIDA_RECOVER_HOLD_MS, past GROUP_RECORDS or GROUP_SEGMENTS, or once
 * the wait has said so (the command ended) and what its writers left is
 * read. Nothing is released or removed before
 * that commit, so a recovery killed meanwhile leaves it all to the next;
 * the orphans of the group stay locked until it, and the LOST marks of
 * the dead journals go into it, as in any pass.
 *
 * Truthful state: once every segment of a dead journal is in the store, its
 * tasks and workflows that never ended can no longer end. Recovery sends a
 * LOST record for each such journal (record.h), which the store turns into
 * status LOST for what that process left SUBMITTED or RUNNING; LOST ranks
 * below the real ends, so an end that arrives later still wins. The LOST
 * records join the last group, and are made durable by its commit, with
 * the records of its segments and before their files are removed: a store
 * that rolls the group back rolls them back too (the segments stay, and
 * the next recovery marks them again), and no segment of a journal is
 * removed before its LOST marks are durable -- as they were when they
 * had a commit of their own after the group's removals, where a recovery
 * killed between the two, or a failing second commit, left the journal's
 * unfinished tasks RUNNING for good, with nothing left to mark them.
 * (The segments of a group all reached their end before it is flushed:
 * a dead writer's segment does not grow, so the LOST marks follow every
 * record of its journal in the transaction.)
 */
#include "capture/recovery.h"

#include "capture/ship.h"
#include "capture/spool_dir.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/host.h"
#include "core/pid.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The error text of a task that recovery marks LOST. */
#define LOST_REASON                                                            \
  "lost: the process that ran it ended before it did (its journal was "        \
  "recovered)"

/* A journal, as recovery tells them apart: one session of one process. */
typedef struct journal_id {
  char host[72];    /* host name from the header (real, not sanitized) */
  int64_t pid;      /* process id */
  int64_t start_ns; /* the journal's start */
  bool live;        /* a segment of it is held by a live process */
  bool incomplete;  /* a segment of it could not be shipped */
  bool held_back;   /* a live segment of it was not read to its tail in
                       this pass: its later segments wait, in order */
  uint64_t corrupt; /* the counter "corrupt" put for its last segment
                       read in this pass: its total up to there */
} journal_id;

/* The journals seen in one walk of the spool; beyond this many, the rest
 * are shipped but not marked (a later recovery does it). */
#define MAX_JOURNALS 1024

/* A group: the segments whose records went into the sink deferred (sink.h)
 * and are made durable together, by one mida__sink_sync, before each is
 * removed. In SQLite that is one transaction instead of one per segment:
 * its commit writes each page it changed once, where a commit per segment
 * wrote the same pages (the tables' and indexes' right-most leaves) again
 * for every segment. A group holds at most this many segments (each keeps
 * its file open and mapped until the sync) and records (the time the
 * store's write lock is held, the size of its WAL). */
#define GROUP_SEGMENTS 64
#define GROUP_RECORDS 16384

/* A held group's live segments are read again HOLD_STEP_MS after a
 * reading, HOLD_BUSY_STEP_MS after one that found HOLD_BUSY_RECORDS or
 * more, and the group is made durable once its readings found nothing for
 * HOLD_QUIET_MS. While a writer is busy, what it made since the last
 * reading is what is left to apply when it ends: with a step of 10 ms,
 * `tar c` of 10,000 files left ~300 to ~1,900 records (1-6 ms of the
 * shipper's) after its exit, on top of the records of the reading before,
 * applied only after the wait. A slow writer's last 10 ms are a few
 * records: it is not read more often (a program writing a file every
 * millisecond cost the collector ~1 % of a core more at 2 ms). */
#define HOLD_STEP_MS 10
#define HOLD_BUSY_STEP_MS 2
#define HOLD_BUSY_RECORDS 100
#define HOLD_QUIET_MS 20

/* A segment shipped into the open group, not yet removed. */
typedef struct pending_segment {
  mida__orphan *orphan; /* open and locked until the group is durable */
  uint64_t mark;        /* its position after the frames shipped */
  journal_id *jid;      /* its journal, or NULL */
  uint64_t undecodable; /* frames this pass read that could not be decoded */
  uint64_t unsaved;     /* of those, not yet counted in its header's
                           corrupt: they are, by the release of mark */
  bool live;            /* its writer lives (mida__tail_open): released up
                           to mark, never removed */
  int64_t pid, start_ns; /* its file name's (name_ids), for a held group's */
  uint64_t seq;          /* walks of the spool; pid 0: not named */
} pending_segment;

typedef struct recovery {
  mida__sink *sink;        /* destination */
  mida__recover_stats *st; /* running totals */
  mida__frame *frames;     /* batch buffers */
  mida__rec *recs;
  char *err; /* where the first error's message goes */
  size_t errlen;
  int rc;               /* the first error, MIDA_OK if none */
  journal_id *journals; /* seen so far */
  size_t njournals;     /* entries at journals */
  mida__recover_progress_fn progress; /* told after each batch, or NULL */
  void *progress_ctx;                 /* its first argument */
  pending_segment *pending;           /* the open group's segments */
  size_t npending;                    /* entries at pending */
  uint64_t group_records;             /* records put in the open group */
  bool tail_live; /* live segments that allow it are read too */
  int64_t before_ns; /* > 0: only journals that started before it */
  int64_t own_pid;   /* the recovering process's own journal: its pid */
  int64_t own_start_ns; /* ... and start (ns), or 0 when not named */
  mida__recover_hold_fn hold; /* MIDA_RECOVER_HOLD asked, and allowed: */
  void *hold_ctx;             /* hold's wait, or NULL */
  const char *spool_dir;      /* the spool walked */
  bool rewalk;                /* a held group's walk: its segments known */
} recovery;

/* The entry of journal (pid, start), or NULL if it has none yet. */
static journal_id *journal_find(recovery *r, int64_t pid, int64_t start_ns) {
  for (size_t i = 0; i < r->njournals; i++) {
    journal_id *j = &r->journals[i];
    if (j->pid == pid && j->start_ns == start_ns)
      return j;
  }
  return NULL;
}

/* The entry of journal (pid, start) of host, added if new; NULL when the
 * table is full. host NULL matches any (a live segment, known by name). */
static journal_id *journal_entry(recovery *r, const char *host, int64_t pid,
                                 int64_t start_ns) {
  for (size_t i = 0; i < r->njournals; i++) {
    journal_id *j = &r->journals[i];
    if (j->pid == pid && j->start_ns == start_ns &&
        (host == NULL || j->host[0] == '\0' || strcmp(j->host, host) == 0)) {
      if (host != NULL && j->host[0] == '\0')
        snprintf(j->host, sizeof j->host, "%s", host);
      return j;
    }
  }
  if (r->njournals == MAX_JOURNALS)
    return NULL;
  journal_id *j = &r->journals[r->njournals++];
  memset(j, 0, sizeof *j);
  snprintf(j->host, sizeof j->host, "%s", host != NULL ? host : "");
  j->pid = pid;
  j->start_ns = start_ns;
  return j;
}

/* Adds segment o (at path; read to mark) to the open group. */
static void group_add(recovery *r, const char *path, mida__orphan *o,
                      uint64_t mark, journal_id *j, uint64_t undecodable,
                      bool live) {
  pending_segment *p = &r->pending[r->npending++];
  *p = (pending_segment){o, mark, j, undecodable, undecodable, live, 0, 0, 0};
  if (mida__segment_name_ids(path, &p->pid, &p->start_ns, &p->seq) != 0)
    p->pid = 0;
}

/* Whether the segment named (pid, start_ns, seq) is in the open group. */
static bool in_group(const recovery *r, int64_t pid, int64_t start_ns,
                     uint64_t seq) {
  for (size_t i = 0; i < r->npending; i++) {
    const pending_segment *p = &r->pending[i];
    if (p->pid == pid && p->start_ns == start_ns && p->seq == seq &&
        p->pid != 0)
      return true;
  }
  return false;
}

/* Sends the dead writer's counters, if any, as COUNTER records. */
static int put_counters(recovery *r, const mida__origin *origin,
                        uint64_t corrupt, uint64_t dropped,
                        uint64_t quarantined) {
  size_t n = 0;
  const char *names[3] = {"corrupt", "dropped", "quarantined"};
  uint64_t values[3] = {corrupt, dropped, quarantined};
  for (int i = 0; i < 3; i++) {
    if (values[i] == 0)
      continue;
    /* host and pid come from the origin: the dead writer's */
    mida__rec_counter(&r->recs[n++], NULL, 0, names[i], (int64_t)values[i]);
  }
  return n > 0 ? mida__sink_put_batch(r->sink, r->recs, n, origin) : MIDA_OK;
}

/* Ships what follows mark in a segment of the group, once the group is
 * durable: nothing, unless a peek stopped short of the segment's end. */
static int ship_rest(recovery *r, pending_segment *p) {
  mida__origin origin = {mida__orphan_host(p->orphan),
                         mida__orphan_pid(p->orphan)};
  /* The undecodable frames go into the header's corrupt with the head's
   * move past them, so that its count holds every pass's, once (the
   * counter "corrupt" sent is the header's total). */
  if (p->mark != 0)
    mida__orphan_release_skipping(p->orphan, p->mark, p->unsaved);
  p->unsaved = 0;
  if (p->live)
    return MIDA_OK; /* its writer goes on: the rest is the next pass's */
  for (;;) {
    uint64_t mark = 0;
    size_t n = mida__orphan_peek(p->orphan, r->frames, MIDA_SHIP_BATCH, &mark);
    if (n == 0)
      return MIDA_OK;
    uint64_t bad = 0;
    int rc = mida__ship_frames(r->sink, r->frames, n, r->recs, &origin, &bad);
    if (rc == MIDA_OK)
      rc = mida__sink_sync(r->sink);
    if (rc != MIDA_OK)
      return rc;
    mida__orphan_release_skipping(p->orphan, mark, bad);
    p->undecodable += bad;
    r->st->records += n - bad;
  }
}

/* Makes the open group durable, then removes its segments (after their
 * counters, durable too). On failure every segment of the group stays,
 * to be shipped again (a record applied twice changes nothing), and the
 * first error is kept. Returns MIDA_OK or that error. */
static int flush_group(recovery *r) {
  mida__pool_cursor pool = {0, 0}; /* the group's files go in one run */
  int rc = mida__sink_sync(r->sink);
  for (size_t i = 0; i < r->npending && rc == MIDA_OK; i++)
    rc = ship_rest(r, &r->pending[i]);
  for (size_t i = 0; i < r->npending && rc == MIDA_OK; i++) {
    pending_segment *p = &r->pending[i];
    mida__origin origin = {mida__orphan_host(p->orphan),
                           mida__orphan_pid(p->orphan)};
    /* Its journal's earlier segments, read in this pass (in order), hold
     * what their writer could not count when it made this one: what
     * readers skipped in them since. Kept in its header for the passes
     * to come. */
    if (p->jid != NULL) {
      mida__orphan_carry_corrupt(p->orphan, p->jid->corrupt);
      p->jid->corrupt = mida__orphan_corrupt_total(p->orphan);
    }
    /* The journal's totals up to this segment (journal.h), its
     * undecodable frames in them (ship_rest): of which the store keeps
     * the largest, the sum over its segments and over the passes that
     * read a live one. A live segment's drops are sent once it is an
     * orphan, whole. */
    if (p->live) {
      rc = put_counters(r, &origin, mida__orphan_corrupt_total(p->orphan), 0,
                        0);
      continue;
    }
    rc = put_counters(r, &origin, mida__orphan_corrupt_total(p->orphan),
                      mida__orphan_dropped_total(p->orphan),
                      mida__orphan_salvaged(p->orphan) ? 1 : 0);
  }
  if (rc == MIDA_OK)
    rc = mida__sink_sync(r->sink);
  for (size_t i = 0; i < r->npending; i++) {
    pending_segment *p = &r->pending[i];
    if (rc == MIDA_OK && p->live) {
      r->st->corrupt += p->undecodable;
      r->st->tailed++;
    } else if (rc == MIDA_OK) {
      r->st->corrupt += mida__orphan_corrupt(p->orphan);
      r->st->dropped += mida__orphan_dropped(p->orphan);
      r->st->segments++;
      r->st->quarantined += mida__orphan_salvaged(p->orphan);
    } else if (p->jid != NULL) {
      p->jid->incomplete = true;
    }
    mida__orphan_close_pooled(p->orphan, rc == MIDA_OK, &pool);
  }
  r->npending = 0;
  r->group_records = 0;
  if (rc != MIDA_OK && r->rc == MIDA_OK) {
    r->rc = rc;
    snprintf(r->err, r->errlen, "shipping the spool: %s",
             mida__sink_errmsg(r->sink));
  }
  return rc;
}

/* Leaves the open group's segments in place: a batch failed, and a store
 * may have rolled the whole group back with it. */
static void abandon_group(recovery *r) {
  for (size_t i = 0; i < r->npending; i++) {
    if (r->pending[i].jid != NULL)
      r->pending[i].jid->incomplete = true;
    mida__orphan_close(r->pending[i].orphan, false);
  }
  r->npending = 0;
  r->group_records = 0;
}

/* Ships the n frames just read from segment o (in r->frames) into the
 * open group, adding those that could not be decoded to *undecodable, and
 * counts them. Returns the sink's rc (nothing counted on a failure). */
static int ship_read(recovery *r, mida__orphan *o, size_t n,
                     uint64_t *undecodable) {
  mida__origin origin = {mida__orphan_host(o), mida__orphan_pid(o)};
  uint64_t bad_before = *undecodable;
  int rc = mida__ship_frames(r->sink, r->frames, n, r->recs, &origin,
                             undecodable);
  if (rc != MIDA_OK)
    return rc;
  r->st->records += n - (*undecodable - bad_before);
  r->group_records += n;
  if (r->progress != NULL)
    r->progress(r->progress_ctx, r->st);
  return MIDA_OK;
}

/* Whether the segment at path, listed by this pass, is no longer there:
 * another reader of the spool (a second `mida recover`, the detached one
 * `mida run` leaves behind) shipped and removed it meanwhile. Not an
 * error: its records are in the store. */
static bool gone_since_listed(const char *path) {
  struct stat st;
  return lstat(path, &st) != 0 && errno == ENOENT;
}

/* Ships one batch of the live segment o (at path, of journal j; opened
 * by mida__segment_open, since no earlier segment of j was left unread in
 * this pass): at most one batch, so that a pass ends however fast its
 * writer appends. Its frames go into the open group like an orphan's and
 * are released once the group is durable. Returns as recover_segment. */
static int tail_segment(recovery *r, const char *path, journal_id *j,
                        mida__orphan *o) {
  if (j == NULL) {
    mida__orphan_close(o, false); /* no room to keep its order: later */
    return 0;
  }
  uint64_t mark = 0, undecodable = 0;
  size_t n = mida__orphan_peek(o, r->frames, MIDA_SHIP_BATCH, &mark);
  if (!mida__tail_caught_up(o, mark))
    j->held_back = true;
  if (n == 0) {
    mida__orphan_close(o, false);
    return 0;
  }
  int rc = ship_read(r, o, n, &undecodable);
  if (rc != MIDA_OK) {
    if (r->rc == MIDA_OK) {
      r->rc = rc;
      snprintf(r->err, r->errlen, "shipping %s: %s", path,
               mida__sink_errmsg(r->sink));
    }
    mida__orphan_close(o, false);
    abandon_group(r);
    return 1; /* the sink is failing: stop here */
  }
  group_add(r, path, o, mark, j, undecodable, true);
  if (r->npending == GROUP_SEGMENTS || r->group_records >= GROUP_RECORDS)
    return flush_group(r) == MIDA_OK ? 0 : 1;
  return 0;
}

static int recover_segment(void *ctx, const char *path) {
  recovery *r = ctx;
  int64_t name_pid = 0, name_start = 0;
  uint64_t name_seq = 0;
  bool named =
      mida__segment_name_ids(path, &name_pid, &name_start, &name_seq) == 0;
  if (r->rewalk && named && in_group(r, name_pid, name_start, name_seq))
    return 0; /* held open by this recovery, and read on by hold_group */
  if (r->before_ns > 0 && named && name_start >= r->before_ns) {
    r->st->later++;
    return 0;
  }
  if (named && r->own_start_ns != 0 && name_pid == r->own_pid &&
      name_start == r->own_start_ns) {
    /* This process's own journal, locked by it: busy, and never another
     * process's to read (it is not tailable). */
    r->st->busy++;
    journal_id *j = journal_entry(r, NULL, name_pid, name_start);
    if (j != NULL)
      j->live = true;
    return 0;
  }
  /* A live segment is read only if no earlier one of its journal was left
   * unread in this pass (a journal's segments go in order). */
  journal_id *known = named ? journal_find(r, name_pid, name_start) : NULL;
  bool tail = r->tail_live && named && (known == NULL || !known->held_back);
  mida__orphan *o = NULL;
  char err[512] = "";
  int rc = mida__segment_open(path, tail, &o, err, sizeof err);
  if (rc == MIDA_ENOTFOUND) {
    /* Live, and read to its tail: nothing for this pass, in order. */
    r->st->busy++;
    journal_id *j = journal_entry(r, NULL, name_pid, name_start);
    if (j != NULL)
      j->live = true;
    return 0;
  }
  if (rc == MIDA_EBUSY || (rc == MIDA_OK && mida__orphan_live(o))) {
    r->st->busy++;
    journal_id *j =
        named ? journal_entry(r, NULL, name_pid, name_start) : NULL;
    if (j != NULL)
      j->live = true;
    if (rc == MIDA_OK)
      return tail_segment(r, path, j, o);
    if (tail && j != NULL)
      j->held_back = true; /* read by another, or not at all: keep order */
    return 0;
  }
  if (rc == MIDA_ECORRUPT) {
    r->st->foreign++;
    return 0;
  }
  if (rc != MIDA_OK && gone_since_listed(path))
    return 0;
  if (rc != MIDA_OK) {
    if (r->rc == MIDA_OK) {
      r->rc = rc;
      snprintf(r->err, r->errlen, "%s: %s", path, err);
    }
    return 0; /* try the other segments */
  }

  mida__origin origin = {mida__orphan_host(o), mida__orphan_pid(o)};
  journal_id *jid =
      journal_entry(r, origin.host, origin.pid, mida__orphan_start_ns(o));
  uint64_t undecodable = 0;
  for (;;) {
    uint64_t mark = 0;
    size_t n = mida__orphan_peek(o, r->frames, MIDA_SHIP_BATCH, &mark);
    if (n == 0) {
      /* Nothing (left) to ship: removed with the group, after its sync
       * (also when the segment held no frames: it goes in order). */
      break;
    }
    rc = ship_read(r, o, n, &undecodable);
    if (rc != MIDA_OK)
      break;
    if (n < MIDA_SHIP_BATCH) {
      /* The peek stopped short of a full batch: the segment's end (the
       * group's end checks that nothing follows). */
      group_add(r, path, o, mark, jid, undecodable, false);
      o = NULL;
      break;
    }
    /* A full batch: the next peek starts where this one was released,
     * which waits for the group to be durable. */
    rc = flush_group(r);
    if (rc != MIDA_OK)
      break;
    mida__orphan_release_skipping(o, mark, undecodable);
    undecodable = 0;
  }
  if (rc == MIDA_OK && o != NULL) {
    group_add(r, path, o, 0, jid, undecodable, false);
    o = NULL;
  }
  if (rc != MIDA_OK) {
    if (r->rc == MIDA_OK) {
      r->rc = rc;
      snprintf(r->err, r->errlen, "shipping %s: %s", path,
               mida__sink_errmsg(r->sink));
    }
    mida__orphan_close(o, false); /* NULL when it is in the group */
    if (jid != NULL)
      jid->incomplete = true;
    abandon_group(r);
    return 1; /* the sink is failing: stop here */
  }
  if (r->npending == GROUP_SEGMENTS || r->group_records >= GROUP_RECORDS)
    return flush_group(r) == MIDA_OK ? 0 : 1;
  return 0;
}

/* Whether the open group has a live segment (tail_segment): what a held
 * group waits for ("Holding a group"). */
static bool group_has_live(const recovery *r) {
  for (size_t i = 0; i < r->npending; i++)
    if (r->pending[i].live)
      return true;
  return false;
}

/* The sink failed rc while a group was held: keeps the first error and
 * leaves the group's segments as they are (a store may have rolled the
 * whole group back). */
static void held_group_failed(recovery *r, int rc) {
  if (r->rc == MIDA_OK) {
    r->rc = rc;
    snprintf(r->err, r->errlen, "shipping a live segment: %s",
             mida__sink_errmsg(r->sink));
  }
  abandon_group(r);
}

/* Reads on in each live segment of the open group, one batch, from where
 * the group got to, into the group. Returns the frames read, or -1 when
 * the sink failed (the group is then abandoned and the error kept). */
static long read_on(recovery *r) {
  long read = 0;
  for (size_t i = 0; i < r->npending; i++) {
    pending_segment *p = &r->pending[i];
    if (!p->live)
      continue; /* an orphan's frames are all in the group already */
    uint64_t mark = 0;
    size_t n = mida__tail_peek_from(p->orphan, p->mark, r->frames,
                                    MIDA_SHIP_BATCH, &mark);
    if (n > 0) {
      uint64_t bad = 0;
      int rc = ship_read(r, p->orphan, n, &bad);
      if (rc != MIDA_OK) {
        held_group_failed(r, rc);
        return -1;
      }
      p->undecodable += bad;
      p->unsaved += bad;
      read += (long)n;
    }
    if (mark > p->mark)
      p->mark = mark; /* past what was read, or skipped */
  }
  return read;
}

/* Walks the spool again for a held group: its own segments are passed
 * over, live ones that came since (a writer's next segment, once its
 * last one filled; a new process) join the group, and orphans are shipped
 * into it as in any pass (a group that fills there is made durable there,
 * which ends the hold). A journal's later segment
 * is read only if the group read its earlier ones to their tails. Returns
 * whether a segment joined the group. */
static bool walk_again(recovery *r) {
  size_t before = r->npending;
  for (size_t i = 0; i < r->njournals; i++)
    r->journals[i].held_back = false;
  for (size_t i = 0; i < r->npending; i++) {
    pending_segment *p = &r->pending[i];
    if (p->jid != NULL && !mida__tail_caught_up(p->orphan, p->mark))
      p->jid->held_back = true;
  }
  r->rewalk = true;
  int rc = mida__spool_list(r->spool_dir, recover_segment, r);
  r->rewalk = false;
  if (rc != MIDA_OK && r->rc == MIDA_OK) {
    r->rc = rc;
    snprintf(r->err, r->errlen, "cannot read the spool directory %s",
             r->spool_dir);
  }
  return r->npending > before;
}

/* Holds the open group of live segments ("Holding a group"): reads on in
 * them and applies what comes, until it is to be made durable. Leaves the
 * group open (or abandoned, after a failure: r->rc says). */
static void hold_group(recovery *r) {
  int64_t until = mida__monotonic_ms() + MIDA_RECOVER_HOLD_MS;
  int step = HOLD_STEP_MS; /* the wait before the next reading */
  int quiet_ms = 0;        /* how long the readings have found nothing */
  int unwalked = 0; /* busy readings since the spool's last walk */
  bool cut = false; /* the wait said no: what is there is read, no more */
  while (r->rc == MIDA_OK && group_has_live(r) &&
         r->group_records < GROUP_RECORDS && r->npending < GROUP_SEGMENTS) {
    int rc = mida__sink_settle(r->sink);
    if (rc != MIDA_OK) {
      held_group_failed(r, rc);
      return;
    }
    int64_t left = until - mida__monotonic_ms();
    if (left <= 0)
      return;
    int wait = left < step ? (int)left : step;
    if (!cut && !r->hold(r->hold_ctx, wait))
      cut = true; /* the command ended: its last records join this commit */
    long n = read_on(r);
    if (n < 0)
      return;
    /* The spool on every reading, not only when the group's writers were
     * quiet: they may have gone on in segments of their next ones, and
     * the segments of short processes that came and went meanwhile join
     * the group, which then fills to GROUP_SEGMENTS and commits, their
     * files back in the spool's pool for the next processes to take
     * (spool_pool.h). A shell starting 1,000 `/bin/true` walked only
     * when quiet: one group held ~350 ms while ~400 processes came and
     * went, and 650-900 of the 1,000 made a new inode. After busy
     * readings (HOLD_BUSY_STEP_MS apart), once in HOLD_STEP_MS as after
     * the others: the walk lists the spool's pool too, up to 96 files of
     * each size. */
    bool busy = step == HOLD_BUSY_STEP_MS && n > 0 && !cut;
    if (!busy || ++unwalked >= HOLD_STEP_MS / HOLD_BUSY_STEP_MS) {
      unwalked = 0;
      if (walk_again(r))
        n += 1;
    }
    if (n == 0 && cut)
      return;
    quiet_ms = n > 0 ? 0 : quiet_ms + wait;
    if (quiet_ms >= HOLD_QUIET_MS)
      return;
    step = n >= HOLD_BUSY_RECORDS ? HOLD_BUSY_STEP_MS : HOLD_STEP_MS;
  }
}

/* The earliest start of what a dead journal j's LOST record marks, where
 * no live journal of its pid was seen (with one, the process lived while
 * this pass read it: its end may be what it wrote after): the journal's
 * start, so that an earlier process that had j's pid is left alone --
 * unless that pid is no process of this host now. Then every
 * task of it not over is lost, whenever it began: a forked child's task
 * is begun by its parent before the child's journal, and a process killed
 * with its parent (a process group sent SIGKILL or SIGTERM, as a batch
 * system cancels a job) has no one to record its end, so bounded by its
 * journal it stayed RUNNING for good. A process that lives on (it exec'd:
 * its journal died with its old image) keeps the bound, and its new
 * image, or its parent, records its end. */
static int64_t lost_from(const journal_id *j) {
  if (j->pid <= 0 || strcmp(j->host, mida__hostname()) != 0 ||
      !mida__process_gone((pid_t)j->pid))
    return j->start_ns;
  return 0;
}

/* Puts the LOST records (record.h) of the dead journals into the open
 * group, whose flush makes them durable with its segments (above, "Truthful
 * state"): every journal all of whose segments were shipped and none of
 * which a live process holds. A live journal of the same pid (the pid
 * reused, or the same process in a later session) bounds the marked tasks
 * to those begun before it started; lost_from() says from when. Returns
 * MIDA_OK or the sink's error (the group is then abandoned: a store may
 * have rolled it back). */
static int put_lost(recovery *r) {
  size_t n = 0;
  int64_t now = mida_now_ns();
  int rc = MIDA_OK;
  for (size_t i = 0; i < r->njournals && rc == MIDA_OK; i++) {
    journal_id *j = &r->journals[i];
    if (j->live || j->incomplete || j->host[0] == '\0')
      continue;
    int64_t until = now;
    bool pid_live = false;
    for (size_t k = 0; k < r->njournals; k++) {
      journal_id *other = &r->journals[k];
      if (other->live && other->pid == j->pid) {
        pid_live = true;
        if (other->start_ns > j->start_ns && other->start_ns < until)
          until = other->start_ns;
      }
    }
    mida__rec *rec = &r->recs[n++];
    memset(rec, 0, sizeof *rec);
    rec->type = MIDA_REC_LOST;
    mida__rec_set_str(rec, MIDA_F_HOST, j->host, strlen(j->host));
    rec->f[MIDA_F_PID].present = true;
    rec->f[MIDA_F_PID].v.i64 = j->pid;
    rec->f[MIDA_F_STARTED].present = true;
    rec->f[MIDA_F_STARTED].v.i64 = pid_live ? j->start_ns : lost_from(j);
    rec->f[MIDA_F_ENDED].present = true;
    rec->f[MIDA_F_ENDED].v.i64 = until;
    mida__rec_set_str(rec, MIDA_F_ERROR, LOST_REASON, strlen(LOST_REASON));
    /* Each record names its host and pid: the origin adds nothing. */
    if (n == MIDA_SHIP_BATCH) {
      rc = mida__sink_put_batch(r->sink, r->recs, n, NULL);
      n = 0;
    }
  }
  if (rc == MIDA_OK && n > 0)
    rc = mida__sink_put_batch(r->sink, r->recs, n, NULL);
  if (rc != MIDA_OK) {
    if (r->rc == MIDA_OK) {
      r->rc = rc;
      snprintf(r->err, r->errlen, "marking lost tasks: %s",
               mida__sink_errmsg(r->sink));
    }
    abandon_group(r);
  }
  return rc;
}

/* Counts the journals that the last group's commit marked LOST. */
static void count_lost(recovery *r) {
  for (size_t i = 0; i < r->njournals; i++) {
    journal_id *j = &r->journals[i];
    if (!j->live && !j->incomplete && j->host[0] != '\0')
      r->st->lost++;
  }
}

/* The buffers of a recovery: a batch of frames and of decoded records
 * (MIDA_SHIP_BATCH each: 3.8 MB of records) and the table of journals. */
struct mida__recover_buffers {
  mida__frame *frames;
  mida__rec *recs;
  journal_id *journals;
  pending_segment *pending; /* GROUP_SEGMENTS */
  int64_t own_pid;          /* mida__recover_buffers_own's journal */
  int64_t own_start_ns;     /* 0: none named */
  mida__recover_hold_fn hold; /* mida__recover_buffers_hold's, or NULL */
  void *hold_ctx;
};

int mida__recover_buffers_new(mida__recover_buffers **out) {
  mida__recover_buffers *b = mida__calloc(1, sizeof *b);
  /* Not zeroed: peek fills the frames it returns, a record is zeroed by
   * its decoding (mida__rec_decode, mida__rec_counter), a journal entry
   * when it is added, a pending segment when it is. */
  if (b != NULL) {
    b->frames = mida__malloc(MIDA_SHIP_BATCH * sizeof *b->frames);
    b->recs = mida__malloc(MIDA_SHIP_BATCH * sizeof *b->recs);
    b->journals = mida__malloc(MAX_JOURNALS * sizeof *b->journals);
    b->pending = mida__malloc(GROUP_SEGMENTS * sizeof *b->pending);
  }
  if (b == NULL || b->frames == NULL || b->recs == NULL ||
      b->journals == NULL || b->pending == NULL) {
    mida__recover_buffers_free(b);
    *out = NULL;
    return MIDA_ENOMEM;
  }
  *out = b;
  return MIDA_OK;
}

void mida__recover_buffers_own(mida__recover_buffers *b, int64_t pid,
                               int64_t start_ns) {
  b->own_pid = pid;
  b->own_start_ns = start_ns;
}

void mida__recover_buffers_hold(mida__recover_buffers *b,
                                mida__recover_hold_fn wait, void *ctx) {
  b->hold = wait;
  b->hold_ctx = ctx;
}

void mida__recover_buffers_free(mida__recover_buffers *b) {
  if (b == NULL)
    return;
  mida__free(b->frames);
  mida__free(b->recs);
  mida__free(b->journals);
  mida__free(b->pending);
  mida__free(b);
}

int mida__recover_spool(const char *spool_dir, mida__sink *sink,
                        mida__recover_stats *st, char *err, size_t errlen) {
  return mida__recover_spool_progress(spool_dir, sink, st, err, errlen, NULL,
                                      NULL);
}

int mida__recover_spool_progress(const char *spool_dir, mida__sink *sink,
                                 mida__recover_stats *st, char *err,
                                 size_t errlen,
                                 mida__recover_progress_fn progress,
                                 void *progress_ctx) {
  mida__recover_buffers *b = NULL;
  if (mida__recover_buffers_new(&b) != MIDA_OK) {
    memset(st, 0, sizeof *st);
    snprintf(err, errlen, "out of memory");
    return MIDA_ENOMEM;
  }
  int rc = mida__recover_spool_with(b, spool_dir, 0, 0, sink, st, err,
                                    errlen, progress, progress_ctx);
  mida__recover_buffers_free(b);
  return rc;
}

int mida__recover_spool_with(mida__recover_buffers *b, const char *spool_dir,
                             unsigned flags, int64_t before_ns,
                             mida__sink *sink,
                             mida__recover_stats *st, char *err, size_t errlen,
                             mida__recover_progress_fn progress,
                             void *progress_ctx) {
  memset(st, 0, sizeof *st);
  /* Only the journals table starts empty: the batch buffers are written
   * before they are read (mida__orphan_peek, mida__decode_frames). */
  recovery r = {.sink = sink,
                .st = st,
                .frames = b->frames,
                .recs = b->recs,
                .err = err,
                .errlen = errlen,
                .rc = MIDA_OK,
                .journals = b->journals,
                .progress = progress,
                .progress_ctx = progress_ctx,
                .pending = b->pending,
                .tail_live = (flags & MIDA_RECOVER_TAIL_LIVE) != 0,
                .before_ns = before_ns,
                .own_pid = b->own_pid,
                .own_start_ns = b->own_start_ns,
                .hold = (flags & MIDA_RECOVER_HOLD) != 0 ? b->hold : NULL,
                .hold_ctx = b->hold_ctx,
                .spool_dir = spool_dir};
  if (errlen > 0)
    err[0] = '\0';
  /* A spool that another user could have filled or swapped is not read:
   * its segments would become records in this user's store. */
  int rc = mida__spool_dir_prepare(spool_dir, false, err, errlen);
  if (rc == MIDA_ENOTFOUND)
    return MIDA_OK; /* nothing was ever journaled here */
  if (rc != MIDA_OK)
    return rc;
  /* The segments' batches are deferred and made durable a group at a
   * time (GROUP_SEGMENTS); the sink's own setting is put back after. */
  int deferred = sink->deferred;
  mida__sink_defer(sink, 1);
  /* The sweep of dead .tmp files and the walk, in one reading. */
  rc = mida__spool_sweep_list(spool_dir, recover_segment, &r);
  if (rc == MIDA_OK && r.rc == MIDA_OK && r.hold != NULL && r.tail_live)
    hold_group(&r);
  /* The LOST records go into the last group, and its flush makes them
   * durable with it ("Truthful state"). */
  if (rc == MIDA_OK && r.rc == MIDA_OK && put_lost(&r) == MIDA_OK &&
      flush_group(&r) == MIDA_OK)
    count_lost(&r);
  else if (r.npending > 0)
    (void)flush_group(&r);
  mida__sink_defer(sink, deferred);
  if (rc != MIDA_OK) {
    snprintf(err, errlen, "cannot read the spool directory %s", spool_dir);
    return rc;
  }
  return r.rc;
}

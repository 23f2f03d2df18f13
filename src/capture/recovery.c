/*
 * recovery.c -- ships the journals that dead processes left behind.
 *
 * A segment file in the spool directory whose flock(2) can be taken has no
 * live writer: its process died (or closed without shipping everything).
 * Recovery reads it from its recorded head, ships the frames it can verify
 * (skipping and counting torn or corrupt ones), records the counts in the
 * store as COUNTER records of the dead process, and removes the file once
 * everything in it is durable in the sink. A failure of the sink leaves the
 * file where it is, with its head at the last batch that did get in, so a
 * later recovery goes on from there. A segment whose header is damaged is
 * read frame by frame without it (journal.h, "Damaged headers") and kept
 * aside as <name>.mj.quarantine rather than removed; the store counts it.
 */
#include "capture/shipper.h"

#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

typedef struct recovery {
  mida__sink *sink;        /* destination */
  mida__recover_stats *st; /* running totals */
  mida__frame *frames;     /* batch buffers */
  mida__rec *recs;
  char *err; /* where the first error's message goes */
  size_t errlen;
  int rc; /* the first error, MIDA_OK if none */
} recovery;

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
    mida__rec *rec = &r->recs[n++];
    memset(rec, 0, sizeof *rec);
    rec->type = MIDA_REC_COUNTER;
    rec->f[MIDA_F_KEY].present = true;
    rec->f[MIDA_F_KEY].v.str.ptr = names[i];
    rec->f[MIDA_F_KEY].v.str.len = (uint32_t)strlen(names[i]);
    rec->f[MIDA_F_VALUE_I].present = true;
    rec->f[MIDA_F_VALUE_I].v.i64 = (int64_t)values[i];
  }
  return n > 0 ? mida__sink_put_batch(r->sink, r->recs, n, origin) : MIDA_OK;
}

static int recover_segment(void *ctx, const char *path) {
  recovery *r = ctx;
  mida__orphan *o = NULL;
  char err[512] = "";
  int rc = mida__orphan_open(path, &o, err, sizeof err);
  if (rc == MIDA_EBUSY) {
    r->st->busy++;
    return 0;
  }
  if (rc == MIDA_ECORRUPT) {
    r->st->foreign++;
    return 0;
  }
  if (rc != MIDA_OK) {
    if (r->rc == MIDA_OK) {
      r->rc = rc;
      snprintf(r->err, r->errlen, "%s: %s", path, err);
    }
    return 0; /* try the other segments */
  }

  mida__origin origin = {mida__orphan_host(o), mida__orphan_pid(o)};
  uint64_t undecodable = 0;
  for (;;) {
    uint64_t mark = 0;
    size_t n = mida__orphan_peek(o, r->frames, MIDA_SHIP_BATCH, &mark);
    if (n == 0)
      break;
    uint64_t bad_before = undecodable;
    rc = mida__ship_frames(r->sink, r->frames, n, r->recs, &origin,
                           &undecodable);
    if (rc != MIDA_OK)
      break;
    mida__orphan_release(o, mark);
    r->st->records += n - (undecodable - bad_before);
  }
  uint64_t corrupt = mida__orphan_corrupt(o) + undecodable;
  uint64_t dropped = mida__orphan_dropped(o);
  bool salvaged = mida__orphan_salvaged(o);
  if (rc == MIDA_OK)
    rc = put_counters(r, &origin, corrupt, dropped, salvaged ? 1 : 0);
  if (rc != MIDA_OK) {
    if (r->rc == MIDA_OK) {
      r->rc = rc;
      snprintf(r->err, r->errlen, "shipping %s: %s", path,
               mida__sink_errmsg(r->sink));
    }
    mida__orphan_close(o, false);
    return 1; /* the sink is failing: stop here */
  }
  r->st->corrupt += corrupt;
  r->st->dropped += dropped;
  r->st->segments++;
  r->st->quarantined += salvaged;
  mida__orphan_close(o, true);
  return 0;
}

int mida__recover_spool(const char *spool_dir, mida__sink *sink,
                        mida__recover_stats *st, char *err, size_t errlen) {
  memset(st, 0, sizeof *st);
  recovery r = {sink, st, NULL, NULL, err, errlen, MIDA_OK};
  if (errlen > 0)
    err[0] = '\0';
  r.frames = mida__calloc(MIDA_SHIP_BATCH, sizeof *r.frames);
  r.recs = mida__calloc(MIDA_SHIP_BATCH, sizeof *r.recs);
  int rc = MIDA_ENOMEM;
  if (r.frames == NULL || r.recs == NULL) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  (void)mida__spool_sweep(spool_dir);
  rc = mida__spool_list(spool_dir, recover_segment, &r);
  if (rc != MIDA_OK)
    snprintf(err, errlen, "cannot read the spool directory %s", spool_dir);
  else
    rc = r.rc;
out:
  mida__free(r.frames);
  mida__free(r.recs);
  return rc;
}

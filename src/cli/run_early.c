/*
 * run_early.c -- `mida run`'s early flush (see run_early.h).
 */
#include "cli/run_early.h"

#include "api/session_access.h"
#include "capture/ship_lock.h"
#include "cli/cli.h"
#include "cli/run_said.h"
#include "core/clock.h"

#include <unistd.h>

/* The flush's whole wait, and the step at which it looks for the cut. */
#define EARLY_FLUSH_MS 5000
#define EARLY_STEP_MS 100

void mida__run_note_store_down(mida_session_t *s, int rc, const char *msg) {
  char why[384];
  const char *down = msg[0] != '\0' ? msg : mida_strerror(rc);
  if (!mida__run_said_first(down))
    return;
  if (mida__session_space(s, why, sizeof why) != MIDA_OK)
    mida__cli_note("mida run: warning: the store cannot be opened now (%s), "
                   "and there is no room to keep records meanwhile (%s): "
                   "they are dropped and counted\n",
                   down, why);
  else
    mida__cli_note("mida run: warning: the store cannot be opened now (%s): "
                   "the records stay in the spool, and are shipped once it "
                   "can be opened ('mida recover', or the next program "
                   "that records into it)\n",
                   down);
}

/* Flushes in steps of EARLY_STEP_MS until the records are in, the wait is
 * over, or the command has ended. */
static void flush_until_cut(mida__run_early *f) {
  int64_t end = mida__monotonic_ms() + EARLY_FLUSH_MS;
  while (!atomic_load(&f->cut)) {
    int64_t left = end - mida__monotonic_ms();
    if (left <= 0)
      return;
    int step = left < EARLY_STEP_MS ? (int)left : EARLY_STEP_MS;
    if (mida_flush(f->session, step) == MIDA_OK)
      return;
  }
}

static void *early_main(void *arg) {
  mida__run_early *f = arg;
  /* A store that mida_open did not wait for (a local one) is waited for
   * here, as mida_open would have, and said if it cannot be opened. */
  char msg[512] = "";
  int rc =
      mida__session_wait_open(f->session, f->open_wait_ms, msg, sizeof msg);
  if (rc == MIDA_OK || rc == MIDA_ETIMEDOUT)
    flush_until_cut(f);
  else
    mida__run_note_store_down(f->session, rc, msg);
  if (f->lock >= 0)
    close(f->lock);
  return NULL;
}

void mida__run_early_begin(mida__run_early *f, mida_session_t *s,
                           const char *store, int open_wait_ms) {
  f->session = s;
  f->open_wait_ms = open_wait_ms;
  atomic_init(&f->cut, false);
  f->lock = mida__ship_lock_hold_store(store);
  f->started = pthread_create(&f->thread, NULL, early_main, f) == 0;
  if (!f->started)
    early_main(f);
}

void mida__run_early_end(mida__run_early *f) {
  atomic_store(&f->cut, true);
  if (f->started)
    pthread_join(f->thread, NULL);
  f->started = 0;
}

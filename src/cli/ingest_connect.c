/*
 * ingest_connect.c -- opens `mida ingest`'s broker consumer and its store,
 * waiting for either while it cannot be reached or is not ready yet
 * (ingest_connect.h).
 *
 * The wait backs off from 100 ms to MIDA_INGEST_CONNECT_MAX_WAIT_MS, so
 * that a broker that comes up is read within about a second, and a
 * consumer left waiting for hours costs one connection attempt a second.
 * A signal interrupts the sleep (nanosleep returns EINTR whatever
 * SA_RESTART says), so that SIGINT and SIGTERM end the wait at once.
 */
#include "cli/ingest_connect.h"

#include "cli/cli.h"
#include "core/clock.h"
#include "core/url.h"
#include "mida.h"
#include "sink/sink.h"

#include <stdio.h>

#define FIRST_WAIT_MS 100

/* What a failure to open says of the broker or store when waiting can
 * mend it -- it cannot be reached (down, paused), or it answers but cannot
 * serve yet (Redis loading its data after a restart, PostgreSQL starting
 * or recovering) --, else NULL. */
static const char *wait_reason(int rc) {
  if (rc == MIDA_EUNREACHABLE)
    return "cannot be reached";
  if (rc == MIDA_EBUSY)
    return "is not ready";
  return NULL;
}

/* One side that `mida ingest` opens, waiting for it: what it is called in
 * messages ("broker", "store"), how a failure to open it is said
 * ("cannot read", "cannot open store"), and its opener, which tries once
 * and says why it failed in err. */
typedef struct side {
  const char *noun;
  const char *fails;
  int (*open)(void *ctx, char *err, size_t errlen);
  void *ctx;
} side;

/* Says once for each reason (wait_reason) that the side is waited for: a
 * broker that comes up and then loads its data is both, in turn. *said
 * holds a bit per reason said. */
static void say_waiting(const side *sd, const char *shown, int rc,
                        const char *why, int give_up_s, int *said) {
  int bit = rc == MIDA_EBUSY ? 2 : 1;
  if (*said & bit)
    return;
  *said |= bit;
  char until[64] = "until it can be read (SIGINT or SIGTERM stops waiting)";
  if (give_up_s > 0)
    snprintf(until, sizeof until, "for up to %d s (--idle-exit)", give_up_s);
  mida__cli_note("mida ingest: %s %s %s (%s); trying again every second %s",
                 sd->noun, shown, wait_reason(rc), why, until);
}

/* Opens sd (url, shown redacted), waiting as ingest_connect.h says. */
static int wait_to_open(const side *sd, const char *url, int give_up_s,
                        volatile sig_atomic_t *stop) {
  char shown[MIDA_URL_SHOWN];
  mida__url_redact(url, shown, sizeof shown);
  int64_t give_up_ms = (int64_t)give_up_s * 1000;
  int64_t started = mida__monotonic_ms();
  int backoff_ms = FIRST_WAIT_MS / 2;
  int said = 0; /* bit per reason to wait that was said (say_waiting) */
  int last = 0; /* the last attempt's failure */
  char err[512];
  for (;;) {
    err[0] = '\0';
    int rc = sd->open(sd->ctx, err, sizeof err);
    if (rc == MIDA_OK) {
      if (said)
        mida__cli_note("mida ingest: %s %s %s: reading", sd->noun, shown,
                       last == MIDA_EBUSY ? "ready" : "reached");
      return MIDA_CLI_CONTINUE;
    }
    last = rc;
    const char *why = err[0] ? err : mida_strerror(rc);
    if (wait_reason(rc) == NULL)
      return mida__cli_fail("%s %s: %s", sd->fails, shown, why);
    int64_t waited_ms = mida__monotonic_ms() - started;
    if (give_up_s > 0 && waited_ms >= give_up_ms)
      return mida__cli_fail("%s %s: %s (gave up after --idle-exit "
                            "%d s)",
                            sd->fails, shown, why, give_up_s);
    say_waiting(sd, shown, rc, why, give_up_s, &said);
    backoff_ms *= 2;
    if (backoff_ms > MIDA_INGEST_CONNECT_MAX_WAIT_MS)
      backoff_ms = MIDA_INGEST_CONNECT_MAX_WAIT_MS;
    int64_t sleep_for = backoff_ms;
    if (give_up_s > 0 && waited_ms + sleep_for > give_up_ms)
      sleep_for = give_up_ms - waited_ms;
    if (*stop)
      return MIDA_CLI_OK;
    mida__sleep_ms((int)sleep_for);
    if (*stop)
      return MIDA_CLI_OK;
  }
}

typedef struct consumer_args {
  const char *url, *group, *name;
  int claim_ms;
  mida__consumer **out;
} consumer_args;

static int open_consumer(void *ctx, char *err, size_t errlen) {
  consumer_args *a = ctx;
  int rc = mida__consumer_open(a->url, a->group, a->name, a->claim_ms,
                               a->out, err, errlen);
  if (rc != MIDA_OK)
    *a->out = NULL;
  return rc;
}

int mida__ingest_connect(const char *url, const char *group, const char *name,
                         int claim_ms, int give_up_s,
                         volatile sig_atomic_t *stop, mida__consumer **out) {
  *out = NULL;
  consumer_args a = {url, group, name, claim_ms, out};
  side sd = {"broker", "cannot read", open_consumer, &a};
  return wait_to_open(&sd, url, give_up_s, stop);
}

typedef struct store_args {
  const char *url;
  mida__sink **out;
} store_args;

static int open_store(void *ctx, char *err, size_t errlen) {
  store_args *a = ctx;
  int rc = mida__sink_open(a->url, 0, a->out, err, errlen);
  if (rc != MIDA_OK)
    *a->out = NULL;
  return rc;
}

int mida__ingest_open_store(const char *url, int give_up_s,
                            volatile sig_atomic_t *stop, mida__sink **out) {
  *out = NULL;
  store_args a = {url, out};
  side sd = {"store", "cannot open store", open_store, &a};
  return wait_to_open(&sd, url, give_up_s, stop);
}

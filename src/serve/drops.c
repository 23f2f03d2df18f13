/*
 * drops.c -- what `mida serve` dropped or cut short of its event streams,
 * and the connections it refused at its limits (serve.h,
 * mida__serve_drops), for /api/stats (stats.c) and the lines the server
 * writes at exit (cli/serve.c). The counts are the server's own:
 * its store is opened read-only, so they live as long as the process.
 */
#include "serve/serve.h"

#include "mida.h"

#include <stdio.h>
#include <string.h>

/* One count: its name in /api/stats, what it means in the exit line. */
typedef struct drop_kind {
  const char *name; /* the JSON key */
  const char *says; /* the words after the number in the exit line */
  size_t offset;    /* where it is in mida__serve_drops */
} drop_kind;

static const drop_kind kinds[] = {
    {"event_streams_closed_unread",
     "event streams closed: their client read nothing for the idle timeout",
     offsetof(mida__serve_drops, streams_unread)},
    {"event_streams_closed_failed",
     "event streams closed: an event could not be written (out of memory)",
     offsetof(mida__serve_drops, streams_failed)},
    {"event_streams_reset_behind",
     "event streams reset: further behind than the events kept",
     offsetof(mida__serve_drops, streams_behind)},
    {"events_skipped_behind", "events those streams did not get",
     offsetof(mida__serve_drops, events_skipped)},
    {"event_batches_reset",
     "polls whose changes went out as a reset (too many or too large)",
     offsetof(mida__serve_drops, batches_reset)},
    {"events_unmade", "events lost: not made (out of memory)",
     offsetof(mida__serve_drops, events_unmade)},
    {"connections_refused",
     "connections refused: the server held as many as --max-clients allows "
     "in all, or 64 from one address",
     offsetof(mida__serve_drops, connections_refused)},
};

static long long count_of(mida__serve *srv, const drop_kind *k) {
  return (long long)atomic_load(
      (atomic_llong *)((char *)&srv->drops + k->offset));
}

int mida__serve_drops_json(mida__serve *srv, mida__buf *b) {
  int rc = mida__buf_adds(b, "\"server\": {");
  for (size_t i = 0; rc == MIDA_OK && i < sizeof kinds / sizeof kinds[0]; i++)
    rc = mida__buf_printf(b, "%s\"%s\": %lld", i > 0 ? ", " : "",
                          kinds[i].name, count_of(srv, &kinds[i]));
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "}");
  return rc;
}

void mida__serve_drops_text(mida__serve *srv, char *out, size_t outlen) {
  size_t used = 0;
  out[0] = '\0';
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    long long n = count_of(srv, &kinds[i]);
    if (n == 0 || used >= outlen)
      continue;
    int w = snprintf(out + used, outlen - used, "%s%lld %s",
                     used > 0 ? "; " : "", n, kinds[i].says);
    if (w > 0)
      used += (size_t)w;
  }
}

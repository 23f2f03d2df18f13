/*
 * stats.c -- `mida stats`: how much the store holds and whether anything
 * was lost or is waiting.
 *
 * Prints the row count of every table, tasks by status, the counters that
 * producers and recovery stored (records dropped under the DROP policy,
 * corrupt frames skipped, ...; summed over hosts and processes) -- each
 * count stopping at a bound, past which it says "at least"
 * (src/sink/counts.h) -- and the
 * state of the store's spool: journal segments, orphans (left by dead
 * processes, waiting for `mida recover`), backlog bytes not yet shipped,
 * bytes on disk (bounded by MIDA_SPOOL_MAX), the dropped and corrupt counts
 * still in the segments, segments with a damaged header, and those that
 * recovery salvaged and kept aside (*.mj.quarantine)
 * (mida__spool_stats_get(), which takes no locks). On a producer's node,
 * whose store is a broker that answers no queries, it shows the spool
 * alone: its backlog is what waits for the broker. So it does for a spool
 * named with --spool when the store cannot be read (down, or none here),
 * with exit status 1.
 */
#include "cli/cli.h"

#include "capture/journal.h"
#include "core/alloc.h"
#include "core/config.h"
#include "core/json.h"
#include "core/term.h"
#include "core/url.h"
#include "mida.h"
#include "sink/counts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char stats_help[] =
    "usage: mida stats [--spool DIR] [--json] [--exact]\n"
    "\n"
    "Prints the rows of each table, tasks by status, the stored counters\n"
    "(dropped records, corrupt frames, ...) and the spool's journals:\n"
    "segments, orphans, backlog bytes, bytes on disk, dropped and corrupt\n"
    "counts, damaged and quarantined journals (docs/reliability.md).\n"
    "Each count of rows stops at 10,000 rows, so it costs the same at any\n"
    "store size; one that reaches the bound is printed 'at least N', and\n"
    "the tasks by status are then those of the newest 10,000 tasks. The\n"
    "counters' sums are always exact (docs/cli.md).\n"
    "\n"
    "options:\n"
    "  --spool DIR  the spool directory (default: the store's; $MIDA_SPOOL);\n"
    "               shown even when the store cannot be read (exit 1)\n"
    "  --json       one JSON object\n"
    "  --exact      count every row (a cost that grows with the store)\n"
    "  --store URL  the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida stats --json\n";

/* The width of the names' column of a section: NAME_WIDTH, or its
 * longest name's up to NAME_WIDTH_MAX (a counter's "run.ship_passes"). */
#define NAME_WIDTH 15
#define NAME_WIDTH_MAX 48

/* One count as text (its name padded to width) or a JSON member: name,
 * value, and whether it is only a lower bound (counts.h). */
static int add_count(mida__buf *b, size_t i, const char *name, int64_t value,
                     int at_least, int json, size_t width) {
  int rc = MIDA_OK;
  if (json) {
    rc = mida__buf_adds(b, i > 0 ? ", " : "");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, name, strlen(name));
    if (rc == MIDA_OK)
      rc = mida__buf_printf(b, ": %lld", (long long)value);
    return rc;
  }
  /* Names come from the store, where any producer may write them. */
  rc = mida__buf_adds(b, "  ");
  size_t start = b->len;
  if (rc == MIDA_OK)
    rc = mida__term_add(b, name, strlen(name), MIDA_TERM_ESCAPE);
  for (size_t w = b->len - start; rc == MIDA_OK && w < width; w++)
    rc = mida__buf_adds(b, " ");
  if (rc == MIDA_OK)
    rc = mida__buf_printf(b, " %s%lld\n", at_least ? "at least " : "",
                          (long long)value);
  return rc;
}

/* Opens a section: its JSON key, or its text title. */
static int open_section(mida__buf *b, const char *key, const char *title,
                        int json) {
  return json ? mida__buf_printf(b, ",\n  \"%s\": {", key)
              : mida__buf_printf(b, "%s\n", title);
}

static int close_section(mida__buf *b, size_t n, int json) {
  if (json)
    return mida__buf_adds(b, "}");
  return n == 0 ? mida__buf_adds(b, "  (none)\n") : MIDA_OK;
}

/* The store's sections: tables, tasks by status, counters; in JSON also
 * "exact" and "at_least", the tables and sections whose counts reached
 * the bound (counts.h). */
static int add_counts(mida__buf *b, const mida__counts *c, int json) {
  int rc = open_section(b, "tables", "tables", json);
  for (int t = 0; rc == MIDA_OK && t < MIDA_COUNT_TABLES; t++)
    rc = add_count(b, (size_t)t, mida__count_table(t), c->rows[t],
                   c->rows_at_least[t], json, NAME_WIDTH);
  if (rc == MIDA_OK)
    rc = close_section(b, MIDA_COUNT_TABLES, json);
  if (rc == MIDA_OK)
    rc = open_section(b, "tasks_by_status", "tasks by status", json);
  for (size_t i = 0; rc == MIDA_OK && i < c->nstatus; i++)
    rc = add_count(b, i, mida__count_name(c, &c->status[i]), c->status[i].value,
                   c->status_at_least, json, NAME_WIDTH);
  if (rc == MIDA_OK)
    rc = close_section(b, c->nstatus, json);
  if (rc == MIDA_OK)
    rc = open_section(b, "counters", "counters", json);
  size_t width = NAME_WIDTH;
  for (size_t i = 0; i < c->ncounter; i++) {
    size_t n = strlen(mida__count_name(c, &c->counter[i]));
    if (n > width)
      width = n < NAME_WIDTH_MAX ? n : NAME_WIDTH_MAX;
  }
  for (size_t i = 0; rc == MIDA_OK && i < c->ncounter; i++)
    rc = add_count(b, i, mida__count_name(c, &c->counter[i]),
                   c->counter[i].value, 0, json, width);
  if (rc == MIDA_OK)
    rc = close_section(b, c->ncounter, json);
  if (rc != MIDA_OK || !json)
    return rc;
  rc = mida__buf_printf(
      b, ",\n  \"exact\": %s, \"at_least\": ", c->exact ? "true" : "false");
  if (rc == MIDA_OK)
    rc = mida__counts_at_least_json(c, b);
  return rc;
}

static int add_spool(mida__buf *b, const char *dir, const mida__spool_stats *ss,
                     int ok, int json) {
  const char *names[] = {"segments", "orphans", "backlog_bytes", "disk_bytes",
                         "dropped",  "corrupt", "damaged",       "quarantined"};
  unsigned long long v[] = {ss->segments,   ss->orphans,    ss->backlog_bytes,
                            ss->disk_bytes, ss->dropped,    ss->corrupt,
                            ss->damaged,    ss->quarantined};
  const int count = (int)(sizeof v / sizeof v[0]);
  int rc = MIDA_OK;
  if (json) {
    rc = mida__buf_adds(b, ",\n  \"spool\": {\"path\": ");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, dir, strlen(dir));
    for (int i = 0; rc == MIDA_OK && i < count; i++) {
      rc = ok ? mida__buf_printf(b, ", \"%s\": %llu", names[i], v[i])
              : mida__buf_printf(b, ", \"%s\": null", names[i]);
    }
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}\n}\n");
    return rc;
  }
  rc = mida__buf_adds(b, "spool ");
  if (rc == MIDA_OK)
    rc = mida__term_add(b, dir, strlen(dir), MIDA_TERM_ESCAPE);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "\n");
  for (int i = 0; rc == MIDA_OK && i < count; i++) {
    rc = ok ? mida__buf_printf(b, "  %-15s %llu\n", names[i], v[i])
            : mida__buf_printf(b, "  %-15s ?\n", names[i]);
  }
  return rc;
}

int mida__cli_stats(mida__cli *cli, int argc, char **argv) {
  int json = 0, exact = 0;
  const char *spool = NULL;
  const mida__cli_opt opts[] = {
      {"--json", NULL, NULL, &json},
      {"--exact", NULL, NULL, &exact},
      {"--spool", NULL, &spool, NULL},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "stats", stats_help, opts, argc, argv, NULL, 0,
                           0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  char dir[PATH_MAX];
  /* A spool named on the command line must be there, as for `mida
   * recover`: a mistyped one showed an empty spool, zeros that read as
   * nothing left to ship. (The store's own spool may not exist yet.) */
  struct stat named;
  if (spool != NULL && spool[0] != '\0' &&
      (stat(spool, &named) != 0 || !S_ISDIR(named.st_mode)))
    return mida__cli_fail("stats: no spool directory at %s", spool);
  int spool_named = spool != NULL && spool[0] != '\0';
  if (!spool_named) {
    if (mida__spool_in_force(cli->store, dir, sizeof dir) != MIDA_OK)
      return mida__cli_fail("the spool path of the store is too long");
    spool = dir;
  }
  mida__sink *sink = NULL;
  int broker = mida__sink_is_broker(cli->store);
  ex = broker ? MIDA_CLI_CONTINUE : mida__cli_open_store(cli, 0, &sink);
  /* A named spool is shown whatever the store does: a store that is down,
   * or none on this node, is when what waits in the spool matters (the
   * store's error was said above, and the exit status stays 1). */
  int store_unread = ex == MIDA_CLI_FAIL && spool_named;
  if (ex != MIDA_CLI_CONTINUE && !store_unread)
    return ex;

  /* The whole report is small: built in memory, printed at once. */
  mida__buf b;
  mida__buf_init(&b, 4 * 1024 * 1024);
  char shown[MIDA_URL_SHOWN];
  mida__url_redact(cli->store, shown, sizeof shown);
  int rc = mida__buf_adds(&b, json ? "{\n  \"store\": " : "store ");
  if (rc == MIDA_OK && !json)
    rc = mida__term_add(&b, shown, strlen(shown), MIDA_TERM_ESCAPE);
  if (rc == MIDA_OK && !json)
    rc = mida__buf_adds(&b, broker ? " (a broker: its records are counted in"
                                     " the store that `mida ingest` writes)\n"
                            : store_unread ? " (not read: see the message "
                                             "above)\n"
                                           : "\n");
  if (rc == MIDA_OK && json)
    rc = mida__json_add_string(&b, shown, strlen(shown));
  int store_rc = MIDA_OK;
  mida__counts *counts = mida__calloc(1, sizeof *counts);
  if (counts == NULL)
    rc = MIDA_ENOMEM;
  if (rc == MIDA_OK && broker && json)
    rc = mida__buf_adds(&b, ",\n  \"broker\": true");
  if (rc == MIDA_OK && store_unread && json)
    rc = mida__buf_adds(&b, ",\n  \"store_read\": false");
  if (rc == MIDA_OK && !broker && !store_unread) {
    store_rc = mida__counts_read(sink, exact, counts);
    if (store_rc == MIDA_ENOMEM)
      rc = store_rc;
    else if (store_rc == MIDA_OK)
      rc = add_counts(&b, counts, json);
  }
  if (counts != NULL)
    mida__counts_free(counts);
  mida__free(counts);
  mida__spool_stats ss;
  memset(&ss, 0, sizeof(ss));
  int spool_rc = mida__spool_stats_get(spool, &ss);
  if (rc == MIDA_OK && store_rc == MIDA_OK)
    rc = add_spool(&b, spool, &ss, spool_rc == MIDA_OK, json);

  if (store_rc != MIDA_OK && store_rc != MIDA_ENOMEM)
    ex = mida__cli_store_error(sink, store_rc, "stats");
  else if (rc != MIDA_OK)
    ex = mida__cli_fail("stats: %s", mida_strerror(rc));
  else if (fputs(mida__buf_str(&b), stdout) < 0)
    ex = mida__cli_fail("cannot write: %s",
                        mida__cli_write_error(mida__cli_write_failed()));
  else if ((rc = mida__cli_flush(stdout)) != MIDA_OK)
    ex = mida__cli_fail("cannot write: %s", mida__cli_write_error(rc));
  else if (spool_rc != MIDA_OK)
    ex = mida__cli_fail("cannot read the spool %s: %s", spool,
                        mida_strerror(spool_rc));
  else
    ex = store_unread ? MIDA_CLI_FAIL : MIDA_CLI_OK;
  mida__buf_free(&b);
  mida__sink_close(sink);
  return ex;
}

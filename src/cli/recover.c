/*
 * recover.c -- `mida recover`: ship the journals that dead processes left in
 * the spool into the store.
 *
 * A process that captured records and died before its shipper moved them
 * (SIGKILL, a node crash) leaves its journal segments in the store's spool
 * directory. mida_open() ships them the next time any process opens the
 * same store; this verb does it on demand, through mida__recover_spool()
 * (src/capture/shipper.h). Segments still held by a live process are left
 * alone and counted as busy. Corrupt frames are skipped and counted (in
 * the store too, as counters), which is not a failure: only a store or
 * spool error makes the exit status 1. A journal whose header is damaged
 * is read frame by frame and kept as *.mj.quarantine (counted in `mida
 * stats`), never removed. A long recovery shows its progress on stderr
 * when that is a terminal (cli.h, "progress").
 */
#include "cli/cli.h"

#include "capture/recovery.h"
#include "core/config.h"
#include "core/plural.h"
#include "core/url.h"
#include "mida.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char recover_help[] =
    "usage: mida recover [--spool DIR] [--settle] [--after-fd N]\n"
    "\n"
    "Ships into the store the journals that dead processes left in the\n"
    "spool, and removes each one shipped in full. Journals of live\n"
    "processes are left alone. Creates the store if it does not exist.\n"
    "Corrupt frames are skipped and counted; the exit status is 0 unless\n"
    "the store or the spool fails.\n"
    "\n"
    "options:\n"
    "  --spool DIR  the spool directory (default: the store's, e.g.\n"
    "               mida.db.spool beside an SQLite store; $MIDA_SPOOL)\n"
    "  --store URL  the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "  --settle     ship nothing: open the store and close it, which\n"
    "               copies an SQLite store's WAL back into its file and\n"
    "               syncs both (what mida run leaves to the recover it\n"
    "               starts); a store that is not there is left so\n"
    "  --after-fd N first wait until descriptor N reads end of file and,\n"
    "               when it read a pid, until that process, this one's\n"
    "               parent, has ended (the recover that mida run leaves\n"
    "               behind waits so for it)\n"
    "\n"
    "example:\n"
    "  mida --store run.db recover\n";

static void show_progress(void *ctx, const mida__recover_stats *st) {
  mida__cli_progress_show(ctx, 0, "%" PRIu64 " record%s from %" PRIu64
                          " journal%s",
                          st->records, mida__plural_s(st->records),
                          st->segments + 1, mida__plural_s(st->segments + 1));
}

/* Bounds of the wait for the starter's end once its pipe has closed. */
#define AFTER_POLL_US 200
#define AFTER_POLLS 25000 /* 5 s */

/* --after-fd N: reads descriptor N until its end of file (the write end's
 * last holder is gone) or an error, closes it, and then, when what it read
 * is a pid (`mida run` writes its own), waits until that process is no
 * longer this one's parent: a process's descriptors are released at its
 * exit in an order of the kernel's (the last closed first, here), so the
 * pipe's end may go before the locks of its journal's segments, which tell
 * recovery that a segment is live; the exit's reparenting comes after all
 * of them. (The parent is not sampled here: by then it may have gone.) -1
 * when text is not a descriptor number. */
static int wait_for_end_of(const char *text) {
  char *end = NULL;
  errno = 0;
  long fd = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || fd < 0 || fd > INT_MAX)
    return -1;
  char said[24];
  size_t got = 0;
  for (;;) {
    char buf[64];
    ssize_t n = read((int)fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (ssize_t i = 0; i < n && got < sizeof said - 1; i++)
      said[got++] = buf[i];
  }
  said[got] = '\0';
  close((int)fd);
  long starter = strtol(said, &end, 10);
  if (got == 0 || *end != '\0' || starter <= 1)
    return 0;
  for (int i = 0; getppid() == (pid_t)starter && i < AFTER_POLLS; i++)
    usleep(AFTER_POLL_US);
  return 0;
}

/* --settle: the store opened for writing and closed, shipping nothing.
 * The close of a writer in mida's own process copies the WAL back and
 * syncs (src/sink/sqlite.c). Not a full recover: started by `mida run`
 * as it ends, it may still run when the next `mida run` of the store
 * starts, whose command's ended journals are that run's to ship, in its
 * order (a recover that shipped them meanwhile sent them into the file
 * it had opened, which a script may have removed and made anew since). A
 * local store that is gone is not made again. */
static int settle_store(const mida__cli *cli) {
  char path[PATH_MAX];
  struct stat st;
  if (mida__url_sqlite_path(cli->store, path, sizeof path) == MIDA_OK &&
      stat(path, &st) != 0 && errno == ENOENT)
    return MIDA_CLI_OK;
  mida__sink *sink = NULL;
  int ex = mida__cli_open_store(cli, 1, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__sink_close(sink);
  return MIDA_CLI_OK;
}

int mida__cli_recover(mida__cli *cli, int argc, char **argv) {
  const char *spool = NULL, *after_fd = NULL;
  int settle = 0;
  const mida__cli_opt opts[] = {
      {"--spool", NULL, &spool, NULL},
      {"--after-fd", NULL, &after_fd, NULL},
      {"--settle", NULL, NULL, &settle},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "recover", recover_help, opts, argc, argv, NULL,
                           0, 0, &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (after_fd != NULL && wait_for_end_of(after_fd) != 0)
    return mida__cli_usage_error("recover", "--after-fd takes a descriptor");
  if (settle)
    return settle_store(cli);
  char dir[PATH_MAX];
  /* A spool named on the command line must be there: a mistyped one
   * would report nothing to ship while the real one still holds records.
   * (The store's own spool may not exist yet: nothing was ever left.) */
  struct stat named;
  if (spool != NULL && spool[0] != '\0' &&
      (stat(spool, &named) != 0 || !S_ISDIR(named.st_mode)))
    return mida__cli_fail("no spool directory at %s", spool);
  if (spool == NULL || spool[0] == '\0') {
    if (mida__spool_in_force(cli->store, dir, sizeof dir) != MIDA_OK)
      return mida__cli_fail("the spool path of the store is too long");
    spool = dir;
  }

  mida__sink *sink = NULL;
  ex = mida__cli_open_store(cli, 1, &sink);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  mida__recover_stats st;
  memset(&st, 0, sizeof st);
  char err[512] = "";
  mida__cli_progress progress;
  mida__cli_progress_init(&progress, "mida recover");
  int rc = mida__recover_spool_progress(spool, sink, &st, err, sizeof(err),
                                        progress.on ? show_progress : NULL,
                                        &progress);
  mida__cli_progress_end(&progress);
  printf("recovered %llu record%s from %llu journal%s; %llu corrupt frame%s "
         "skipped; %llu busy (live) journal%s left\n",
         (unsigned long long)st.records, mida__plural_s(st.records),
         (unsigned long long)st.segments, mida__plural_s(st.segments),
         (unsigned long long)st.corrupt, mida__plural_s(st.corrupt),
         (unsigned long long)st.busy, mida__plural_s(st.busy));
  if (st.quarantined > 0)
    printf("%llu journal%s had a damaged header: read frame by frame and "
           "kept as *.mj.quarantine in %s\n",
           (unsigned long long)st.quarantined, mida__plural_s(st.quarantined),
           spool);
  fflush(stdout);
  char notice[512];
  if (mida__sink_take_notice(sink, notice, sizeof notice))
    mida__cli_note("mida: warning: %s\n", notice);
  if (rc != MIDA_OK)
    ex = mida__cli_fail("recover from %s failed: %s", spool,
                        err[0] != '\0' ? err : mida_strerror(rc));
  else
    ex = MIDA_CLI_OK;
  mida__sink_close(sink);
  return ex;
}

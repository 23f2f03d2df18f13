/*
 * observer.c -- helpers the MLflow and TensorBoard observers share: cursors
 * read back from the store and written through the journal, counters, log
 * messages, waits between passes (see observer.h).
 */
#include "observe/observer.h"

#include "api/session_access.h"
#include "core/record.h"
#include "sink/sink.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct cursor_ctx {
  int (*fn)(void *ctx, const char *key, const char *position);
  void *ctx;
  int rc; /* the callback's non-zero result, if any */
} cursor_ctx;

static int cursor_row(void *ctx, int ncols, const char *const *names,
                      const char *const *values) {
  (void)names;
  cursor_ctx *c = ctx;
  if (ncols < 2 || values[0] == NULL || values[1] == NULL)
    return 0;
  c->rc = c->fn(c->ctx, values[0], values[1]);
  return c->rc;
}

int mida__obs_cursors(mida_session_t *s, const char *source,
                      int (*fn)(void *ctx, const char *key,
                                const char *position),
                      void *ctx) {
  const char *url = s != NULL ? mida__session_store_url(s) : NULL;
  if (url == NULL)
    return MIDA_EINVAL;
  /* A new store gets its tables from the session's shipper, on its own
   * thread: read once it is there (bounded; a store that is down fails
   * below as it would have). */
  (void)mida_flush(s, 5000);
  mida__sink *sink = NULL;
  char err[512];
  int rc = mida__sink_open(url, MIDA_SINK_READONLY | MIDA_SINK_NOCREATE,
                           &sink, err, sizeof err);
  if (rc != MIDA_OK)
    return mida__set_error(rc, "cannot read cursors: %s", err);
  cursor_ctx c = {fn, ctx, 0};
  const char *params[1] = {source};
  rc = mida__sink_query(sink,
                        "SELECT key, position FROM source_cursor"
                        " WHERE source = ?1",
                        params, 1, cursor_row, &c);
  if (rc != MIDA_OK && c.rc == 0)
    rc =
        mida__set_error(rc, "cannot read cursors: %s", mida__sink_errmsg(sink));
  else if (c.rc != 0)
    rc = c.rc;
  mida__sink_close(sink);
  return rc;
}

int mida__obs_put(mida_session_t *s, const mida__rec *rec) {
  if ((rec->type != MIDA_REC_TASK && rec->type != MIDA_REC_WORKFLOW &&
       rec->type != MIDA_REC_RUN) ||
      rec->f[MIDA_F_PID].present)
    return mida__session_put(s, rec);
  mida__rec own = *rec;
  mida__rec_set_i64(&own, MIDA_F_PID, MIDA_OBS_NO_PID);
  return mida__session_put(s, &own);
}

int mida__obs_put_cursor(mida_session_t *s, const char *source, const char *key,
                         const char *position) {
  mida__rec rec;
  memset(&rec, 0, sizeof rec);
  rec.type = MIDA_REC_CURSOR;
  mida__rec_set_str(&rec, MIDA_F_SOURCE, source, (size_t)-1);
  mida__rec_set_str(&rec, MIDA_F_KEY, key, (size_t)-1);
  mida__rec_set_str(&rec, MIDA_F_TEXT, position, (size_t)-1);
  mida__rec_set_i64(&rec, MIDA_F_TS, mida_now_ns());
  return mida__session_put(s, &rec);
}

void mida__obs_defaults(const mida__obs_opts **opts, mida__obs_stats **stats,
                        mida__obs_opts *opts_storage,
                        mida__obs_stats *stats_storage) {
  if (*stats == NULL) {
    memset(stats_storage, 0, sizeof *stats_storage);
    *stats = stats_storage;
  }
  if (*opts == NULL) {
    memset(opts_storage, 0, sizeof *opts_storage);
    *opts = opts_storage;
  }
}

void mida__obs_log(const mida__obs_opts *opts, mida__obs_level level,
                   const char *fmt, ...) {
  if (opts == NULL || opts->log == NULL)
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  opts->log(opts->log_ctx, level, msg);
}

bool mida__obs_asked(const mida__obs_opts *opts, int level) {
  return opts != NULL && opts->stop != NULL && atomic_load(opts->stop) >= level;
}

bool mida__obs_interrupted(const mida__obs_opts *opts, int *noted) {
  if (!mida__obs_asked(opts, MIDA_OBS_INTERRUPT))
    return false;
  if (!*noted)
    mida__obs_log(opts, MIDA_OBS_INFO,
                  "asked to stop: stopping after the batch being read (the "
                  "next start goes on from there)");
  *noted = 1;
  return true;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL); /* a signal ends it early: the loop looks at stop */
}

void mida__obs_wait(int inotify_fd, unsigned poll_ms) {
  if (inotify_fd < 0) {
    sleep_ms(poll_ms);
    return;
  }
  struct pollfd p = {inotify_fd, POLLIN, 0};
  if (poll(&p, 1, (int)poll_ms) > 0) {
    sleep_ms(MIDA_OBS_SETTLE_MS < poll_ms ? MIDA_OBS_SETTLE_MS : poll_ms);
    char drain[4096];
    while (read(inotify_fd, drain, sizeof drain) > 0) {
    }
  }
}

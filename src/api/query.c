/*
 * query.c -- mida_query(): one read-only SQL statement on a store, for
 * callers of the public API (the Python package's mida.query among them).
 *
 * The statement goes through the store's read-only query path: the sink
 * is opened with MIDA_SINK_READONLY | MIDA_SINK_NOCREATE and its query
 * method refuses anything that would write (MIDA_EREADONLY). This is the
 * public API's seam onto the one query guard that every query path
 * shares (the CLI's verbs, and later the HTTP API).
 */
#include "api/session.h"

#include "capture/ship_lock.h"
#include "core/config.h"

#include <stdio.h>
#include <string.h>

/* The reason in err, without the words of mida_strerror(rc) when err opens
 * with them: the guard's refusals read "the query guard refuses this
 * statement: it would write (...)", and a caller that writes the code's
 * words before the reason (Python's mida.Error does) says them once, in
 * the words `mida query` and /api/sql give. */
static const char *reason(int rc, const char *err) {
  const char *words = mida_strerror(rc);
  size_t n = strlen(words);
  if (err[0] == '\0')
    return words;
  if (strncmp(err, words, n) == 0 && strncmp(err + n, ": ", 2) == 0)
    return err + n + 2;
  return err;
}

int mida_query(const char *store_url, const char *sql,
               const char *const *params, int nparams, mida_row_fn fn,
               void *ctx, char *errmsg, size_t errmsg_len) {
  return mida_query_stoppable(store_url, sql, params, nparams, fn, NULL, ctx,
                              errmsg, errmsg_len);
}

int mida_query_stoppable(const char *store_url, const char *sql,
                         const char *const *params, int nparams, mida_row_fn fn,
                         mida_stop_fn stop, void *ctx, char *errmsg,
                         size_t errmsg_len) {
  return mida_query_described(store_url, sql, params, nparams, NULL, fn, stop,
                              ctx, errmsg, errmsg_len);
}

int mida_query_described(const char *store_url, const char *sql,
                         const char *const *params, int nparams,
                         mida_columns_fn columns, mida_row_fn fn,
                         mida_stop_fn stop, void *ctx, char *errmsg,
                         size_t errmsg_len) {
  return mida_query_kinds(store_url, sql, params, NULL, nparams, columns, fn,
                          stop, ctx, errmsg, errmsg_len);
}

int mida_query_kinds(const char *store_url, const char *sql,
                     const char *const *params, const char *kinds,
                     int nparams, mida_columns_fn columns, mida_row_fn fn,
                     mida_stop_fn stop, void *ctx, char *errmsg,
                     size_t errmsg_len) {
  char err[512] = "";
  if (errmsg != NULL && errmsg_len > 0)
    errmsg[0] = '\0';
  if (sql == NULL || fn == NULL || nparams < 0 ||
      (nparams > 0 && params == NULL)) {
    if (errmsg != NULL && errmsg_len > 0)
      snprintf(errmsg, errmsg_len, "a statement and a row callback are "
                                   "required");
    return MIDA_EINVAL;
  }
  const char *url = store_url != NULL ? store_url : mida__default_store();
  /* The records of a `mida run` that returned may still be shipping:
   * waited for, bounded; the note stays in errmsg when it gave up, as the
   * guard's query notice does. */
  char note[768];
  (void)mida__ship_wait_store(url, note, sizeof note);
  mida__sink *sink = NULL;
  int rc = mida__sink_open(url, MIDA_SINK_READONLY | MIDA_SINK_NOCREATE,
                           &sink, err, sizeof err);
  if (rc == MIDA_OK) {
    mida__query_limits lim = sink->limits;
    lim.stop = stop;
    lim.stop_ctx = ctx;
    mida__sink_set_limits(sink, &lim);
    rc = mida__sink_query_typed(sink, sql, params, kinds, nparams, columns,
                                fn, ctx);
    if (rc != MIDA_OK)
      snprintf(err, sizeof err, "%s", mida__sink_errmsg(sink));
    char unbounded[512];
    if (mida__sink_take_query_notice(sink, unbounded, sizeof unbounded)) {
      size_t n = strlen(note);
      snprintf(note + n, sizeof note - n, "%s%s", n > 0 ? "; " : "",
               unbounded);
    }
    mida__sink_close(sink);
  }
  if (rc != MIDA_OK && errmsg != NULL && errmsg_len > 0)
    snprintf(errmsg, errmsg_len, "%s", reason(rc, err));
  else if (errmsg != NULL && errmsg_len > 0)
    snprintf(errmsg, errmsg_len, "%s", note);
  return rc;
}

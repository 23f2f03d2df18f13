/*
 * metrics.c -- metric series: GET /api/metrics?task=ID&key=K, several of
 * each (the compare view overlays runs), on x = step or time. A task the
 * store does not know is a 404; a key the task has no point of is an empty
 * series.
 *
 * A series of at most `points` points is sent whole: every point an
 * MLflow run or a TensorBoard log recorded. A longer one is downsampled on
 * the server into at most `points` / 2 buckets (downsample.c), each sent
 * as {x0, x1, lo, hi, n} (first and last x, minimum, maximum, points): the
 * minimum and maximum of every bucket are kept, so no spike is lost, and
 * the page draws the envelope. The buckets are read from the store's
 * blocks of the series (src/sink/rollup.h) where it keeps them, so a
 * series of 10,000,000 points costs a few thousand rows; a downsampled
 * series is also kept for the next request of it (answer_cache.c) until
 * the task's change number moves.
 */
#include "serve/answer_cache.h"
#include "serve/downsample.h"
#include "serve/serve.h"

#include "mida.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_MAX 16       /* task x key pairs in one request */
#define POINTS_DEFAULT 2000 /* the most points sent per series */
#define POINTS_MAX 20000

static const char *const axes[] = {"step", "time", NULL};

/* The store's generation and the task's change number as text into buf,
 * or NULL (none: no cache). */
static const char *task_seq(mida__sink *sink, int64_t generation,
                            const char *task, char *buf, size_t len) {
  const char *params[1] = {task};
  int64_t seq[1];
  int nulls = 0;
  if (mida__serve_numbers(sink, "SELECT (SELECT seq FROM task WHERE id = ?1)",
                          params, 1, seq, 1, &nulls) != MIDA_OK ||
      nulls > 0)
    return NULL;
  snprintf(buf, len, "%" PRId64 ".%" PRId64, generation, seq[0]);
  return buf;
}

static int compute_series(mida__sink *sink, mida__resp *resp, const char *task,
                          const char *key, int by_time, long long points,
                          const char *from_text, const char *to_text);

/* Writes one series: from the cache when it holds it unchanged, else
 * computed (and kept when it was downsampled). Returns the sink's code. */
static int write_series(mida__answer_cache *cache, int64_t generation,
                        mida__sink *sink, mida__resp *resp, const char *task,
                        const char *key, int by_time, long long points,
                        const char *from_text, const char *to_text) {
  char seqbuf[48];
  const char *seq = cache != NULL ? task_seq(sink, generation, task, seqbuf,
                                             sizeof seqbuf)
                                  : NULL;
  mida__buf ck;
  mida__buf_init(&ck, 4096);
  int rc = mida__buf_printf(
      &ck, "%s\x1f%s\x1f%d\x1f%lld\x1f%s\x1f%s", task, key, by_time, points,
      from_text != NULL ? from_text : "", to_text != NULL ? to_text : "");
  if (rc == MIDA_OK && seq != NULL &&
      mida__answer_cache_get(cache, mida__buf_str(&ck), seq, &resp->body)) {
    mida__buf_free(&ck);
    return MIDA_OK;
  }
  size_t start = resp->body.len;
  rc = compute_series(sink, resp, task, key, by_time, points, from_text,
                      to_text);
  if (rc == MIDA_OK && seq != NULL && ck.ptr != NULL &&
      strstr(resp->body.ptr + start, "\"downsampled\": true") != NULL)
    mida__answer_cache_put(cache, mida__buf_str(&ck), seq,
                           resp->body.ptr + start, resp->body.len - start);
  mida__buf_free(&ck);
  return rc;
}

static int compute_series(mida__sink *sink, mida__resp *resp, const char *task,
                          const char *key, int by_time, long long points,
                          const char *from_text, const char *to_text) {
  mida__buf *b = &resp->body;
  mida__series_req req = {
      .task = task,
      .key = key,
      .by_time = by_time,
      .has_from = from_text != NULL,
      .has_to = to_text != NULL,
      .from = from_text != NULL ? strtoll(from_text, NULL, 10) : 0,
      .to = to_text != NULL ? strtoll(to_text, NULL, 10) : 0,
      .points = points,
  };
  int rc = mida__buf_adds(b, "{\"task\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, task);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"key\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, key);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(b, ", \"x\": \"%s\", ", by_time ? "time" : "step");
  int longer = 0;
  int64_t window[2];
  if (rc == MIDA_OK)
    rc = mida__series_probe(sink, &req, &longer, window);
  if (rc != MIDA_OK)
    return rc;
  if (longer) {
    rc = mida__series_buckets(sink, resp, &req, window);
    return rc == MIDA_OK ? mida__buf_adds(b, ",\n\"downsampled\": true}") : rc;
  }

  /* Whole: every point in the range (on steps, within the window of
   * times that holds them). */
  const char *x = by_time ? "ts" : "step";
  char range[240] = "";
  if (!by_time)
    snprintf(range, sizeof range, " AND step IS NOT NULL");
  int np = 2;
  const char *params[8] = {task, key};
  if (from_text != NULL) {
    params[np++] = from_text;
    snprintf(range + strlen(range), sizeof range - strlen(range),
             " AND %s >= ?%d", x, np);
  }
  if (to_text != NULL) {
    params[np++] = to_text;
    snprintf(range + strlen(range), sizeof range - strlen(range),
             " AND %s <= ?%d", x, np);
  }
  if (!by_time && window[0] != INT64_MIN)
    snprintf(range + strlen(range), sizeof range - strlen(range),
             " AND ts >= %" PRId64, window[0]);
  if (!by_time && window[1] != INT64_MAX)
    snprintf(range + strlen(range), sizeof range - strlen(range),
             " AND ts <= %" PRId64, window[1]);
  char sql[640];
  char limit[24];
  snprintf(limit, sizeof limit, "%lld", points);
  params[np] = limit;
  snprintf(sql, sizeof sql,
           "SELECT step, ts, value FROM metric WHERE task_id = ?1"
           " AND key = ?2%s ORDER BY %s LIMIT ?%d",
           range, by_time ? "ts, step" : "step, ts", np + 1);
  rc = mida__buf_adds(b, "\"points\": [\n");
  mida__rows_info info = {.max_rows = (size_t)points};
  if (rc == MIDA_OK)
    rc = mida__serve_rows_on(sink, resp, sql, params, np + 1, "iia", &info);
  if (rc != MIDA_OK)
    return rc;
  return mida__buf_printf(b, "],\n\"downsampled\": false}");
}

/* A task is there when its row is, or it has points (an observer may
 * record a run's metrics before the run): two key lookups. */
static const char task_exists_sql[] =
    "SELECT 1 FROM task WHERE id = ?1"
    " UNION ALL SELECT 1 FROM metric WHERE task_id = ?1 LIMIT 1";

static int get_metrics(mida__serve *srv, const mida__req *req,
                       mida__resp *resp) {
  long long points = POINTS_DEFAULT, from = -1, to = -1;
  int axis = 0;
  if (!mida__param_int(req, resp, "points", 2, POINTS_MAX, &points) ||
      !mida__param_int(req, resp, "from", INT64_MIN + 1, INT64_MAX, &from) ||
      !mida__param_int(req, resp, "to", INT64_MIN + 1, INT64_MAX, &to) ||
      !mida__param_choice(req, resp, "x", axes, &axis))
    return MIDA_OK;
  const char *tasks[SERIES_MAX], *keys[SERIES_MAX];
  int ntasks = 0, nkeys = 0;
  for (int i = 0; (i = mida__req_next(req, "task", i)) >= 0; i++) {
    if (ntasks == SERIES_MAX || !mida__serve_valid_id(req->params[i].value))
      return mida__resp_error(resp, 400, "parameter 'task': 1 to %d task ids",
                              SERIES_MAX);
    tasks[ntasks++] = req->params[i].value;
  }
  for (int i = 0; (i = mida__req_next(req, "key", i)) >= 0; i++) {
    if (nkeys == SERIES_MAX || req->params[i].value[0] == '\0' ||
        strlen(req->params[i].value) > 256)
      return mida__resp_error(resp, 400,
                              "parameter 'key': 1 to %d metric names of at "
                              "most 256 bytes",
                              SERIES_MAX);
    keys[nkeys++] = req->params[i].value;
  }
  if (ntasks == 0 || nkeys == 0)
    return mida__resp_error(resp, 400,
                            "parameters 'task' and 'key' are required");
  if (ntasks * nkeys > SERIES_MAX)
    return mida__resp_error(resp, 400, "at most %d series (tasks x keys)",
                            SERIES_MAX);
  /* from and to were checked as integers above; their text is bound. */
  const char *from_text = mida__req_get(req, "from");
  const char *to_text = mida__req_get(req, "to");
  mida__sink *sink = mida__serve_take(srv, resp);
  if (sink == NULL)
    return MIDA_OK;
  int rc = MIDA_OK;
  int64_t generation = mida__serve_generation(&srv->pool);
  int qrc = MIDA_OK, found = 1;
  for (int t = 0; t < ntasks && qrc == MIDA_OK && found; t++)
    qrc = mida__serve_exists_on(sink, resp, "task", task_exists_sql, tasks[t],
                                &found);
  if (qrc != MIDA_OK || !found) {
    if (qrc == MIDA_ENOMEM)
      rc = qrc;
    else if (qrc != MIDA_OK)
      mida__serve_store_error(resp, sink, qrc);
    mida__serve_give(srv, sink, qrc);
    return rc;
  }
  rc = mida__buf_adds(&resp->body, "{\"series\": [\n");
  for (int t = 0; t < ntasks && rc == MIDA_OK && qrc == MIDA_OK; t++) {
    for (int k = 0; k < nkeys && rc == MIDA_OK && qrc == MIDA_OK; k++) {
      if (t + k > 0)
        rc = mida__buf_adds(&resp->body, ",\n");
      if (rc == MIDA_OK)
        qrc = write_series(srv->series, generation, sink, resp, tasks[t],
                           keys[k], axis == 1, points, from_text, to_text);
    }
  }
  if (qrc == MIDA_ENOMEM || qrc == MIDA_ETOOBIG)
    rc = qrc;
  else if (qrc != MIDA_OK)
    mida__serve_store_error(resp, sink, qrc);
  else if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "]}\n");
  mida__serve_give(srv, sink, qrc);
  return rc;
}

const mida__route mida__serve_routes_metrics[] = {
    {"/api/metrics", get_metrics, "task* key* x points from to"},
    {NULL, NULL, NULL},
};

/*
 * metrics.c -- metric series: GET /api/metrics?task=ID&key=K, several of
 * each (the compare view overlays runs), on x = step or time.
 *
 * A series of at most `points` points is sent whole: every point an
 * MLflow run or a TensorBoard log recorded. A longer one is downsampled on
 * the server into `points` / 2 buckets of equal width on x, each sent as
 * [x first, x last, min, max, count]: the minimum and maximum of every
 * bucket are kept, so no spike is lost, and the page draws the envelope.
 * The bucket query is one GROUP BY over the series (its primary-key range
 * task_id, key), in integer arithmetic that both stores evaluate alike. It
 * reads every point, so a downsampled series is kept for the next request
 * of it (answer_cache.c) until the task's change number moves.
 */
#include "serve/answer_cache.h"
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

/* Reads the first row of a one-row answer {"a": N, "b": M} into nums. */
static int query_numbers(mida__sink *sink, const char *sql,
                         const char *const *params, int nparams, int64_t *nums,
                         int count, int *nulls) {
  mida__resp tmp;
  mida__resp_init(&tmp);
  mida__rows_info info = {.max_rows = 1};
  int rc = mida__serve_rows_on(sink, &tmp, sql, params, nparams, "iiii", &info);
  *nulls = 0;
  const char *p = mida__buf_str(&tmp.body);
  for (int i = 0; i < count && rc == MIDA_OK; i++) {
    p = strstr(p, ": ");
    if (p == NULL) {
      rc = MIDA_ESTORE;
      break;
    }
    p += 2;
    if (strncmp(p, "null", 4) == 0)
      (*nulls)++;
    nums[i] = strtoll(p, NULL, 10);
  }
  mida__resp_free(&tmp);
  return rc;
}

/* Writes one series; returns the sink's code. */
/* The columns of a bucket. */
#define BUCKET_COLUMNS(x)                                                      \
  "min(" x ") AS x0, max(" x ") AS x1, min(value) AS lo, max(value) AS hi,"    \
  " count(*) AS n"

/* Buckets on time: one range query per bucket on the primary key (task_id,
 * key, ts, ...), each reading its own points in key order -- the whole
 * series is read once, and never sorted. */
static int time_buckets(mida__sink *sink, mida__buf *b, const char **params,
                        int np, const char *range, int64_t lo, int64_t width,
                        int64_t nbuckets) {
  char sql[512];
  snprintf(sql, sizeof sql,
           "SELECT " BUCKET_COLUMNS("ts") " FROM metric WHERE task_id = ?1"
                                          " AND key = ?2%s AND ts >= ?%d AND "
                                          "ts < ?%d HAVING count(*) > 0",
           range, np + 1, np + 2);
  char from[24], to[24];
  params[np] = from;
  params[np + 1] = to;
  mida__resp one;
  mida__resp_init(&one);
  int rc = MIDA_OK;
  int written = 0;
  for (int64_t k = 0; k < nbuckets && rc == MIDA_OK; k++) {
    snprintf(from, sizeof from, "%" PRId64, lo + k * width);
    snprintf(to, sizeof to, "%" PRId64, lo + (k + 1) * width);
    mida__buf_reset(&one.body);
    mida__rows_info info = {.max_rows = 1};
    rc = mida__serve_rows_on(sink, &one, sql, params, np + 2, "iiaai", &info);
    if (rc == MIDA_OK && info.nrows == 1) {
      rc = mida__buf_adds(b, written++ ? ",\n" : "");
      if (rc == MIDA_OK)
        rc = mida__buf_add(b, one.body.ptr, one.body.len);
    }
  }
  mida__resp_free(&one);
  return rc;
}

/* Buckets on steps, which no index orders: one GROUP BY over the series. */
static int step_buckets(mida__sink *sink, mida__resp *resp, const char **params,
                        int np, const char *range, int64_t lo, int64_t width,
                        int64_t nbuckets) {
  char sql[512], lo_text[24], w[24];
  snprintf(lo_text, sizeof lo_text, "%" PRId64, lo);
  snprintf(w, sizeof w, "%" PRId64, width);
  params[np] = lo_text;
  params[np + 1] = w;
  snprintf(sql, sizeof sql,
           "SELECT " BUCKET_COLUMNS(
               "step") " FROM metric WHERE task_id = ?1"
                       " AND key = ?2%s GROUP BY (step - ?%d) / ?%d ORDER BY 1",
           range, np + 1, np + 2);
  mida__rows_info info = {.max_rows = (size_t)nbuckets + 1};
  return mida__serve_rows_on(sink, resp, sql, params, np + 2, "iiaai", &info);
}

/* The task's change number as text into buf, or NULL (none: no cache). */
static const char *task_seq(mida__sink *sink, const char *task, char *buf,
                            size_t len) {
  const char *params[1] = {task};
  int64_t seq[1];
  int nulls = 0;
  if (query_numbers(sink, "SELECT (SELECT seq FROM task WHERE id = ?1)", params,
                    1, seq, 1, &nulls) != MIDA_OK ||
      nulls > 0)
    return NULL;
  snprintf(buf, len, "%" PRId64, seq[0]);
  return buf;
}

static int compute_series(mida__sink *sink, mida__resp *resp, const char *task,
                          const char *key, int by_time, long long points,
                          const char *from_text, const char *to_text);

/* Writes one series: from the cache when it holds it unchanged, else
 * computed (and kept when it was downsampled). Returns the sink's code. */
static int write_series(mida__answer_cache *cache, mida__sink *sink,
                        mida__resp *resp, const char *task, const char *key,
                        int by_time, long long points, const char *from_text,
                        const char *to_text) {
  char seqbuf[32];
  const char *seq =
      cache != NULL ? task_seq(sink, task, seqbuf, sizeof seqbuf) : NULL;
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
  const char *x = by_time ? "ts" : "step";
  /* On the step axis, points without a step (NULL) have no place. */
  char range[160] = "";
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
  int rc = mida__buf_adds(b, "{\"task\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, task);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, ", \"key\": ");
  if (rc == MIDA_OK)
    rc = mida__serve_json_cell(b, MIDA_COL_TEXT, key);
  if (rc == MIDA_OK)
    rc = mida__buf_printf(b, ", \"x\": \"%s\", ", by_time ? "time" : "step");
  if (rc != MIDA_OK)
    return rc;

  /* Whole when short: points + 1 rows say whether it is. */
  char sql[512];
  char limit[24];
  snprintf(limit, sizeof limit, "%lld", points + 1);
  params[np] = limit;
  snprintf(sql, sizeof sql,
           "SELECT step, ts, value FROM metric WHERE task_id = ?1"
           " AND key = ?2%s ORDER BY %s LIMIT ?%d",
           range, by_time ? "ts, step" : "step, ts", np + 1);
  size_t mark = b->len;
  rc = mida__buf_adds(b, "\"points\": [\n");
  mida__rows_info info = {.max_rows = (size_t)points};
  if (rc == MIDA_OK)
    rc = mida__serve_rows_on(sink, resp, sql, params, np + 1, "iia", &info);
  if (rc != MIDA_OK)
    return rc;
  if (!info.more)
    return mida__buf_printf(b, "],\n\"downsampled\": false}");

  /* Downsampled: the x range, then buckets of equal width on it. */
  b->len = mark;
  b->ptr[mark] = '\0';
  int64_t lohi[2];
  int nulls = 0;
  snprintf(sql, sizeof sql,
           "SELECT (SELECT min(%s) FROM metric WHERE task_id = ?1 AND"
           " key = ?2%s), (SELECT max(%s) FROM metric WHERE task_id = ?1"
           " AND key = ?2%s)",
           x, range, x, range);
  rc = query_numbers(sink, sql, params, np, lohi, 2, &nulls);
  if (rc != MIDA_OK)
    return rc;
  int64_t nbuckets = points / 2 > 0 ? points / 2 : 1;
  uint64_t span = (uint64_t)lohi[1] - (uint64_t)lohi[0] + 1;
  int64_t width =
      (int64_t)((span + (uint64_t)nbuckets - 1) / (uint64_t)nbuckets);
  if (width < 1)
    width = 1;
  rc = mida__buf_printf(b, "\"bucket_width\": %" PRId64 ", \"buckets\": [\n",
                        width);
  if (rc == MIDA_OK && by_time)
    rc = time_buckets(sink, b, params, np, range, lohi[0], width, nbuckets);
  else if (rc == MIDA_OK)
    rc = step_buckets(sink, resp, params, np, range, lohi[0], width, nbuckets);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "],\n\"downsampled\": true}");
  return rc;
}

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
  mida__sink *sink = NULL;
  char err[512];
  int rc = mida__serve_acquire(&srv->pool, 5000, &sink, err, sizeof err);
  if (rc != MIDA_OK)
    return mida__resp_error(resp, 503, "the store cannot be read: %s", err);
  rc = mida__buf_adds(&resp->body, "{\"series\": [\n");
  int qrc = MIDA_OK;
  for (int t = 0; t < ntasks && rc == MIDA_OK && qrc == MIDA_OK; t++) {
    for (int k = 0; k < nkeys && rc == MIDA_OK && qrc == MIDA_OK; k++) {
      if (t + k > 0)
        rc = mida__buf_adds(&resp->body, ",\n");
      if (rc == MIDA_OK)
        qrc = write_series(srv->series, sink, resp, tasks[t], keys[k],
                           axis == 1, points, from_text, to_text);
    }
  }
  if (qrc == MIDA_ENOMEM || qrc == MIDA_ETOOBIG)
    rc = qrc;
  else if (qrc != MIDA_OK)
    mida__serve_store_error(resp, sink, qrc);
  else if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "]}\n");
  mida__serve_release(&srv->pool, sink, qrc == MIDA_ESTORE);
  return rc;
}

const mida__route mida__serve_routes_metrics[] = {
    {"/api/metrics", get_metrics, "task key x points from to"},
    {NULL, NULL, NULL},
};

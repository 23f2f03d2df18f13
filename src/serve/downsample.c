/*
 * downsample.c -- a metric series longer than the points asked for, sent
 * as buckets that keep the minimum and maximum of every stretch of it.
 *
 * Buckets: B = 2^b units of x wide, the smallest such width that gives at
 * most points / 2 of them, aligned on multiples of B (bucket k holds the
 * points with x >> b = k), so that each is exactly 2^(b - shift) blocks of
 * every level of the store's blocks (src/sink/rollup.h) with shift <= b.
 * Each bucket is sent as {x0, x1, lo, hi, n}: the least and greatest x of
 * its points, their least and greatest value (NaN left out, as the SQLite
 * store keeps it) and their number -- exact, whichever way it is read:
 *
 * - From the blocks (store schema version 7), when b is at least the
 *   axis's finest shift: the blocks of the coarsest level that fits in a
 *   bucket, at most 64 per bucket (for series of under 17 billion steps
 *   or 200 days), summed by one GROUP BY -- at most tens of thousands of
 *   rows whatever the number of points, never a point. A bucket that the
 *   range (from, to) cuts (the first and the last) is read from the points
 *   in it: on time by the metric key (task_id, key, ts); on steps, which no
 *   index orders, between the least and greatest ts of the finest blocks
 *   of those steps (t0, t1), so only the points of those times.
 * - From the points otherwise (an older store; or buckets narrower than
 *   the finest blocks -- 64 steps, 67 ms -- of a series of at most
 *   RAW_POINTS_MAX points): on time one range query per bucket, on steps
 *   one GROUP BY. A longer series whose buckets would be that narrow gets
 *   buckets as wide as its finest blocks instead (fewer than points / 2).
 *
 * Both ways give the same buckets on both stores (tests/serve/
 * test_rollup.py compares them with the points).
 */
#include "serve/downsample.h"

#include "sink/rollup.h"

#include "mida.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mida__serve_numbers(mida__sink *sink, const char *sql,
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
    nums[i] = 0;
    if (strncmp(p, "null", 4) == 0)
      (*nulls)++;
    else
      nums[i] = strtoll(p, NULL, 10);
  }
  mida__resp_free(&tmp);
  return rc;
}

/* The most points of a series read to make buckets narrower than its
 * finest blocks (about 150 ms of reading). */
#define RAW_POINTS_MAX 100000

/* The columns of a bucket read from points. */
#define POINT_BUCKET(x)                                                        \
  "min(" x ") AS x0, max(" x ") AS x1, min(nullif(value, 'NaN')) AS lo,"       \
  " max(nullif(value, 'NaN')) AS hi, count(*) AS n"

/* What one series request reads, worked out once. */
typedef struct series {
  mida__sink *sink;
  const mida__series_req *req;
  int axis;           /* MIDA_ROLLUP_STEP or MIDA_ROLLUP_TIME */
  const char *x;      /* its column */
  int64_t lo, hi;     /* the range on x that holds points */
  int64_t xmin, xmax; /* the series' least and greatest x (blocks) */
  int64_t window[2];  /* the ts range of those points (steps) */
  int blocks;         /* the store has the series' blocks on this axis */
  int64_t total;      /* their points (blocks) */
} series;

static const char *const PARAMS_TK = "task_id = ?1 AND key = ?2";

/* Whether the store keeps blocks (schema version 7 and later), and if so
 * the series' points on the axis and their least and greatest x, from its
 * coarsest blocks (a few rows). */
static int read_totals(series *s) {
  const char *params[2] = {s->req->task, s->req->key};
  int64_t v[3];
  int nulls = 0;
  int rc = mida__serve_numbers(
      s->sink,
      "SELECT (SELECT CAST(value AS INTEGER) FROM mida_meta WHERE key ="
      " 'schema_version') AS v",
      NULL, 0, v, 1, &nulls);
  s->blocks = 0;
  if (rc != MIDA_OK || nulls > 0 || v[0] < 7)
    return rc;
  char sql[320];
  snprintf(sql, sizeof sql,
           "SELECT CAST(sum(n) AS BIGINT) AS n, min(x0) AS a, max(x1) AS b"
           " FROM metric_block WHERE %s AND axis = %d AND shift = %d",
           PARAMS_TK, s->axis, mida__rollup_max_shift(s->axis));
  rc = mida__serve_numbers(s->sink, sql, params, 2, v, 3, &nulls);
  if (rc == MIDA_OK && nulls == 0 && v[0] > 0) {
    s->blocks = 1;
    s->total = v[0];
    s->lo = s->xmin = v[1];
    s->hi = s->xmax = v[2];
  }
  return rc;
}

/* The ts range of the points with a step in [a, b], from the finest step
 * blocks that are at most 256 over the range (a few rows, the window
 * tight when the range is short); empty (w[0] > w[1]) when there are
 * none. */
static int step_window(series *s, int64_t a, int64_t b, int64_t w[2]) {
  const char *params[2] = {s->req->task, s->req->key};
  int shift = mida__rollup_min_shift(MIDA_ROLLUP_STEP);
  while (shift < mida__rollup_max_shift(MIDA_ROLLUP_STEP) &&
         mida__rollup_block(b, shift) - mida__rollup_block(a, shift) > 256)
    shift += MIDA_ROLLUP_STRIDE;
  char sql[400];
  snprintf(sql, sizeof sql,
           "SELECT min(t0) AS a, max(t1) AS b FROM metric_block WHERE %s"
           " AND axis = 0 AND shift = %d AND block BETWEEN %" PRId64
           " AND %" PRId64,
           PARAMS_TK, shift, mida__rollup_block(a, shift),
           mida__rollup_block(b, shift));
  int nulls = 0;
  int rc = mida__serve_numbers(s->sink, sql, params, 2, w, 2, &nulls);
  if (rc == MIDA_OK && nulls > 0) {
    w[0] = 1;
    w[1] = 0;
  }
  return rc;
}

/* " AND ..." that keeps x within [a, b] and, on steps, ts within the
 * window, into buf (no bound where it is the end of int64: the metric key
 * serves only comparisons with integers). */
static void point_filter(const series *s, int64_t a, int64_t b, char *buf,
                         size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  if (s->axis == MIDA_ROLLUP_STEP)
    n += (size_t)snprintf(buf + n, len - n, " AND step IS NOT NULL");
  if (a != INT64_MIN && n < len)
    n += (size_t)snprintf(buf + n, len - n, " AND %s >= %" PRId64, s->x, a);
  if (b != INT64_MAX && n < len)
    n += (size_t)snprintf(buf + n, len - n, " AND %s <= %" PRId64, s->x, b);
  if (s->axis == MIDA_ROLLUP_STEP && s->window[0] != INT64_MIN && n < len)
    n += (size_t)snprintf(buf + n, len - n, " AND ts >= %" PRId64,
                          s->window[0]);
  if (s->axis == MIDA_ROLLUP_STEP && s->window[1] != INT64_MAX && n < len)
    snprintf(buf + n, len - n, " AND ts <= %" PRId64, s->window[1]);
}

static int setup(series *s, mida__sink *sink, const mida__series_req *req) {
  memset(s, 0, sizeof *s);
  s->sink = sink;
  s->req = req;
  s->axis = req->by_time ? MIDA_ROLLUP_TIME : MIDA_ROLLUP_STEP;
  s->x = req->by_time ? "ts" : "step";
  s->lo = INT64_MIN;
  s->hi = INT64_MAX;
  s->window[0] = INT64_MIN;
  s->window[1] = INT64_MAX;
  int rc = read_totals(s);
  if (rc != MIDA_OK)
    return rc;
  if (req->has_from && req->from > s->lo)
    s->lo = req->from;
  if (req->has_to && req->to < s->hi)
    s->hi = req->to;
  if (s->blocks && s->axis == MIDA_ROLLUP_STEP &&
      (req->has_from || req->has_to))
    rc = step_window(s, s->lo, s->hi, s->window);
  return rc;
}

int mida__series_probe(mida__sink *sink, const mida__series_req *req,
                       int *longer, int64_t window[2]) {
  series s;
  int rc = setup(&s, sink, req);
  window[0] = s.window[0];
  window[1] = s.window[1];
  *longer = 0;
  if (rc != MIDA_OK || s.lo > s.hi || window[0] > window[1])
    return rc;
  /* At most points + 1 of them are counted: cheap on either axis. */
  char filter[256], sql[640];
  point_filter(&s, s.lo, s.hi, filter, sizeof filter);
  snprintf(sql, sizeof sql,
           "SELECT count(*) AS n FROM (SELECT 1 FROM metric WHERE %s%s"
           " LIMIT %lld) AS p",
           PARAMS_TK, filter, req->points + 1);
  const char *params[2] = {req->task, req->key};
  int64_t n = 0;
  int nulls = 0;
  rc = mida__serve_numbers(sink, sql, params, 2, &n, 1, &nulls);
  *longer = rc == MIDA_OK && n > req->points;
  return rc;
}

/* Appends the rows of sql (bucket objects) to the body, after a comma
 * when some were written before. */
static int append_rows(series *s, mida__resp *resp, const char *sql,
                       size_t max_rows, int *written) {
  const char *params[2] = {s->req->task, s->req->key};
  mida__resp part;
  mida__resp_init(&part);
  mida__rows_info info = {.max_rows = max_rows};
  int rc = mida__serve_rows_on(s->sink, &part, sql, params, 2, "iiaai", &info);
  if (rc == MIDA_OK && info.nrows > 0) {
    rc = mida__buf_adds(&resp->body, *written ? ",\n" : "");
    if (rc == MIDA_OK)
      rc = mida__buf_add(&resp->body, part.body.ptr, part.body.len);
    *written += (int)info.nrows;
  }
  mida__resp_free(&part);
  return rc;
}

/* The first and last x of bucket k = x >> b. */
static int64_t bucket_first(int64_t x, int b) {
  return (int64_t)((uint64_t)x & ~((UINT64_C(1) << b) - 1));
}
static int64_t bucket_last(int64_t x, int b) {
  return (int64_t)((uint64_t)bucket_first(x, b) + ((UINT64_C(1) << b) - 1));
}

/* The SELECT of the points with x in [a, b] as one bucket row, into sql
 * (len bytes); on steps with blocks, between the times of their finest
 * blocks. *empty is set when there are none. */
static int points_part(series *s, int64_t a, int64_t b, char *sql, size_t len,
                       int *empty) {
  *empty = 0;
  if (s->blocks && s->axis == MIDA_ROLLUP_STEP) {
    int rc = step_window(s, a, b, s->window);
    if (rc != MIDA_OK || s->window[0] > s->window[1]) {
      *empty = rc == MIDA_OK;
      return rc;
    }
  }
  char filter[256];
  point_filter(s, a, b, filter, sizeof filter);
  snprintf(sql, len, "SELECT %s FROM metric WHERE %s%s",
           s->axis == MIDA_ROLLUP_STEP ? POINT_BUCKET("step")
                                       : POINT_BUCKET("ts"),
           PARAMS_TK, filter);
  return MIDA_OK;
}

/* One bucket's part [a, b] that the range cuts: the finest blocks wholly
 * in it, and the points of the finest blocks it cuts (at most two), as one
 * bucket row -- a few hundred points read however wide the bucket. */
static int bucket_from_points(series *s, mida__resp *resp, int64_t a,
                              int64_t b, int *written) {
  int f = mida__rollup_min_shift(s->axis);
  int64_t first = mida__rollup_block(a, f), last = mida__rollup_block(b, f);
  char head[700], tail[700], mid[600], sql[2200];
  int rc = MIDA_OK, empty = 0;
  if (!s->blocks || first == last) {
    rc = points_part(s, a, b, head, sizeof head, &empty);
    if (rc != MIDA_OK || empty)
      return rc;
    snprintf(sql, sizeof sql, "%s HAVING count(*) > 0", head);
    return append_rows(s, resp, sql, 1, written);
  }
  /* Whole finest blocks from first to last, unless a or b cuts one. */
  const char *none = "SELECT NULL AS x0, NULL AS x1, NULL AS lo, NULL AS hi,"
                     " 0 AS n";
  snprintf(head, sizeof head, "%s", none);
  snprintf(tail, sizeof tail, "%s", none);
  if ((uint64_t)a != ((uint64_t)first << f)) {
    rc = points_part(s, a, bucket_last(a, f), head, sizeof head, &empty);
    if (empty)
      snprintf(head, sizeof head, "%s", none);
    first++;
  }
  if (rc == MIDA_OK && b != bucket_last(b, f)) {
    rc = points_part(s, bucket_first(b, f), b, tail, sizeof tail, &empty);
    if (empty)
      snprintf(tail, sizeof tail, "%s", none);
    last--;
  }
  if (rc != MIDA_OK)
    return rc;
  if (first <= last)
    snprintf(mid, sizeof mid,
             "SELECT min(x0) AS x0, max(x1) AS x1, min(lo) AS lo,"
             " max(hi) AS hi, CAST(sum(n) AS BIGINT) AS n FROM metric_block"
             " WHERE %s AND axis = %d AND shift = %d AND block BETWEEN"
             " %" PRId64 " AND %" PRId64,
             PARAMS_TK, s->axis, f, first, last);
  else
    snprintf(mid, sizeof mid, "%s", none);
  snprintf(sql, sizeof sql,
           "SELECT min(x0) AS x0, max(x1) AS x1, min(lo) AS lo, max(hi) AS"
           " hi, CAST(sum(n) AS BIGINT) AS n FROM (%s UNION ALL %s UNION ALL"
           " %s) AS p HAVING sum(n) > 0",
           head, mid, tail);
  return append_rows(s, resp, sql, 1, written);
}

/* Buckets from the points: on time one range query per bucket (the
 * metric key orders them), on steps one GROUP BY. */
static int buckets_from_points(series *s, mida__resp *resp, int b,
                               int64_t nbuckets, int *written) {
  if (s->axis == MIDA_ROLLUP_TIME) {
    int rc = MIDA_OK;
    int64_t k = mida__rollup_block(s->lo, b);
    int64_t last = mida__rollup_block(s->hi, b);
    for (; rc == MIDA_OK; k++) {
      int64_t first = (int64_t)((uint64_t)k << b);
      int64_t a = first > s->lo ? first : s->lo;
      int64_t e = bucket_last(a, b) < s->hi ? bucket_last(a, b) : s->hi;
      rc = bucket_from_points(s, resp, a, e, written);
      if (k == last)
        break;
    }
    return rc;
  }
  char filter[256], sql[800];
  point_filter(s, s->lo, s->hi, filter, sizeof filter);
  snprintf(sql, sizeof sql,
           "SELECT " POINT_BUCKET("step") " FROM metric WHERE %s%s"
           " GROUP BY step >> %d ORDER BY 1",
           PARAMS_TK, filter, b);
  return append_rows(s, resp, sql, (size_t)nbuckets + 1, written);
}

/* Buckets from the blocks of level shift: the whole buckets (those the
 * range does not cut) by one GROUP BY, a cut one at either end from its
 * points. */
static int buckets_from_blocks(series *s, mida__resp *resp, int b, int shift,
                               int *written) {
  int64_t first = bucket_first(s->lo, b), last = bucket_last(s->hi, b);
  /* Cut: the range leaves out points of the bucket. */
  int cut_first = first < s->lo && s->lo > s->xmin;
  int cut_last = last > s->hi && s->hi < s->xmax;
  int same = bucket_first(s->lo, b) == bucket_first(s->hi, b);
  int rc = MIDA_OK;
  if (cut_first || (same && cut_last)) {
    int64_t e = bucket_last(s->lo, b) < s->hi ? bucket_last(s->lo, b) : s->hi;
    rc = bucket_from_points(s, resp, s->lo, e, written);
    if (same || rc != MIDA_OK)
      return rc;
    first = (int64_t)((uint64_t)bucket_last(s->lo, b) + 1);
  }
  int64_t whole_last = last;
  if (cut_last)
    whole_last = (int64_t)((uint64_t)bucket_first(s->hi, b) - 1);
  if (first <= whole_last) {
    char sql[700];
    snprintf(sql, sizeof sql,
             "SELECT min(x0) AS x0, max(x1) AS x1, min(lo) AS lo,"
             " max(hi) AS hi, CAST(sum(n) AS BIGINT) AS n FROM metric_block"
             " WHERE %s AND axis = %d AND shift = %d AND block BETWEEN"
             " %" PRId64 " AND %" PRId64 " GROUP BY block >> %d ORDER BY 1",
             PARAMS_TK, s->axis, shift, mida__rollup_block(first, shift),
             mida__rollup_block(whole_last, shift), b - shift);
    int64_t nb = mida__rollup_block(whole_last, b) -
                 mida__rollup_block(first, b) + 1;
    rc = append_rows(s, resp, sql, (size_t)nb + 1, written);
  }
  if (rc == MIDA_OK && cut_last)
    rc = bucket_from_points(s, resp, bucket_first(s->hi, b), s->hi, written);
  return rc;
}

int mida__series_buckets(mida__sink *sink, mida__resp *resp,
                         const mida__series_req *req,
                         const int64_t window[2]) {
  series s;
  int rc = setup(&s, sink, req);
  if (rc != MIDA_OK)
    return rc;
  s.window[0] = window[0];
  s.window[1] = window[1];
  if (!s.blocks) {
    /* The series' least and greatest x from its points (on time by the
     * key), then within the range, as from the blocks. */
    char filter[256], sql[800];
    point_filter(&s, INT64_MIN, INT64_MAX, filter, sizeof filter);
    snprintf(sql, sizeof sql,
             "SELECT (SELECT min(%s) FROM metric WHERE %s%s) AS a,"
             " (SELECT max(%s) FROM metric WHERE %s%s) AS b",
             s.x, PARAMS_TK, filter, s.x, PARAMS_TK, filter);
    const char *params[2] = {req->task, req->key};
    int64_t v[2];
    int nulls = 0;
    rc = mida__serve_numbers(sink, sql, params, 2, v, 2, &nulls);
    if (rc != MIDA_OK)
      return rc;
    if (nulls == 0) {
      s.lo = req->has_from && req->from > v[0] ? req->from : v[0];
      s.hi = req->has_to && req->to < v[1] ? req->to : v[1];
    }
  }
  int64_t nbuckets = req->points / 2 > 0 ? req->points / 2 : 1;
  /* The narrowest aligned buckets that are few enough. Their span is
   * counted unsigned: from step -2^63 + 1 to 2^63 - 1 it is past int64,
   * where it wrapped to a negative number and made b 0. */
  int b = 0;
  while (b < 63 && (uint64_t)mida__rollup_block(s.hi, b) -
                           (uint64_t)mida__rollup_block(s.lo, b) >=
                       (uint64_t)nbuckets)
    b++;
  /* Buckets narrower than the finest blocks: from the points while they
   * are few enough to read (the blocks' count bounds them), else as wide
   * as the finest blocks -- fewer buckets, still exact. */
  int finest = mida__rollup_min_shift(s.axis);
  if (s.blocks && b < finest && s.total > RAW_POINTS_MAX)
    b = finest;
  int shift = -1;
  for (int l = finest; l <= mida__rollup_max_shift(s.axis);
       l += MIDA_ROLLUP_STRIDE)
    if (l <= b)
      shift = l;
  int from_blocks = s.blocks && shift >= 0;
  rc = mida__buf_printf(&resp->body,
                        "\"bucket_width\": %" PRIu64
                        ", \"rollup\": %s, \"buckets\": [\n",
                        UINT64_C(1) << b, from_blocks ? "true" : "false");
  int written = 0;
  if (rc == MIDA_OK && s.lo <= s.hi && s.window[0] <= s.window[1])
    rc = from_blocks ? buckets_from_blocks(&s, resp, b, shift, &written)
                     : buckets_from_points(&s, resp, b, nbuckets, &written);
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&resp->body, "]");
  return rc;
}

/*
 * downsample.h -- a metric series longer than the points asked for, cut
 * into buckets that keep its minima and maxima (downsample.c), read from
 * the store's blocks of the series (src/sink/rollup.h) when it has them.
 */
#ifndef MIDA_SERVE_DOWNSAMPLE_H
#define MIDA_SERVE_DOWNSAMPLE_H

#include "serve/serve.h"

#include <stdint.h>

/* One series request: task and key (bound as ?1 and ?2), its axis, the
 * optional range [from, to] on it, and the most buckets to send. */
typedef struct mida__series_req {
  const char *task;
  const char *key;
  int by_time;       /* x = ts, else x = step */
  int has_from;      /* from is given */
  int has_to;        /* to is given */
  int64_t from, to;  /* the range on x, inclusive */
  long long points;  /* the most points sent; buckets: points / 2 */
} mida__series_req;

/* Whether the series is longer than req->points (on the step axis,
 * counting the points that have a step) within the range: *longer is set.
 * Where the store keeps blocks (schema version 7), *window is set to the
 * ts range that holds every point of a step range (a step axis with a
 * range), else to the whole of int64. Returns the sink's code. */
int mida__series_probe(mida__sink *sink, const mida__series_req *req,
                       int *longer, int64_t window[2]);

/* Appends "\"bucket_width\": B, \"rollup\": true|false, \"buckets\":
 * [...]" for a series longer than req->points: at most points / 2
 * buckets of B = 2^b units aligned on multiples of B, each {x0, x1, lo,
 * hi, n} of its points (first and last x, least and greatest value, NaN
 * left out; points). Returns the sink's code. */
int mida__series_buckets(mida__sink *sink, mida__resp *resp,
                         const mida__series_req *req,
                         const int64_t window[2]);

/* Reads the first row of a one-row answer of up to 4 integer columns into
 * nums; *nulls counts the NULL ones (read as 0). */
int mida__serve_numbers(mida__sink *sink, const char *sql,
                        const char *const *params, int nparams, int64_t *nums,
                        int count, int *nulls);

#endif /* MIDA_SERVE_DOWNSAMPLE_H */

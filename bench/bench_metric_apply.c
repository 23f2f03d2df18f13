/*
 * bench_metric_apply.c -- how fast a store ingests metric points (and, from
 * schema version 7, keeps the blocks of their series, src/sink/rollup.h).
 *
 * The points are handed to the sink already decoded, in batches of 4096,
 * so the figure is the store's alone. Layouts:
 *   one    one series: steps 0, 1, 2, ..., a point every millisecond;
 *   many   64 series of one task logged side by side (64 keys, each
 *          batch holds 64 points of each), a point every 10 ms.
 *
 * Usage: bench_metric_apply [points] [store URL]   (default 1,000,000,
 * sqlite:///tmp/mida_metric_bench.db; an SQLite file is made afresh and
 * removed at the end unless BENCH_KEEP=1, a PostgreSQL database should be
 * empty). Prints a line per layout and one
 * line of JSON. The CPU time of the process is printed too: on a loaded
 * machine it is the steadier figure.
 */
#include "benchutil.h"
#include "sink/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 4096
#define SERIES 64

static double clock_s(clockid_t which) {
  struct timespec ts;
  clock_gettime(which, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char keys[SERIES][16];

static void make_point(mida__rec *r, const mida_id_t *task, const char *key,
                       int64_t step, int64_t ts, double value) {
  memset(r, 0, sizeof *r);
  r->type = MIDA_REC_METRIC;
  r->f[MIDA_F_TASK].present = true;
  r->f[MIDA_F_TASK].v.id = *task;
  r->f[MIDA_F_KEY].present = true;
  r->f[MIDA_F_KEY].v.str.ptr = key;
  r->f[MIDA_F_KEY].v.str.len = (uint32_t)strlen(key);
  r->f[MIDA_F_STEP].present = true;
  r->f[MIDA_F_STEP].v.i64 = step;
  r->f[MIDA_F_TS].present = true;
  r->f[MIDA_F_TS].v.i64 = ts;
  r->f[MIDA_F_VALUE].present = true;
  r->f[MIDA_F_VALUE].v.f64 = value;
}

/* Applies n points of a layout; returns points/s, or a negative value. */
static double run(const char *url, size_t n, int many) {
  if (strncmp(url, "sqlite://", 9) == 0) {
    char p[1100];
    unlink(url + 9);
    snprintf(p, sizeof p, "%s-wal", url + 9);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", url + 9);
    unlink(p);
  }
  mida__rec *recs = malloc(n * sizeof *recs);
  if (recs == NULL) {
    fprintf(stderr, "out of memory\n");
    return -1;
  }
  mida_id_t task = mida_id_new();
  int64_t t0 = mida_now_ns();
  for (size_t i = 0; i < n; i++) {
    size_t series = many ? i % SERIES : 0;
    int64_t step = (int64_t)(many ? i / SERIES : i);
    double value = 1.0 / (1.0 + (double)step / 1000.0) +
                   (double)((i * 7919) % 1009) / 10090.0;
    make_point(&recs[i], &task, keys[series], step,
               t0 + step * (many ? 10000000 : 1000000), value);
  }
  char err[512];
  mida__sink *sink = NULL;
  int rc = mida__sink_open(url, 0, &sink, err, sizeof err);
  if (rc != MIDA_OK) {
    fprintf(stderr, "open: %s\n", err);
    free(recs);
    return -1;
  }
  mida__origin origin = {"benchhost", 4242};
  double start = clock_s(CLOCK_MONOTONIC);
  double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (size_t off = 0; off < n && rc == MIDA_OK; off += BATCH) {
    size_t len = n - off < BATCH ? n - off : BATCH;
    rc = mida__sink_put_batch(sink, recs + off, len, &origin);
  }
  double dt = clock_s(CLOCK_MONOTONIC) - start;
  cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu;
  if (rc != MIDA_OK)
    fprintf(stderr, "put_batch: %s\n", mida__sink_errmsg(sink));
  printf("%-4s %zu points, batch %d: %.3f s, %.0f points/s; CPU %.3f s,"
         " %.0f points per CPU second\n",
         many ? "many" : "one", n, BATCH, dt, (double)n / dt, cpu,
         (double)n / cpu);
  mida__sink_close(sink);
  free(recs);
  return rc != MIDA_OK ? -1 : (double)n / dt;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
  const char *url =
      argc > 2 ? argv[2] : "sqlite:///tmp/mida_metric_bench.db";
  if (n == 0)
    n = 1;
  for (int i = 0; i < SERIES; i++)
    snprintf(keys[i], sizeof keys[i], "metric_%02d", i);
  double one = run(url, n, 0);
  double many = run(url, n, 1);
  if (strncmp(url, "sqlite://", 9) == 0)
    bench_remove_sqlite(url + 9);
  printf("{\"bench\":\"metric_apply\",\"points\":%zu,"
         "\"one_points_per_s\":%.0f,\"many_points_per_s\":%.0f}\n",
         n, one, many);
  return one < 0 || many < 0;
}

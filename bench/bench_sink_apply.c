/*
 * bench_sink_apply.c -- how fast the SQLite store ingests tasks.
 *
 * A task is what the C API produces for one call of mida_task_begin() and
 * one of mida_task_end(): a begin record (id, workflow, campaign, activity,
 * status RUNNING, started, ~60 bytes of used JSON) and an end record (id,
 * status FINISHED, ended, ~40 bytes of generated JSON). The records are
 * handed to the sink already decoded, in batches of 4096, so the figure is
 * the store's alone (no journal, no decoding). DESIGN.md's budget: >= 200,000
 * tasks/s on one core.
 *
 * Layouts:
 *   near   each end follows its begin by a few records (short tasks): most
 *          pairs fall in one batch and are folded into one INSERT;
 *   apart  every begin of a batch is ended in the next batch: each end is
 *          an UPSERT of an existing row (the slow path).
 *
 * Usage: bench_sink_apply [tasks] [path]   (default 500000, /tmp/...);
 * a path with "://" is a store's URL, opened as it is (postgresql://...:
 * the PostgreSQL store's batches, e.g. under callgrind), and left as it
 * is at the end;
 * MIDA_BENCH_LAYOUT=1 runs only apart, 2 only near. The store is removed
 * at the end unless BENCH_KEEP=1. MIDA_BENCH_SOURCE_KEY=1 gives each begin
 * a source key as a Dask task has one ("train_step-" and 16 hex digits of
 * a hash of its number: keys in no order, as Dask's tokens are), so that
 * what the index task_by_source_key costs a write can be measured.
 */
#include "benchutil.h"
#include "sink/sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH 4096

static const char used_json[] =
    "{\"lr\":0.001,\"batch_size\":64,\"epochs\":10,\"optimizer\":\"adam\"}";
static const char generated_json[] = "{\"loss\":0.1234,\"accuracy\":0.9876}";

/* The source key of task i (MIDA_BENCH_SOURCE_KEY), into out. */
#define SOURCE_KEY_MAX 32
static void make_source_key(size_t i, char out[SOURCE_KEY_MAX]) {
  uint64_t z = (uint64_t)i + 0x9e3779b97f4a7c15u; /* splitmix64 */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  snprintf(out, SOURCE_KEY_MAX, "train_step-%016llx", (unsigned long long)z);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_begin(mida__rec *r, const mida_id_t *id, const mida_id_t *wf,
                       const mida_id_t *camp, int64_t t, const char *key) {
  memset(r, 0, sizeof *r);
  r->type = MIDA_REC_TASK;
  mida__rec_set_id(r, MIDA_F_ID, id);
  mida__rec_set_id(r, MIDA_F_WORKFLOW, wf);
  mida__rec_set_id(r, MIDA_F_CAMPAIGN, camp);
  mida__rec_set_str(r, MIDA_F_ACTIVITY, "train_step", (size_t)-1);
  mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  mida__rec_set_i64(r, MIDA_F_STARTED, t);
  mida__rec_set_str(r, MIDA_F_USED, used_json, (size_t)-1);
  if (key != NULL)
    mida__rec_set_str(r, MIDA_F_SOURCE_KEY, key, (size_t)-1);
}

static void make_end(mida__rec *r, const mida_id_t *id, int64_t t) {
  memset(r, 0, sizeof *r);
  r->type = MIDA_REC_TASK;
  mida__rec_set_id(r, MIDA_F_ID, id);
  mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
  mida__rec_set_i64(r, MIDA_F_ENDED, t);
  mida__rec_set_str(r, MIDA_F_GENERATED, generated_json, (size_t)-1);
}

/* Records in the order a shipper would see them; see the layouts above.
 * keys: the tasks' source keys (SOURCE_KEY_MAX each), or NULL for none. */
static mida__rec *make_records(size_t tasks, int apart, mida_id_t *ids,
                               char *keys) {
  mida__rec *recs = malloc(2 * tasks * sizeof *recs);
  if (recs == NULL)
    return NULL;
  mida_id_t wf = mida_id_new(), camp = mida_id_new();
  for (size_t i = 0; i < tasks; i++)
    ids[i] = mida_id_new();
  size_t n = 0;
  int64_t t = mida_now_ns();
  if (!apart) {
    const size_t lag = 16;
    for (size_t i = 0; i < tasks + lag; i++) {
      if (i < tasks)
        make_begin(&recs[n++], &ids[i], &wf, &camp, t + (int64_t)i,
                   keys != NULL ? keys + i * SOURCE_KEY_MAX : NULL);
      if (i >= lag)
        make_end(&recs[n++], &ids[i - lag], t + (int64_t)i + 1000);
    }
  } else {
    const size_t half = BATCH / 2;
    for (size_t b = 0; b * half < tasks; b++) {
      size_t lo = b * half, hi = lo + half < tasks ? lo + half : tasks;
      for (size_t i = lo; i < hi; i++)
        make_begin(&recs[n++], &ids[i], &wf, &camp, t + (int64_t)i,
                   keys != NULL ? keys + i * SOURCE_KEY_MAX : NULL);
      if (b > 0)
        for (size_t i = lo - half; i < lo; i++)
          make_end(&recs[n++], &ids[i], t + (int64_t)i + 1000);
    }
    size_t last = ((tasks - 1) / half) * half;
    for (size_t i = last; i < tasks; i++)
      make_end(&recs[n++], &ids[i], t + (int64_t)i + 1000);
  }
  return recs;
}

/* Applies the records and returns tasks/s, or a negative value on error. */
static double run(const char *path, size_t tasks, int apart) {
  char url[1100];
  if (path == NULL) /* never; it keeps -fsanitize=undefined's null branch */
    return -1;      /* from reaching snprintf (-Wformat-truncation) */
  if (strstr(path, "://") != NULL) {
    snprintf(url, sizeof url, "%s", path);
  } else {
    snprintf(url, sizeof url, "sqlite://%s", path);
    unlink(path);
    char wal[1100];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
  }

  mida_id_t *ids = malloc(tasks * sizeof *ids);
  const char *with_keys = getenv("MIDA_BENCH_SOURCE_KEY");
  char *keys = NULL;
  if (with_keys != NULL && strcmp(with_keys, "1") == 0) {
    keys = malloc(tasks * SOURCE_KEY_MAX);
    for (size_t i = 0; keys != NULL && i < tasks; i++)
      make_source_key(i, keys + i * SOURCE_KEY_MAX);
  }
  mida__rec *recs = ids != NULL ? make_records(tasks, apart, ids, keys) : NULL;
  if (recs == NULL) {
    fprintf(stderr, "out of memory\n");
    return -1;
  }
  char err[512];
  mida__sink *sink = NULL;
  int rc = mida__sink_open(url, 0, &sink, err, sizeof err);
  if (rc != MIDA_OK) {
    fprintf(stderr, "open: %s\n", err);
    return -1;
  }
  mida__origin origin = {"benchhost", 4242};
  size_t n = 2 * tasks;
  double t0 = now_s();
  for (size_t off = 0; off < n && rc == MIDA_OK; off += BATCH) {
    size_t len = n - off < BATCH ? n - off : BATCH;
    rc = mida__sink_put_batch(sink, recs + off, len, &origin);
  }
  double dt = now_s() - t0;
  if (rc != MIDA_OK)
    fprintf(stderr, "put_batch: %s\n", mida__sink_errmsg(sink));
  printf("%-6s %zu tasks, %zu records, batch %d: %.3f s, %.0f records/s, "
         "%.0f tasks/s\n",
         apart ? "apart" : "near", tasks, n, BATCH, dt, (double)n / dt,
         (double)tasks / dt);
  mida__sink_close(sink);
  free(recs);
  free(ids);
  free(keys);
  return rc != MIDA_OK ? -1 : (double)tasks / dt;
}

int main(int argc, char **argv) {
  size_t tasks = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 500000;
  const char *path = argc > 2 ? argv[2] : "/tmp/mida_apply_bench.db";
  /* MIDA_BENCH_LAYOUT: 1 apart only, 2 near only, 3 (default) both. */
  const char *layout = getenv("MIDA_BENCH_LAYOUT");
  int which = layout != NULL ? (int)strtol(layout, NULL, 10) : 3;
  if (tasks == 0)
    tasks = 1;
  double near = 0, apart = 0;
  if (which & 2)
    near = run(path, tasks, 0);
  if (which & 1)
    apart = run(path, tasks, 1);
  if (strstr(path, "://") == NULL)
    bench_remove_sqlite(path);
  printf("{\"bench\":\"sink_apply_sqlite\",\"tasks\":%zu,"
         "\"near_tasks_per_s\":%.0f,\"apart_tasks_per_s\":%.0f}\n",
         tasks, near, apart);
  return near < 0 || apart < 0;
}

/*
 * bench_scaling.c -- how capture and storage costs grow with the work:
 * the caller's cost of one task (begin + end) with 1, 2 and 4 threads
 * producing at once into one session, and the bytes on disk per task of an
 * SQLite store, with and without per-task telemetry.
 *
 * Capture: each of T threads times BENCH_CAPTURE_TASKS (default 200,000)
 * begin+end pairs (with ~100 bytes of used and generated JSON) while the
 * shipper drains the journal into SQLite; per T, 3 runs, each giving the
 * median and p99 over all threads' pairs. Beside it, the baseline: the
 * same loop timing a plain call (an empty function behind a volatile
 * pointer), so the clock reads are in both. Per-task telemetry is off, as
 * in bench_capture's first figure.
 *
 * Disk: BENCH_DISK_TASKS (default 200,000) tasks through the C API into a
 * fresh store, with MIDA_TELEMETRY_TASK=0 and =1; after mida_close the
 * store's file (its WAL checkpointed) divided by the tasks; 3 runs.
 *
 *   bench_scaling
 *
 * The last line is the figures as one JSON object.
 */
#include "benchutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUNS 3
#define MAX_THREADS 4

static const char *USED =
    "{\"lr\":0.001,\"batch\":64,\"optimizer\":\"adam\",\"seed\":42}";
static const char *GENERATED = "{\"loss\":0.2345,\"accuracy\":0.9123}";

static void plain_call(void) {}
static void (*volatile plain)(void) = plain_call;

typedef struct worker {
  mida_session_t *s; /* NULL: time the plain call */
  long tasks;        /* pairs to time */
  int64_t *lat;      /* ns per pair */
  pthread_t th;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  mida_task_info_t ti = {.activity = "train_step", .used = USED};
  mida_id_t t;
  for (long i = 0; i < w->tasks; i++) {
    int64_t a = bench_now();
    if (w->s != NULL) {
      mida_task_begin(w->s, &ti, &t);
      mida_task_end(w->s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
    } else {
      plain();
      plain();
    }
    w->lat[i] = bench_now() - a;
  }
  return NULL;
}

typedef struct figs {
  double med, p99; /* ns per pair */
} figs;

/* One run with threads threads; session s (NULL: the plain call). */
static figs run_threads(mida_session_t *s, int threads, long tasks,
                        int64_t *all) {
  worker w[MAX_THREADS];
  for (int i = 0; i < threads; i++) {
    w[i] = (worker){.s = s, .tasks = tasks, .lat = all + i * tasks};
    pthread_create(&w[i].th, NULL, work, &w[i]);
  }
  for (int i = 0; i < threads; i++)
    pthread_join(w[i].th, NULL);
  size_t n = (size_t)threads * (size_t)tasks;
  figs f = {(double)bench_percentile(all, n, 0.5),
            (double)bench_percentile(all, n, 0.99)};
  return f;
}

static double median3(double *v) {
  for (int i = 1; i < RUNS; i++)
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[RUNS / 2];
}

static long file_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Bytes on disk per task of a fresh store of tasks tasks. */
static double disk_per_task(const char *dir, int run, int telemetry,
                            long tasks) {
  char name[64], path[700];
  snprintf(name, sizeof name, "disk-%d-%d.db", telemetry, run);
  setenv("MIDA_TELEMETRY_TASK", telemetry ? "1" : "0", 1);
  mida_session_t *s = bench_open(dir, name, 64u << 20);
  mida_task_info_t ti = {.activity = "train_step", .used = USED};
  mida_id_t t;
  for (long i = 0; i < tasks; i++) {
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
  }
  mida_close(s);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  long bytes = file_bytes(path);
  snprintf(path, sizeof path, "%s/%s-wal", dir, name);
  bytes += file_bytes(path);
  return (double)bytes / (double)tasks;
}

int main(void) {
  const char *env = getenv("BENCH_CAPTURE_TASKS");
  long tasks = env ? strtol(env, NULL, 10) : 200000;
  env = getenv("BENCH_DISK_TASKS");
  long disk_tasks = env ? strtol(env, NULL, 10) : 200000;
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "scaling");
  int64_t *all = malloc((size_t)MAX_THREADS * (size_t)tasks * sizeof *all);
  if (all == NULL)
    return 1;
  setenv("MIDA_TELEMETRY_TASK", "0", 1);
  const int counts[3] = {1, 2, 4};
  figs cap[3], base[3];
  double spread[3]; /* max - min of the runs' medians */
  printf("capture: begin+end per task, %ld pairs per thread, median of %d"
         " runs [min-max]; baseline: a plain call pair, clock reads in both\n",
         tasks, RUNS);
  for (int k = 0; k < 3; k++) {
    double m[RUNS], p[RUNS], bm[RUNS], bp[RUNS];
    for (int r = 0; r < RUNS; r++) {
      char name[64];
      snprintf(name, sizeof name, "capture-%d-%d.db", counts[k], r);
      mida_session_t *s = bench_open(dir, name, 64u << 20);
      run_threads(s, 1, 10000, all); /* warm up: pages, ids, caches */
      mida_flush(s, -1);
      figs f = run_threads(s, counts[k], tasks, all);
      mida_close(s);
      figs b = run_threads(NULL, counts[k], tasks, all);
      m[r] = f.med;
      p[r] = f.p99;
      bm[r] = b.med;
      bp[r] = b.p99;
    }
    double lo = m[0], hi = m[0];
    for (int r = 1; r < RUNS; r++) {
      lo = m[r] < lo ? m[r] : lo;
      hi = m[r] > hi ? m[r] : hi;
    }
    cap[k].med = median3(m);
    cap[k].p99 = median3(p);
    spread[k] = hi - lo;
    base[k].med = median3(bm);
    base[k].p99 = median3(bp);
    printf("  %d thread%s: mida %6.0f ns [%4.0f-%4.0f], p99 %6.0f ns | plain"
           " call %4.0f ns, p99 %5.0f ns | %.2fx the 1-thread cost\n",
           counts[k], counts[k] > 1 ? "s" : " ", cap[k].med, lo, hi,
           cap[k].p99, base[k].med, base[k].p99,
           cap[k].med / (k ? cap[0].med : cap[k].med));
    fflush(stdout);
  }
  double disk[2];
  printf("disk: bytes per task of an SQLite store of %ld tasks, median of %d"
         " runs [min-max]\n",
         disk_tasks, RUNS);
  for (int tel = 0; tel < 2; tel++) {
    double v[RUNS];
    for (int r = 0; r < RUNS; r++)
      v[r] = disk_per_task(dir, r, tel, disk_tasks);
    double lo = v[0], hi = v[0];
    for (int r = 1; r < RUNS; r++) {
      lo = v[r] < lo ? v[r] : lo;
      hi = v[r] > hi ? v[r] : hi;
    }
    disk[tel] = median3(v);
    printf("  %s per-task telemetry: %.0f bytes/task [%.0f-%.0f]\n",
           tel ? "with   " : "without", disk[tel], lo, hi);
  }
  printf("{\"bench\":\"scaling\",\"capture_tasks\":%ld,\"capture\":[", tasks);
  for (int k = 0; k < 3; k++)
    printf("%s{\"threads\":%d,\"median_ns\":%.0f,\"spread_ns\":%.0f,"
           "\"p99_ns\":%.0f,\"plain_median_ns\":%.0f,\"plain_p99_ns\":%.0f}",
           k ? "," : "", counts[k], cap[k].med, spread[k], cap[k].p99,
           base[k].med, base[k].p99);
  printf("],\"disk_tasks\":%ld,\"bytes_per_task_no_telemetry\":%.0f,"
         "\"bytes_per_task_telemetry\":%.0f}\n",
         disk_tasks, disk[0], disk[1]);
  free(all);
  return bench_rmdir(dir);
}

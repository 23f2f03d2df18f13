/*
 * bench_capture.c -- caller-thread cost of task begin + end.
 *
 * Times each begin+end pair (with ~100 bytes of used and generated JSON)
 * over 1,000,000 tasks while the shipper drains the journal into SQLite on
 * the other core, and reports the median, p99 and p99.9, the cost of the
 * clock read itself (included in each figure), the untimed loop's mean, and
 * the allocations made by the capture calls on the calling thread. It runs
 * twice, side by side: without per-task telemetry (the capture path alone,
 * no system call) and with it at the default level (one getrusage() at
 * begin and at end).
 *
 *   bench_capture [TASKS]
 */
#include "benchutil.h"
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USED =
    "{\"lr\":0.001,\"batch\":64,\"optimizer\":\"adam\",\"seed\":42}";
static const char *GENERATED = "{\"loss\":0.2345,\"accuracy\":0.9123}";

typedef struct result {
  int64_t median, p99, p999; /* ns per begin+end, clock read included */
  double untimed_mean;       /* ns per begin+end, no clock reads */
  uint64_t allocations;      /* on the calling thread, in the timed loop */
} result;

static result run(const char *dir, const char *name, int telemetry,
                  long tasks, int64_t *lat) {
  char level[8];
  snprintf(level, sizeof level, "%d", telemetry);
  setenv("MIDA_TELEMETRY_TASK", level, 1);
  mida_session_t *s = bench_open(dir, name, 64u << 20);
  mida_task_info_t ti = {.activity = "train_step", .used = USED};
  mida_id_t t;
  for (int i = 0; i < 10000; i++) { /* warm up: pages, ids, caches */
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
  }
  mida_flush(s, -1);

  result r;
  uint64_t allocs = mida__alloc_count_thread();
  for (long i = 0; i < tasks; i++) {
    int64_t a = bench_now();
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
    lat[i] = bench_now() - a;
  }
  r.allocations = mida__alloc_count_thread() - allocs;
  mida_flush(s, -1);

  int64_t start = bench_now();
  for (long i = 0; i < tasks; i++) {
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
  }
  r.untimed_mean = (double)(bench_now() - start) / (double)tasks;
  mida_close(s);
  r.median = bench_percentile(lat, (size_t)tasks, 0.5);
  r.p99 = bench_percentile(lat, (size_t)tasks, 0.99);
  r.p999 = bench_percentile(lat, (size_t)tasks, 0.999);
  return r;
}

static void print(const char *label, const result *r) {
  printf("  %-28s median %5lld ns, p99 %6lld ns, p99.9 %6lld ns; untimed "
         "mean %.1f ns; %llu allocations\n",
         label, (long long)r->median, (long long)r->p99, (long long)r->p999,
         r->untimed_mean, (unsigned long long)r->allocations);
}

int main(int argc, char **argv) {
  long tasks = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "capture");
  int64_t *lat = malloc((size_t)tasks * sizeof *lat);
  int64_t clock_cost[1000];
  for (int i = 0; i < 1000; i++) {
    int64_t a = bench_now();
    clock_cost[i] = bench_now() - a;
  }
  int64_t clk = bench_percentile(clock_cost, 1000, 0.5);
  result plain = run(dir, "plain.db", 0, tasks, lat);
  result tel = run(dir, "telemetry.db", 1, tasks, lat);
  free(lat);

  printf("capture: %ld tasks, begin+end with %zu+%zu bytes of JSON (clock "
         "read of %lld ns included)\n",
         tasks, strlen(USED), strlen(GENERATED), (long long)clk);
  print("no per-task telemetry:", &plain);
  print("per-task telemetry (level 1):", &tel);
  printf("{\"bench\":\"capture\",\"tasks\":%ld,\"clock_ns\":%lld,"
         "\"median_ns\":%lld,\"p99_ns\":%lld,\"p999_ns\":%lld,"
         "\"untimed_mean_ns\":%.1f,\"allocations\":%llu,"
         "\"telemetry_median_ns\":%lld,\"telemetry_p99_ns\":%lld,"
         "\"telemetry_untimed_mean_ns\":%.1f}\n",
         tasks, (long long)clk, (long long)plain.median,
         (long long)plain.p99, (long long)plain.p999, plain.untimed_mean,
         (unsigned long long)plain.allocations, (long long)tel.median,
         (long long)tel.p99, tel.untimed_mean);
  return bench_rmdir(dir);
}

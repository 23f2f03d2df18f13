/*
 * bench_capture.c -- caller-thread cost of task begin + end.
 *
 * Times each begin+end pair (with ~100 bytes of used and generated JSON)
 * over 1,000,000 tasks while the shipper drains the journal into SQLite on
 * the other core, and reports the median, p99 and p99.9, the cost of the
 * clock read itself (included in each figure), the untimed loop's mean, and
 * the allocations made by the capture calls (should be 0).
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

int main(int argc, char **argv) {
  long tasks = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "capture");
  mida_session_t *s = bench_open(dir, "capture.db", 64u << 20);
  mida_task_info_t ti = {.activity = "train_step", .used = USED};
  mida_id_t t;

  for (int i = 0; i < 10000; i++) { /* warm up: pages, ids, caches */
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
  }
  mida_flush(s, -1);

  int64_t *lat = malloc((size_t)tasks * sizeof *lat);
  int64_t clock_cost[1000];
  for (int i = 0; i < 1000; i++) {
    int64_t a = bench_now();
    clock_cost[i] = bench_now() - a;
  }
  uint64_t allocs = mida__alloc_count_thread();
  for (long i = 0; i < tasks; i++) {
    int64_t a = bench_now();
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
    lat[i] = bench_now() - a;
  }
  allocs = mida__alloc_count_thread() - allocs;
  mida_flush(s, -1);

  /* The same loop untimed, for the mean without the clock reads. */
  int64_t start = bench_now();
  for (long i = 0; i < tasks; i++) {
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, GENERATED, NULL);
  }
  double mean_untimed = (double)(bench_now() - start) / (double)tasks;
  mida_stats_t st;
  mida_stats_get(s, &st);
  mida_close(s);

  int64_t med = bench_percentile(lat, (size_t)tasks, 0.5);
  int64_t p99 = bench_percentile(lat, (size_t)tasks, 0.99);
  int64_t p999 = bench_percentile(lat, (size_t)tasks, 0.999);
  int64_t clk = bench_percentile(clock_cost, 1000, 0.5);
  printf("capture: %ld tasks, begin+end with %zu+%zu bytes of JSON\n", tasks,
         strlen(USED), strlen(GENERATED));
  printf("  median %lld ns, p99 %lld ns, p99.9 %lld ns (clock read %lld ns "
         "included)\n",
         (long long)med, (long long)p99, (long long)p999, (long long)clk);
  printf("  untimed mean %.1f ns per task; %llu allocations in the loop; "
         "%llu records dropped\n",
         mean_untimed, (unsigned long long)allocs,
         (unsigned long long)st.dropped);
  printf("{\"bench\":\"capture\",\"tasks\":%ld,\"median_ns\":%lld,"
         "\"p99_ns\":%lld,\"p999_ns\":%lld,\"clock_ns\":%lld,"
         "\"untimed_mean_ns\":%.1f,\"allocations\":%llu,\"dropped\":%llu}\n",
         tasks, (long long)med, (long long)p99, (long long)p999, (long long)clk,
         mean_untimed, (unsigned long long)allocs,
         (unsigned long long)st.dropped);
  free(lat);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : 1;
}

/*
 * bench_telemetry.c -- what telemetry costs.
 *
 * 1. Per-task telemetry: times each mida_task_begin + mida_task_end pair
 *    through the public API at telemetry levels 0 (off), 1 (default: one
 *    getrusage per call) and 2 (plus the thread and process CPU clocks),
 *    the sampler off, and reports the median and p99 of each and the
 *    difference to level 0 -- the per-task telemetry's own cost, which the
 *    DESIGN budgets at 1 us. The levels are interleaved in rounds so that
 *    a noisy neighbour hits all of them alike.
 * 2. The sampler: opens a session sampling everything at 1 Hz, then at
 *    10 Hz, for SECONDS each, and reports the CPU time of the sampler
 *    thread (its own CPU clock) as a share of one core. The DESIGN budget
 *    is < 0.1 % at 1 Hz.
 *
 *   bench_telemetry [TASKS_PER_LEVEL [SECONDS]]   (default 300000, 20)
 */
#include "benchutil.h"
#include "telemetry/telemetry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static mida_session_t *open_level(const char *dir, const char *name,
                                  int level, double hz) {
  char url[700];
  snprintf(url, sizeof url, "sqlite://%s/%s", dir, name);
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.journal_bytes = 64u << 20;
  cfg.telemetry_task = level;
  cfg.sample_hz = hz;
  cfg.sample = NULL;
  mida_session_t *s = NULL;
  char err[512];
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "bench_telemetry: %s\n", err);
    exit(1);
  }
  return s;
}

/* The sampler's CPU share of one core over secs seconds at hz. */
static double sampler_share(const char *dir, double hz, int secs,
                            uint64_t *samples) {
  mida__telemetry_stats a, b;
  mida__telemetry_stats_get(&a);
  char name[64];
  snprintf(name, sizeof name, "sampler-%g.db", hz);
  mida_session_t *s = open_level(dir, name, 1, hz);
  int64_t t0 = bench_now();
  struct timespec nap = {secs, 0};
  nanosleep(&nap, NULL);
  int64_t wall = bench_now() - t0;
  mida__telemetry_stats_get(&b); /* before close: no final sample */
  mida_close(s);
  *samples = (b.samples - a.samples) + (b.host_samples - a.host_samples);
  /* The sampler thread's CPU clock starts at 0 in each new thread. */
  return 100.0 * (double)b.sampler_cpu_ns / (double)wall;
}

int main(int argc, char **argv) {
  long tasks = argc > 1 ? strtol(argv[1], NULL, 10) : 300000;
  int secs = argc > 2 ? atoi(argv[2]) : 20;
  if (tasks < 1000 || secs < 1) {
    fprintf(stderr, "usage: bench_telemetry [TASKS>=1000 [SECONDS>=1]]\n");
    return 2;
  }
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "telemetry");

  mida_session_t *s[3];
  const char *names[3] = {"level0.db", "level1.db", "level2.db"};
  for (int l = 0; l < 3; l++)
    s[l] = open_level(dir, names[l], l, 0);
  mida_task_info_t ti = {.activity = "step"};
  mida_id_t t;
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < 10000; i++) { /* warm up */
      mida_task_begin(s[l], &ti, &t);
      mida_task_end(s[l], &t, MIDA_STATUS_FINISHED, NULL, NULL);
    }
  int64_t *lat[3];
  for (int l = 0; l < 3; l++)
    lat[l] = malloc((size_t)tasks * sizeof(int64_t));
  const long round = 1000;
  for (long base = 0; base < tasks; base += round) {
    for (int l = 0; l < 3; l++) {
      for (long i = base; i < base + round && i < tasks; i++) {
        int64_t a = bench_now();
        mida_task_begin(s[l], &ti, &t);
        mida_task_end(s[l], &t, MIDA_STATUS_FINISHED, NULL, NULL);
        lat[l][i] = bench_now() - a;
      }
    }
  }
  for (int l = 0; l < 3; l++)
    mida_close(s[l]);
  int64_t med[3], p99[3];
  for (int l = 0; l < 3; l++) {
    med[l] = bench_percentile(lat[l], (size_t)tasks, 0.5);
    p99[l] = bench_percentile(lat[l], (size_t)tasks, 0.99);
    printf("level %d  begin+end  median %5lld ns  p99 %6lld ns  (%ld tasks)\n",
           l, (long long)med[l], (long long)p99[l], tasks);
  }
  printf("per-task telemetry cost (level 1 - level 0): median %lld ns, "
         "p99 %lld ns\n",
         (long long)(med[1] - med[0]), (long long)(p99[1] - p99[0]));
  printf("with CPU clocks    (level 2 - level 0): median %lld ns, "
         "p99 %lld ns\n",
         (long long)(med[2] - med[0]), (long long)(p99[2] - p99[0]));

  uint64_t n1 = 0, n10 = 0;
  double share1 = sampler_share(dir, 1, secs, &n1);
  double share10 = sampler_share(dir, 10, secs, &n10);
  printf("sampler at  1 Hz: %.4f %% of one core (%llu records in %d s)\n",
         share1, (unsigned long long)n1, secs);
  printf("sampler at 10 Hz: %.4f %% of one core (%llu records in %d s)\n",
         share10, (unsigned long long)n10, secs);

  if (bench_rmdir(dir) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  printf("{\"bench\":\"telemetry\",\"tasks\":%ld,"
         "\"level0_median_ns\":%lld,\"level0_p99_ns\":%lld,"
         "\"level1_median_ns\":%lld,\"level1_p99_ns\":%lld,"
         "\"level2_median_ns\":%lld,\"level2_p99_ns\":%lld,"
         "\"task_telemetry_median_ns\":%lld,\"task_telemetry_p99_ns\":%lld,"
         "\"sampler_1hz_core_pct\":%.5f,\"sampler_10hz_core_pct\":%.5f,"
         "\"sampler_seconds\":%d}\n",
         tasks, (long long)med[0], (long long)p99[0], (long long)med[1],
         (long long)p99[1], (long long)med[2], (long long)p99[2],
         (long long)(med[1] - med[0]), (long long)(p99[1] - p99[0]), share1,
         share10, secs);
  return 0;
}

/*
 * benchutil.c -- helpers for the benchmarks (benchutil.h).
 */
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int64_t bench_percentile(int64_t *v, size_t n, double q) {
  qsort(v, n, sizeof *v, cmp_i64);
  size_t i = (size_t)(q * (double)(n - 1));
  return v[i];
}

void bench_tmpdir(char *buf, size_t len, const char *tag) {
  const char *base = getenv("MIDA_BENCH_DIR");
  snprintf(buf, len, "%s/mida-bench-%s-XXXXXX", base ? base : "/tmp", tag);
  if (mkdtemp(buf) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
}

mida_session_t *bench_open(const char *dir, const char *name, size_t ring) {
  char url[1024], err[512];
  snprintf(url, sizeof url, "sqlite://%s/%s", dir, name);
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.campaign = "bench";
  if (ring)
    cfg.journal_bytes = ring;
  mida_session_t *s = NULL;
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "bench: cannot open %s: %s\n", url, err);
    exit(1);
  }
  return s;
}

static long status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL)
    return -1;
  char line[256];
  long kb = -1;
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, field, n) == 0)
      kb = strtol(line + n, NULL, 10);
  fclose(f);
  return kb;
}

long bench_rss_kb(void) {
  return status_kb("VmRSS:");
}
long bench_peak_rss_kb(void) {
  return status_kb("VmHWM:");
}

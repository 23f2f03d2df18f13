/*
 * benchutil.c -- helpers for the benchmarks (benchutil.h).
 */
#include "benchutil.h"

#include "core/clock.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t bench_now(void) {
  return mida__monotonic_ns();
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

int bench_keep(void) {
  const char *keep = getenv("BENCH_KEEP");
  return keep != NULL && strcmp(keep, "1") == 0;
}

/* The scratch directories made by bench_tmpdir, removed at exit. */
enum { BENCH_MAX_TMPDIRS = 64 };
static char *tmpdirs[BENCH_MAX_TMPDIRS];
static int n_tmpdirs;
static pid_t tmpdirs_owner; /* a forked child that exits leaves them */

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0)
    perror(path);
  return 0;
}

static int remove_tree(const char *dir) {
  if (access(dir, F_OK) != 0)
    return 0;
  return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 &&
                 access(dir, F_OK) != 0
             ? 0
             : 1;
}

int bench_rmdir(const char *dir) {
  return bench_keep() ? 0 : remove_tree(dir);
}

static void remove_tmpdirs(void) {
  if (getpid() != tmpdirs_owner)
    return;
  for (int i = 0; i < n_tmpdirs; i++) {
    remove_tree(tmpdirs[i]);
    free(tmpdirs[i]);
  }
  n_tmpdirs = 0;
}

void bench_tmpdir(char *buf, size_t len, const char *tag) {
  const char *base = getenv("MIDA_BENCH_DIR");
  snprintf(buf, len, "%s/mida-bench-%s-XXXXXX", base ? base : "/tmp", tag);
  if (mkdtemp(buf) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  if (bench_keep())
    return;
  if (n_tmpdirs == BENCH_MAX_TMPDIRS) {
    fprintf(stderr, "bench: more than %d scratch directories\n",
            BENCH_MAX_TMPDIRS);
    exit(1);
  }
  if (n_tmpdirs == 0) {
    tmpdirs_owner = getpid();
    atexit(remove_tmpdirs);
  }
  tmpdirs[n_tmpdirs] = strdup(buf);
  if (tmpdirs[n_tmpdirs] == NULL) {
    perror("strdup");
    exit(1);
  }
  n_tmpdirs++;
}

void bench_remove_sqlite(const char *path) {
  if (bench_keep())
    return;
  char p[4096];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
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

/*
 * bench_preload_calls.c -- what one intercepted call costs (issue 14):
 * open+close of a file, and a read of 4 KiB from the page cache, in ns per
 * call. bench/bench_preload.py runs it twice, plain and under `mida run`
 * (so with libmida_preload.so in LD_PRELOAD), and prints the difference.
 *
 *   bench_preload_calls DIR [N]
 *
 * Prints one JSON line: {"open_close_ns": {"median":..}, "read4k_ns": ..}
 * with the median and the 10th/90th percentiles of 15 rounds of N calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 15

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void print_stat(const char *name, double *v, int last) {
  qsort(v, ROUNDS, sizeof v[0], compare);
  printf("\"%s\":{\"median\":%.1f,\"p10\":%.1f,\"p90\":%.1f}%s", name,
         v[ROUNDS / 2], v[ROUNDS / 10], v[ROUNDS * 9 / 10], last ? "" : ",");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_preload_calls DIR [N]\n");
    return 2;
  }
  long n = argc > 2 ? atol(argv[2]) : 20000;
  char path[4096];
  snprintf(path, sizeof path, "%s/bench_preload_calls.dat", argv[1]);
  static char buf[4096];
  memset(buf, 'x', sizeof buf);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
    return 1;
  close(fd);
  double oc[ROUNDS], rd[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      int f = open(path, O_RDONLY);
      if (f < 0)
        return 1;
      close(f);
    }
    oc[r] = (now_ns() - t0) / n;
    fd = open(path, O_RDONLY);
    t0 = now_ns();
    for (long i = 0; i < n; i++)
      if (pread(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
        return 1;
    rd[r] = (now_ns() - t0) / n;
    close(fd);
  }
  printf("{\"calls\":%ld,", n);
  print_stat("open_close_ns", oc, 0);
  print_stat("read4k_ns", rd, 1);
  printf("}\n");
  unlink(path);
  return 0;
}

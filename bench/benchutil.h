/*
 * benchutil.h -- timing, percentiles and store set-up shared by the
 * benchmarks.
 */
#ifndef MIDA_BENCHUTIL_H
#define MIDA_BENCHUTIL_H

#include "mida.h"

#include <stddef.h>
#include <stdint.h>

/* Monotonic clock in nanoseconds. */
int64_t bench_now(void);

/* Sorts v (n values) and returns the value at fraction q (0..1). */
int64_t bench_percentile(int64_t *v, size_t n, double q);

/* Whether BENCH_KEEP=1 asks to keep the benchmarks' stores. */
int bench_keep(void);

/* A fresh scratch directory; its path is written into buf. It and all in
 * it are removed at exit, unless BENCH_KEEP=1. */
void bench_tmpdir(char *buf, size_t len, const char *tag);

/* Removes dir and all in it now, unless BENCH_KEEP=1; 0 when done (or
 * kept), 1 when something is left. */
int bench_rmdir(const char *dir);

/* Removes an SQLite store file and its -wal and -shm files, unless
 * BENCH_KEEP=1. */
void bench_remove_sqlite(const char *path);

/* Opens a session on sqlite://dir/name with the given journal ring size;
 * exits with a message on failure. */
mida_session_t *bench_open(const char *dir, const char *name, size_t ring);

/* The process's resident set now and at its peak, in KiB. */
long bench_rss_kb(void);
long bench_peak_rss_kb(void);

#endif

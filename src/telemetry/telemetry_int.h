/*
 * telemetry_int.h -- what the per-task half (task.c) and the sampler half
 * (sampler.c) of the telemetry floor share; private to src/telemetry/.
 *
 * The counters are process-wide and reported by mida__telemetry_stats_get.
 * The GPUs' energy counters are written by the sampler at each host sample
 * and read by the per-task snapshots, so a task's summary can give the
 * energy its GPUs used. The small JSON writer builds both the task
 * summaries and the samples into fixed buffers, with no allocation.
 */
#ifndef MIDA_TELEMETRY_INT_H
#define MIDA_TELEMETRY_INT_H

#include "telemetry/telemetry.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Counters, process-wide; see mida__telemetry_stats for their meaning. */
struct mida__telemetry_counters {
  atomic_uint_fast64_t samples, host_samples, sampler_cpu_ns;
  atomic_uint_fast64_t read_errors, parse_errors, truncated, put_errors;
  atomic_uint_fast64_t task_unmatched, task_evicted, task_reused, gpus;
  atomic_uint_fast64_t gpu_libraries_missing, gpu_symbols_missing;
  atomic_uint_fast64_t gpu_init_failures, gpu_read_errors;
  atomic_uint_fast64_t tree_skipped, tree_unlisted;
  atomic_int leader;
};
extern struct mida__telemetry_counters mida__telemetry_counters;

/* The GPUs' energy counters as last read by the sampler, for the task
 * summaries: millijoules, and a mask of the GPUs that have one. */
extern atomic_uint_fast64_t mida__gpu_energy_mj[MIDA_TELEMETRY_GPUS];
extern atomic_uint mida__gpu_energy_mask;

static inline void telemetry_count(atomic_uint_fast64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline int64_t ts_ns(const struct timespec *t) {
  return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* A small JSON writer into a fixed buffer; overflow is remembered. */
typedef struct jbuf {
  char *p;       /* output */
  size_t cap;    /* bytes at p */
  size_t len;    /* bytes written */
  int overflow;  /* 1 once something did not fit */
} jbuf;

static inline void jb_raw(jbuf *b, const char *s, size_t n) {
  if (b->overflow || n >= b->cap - b->len) {
    b->overflow = 1;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static inline void jb_str(jbuf *b, const char *s) { jb_raw(b, s, strlen(s)); }

/* Writes "key": after a comma unless it is the first in its object. */
static inline void jb_key(jbuf *b, const char *key) {
  char last = b->len > 0 ? b->p[b->len - 1] : '{';
  if (last != '{' && last != '[')
    jb_raw(b, ",", 1);
  jb_raw(b, "\"", 1);
  jb_str(b, key);
  jb_raw(b, "\":", 2);
}

static inline void jb_i64(jbuf *b, const char *key, int64_t v) {
  char num[24];
  char *e = num + sizeof num;
  char *q = e;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0)
    *--q = '-';
  jb_key(b, key);
  jb_raw(b, q, (size_t)(e - q));
}

/* Writes "key":"text" with the text escaped as JSON requires. */
static inline void jb_text(jbuf *b, const char *key, const char *text) {
  jb_key(b, key);
  jb_raw(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)text; *p != 0; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      jb_raw(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      jb_raw(b, esc, 6);
    } else {
      jb_raw(b, (const char *)p, 1);
    }
  }
  jb_raw(b, "\"", 1);
}

static inline void jb_f64(jbuf *b, const char *key, double v) {
  char num[48];
  int n = snprintf(num, sizeof num, "%.6g", v);
  if (n <= 0 || (size_t)n >= sizeof num || v != v || v - v != 0)
    return; /* NaN or infinity: left out, JSON has no word for them */
  jb_key(b, key);
  jb_raw(b, num, (size_t)n);
}

#endif /* MIDA_TELEMETRY_INT_H */

/*
 * mlflow_lives.c -- the lives of an MLflow run (mlflow_lives.h): how what
 * MLflow says of a run now moves its life, and the cursor text that keeps
 * a life across the observer's restarts.
 */
#include "observe/mlflow_lives.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mida__mlf_life_step(mida__mlf_life *life, bool ended, int64_t start_ns,
                         int64_t now_ns) {
  if (life->n == 0) {
    life->n = 1;
    life->started_ns = start_ns;
    life->ended = ended;
    return true;
  }
  if (!ended && life->ended) { /* resumed */
    life->n++;
    life->started_ns = now_ns;
    life->ended = false;
    return true;
  }
  if (ended && !life->ended) {
    life->ended = true;
    return true;
  }
  return false;
}

size_t mida__mlf_life_format(const mida__mlf_life *life, char *buf,
                             size_t cap) {
  int n = snprintf(buf, cap, "%" PRId64 " %" PRId64 " %c", life->n,
                   life->started_ns, life->ended ? 'E' : 'R');
  return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Parses a decimal int64 at *p (an optional '-', then digits), moving *p
 * past it; false when there is none or it overflows. */
static bool parse_i64(const char **p, int64_t *out) {
  const char *s = *p;
  bool neg = *s == '-';
  if (neg)
    s++;
  if (*s < '0' || *s > '9')
    return false;
  int64_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    int d = *s - '0';
    if (v > (INT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = neg ? -v : v;
  *p = s;
  return true;
}

bool mida__mlf_life_parse(const char *text, mida__mlf_life *life) {
  const char *p = text;
  int64_t n, started;
  if (!parse_i64(&p, &n) || n < 1 || *p++ != ' ' ||
      !parse_i64(&p, &started) || *p++ != ' ' || (*p != 'R' && *p != 'E') ||
      p[1] != '\0')
    return false;
  life->n = n;
  life->started_ns = started;
  life->ended = *p == 'E';
  return true;
}

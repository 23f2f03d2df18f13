/*
 * rusage.c -- a struct rusage as a task's telemetry JSON (see rusage.h).
 */
#include "core/rusage.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>

static int64_t tv_ns(const struct timeval *t) {
  return (int64_t)t->tv_sec * 1000000000 + (int64_t)t->tv_usec * 1000;
}

size_t mida__rusage_json(const struct rusage *ru, char *buf, size_t cap) {
  if (cap < MIDA_RUSAGE_JSON_MAX) {
    if (cap > 0)
      buf[0] = '\0';
    return 0;
  }
  int64_t user = tv_ns(&ru->ru_utime), sys = tv_ns(&ru->ru_stime);
  int64_t in = ru->ru_inblock, out = ru->ru_oublock;
  int n = snprintf(
      buf, cap,
      "{\"cpu_process_ns\":%" PRId64 ",\"cpu_user_ns\":%" PRId64
      ",\"cpu_system_ns\":%" PRId64 ",\"maxrss_kb\":%ld"
      ",\"ctx_voluntary\":%ld,\"ctx_involuntary\":%ld"
      ",\"in_blocks\":%" PRId64 ",\"out_blocks\":%" PRId64
      ",\"read_bytes\":%" PRId64 ",\"write_bytes\":%" PRId64
      ",\"minflt\":%ld,\"majflt\":%ld}",
      user + sys, user, sys, ru->ru_maxrss, ru->ru_nvcsw, ru->ru_nivcsw, in,
      out, in * 512, out * 512, ru->ru_minflt, ru->ru_majflt);
  if (n < 0 || (size_t)n >= cap) {
    buf[0] = '\0';
    return 0;
  }
  return (size_t)n;
}

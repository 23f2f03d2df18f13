/*
 * bench_preload_stdio_calls.c -- what the preload library adds to one
 * stdio output call after the first (src/preload/stdio_write.c,
 * stdio_wide.c): the check of the stream's descriptor entry and its
 * marks, in ns per call.
 *
 *   LD_PRELOAD=libmida_preload.so MIDA_PRELOAD_SPOOL=DIR \
 *     bench_preload_stdio_calls [N] | cat > /dev/null
 *
 * stdout must be a pipe (a descriptor the library tracks, announced at
 * the first call). Each call is timed both ways in the one process, in
 * alternating rounds of N calls: through the wrapper (the name the
 * program links to) and through libc's own function (dlopen of
 * libc.so.6), so that both see the same machine; a busy machine moves
 * both alike. Prints, on stderr, one line a call: the lowest ns per call
 * of the rounds each way, and the difference. Without the library the
 * difference is ~0.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define ROUNDS 41

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

typedef int (*narrow_fn)(int, FILE *);
typedef wint_t (*wide_fn)(wchar_t, FILE *);

static double narrow_round(narrow_fn f, FILE *s, long n) {
  double t0 = now_ns();
  for (long i = 0; i < n; i++)
    f('x', s);
  return (now_ns() - t0) / n;
}

static double wide_round(wide_fn f, FILE *s, long n) {
  double t0 = now_ns();
  for (long i = 0; i < n; i++)
    f(L'x', s);
  return (now_ns() - t0) / n;
}

static void report(const char *name, double wrapped, double own) {
  fprintf(stderr, "%-16s wrapper %6.2f ns  libc %6.2f ns  added %5.2f ns\n",
          name, wrapped, own, wrapped - own);
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (libc == NULL) {
    fprintf(stderr, "no libc.so.6\n");
    return 1;
  }
  narrow_fn own_putc = (narrow_fn)dlsym(libc, "putc");
  narrow_fn own_fputc = (narrow_fn)dlsym(libc, "fputc");
  wide_fn own_fputwc = (wide_fn)dlsym(libc, "fputwc");
  wide_fn own_putwc = (wide_fn)dlsym(libc, "putwc");
  if (own_putc == NULL || own_fputc == NULL || own_fputwc == NULL ||
      own_putwc == NULL)
    return 1;
  /* Through the PLT, as a program calls them (the wrappers, if any). */
  narrow_fn putc_p = putc, fputc_p = fputc;
  wide_fn fputwc_p = fputwc, putwc_p = putwc;

  /* A narrow stream and a wide one, both over the pipe on stdout. */
  FILE *narrow = stdout;
  FILE *wide = fdopen(dup(1), "w");
  if (wide == NULL || fwide(wide, 1) <= 0)
    return 1;
  double best[8];
  for (int k = 0; k < 8; k++)
    best[k] = 1e30;
  for (int r = 0; r < ROUNDS; r++) {
    double v[8] = {
        narrow_round(putc_p, narrow, n),
        narrow_round(own_putc, narrow, n),
        narrow_round(fputc_p, narrow, n),
        narrow_round(own_fputc, narrow, n),
        wide_round(fputwc_p, wide, n),
        wide_round(own_fputwc, wide, n),
        wide_round(putwc_p, wide, n),
        wide_round(own_putwc, wide, n),
    };
    for (int k = 0; k < 8; k++)
      if (v[k] < best[k])
        best[k] = v[k];
  }
  report("putc", best[0], best[1]);
  report("fputc", best[2], best[3]);
  report("fputwc", best[4], best[5]);
  report("putwc", best[6], best[7]);
  return 0;
}

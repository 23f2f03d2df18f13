/*
 * progress.c -- the progress line of long verbs (cli.h, "progress"): a
 * counter on standard error, redrawn in place at most five times a second,
 * only when standard error is a terminal; nothing at all otherwise, so
 * that logs and pipes never receive carriage returns.
 */
#include "cli/cli.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void mida__cli_progress_init(mida__cli_progress *p, const char *label) {
  p->label = label;
  p->on = isatty(STDERR_FILENO);
  p->at = 0;
  p->shown = 0;
}

void mida__cli_progress_show(mida__cli_progress *p, int now, const char *fmt,
                             ...) {
  if (!p->on)
    return;
  double t = (double)mida__monotonic_ns() / 1e9;
  if (!now && t - p->at < 0.2)
    return;
  p->at = t;
  p->shown = 1;
  fprintf(stderr, "\r%s: ", p->label);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs("  ", stderr);
  fflush(stderr);
}

void mida__cli_progress_end(mida__cli_progress *p) {
  if (p->shown)
    fputc('\n', stderr);
  p->shown = 0;
}

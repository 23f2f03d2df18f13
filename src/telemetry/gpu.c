/*
 * gpu.c -- the GPU readings of the telemetry sampler across vendor
 * backends (see gpu.h): tries each backend named by MIDA_GPU_BACKENDS,
 * keeps those that found devices, and maps a global device index to a
 * backend and its own index.
 */
#include "telemetry/gpu.h"

#include "core/alloc.h"
#include "core/env.h"
#include "mida.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BACKENDS 2

struct mida__gpu {
  struct {
    const mida__gpu_backend *be; /* the backend */
    void *state;                 /* its state */
    unsigned first;              /* global index of its device 0 */
    unsigned count;              /* its devices (capped) */
  } open[MAX_BACKENDS];
  int nopen;          /* entries of open */
  unsigned count;     /* devices across backends */
  mida__gpu_stats st; /* counters and the first reason */
};

void mida__gpu_note(mida__gpu_stats *st, const char *fmt, ...) {
  if (st->note[0] != '\0')
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->note, sizeof st->note, fmt, ap);
  va_end(ap);
}

/* Whether the comma list names backend name. */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *p = list; *p != '\0';) {
    const char *end = strchr(p, ',');
    size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (len == n && strncmp(p, name, n) == 0)
      return 1;
    p += len + (end != NULL ? 1 : 0);
  }
  return 0;
}

int mida__gpu_open(mida__gpu **out) {
  mida__gpu *g = mida__calloc(1, sizeof *g);
  *out = g;
  if (g == NULL)
    return MIDA_ENOMEM;
  char *chosen = mida__env_dup("MIDA_GPU_BACKENDS");
  const char *list = chosen != NULL ? chosen : "nvml,amdsmi";
  const mida__gpu_backend *all[MAX_BACKENDS] = {&mida__gpu_nvml,
                                                &mida__gpu_amdsmi};
  for (int i = 0; i < MAX_BACKENDS; i++) {
    if (!listed(list, all[i]->name))
      continue;
    void *state = NULL;
    unsigned count = 0;
    if (all[i]->open(&state, &count, &g->st) != MIDA_OK)
      continue;
    if (count == 0 || g->count >= MIDA_GPU_MAX) {
      all[i]->close(state);
      continue;
    }
    if (count > MIDA_GPU_MAX - g->count)
      count = MIDA_GPU_MAX - g->count;
    g->open[g->nopen].be = all[i];
    g->open[g->nopen].state = state;
    g->open[g->nopen].first = g->count;
    g->open[g->nopen].count = count;
    g->nopen++;
    g->count += count;
  }
  mida__free(chosen);
  if (g->count == 0)
    mida__gpu_note(&g->st, "no GPU found");
  return MIDA_OK;
}

unsigned mida__gpu_count(const mida__gpu *g) { return g ? g->count : 0; }

void mida__gpu_read(mida__gpu *g, unsigned i, mida__gpu_reading *r) {
  memset(r, 0, sizeof *r);
  for (int b = 0; b < g->nopen; b++) {
    if (i >= g->open[b].first && i < g->open[b].first + g->open[b].count) {
      g->open[b].be->read(g->open[b].state, i - g->open[b].first, r, &g->st);
      return;
    }
  }
}

void mida__gpu_stats_get(const mida__gpu *g, mida__gpu_stats *out) {
  if (g == NULL) {
    memset(out, 0, sizeof *out);
    return;
  }
  *out = g->st;
}

void mida__gpu_close(mida__gpu *g) {
  if (g == NULL)
    return;
  for (int b = 0; b < g->nopen; b++)
    g->open[b].be->close(g->open[b].state);
  mida__free(g);
}

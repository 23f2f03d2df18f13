/*
 * gpu_amdsmi.c -- AMD GPUs through the AMD SMI library, loaded at run time
 * (see gpu.h).
 *
 * The library (libamd_smi.so from ROCm; override: MIDA_AMDSMI_LIBRARY) is
 * dlopen()ed and initialised for GPUs only (AMDSMI_INIT_AMD_GPUS). Devices
 * are found socket by socket (amdsmi_get_socket_handles, then
 * amdsmi_get_processor_handles). The declarations below follow amdsmi.h's
 * documented ABI: amdsmi_status_t is an int-sized enum whose 0 is
 * AMDSMI_STATUS_SUCCESS, handles are opaque pointers.
 *
 * Read per device: activity (amdsmi_get_gpu_activity: gfx and memory
 * controller %), VRAM (amdsmi_get_gpu_vram_usage, MB), energy
 * (amdsmi_get_energy_count: a counter times its resolution in microjoules)
 * and temperature (amdsmi_get_temp_metric, hotspot sensor, current value).
 * Power is derived from two energy readings (watts = joules / seconds):
 * amdsmi_power_info_t changed its layout between ROCm 6 and ROCm 7, and
 * reading a struct whose layout depends on the installed version is how a
 * monitor ends up printing garbage. The structs that are read are given
 * generous reserved tails, so a newer library that writes a few more
 * fields stays inside them.
 */
#include "telemetry/gpu.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/env.h"
#include "mida.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* ---- amdsmi's ABI, as documented ----------------------------------------- */

typedef int amdsmi_status_t;
typedef void *amdsmi_socket_handle;
typedef void *amdsmi_processor_handle;
#define AMDSMI_STATUS_SUCCESS 0
#define AMDSMI_STATUS_NOT_SUPPORTED 2
#define AMDSMI_INIT_AMD_GPUS (1ULL << 1)
#define AMDSMI_TEMPERATURE_TYPE_HOTSPOT 1 /* = JUNCTION */
#define AMDSMI_TEMP_CURRENT 0

typedef struct {
  uint32_t gfx_activity; /* % */
  uint32_t umc_activity; /* memory controller, % */
  uint32_t rest[30];     /* mm_activity and reserved words, any version */
} amdsmi_engine_usage_t;

typedef struct {
  uint32_t vram_total; /* MB */
  uint32_t vram_used;  /* MB */
  uint32_t reserved[14];
} amdsmi_vram_usage_t;

typedef amdsmi_status_t (*init_fn)(uint64_t flags);
typedef amdsmi_status_t (*shutdown_fn)(void);
typedef amdsmi_status_t (*sockets_fn)(uint32_t *, amdsmi_socket_handle *);
typedef amdsmi_status_t (*procs_fn)(amdsmi_socket_handle, uint32_t *,
                                    amdsmi_processor_handle *);
typedef amdsmi_status_t (*activity_fn)(amdsmi_processor_handle,
                                       amdsmi_engine_usage_t *);
typedef amdsmi_status_t (*vram_fn)(amdsmi_processor_handle,
                                   amdsmi_vram_usage_t *);
typedef amdsmi_status_t (*energy_fn)(amdsmi_processor_handle, uint64_t *,
                                     float *, uint64_t *);
typedef amdsmi_status_t (*temp_fn)(amdsmi_processor_handle, int, int,
                                   int64_t *);

#define MAX_SOCKETS 16

enum { NS_ACT = 1, NS_VRAM = 2, NS_ENERGY = 4, NS_TEMP = 8 };

typedef struct amd {
  void *lib;               /* dlopen handle */
  shutdown_fn shutdown;    /* amdsmi_shut_down */
  activity_fn activity;    /* amdsmi_get_gpu_activity */
  vram_fn vram;            /* amdsmi_get_gpu_vram_usage */
  energy_fn energy;        /* amdsmi_get_energy_count */
  temp_fn temp;            /* amdsmi_get_temp_metric */
  unsigned count;          /* devices */
  amdsmi_processor_handle dev[MIDA_GPU_MAX]; /* device handles */
  uint32_t unsupported[MIDA_GPU_MAX];        /* NS_* bits per device */
  uint64_t last_uj[MIDA_GPU_MAX];            /* last energy, microjoules */
  int64_t last_ns[MIDA_GPU_MAX];             /* when it was read */
} amd;

static void *sym(void *lib, const char *name, mida__gpu_stats *st) {
  void *p = dlsym(lib, name);
  if (p == NULL) {
    st->symbols_missing++;
    mida__gpu_note(st, "AMD SMI library lacks %s", name);
  }
  return p;
}

#define FN(type, p) ((type)(uintptr_t)(p))

static int amd_open(void **state, unsigned *count, mida__gpu_stats *st) {
  *state = NULL;
  *count = 0;
  char *chosen = mida__env_dup("MIDA_AMDSMI_LIBRARY");
  const char *path =
      chosen != NULL && chosen[0] != '\0' ? chosen : "libamd_smi.so";
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    st->libraries_missing++;
    const char *why = dlerror();
    mida__gpu_note(st, "no AMD SMI: %s", why != NULL ? why : path);
    mida__free(chosen);
    return MIDA_EUNSUPPORTED;
  }
  mida__free(chosen);
  init_fn init = FN(init_fn, sym(lib, "amdsmi_init", st));
  shutdown_fn shutdown = FN(shutdown_fn, sym(lib, "amdsmi_shut_down", st));
  sockets_fn sockets = FN(sockets_fn, sym(lib, "amdsmi_get_socket_handles",
                                          st));
  procs_fn processors =
      FN(procs_fn, sym(lib, "amdsmi_get_processor_handles", st));
  if (init == NULL || shutdown == NULL || sockets == NULL ||
      processors == NULL) {
    dlclose(lib);
    return MIDA_EUNSUPPORTED;
  }
  amdsmi_status_t r = init(AMDSMI_INIT_AMD_GPUS);
  if (r != AMDSMI_STATUS_SUCCESS) {
    st->init_failures++;
    mida__gpu_note(st, "amdsmi_init failed (status %d)", r);
    dlclose(lib);
    return MIDA_EUNSUPPORTED;
  }
  amd *a = mida__calloc(1, sizeof *a);
  if (a == NULL) {
    shutdown();
    dlclose(lib);
    return MIDA_ENOMEM;
  }
  a->lib = lib;
  a->shutdown = shutdown;
  a->activity = FN(activity_fn, sym(lib, "amdsmi_get_gpu_activity", st));
  a->vram = FN(vram_fn, sym(lib, "amdsmi_get_gpu_vram_usage", st));
  a->energy = FN(energy_fn, sym(lib, "amdsmi_get_energy_count", st));
  a->temp = FN(temp_fn, sym(lib, "amdsmi_get_temp_metric", st));

  amdsmi_socket_handle sock[MAX_SOCKETS];
  uint32_t nsock = MAX_SOCKETS;
  r = sockets(&nsock, sock);
  if (r != AMDSMI_STATUS_SUCCESS) {
    st->read_errors++;
    mida__gpu_note(st, "amdsmi_get_socket_handles failed (status %d)", r);
    nsock = 0;
  }
  if (nsock > MAX_SOCKETS)
    nsock = MAX_SOCKETS;
  for (uint32_t s = 0; s < nsock && a->count < MIDA_GPU_MAX; s++) {
    uint32_t n = MIDA_GPU_MAX - a->count;
    r = processors(sock[s], &n, a->dev + a->count);
    if (r != AMDSMI_STATUS_SUCCESS) {
      st->read_errors++;
      continue;
    }
    a->count += n < MIDA_GPU_MAX - a->count ? n : MIDA_GPU_MAX - a->count;
  }
  *state = a;
  *count = a->count;
  return MIDA_OK;
}

static int failed(amd *a, unsigned i, uint32_t bit, amdsmi_status_t r,
                  mida__gpu_stats *st) {
  if (r == AMDSMI_STATUS_SUCCESS)
    return 0;
  st->read_errors++;
  if (r == AMDSMI_STATUS_NOT_SUPPORTED)
    a->unsupported[i] |= bit;
  return 1;
}

static int askable(const amd *a, unsigned i, const void *fn, uint32_t bit) {
  return fn != NULL && (a->unsupported[i] & bit) == 0;
}

static void amd_read(void *state, unsigned i, mida__gpu_reading *r,
                     mida__gpu_stats *st) {
  amd *a = state;
  r->vendor = "amd";
  r->index = i;
  if (i >= a->count)
    return;
  amdsmi_processor_handle dev = a->dev[i];
  if (askable(a, i, (const void *)(uintptr_t)a->activity, NS_ACT)) {
    amdsmi_engine_usage_t u;
    memset(&u, 0, sizeof u);
    if (!failed(a, i, NS_ACT, a->activity(dev, &u), st)) {
      r->util_pct = u.gfx_activity;
      r->mem_util_pct = u.umc_activity;
      r->have |= MIDA_GPU_HAVE_UTIL | MIDA_GPU_HAVE_MEM_UTIL;
    }
  }
  if (askable(a, i, (const void *)(uintptr_t)a->vram, NS_VRAM)) {
    amdsmi_vram_usage_t v;
    memset(&v, 0, sizeof v);
    if (!failed(a, i, NS_VRAM, a->vram(dev, &v), st)) {
      r->mem_used_bytes = (uint64_t)v.vram_used << 20;
      r->mem_total_bytes = (uint64_t)v.vram_total << 20;
      r->have |= MIDA_GPU_HAVE_MEM;
    }
  }
  if (askable(a, i, (const void *)(uintptr_t)a->energy, NS_ENERGY)) {
    uint64_t acc = 0, ts = 0;
    float resolution = 0;
    if (!failed(a, i, NS_ENERGY, a->energy(dev, &acc, &resolution, &ts),
                st)) {
      uint64_t uj = (uint64_t)((double)acc * resolution);
      int64_t now = mida__monotonic_ns();
      r->energy_mj = uj / 1000;
      r->have |= MIDA_GPU_HAVE_ENERGY;
      if (a->last_ns[i] != 0 && now > a->last_ns[i] && uj >= a->last_uj[i]) {
        r->power_w = (double)(uj - a->last_uj[i]) / 1e6 /
                     ((double)(now - a->last_ns[i]) / 1e9);
        r->have |= MIDA_GPU_HAVE_POWER;
      }
      a->last_uj[i] = uj;
      a->last_ns[i] = now;
    }
  }
  if (askable(a, i, (const void *)(uintptr_t)a->temp, NS_TEMP)) {
    int64_t c = 0;
    if (!failed(a, i, NS_TEMP,
                a->temp(dev, AMDSMI_TEMPERATURE_TYPE_HOTSPOT,
                        AMDSMI_TEMP_CURRENT, &c),
                st)) {
      r->temp_c = c;
      r->have |= MIDA_GPU_HAVE_TEMP;
    }
  }
}

static void amd_close(void *state) {
  amd *a = state;
  if (a == NULL)
    return;
  a->shutdown();
  dlclose(a->lib);
  mida__free(a);
}

const mida__gpu_backend mida__gpu_amdsmi = {"amdsmi", amd_open, amd_read,
                                            amd_close};

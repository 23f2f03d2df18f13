/*
 * gpu_nvml.c -- NVIDIA GPUs through NVML, loaded at run time (see gpu.h).
 *
 * The library (libnvidia-ml.so.1, installed with the driver; override:
 * MIDA_NVML_LIBRARY) is dlopen()ed and its entry points are looked up by
 * their versioned names (nvmlInit_v2, nvmlDeviceGetCount_v2, ...): the
 * unversioned names are old ABIs kept for binary compatibility. The
 * declarations below follow NVML's documented ABI (nvml.h, API version
 * 11/12): nvmlReturn_t is an int-sized enum whose 0 is NVML_SUCCESS,
 * nvmlDevice_t an opaque pointer, and the structs are laid out as written.
 *
 * Required: nvmlInit_v2, nvmlShutdown, nvmlDeviceGetCount_v2,
 * nvmlDeviceGetHandleByIndex_v2; without any of them the backend is not
 * used. Every other entry point is optional: missing, it is counted once
 * and its fields are left out. A call that answers NOT_SUPPORTED (e.g.
 * total energy before Volta) is counted once per device and not asked
 * again.
 */
#include "telemetry/gpu.h"

#include "core/alloc.h"
#include "core/env.h"
#include "mida.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

/* ---- NVML's ABI, as documented ------------------------------------------- */

typedef int nvmlReturn_t;                /* enum nvmlReturn_enum */
typedef struct nvmlDevice_st *nvmlDevice_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_VALUE_NOT_AVAILABLE (~0ULL) /* a value the driver cannot give */
#define NVML_TEMPERATURE_GPU 0 /* nvmlTemperatureSensors_t */
#define NVML_CLOCK_SM 1        /* nvmlClockType_t */
#define NVML_CLOCK_MEM 2

typedef struct nvmlUtilization_st {
  unsigned int gpu;    /* % of the period a kernel was running */
  unsigned int memory; /* % of the period memory was read or written */
} nvmlUtilization_t;

typedef struct nvmlMemory_st {
  unsigned long long total; /* bytes */
  unsigned long long free;  /* bytes */
  unsigned long long used;  /* bytes */
} nvmlMemory_t;

typedef struct nvmlProcessInfo_v2_st { /* what the _v3 call fills */
  unsigned int pid;
  unsigned long long usedGpuMemory; /* bytes */
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef nvmlReturn_t (*init_fn)(void);
typedef nvmlReturn_t (*count_fn)(unsigned int *);
typedef nvmlReturn_t (*handle_fn)(unsigned int, nvmlDevice_t *);
typedef nvmlReturn_t (*util_fn)(nvmlDevice_t, nvmlUtilization_t *);
typedef nvmlReturn_t (*mem_fn)(nvmlDevice_t, nvmlMemory_t *);
typedef nvmlReturn_t (*uint_fn)(nvmlDevice_t, unsigned int *);
typedef nvmlReturn_t (*ull_fn)(nvmlDevice_t, unsigned long long *);
typedef nvmlReturn_t (*temp_fn)(nvmlDevice_t, int, unsigned int *);
typedef nvmlReturn_t (*clock_fn)(nvmlDevice_t, int, unsigned int *);
typedef nvmlReturn_t (*procs_fn)(nvmlDevice_t, unsigned int *,
                                 nvmlProcessInfo_t *);

/* Bits of a device's "not supported" mask: one per optional call. */
enum {
  NS_UTIL = 1 << 0,
  NS_MEM = 1 << 1,
  NS_POWER = 1 << 2,
  NS_ENERGY = 1 << 3,
  NS_TEMP = 1 << 4,
  NS_CLOCK = 1 << 5,
  NS_PROCS = 1 << 6
};

typedef struct nvml {
  void *lib;             /* dlopen handle */
  init_fn shutdown;      /* nvmlShutdown */
  handle_fn get_handle;  /* nvmlDeviceGetHandleByIndex_v2 */
  util_fn utilization;   /* nvmlDeviceGetUtilizationRates */
  mem_fn memory;         /* nvmlDeviceGetMemoryInfo */
  uint_fn power;         /* nvmlDeviceGetPowerUsage (mW) */
  ull_fn energy;         /* nvmlDeviceGetTotalEnergyConsumption (mJ) */
  temp_fn temperature;   /* nvmlDeviceGetTemperature (C) */
  clock_fn clock;        /* nvmlDeviceGetClockInfo (MHz) */
  procs_fn processes;    /* nvmlDeviceGetComputeRunningProcesses_v3 */
  unsigned count;        /* devices */
  uint32_t unsupported[MIDA_GPU_MAX]; /* NS_* bits per device */
} nvml;

/* Looks a symbol up; a missing one is counted and noted. */
static void *sym(void *lib, const char *name, mida__gpu_stats *st) {
  void *p = dlsym(lib, name);
  if (p == NULL) {
    st->symbols_missing++;
    mida__gpu_note(st, "NVML library lacks %s", name);
  }
  return p;
}

/* Casts an object pointer from dlsym() to a function pointer (POSIX
 * guarantees the conversion works). */
#define FN(type, p) ((type)(uintptr_t)(p))

static int nvml_open(void **state, unsigned *count, mida__gpu_stats *st) {
  *state = NULL;
  *count = 0;
  char *chosen = mida__env_dup("MIDA_NVML_LIBRARY");
  const char *path =
      chosen != NULL && chosen[0] != '\0' ? chosen : "libnvidia-ml.so.1";
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    st->libraries_missing++;
    const char *why = dlerror();
    mida__gpu_note(st, "no NVML: %s", why != NULL ? why : path);
    mida__free(chosen);
    return MIDA_EUNSUPPORTED;
  }
  mida__free(chosen);
  init_fn init = FN(init_fn, sym(lib, "nvmlInit_v2", st));
  init_fn shutdown = FN(init_fn, sym(lib, "nvmlShutdown", st));
  count_fn get_count = FN(count_fn, sym(lib, "nvmlDeviceGetCount_v2", st));
  handle_fn get_handle =
      FN(handle_fn, sym(lib, "nvmlDeviceGetHandleByIndex_v2", st));
  if (init == NULL || shutdown == NULL || get_count == NULL ||
      get_handle == NULL) {
    dlclose(lib);
    return MIDA_EUNSUPPORTED;
  }
  nvmlReturn_t r = init();
  if (r != NVML_SUCCESS) {
    st->init_failures++;
    mida__gpu_note(st, "nvmlInit_v2 failed (NVML error %d)", r);
    dlclose(lib);
    return MIDA_EUNSUPPORTED;
  }
  unsigned int n = 0;
  r = get_count(&n);
  if (r != NVML_SUCCESS) {
    st->read_errors++;
    mida__gpu_note(st, "nvmlDeviceGetCount_v2 failed (NVML error %d)", r);
    n = 0;
  }
  nvml *v = mida__calloc(1, sizeof *v);
  if (v == NULL) {
    shutdown();
    dlclose(lib);
    return MIDA_ENOMEM;
  }
  v->lib = lib;
  v->shutdown = shutdown;
  v->get_handle = get_handle;
  v->utilization =
      FN(util_fn, sym(lib, "nvmlDeviceGetUtilizationRates", st));
  v->memory = FN(mem_fn, sym(lib, "nvmlDeviceGetMemoryInfo", st));
  v->power = FN(uint_fn, sym(lib, "nvmlDeviceGetPowerUsage", st));
  v->energy =
      FN(ull_fn, sym(lib, "nvmlDeviceGetTotalEnergyConsumption", st));
  v->temperature = FN(temp_fn, sym(lib, "nvmlDeviceGetTemperature", st));
  v->clock = FN(clock_fn, sym(lib, "nvmlDeviceGetClockInfo", st));
  v->processes = FN(
      procs_fn, sym(lib, "nvmlDeviceGetComputeRunningProcesses_v3", st));
  v->count = n < MIDA_GPU_MAX ? n : MIDA_GPU_MAX;
  *state = v;
  *count = v->count;
  return MIDA_OK;
}

/* Counts a failed call; NOT_SUPPORTED is remembered, so that the call is
 * not asked again and is counted once. */
static int failed(nvml *v, unsigned i, uint32_t bit, nvmlReturn_t r,
                  mida__gpu_stats *st) {
  if (r == NVML_SUCCESS)
    return 0;
  st->read_errors++;
  if (r == NVML_ERROR_NOT_SUPPORTED)
    v->unsupported[i] |= bit;
  return 1;
}

static int askable(const nvml *v, unsigned i, const void *fn, uint32_t bit) {
  return fn != NULL && (v->unsupported[i] & bit) == 0;
}

static void nvml_read(void *state, unsigned i, mida__gpu_reading *r,
                      mida__gpu_stats *st) {
  nvml *v = state;
  r->vendor = "nvidia";
  r->index = i;
  if (i >= v->count)
    return;
  nvmlDevice_t dev = NULL;
  nvmlReturn_t rc = v->get_handle(i, &dev);
  if (rc != NVML_SUCCESS) {
    st->read_errors++;
    return;
  }
  if (askable(v, i, (const void *)(uintptr_t)v->utilization, NS_UTIL)) {
    nvmlUtilization_t u;
    if (!failed(v, i, NS_UTIL, v->utilization(dev, &u), st)) {
      r->util_pct = u.gpu;
      r->mem_util_pct = u.memory;
      r->have |= MIDA_GPU_HAVE_UTIL | MIDA_GPU_HAVE_MEM_UTIL;
    }
  }
  if (askable(v, i, (const void *)(uintptr_t)v->memory, NS_MEM)) {
    nvmlMemory_t m;
    if (!failed(v, i, NS_MEM, v->memory(dev, &m), st)) {
      r->mem_used_bytes = m.used;
      r->mem_total_bytes = m.total;
      r->have |= MIDA_GPU_HAVE_MEM;
    }
  }
  if (askable(v, i, (const void *)(uintptr_t)v->power, NS_POWER)) {
    unsigned int mw;
    if (!failed(v, i, NS_POWER, v->power(dev, &mw), st)) {
      r->power_w = mw / 1000.0;
      r->have |= MIDA_GPU_HAVE_POWER;
    }
  }
  if (askable(v, i, (const void *)(uintptr_t)v->energy, NS_ENERGY)) {
    unsigned long long mj;
    if (!failed(v, i, NS_ENERGY, v->energy(dev, &mj), st)) {
      r->energy_mj = mj;
      r->have |= MIDA_GPU_HAVE_ENERGY;
    }
  }
  if (askable(v, i, (const void *)(uintptr_t)v->temperature, NS_TEMP)) {
    unsigned int c;
    if (!failed(v, i, NS_TEMP, v->temperature(dev, NVML_TEMPERATURE_GPU, &c),
                st)) {
      r->temp_c = c;
      r->have |= MIDA_GPU_HAVE_TEMP;
    }
  }
  if (askable(v, i, (const void *)(uintptr_t)v->clock, NS_CLOCK)) {
    unsigned int sm, mem;
    if (!failed(v, i, NS_CLOCK, v->clock(dev, NVML_CLOCK_SM, &sm), st) &&
        !failed(v, i, NS_CLOCK, v->clock(dev, NVML_CLOCK_MEM, &mem), st)) {
      r->sm_clock_mhz = sm;
      r->mem_clock_mhz = mem;
      r->have |= MIDA_GPU_HAVE_CLOCKS;
    }
  }
  if (askable(v, i, (const void *)(uintptr_t)v->processes, NS_PROCS)) {
    nvmlProcessInfo_t info[MIDA_GPU_MAX_PROCS];
    unsigned int n = MIDA_GPU_MAX_PROCS;
    memset(info, 0, sizeof info);
    rc = v->processes(dev, &n, info);
    /* INSUFFICIENT_SIZE: more processes than we list; NVML then fills
     * nothing, so the list is left out (and counted). */
    if (failed(v, i, NS_PROCS, rc, st))
      n = 0;
    else
      r->have |= MIDA_GPU_HAVE_PROCS;
    if (n > MIDA_GPU_MAX_PROCS)
      n = MIDA_GPU_MAX_PROCS;
    unsigned int kept = 0;
    for (unsigned int k = 0; k < n; k++) {
      r->procs[kept].pid = info[k].pid;
      /* NVML_VALUE_NOT_AVAILABLE (no permission to see another container's
       * or user's process, MIG, ...): no figure, which a 0 would look
       * like -- a process holding no device memory. */
      int known = info[k].usedGpuMemory != NVML_VALUE_NOT_AVAILABLE;
      r->procs[kept].has_mem = known;
      r->procs[kept].mem_bytes = known ? info[k].usedGpuMemory : 0;
      kept++;
    }
    n = kept;
    r->nprocs = (int)n;
  }
}

static void nvml_close(void *state) {
  nvml *v = state;
  if (v == NULL)
    return;
  v->shutdown();
  dlclose(v->lib);
  mida__free(v);
}

const mida__gpu_backend mida__gpu_nvml = {"nvml", nvml_open, nvml_read,
                                          nvml_close};

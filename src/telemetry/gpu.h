/*
 * gpu.h -- GPU readings for the telemetry sampler, from vendor libraries
 * loaded at run time.
 *
 * mida links against no GPU library: it builds and runs where there is no
 * GPU. When the sampler starts, mida__gpu_open() tries each backend (one
 * file each behind the method table below: gpu_nvml.c for NVIDIA's NVML,
 * gpu_amdsmi.c for AMD's amdsmi), which dlopen()s its vendor library and
 * looks up the entry points it uses by their versioned names. The types
 * those entry points take are declared in each backend from the vendor's
 * documented ABI; no vendor header is needed.
 *
 * What cannot be had is no error: no library, no device, or a library
 * without an entry point gives no readings (or readings without the
 * fields that entry point would fill). Each such event is counted in
 * mida__gpu_stats, and the first reason is kept as one line of text
 * (`note`) for a debug message -- library code prints nothing.
 *
 * Environment overrides (for tests and unusual installs):
 *   MIDA_NVML_LIBRARY    path or name of the NVML library
 *                        (default libnvidia-ml.so.1)
 *   MIDA_AMDSMI_LIBRARY  path or name of the amdsmi library
 *                        (default libamd_smi.so)
 *   MIDA_GPU_BACKENDS    comma list of backends to try (nvml,amdsmi);
 *                        empty or "none": no GPU readings
 *
 * Threads: a mida__gpu is used by one thread (the sampler's).
 */
#ifndef MIDA_OBSERVE_GPU_H
#define MIDA_OBSERVE_GPU_H

#include <stdint.h>

#define MIDA_GPU_MAX 16      /* devices read, across backends */
#define MIDA_GPU_MAX_PROCS 32 /* processes listed per device */

/* Which fields of a reading were read (bits of mida__gpu_reading.have). */
enum {
  MIDA_GPU_HAVE_UTIL = 1 << 0,     /* util_pct */
  MIDA_GPU_HAVE_MEM_UTIL = 1 << 1, /* mem_util_pct */
  MIDA_GPU_HAVE_MEM = 1 << 2,      /* mem_used_bytes, mem_total_bytes */
  MIDA_GPU_HAVE_POWER = 1 << 3,    /* power_w */
  MIDA_GPU_HAVE_ENERGY = 1 << 4,   /* energy_mj */
  MIDA_GPU_HAVE_TEMP = 1 << 5,     /* temp_c */
  MIDA_GPU_HAVE_CLOCKS = 1 << 6,   /* sm_clock_mhz, mem_clock_mhz */
  MIDA_GPU_HAVE_PROCS = 1 << 7     /* nprocs, procs */
};

/* One device's values at one moment. */
typedef struct mida__gpu_reading {
  const char *vendor;      /* "nvidia" or "amd" (static storage) */
  unsigned index;          /* the device's index within its backend */
  uint32_t have;           /* MIDA_GPU_HAVE_* bits */
  uint32_t util_pct;       /* compute utilization over the last period, % */
  uint32_t mem_util_pct;   /* memory-controller utilization, % */
  uint64_t mem_used_bytes; /* device memory in use, bytes */
  uint64_t mem_total_bytes; /* device memory, bytes */
  double power_w;          /* power draw, watts */
  uint64_t energy_mj;      /* energy counter, millijoules (monotonic) */
  int64_t temp_c;          /* temperature, degrees Celsius */
  uint32_t sm_clock_mhz;   /* SM / graphics clock, MHz */
  uint32_t mem_clock_mhz;  /* memory clock, MHz */
  int nprocs;              /* entries in procs */
  struct {
    uint32_t pid;          /* process id (host pid namespace) */
    uint64_t mem_bytes;    /* device memory the process uses, bytes */
    int has_mem;           /* 1: mem_bytes was read; 0: the driver could
                              not say (left out of the sample, never 0) */
  } procs[MIDA_GPU_MAX_PROCS];
} mida__gpu_reading;

/* What went missing or wrong, counted since mida__gpu_open(). */
typedef struct mida__gpu_stats {
  uint64_t libraries_missing; /* vendor libraries that could not be loaded */
  uint64_t symbols_missing;   /* entry points a loaded library lacks */
  uint64_t init_failures;     /* libraries whose init call failed */
  uint64_t read_errors;       /* calls that returned an error */
  char note[256];             /* the first reason, as one line; "" if none */
} mida__gpu_stats;

/* A vendor backend: one file each. */
typedef struct mida__gpu_backend {
  const char *name; /* "nvml", "amdsmi" */
  /* Loads the library and counts devices. Returns MIDA_OK (with *count
   * possibly 0) or MIDA_EUNSUPPORTED when the backend cannot be used; the
   * reason is counted in st. */
  int (*open)(void **state, unsigned *count, mida__gpu_stats *st);
  /* Reads device i into r (which the caller zeroed). Fields that cannot be
   * read are left out of r->have and counted in st. */
  void (*read)(void *state, unsigned i, mida__gpu_reading *r,
               mida__gpu_stats *st);
  void (*close)(void *state);
} mida__gpu_backend;

extern const mida__gpu_backend mida__gpu_nvml;
extern const mida__gpu_backend mida__gpu_amdsmi;

typedef struct mida__gpu mida__gpu;

/* Tries the backends named by MIDA_GPU_BACKENDS (default: all). Never fails
 * for want of a GPU: *out is a handle with zero or more devices. Returns
 * MIDA_OK, or MIDA_ENOMEM. Free with mida__gpu_close(). */
int mida__gpu_open(mida__gpu **out);

/* Devices found, across backends (at most MIDA_GPU_MAX). */
unsigned mida__gpu_count(const mida__gpu *g);

/* Reads device i (0 <= i < count) into r. */
void mida__gpu_read(mida__gpu *g, unsigned i, mida__gpu_reading *r);

/* Copies the counters and the note. */
void mida__gpu_stats_get(const mida__gpu *g, mida__gpu_stats *out);

/* Shuts the backends down and unloads them. NULL is allowed. */
void mida__gpu_close(mida__gpu *g);

/* For the backends: records a reason in st->note if none is there yet. */
void mida__gpu_note(mida__gpu_stats *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* MIDA_OBSERVE_GPU_H */

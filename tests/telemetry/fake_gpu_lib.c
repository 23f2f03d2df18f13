/*
 * fake_gpu_lib.c -- stand-ins for the GPU vendor libraries, built by the
 * tests as small shared libraries that export only some entry points, so
 * that gpu_test.c can check what mida does with a library whose symbols
 * are missing. Not an imitation of a GPU: the values are fixed numbers the
 * test looks for. One source, three builds:
 *   FAKE_NVML_PARTIAL  NVML's required calls, power, energy and memory;
 *                      no utilization, temperature, clocks or processes;
 *   FAKE_NVML_NOINIT   only nvmlDeviceGetCount_v2 (no nvmlInit_v2);
 *   FAKE_AMD_PARTIAL   amdsmi's discovery calls and the energy counter;
 *   FAKE_NVML_PROCS    NVML's required calls and the process list: one
 *                      process with its memory, one whose memory the
 *                      driver cannot give (NVML_VALUE_NOT_AVAILABLE).
 * The signatures follow the vendors' documented ABIs (see gpu_nvml.c and
 * gpu_amdsmi.c).
 */
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

#if defined(FAKE_NVML_PARTIAL) || defined(FAKE_NVML_NOINIT) ||             \
    defined(FAKE_NVML_PROCS)
EXPORT int nvmlDeviceGetCount_v2(unsigned int *n) {
  *n = 2;
  return 0;
}
#endif

#if defined(FAKE_NVML_PARTIAL) || defined(FAKE_NVML_PROCS)
EXPORT int nvmlInit_v2(void) { return 0; }
EXPORT int nvmlShutdown(void) { return 0; }
EXPORT int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **dev) {
  *dev = (void *)(uintptr_t)(0x1000 + i);
  return 0;
}
#endif

#if defined(FAKE_NVML_PROCS)
typedef struct {
  unsigned int pid;
  unsigned long long used_memory; /* bytes, or ~0: not available */
  unsigned int gpu_instance, compute_instance;
} fake_process;
EXPORT int nvmlDeviceGetComputeRunningProcesses_v3(void *dev, unsigned int *n,
                                                   fake_process *info) {
  (void)dev;
  if (*n < 2) {
    *n = 2;
    return 7; /* NVML_ERROR_INSUFFICIENT_SIZE */
  }
  info[0] = (fake_process){1111, 512ULL << 20, 0, 0};
  info[1] = (fake_process){2222, ~0ULL, 0, 0};
  *n = 2;
  return 0;
}
#endif

#if defined(FAKE_NVML_PARTIAL)
static unsigned long long energy_mj = 5000000;

EXPORT int nvmlDeviceGetPowerUsage(void *dev, unsigned int *mw) {
  (void)dev;
  *mw = 150000;
  return 0;
}
EXPORT int nvmlDeviceGetTotalEnergyConsumption(void *dev,
                                               unsigned long long *mj) {
  (void)dev;
  energy_mj += 1000; /* one joule more at every reading */
  *mj = energy_mj;
  return 0;
}
typedef struct {
  unsigned long long total, free, used;
} fake_memory;
EXPORT int nvmlDeviceGetMemoryInfo(void *dev, fake_memory *m) {
  (void)dev;
  m->total = 80ULL << 30;
  m->used = 1ULL << 30;
  m->free = m->total - m->used;
  return 0;
}
#endif

#if defined(FAKE_AMD_PARTIAL)
static uint64_t counter = 1000;
EXPORT int amdsmi_init(uint64_t flags) {
  (void)flags;
  return 0;
}
EXPORT int amdsmi_shut_down(void) { return 0; }
EXPORT int amdsmi_get_socket_handles(uint32_t *n, void **sockets) {
  if (sockets != 0 && *n >= 1)
    sockets[0] = (void *)0x10;
  *n = 1;
  return 0;
}
EXPORT int amdsmi_get_processor_handles(void *socket, uint32_t *n,
                                        void **procs) {
  (void)socket;
  if (procs != 0 && *n >= 1)
    procs[0] = (void *)0x20;
  *n = 1;
  return 0;
}
EXPORT int amdsmi_get_energy_count(void *dev, uint64_t *acc, float *res,
                                   uint64_t *ts) {
  (void)dev;
  counter += 100000; /* 100000 * 15.3 uJ = 1.53 J per reading */
  *acc = counter;
  *res = 15.3f;
  *ts = 0;
  return 0;
}
#endif

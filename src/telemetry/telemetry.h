/*
 * telemetry.h -- resource use: per task, measured by the capture calls, and
 * sampled, by one thread per process.
 *
 * Per task. mida_task_begin() takes a snapshot of the calling thread's
 * resource counters and keeps it in a small per-thread stack keyed by the
 * task's id; mida_task_end() takes a second one on the same thread, and
 * the differences become the task record's TELEMETRY field (a JSON object,
 * merged into task.telemetry by the store). Keeping the snapshot in the
 * thread, rather than in the begin record for the store to subtract, means
 * the store never has to pair records and the summary is exact whatever
 * order records arrive in; it costs nothing to allocate (the stack is
 * thread-local, MIDA_TELEMETRY_STACK deep, so nested tasks work) and it
 * needs begin and end on the same thread -- which is also the only case
 * where a thread's CPU time means anything. An end without a snapshot
 * (another thread, or one evicted because more than MIDA_TELEMETRY_STACK
 * tasks were open at once on the thread) records no summary and is
 * counted.
 *
 * Levels (MIDA_TELEMETRY_TASK, mida_config_t.telemetry_task):
 *   0  off: no system call on the capture path (the DESIGN's 300 ns budget);
 *   1  default: one getrusage(RUSAGE_THREAD) per snapshot -- thread CPU
 *      time (user + system, microsecond resolution), the process's peak
 *      RSS, voluntary and involuntary context switches, blocks read and
 *      written (the kernel's per-thread storage I/O accounting); a begin
 *      snapshot reuses the thread's latest snapshot when that is at most
 *      MIDA_TELEMETRY_REUSE_NS old (a task begun right after another ended
 *      or began), so back-to-back tasks make one getrusage() each;
 *   2  adds clock_gettime(CLOCK_THREAD_CPUTIME_ID) (nanosecond thread CPU)
 *      and clock_gettime(CLOCK_PROCESS_CPUTIME_ID) (CPU of the whole
 *      process during the task) -- two more system calls per snapshot.
 *
 * The summary's keys (all integers unless said):
 *   cpu_thread_ns      CPU time of the thread between begin and end
 *   cpu_process_ns     CPU time of the whole process (level 2 only)
 *   maxrss_kb          the process's peak resident set at the end, KiB
 *   maxrss_delta_kb    how much that peak grew during the task, KiB
 *   ctx_voluntary      voluntary context switches of the thread (waits)
 *   ctx_involuntary    involuntary context switches (preemptions)
 *   in_blocks, out_blocks  512-byte blocks the thread made the kernel read
 *                      from / queue for writing to storage (ru_inblock,
 *                      ru_oublock; page-cache hits are not reads, and a
 *                      write counts when it dirties the page cache)
 *   read_bytes, write_bytes  the same in bytes (blocks * 512)
 *   gpuN_energy_j      (float) energy used by GPU N during the task, from
 *                      the sampler's latest readings of its energy counter
 *                      at begin and end (resolution: the sampling period);
 *                      only in the process that samples the GPUs
 *
 * Sampler. One thread per process (the first session to open starts it,
 * MIDA_SAMPLE_HZ times a second, 1 by default, 0 = off). Each sample reads
 * the process's /proc/self/{stat,statm,io,status} and becomes one
 * MIDA_REC_TELEMETRY record (HOST, PID, TS, WORKFLOW, METADATA = the values
 * as JSON). Host-wide values -- /proc/stat, meminfo, loadavg, net/dev,
 * diskstats and the GPUs -- are read by one process per host: the one that
 * holds an exclusive flock() on "<spool>/telemetry.<host>.lock"; it writes
 * them as a record with PID 0. The others retry the lock every few
 * seconds, so the host is sampled once however many processes capture,
 * and again after its sampler exits. MIDA_SAMPLE (comma list of proc, sys,
 * net, disk, gpu; default all) switches subsystems. `mida run` has its
 * sampler sample its command's processes too, each as a record with its
 * own PID (mida__telemetry_sample_tree below).
 */
#ifndef MIDA_TELEMETRY_TELEMETRY_H
#define MIDA_TELEMETRY_TELEMETRY_H

#include "core/record.h"
#include "core/shared_id.h"
#include "mida.h"

#include <stddef.h>
#include <stdint.h>

#define MIDA_TELEMETRY_STACK 32 /* open tasks remembered per thread */
#define MIDA_TELEMETRY_GPUS 8   /* GPUs whose energy a task summary gives */
#define MIDA_TELEMETRY_JSON_MAX 1024 /* bytes a task summary takes at most */
/* A begin snapshot reuses the thread's latest one up to this old (level 1),
 * ns: about the resolution of getrusage's times (1 us each for user and
 * system time). */
#define MIDA_TELEMETRY_REUSE_NS 2000

/* ---- per task ------------------------------------------------------------ */

/* Takes the begin snapshot of task on the calling thread. level as above
 * (0: does nothing); now_ns: the wall clock (mida_now_ns) as the caller
 * has just read it, or 0 to have it read here when needed. No allocation;
 * level 1 makes at most one system call. */
void mida__telemetry_task_begin(int level, const mida_id_t *task,
                                int64_t now_ns);

/* Takes the end snapshot of task on the calling thread and writes the
 * summary, a JSON object, into buf (cap >= MIDA_TELEMETRY_JSON_MAX). Returns
 * its length, or 0 when there is no summary (level 0, or no begin snapshot
 * on this thread: counted). When now_ns is not NULL it receives the wall
 * clock read right after the snapshot (mida_now_ns), or 0 when none was
 * taken, so that the caller need not read the clock again. */
size_t mida__telemetry_task_end(int level, const mida_id_t *task, char *buf,
                                size_t cap, int64_t *now_ns);

/* ---- the sampler --------------------------------------------------------- */

/* Subsystems (bits of a mask). */
enum {
  MIDA_SAMPLE_PROC = 1 << 0, /* /proc/self/{stat,statm,io,status} */
  MIDA_SAMPLE_SYS = 1 << 1,  /* /proc/{stat,meminfo,loadavg} */
  MIDA_SAMPLE_NET = 1 << 2,  /* /proc/net/dev */
  MIDA_SAMPLE_DISK = 1 << 3, /* /proc/diskstats */
  MIDA_SAMPLE_GPU = 1 << 4,  /* NVML / amdsmi */
  MIDA_SAMPLE_ALL = 0x1f
};

/* Parses a MIDA_SAMPLE list ("proc,sys,net,disk,gpu", "all", "none").
 * Returns the mask, or -1 for an unknown name. NULL gives MIDA_SAMPLE_ALL. */
int mida__telemetry_parse_sample(const char *list);

typedef struct mida__sampler mida__sampler;

/* Where the sampler's records go: called on the sampler's thread with a
 * record to append; returns MIDA_OK or an error (the sample is counted in
 * put_errors). */
typedef int (*mida__sample_put_fn)(void *ctx, const mida__rec *rec);

typedef struct mida__sampler_config {
  double hz;                       /* samples a second; <= 0: none */
  int mask;                        /* MIDA_SAMPLE_* subsystems */
  const char *spool;               /* directory of the host lock file */
  mida__sample_put_fn put;         /* where records go */
  void *put_ctx;                   /* put's first argument */
  const mida__shared_id *workflow; /* stamped on samples; may be NULL */
} mida__sampler_config;

/* Starts the sampler at cfg->hz samples a second over the subsystems of
 * cfg->mask, with its host lock file in cfg->spool. put, put_ctx and
 * workflow must stay valid until mida__sampler_stop. Only one sampler
 * runs per process: if one is running already, *out is NULL and the
 * result MIDA_OK. hz <= 0 or mask 0: nothing is started. Returns MIDA_OK,
 * MIDA_ENOMEM, or MIDA_EIO if the thread cannot be started. */
int mida__sampler_start(const mida__sampler_config *cfg,
                        mida__sampler **out);

/* Takes a last sample, stops the thread, releases the host lock, and
 * writes the telemetry counters as MIDA_REC_COUNTER records. NULL is
 * allowed. */
void mida__sampler_stop(mida__sampler *sp);

/* Counters, process-wide, since the process started. */
typedef struct mida__telemetry_stats {
  uint64_t samples;          /* process samples recorded */
  uint64_t host_samples;     /* host samples recorded (as host leader) */
  uint64_t sampler_cpu_ns;   /* CPU time the sampler thread used */
  uint64_t read_errors;      /* /proc files that could not be read */
  uint64_t parse_errors;     /* /proc files that made no sense */
  uint64_t truncated;        /* /proc files cut at the buffer's size */
  uint64_t put_errors;       /* samples the journal refused (counted) */
  uint64_t task_unmatched;   /* task ends without a begin snapshot */
  uint64_t task_evicted;     /* snapshots pushed out of a full stack */
  uint64_t task_reused;      /* begin snapshots that reused the latest */
  uint64_t gpus;             /* GPUs found by the sampler */
  uint64_t gpu_libraries_missing; /* see mida__gpu_stats */
  uint64_t gpu_symbols_missing;
  uint64_t gpu_init_failures;
  uint64_t gpu_read_errors;
  uint64_t tree_skipped;     /* samples of the tree's processes not taken
                                in a tick (TREE_SAMPLES_MAX, sampler.c) */
  uint64_t tree_unlisted;    /* /proc entries not looked at for the tree
                                (MIDA_TREE_PIDS_MAX, tree.h) */
  int leader;                /* 1 while this process samples the host */
  char gpu_note[256];        /* why there are no (or fewer) GPU readings */
} mida__telemetry_stats;

void mida__telemetry_stats_get(mida__telemetry_stats *out);

/* Makes the sampler sample, besides this process, the process root and
 * every descendant of it (found by listing /proc, src/telemetry/tree.h),
 * each as a process sample under its own pid, so that the samples join
 * each process's task (task_telemetry_v: by host, pid and time); and take
 * a sample now. At most TREE_SAMPLES_MAX (sampler.c) of them a tick, in
 * turn. A process that exits between the listing and its reading has no
 * sample, and no error is counted. 0 stops it. For `mida run`, which
 * samples its command so (src/cli/run.c); holds for a sampler started
 * later too. Thread-safe. */
void mida__telemetry_sample_tree(int64_t root);

/* Tests only: makes the sampler read root/<pid_dir>/... instead of
 * /proc/self/... and root/... instead of /proc/... (NULL: the defaults).
 * Call before mida_open(). */
void mida__telemetry_set_proc(const char *root, const char *pid_dir);

#endif /* MIDA_TELEMETRY_TELEMETRY_H */

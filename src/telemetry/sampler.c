/*
 * sampler.c -- the sampler thread (see telemetry.h for what is sampled and
 * why it is done this way), and the telemetry counters.
 *
 * Data path: the sampler builds MIDA_REC_TELEMETRY records and hands them
 * to the put callback it was started with (the session's journal append,
 * in src/api/session.c), so samples reach the store through the journal
 * and the shipper like every other record. It knows nothing of the
 * session: the callback and the shared default workflow are all it sees.
 *
 * Under `mida run` it also samples the command's processes, each under
 * its own pid (mida__telemetry_sample_tree; which processes: tree.h), at
 * most TREE_SAMPLES_MAX a tick, in turn.
 *
 * The sampler allocates everything it needs once, when it starts (its
 * read buffer, its JSON buffer, the GPU handle) or when it is given a
 * tree to sample (its lists), and nothing per sample.
 */
#include "telemetry/telemetry_int.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/env.h"
#include "core/host.h"
#include "telemetry/gpu.h"
#include "telemetry/proc.h"
#include "telemetry/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- counters ------------------------------------------------------------ */

struct mida__telemetry_counters mida__telemetry_counters;

static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static char gpu_note[256]; /* guarded by note_lock */

atomic_uint_fast64_t mida__gpu_energy_mj[MIDA_TELEMETRY_GPUS];
atomic_uint mida__gpu_energy_mask;

void mida__telemetry_stats_get(mida__telemetry_stats *out) {
  memset(out, 0, sizeof *out);
#define LOAD(f)                                                                \
  out->f = atomic_load_explicit(&mida__telemetry_counters.f,                   \
                                memory_order_relaxed)
  LOAD(samples);
  LOAD(host_samples);
  LOAD(sampler_cpu_ns);
  LOAD(read_errors);
  LOAD(parse_errors);
  LOAD(truncated);
  LOAD(put_errors);
  LOAD(task_unmatched);
  LOAD(task_evicted);
  LOAD(task_reused);
  LOAD(gpus);
  LOAD(gpu_libraries_missing);
  LOAD(gpu_symbols_missing);
  LOAD(gpu_init_failures);
  LOAD(gpu_read_errors);
  LOAD(tree_skipped);
  LOAD(tree_unlisted);
  LOAD(leader);
#undef LOAD
  pthread_mutex_lock(&note_lock);
  memcpy(out->gpu_note, gpu_note, sizeof out->gpu_note);
  pthread_mutex_unlock(&note_lock);
}

/* ---- sampler configuration ----------------------------------------------- */

int mida__telemetry_parse_sample(const char *list) {
  if (list == NULL)
    return MIDA_SAMPLE_ALL;
  static const struct {
    const char *name;
    int bit;
  } names[] = {{"proc", MIDA_SAMPLE_PROC}, {"sys", MIDA_SAMPLE_SYS},
               {"net", MIDA_SAMPLE_NET},   {"disk", MIDA_SAMPLE_DISK},
               {"gpu", MIDA_SAMPLE_GPU},   {"all", MIDA_SAMPLE_ALL},
               {"none", 0}};
  int mask = 0;
  const char *p = list;
  while (*p != '\0') {
    const char *end = strchr(p, ',');
    size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
    if (n > 0) {
      int known = 0;
      for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i].name) == n && strncmp(p, names[i].name, n) == 0) {
          mask |= names[i].bit;
          known = 1;
        }
      }
      if (!known)
        return -1;
    }
    p += n + (end != NULL ? 1 : 0);
  }
  return mask;
}

static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;
static char proc_root[256] = "/proc";   /* guarded by proc_lock */
static char proc_self[64] = "self";     /* guarded by proc_lock */

void mida__telemetry_set_proc(const char *root, const char *pid_dir) {
  pthread_mutex_lock(&proc_lock);
  snprintf(proc_root, sizeof proc_root, "%s", root ? root : "/proc");
  snprintf(proc_self, sizeof proc_self, "%s", pid_dir ? pid_dir : "self");
  pthread_mutex_unlock(&proc_lock);
}

/* ---- the sampler --------------------------------------------------------- */

#define READ_BUF (128 * 1024) /* the largest /proc file read */
#define JSON_BUF (32 * 1024)  /* the largest sample */
#define CPU_WINDOW_TICKS 10   /* the shortest window of a process cpu_pct */
/* Processes of the tree (mida__telemetry_sample_tree) sampled per tick, at
 * most: the sampler's budget is 0.1 % of a core at 1 Hz (DESIGN.md), 1 ms
 * a tick. This process's sample and the host's take ~0.26 ms of it
 * (docs/telemetry.md), listing /proc for the tree ~0.05 ms, and a process
 * sample (four small /proc files) ~35 us on the development VM: 16 of
 * them keep a tick under 0.9 ms. A larger tree's processes are sampled in
 * turn, 16 a tick; each one left for a later tick is counted
 * (telemetry.tree_skipped). */
#define TREE_SAMPLES_MAX 16

/* What the previous sample read, for rates. */
typedef struct prev {
  mida__cpu_mark proc;   /* this process's CPU time */
  uint64_t busy, total;  /* host CPU ticks */
  int have_host;         /* whether busy and total are set */
} prev;

struct mida__sampler {
  mida__sample_put_fn put;   /* where samples go */
  void *put_ctx;             /* its first argument */
  const mida__shared_id *workflow; /* default workflow of samples, or NULL */
  pthread_t thread;          /* the sampler */
  pthread_mutex_t lock;      /* guards stop */
  pthread_cond_t wake;       /* stop signals it */
  int stop;                  /* set by mida__sampler_stop */
  int64_t period_ns;         /* between samples */
  int mask;                  /* MIDA_SAMPLE_* */
  char lock_path[4200];      /* the host lock file */
  int lock_fd;               /* its descriptor, or -1 */
  int leader;                /* 1 while holding the lock */
  unsigned retry_ticks;      /* samples between tries to become leader */
  unsigned ticks;            /* samples taken */
  mida__gpu *gpu;            /* opened on first need, or NULL */
  int gpu_tried;             /* mida__gpu_open was called */
  int stopping;              /* the last sample is being taken */
  char root[256];            /* /proc or a test directory */
  char self[64];             /* "self" or a pid */
  long clk_tck;              /* clock ticks per second */
  long page_kb;              /* page size, KiB */
  prev prev;                 /* the previous sample's counters */
  int kick;                  /* take a sample now (a tree to sample) */
  mida__proc_tree *tree;     /* the processes of tree_root, or NULL */
  size_t tree_next;          /* the tree's slot to sample first */
  uint64_t read_errors;      /* of the process being sampled, not yet
                                counted (a tree's may have exited) */
  char *rbuf;                /* READ_BUF bytes */
  char *jbuf;                /* JSON_BUF bytes */
};

static atomic_flag sampler_running = ATOMIC_FLAG_INIT;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
/* The root of the process tree sampled besides this process, or 0. */
static _Atomic int64_t tree_root;
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static mida__sampler *running; /* the sampler, for a kick; running_lock */

/* A child of fork() has no sampler thread (only the forking thread
 * survives), so a session it opens may start its own; the host lock
 * stays with the parent's open file description. */
static void forget_sampler_in_child(void) {
  atomic_flag_clear(&sampler_running);
  atomic_store(&mida__telemetry_counters.leader, 0);
  atomic_store_explicit(&mida__gpu_energy_mask, 0, memory_order_relaxed);
  atomic_store(&tree_root, 0); /* the parent's command is not the child's */
  running = NULL;
}

static void register_atfork(void) {
  (void)pthread_atfork(NULL, NULL, forget_sampler_in_child);
}

/* Reads root/rel into the read buffer, counting failures (a file that
 * cannot be read in sp->read_errors, for the caller to count). Returns the
 * length, or -1 if nothing could be read. */
static long read_file(mida__sampler *sp, const char *rel) {
  size_t len = 0;
  int rc = mida__proc_read(sp->root, rel, sp->rbuf, READ_BUF, &len);
  if (rc == MIDA_ETOOBIG) {
    telemetry_count(&mida__telemetry_counters.truncated);
  } else if (rc != MIDA_OK) {
    sp->read_errors++;
    return -1;
  }
  return (long)len;
}

static void parsed(int rc) {
  if (rc != MIDA_OK)
    telemetry_count(&mida__telemetry_counters.parse_errors);
}

/* Counts the read errors of what was just sampled. */
static void count_read_errors(mida__sampler *sp) {
  if (sp->read_errors > 0)
    atomic_fetch_add_explicit(&mida__telemetry_counters.read_errors,
                              sp->read_errors, memory_order_relaxed);
  sp->read_errors = 0;
}

/* Writes cpu_pct, the CPU the process used since *cpu, if that is long
 * enough ago, and moves *cpu to now. CPU time moves in whole ticks
 * (10 ms): over a window of a few milliseconds (the last sample, taken at
 * the stop) one tick read as 250-300 % of a core. A window shorter than
 * CPU_WINDOW_TICKS says no cpu_pct, and the next sample measures from the
 * same start: the error stays within a tenth of a core. */
static void cpu_pct_since(mida__sampler *sp, jbuf *b, mida__cpu_mark *cpu,
                          uint64_t ticks, int64_t now) {
  int64_t window = cpu->have ? now - cpu->ns : 0;
  int64_t min_window = (int64_t)(1e9 * CPU_WINDOW_TICKS / sp->clk_tck);
  if (cpu->have && ticks >= cpu->ticks && window < min_window)
    return;
  if (cpu->have && ticks >= cpu->ticks)
    jb_f64(b, "cpu_pct", 100.0 * (double)(ticks - cpu->ticks) / sp->clk_tck /
                             ((double)window / 1e9));
  cpu->ticks = ticks;
  cpu->ns = now;
  cpu->have = 1;
}

/* Whether a process of the tree is there still, as the one it was: not
 * exited (a zombie has no memory left to read), not another one under its
 * pid. */
static int tree_proc_alive(mida__sampler *sp, const char *dir,
                           const mida__tree_proc *tp) {
  char rel[128];
  snprintf(rel, sizeof rel, "%s/stat", dir);
  size_t len = 0;
  int rc = mida__proc_read(sp->root, rel, sp->rbuf, READ_BUF, &len);
  mida__proc_pstat ps;
  return (rc == MIDA_OK || rc == MIDA_ETOOBIG) &&
         mida__proc_parse_pstat(sp->rbuf, len, &ps) == MIDA_OK &&
         ps.state != 'Z' && ps.state != 'X' &&
         ps.start_ticks == tp->start_ticks;
}

/* What sample_process says of the sample it built. */
enum {
  SAMPLE_KEEP,  /* record it */
  SAMPLE_GONE,  /* a process of the tree that has exited: nothing */
  SAMPLE_OTHER, /* its pid is another process's now: nothing, forget it */
};

/* Reads root/dir/{stat,statm,io,status} into the JSON object being built:
 * dir is sp->self (this process), or the pid of tp, a process of the tree.
 * cpu holds its previous CPU reading. A file that cannot be read is left
 * out and counted -- unless the process is one of the tree's that has
 * exited meanwhile (its /proc entry vanished, or it is a zombie whose
 * memory reads 0): then there is no sample, and nothing is counted. */
static int sample_process(mida__sampler *sp, jbuf *b, const char *dir,
                          mida__cpu_mark *cpu, int64_t now,
                          const mida__tree_proc *tp) {
  char rel[128];
  sp->read_errors = 0;
  snprintf(rel, sizeof rel, "%s/stat", dir);
  long n = read_file(sp, rel);
  if (n < 0 && tp != NULL) {
    sp->read_errors = 0;
    return SAMPLE_GONE;
  }
  if (n >= 0) {
    mida__proc_pstat ps;
    int rc = mida__proc_parse_pstat(sp->rbuf, (size_t)n, &ps);
    parsed(rc);
    if (rc == MIDA_OK && tp != NULL && ps.start_ticks != tp->start_ticks)
      return SAMPLE_OTHER;
    if (rc == MIDA_OK && tp != NULL && (ps.state == 'Z' || ps.state == 'X'))
      return SAMPLE_GONE;
    if (rc == MIDA_OK) {
      jb_f64(b, "cpu_user_s", (double)ps.utime_ticks / sp->clk_tck);
      jb_f64(b, "cpu_sys_s", (double)ps.stime_ticks / sp->clk_tck);
      cpu_pct_since(sp, b, cpu, ps.utime_ticks + ps.stime_ticks, now);
      jb_i64(b, "threads", (int64_t)ps.threads);
      jb_i64(b, "minflt", (int64_t)ps.minflt);
      jb_i64(b, "majflt", (int64_t)ps.majflt);
    }
  }
  snprintf(rel, sizeof rel, "%s/statm", dir);
  n = read_file(sp, rel);
  if (n >= 0) {
    mida__proc_statm sm;
    int rc = mida__proc_parse_statm(sp->rbuf, (size_t)n, &sm);
    parsed(rc);
    /* A live process always has some memory: none is one that exited
     * since its stat was read. */
    if (rc == MIDA_OK && tp != NULL && sm.size == 0) {
      sp->read_errors = 0;
      return SAMPLE_GONE;
    }
    if (rc == MIDA_OK) {
      jb_i64(b, "vm_kb", (int64_t)(sm.size * sp->page_kb));
      jb_i64(b, "rss_kb", (int64_t)(sm.resident * sp->page_kb));
      jb_i64(b, "shared_kb", (int64_t)(sm.shared * sp->page_kb));
    }
  }
  static const char *const io_keys[] = {"rchar", "wchar", "syscr", "syscw",
                                        "read_bytes", "write_bytes",
                                        "cancelled_write_bytes"};
  snprintf(rel, sizeof rel, "%s/io", dir);
  n = read_file(sp, rel);
  if (n >= 0) {
    uint64_t v[7], found;
    parsed(mida__proc_parse_keyed(sp->rbuf, (size_t)n, io_keys, 7, v,
                                  &found));
    for (int i = 0; i < 7; i++)
      if (found & (1ULL << i))
        jb_i64(b, io_keys[i], (int64_t)v[i]);
  }
  static const char *const st_keys[] = {"VmHWM", "VmRSS", "VmSwap",
                                        "voluntary_ctxt_switches",
                                        "nonvoluntary_ctxt_switches"};
  static const char *const st_names[] = {"hwm_kb", "status_rss_kb", "swap_kb",
                                         "ctx_voluntary", "ctx_involuntary"};
  snprintf(rel, sizeof rel, "%s/status", dir);
  n = read_file(sp, rel);
  if (n >= 0) {
    uint64_t v[5], found;
    parsed(mida__proc_parse_keyed(sp->rbuf, (size_t)n, st_keys, 5, v,
                                  &found));
    for (int i = 0; i < 5; i++)
      if (found & (1ULL << i))
        jb_i64(b, st_names[i], (int64_t)v[i]);
  }
  if (sp->read_errors > 0 && tp != NULL && !tree_proc_alive(sp, dir, tp)) {
    sp->read_errors = 0;
    return SAMPLE_GONE;
  }
  count_read_errors(sp);
  return SAMPLE_KEEP;
}

static void sample_gpus(mida__sampler *sp, jbuf *b) {
  int first = !sp->gpu_tried;
  if (first) {
    sp->gpu_tried = 1;
    if (mida__gpu_open(&sp->gpu) != MIDA_OK) {
      mida__gpu_close(sp->gpu);
      sp->gpu = NULL;
    }
  }
  unsigned n = mida__gpu_count(sp->gpu);
  if (n > 0) {
    jb_key(b, "gpu");
    jb_raw(b, "[", 1);
  }
  unsigned mask = 0;
  for (unsigned i = 0; i < n; i++) {
    mida__gpu_reading r;
    mida__gpu_read(sp->gpu, i, &r);
    jb_raw(b, i == 0 ? "{" : ",{", i == 0 ? 1 : 2);
    jb_i64(b, "index", i);
    jb_key(b, "vendor");
    jb_raw(b, "\"", 1);
    jb_str(b, r.vendor != NULL ? r.vendor : "");
    jb_raw(b, "\"", 1);
    if (r.have & MIDA_GPU_HAVE_UTIL)
      jb_i64(b, "util_pct", r.util_pct);
    if (r.have & MIDA_GPU_HAVE_MEM_UTIL)
      jb_i64(b, "mem_util_pct", r.mem_util_pct);
    if (r.have & MIDA_GPU_HAVE_MEM) {
      jb_i64(b, "mem_used_bytes", (int64_t)r.mem_used_bytes);
      jb_i64(b, "mem_total_bytes", (int64_t)r.mem_total_bytes);
    }
    if (r.have & MIDA_GPU_HAVE_POWER)
      jb_f64(b, "power_w", r.power_w);
    if (r.have & MIDA_GPU_HAVE_ENERGY) {
      jb_f64(b, "energy_j", (double)r.energy_mj / 1000.0);
      if (i < MIDA_TELEMETRY_GPUS) {
        atomic_store_explicit(&mida__gpu_energy_mj[i], r.energy_mj,
                              memory_order_relaxed);
        mask |= 1u << i;
      }
    }
    if (r.have & MIDA_GPU_HAVE_TEMP)
      jb_i64(b, "temp_c", r.temp_c);
    if (r.have & MIDA_GPU_HAVE_CLOCKS) {
      jb_i64(b, "sm_clock_mhz", r.sm_clock_mhz);
      jb_i64(b, "mem_clock_mhz", r.mem_clock_mhz);
    }
    if (r.have & MIDA_GPU_HAVE_PROCS) {
      jb_key(b, "procs");
      jb_raw(b, "[", 1);
      for (int k = 0; k < r.nprocs; k++) {
        jb_raw(b, k == 0 ? "{" : ",{", k == 0 ? 1 : 2);
        jb_i64(b, "pid", r.procs[k].pid);
        if (r.procs[k].has_mem)
          jb_i64(b, "mem_bytes", (int64_t)r.procs[k].mem_bytes);
        jb_raw(b, "}", 1);
      }
      jb_raw(b, "]", 1);
    }
    jb_raw(b, "}", 1);
  }
  if (n > 0)
    jb_raw(b, "]", 1);
  atomic_store_explicit(&mida__gpu_energy_mask, mask, memory_order_release);

  mida__gpu_stats st;
  mida__gpu_stats_get(sp->gpu, &st);
  /* The one debug line: why there are no (or fewer) GPU readings, in the
   * first host sample only (library code prints nothing). */
  if (first && st.note[0] != '\0')
    jb_text(b, "gpu_note", st.note);
  struct mida__telemetry_counters *c = &mida__telemetry_counters;
  atomic_store(&c->gpus, n);
  atomic_store(&c->gpu_libraries_missing, st.libraries_missing);
  atomic_store(&c->gpu_symbols_missing, st.symbols_missing);
  atomic_store(&c->gpu_init_failures, st.init_failures);
  atomic_store(&c->gpu_read_errors, st.read_errors);
  pthread_mutex_lock(&note_lock);
  memcpy(gpu_note, st.note, sizeof gpu_note);
  pthread_mutex_unlock(&note_lock);
}

/* Reads the host-wide files into the JSON object being built. */
static void sample_host(mida__sampler *sp, jbuf *b, int64_t now) {
  long n;
  if (sp->mask & MIDA_SAMPLE_SYS) {
    n = read_file(sp, "stat");
    if (n >= 0) {
      mida__proc_sysstat s;
      int rc = mida__proc_parse_sysstat(sp->rbuf, (size_t)n, &s);
      parsed(rc);
      if (rc == MIDA_OK) {
        uint64_t idle = s.idle + s.iowait;
        uint64_t total = s.user + s.nice + s.system + idle + s.irq +
                         s.softirq + s.steal;
        uint64_t busy = total - idle;
        if (sp->prev.have_host && total > sp->prev.total &&
            busy >= sp->prev.busy)
          jb_f64(b, "cpu_busy_pct", 100.0 * (double)(busy - sp->prev.busy) /
                                        (double)(total - sp->prev.total));
        sp->prev.busy = busy;
        sp->prev.total = total;
        sp->prev.have_host = 1;
        jb_i64(b, "ncpu", (int64_t)s.ncpu);
        jb_f64(b, "cpu_user_s", (double)(s.user + s.nice) / sp->clk_tck);
        jb_f64(b, "cpu_system_s", (double)s.system / sp->clk_tck);
        jb_f64(b, "cpu_iowait_s", (double)s.iowait / sp->clk_tck);
        jb_f64(b, "cpu_steal_s", (double)s.steal / sp->clk_tck);
        jb_i64(b, "ctxt", (int64_t)s.ctxt);
        jb_i64(b, "procs_running", (int64_t)s.procs_running);
        jb_i64(b, "procs_blocked", (int64_t)s.procs_blocked);
      }
    }
    static const char *const mem_keys[] = {
        "MemTotal", "MemFree",   "MemAvailable", "Buffers",
        "Cached",   "SwapTotal", "SwapFree",     "Dirty"};
    static const char *const mem_names[] = {
        "mem_total_kb", "mem_free_kb",   "mem_available_kb", "buffers_kb",
        "cached_kb",    "swap_total_kb", "swap_free_kb",     "dirty_kb"};
    n = read_file(sp, "meminfo");
    if (n >= 0) {
      uint64_t v[8], found;
      parsed(mida__proc_parse_keyed(sp->rbuf, (size_t)n, mem_keys, 8, v,
                                    &found));
      for (int i = 0; i < 8; i++)
        if (found & (1ULL << i))
          jb_i64(b, mem_names[i], (int64_t)v[i]);
    }
    n = read_file(sp, "loadavg");
    if (n >= 0) {
      mida__proc_loadavg la;
      int rc = mida__proc_parse_loadavg(sp->rbuf, (size_t)n, &la);
      parsed(rc);
      if (rc == MIDA_OK) {
        jb_f64(b, "load1", la.load1);
        jb_f64(b, "load5", la.load5);
        jb_f64(b, "load15", la.load15);
      }
    }
  }
  if (sp->mask & MIDA_SAMPLE_NET) {
    n = read_file(sp, "net/dev");
    if (n >= 0) {
      mida__proc_netdev nd;
      parsed(mida__proc_parse_netdev(sp->rbuf, (size_t)n, &nd));
      jb_i64(b, "net_rx_bytes", (int64_t)nd.rx_bytes);
      jb_i64(b, "net_tx_bytes", (int64_t)nd.tx_bytes);
      jb_i64(b, "net_rx_packets", (int64_t)nd.rx_packets);
      jb_i64(b, "net_tx_packets", (int64_t)nd.tx_packets);
      jb_i64(b, "net_errors", (int64_t)(nd.rx_errors + nd.tx_errors));
    }
  }
  if (sp->mask & MIDA_SAMPLE_DISK) {
    n = read_file(sp, "diskstats");
    if (n >= 0) {
      mida__proc_diskstats ds;
      parsed(mida__proc_parse_diskstats(sp->rbuf, (size_t)n, &ds));
      jb_i64(b, "disk_reads", (int64_t)ds.reads);
      jb_i64(b, "disk_read_bytes", (int64_t)(ds.read_sectors * 512));
      jb_i64(b, "disk_writes", (int64_t)ds.writes);
      jb_i64(b, "disk_write_bytes", (int64_t)(ds.write_sectors * 512));
      jb_i64(b, "disk_io_ms", (int64_t)ds.io_ms);
    }
  }
  /* The GPU libraries are looked for at the second sample, not the first:
   * their search (dlopen over the loader's path, ~20 ms, under the
   * loader's lock that every pthread_create takes) is then never in a
   * program's start, and a program shorter than one period (`mida run`
   * of a short command) never pays it. */
  if ((sp->mask & MIDA_SAMPLE_GPU) &&
      (sp->gpu_tried || (sp->ticks > 0 && !sp->stopping)))
    sample_gpus(sp, b);
  (void)now;
}

/* Appends one telemetry record; pid 0 means the host. */
static void put_sample(mida__sampler *sp, int64_t pid, int64_t ts,
                       const jbuf *b) {
  if (b->overflow) {
    telemetry_count(&mida__telemetry_counters.put_errors);
    return;
  }
  mida__rec rec;
  memset(&rec, 0, sizeof rec);
  rec.type = MIDA_REC_TELEMETRY;
  mida__rec_set_str(&rec, MIDA_F_HOST, mida__hostname(), (size_t)-1);
  mida__rec_set_i64(&rec, MIDA_F_PID, pid);
  mida__rec_set_i64(&rec, MIDA_F_TS, ts);
  mida_id_t wf = {{0}};
  if (sp->workflow != NULL)
    wf = mida__shared_id_load(sp->workflow);
  if (!mida_id_is_nil(&wf))
    mida__rec_set_id(&rec, MIDA_F_WORKFLOW, &wf);
  mida__rec_set_str(&rec, MIDA_F_METADATA, b->p, b->len);
  if (sp->put(sp->put_ctx, &rec) != MIDA_OK)
    telemetry_count(&mida__telemetry_counters.put_errors);
  else
    telemetry_count(pid == 0 ? &mida__telemetry_counters.host_samples
                             : &mida__telemetry_counters.samples);
}

/* Tries to become the host's sampler. */
static void try_lead(mida__sampler *sp) {
  if (sp->leader)
    return;
  if (sp->lock_fd < 0)
    sp->lock_fd = open(sp->lock_path,
                       O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (sp->lock_fd < 0)
    return;
  if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) == 0) {
    sp->leader = 1;
    atomic_store(&mida__telemetry_counters.leader, 1);
  }
}

static void count_tree(atomic_uint_fast64_t *c, uint64_t n) {
  if (n > 0)
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Samples the processes of the tree rooted at tree_root, each as a
 * process sample under its own pid, TREE_SAMPLES_MAX at most, in turn. */
static void sample_tree(mida__sampler *sp) {
  struct mida__telemetry_counters *c = &mida__telemetry_counters;
  int64_t root = atomic_load(&tree_root);
  if (sp->tree != NULL && mida__proc_tree_root(sp->tree) != root) {
    mida__proc_tree_free(sp->tree);
    sp->tree = NULL;
    sp->tree_next = 0;
  }
  if (root <= 0)
    return;
  if (sp->tree == NULL &&
      mida__proc_tree_new(root, sp->root, &sp->tree) != MIDA_OK) {
    telemetry_count(&c->tree_skipped); /* the root, at least; next tick */
    return;
  }
  uint64_t unlisted = 0, untracked = 0;
  if (mida__proc_tree_list(sp->tree, sp->rbuf, READ_BUF, &unlisted,
                           &untracked) != MIDA_OK) {
    telemetry_count(&c->read_errors);
    return;
  }
  count_tree(&c->tree_unlisted, unlisted);
  uint64_t live = untracked, taken = 0;
  size_t next = sp->tree_next;
  for (size_t n = 0; n < MIDA_TREE_TRACKED_MAX; n++) {
    size_t i = (sp->tree_next + n) % MIDA_TREE_TRACKED_MAX;
    mida__tree_proc *tp = mida__proc_tree_slot(sp->tree, i);
    if (!tp->used)
      continue;
    live++;
    if (taken == TREE_SAMPLES_MAX)
      continue;
    taken++;
    next = (i + 1) % MIDA_TREE_TRACKED_MAX;
    char dir[24];
    snprintf(dir, sizeof dir, "%lld", (long long)tp->pid);
    jbuf b = {sp->jbuf, JSON_BUF, 0, 0};
    jb_raw(&b, "{", 1);
    /* Its own time: a process that began after the tick's start would
     * fall outside its task's window (task_telemetry_v). */
    int64_t ts = mida_now_ns();
    int got = sample_process(sp, &b, dir, &tp->cpu, mida__monotonic_ns(), tp);
    jb_raw(&b, "}", 1);
    if (got == SAMPLE_KEEP)
      put_sample(sp, tp->pid, ts, &b);
    else if (got == SAMPLE_OTHER)
      mida__proc_tree_drop(sp->tree, i);
  }
  sp->tree_next = next;
  count_tree(&c->tree_skipped, live - taken);
}

static void sample_once(mida__sampler *sp) {
  int64_t now = mida__monotonic_ns();
  int64_t ts = mida_now_ns();
  jbuf b = {sp->jbuf, JSON_BUF, 0, 0};
  if (sp->mask & MIDA_SAMPLE_PROC) {
    jb_raw(&b, "{", 1);
    (void)sample_process(sp, &b, sp->self, &sp->prev.proc, now, NULL);
    jb_raw(&b, "}", 1);
    put_sample(sp, (int64_t)getpid(), ts, &b);
  }
  if (sp->mask & ~MIDA_SAMPLE_PROC) {
    if (!sp->leader && sp->ticks % sp->retry_ticks == 0)
      try_lead(sp);
    if (sp->leader) {
      b.len = 0;
      b.overflow = 0;
      jb_raw(&b, "{", 1);
      sample_host(sp, &b, now);
      count_read_errors(sp);
      jb_raw(&b, "}", 1);
      put_sample(sp, 0, ts, &b);
    }
  }
  if (sp->mask & MIDA_SAMPLE_PROC)
    sample_tree(sp);
  sp->ticks++;
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
    atomic_store(&mida__telemetry_counters.sampler_cpu_ns, (uint64_t)ts_ns(&t));
}

static void *sampler_main(void *arg) {
  pthread_setname_np(pthread_self(), "mida-sampler"); /* for top -H, perf */
  mida__env_own_thread(); /* the environment as mida_open read it */
  mida__sampler *sp = arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  pthread_mutex_lock(&sp->lock);
  int on_time = 1; /* the last sample was a deadline's, not a kick's */
  while (!sp->stop) {
    pthread_mutex_unlock(&sp->lock);
    sample_once(sp);
    pthread_mutex_lock(&sp->lock);
    /* Absolute deadlines: the rate does not drift with the work done. A
     * kick's sample (a tree to sample has begun) leaves the next deadline
     * where it was. */
    if (on_time) {
      int64_t at = ts_ns(&next) + sp->period_ns;
      int64_t now = mida__monotonic_ns();
      if (at < now)
        at = now; /* fell behind (suspended, overloaded): do not burst */
      next.tv_sec = at / 1000000000;
      next.tv_nsec = at % 1000000000;
    }
    int rc = 0;
    while (!sp->stop && !sp->kick && rc != ETIMEDOUT)
      rc = pthread_cond_timedwait(&sp->wake, &sp->lock, &next);
    on_time = rc == ETIMEDOUT;
    sp->kick = 0;
  }
  pthread_mutex_unlock(&sp->lock);
  sp->stopping = 1;
  sample_once(sp); /* the last one, so a short run has an end point */
  return NULL;
}

static void sampler_free(mida__sampler *sp) {
  mida__proc_tree_free(sp->tree);
  if (sp->lock_fd >= 0)
    close(sp->lock_fd); /* releases the flock */
  atomic_store(&mida__telemetry_counters.leader, 0);
  mida__gpu_close(sp->gpu);
  mida__free(sp->rbuf);
  mida__free(sp->jbuf);
  mida__free(sp);
}

int mida__sampler_start(const mida__sampler_config *cfg,
                        mida__sampler **out) {
  *out = NULL;
  double hz = cfg->hz;
  int mask = cfg->mask;
  if (!(hz > 0) || mask <= 0)
    return MIDA_OK;
  pthread_once(&atfork_once, register_atfork);
  if (atomic_flag_test_and_set(&sampler_running))
    return MIDA_OK; /* one sampler per process */
  if (hz > 1000)
    hz = 1000;
  mida__sampler *sp = mida__calloc(1, sizeof *sp);
  if (sp != NULL) {
    sp->rbuf = mida__malloc(READ_BUF);
    sp->jbuf = mida__malloc(JSON_BUF);
  }
  if (sp == NULL || sp->rbuf == NULL || sp->jbuf == NULL) {
    if (sp != NULL) {
      mida__free(sp->rbuf);
      mida__free(sp->jbuf);
      mida__free(sp);
    }
    atomic_flag_clear(&sampler_running);
    return MIDA_ENOMEM;
  }
  sp->put = cfg->put;
  sp->put_ctx = cfg->put_ctx;
  sp->workflow = cfg->workflow;
  sp->period_ns = (int64_t)(1e9 / hz);
  sp->mask = mask;
  sp->lock_fd = -1;
  sp->retry_ticks = (unsigned)(hz * 5) > 0 ? (unsigned)(hz * 5) : 1;
  snprintf(sp->lock_path, sizeof sp->lock_path, "%s/telemetry.%s.lock",
           cfg->spool, mida__hostname());
  pthread_mutex_lock(&proc_lock);
  memcpy(sp->root, proc_root, sizeof sp->root);
  memcpy(sp->self, proc_self, sizeof sp->self);
  pthread_mutex_unlock(&proc_lock);
  sp->clk_tck = sysconf(_SC_CLK_TCK);
  if (sp->clk_tck <= 0)
    sp->clk_tck = 100;
  sp->page_kb = sysconf(_SC_PAGESIZE) / 1024;
  if (sp->page_kb <= 0)
    sp->page_kb = 4;

  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&sp->wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&sp->lock, NULL);
  if (pthread_create(&sp->thread, NULL, sampler_main, sp) != 0) {
    pthread_cond_destroy(&sp->wake);
    pthread_mutex_destroy(&sp->lock);
    sampler_free(sp);
    atomic_flag_clear(&sampler_running);
    return MIDA_EIO;
  }
  pthread_mutex_lock(&running_lock);
  running = sp;
  pthread_mutex_unlock(&running_lock);
  *out = sp;
  return MIDA_OK;
}

void mida__telemetry_sample_tree(int64_t root) {
  atomic_store(&tree_root, root > 0 ? root : 0);
  if (root <= 0)
    return;
  /* A first sample now: the start of the command's CPU time, so that the
   * next tick has its cpu_pct. */
  pthread_mutex_lock(&running_lock);
  mida__sampler *sp = running;
  if (sp != NULL) {
    pthread_mutex_lock(&sp->lock);
    sp->kick = 1;
    pthread_cond_signal(&sp->wake);
    pthread_mutex_unlock(&sp->lock);
  }
  pthread_mutex_unlock(&running_lock);
}

/* Writes one counter record (the store keeps the maximum); a counter that
 * is still 0 is not written. */
static void put_counter(mida__sampler *sp, const char *key, uint64_t v) {
  if (v == 0)
    return;
  mida__rec rec;
  mida__rec_counter(&rec, mida__hostname(), (int64_t)getpid(), key,
                    (int64_t)v);
  (void)sp->put(sp->put_ctx, &rec);
}

void mida__sampler_stop(mida__sampler *sp) {
  if (sp == NULL)
    return;
  pthread_mutex_lock(&running_lock);
  running = NULL;
  pthread_mutex_unlock(&running_lock);
  pthread_mutex_lock(&sp->lock);
  sp->stop = 1;
  pthread_cond_signal(&sp->wake);
  pthread_mutex_unlock(&sp->lock);
  pthread_join(sp->thread, NULL);
  pthread_cond_destroy(&sp->wake);
  pthread_mutex_destroy(&sp->lock);

  mida__telemetry_stats st;
  mida__telemetry_stats_get(&st);
  put_counter(sp, "telemetry.read_errors", st.read_errors);
  put_counter(sp, "telemetry.parse_errors", st.parse_errors);
  put_counter(sp, "telemetry.truncated", st.truncated);
  put_counter(sp, "telemetry.put_errors", st.put_errors);
  put_counter(sp, "telemetry.task_unmatched", st.task_unmatched);
  put_counter(sp, "telemetry.task_evicted", st.task_evicted);
  put_counter(sp, "telemetry.task_reused", st.task_reused);
  put_counter(sp, "telemetry.gpu_symbols_missing",
              st.gpu_symbols_missing);
  put_counter(sp, "telemetry.gpu_read_errors", st.gpu_read_errors);
  put_counter(sp, "telemetry.tree_skipped", st.tree_skipped);
  put_counter(sp, "telemetry.tree_unlisted", st.tree_unlisted);
  atomic_store_explicit(&mida__gpu_energy_mask, 0, memory_order_release);
  sampler_free(sp);
  atomic_flag_clear(&sampler_running);
}

/*
 * telemetry.c -- per-task resource use and the sampler thread (see
 * telemetry.h for what is measured and why it is done this way).
 *
 * Data path: the per-task summary rides in the task's end record, written
 * by src/api/capture.c; the sampler builds MIDA_REC_TELEMETRY records by
 * hand and appends them with mida__session_put(), so both reach the store
 * through the journal and the shipper like every other record.
 *
 * The sampler allocates everything it needs once, when it starts (its
 * read buffer, its JSON buffer, the GPU handle), and nothing per sample.
 */
#include "observe/telemetry.h"

#include "api/session.h"
#include "core/alloc.h"
#include "core/host.h"
#include "core/record.h"
#include "observe/gpu.h"
#include "observe/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- counters ------------------------------------------------------------ */

static struct {
  atomic_uint_fast64_t samples, host_samples, sampler_cpu_ns;
  atomic_uint_fast64_t read_errors, parse_errors, truncated, put_errors;
  atomic_uint_fast64_t task_unmatched, task_evicted, gpus;
  atomic_uint_fast64_t gpu_libraries_missing, gpu_symbols_missing;
  atomic_uint_fast64_t gpu_init_failures, gpu_read_errors;
  atomic_int leader;
} counters;

static pthread_mutex_t note_lock = PTHREAD_MUTEX_INITIALIZER;
static char gpu_note[256]; /* guarded by note_lock */

/* The GPUs' energy counters as last read by the sampler, for the task
 * summaries: millijoules, and a mask of the GPUs that have one. */
static atomic_uint_fast64_t gpu_energy_mj[MIDA_TELEMETRY_GPUS];
static atomic_uint gpu_energy_mask;

static void count(atomic_uint_fast64_t *c) {
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void mida__telemetry_stats_get(mida__telemetry_stats *out) {
  memset(out, 0, sizeof *out);
#define LOAD(f) out->f = atomic_load_explicit(&counters.f, memory_order_relaxed)
  LOAD(samples);
  LOAD(host_samples);
  LOAD(sampler_cpu_ns);
  LOAD(read_errors);
  LOAD(parse_errors);
  LOAD(truncated);
  LOAD(put_errors);
  LOAD(task_unmatched);
  LOAD(task_evicted);
  LOAD(gpus);
  LOAD(gpu_libraries_missing);
  LOAD(gpu_symbols_missing);
  LOAD(gpu_init_failures);
  LOAD(gpu_read_errors);
  LOAD(leader);
#undef LOAD
  pthread_mutex_lock(&note_lock);
  memcpy(out->gpu_note, gpu_note, sizeof out->gpu_note);
  pthread_mutex_unlock(&note_lock);
}

/* ---- per task ------------------------------------------------------------ */

/* One begin snapshot. */
typedef struct snap {
  mida_id_t task;          /* whose */
  int64_t thread_cpu_ns;   /* thread CPU time */
  int64_t process_cpu_ns;  /* process CPU time (level 2), else 0 */
  int64_t maxrss_kb;       /* process peak RSS, KiB */
  int64_t nvcsw, nivcsw;   /* context switches */
  int64_t inblock, oublock; /* 512-byte blocks */
  unsigned gpu_mask;       /* GPUs with an energy reading */
  uint64_t gpu_mj[MIDA_TELEMETRY_GPUS]; /* their energy counters, mJ */
} snap;

/* The open tasks of this thread, oldest first. */
static _Thread_local struct {
  int n;                           /* entries in use */
  snap s[MIDA_TELEMETRY_STACK];    /* the snapshots */
} tls_stack;

static int64_t ts_ns(const struct timespec *t) {
  return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void take(int level, snap *sn) {
  struct rusage ru;
  if (getrusage(RUSAGE_THREAD, &ru) != 0)
    memset(&ru, 0, sizeof ru);
  sn->thread_cpu_ns =
      ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
      ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
  sn->maxrss_kb = ru.ru_maxrss;
  sn->nvcsw = ru.ru_nvcsw;
  sn->nivcsw = ru.ru_nivcsw;
  sn->inblock = ru.ru_inblock;
  sn->oublock = ru.ru_oublock;
  sn->process_cpu_ns = 0;
  if (level >= 2) {
    struct timespec t;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
      sn->thread_cpu_ns = ts_ns(&t);
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) == 0)
      sn->process_cpu_ns = ts_ns(&t);
  }
  sn->gpu_mask = atomic_load_explicit(&gpu_energy_mask, memory_order_acquire);
  for (int i = 0; i < MIDA_TELEMETRY_GPUS; i++)
    if (sn->gpu_mask & (1u << i))
      sn->gpu_mj[i] =
          atomic_load_explicit(&gpu_energy_mj[i], memory_order_relaxed);
}

void mida__telemetry_task_begin(int level, const mida_id_t *task) {
  if (level <= 0)
    return;
  if (tls_stack.n == MIDA_TELEMETRY_STACK) {
    /* A full stack means tasks were begun and never ended on this thread:
     * the oldest is the likeliest to be abandoned. */
    memmove(&tls_stack.s[0], &tls_stack.s[1],
            (MIDA_TELEMETRY_STACK - 1) * sizeof(snap));
    tls_stack.n--;
    count(&counters.task_evicted);
  }
  snap *sn = &tls_stack.s[tls_stack.n];
  sn->task = *task;
  take(level, sn);
  tls_stack.n++;
}

/* A small JSON writer into a fixed buffer; overflow is remembered. */
typedef struct jbuf {
  char *p;       /* output */
  size_t cap;    /* bytes at p */
  size_t len;    /* bytes written */
  int overflow;  /* 1 once something did not fit */
} jbuf;

static void jb_raw(jbuf *b, const char *s, size_t n) {
  if (b->overflow || n >= b->cap - b->len) {
    b->overflow = 1;
    return;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void jb_str(jbuf *b, const char *s) { jb_raw(b, s, strlen(s)); }

/* Writes "key": after a comma unless it is the first in its object. */
static void jb_key(jbuf *b, const char *key) {
  char last = b->len > 0 ? b->p[b->len - 1] : '{';
  if (last != '{' && last != '[')
    jb_raw(b, ",", 1);
  jb_raw(b, "\"", 1);
  jb_str(b, key);
  jb_raw(b, "\":", 2);
}

static void jb_i64(jbuf *b, const char *key, int64_t v) {
  char num[24];
  char *e = num + sizeof num;
  char *q = e;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0)
    *--q = '-';
  jb_key(b, key);
  jb_raw(b, q, (size_t)(e - q));
}

/* Writes "key":"text" with the text escaped as JSON requires. */
static void jb_text(jbuf *b, const char *key, const char *text) {
  jb_key(b, key);
  jb_raw(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)text; *p != 0; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      jb_raw(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      jb_raw(b, esc, 6);
    } else {
      jb_raw(b, (const char *)p, 1);
    }
  }
  jb_raw(b, "\"", 1);
}

static void jb_f64(jbuf *b, const char *key, double v) {
  char num[48];
  int n = snprintf(num, sizeof num, "%.6g", v);
  if (n <= 0 || (size_t)n >= sizeof num || v != v || v - v != 0)
    return; /* NaN or infinity: left out, JSON has no word for them */
  jb_key(b, key);
  jb_raw(b, num, (size_t)n);
}

size_t mida__telemetry_task_end(int level, const mida_id_t *task, char *buf,
                                size_t cap) {
  if (level <= 0 || cap < MIDA_TELEMETRY_JSON_MAX)
    return 0;
  int at = -1;
  for (int i = tls_stack.n - 1; i >= 0; i--) {
    if (memcmp(tls_stack.s[i].task.bytes, task->bytes, 16) == 0) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    count(&counters.task_unmatched);
    return 0;
  }
  snap end;
  take(level, &end);
  snap begin = tls_stack.s[at];
  memmove(&tls_stack.s[at], &tls_stack.s[at + 1],
          (size_t)(tls_stack.n - at - 1) * sizeof(snap));
  tls_stack.n--;

  jbuf b = {buf, cap, 0, 0};
  buf[0] = '\0';
  jb_raw(&b, "{", 1);
  jb_i64(&b, "cpu_thread_ns", end.thread_cpu_ns - begin.thread_cpu_ns);
  if (level >= 2)
    jb_i64(&b, "cpu_process_ns", end.process_cpu_ns - begin.process_cpu_ns);
  jb_i64(&b, "maxrss_kb", end.maxrss_kb);
  jb_i64(&b, "maxrss_delta_kb", end.maxrss_kb - begin.maxrss_kb);
  jb_i64(&b, "ctx_voluntary", end.nvcsw - begin.nvcsw);
  jb_i64(&b, "ctx_involuntary", end.nivcsw - begin.nivcsw);
  jb_i64(&b, "in_blocks", end.inblock - begin.inblock);
  jb_i64(&b, "out_blocks", end.oublock - begin.oublock);
  jb_i64(&b, "read_bytes", (end.inblock - begin.inblock) * 512);
  jb_i64(&b, "write_bytes", (end.oublock - begin.oublock) * 512);
  unsigned both = begin.gpu_mask & end.gpu_mask;
  for (int i = 0; i < MIDA_TELEMETRY_GPUS; i++) {
    if ((both & (1u << i)) && end.gpu_mj[i] >= begin.gpu_mj[i]) {
      char key[24] = "gpu0_energy_j";
      key[3] = (char)('0' + i);
      jb_f64(&b, key, (double)(end.gpu_mj[i] - begin.gpu_mj[i]) / 1000.0);
    }
  }
  jb_raw(&b, "}", 1);
  return b.overflow ? 0 : b.len;
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

/* What the previous sample read, for rates. */
typedef struct prev {
  int64_t mono_ns;       /* when */
  uint64_t proc_ticks;   /* process utime + stime */
  uint64_t busy, total;  /* host CPU ticks */
  int have_proc, have_host; /* whether the values above are set */
} prev;

struct mida__sampler {
  mida_session_t *session;   /* where samples go */
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
  char root[256];            /* /proc or a test directory */
  char self[64];             /* "self" or a pid */
  long clk_tck;              /* clock ticks per second */
  long page_kb;              /* page size, KiB */
  prev prev;                 /* the previous sample's counters */
  char *rbuf;                /* READ_BUF bytes */
  char *jbuf;                /* JSON_BUF bytes */
};

static atomic_flag sampler_running = ATOMIC_FLAG_INIT;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A child of fork() has no sampler thread (only the forking thread
 * survives), so a session it opens may start its own; the host lock
 * stays with the parent's open file description. */
static void forget_sampler_in_child(void) {
  atomic_flag_clear(&sampler_running);
  atomic_store(&counters.leader, 0);
  atomic_store_explicit(&gpu_energy_mask, 0, memory_order_relaxed);
}

static void register_atfork(void) {
  (void)pthread_atfork(NULL, NULL, forget_sampler_in_child);
}

static int64_t mono_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return ts_ns(&t);
}

/* Reads root/rel into the read buffer, counting failures. Returns the
 * length, or -1 if nothing could be read. */
static long read_file(mida__sampler *sp, const char *rel) {
  size_t len = 0;
  int rc = mida__proc_read(sp->root, rel, sp->rbuf, READ_BUF, &len);
  if (rc == MIDA_ETOOBIG) {
    count(&counters.truncated);
  } else if (rc != MIDA_OK) {
    count(&counters.read_errors);
    return -1;
  }
  return (long)len;
}

static void parsed(int rc) {
  if (rc != MIDA_OK)
    count(&counters.parse_errors);
}

/* Reads /proc/self/... into the JSON object being built. */
static void sample_process(mida__sampler *sp, jbuf *b, int64_t now) {
  char rel[128];
  snprintf(rel, sizeof rel, "%s/stat", sp->self);
  long n = read_file(sp, rel);
  if (n >= 0) {
    mida__proc_pstat ps;
    int rc = mida__proc_parse_pstat(sp->rbuf, (size_t)n, &ps);
    parsed(rc);
    if (rc == MIDA_OK) {
      uint64_t ticks = ps.utime_ticks + ps.stime_ticks;
      jb_f64(b, "cpu_user_s", (double)ps.utime_ticks / sp->clk_tck);
      jb_f64(b, "cpu_sys_s", (double)ps.stime_ticks / sp->clk_tck);
      if (sp->prev.have_proc && now > sp->prev.mono_ns &&
          ticks >= sp->prev.proc_ticks)
        jb_f64(b, "cpu_pct",
               100.0 * (double)(ticks - sp->prev.proc_ticks) / sp->clk_tck /
                   ((double)(now - sp->prev.mono_ns) / 1e9));
      sp->prev.proc_ticks = ticks;
      sp->prev.have_proc = 1;
      jb_i64(b, "threads", (int64_t)ps.threads);
      jb_i64(b, "minflt", (int64_t)ps.minflt);
      jb_i64(b, "majflt", (int64_t)ps.majflt);
    }
  }
  snprintf(rel, sizeof rel, "%s/statm", sp->self);
  n = read_file(sp, rel);
  if (n >= 0) {
    mida__proc_statm sm;
    int rc = mida__proc_parse_statm(sp->rbuf, (size_t)n, &sm);
    parsed(rc);
    if (rc == MIDA_OK) {
      jb_i64(b, "vm_kb", (int64_t)(sm.size * sp->page_kb));
      jb_i64(b, "rss_kb", (int64_t)(sm.resident * sp->page_kb));
      jb_i64(b, "shared_kb", (int64_t)(sm.shared * sp->page_kb));
    }
  }
  static const char *const io_keys[] = {"rchar", "wchar", "syscr", "syscw",
                                        "read_bytes", "write_bytes",
                                        "cancelled_write_bytes"};
  snprintf(rel, sizeof rel, "%s/io", sp->self);
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
  snprintf(rel, sizeof rel, "%s/status", sp->self);
  n = read_file(sp, rel);
  if (n >= 0) {
    uint64_t v[5], found;
    parsed(mida__proc_parse_keyed(sp->rbuf, (size_t)n, st_keys, 5, v,
                                  &found));
    for (int i = 0; i < 5; i++)
      if (found & (1ULL << i))
        jb_i64(b, st_names[i], (int64_t)v[i]);
  }
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
        atomic_store_explicit(&gpu_energy_mj[i], r.energy_mj,
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
        jb_i64(b, "mem_bytes", (int64_t)r.procs[k].mem_bytes);
        jb_raw(b, "}", 1);
      }
      jb_raw(b, "]", 1);
    }
    jb_raw(b, "}", 1);
  }
  if (n > 0)
    jb_raw(b, "]", 1);
  atomic_store_explicit(&gpu_energy_mask, mask, memory_order_release);

  mida__gpu_stats st;
  mida__gpu_stats_get(sp->gpu, &st);
  /* The one debug line: why there are no (or fewer) GPU readings, in the
   * first host sample only (library code prints nothing). */
  if (first && st.note[0] != '\0')
    jb_text(b, "gpu_note", st.note);
  atomic_store(&counters.gpus, n);
  atomic_store(&counters.gpu_libraries_missing, st.libraries_missing);
  atomic_store(&counters.gpu_symbols_missing, st.symbols_missing);
  atomic_store(&counters.gpu_init_failures, st.init_failures);
  atomic_store(&counters.gpu_read_errors, st.read_errors);
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
  if (sp->mask & MIDA_SAMPLE_GPU)
    sample_gpus(sp, b);
  (void)now;
}

/* Appends one telemetry record; pid 0 means the host. */
static void put_sample(mida__sampler *sp, int64_t pid, int64_t ts,
                       const jbuf *b) {
  if (b->overflow) {
    count(&counters.put_errors);
    return;
  }
  mida__rec rec;
  memset(&rec, 0, sizeof rec);
  rec.type = MIDA_REC_TELEMETRY;
  mida__rec_set_str(&rec, MIDA_F_HOST, mida__hostname(), (size_t)-1);
  mida__rec_set_i64(&rec, MIDA_F_PID, pid);
  mida__rec_set_i64(&rec, MIDA_F_TS, ts);
  mida_id_t wf = mida__shared_id_load(&sp->session->workflow);
  if (!mida_id_is_nil(&wf))
    mida__rec_set_id(&rec, MIDA_F_WORKFLOW, &wf);
  mida__rec_set_str(&rec, MIDA_F_METADATA, b->p, b->len);
  if (mida__session_put(sp->session, &rec) != MIDA_OK)
    count(&counters.put_errors);
  else
    count(pid == 0 ? &counters.host_samples : &counters.samples);
}

/* Tries to become the host's sampler. */
static void try_lead(mida__sampler *sp) {
  if (sp->leader)
    return;
  if (sp->lock_fd < 0)
    sp->lock_fd = open(sp->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (sp->lock_fd < 0)
    return;
  if (flock(sp->lock_fd, LOCK_EX | LOCK_NB) == 0) {
    sp->leader = 1;
    atomic_store(&counters.leader, 1);
  }
}

static void sample_once(mida__sampler *sp) {
  int64_t now = mono_now();
  int64_t ts = mida_now_ns();
  jbuf b = {sp->jbuf, JSON_BUF, 0, 0};
  if (sp->mask & MIDA_SAMPLE_PROC) {
    jb_raw(&b, "{", 1);
    sample_process(sp, &b, now);
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
      jb_raw(&b, "}", 1);
      put_sample(sp, 0, ts, &b);
    }
  }
  sp->prev.mono_ns = now;
  sp->ticks++;
  struct timespec t;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0)
    atomic_store(&counters.sampler_cpu_ns, (uint64_t)ts_ns(&t));
}

static void *sampler_main(void *arg) {
  pthread_setname_np(pthread_self(), "mida-sampler"); /* for top -H, perf */
  mida__sampler *sp = arg;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  pthread_mutex_lock(&sp->lock);
  while (!sp->stop) {
    pthread_mutex_unlock(&sp->lock);
    sample_once(sp);
    pthread_mutex_lock(&sp->lock);
    /* Absolute deadlines: the rate does not drift with the work done. */
    int64_t at = ts_ns(&next) + sp->period_ns;
    int64_t now = mono_now();
    if (at < now)
      at = now; /* fell behind (suspended, overloaded): do not burst */
    next.tv_sec = at / 1000000000;
    next.tv_nsec = at % 1000000000;
    while (!sp->stop &&
           pthread_cond_timedwait(&sp->wake, &sp->lock, &next) != ETIMEDOUT)
      ;
  }
  pthread_mutex_unlock(&sp->lock);
  sample_once(sp); /* the last one, so a short run has an end point */
  return NULL;
}

static void sampler_free(mida__sampler *sp) {
  if (sp->lock_fd >= 0)
    close(sp->lock_fd); /* releases the flock */
  atomic_store(&counters.leader, 0);
  mida__gpu_close(sp->gpu);
  mida__free(sp->rbuf);
  mida__free(sp->jbuf);
  mida__free(sp);
}

int mida__sampler_start(mida_session_t *s, double hz, int mask,
                        const char *spool, mida__sampler **out) {
  *out = NULL;
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
  sp->session = s;
  sp->period_ns = (int64_t)(1e9 / hz);
  sp->mask = mask;
  sp->lock_fd = -1;
  sp->retry_ticks = (unsigned)(hz * 5) > 0 ? (unsigned)(hz * 5) : 1;
  snprintf(sp->lock_path, sizeof sp->lock_path, "%s/telemetry.%s.lock",
           spool, mida__hostname());
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
  *out = sp;
  return MIDA_OK;
}

/* Writes one counter record (the store keeps the maximum); a counter that
 * is still 0 is not written. */
static void put_counter(mida_session_t *s, const char *key, uint64_t v) {
  if (v == 0)
    return;
  mida__rec rec;
  memset(&rec, 0, sizeof rec);
  rec.type = MIDA_REC_COUNTER;
  mida__rec_set_str(&rec, MIDA_F_HOST, mida__hostname(), (size_t)-1);
  mida__rec_set_i64(&rec, MIDA_F_PID, (int64_t)getpid());
  mida__rec_set_str(&rec, MIDA_F_KEY, key, (size_t)-1);
  mida__rec_set_i64(&rec, MIDA_F_VALUE_I, (int64_t)v);
  (void)mida__session_put(s, &rec);
}

void mida__sampler_stop(mida__sampler *sp) {
  if (sp == NULL)
    return;
  pthread_mutex_lock(&sp->lock);
  sp->stop = 1;
  pthread_cond_signal(&sp->wake);
  pthread_mutex_unlock(&sp->lock);
  pthread_join(sp->thread, NULL);
  pthread_cond_destroy(&sp->wake);
  pthread_mutex_destroy(&sp->lock);

  mida__telemetry_stats st;
  mida__telemetry_stats_get(&st);
  put_counter(sp->session, "telemetry.read_errors", st.read_errors);
  put_counter(sp->session, "telemetry.parse_errors", st.parse_errors);
  put_counter(sp->session, "telemetry.truncated", st.truncated);
  put_counter(sp->session, "telemetry.put_errors", st.put_errors);
  put_counter(sp->session, "telemetry.task_unmatched", st.task_unmatched);
  put_counter(sp->session, "telemetry.task_evicted", st.task_evicted);
  put_counter(sp->session, "telemetry.gpu_symbols_missing",
              st.gpu_symbols_missing);
  put_counter(sp->session, "telemetry.gpu_read_errors", st.gpu_read_errors);
  atomic_store_explicit(&gpu_energy_mask, 0, memory_order_release);
  sampler_free(sp);
  atomic_flag_clear(&sampler_running);
}

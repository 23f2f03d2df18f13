/*
 * task.c -- per-task resource use (see telemetry.h): a snapshot of the
 * calling thread's counters when a task begins, a second when it ends, and
 * the differences as a JSON summary that src/api/capture.c puts in the
 * task's end record.
 *
 * This runs on the capture path: it allocates nothing (the snapshots live
 * in a thread-local stack) and makes one getrusage() per snapshot at the
 * default level.
 */
#include "telemetry/telemetry_int.h"

#include <pthread.h>
#include <sys/resource.h>

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

/* The open tasks of this thread, oldest first; and the thread's latest
 * level-1 snapshot with the monotonic time it was taken at (0: none). */
static _Thread_local struct {
  int n;                           /* entries in use */
  snap s[MIDA_TELEMETRY_STACK];    /* the snapshots */
  snap last;                       /* the latest snapshot taken */
  int64_t last_mono_ns;            /* when, CLOCK_MONOTONIC; 0: none */
} tls_stack;

/* A child of fork() is a new process whose thread counters start at 0:
 * its first task must not begin on a snapshot of its parent's thread. */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_last_in_child(void) { tls_stack.last_mono_ns = 0; }

static void register_atfork(void) {
  (void)pthread_atfork(NULL, NULL, forget_last_in_child);
}

static int64_t mono_ns(void) {
  struct timespec t;
  if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) /* the vDSO: no syscall */
    return 0;
  return ts_ns(&t);
}

static void read_gpus(snap *sn) {
  sn->gpu_mask =
      atomic_load_explicit(&mida__gpu_energy_mask, memory_order_acquire);
  for (int i = 0; i < MIDA_TELEMETRY_GPUS; i++)
    if (sn->gpu_mask & (1u << i))
      sn->gpu_mj[i] =
          atomic_load_explicit(&mida__gpu_energy_mj[i], memory_order_relaxed);
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
  read_gpus(sn);
  if (level == 1) {
    tls_stack.last = *sn;
    tls_stack.last_mono_ns = mono_ns();
  }
}

/* A begin snapshot: the thread's latest one when it is at most
 * MIDA_TELEMETRY_REUSE_NS old (level 1 only), else a new one. Back-to-back
 * tasks (a loop of calls, nested tasks) then cost one getrusage() each
 * instead of two; what the task is charged in addition is what the thread
 * did in those few microseconds before it began -- within the resolution
 * of getrusage's microsecond times -- and a context switch there would
 * have taken longer than that. */
static void take_begin(int level, snap *sn) {
  if (level == 1 && tls_stack.last_mono_ns != 0) {
    int64_t age = mono_ns() - tls_stack.last_mono_ns;
    if (age >= 0 && age <= MIDA_TELEMETRY_REUSE_NS) {
      *sn = tls_stack.last;
      read_gpus(sn); /* the sampler's latest readings, as for a new one */
      telemetry_count(&mida__telemetry_counters.task_reused);
      return;
    }
  }
  take(level, sn);
}

void mida__telemetry_task_begin(int level, const mida_id_t *task) {
  if (level <= 0)
    return;
  pthread_once(&atfork_once, register_atfork);
  if (tls_stack.n == MIDA_TELEMETRY_STACK) {
    /* A full stack means tasks were begun and never ended on this thread:
     * the oldest is the likeliest to be abandoned. */
    memmove(&tls_stack.s[0], &tls_stack.s[1],
            (MIDA_TELEMETRY_STACK - 1) * sizeof(snap));
    tls_stack.n--;
    telemetry_count(&mida__telemetry_counters.task_evicted);
  }
  snap *sn = &tls_stack.s[tls_stack.n];
  take_begin(level, sn);
  sn->task = *task;
  tls_stack.n++;
}

/* `"key":` (the object's first) and `,"key":` as text and length, for
 * put_i64. */
#define KEY(k) "\"" k "\":", sizeof("\"" k "\":") - 1
#define NEXT(k) ",\"" k "\":", sizeof(",\"" k "\":") - 1

/* Writes key (klen bytes) and v at p, which has room; returns the end. */
static char *put_i64(char *p, const char *key, size_t klen, int64_t v) {
  memcpy(p, key, klen);
  p += klen;
  char num[24];
  char *e = num + sizeof num, *q = e;
  uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  do {
    *--q = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0)
    *--q = '-';
  memcpy(p, q, (size_t)(e - q));
  return p + (e - q);
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
    telemetry_count(&mida__telemetry_counters.task_unmatched);
    return 0;
  }
  snap end;
  take(level, &end);
  snap begin = tls_stack.s[at];
  memmove(&tls_stack.s[at], &tls_stack.s[at + 1],
          (size_t)(tls_stack.n - at - 1) * sizeof(snap));
  tls_stack.n--;

  /* Written straight into buf: the integer part is at most 10 keys of
   * under 24 bytes and 10 numbers of at most 20 digits, far below the cap
   * (MIDA_TELEMETRY_JSON_MAX), so it needs no bound checks; jb_i64 (bound
   * checks, strlen of each key) cost about 1,600 instructions a task. */
  char *p = buf;
  *p++ = '{';
  p = put_i64(p, KEY("cpu_thread_ns"), end.thread_cpu_ns - begin.thread_cpu_ns);
  if (level >= 2)
    p = put_i64(p, NEXT("cpu_process_ns"),
                end.process_cpu_ns - begin.process_cpu_ns);
  p = put_i64(p, NEXT("maxrss_kb"), end.maxrss_kb);
  p = put_i64(p, NEXT("maxrss_delta_kb"), end.maxrss_kb - begin.maxrss_kb);
  p = put_i64(p, NEXT("ctx_voluntary"), end.nvcsw - begin.nvcsw);
  p = put_i64(p, NEXT("ctx_involuntary"), end.nivcsw - begin.nivcsw);
  p = put_i64(p, NEXT("in_blocks"), end.inblock - begin.inblock);
  p = put_i64(p, NEXT("out_blocks"), end.oublock - begin.oublock);
  p = put_i64(p, NEXT("read_bytes"), (end.inblock - begin.inblock) * 512);
  p = put_i64(p, NEXT("write_bytes"),
              (end.oublock - begin.oublock) * 512);
  *p = '\0';
  jbuf b = {buf, cap, (size_t)(p - buf), 0};
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

size_t mida__telemetry_child_usage(const struct rusage *ru, char *buf,
                                   size_t cap) {
  if (cap < MIDA_TELEMETRY_JSON_MAX)
    return 0;
  int64_t user = (int64_t)ru->ru_utime.tv_sec * 1000000000 +
                 (int64_t)ru->ru_utime.tv_usec * 1000;
  int64_t sys = (int64_t)ru->ru_stime.tv_sec * 1000000000 +
                (int64_t)ru->ru_stime.tv_usec * 1000;
  jbuf b = {buf, cap, 0, 0};
  buf[0] = '\0';
  jb_raw(&b, "{", 1);
  jb_i64(&b, "cpu_process_ns", user + sys);
  jb_i64(&b, "cpu_user_ns", user);
  jb_i64(&b, "cpu_system_ns", sys);
  jb_i64(&b, "maxrss_kb", ru->ru_maxrss);
  jb_i64(&b, "ctx_voluntary", ru->ru_nvcsw);
  jb_i64(&b, "ctx_involuntary", ru->ru_nivcsw);
  jb_i64(&b, "in_blocks", ru->ru_inblock);
  jb_i64(&b, "out_blocks", ru->ru_oublock);
  jb_i64(&b, "read_bytes", (int64_t)ru->ru_inblock * 512);
  jb_i64(&b, "write_bytes", (int64_t)ru->ru_oublock * 512);
  jb_i64(&b, "minflt", ru->ru_minflt);
  jb_i64(&b, "majflt", ru->ru_majflt);
  jb_raw(&b, "}", 1);
  return b.overflow ? 0 : b.len;
}

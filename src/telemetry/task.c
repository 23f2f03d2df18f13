/*
 * task.c -- per-task resource use (see telemetry.h): a snapshot of the
 * calling thread's counters when a task begins, a second when it ends, and
 * the differences as a JSON summary that src/api/capture.c puts in the
 * task's end record.
 *
 * This runs on the capture path: it allocates nothing (the snapshots live
 * in a thread-local stack) and makes one getrusage() per snapshot at the
 * default level; it reads the wall clock only where its caller has not
 * (capture.c hands it the time it read for the record, and takes the end
 * snapshot's time as the task's end time).
 */
#include "telemetry/telemetry_int.h"

#include "core/tls_addr.h"

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
 * level-1 snapshot with the wall-clock time it was taken at (0: none).
 * Each function below finds it once, through thread_stack(). */
typedef struct task_stack {
  int n;                           /* entries in use */
  snap s[MIDA_TELEMETRY_STACK];    /* the snapshots */
  snap last;                       /* the latest snapshot taken */
  int64_t last_ns;                 /* when, mida_now_ns(); 0: none */
} task_stack;
static _Thread_local task_stack tls_stack;

/* The calling thread's stack, its address found once (core/tls_addr.h:
 * a dozen calls of __tls_get_addr in mida__telemetry_task_end else). */
MIDA_TLS_ACCESSOR(thread_stack, task_stack, tls_stack)

/* A child of fork() is a new process whose thread counters start at 0:
 * its first task must not begin on a snapshot of its parent's thread. */
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void forget_last_in_child(void) { tls_stack.last_ns = 0; }

static void register_atfork(void) {
  (void)pthread_atfork(NULL, NULL, forget_last_in_child);
}

static void read_gpus(snap *sn) {
  unsigned mask =
      atomic_load_explicit(&mida__gpu_energy_mask, memory_order_acquire);
  sn->gpu_mask = mask;
  for (int i = 0; mask != 0; i++, mask >>= 1)
    if (mask & 1u)
      sn->gpu_mj[i] =
          atomic_load_explicit(&mida__gpu_energy_mj[i], memory_order_relaxed);
}

/* A new snapshot into *sn. The caller keeps a level-1 one as the thread's
 * latest (ts->last, ts->last_ns). */
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
}

/* A begin snapshot into *sn: the thread's latest one when it is at most
 * MIDA_TELEMETRY_REUSE_NS old at now_ns (level 1 only), else a new one.
 * Back-to-back tasks (a loop of calls, nested tasks) then cost one
 * getrusage() each instead of two; what the task is charged in addition is
 * what the thread did in those few microseconds before it began -- within
 * the resolution of getrusage's microsecond times -- and a context switch
 * there would have taken longer than that. The age is read on the wall
 * clock that the records' times come from (the caller's reading, so that
 * a task's begin reads the clock once): a clock set back gives a negative
 * age, a clock set forward a large one, and either takes a new snapshot. */
static void take_begin(task_stack *ts, int level, snap *sn, int64_t now_ns) {
  if (level == 1 && ts->last_ns != 0) {
    if (now_ns == 0)
      now_ns = mida_now_ns();
    int64_t age = now_ns - ts->last_ns;
    if (age >= 0 && age <= MIDA_TELEMETRY_REUSE_NS) {
      *sn = ts->last;
      read_gpus(sn); /* the sampler's latest readings, as for a new one */
      telemetry_count(&mida__telemetry_counters.task_reused);
      return;
    }
  }
  take(level, sn);
  if (level == 1) {
    ts->last = *sn;
    /* Taken after now_ns: dated then, its age is, if anything, overstated,
     * and it is never reused past the window. */
    ts->last_ns = now_ns != 0 ? now_ns : mida_now_ns();
  }
}

void mida__telemetry_task_begin(int level, const mida_id_t *task,
                                int64_t now_ns) {
  if (level <= 0)
    return;
  pthread_once(&atfork_once, register_atfork);
  task_stack *ts = thread_stack();
  if (ts->n == MIDA_TELEMETRY_STACK) {
    /* A full stack means tasks were begun and never ended on this thread:
     * the oldest is the likeliest to be abandoned. */
    memmove(&ts->s[0], &ts->s[1], (MIDA_TELEMETRY_STACK - 1) * sizeof(snap));
    ts->n--;
    telemetry_count(&mida__telemetry_counters.task_evicted);
  }
  snap *sn = &ts->s[ts->n];
  take_begin(ts, level, sn, now_ns);
  sn->task = *task;
  ts->n++;
}

/* Powers of ten, for the digit count of put_i64. */
static const uint64_t pow10_u64[] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

/* Writes v in decimal at p, which has room for 20 bytes; returns the end.
 * Most of a summary's values are 0 (a task that neither waited nor did
 * I/O), written at once; the others are written from their last digit
 * back, once their length is known. */
static char *put_i64(char *p, int64_t v) {
  if (v >= 0 && v < 10) {
    *p++ = (char)('0' + v);
    return p;
  }
  uint64_t u = (uint64_t)v;
  if (v < 0) {
    *p++ = '-';
    u = (uint64_t)0 - u;
  }
  int digits = 1;
  while (digits < 20 && u >= pow10_u64[digits])
    digits++;
  char *e = p + digits;
  do {
    *--e = (char)('0' + u % 10);
    u /= 10;
  } while (u != 0);
  return p + digits;
}

/* Writes the literal key text k (`"key":` or `,"key":`), then v, at p,
 * which has room; the expression's value is the end. A literal's length is
 * a constant, so the copy is a few stores, not a call of memcpy. */
#define PUT(p, k, v)                                                         \
  (memcpy((p), k, sizeof(k) - 1), put_i64((p) + sizeof(k) - 1, (v)))
#define KEY(k) "\"" k "\":"
#define NEXT(k) ",\"" k "\":"

size_t mida__telemetry_task_end(int level, const mida_id_t *task, char *buf,
                                size_t cap, int64_t *now_ns) {
  if (now_ns != NULL)
    *now_ns = 0;
  if (level <= 0 || cap < MIDA_TELEMETRY_JSON_MAX)
    return 0;
  task_stack *ts = thread_stack();
  int at = -1;
  for (int i = ts->n - 1; i >= 0; i--) {
    if (memcmp(ts->s[i].task.bytes, task->bytes, 16) == 0) {
      at = i;
      break;
    }
  }
  if (at < 0) {
    telemetry_count(&mida__telemetry_counters.task_unmatched);
    return 0;
  }
  /* At level 1 the end snapshot becomes the thread's latest as it is
   * taken, dated by the clock read right after it, which the caller uses
   * as the task's end time. */
  snap local;
  snap *end = level == 1 ? &ts->last : &local;
  take(level, end);
  int64_t now = mida_now_ns();
  if (level == 1)
    ts->last_ns = now;
  if (now_ns != NULL)
    *now_ns = now;
  const snap *begin = &ts->s[at];

  /* Written straight into buf: the integer part is at most 10 keys of
   * under 24 bytes and 10 numbers of at most 20 digits, far below the cap
   * (MIDA_TELEMETRY_JSON_MAX), so it needs no bound checks; jb_i64 (bound
   * checks, strlen of each key) cost about 1,600 instructions a task. */
  char *p = buf;
  *p++ = '{';
  p = PUT(p, KEY("cpu_thread_ns"), end->thread_cpu_ns - begin->thread_cpu_ns);
  if (level >= 2)
    p = PUT(p, NEXT("cpu_process_ns"),
            end->process_cpu_ns - begin->process_cpu_ns);
  p = PUT(p, NEXT("maxrss_kb"), end->maxrss_kb);
  p = PUT(p, NEXT("maxrss_delta_kb"), end->maxrss_kb - begin->maxrss_kb);
  p = PUT(p, NEXT("ctx_voluntary"), end->nvcsw - begin->nvcsw);
  p = PUT(p, NEXT("ctx_involuntary"), end->nivcsw - begin->nivcsw);
  p = PUT(p, NEXT("in_blocks"), end->inblock - begin->inblock);
  p = PUT(p, NEXT("out_blocks"), end->oublock - begin->oublock);
  p = PUT(p, NEXT("read_bytes"), (end->inblock - begin->inblock) * 512);
  p = PUT(p, NEXT("write_bytes"), (end->oublock - begin->oublock) * 512);
  *p = '\0';
  jbuf b = {buf, cap, (size_t)(p - buf), 0};
  unsigned both = begin->gpu_mask & end->gpu_mask;
  for (int i = 0; both != 0; i++, both >>= 1) {
    if ((both & 1u) && end->gpu_mj[i] >= begin->gpu_mj[i]) {
      char key[24] = "gpu0_energy_j";
      key[3] = (char)('0' + i);
      jb_f64(&b, key, (double)(end->gpu_mj[i] - begin->gpu_mj[i]) / 1000.0);
    }
  }
  jb_raw(&b, "}", 1);
  /* The begin snapshot leaves the stack (usually its top: nothing moves). */
  if (at < ts->n - 1)
    memmove(&ts->s[at], &ts->s[at + 1],
            (size_t)(ts->n - at - 1) * sizeof(snap));
  ts->n--;
  return b.overflow ? 0 : b.len;
}

/*
 * bench_sink_dask.c -- what the SQLite store does for the records of a Dask
 * task, as the shippers of a Dask scheduler and of a worker hand them over
 * (issue 17, item 1: the shippers' CPU).
 *
 * The records are the ones mida/dask.py and the TaskMeter make for a task
 * of a client.map (checked against a real run's store):
 *
 *   scheduler  a workflow's begin and end; for each task, its begin (id,
 *              activity, workflow, status SUBMITTED, submitted, Dask key)
 *   worker     for each task, its run's start (run id, task, RUNNING,
 *              started, worker address) and end (FINISHED, started, ended,
 *              worker, per-task telemetry), the task's arguments and
 *              result (used, generated) and its end (custom: nbytes and
 *              typename); host and pid come from the batch's origin
 *
 * handed to the sink already decoded, in batches of --batch tasks (a
 * worker's shipper passes every 500 ms: ~300 tasks at the 10,000-task
 * bench's rate), the scheduler's batches before the worker's, each through
 * its own connection to one store file. A first round of one batch each
 * (statements prepared, the file made) is not counted.
 *
 * Count the instructions with callgrind (wall time moves with the machine's
 * load; instructions do not): bench/bench_sink_dask.sh runs it under
 * callgrind and prints the instructions a task of each phase, from the
 * inclusive cost of measure_scheduler and measure_worker.
 *
 * Usage: bench_sink_dask [TASKS [BATCH [PATH]]]   (default 1200, 300,
 * /tmp/...); prints the wall time of each phase and a final JSON line.
 * -h or --help prints the usage; a count that is not a whole number from
 * 1 to MAX_COUNT, an argument more, or an unknown MIDA_BENCH_ORDER is
 * refused with exit status 2 before anything is made (it took "--help"
 * for a count of 0, made it 1, and ran).
 * MIDA_BENCH_ORDER=worker_first applies the worker's batches first: its
 * shipper may pass before the scheduler's, and then the run summaries
 * make the tasks' rows rather than update them. MIDA_BENCH_ORDER=
 * one_process hands each batch's scheduler and worker records to one
 * connection in one batch, as the one shipper of a process that is both
 * (LocalCluster(processes=False), bench_dask_ir.py) does; all of it
 * counts as the worker's. MIDA_BENCH_ORDER=redelivered applies each of
 * the worker's batches twice, as a shipper that resends them would: the
 * second time each task's runs were summarised already (task.attempts is
 * set), so its summary takes the general form (sqlite_summary.c); both
 * count as the worker's. MIDA_BENCH_DEPS=D (0 to 8, default 0) gives each
 * task D dependencies on the tasks before it, as a graph's edges (the
 * scheduler's records; client.map's tasks have none).
 */
#include "benchutil.h"
#include "sink/sink.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECS_PER_TASK 4 /* the worker's; the scheduler's is 1 */
#define MAX_DEPS 8       /* MIDA_BENCH_DEPS at most */

static size_t deps_per_task; /* MIDA_BENCH_DEPS */

static const char worker_addr[] = "tcp://127.0.0.1:40731";
static const char telemetry_json[] =
    "{\"cpu_thread_ns\":21000,\"maxrss_kb\":82428,\"maxrss_delta_kb\":0,"
    "\"ctx_voluntary\":0,\"ctx_involuntary\":0,\"in_blocks\":0,"
    "\"out_blocks\":0,\"read_bytes\":0,\"write_bytes\":0}";
static const char custom_json[] = "{\"nbytes\":28,\"typename\":\"int\"}";

/* One task's ids and the texts its records point to. */
typedef struct task_ids {
  mida_id_t task;  /* the task */
  mida_id_t run;   /* its run on the worker */
  char key[48];    /* its Dask key */
  char used[32];   /* {"x":i} */
  char result[32]; /* {"return":i+1} */
} task_ids;

static mida__rec *new_rec(mida__rec *recs, size_t *n, int type) {
  mida__rec *r = &recs[(*n)++];
  memset(r, 0, sizeof *r);
  r->type = type;
  return r;
}

/* The scheduler's records of tasks [lo, hi): their begins. */
static size_t scheduler_records(mida__rec *recs, const task_ids *t, size_t lo,
                                size_t hi, const mida_id_t *wf, int64_t now) {
  size_t n = 0;
  for (size_t i = lo; i < hi; i++) {
    mida__rec *r = new_rec(recs, &n, MIDA_REC_TASK);
    mida__rec_set_id(r, MIDA_F_ID, &t[i].task);
    mida__rec_set_str(r, MIDA_F_ACTIVITY, "inc", (size_t)-1);
    mida__rec_set_id(r, MIDA_F_WORKFLOW, wf);
    mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_SUBMITTED);
    mida__rec_set_i64(r, MIDA_F_SUBMITTED, now);
    mida__rec_set_str(r, MIDA_F_SOURCE_KEY, t[i].key, (size_t)-1);
    for (size_t d = 1; d <= deps_per_task && d <= i; d++) {
      r = new_rec(recs, &n, MIDA_REC_DEP);
      mida__rec_set_id(r, MIDA_F_TASK, &t[i].task);
      mida__rec_set_id(r, MIDA_F_PARENT, &t[i - d].task);
    }
  }
  return n;
}

/* The worker's records of tasks [lo, hi), in the order it makes them. */
static size_t worker_records(mida__rec *recs, const task_ids *t, size_t lo,
                             size_t hi, int64_t now) {
  size_t n = 0;
  for (size_t i = lo; i < hi; i++) {
    int64_t started = now + (int64_t)i * 1000000, ended = started + 25000;
    mida__rec *r = new_rec(recs, &n, MIDA_REC_RUN);
    mida__rec_set_id(r, MIDA_F_ID, &t[i].run);
    mida__rec_set_id(r, MIDA_F_TASK, &t[i].task);
    mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
    mida__rec_set_i64(r, MIDA_F_STARTED, started);
    mida__rec_set_str(r, MIDA_F_WORKER, worker_addr, (size_t)-1);
    r = new_rec(recs, &n, MIDA_REC_RUN);
    mida__rec_set_id(r, MIDA_F_ID, &t[i].run);
    mida__rec_set_id(r, MIDA_F_TASK, &t[i].task);
    mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
    mida__rec_set_i64(r, MIDA_F_STARTED, started);
    mida__rec_set_i64(r, MIDA_F_ENDED, ended);
    mida__rec_set_str(r, MIDA_F_WORKER, worker_addr, (size_t)-1);
    mida__rec_set_str(r, MIDA_F_TELEMETRY, telemetry_json, (size_t)-1);
    r = new_rec(recs, &n, MIDA_REC_TASK);
    mida__rec_set_id(r, MIDA_F_ID, &t[i].task);
    mida__rec_set_str(r, MIDA_F_USED, t[i].used, (size_t)-1);
    mida__rec_set_str(r, MIDA_F_GENERATED, t[i].result, (size_t)-1);
    r = new_rec(recs, &n, MIDA_REC_TASK);
    mida__rec_set_id(r, MIDA_F_ID, &t[i].task);
    mida__rec_set_str(r, MIDA_F_CUSTOM, custom_json, (size_t)-1);
  }
  return n;
}

/* The workflow's begin or end. */
static size_t workflow_record(mida__rec *recs, const mida_id_t *wf, int end,
                              int64_t now) {
  size_t n = 0;
  mida__rec *r = new_rec(recs, &n, MIDA_REC_WORKFLOW);
  mida__rec_set_id(r, MIDA_F_ID, wf);
  if (end) {
    mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
    mida__rec_set_i64(r, MIDA_F_ENDED, now);
    return n;
  }
  mida__rec_set_str(r, MIDA_F_NAME, "dask Client-d02ea0ba", (size_t)-1);
  mida__rec_set_str(r, MIDA_F_SOURCE, "dask", (size_t)-1);
  mida__rec_set_str(r, MIDA_F_USER, "bench", (size_t)-1);
  mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
  mida__rec_set_i64(r, MIDA_F_STARTED, now);
  mida__rec_set_str(r, MIDA_F_METADATA, "{\"client\":\"Client-d02ea0ba\"}",
                    (size_t)-1);
  return n;
}

typedef struct phase {
  mida__sink *sink;    /* the shipper's connection */
  mida__origin origin; /* its host and pid */
  mida__rec *recs;     /* scratch: one batch's records */
} phase;

static int put(phase *p, size_t n) {
  int rc = mida__sink_put_batch(p->sink, p->recs, n, &p->origin);
  if (rc != MIDA_OK)
    fprintf(stderr, "put_batch: %s\n", mida__sink_errmsg(p->sink));
  return rc;
}

/* The scheduler's batches of tasks [lo, hi), with the workflow's begin in
 * the first and its end in the last; with_worker: each with the worker's
 * records of its tasks too, as the shipper of a process that is both puts
 * them (MIDA_BENCH_ORDER=one_process). */
static int scheduler_batches(phase *p, const task_ids *t, size_t lo, size_t hi,
                             size_t batch, const mida_id_t *wf,
                             int with_worker) {
  int64_t now = mida_now_ns();
  int rc = MIDA_OK;
  for (size_t b = lo; b < hi && rc == MIDA_OK; b += batch) {
    size_t e = b + batch < hi ? b + batch : hi, n = 0;
    if (b == lo)
      n += workflow_record(p->recs, wf, 0, now);
    n += scheduler_records(p->recs + n, t, b, e, wf, now);
    if (with_worker)
      n += worker_records(p->recs + n, t, b, e, now);
    if (e == hi)
      n += workflow_record(p->recs + n, wf, 1, now);
    rc = put(p, n);
  }
  return rc;
}

static int worker_batches(phase *p, const task_ids *t, size_t lo, size_t hi,
                          size_t batch) {
  int64_t now = mida_now_ns();
  int rc = MIDA_OK;
  for (size_t b = lo; b < hi && rc == MIDA_OK; b += batch) {
    size_t e = b + batch < hi ? b + batch : hi;
    rc = put(p, worker_records(p->recs, t, b, e, now));
  }
  return rc;
}

/* The counted calls: callgrind's inclusive cost of these two is the
 * figure (bench_sink_dask.sh). */
__attribute__((noinline)) int measure_scheduler(phase *p, const task_ids *t,
                                                size_t lo, size_t hi,
                                                size_t batch,
                                                const mida_id_t *wf) {
  return scheduler_batches(p, t, lo, hi, batch, wf, 0);
}

__attribute__((noinline)) int measure_worker(phase *p, const task_ids *t,
                                             size_t lo, size_t hi, size_t batch,
                                             const mida_id_t *wf, int twice) {
  if (wf != NULL)
    return scheduler_batches(p, t, lo, hi, batch, wf, 1);
  int rc = worker_batches(p, t, lo, hi, batch);
  if (rc == MIDA_OK && twice)
    rc = worker_batches(p, t, lo, hi, batch);
  return rc;
}

static int open_phase(phase *p, const char *url, int64_t pid, size_t batch) {
  char err[512];
  p->origin.host = "benchhost";
  p->origin.pid = pid;
  p->recs =
      malloc((batch * (RECS_PER_TASK + 1 + MAX_DEPS) + 2) * sizeof *p->recs);
  if (p->recs == NULL) {
    fprintf(stderr, "out of memory\n");
    return MIDA_ENOMEM;
  }
  int rc = mida__sink_open(url, 0, &p->sink, err, sizeof err);
  if (rc != MIDA_OK)
    fprintf(stderr, "open %s: %s\n", url, err);
  return rc;
}

/* The largest count of tasks or of a batch: far past what the bench is
 * for, and small enough that the arrays of the tasks cannot overflow. */
#define MAX_COUNT 100000000

static const char usage[] =
    "usage: bench_sink_dask [TASKS [BATCH [PATH]]]\n"
    "  TASKS  the tasks counted (default 1200)\n"
    "  BATCH  the tasks a batch carries (default 300)\n"
    "  PATH   the store file, made anew and removed at the end\n"
    "         (default /tmp/mida_sink_dask_bench.db)\n"
    "environment: MIDA_BENCH_ORDER=worker_first, one_process or\n"
    "redelivered; MIDA_BENCH_DEPS=0..8, each task's dependencies (see\n"
    "bench_sink_dask.c); bench_sink_dask.sh counts its instructions.\n";

/* Says why arg is refused (why, a printf format of one int: MAX_COUNT),
 * with the usage; the exit status of a usage error. */
static int refuse(const char *arg, const char *why) {
  fprintf(stderr, "bench_sink_dask: '%s' ", arg);
  fprintf(stderr, why, MAX_COUNT);
  fprintf(stderr, "\n%s", usage);
  return 2;
}

/* The whole number from 1 to MAX_COUNT that text is, into *out; 0 when it
 * is not one (a sign, a space, anything after the digits). */
static int parse_count(const char *text, size_t *out) {
  if (text[0] < '0' || text[0] > '9')
    return 0;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < 1 || v > MAX_COUNT)
    return 0;
  *out = (size_t)v;
  return 1;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
  size_t tasks = 1200, batch = 300;
  if (argc > 4)
    return refuse(argv[4], "is one argument too many");
  if (argc > 1 && !parse_count(argv[1], &tasks))
    return refuse(argv[1], "is not a count of tasks (1 to %d)");
  if (argc > 2 && !parse_count(argv[2], &batch))
    return refuse(argv[2], "is not a batch size (1 to %d)");
  const char *path = argc > 3 ? argv[3] : "/tmp/mida_sink_dask_bench.db";
  const char *order = getenv("MIDA_BENCH_ORDER");
  if (order != NULL && order[0] != '\0' && strcmp(order, "worker_first") != 0 &&
      strcmp(order, "one_process") != 0 && strcmp(order, "redelivered") != 0)
    return refuse(order, "is no MIDA_BENCH_ORDER (worker_first, one_process,"
                         " redelivered)");
  const char *deps = getenv("MIDA_BENCH_DEPS");
  if (deps != NULL && deps[0] != '\0') {
    if (deps[0] < '0' || deps[0] > '0' + MAX_DEPS || deps[1] != '\0')
      return refuse(deps, "is no MIDA_BENCH_DEPS (0 to 8)");
    deps_per_task = (size_t)(deps[0] - '0');
  }
  bench_remove_sqlite(path);
  unlink(path);
  char url[1100];
  snprintf(url, sizeof url, "sqlite://%s", path);

  /* A first round of one batch (warm) and then the counted tasks. */
  size_t warm = batch, all = warm + tasks;
  task_ids *t = calloc(all, sizeof *t);
  if (t == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  for (size_t i = 0; i < all; i++) {
    t[i].task = mida_id_new();
    t[i].run = mida_id_new();
    snprintf(t[i].key, sizeof t[i].key, "inc-%032zx", i * 2654435761u);
    snprintf(t[i].used, sizeof t[i].used, "{\"x\":%zu}", i);
    snprintf(t[i].result, sizeof t[i].result, "{\"return\":%zu}", i + 1);
  }
  phase sched = {0}, worker = {0};
  int rc = open_phase(&sched, url, 1000, batch);
  if (rc == MIDA_OK)
    rc = open_phase(&worker, url, 2000, batch);
  mida_id_t wf_warm = mida_id_new(), wf = mida_id_new();
  if (rc == MIDA_OK)
    rc = scheduler_batches(&sched, t, 0, warm, batch, &wf_warm, 0);
  if (rc == MIDA_OK)
    rc = worker_batches(&worker, t, 0, warm, batch);

  int worker_first = order != NULL && strcmp(order, "worker_first") == 0;
  int one_process = order != NULL && strcmp(order, "one_process") == 0;
  int redelivered = order != NULL && strcmp(order, "redelivered") == 0;
  int64_t ts = 0, tw = 0, t0 = bench_now();
  if (rc == MIDA_OK && (worker_first || one_process))
    rc = measure_worker(&worker, t, warm, all, batch, one_process ? &wf : NULL,
                        0);
  tw += bench_now() - t0;
  t0 = bench_now();
  if (rc == MIDA_OK && !one_process)
    rc = measure_scheduler(&sched, t, warm, all, batch, &wf);
  ts += bench_now() - t0;
  t0 = bench_now();
  if (rc == MIDA_OK && !worker_first && !one_process)
    rc = measure_worker(&worker, t, warm, all, batch, NULL, redelivered);
  tw += bench_now() - t0;

  if (rc == MIDA_OK) {
    double us_s = (double)ts / 1e3 / (double)tasks;
    double us_w = (double)tw / 1e3 / (double)tasks;
    printf("scheduler  %zu tasks in batches of %zu: %.1f us a task\n", tasks,
           batch, us_s);
    printf("worker     %zu tasks in batches of %zu: %.1f us a task%s\n", tasks,
           batch, us_w, worker_first ? " (first)" : "");
    printf("{\"bench\":\"sink_dask\",\"tasks\":%zu,\"batch\":%zu,"
           "\"worker_first\":%d,\"scheduler_us_per_task\":%.2f,"
           "\"worker_us_per_task\":%.2f}\n",
           tasks, batch, worker_first, us_s, us_w);
  }
  if (sched.sink != NULL)
    mida__sink_close(sched.sink);
  if (worker.sink != NULL)
    mida__sink_close(worker.sink);
  free(sched.recs);
  free(worker.recs);
  free(t);
  bench_remove_sqlite(path);
  return rc != MIDA_OK;
}

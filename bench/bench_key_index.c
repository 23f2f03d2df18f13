/*
 * bench_key_index.c -- steering queries on a key across all workflows, and
 * ingest, as the store grows; and what each key index costs at ingest.
 *
 * The store is filled through the sink (mida__sink_put_batch), as a
 * shipper or `mida ingest` fills it: each task is a begin record (used:
 * {"lr": uniform in [0, 1), "batch": ..., "optimizer": ...}) and an end
 * record (generated: {"loss": ..., "accuracy": ...}) in batches of 4096
 * records. At each size of BENCH_SIZES (default 1000000,5000000,10000000
 * tasks) it reports, side by side in one run:
 *
 *   ingest   tasks/s of the last 3 chunks of BENCH_CHUNK tasks (default
 *            100,000) before the size was reached: median and spread;
 *   top10    the API's sort=-used.lr&limit=10: the 10 tasks of largest
 *            used.lr, across all workflows;
 *   range    the API's where=used.lr>=0.5&where=used.lr<0.501 (about 0.1%
 *            of the tasks), newest first, a page of 100;
 *   range_by_key  the same with sort=used.lr: the first 100 in the key's
 *            order;
 *   range_1pct, range_5pct  newest first as range, over 1 % and 5 % of
 *            the tasks (where the side table of the key gives way to
 *            walking the tasks newest first, key_index.h);
 *   the ranges newest first again with the limits of the side table of
 *            the other store (key_index.h: SQLite's were PostgreSQL's
 *            too before they had their own), in turn with the store's;
 *
 * each query timed as the API runs it (the same SQL, from src/sink/key.c
 * and predicate.c, with the probe of key_index.c), without a key index
 * (the baseline: BENCH_BASE_RUNS runs, default 3, at most 7: a top 10
 * without the index reads the whole table, 16 s at 5M tasks on
 * PostgreSQL) and with `mida index used.lr` (7 runs), medians
 * with min and max; and how long building the index took. The index is
 * then dropped, so that the next sizes grow a store without it.
 *
 * Then the write cost of key indexes: BENCH_INDEX_TASKS (default 200,000;
 * 0: skipped) tasks into an empty store with 0, 1 and 4 key indexes
 * (used.lr, used.batch, generated.loss, generated.accuracy), 3 runs each.
 *
 *   bench_key_index sqlite            an SQLite file in a temporary folder
 *   bench_key_index sqlite://PATH     that SQLite file
 *   bench_key_index postgresql://...  an empty PostgreSQL database
 *
 * With BENCH_KEEP=1 the PostgreSQL database's (or the given SQLite
 * file's) tasks and, after the last size, its index of used.lr are kept
 * at the end (between sizes the index goes as without it, so that each
 * size's ingest and baseline are timed without it), and a run on a
 * database that holds tasks
 * already grows it only by the difference to each size (5M tasks take a
 * while to ingest, and 17 minutes to index on a loaded machine); a run
 * that finds the index kept times only the queries with it (the baseline
 * and the build: 0). The write-cost part empties the store: run it with
 * BENCH_INDEX_TASKS=0 to keep one.
 *
 * The last line is the figures as one JSON object (scripts/run-bench.sh
 * collects it; bench/plot_growth.py draws them).
 */
#include "sink/key_index.h"
#include "sink/sink.h"

#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 4096       /* records per put_batch */
#define QUERY_RUNS 7     /* timed runs of a query with the index */
#define BASE_RUNS 3      /* timed runs of a query without it */
#define INGEST_CHUNKS 3  /* chunks timed before each size */
#define COST_RUNS 3      /* runs of each write-cost figure */
#define MAX_SIZES 8

/* A median with its spread, in the unit of the figure. */
typedef struct stat3 {
  double med, lo, hi;
} stat3;

static stat3 stat_of(double *v, int n) {
  for (int i = 1; i < n; i++) /* insertion sort: n is small */
    for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
      double t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  stat3 s = {v[n / 2], v[0], v[n - 1]};
  if (n % 2 == 0)
    s.med = (v[n / 2 - 1] + v[n / 2]) / 2;
  return s;
}

static double now_s(void) {
  return (double)bench_now() / 1e9;
}

/* ---- records ------------------------------------------------------------ */

/* One batch of records and the JSON texts they point to. */
typedef struct batch {
  mida__rec recs[BATCH];        /* 2 per task */
  char text[BATCH / 2][2][128]; /* per task: used, generated */
} batch;

/* Fills b with n tasks of one workflow; each end follows its begin (short
 * tasks: one batch folds both into one row). */
static void batch_fill(batch *b, size_t n, const mida_id_t *wf,
                       const mida_id_t *camp) {
  int64_t t = mida_now_ns();
  for (size_t i = 0; i < n; i++) {
    mida_id_t id = mida_id_new();
    char *used = b->text[i][0], *gen = b->text[i][1];
    snprintf(used, 128,
             "{\"lr\":%.6f,\"batch\":%d,\"optimizer\":\"adam\",\"seed\":%zu}",
             (double)rand() / ((double)RAND_MAX + 1), 16 << (rand() % 4), i);
    snprintf(gen, 128, "{\"loss\":%.6f,\"accuracy\":%.6f}",
             (double)rand() / RAND_MAX, (double)rand() / RAND_MAX);
    mida__rec *r = &b->recs[2 * i], *e = r + 1;
    memset(r, 0, 2 * sizeof *r);
    r->type = e->type = MIDA_REC_TASK;
    mida__rec_set_id(r, MIDA_F_ID, &id);
    mida__rec_set_id(r, MIDA_F_WORKFLOW, wf);
    mida__rec_set_id(r, MIDA_F_CAMPAIGN, camp);
    mida__rec_set_str(r, MIDA_F_ACTIVITY, "train_step", (size_t)-1);
    mida__rec_set_i64(r, MIDA_F_STATUS, MIDA_STATUS_RUNNING);
    mida__rec_set_i64(r, MIDA_F_STARTED, t + (int64_t)i);
    mida__rec_set_str(r, MIDA_F_USED, used, (size_t)-1);
    mida__rec_set_id(e, MIDA_F_ID, &id);
    mida__rec_set_i64(e, MIDA_F_STATUS, MIDA_STATUS_FINISHED);
    mida__rec_set_i64(e, MIDA_F_ENDED, t + (int64_t)i + 1000);
    mida__rec_set_str(e, MIDA_F_GENERATED, gen, (size_t)-1);
  }
}

/* Ingests tasks tasks of one new workflow, batch by batch; returns tasks/s
 * of the store's work (making the records is not timed), or -1 on a
 * store error. */
static double ingest(mida__sink *sink, batch *b, size_t tasks) {
  static const mida__origin origin = {"benchhost", 4242};
  mida_id_t wf = mida_id_new(), camp = mida_id_new();
  double busy = 0;
  for (size_t done = 0; done < tasks;) {
    size_t n = tasks - done < BATCH / 2 ? tasks - done : BATCH / 2;
    batch_fill(b, n, &wf, &camp);
    double t0 = now_s();
    if (mida__sink_put_batch(sink, b->recs, 2 * n, &origin) != MIDA_OK) {
      fprintf(stderr, "bench_key_index: %s\n", mida__sink_errmsg(sink));
      return -1;
    }
    busy += now_s() - t0;
    done += n;
  }
  return (double)tasks / busy;
}

/* Grows the store by tasks tasks, in chunks of chunk_tasks; returns the
 * rates of the last chunks (at most max) in rates. */
static int grow(mida__sink *sink, batch *b, long long tasks,
                size_t chunk_tasks, double *rates, int max, int *nrates) {
  *nrates = 0;
  long long chunks =
      (tasks + (long long)chunk_tasks - 1) / (long long)chunk_tasks;
  for (long long k = 0; k < chunks; k++) {
    long long left = tasks - k * (long long)chunk_tasks;
    size_t n = left < (long long)chunk_tasks ? (size_t)left : chunk_tasks;
    double r = ingest(sink, b, n);
    if (r < 0)
      return -1;
    if (k >= chunks - max)
      rates[(*nrates)++] = r;
  }
  return 0;
}

/* ---- queries ------------------------------------------------------------ */

static int count_rows(void *ctx, int ncols, const char *const *names,
                      const char *const *values) {
  (void)ncols;
  (void)names;
  (void)values;
  (*(int *)ctx)++;
  return 0;
}

/* The SQL of the API's sort=-used.lr&limit=10 (src/serve/tasks.c). */
static int top10_sql(mida__buf *sql, const mida__key *k) {
  mida__buf expr;
  mida__buf_init(&expr, 512);
  int rc = mida__key_expr(&expr, k, MIDA_KEY_NUM, "t");
  if (rc == MIDA_OK)
    rc = mida__buf_printf(sql,
                          "SELECT t.id, t.used, t.generated FROM task t"
                          " WHERE %s IS NOT NULL ORDER BY %s DESC,"
                          " t.id DESC LIMIT 11",
                          mida__buf_str(&expr), mida__buf_str(&expr));
  mida__buf_free(&expr);
  return rc;
}

/* The forms of the API's range where=used.lr>=0.5&where=used.lr<HI, a
 * page of 100 (src/serve/tasks.c writes them):
 *   RANGE_NEWEST   newest first, HI 0.501 (0.1 % of the tasks): from the
 *                  key's side table when it holds few matches
 *                  (key_side.h), else the probe first (key_index.h);
 *   RANGE_BY_KEY   with sort=used.lr: the index walked in order from the
 *                  range's start, no probe;
 *   RANGE_1PCT     newest first, HI 0.51 (1 %: 10,000 matches at 1M,
 *                  50,000 at 5M, where the side table gives way to the
 *                  walk, MIDA_KEY_SIDE_FEW);
 *   RANGE_5PCT     newest first, HI 0.55 (5 %: the walk). */
enum { RANGE_NEWEST, RANGE_BY_KEY, RANGE_1PCT, RANGE_5PCT, RANGE_FORMS };

static const char *const range_hi[RANGE_FORMS] = {
    "used.lr<0.501", "used.lr<0.501", "used.lr<0.51", "used.lr<0.55"};
static const char *const range_name[RANGE_FORMS] = {"range", "range_by_key",
                                                    "range_1pct", "range_5pct"};

/* Times one run of a form of the API's range query, its probe included,
 * the side table's limits those given (key_index.h). */
static double range_once(mida__sink *sink, int form,
                         const mida__key_side_limits *limits, int *rows) {
  mida__predicate p[2];
  char why[200];
  mida__predicate_parse("used.lr>=0.5", &p[0], why, sizeof why);
  mida__predicate_parse(range_hi[form], &p[1], why, sizeof why);
  double t0 = now_s();
  int side = 0, counted = 0;
  if (form != RANGE_BY_KEY) { /* as tasks.c decides */
    side = mida__key_side_fits_within(sink, p, 2, 1, NULL, 101, limits);
    counted = side || p[0].many;
    if (!counted)
      mida__predicate_probe(sink, p, 2);
  }
  mida__buf sql;
  mida__buf_init(&sql, 4096);
  const char *params[2];
  int np = 0;
  mida__buf_adds(&sql, "SELECT t.id, t.used, t.generated FROM task t WHERE ");
  if (side) { /* the side table's page of ids (key_side.h) */
    mida__key_side_where(&sql, p, 2, "t", 1, 0, 101, side, params, &np);
    mida__buf_adds(&sql, " ORDER BY t.id DESC LIMIT 101");
  } else {
    if (form == RANGE_BY_KEY)
      mida__buf_adds(&sql, "mida_num(t.used, 'lr') IS NOT NULL AND ");
    mida__predicate_sql(&p[0], "t", &sql, params, &np);
    mida__buf_adds(&sql, " AND ");
    mida__predicate_sql(&p[1], "t", &sql, params, &np);
    mida__buf_adds(&sql, form == RANGE_BY_KEY
                             ? " ORDER BY mida_num(t.used, 'lr') ASC,"
                               " t.id ASC LIMIT 101"
                             : " ORDER BY t.id DESC LIMIT 101");
  }
  *rows = 0;
  int rc = mida__sink_query(sink, mida__buf_str(&sql), params, np, count_rows,
                            rows);
  double dt = now_s() - t0;
  mida__buf_free(&sql);
  if (rc != MIDA_OK)
    fprintf(stderr, "bench_key_index: %s\n", mida__sink_errmsg(sink));
  return dt * 1e3;
}

static int count_tasks(void *ctx, int ncols, const char *const *names,
                       const char *const *values) {
  (void)names;
  if (ncols > 0 && values[0] != NULL)
    *(long long *)ctx = strtoll(values[0], NULL, 10);
  return 0;
}

static double top10_once(mida__sink *sink, const char *sql, int *rows) {
  *rows = 0;
  double t0 = now_s();
  if (mida__sink_query(sink, sql, NULL, 0, count_rows, rows) != MIDA_OK)
    fprintf(stderr, "bench_key_index: %s\n", mida__sink_errmsg(sink));
  return (now_s() - t0) * 1e3;
}

/* The limits of the side table of the other store than the sink's: the
 * ranges newest first are timed with both, in turn, in one run. */
static const mida__key_side_limits *other_limits(const mida__sink *sink) {
  static const mida__key_side_limits sqlite = {
      MIDA_KEY_SIDE_FEW, MIDA_KEY_SIDE_FIRST, MIDA_KEY_SIDE_WALK_MOST};
  static const mida__key_side_limits postgres = {
      MIDA_KEY_SIDE_FEW_PG, MIDA_KEY_SIDE_FIRST_PG, MIDA_KEY_SIDE_WALK_MOST_PG};
  return strncmp(sink->methods->scheme, "postgres", 8) == 0 ? &sqlite
                                                            : &postgres;
}

typedef struct query_figs {
  stat3 top10, range[RANGE_FORMS]; /* ms, by form */
  stat3 other[RANGE_FORMS];        /* ms, with the other store's limits */
  int top10_rows, range_rows[RANGE_FORMS], other_rows[RANGE_FORMS];
} query_figs;

static query_figs time_queries(const char *url, const mida__key *k, int runs) {
  query_figs f;
  memset(&f, 0, sizeof f);
  char err[512];
  mida__sink *r = NULL;
  if (mida__sink_open(url, MIDA_SINK_READONLY, &r, err, sizeof err) !=
      MIDA_OK) {
    fprintf(stderr, "bench_key_index: %s\n", err);
    return f;
  }
  mida__buf sql;
  mida__buf_init(&sql, 4096);
  top10_sql(&sql, k);
  double a[QUERY_RUNS], b[RANGE_FORMS][QUERY_RUNS], o[RANGE_FORMS][QUERY_RUNS];
  const mida__key_side_limits *own = mida__key_side_limits_of(r),
                              *other = other_limits(r);
  for (int i = 0; i < runs; i++) {
    a[i] = top10_once(r, mida__buf_str(&sql), &f.top10_rows);
    for (int form = 0; form < RANGE_FORMS; form++) {
      b[form][i] = range_once(r, form, own, &f.range_rows[form]);
      o[form][i] = range_once(r, form, other, &f.other_rows[form]);
    }
  }
  f.top10 = stat_of(a, runs);
  for (int form = 0; form < RANGE_FORMS; form++) {
    f.range[form] = stat_of(b[form], runs);
    f.other[form] = stat_of(o[form], runs);
  }
  mida__buf_free(&sql);
  mida__sink_close(r);
  return f;
}

/* ---- the run ------------------------------------------------------------ */

/* Drops the store's key indexes, then (unless keep_tasks) empties its
 * tables of tasks (through mida's own schema path; a benchmark's reset,
 * never a user's). */
static int reset(mida__sink *sink, int lite, const mida__key *keys, int nkeys,
                 int keep_tasks) {
  for (int i = 0; i < nkeys; i++)
    if (mida__key_index_apply(sink, &keys[i], MIDA_KEY_NUM, 1) != MIDA_OK)
      return -1;
  if (keep_tasks)
    return 0;
  const char *sql = lite ? "DELETE FROM task; DELETE FROM workflow;"
                           " DELETE FROM campaign;"
                         : "TRUNCATE task, workflow, campaign;";
  return mida__sink_exec_schema(sink, sql) == MIDA_OK ? 0 : -1;
}

static void print_stat(const char *name, stat3 s) {
  printf("\"%s\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f}", name, s.med,
         s.lo, s.hi);
}

static const char usage[] =
    "usage: bench_key_index [sqlite | sqlite://PATH | postgresql://...]\n"
    "  sqlite            an SQLite file in a temporary folder (the default)\n"
    "  sqlite://PATH     that SQLite file\n"
    "  postgresql://...  an empty PostgreSQL database\n"
    "environment: BENCH_SIZES, BENCH_CHUNK, BENCH_INDEX_TASKS, "
    "BENCH_BASE_RUNS, BENCH_KEEP\n";

/* Whether target names a store this bench runs on: a path or an option
 * would reach the sink as an SQLite file of that name. */
static int known_target(const char *target) {
  return strcmp(target, "sqlite") == 0 ||
         strncmp(target, "sqlite://", 9) == 0 ||
         strncmp(target, "postgresql://", 13) == 0 ||
         strncmp(target, "postgres://", 11) == 0;
}

int main(int argc, char **argv) {
  const char *target = argc > 1 ? argv[1] : "sqlite";
  if (strcmp(target, "-h") == 0 || strcmp(target, "--help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (argc > 2 || !known_target(target)) {
    fprintf(stderr, "bench_key_index: not a store to run on: '%s'\n%s",
            argc > 2 ? argv[2] : target, usage);
    return 2;
  }
  char dir[512] = "", url[1024];
  /* "sqlite://PATH": a given file, which BENCH_KEEP=1 keeps and reuses as
   * it does a PostgreSQL database; "sqlite": a scratch file. */
  int given_file = strncmp(target, "sqlite://", 9) == 0;
  int lite = given_file || strcmp(target, "sqlite") == 0;
  if (lite && !given_file) {
    bench_tmpdir(dir, sizeof dir, "keyindex");
    snprintf(url, sizeof url, "sqlite://%s/keys.db", dir);
  } else {
    snprintf(url, sizeof url, "%s", target);
  }
  long long sizes[MAX_SIZES];
  int nsizes = 0;
  const char *env = getenv("BENCH_SIZES");
  const char *p = env != NULL && env[0] ? env : "1000000,5000000,10000000";
  while (*p && nsizes < MAX_SIZES) {
    sizes[nsizes++] = strtoll(p, (char **)&p, 10);
    p += *p == ',';
  }
  env = getenv("BENCH_CHUNK");
  size_t chunk_tasks = env ? strtoull(env, NULL, 10) : 100000;
  env = getenv("BENCH_INDEX_TASKS");
  size_t cost_tasks = env ? strtoull(env, NULL, 10) : 200000;
  env = getenv("BENCH_BASE_RUNS");
  int base_runs = env ? atoi(env) : BASE_RUNS;
  base_runs = base_runs < 1            ? 1
              : base_runs > QUERY_RUNS ? QUERY_RUNS
                                       : base_runs;
  batch *b = malloc(sizeof *b);
  if (b == NULL) {
    fprintf(stderr, "bench_key_index: out of memory\n");
    return 1;
  }
  srand(7);
  char err[512];
  mida__sink *w = NULL;
  if (mida__sink_open(url, 0, &w, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "bench_key_index: cannot open %s: %s\n", target, err);
    return 1;
  }
  const char *key_texts[4] = {"used.lr", "used.batch", "generated.loss",
                              "generated.accuracy"};
  mida__key keys[4];
  char why[200];
  for (int i = 0; i < 4; i++)
    mida__key_parse_all(key_texts[i], &keys[i], why, sizeof why);
  /* A kept PostgreSQL store or SQLite file (BENCH_KEEP=1) is reused as it
   * is. */
  int reuse = (!lite || given_file) && bench_keep();
  long long have = 0;
  if (reuse && mida__sink_query(w, "SELECT count(*) FROM task", NULL, 0,
                                count_tasks, &have) != MIDA_OK)
    have = 0;
  char lr_name[MIDA_KEY_INDEX_NAME];
  mida__key_index_name(&keys[0], MIDA_KEY_NUM, lr_name);
  const char *lr_param[1] = {lr_name};
  long long kept_index = 0;
  if (have > 0 &&
      mida__sink_query(w, "SELECT count(*) FROM mida_index WHERE name = ?1",
                       lr_param, 1, count_tasks, &kept_index) != MIDA_OK)
    kept_index = 0;
  if (!kept_index && reset(w, lite, keys, 4, have > 0) != 0) {
    fprintf(stderr, "bench_key_index: %s\n", mida__sink_errmsg(w));
    return 1;
  }
  const char *store = lite ? "sqlite" : "postgresql";
  printf("bench_key_index on %s: sizes %s, chunks of %zu tasks\n", store,
         getenv("BENCH_SIZES") ? getenv("BENCH_SIZES") : "(default)",
         chunk_tasks);
  printf("%10s %22s %34s %34s %9s\n", "tasks", "ingest tasks/s",
         "top10 ms: no index | index", "range ms: no index | index",
         "index s");

  double rates[INGEST_CHUNKS];
  stat3 ing[MAX_SIZES];
  query_figs base[MAX_SIZES], idx[MAX_SIZES];
  double build_s[MAX_SIZES];
  for (int s = 0; s < nsizes; s++) {
    int nrates = 0;
    rates[0] = 0; /* a kept store already that large: no ingest timed */
    if (sizes[s] > have && grow(w, b, sizes[s] - have, chunk_tasks, rates,
                                INGEST_CHUNKS, &nrates) != 0)
      return 1;
    have = sizes[s] > have ? sizes[s] : have;
    ing[s] = stat_of(rates, nrates > 0 ? nrates : 1);
    memset(&base[s], 0, sizeof base[s]);
    if (!kept_index)
      base[s] = time_queries(url, &keys[0], base_runs);
    double t0 = now_s();
    if (!kept_index &&
        mida__key_index_apply(w, &keys[0], MIDA_KEY_NUM, 0) != MIDA_OK) {
      fprintf(stderr, "bench_key_index: %s\n", mida__sink_errmsg(w));
      return 1;
    }
    /* What a PostgreSQL user's autovacuum does soon after: statistics of
     * the new expression, for the planner's choices. */
    if (!lite && !kept_index)
      mida__sink_exec_schema(w, "ANALYZE task");
    build_s[s] = kept_index ? 0 : now_s() - t0;
    idx[s] = time_queries(url, &keys[0], QUERY_RUNS);
    /* The next size's ingest and baseline go without the index; a kept
     * store (BENCH_KEEP=1) keeps it after the last size only. */
    if (!reuse || (!kept_index && s + 1 < nsizes))
      mida__key_index_apply(w, &keys[0], MIDA_KEY_NUM, 1);
    printf("%10lld %10.0f [%5.0f-%5.0f] %9.1f [%6.1f] | %6.2f [%5.2f-%5.2f]"
           " %9.1f [%6.1f] | %6.2f [%5.2f-%5.2f] %8.1f\n",
           sizes[s], ing[s].med, ing[s].lo, ing[s].hi, base[s].top10.med,
           base[s].top10.hi, idx[s].top10.med, idx[s].top10.lo,
           idx[s].top10.hi, base[s].range[RANGE_NEWEST].med,
           base[s].range[RANGE_NEWEST].hi, idx[s].range[RANGE_NEWEST].med,
           idx[s].range[RANGE_NEWEST].lo, idx[s].range[RANGE_NEWEST].hi,
           build_s[s]);
    printf("%10s range sorted by the key: %.1f [%.1f] | %.2f [%.2f-%.2f]"
           " ms\n",
           "", base[s].range[RANGE_BY_KEY].med, base[s].range[RANGE_BY_KEY].hi,
           idx[s].range[RANGE_BY_KEY].med, idx[s].range[RANGE_BY_KEY].lo,
           idx[s].range[RANGE_BY_KEY].hi);
    printf("%10s range newest first, 1%% | 5%% of the tasks: %.1f [%.1f] |"
           " %.2f [%.2f-%.2f] ms, %.1f [%.1f] | %.2f [%.2f-%.2f] ms\n",
           "", base[s].range[RANGE_1PCT].med, base[s].range[RANGE_1PCT].hi,
           idx[s].range[RANGE_1PCT].med, idx[s].range[RANGE_1PCT].lo,
           idx[s].range[RANGE_1PCT].hi, base[s].range[RANGE_5PCT].med,
           base[s].range[RANGE_5PCT].hi, idx[s].range[RANGE_5PCT].med,
           idx[s].range[RANGE_5PCT].lo, idx[s].range[RANGE_5PCT].hi);
    printf("%10s with the other store's side-table limits (key_index.h),"
           " newest first, 0.1%% | 1%% | 5%%: %.2f [%.2f-%.2f] | %.2f"
           " [%.2f-%.2f] | %.2f [%.2f-%.2f] ms (%d, %d, %d rows)\n",
           "", idx[s].other[RANGE_NEWEST].med, idx[s].other[RANGE_NEWEST].lo,
           idx[s].other[RANGE_NEWEST].hi, idx[s].other[RANGE_1PCT].med,
           idx[s].other[RANGE_1PCT].lo, idx[s].other[RANGE_1PCT].hi,
           idx[s].other[RANGE_5PCT].med, idx[s].other[RANGE_5PCT].lo,
           idx[s].other[RANGE_5PCT].hi, idx[s].other_rows[RANGE_NEWEST],
           idx[s].other_rows[RANGE_1PCT], idx[s].other_rows[RANGE_5PCT]);
    printf("%10s ratio without/with index: top10 %.0fx, range %.0fx, range"
           " by key %.0fx (range: %d rows, by key %d, top10: %d rows)\n",
           "", base[s].top10.med / idx[s].top10.med,
           base[s].range[RANGE_NEWEST].med / idx[s].range[RANGE_NEWEST].med,
           base[s].range[RANGE_BY_KEY].med / idx[s].range[RANGE_BY_KEY].med,
           idx[s].range_rows[RANGE_NEWEST], idx[s].range_rows[RANGE_BY_KEY],
           idx[s].top10_rows);
    fflush(stdout);
  }

  /* The write cost of key indexes: an empty store, 0, 1 and 4 indexes. */
  const int counts[3] = {0, 1, 4};
  stat3 cost[3];
  for (int k = 0; k < 3; k++) {
    double v[COST_RUNS] = {0};
    if (cost_tasks == 0) { /* BENCH_INDEX_TASKS=0: not measured */
      cost[k] = stat_of(v, COST_RUNS);
      continue;
    }
    for (int r = 0; r < COST_RUNS; r++) {
      if (reset(w, lite, keys, 4, 0) != 0)
        return 1;
      for (int i = 0; i < counts[k]; i++)
        mida__key_index_apply(w, &keys[i], MIDA_KEY_NUM, 0);
      v[r] = ingest(w, b, cost_tasks);
    }
    cost[k] = stat_of(v, COST_RUNS);
  }
  printf("write cost, %zu tasks into an empty store: tasks/s median"
         " [min-max]\n",
         cost_tasks);
  for (int k = 0; k < 3 && cost_tasks > 0; k++)
    printf("  %d key index%s: %8.0f [%6.0f-%6.0f]  %.2fx of no index\n",
           counts[k], counts[k] == 1 ? "  " : "es", cost[k].med, cost[k].lo,
           cost[k].hi, cost[k].med / cost[0].med);
  /* PostgreSQL's database is left empty; SQLite's file is removed below
   * (emptying it first wrote 10M tasks' pages to the WAL for minutes,
   * 2026-12-01, before the figures were printed). */
  if (!reuse && !lite)
    reset(w, lite, keys, 4, 0);
  mida__sink_close(w);

  printf("{\"bench\":\"key_index\",\"store\":\"%s\",\"sizes\":[", store);
  for (int s = 0; s < nsizes; s++) {
    printf("%s{\"tasks\":%lld,", s ? "," : "", sizes[s]);
    print_stat("ingest_tasks_per_s", ing[s]);
    putchar(',');
    print_stat("top10_ms_no_index", base[s].top10);
    putchar(',');
    print_stat("top10_ms_index", idx[s].top10);
    putchar(',');
    print_stat("range_ms_no_index", base[s].range[RANGE_NEWEST]);
    putchar(',');
    print_stat("range_ms_index", idx[s].range[RANGE_NEWEST]);
    putchar(',');
    print_stat("range_by_key_ms_no_index", base[s].range[RANGE_BY_KEY]);
    putchar(',');
    print_stat("range_by_key_ms_index", idx[s].range[RANGE_BY_KEY]);
    for (int form = 0; form < RANGE_FORMS; form++) {
      char name[64];
      if (form == RANGE_BY_KEY)
        continue;
      snprintf(name, sizeof name, "%s_ms_index_other_limits", range_name[form]);
      putchar(',');
      print_stat(name, idx[s].other[form]);
    }
    for (int form = RANGE_1PCT; form < RANGE_FORMS; form++) {
      char name[64];
      snprintf(name, sizeof name, "%s_ms_no_index", range_name[form]);
      putchar(',');
      print_stat(name, base[s].range[form]);
      snprintf(name, sizeof name, "%s_ms_index", range_name[form]);
      putchar(',');
      print_stat(name, idx[s].range[form]);
    }
    printf(",\"index_build_s\":%.2f}", build_s[s]);
  }
  printf("],\"write_cost_tasks\":%zu,\"write_cost\":[", cost_tasks);
  for (int k = 0; k < 3; k++) {
    printf("%s{\"indexes\":%d,", k ? "," : "", counts[k]);
    print_stat("tasks_per_s", cost[k]);
    putchar('}');
  }
  printf("]}\n");
  free(b);
  if (lite && !given_file) {
    return bench_rmdir(dir);
  }
  return 0;
}

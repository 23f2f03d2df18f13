/*
 * bench_query.c -- a steering query over 1,000,000 tasks.
 *
 * Builds a store of 100 workflows x 10,000 tasks through the C API (used:
 * a learning rate and a batch size; generated: a loss; one task in ten
 * failed), then times the question a user asks during a run: "the finished
 * tasks of this workflow whose learning rate exceeds x, best loss first".
 * Each query is prepared and run from scratch, as `mida query` does.
 *
 *   bench_query [TASKS] [WORKFLOWS]
 */
#include "benchutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 30

static const char *STEERING =
    "SELECT id, used->>'lr' AS lr, generated->>'loss' AS loss FROM task "
    "WHERE workflow_id = ?1 AND status = 'FINISHED' AND used->>'lr' > 0.05 "
    "ORDER BY generated->>'loss' LIMIT 10";

static double time_query(sqlite3 *db, const char *sql, const char *param,
                         int *rows) {
  int64_t v[RUNS];
  for (int r = 0; r < RUNS; r++) {
    int64_t a = bench_now();
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (param != NULL)
      sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
    *rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
      (*rows)++;
    sqlite3_finalize(st);
    v[r] = bench_now() - a;
  }
  return (double)bench_percentile(v, RUNS, 0.5) / 1e6;
}

int main(int argc, char **argv) {
  long tasks = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
  long workflows = argc > 2 ? strtol(argv[2], NULL, 10) : 100;
  char dir[512], path[600];
  bench_tmpdir(dir, sizeof dir, "query");
  mida_session_t *s = bench_open(dir, "query.db", 64u << 20);
  srand(7);
  char target[MIDA_ID_STRLEN] = "";
  int64_t build_start = bench_now();
  for (long w = 0; w < workflows; w++) {
    mida_workflow_info_t wi = {.name = "training-sweep"};
    mida_id_t wf;
    mida_workflow_begin(s, &wi, &wf);
    if (w == workflows / 2)
      mida_id_format(&wf, target);
    for (long i = 0; i < tasks / workflows; i++) {
      char used[96], gen[64];
      snprintf(used, sizeof used, "{\"lr\":%.5f,\"batch\":%d}",
               (rand() % 10000) / 100000.0, 16 << (rand() % 4));
      snprintf(gen, sizeof gen, "{\"loss\":%.6f}", (rand() % 100000) / 1e5);
      mida_task_info_t ti = {
          .activity = "train", .workflow = &wf, .used = used};
      mida_id_t t;
      mida_task_begin(s, &ti, &t);
      mida_task_end(s, &t,
                    i % 10 == 3 ? MIDA_STATUS_ERROR : MIDA_STATUS_FINISHED, gen,
                    NULL);
    }
    mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED);
  }
  mida_close(s);
  double build_s = (double)(bench_now() - build_start) / 1e9;

  snprintf(path, sizeof path, "%s/query.db", dir);
  sqlite3 *db;
  sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
  int rows = 0, rows_all = 0;
  double ms = time_query(db, STEERING, target, &rows);
  /* For scale: the same question over every workflow (a full scan). */
  const char *all =
      "SELECT id FROM task WHERE status = 'FINISHED' AND used->>'lr' > 0.05 "
      "ORDER BY generated->>'loss' LIMIT 10";
  double ms_all = time_query(db, all, NULL, &rows_all);
  sqlite3_close(db);

  printf("query: %ld tasks in %ld workflows (built in %.1f s)\n", tasks,
         workflows, build_s);
  printf("  steering query, one workflow: median %.2f ms (%d rows)\n", ms,
         rows);
  printf("  same filter over all workflows (full scan): median %.2f ms\n",
         ms_all);
  printf("{\"bench\":\"steering_query\",\"tasks\":%ld,\"workflows\":%ld,"
         "\"median_ms\":%.3f,\"all_workflows_median_ms\":%.3f}\n",
         tasks, workflows, ms, ms_all);
  return bench_rmdir(dir);
}

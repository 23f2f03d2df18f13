/*
 * bench_ingest.c -- end-to-end ingest into SQLite: tasks per second from
 * the first task begun until every task is queryable in the store.
 *
 * P producer processes each record N tasks (begin + end, ~100 bytes of
 * JSON) and close their session, which returns once the shipper has made
 * everything durable; the clock stops when the last producer is done and
 * the store is checked to hold P * N tasks.
 *
 *   bench_ingest [TASKS_PER_PRODUCER] [PRODUCERS]...
 * With no arguments: 1,000,000 tasks by 1 producer, then 4 x 250,000.
 */
#include "benchutil.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void produce(const char *dir, long tasks) {
  mida_session_t *s = bench_open(dir, "ingest.db", 64u << 20);
  mida_task_info_t ti = {.activity = "step"};
  for (long i = 0; i < tasks; i++) {
    char used[96];
    snprintf(used, sizeof used,
             "{\"i\":%ld,\"lr\":0.001,\"batch\":64,\"optimizer\":\"adam\"}", i);
    ti.used = used;
    mida_id_t t;
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED,
                  "{\"loss\":0.2345,\"accuracy\":0.9123}", NULL);
  }
  _exit(mida_close(s) == MIDA_OK ? 0 : 1);
}

static long long count_tasks(const char *dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/ingest.db", dir);
  sqlite3 *db;
  sqlite3_stmt *st;
  long long n = -1;
  if (sqlite3_open(path, &db) == SQLITE_OK &&
      sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM task WHERE ended "
                         "IS NOT NULL",
                         -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

static double run(long per, int producers) {
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "ingest");
  int64_t start = bench_now();
  for (int p = 0; p < producers; p++)
    if (fork() == 0)
      produce(dir, per);
  int failures = 0;
  for (int p = 0; p < producers; p++) {
    int status;
    wait(&status);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  double secs = (double)(bench_now() - start) / 1e9;
  long long n = count_tasks(dir);
  double rate = (double)n / secs;
  printf("ingest: %d producer(s) x %ld tasks: %lld tasks queryable in "
         "%.2f s = %.0f tasks/s%s\n",
         producers, per, n, secs, rate, failures ? " (PRODUCER FAILED)" : "");
  if (n != (long long)per * producers)
    printf("  WARNING: expected %lld tasks\n", (long long)per * producers);
  if (bench_rmdir(dir) != 0)
    fprintf(stderr, "could not remove %s\n", dir);
  return rate;
}

int main(int argc, char **argv) {
  long per1 = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
  double one = run(per1, 1);
  double four = run(per1 / 4, 4);
  printf("{\"bench\":\"ingest_sqlite\",\"tasks\":%ld,"
         "\"tasks_per_s_1_producer\":%.0f,\"tasks_per_s_4_producers\":%.0f}\n",
         per1, one, four);
  return 0;
}

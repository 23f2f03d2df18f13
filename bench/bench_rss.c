/*
 * bench_rss.c -- memory stays bounded while recording 10,000,000 tasks.
 *
 * Records tasks through the C API into SQLite and prints the resident set
 * after each million: it must level off, not grow with the count.
 *
 *   bench_rss [TASKS]
 */
#include "benchutil.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  long tasks = argc > 1 ? strtol(argv[1], NULL, 10) : 10000000;
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "rss");
  mida_session_t *s = bench_open(dir, "rss.db", 0);
  mida_task_info_t ti = {.activity = "step",
                         .used = "{\"lr\":0.001,\"batch\":64}"};
  long marks[64];
  int nmarks = 0;
  int64_t start = bench_now();
  for (long i = 1; i <= tasks; i++) {
    mida_id_t t;
    mida_task_begin(s, &ti, &t);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"loss\":0.5}", NULL);
    if (i % 1000000 == 0 && nmarks < 64) {
      marks[nmarks++] = bench_rss_kb();
      printf("  %3ld M tasks: RSS %ld KiB\n", i / 1000000, marks[nmarks - 1]);
      fflush(stdout);
    }
  }
  mida_stats_t st;
  mida_stats_get(s, &st);
  mida_close(s);
  double secs = (double)(bench_now() - start) / 1e9;
  long peak = bench_peak_rss_kb();
  printf("rss: %ld tasks in %.1f s, peak RSS %ld KiB, %llu journal "
         "segments\n",
         tasks, secs, peak, (unsigned long long)st.segments);
  printf("{\"bench\":\"rss\",\"tasks\":%ld,\"peak_rss_kb\":%ld,"
         "\"rss_kb_per_million\":[",
         tasks, peak);
  for (int i = 0; i < nmarks; i++)
    printf("%s%ld", i ? "," : "", marks[i]);
  printf("],\"segments\":%llu}\n", (unsigned long long)st.segments);
  return bench_rmdir(dir);
}

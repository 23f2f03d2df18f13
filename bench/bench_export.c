/*
 * bench_export.c -- exports stream: the peak memory of `mida export
 * prov|rocrate|openlineage` must not grow with the store.
 *
 * Builds a store of TASKS tasks through the C API (WORKFLOWS workflows of
 * one campaign; each task with parameters, outputs, one metric point, the
 * file it generated and the file its predecessor generated, which it used,
 * so that every export has entities and relations to write), then runs
 * each export as a child process of the given mida binary, with stderr
 * not a terminal, and reports its wall time, its peak resident set
 * (wait4's ru_maxrss) and the size of what it wrote.
 *
 *   bench_export MIDA_BIN [TASKS] [WORKFLOWS]
 * Defaults: 100,000 tasks, 100 workflows.
 */
#include "benchutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void build_store(const char *dir, long tasks, long workflows) {
  mida_session_t *s = bench_open(dir, "export.db", 64u << 20);
  long per = (tasks + workflows - 1) / workflows;
  long done = 0;
  for (long w = 0; w < workflows && done < tasks; w++) {
    mida_id_t wf;
    char name[64];
    snprintf(name, sizeof name, "pipeline-%ld", w);
    mida_workflow_begin(s, &(mida_workflow_info_t){.name = name}, &wf);
    char prev[128] = "";
    for (long i = 0; i < per && done < tasks; i++, done++) {
      char used[128], out[128], gen[96];
      snprintf(used, sizeof used,
               "{\"i\":%ld,\"lr\":0.001,\"batch\":64,\"optimizer\":\"adam\"}",
               done);
      mida_id_t t;
      mida_task_begin(s,
                      &(mida_task_info_t){.activity = i % 2 ? "train" : "prep",
                                          .workflow = &wf,
                                          .used = used},
                      &t);
      if (prev[0] != '\0')
        mida_data(s, &t, MIDA_USED,
                  &(mida_data_info_t){.uri = prev, .size = 1024});
      snprintf(out, sizeof out, "file:///bench/w%ld/out-%ld.npz", w, i);
      mida_data(s, &t, MIDA_GENERATED,
                &(mida_data_info_t){.uri = out, .size = 1024});
      mida_metric(s, &t, "loss", 0, 0, 1.0 / (double)(i + 1));
      snprintf(gen, sizeof gen, "{\"loss\":%.6f}", 1.0 / (double)(i + 1));
      mida_task_end(s, &t, MIDA_STATUS_FINISHED, gen, NULL);
      memcpy(prev, out, sizeof prev);
    }
    mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED);
  }
  if (mida_close(s) != MIDA_OK) {
    fprintf(stderr, "bench_export: the store did not take every record\n");
    exit(1);
  }
}

/* Bytes under path (a file, or a flat directory). */
static long long size_of(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    return -1;
  if (!S_ISDIR(st.st_mode))
    return (long long)st.st_size;
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "du -sb '%s'", path);
  FILE *p = popen(cmd, "r");
  long long n = -1;
  if (p != NULL && fscanf(p, "%lld", &n) != 1)
    n = -1;
  if (p != NULL)
    pclose(p);
  return n;
}

/* Runs `mida --store sqlite://DIR/export.db export FORMAT OUT` with stderr
 * in DIR/FORMAT.err (not a terminal: no progress line); its wall time (s)
 * and peak RSS (KiB) into the arguments. Returns its exit status. */
static int run_export(const char *mida, const char *dir, const char *format,
                      const char *out, double *secs, long *peak_kb) {
  char store[600];
  snprintf(store, sizeof store, "sqlite://%s/export.db", dir);
  int64_t start = bench_now();
  pid_t pid = fork();
  if (pid == 0) {
    char err[700];
    snprintf(err, sizeof err, "%s/%s.err", dir, format);
    int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDERR_FILENO);
    dup2(fd, STDOUT_FILENO);
    if (strcmp(format, "rocrate") == 0)
      execl(mida, mida, "--store", store, "export", format, out,
            (char *)NULL);
    else
      execl(mida, mida, "--store", store, "export", format, "-o", out,
            (char *)NULL);
    _exit(127);
  }
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  wait4(pid, &status, 0, &ru);
  *secs = (double)(bench_now() - start) / 1e9;
  *peak_kb = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_export MIDA_BIN [TASKS] [WORKFLOWS]\n");
    return 2;
  }
  const char *mida = argv[1];
  long tasks = argc > 2 ? strtol(argv[2], NULL, 10) : 100000;
  long workflows = argc > 3 ? strtol(argv[3], NULL, 10) : 100;
  char dir[512];
  bench_tmpdir(dir, sizeof dir, "export");
  int64_t t0 = bench_now();
  build_store(dir, tasks, workflows);
  printf("export: store of %ld tasks in %ld workflows built in %.1f s\n",
         tasks, workflows, (double)(bench_now() - t0) / 1e9);
  fflush(stdout);

  static const char *const formats[] = {"prov", "rocrate", "openlineage"};
  static const char *const names[] = {"out.prov.json", "crate",
                                      "out.openlineage.jsonl"};
  double secs[3];
  long peak[3];
  long long bytes[3];
  int failed = 0;
  for (int f = 0; f < 3; f++) {
    char out[700];
    snprintf(out, sizeof out, "%s/%s", dir, names[f]);
    int rc = run_export(mida, dir, formats[f], out, &secs[f], &peak[f]);
    bytes[f] = size_of(out);
    char rm[800];
    snprintf(rm, sizeof rm, "rm -rf '%s'", out); /* 1M tasks: gigabytes */
    if (system(rm) != 0)
      fprintf(stderr, "bench_export: could not remove %s\n", out);
    printf("  export %-11s %7.1f s  peak RSS %7ld KiB  %10lld bytes%s\n",
           formats[f], secs[f], peak[f], bytes[f],
           rc != 0 ? "  FAILED:" : "");
    if (rc != 0) {
      char cmd[800];
      snprintf(cmd, sizeof cmd, "head -c 600 '%s/%s.err'", dir, formats[f]);
      fflush(stdout);
      if (system(cmd) != 0)
        printf("(no message)\n");
    }
    fflush(stdout);
    failed |= rc != 0;
  }
  printf("{\"bench\":\"export\",\"tasks\":%ld,\"workflows\":%ld", tasks,
         workflows);
  for (int f = 0; f < 3; f++)
    printf(",\"%s_s\":%.2f,\"%s_peak_rss_kb\":%ld,\"%s_bytes\":%lld",
           formats[f], secs[f], formats[f], peak[f], formats[f], bytes[f]);
  printf("}\n");
  if (bench_rmdir(dir) != 0)
    fprintf(stderr, "bench_export: could not remove %s\n", dir);
  return failed;
}

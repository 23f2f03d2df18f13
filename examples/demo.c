/*
 * demo.c -- two linked workflows of one campaign, through the C API only.
 *
 * A "simulation" workflow runs an ensemble of model members; each member
 * writes a data file (a real file under OUT/data) and logs an energy metric
 * per step; a few members fail on purpose (an unstable time step). An
 * "analysis" workflow, a separate run in the same campaign, reads those
 * files in groups, computes a mean temperature per group, and a final
 * report task that depends on every analysis task writes a report. The
 * files link the two workflows: mida sees that an analysis task used what a
 * simulation task generated.
 *
 *   demo OUT_DIR [MEMBERS]
 *
 * Writes OUT_DIR/ids.env with the ids that scripts/demo.sh shows.
 */
#include <mida.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define GROUP 10

static int check(int rc, mida_session_t *s, const char *what) {
  if (rc != MIDA_OK) {
    fprintf(stderr, "demo: %s: %s (%s)\n", what, mida_strerror(rc),
            mida_errmsg(s));
    exit(1);
  }
  return rc;
}

/* The toy model: a member's final temperature from its parameters. */
static double simulate(int member, double dt, double forcing, double *energy,
                       int steps) {
  double t = 14.0;
  for (int k = 0; k < steps; k++) {
    t += dt * (forcing * 0.01 - 0.001 * (t - 14.0)) + 0.001 * (member % 7);
    energy[k] = 1000.0 + 50.0 * sin(0.3 * k + member) * dt;
  }
  return t;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: demo OUT_DIR [MEMBERS]\n");
    return 2;
  }
  const char *out = argv[1];
  int members = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 200;
  if (members < GROUP || members > 100000) {
    fprintf(stderr, "demo: MEMBERS must be between %d and 100000\n", GROUP);
    return 2;
  }
  char path[1024];
  snprintf(path, sizeof path, "%s/data", out);
  if (mkdir(out, 0755) != 0 && errno != EEXIST)
    return perror(out), 1;
  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    return perror(path), 1;

  /* Zero configuration, except the campaign: the store comes from
   * MIDA_STORE (sqlite://mida.db when unset). */
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.campaign = "climate-ensemble-2026";
  char err[512];
  mida_session_t *s = NULL;
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "demo: cannot open the store: %s\n", err);
    return 1;
  }

  /* ---- workflow 1: the simulation ensemble ---- */
  mida_workflow_info_t sim_info = {.name = "simulation",
                                   .metadata =
                                       "{\"model\":\"toy-ebm\",\"v\":\"1.2\"}"};
  mida_id_t sim_wf;
  check(mida_workflow_begin(s, &sim_info, &sim_wf), s, "workflow");
  char *ok = calloc((size_t)members, 1);
  int failed = 0;
  mida_id_t first_simulation = {{0}};
  for (int m = 0; m < members; m++) {
    double dt = 0.5 + 0.05 * (m % 10);
    double forcing = 1.0 + 0.1 * (m % 13);
    char used[160];
    snprintf(used, sizeof used,
             "{\"member\":%d,\"dt\":%.2f,\"forcing\":%.1f,\"steps\":50}", m, dt,
             forcing);
    mida_task_info_t ti = {
        .activity = "simulate", .workflow = &sim_wf, .used = used};
    mida_id_t task;
    check(mida_task_begin(s, &ti, &task), s, "task begin");
    if (dt >= 0.9 && forcing >= 2.0) { /* unstable, on purpose */
      check(mida_task_end(s, &task, MIDA_STATUS_ERROR, NULL,
                          "CFL condition violated: dt too large for "
                          "this forcing"),
            s, "task end");
      failed++;
      continue;
    }
    double energy[50];
    double temp = simulate(m, dt, forcing, energy, 50);
    for (int k = 0; k < 50; k += 5)
      check(mida_metric(s, &task, "energy", k, 0, energy[k]), s, "metric");
    snprintf(path, sizeof path, "%s/data/member-%04d.txt", out, m);
    FILE *f = fopen(path, "w");
    if (f == NULL)
      return perror(path), 1;
    fprintf(f, "member %d final_temperature %.6f\n", m, temp);
    long size = ftell(f);
    fclose(f);
    char *abs = realpath(path, NULL);
    char uri[1200];
    snprintf(uri, sizeof uri, "file://%s", abs ? abs : path);
    free(abs);
    mida_data_info_t d = {
        .kind = "file", .uri = uri, .size = size, .name = "state"};
    check(mida_data(s, &task, MIDA_GENERATED, &d), s, "data");
    char gen[96];
    snprintf(gen, sizeof gen, "{\"final_temperature\":%.4f}", temp);
    check(mida_task_end(s, &task, MIDA_STATUS_FINISHED, gen, NULL), s,
          "task end");
    ok[m] = 1;
    if (mida_id_is_nil(&first_simulation))
      first_simulation = task;
  }
  check(mida_workflow_end(s, &sim_wf, MIDA_STATUS_FINISHED), s, "end");

  /* ---- workflow 2: the analysis, reading the simulation's files ---- */
  mida_workflow_info_t ana_info = {.name = "analysis"};
  mida_id_t ana_wf, report_upstream[100000 / GROUP];
  int groups = 0;
  check(mida_workflow_begin(s, &ana_info, &ana_wf), s, "workflow");
  mida_id_t first_analysis = {{0}};
  for (int g = 0; g + GROUP <= members; g += GROUP) {
    char used[96];
    snprintf(used, sizeof used, "{\"members\":\"%d-%d\",\"method\":\"mean\"}",
             g, g + GROUP - 1);
    mida_task_info_t ti = {
        .activity = "analyse", .workflow = &ana_wf, .used = used};
    mida_id_t task;
    check(mida_task_begin(s, &ti, &task), s, "task begin");
    double sum = 0;
    int n = 0;
    for (int m = g; m < g + GROUP; m++) {
      if (!ok[m])
        continue;
      snprintf(path, sizeof path, "%s/data/member-%04d.txt", out, m);
      FILE *f = fopen(path, "r");
      double temp = 0;
      int member = 0;
      if (f == NULL ||
          fscanf(f, "member %d final_temperature %lf", &member, &temp) != 2)
        return fprintf(stderr, "demo: cannot read %s\n", path), 1;
      fclose(f);
      char *abs = realpath(path, NULL);
      char uri[1200];
      snprintf(uri, sizeof uri, "file://%s", abs ? abs : path);
      free(abs);
      mida_data_info_t d = {
          .kind = "file", .uri = uri, .size = -1, .name = "member"};
      check(mida_data(s, &task, MIDA_USED, &d), s, "data");
      sum += temp;
      n++;
    }
    char gen[96];
    snprintf(gen, sizeof gen, "{\"mean_temperature\":%.4f,\"n\":%d}",
             n ? sum / n : 0.0, n);
    check(mida_task_end(s, &task, MIDA_STATUS_FINISHED, gen, NULL), s,
          "task end");
    if (groups == 0)
      first_analysis = task;
    report_upstream[groups++] = task;
  }
  mida_task_info_t rti = {.activity = "report", .workflow = &ana_wf};
  mida_id_t report;
  check(mida_task_begin(s, &rti, &report), s, "task begin");
  for (int i = 0; i < groups; i++)
    check(mida_task_dep(s, &report, &report_upstream[i]), s, "dep");
  snprintf(path, sizeof path, "%s/report.txt", out);
  FILE *f = fopen(path, "w");
  if (f != NULL) {
    fprintf(f, "%d members, %d failed, %d analysis groups\n", members, failed,
            groups);
    fclose(f);
  }
  char uri[1200];
  char *abs = realpath(path, NULL);
  snprintf(uri, sizeof uri, "file://%s", abs ? abs : path);
  free(abs);
  mida_data_info_t rd = {
      .kind = "file", .uri = uri, .size = -1, .name = "report"};
  check(mida_data(s, &report, MIDA_GENERATED, &rd), s, "data");
  check(mida_task_end(s, &report, MIDA_STATUS_FINISHED, NULL, NULL), s,
        "task end");
  check(mida_workflow_end(s, &ana_wf, MIDA_STATUS_FINISHED), s, "end");

  int rc = mida_close(s);
  if (rc != MIDA_OK) {
    fprintf(stderr, "demo: close: %s\n", mida_strerror(rc));
    return 1;
  }

  char id[MIDA_ID_STRLEN];
  snprintf(path, sizeof path, "%s/ids.env", out);
  f = fopen(path, "w");
  if (f == NULL)
    return perror(path), 1;
  fprintf(f, "SIM_WORKFLOW=%s\n", mida_id_format(&sim_wf, id));
  fprintf(f, "ANALYSIS_WORKFLOW=%s\n", mida_id_format(&ana_wf, id));
  fprintf(f, "SIM_TASK=%s\n", mida_id_format(&first_simulation, id));
  fprintf(f, "ANALYSIS_TASK=%s\n", mida_id_format(&first_analysis, id));
  fprintf(f, "REPORT_TASK=%s\n", mida_id_format(&report, id));
  fclose(f);
  printf("demo: %d simulation tasks (%d failed on purpose), %d analysis "
         "tasks, 1 report\n",
         members, failed, groups);
  free(ok);
  return 0;
}

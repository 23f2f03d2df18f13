/*
 * mlflow_line.c -- one line of a metric file of MLflow's file store (see
 * mida__mlf_metric_line in mlflow_reader.h): outside input, parsed without
 * allocating and without reading past the line (fuzz/mlflow_files_fuzz.c).
 */
#include "observe/mlflow_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mida__mlf_metric_line(const char *line, size_t len, int with_run,
                          mida__mlf_point *pt) {
  memset(pt, 0, sizeof *pt);
  const char *field[6];
  size_t flen[6];
  int n = 0;
  size_t i = 0;
  while (i < len) {
    if (n == 6)
      return MIDA_ECORRUPT;
    size_t start = i;
    while (i < len && line[i] != ' ')
      i++;
    field[n] = line + start;
    flen[n] = i - start;
    if (flen[n] == 0)
      return MIDA_ECORRUPT; /* two spaces, or a leading one */
    n++;
    if (i < len)
      i++; /* the space */
  }
  if (len > 0 && line[len - 1] == ' ')
    return MIDA_ECORRUPT;
  /* Runs: 2, 3 or 5 fields; models: 3 or 4 (run) or 6 (run, dataset). */
  int base = with_run ? 4 : 3;
  if (with_run ? !(n == 3 || n == 4 || n == 6) : !(n == 2 || n == 3 || n == 5))
    return MIDA_ECORRUPT;
  char num[64];
  for (int k = 0; k < 3 && k < n; k++) {
    if (flen[k] >= sizeof num)
      return MIDA_ECORRUPT;
    memcpy(num, field[k], flen[k]);
    num[flen[k]] = '\0';
    char *end = NULL;
    errno = 0;
    if (k == 1) {
      pt->value = strtod(num, &end);
    } else {
      long long v = strtoll(num, &end, 10);
      if (errno != 0)
        return MIDA_ECORRUPT;
      if (k == 0)
        pt->timestamp = v;
      else
        pt->step = v;
    }
    if (end == num || *end != '\0')
      return MIDA_ECORRUPT;
  }
  if (with_run && n >= 4) {
    pt->run = field[3];
    pt->run_len = flen[3];
  }
  if (n == base + 2) {
    pt->dataset_name = field[base];
    pt->dataset_name_len = flen[base];
    pt->dataset_digest = field[base + 1];
    pt->dataset_digest_len = flen[base + 1];
  }
  return MIDA_OK;
}

/*
 * mlflow_files_fuzz.c -- libFuzzer target for the parsers of MLflow's file
 * store (observe/yaml.c for meta.yaml, observe/mlflow_line.c for metric
 * lines): the input as one meta.yaml, and each of its lines as a run's and
 * as a logged model's metric line. Neither may read out of bounds, leak or
 * hand out what it did not read.
 */
#include "observe/mlflow_reader.h"
#include "observe/yaml.h"

#include "mida.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t touch(const char *p, size_t n) {
  size_t sum = 0;
  for (size_t i = 0; p != NULL && i < n; i++)
    sum += (unsigned char)p[i];
  return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size ? size : 1);
  if (copy == NULL)
    return 0;
  memcpy(copy, data, size);
  size_t sum = 0;
  mida__yaml y;
  if (mida__yaml_parse(copy, size, &y) == MIDA_OK) {
    for (size_t i = 0; i < y.n; i++) {
      const mida__yaml_entry *e = &y.e[i];
      sum += touch(e->key, strlen(e->key)) + touch(e->value, e->len);
      if (e->parent != NULL)
        sum += touch(e->parent, strlen(e->parent));
      /* The last entry of that key is what a lookup finds. */
      const mida__yaml_entry *last = e;
      for (size_t j = i + 1; j < y.n; j++)
        if (strcmp(y.e[j].key, e->key) == 0 &&
            (y.e[j].parent == NULL) == (e->parent == NULL) &&
            (e->parent == NULL || strcmp(y.e[j].parent, e->parent) == 0))
          last = &y.e[j];
      size_t len = 0;
      const char *v = mida__yaml_get(&y, e->parent, e->key, &len);
      if (v != last->value || (v != NULL && len != last->len))
        abort();
    }
    mida__yaml_free(&y);
  } else if (y.n != 0 || y.e != NULL) {
    abort(); /* a failed parse holds nothing */
  }
  size_t start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && copy[i] != '\n')
      continue;
    for (int with_run = 0; with_run <= 1; with_run++) {
      mida__mlf_point pt;
      if (mida__mlf_metric_line(copy + start, i - start, with_run, &pt) !=
          MIDA_OK)
        continue;
      sum += touch(pt.run, pt.run_len) +
             touch(pt.dataset_name, pt.dataset_name_len) +
             touch(pt.dataset_digest, pt.dataset_digest_len) +
             (size_t)pt.step + (size_t)pt.timestamp;
    }
    start = i + 1;
  }
  free(copy);
  volatile size_t sink = sum;
  (void)sink;
  return 0;
}

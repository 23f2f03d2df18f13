/*
 * mlflow_test.c -- unit tests of the MLflow observer's mappings: run status
 * to mida status, MLflow's stored NaN and infinity back to the logged
 * values, tracking URIs to database paths, and a run's lives.
 */
#include "observe/mlflow.h"
#include "observe/mlflow_lives.h"
#include "observe/mlflow_reader.h"

#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_status_mapping(void **state) {
  (void)state;
  assert_int_equal(mida__mlflow_status("RUNNING"), MIDA_STATUS_RUNNING);
  assert_int_equal(mida__mlflow_status("SCHEDULED"), MIDA_STATUS_SUBMITTED);
  assert_int_equal(mida__mlflow_status("FINISHED"), MIDA_STATUS_FINISHED);
  assert_int_equal(mida__mlflow_status("FAILED"), MIDA_STATUS_ERROR);
  assert_int_equal(mida__mlflow_status("KILLED"), MIDA_STATUS_CANCELLED);
  assert_int_equal(mida__mlflow_status("weird"), MIDA_STATUS_UNKNOWN);
  assert_int_equal(mida__mlflow_status(NULL), MIDA_STATUS_UNKNOWN);
}

static void test_values_as_mlflow_encodes_them(void **state) {
  (void)state;
  assert_true(isnan(mida__mlflow_value(0.0, 1))); /* is_nan column */
  assert_true(mida__mlflow_value(DBL_MAX, 0) == INFINITY);
  assert_true(mida__mlflow_value(-DBL_MAX, 0) == -INFINITY);
  assert_true(mida__mlflow_value(0.1, 0) == 0.1);
  assert_true(mida__mlflow_value(-0.0, 0) == 0.0);
}

static void test_file_store_metric_lines(void **state) {
  (void)state;
  mida__mlf_point pt;
  const char *l = "1796116425111 0.3333333333333333 -5";
  assert_int_equal(mida__mlf_metric_line(l, strlen(l), 0, &pt), MIDA_OK);
  assert_true(pt.timestamp == 1796116425111 && pt.step == -5 &&
              pt.value == 1.0 / 3 && pt.run == NULL);
  l = "17 nan 2 train 01b421d5";
  assert_int_equal(mida__mlf_metric_line(l, strlen(l), 0, &pt), MIDA_OK);
  assert_true(isnan(pt.value) && pt.dataset_name_len == 5 &&
              memcmp(pt.dataset_digest, "01b421d5", 8) == 0);
  l = "17 -inf";
  assert_int_equal(mida__mlf_metric_line(l, strlen(l), 0, &pt), MIDA_OK);
  assert_true(isinf(pt.value) && pt.value < 0 && pt.step == 0);
  l = "17 0.5 1 3cf7de16 train 01b4";
  assert_int_equal(mida__mlf_metric_line(l, strlen(l), 1, &pt), MIDA_OK);
  assert_true(pt.run_len == 8 && pt.dataset_name_len == 5);
  const char *bad[] = {"",           "17",       "17  0.5",  " 17 0.5",
                       "17 0.5 ",    "x 0.5",    "17 zz",    "17 0.5 1.5",
                       "17 0.5 1 a", "1 2 3 4 5 6 7"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mida__mlf_metric_line(bad[i], strlen(bad[i]), 0, &pt),
                     MIDA_ECORRUPT);
}

/* The tracking URIs the observer reads, and the ones it refuses rather
 * than take for a path ("databricks" was a file store in ./databricks). */
static void test_readable_tracking_uris(void **state) {
  (void)state;
  const char *readable[] = {"sqlite:///a/mlflow.db", "postgresql://h/db",
                            "postgresql+psycopg2://h/db", "postgres://h/db",
                            "file:///a/mlruns", "mlruns", "./a:b",
                            "/abs/databricks", "databricks/mlruns"};
  for (size_t i = 0; i < sizeof readable / sizeof readable[0]; i++)
    assert_true(mida__mlflow_readable_uri(readable[i]));
  const char *not_readable[] = {
      "",           "databricks", "databricks-uc", "uc",
      "databricks://profile", "Databricks://p", "databricks:p",
      "http://h:5000", "HTTPS://h", "mysql://u@h/db", "runs:/x/model"};
  for (size_t i = 0; i < sizeof not_readable / sizeof not_readable[0]; i++) {
    assert_false(mida__mlflow_readable_uri(not_readable[i]));
    assert_non_null(mida__mlflow_unreadable_why(not_readable[i]));
  }
  assert_non_null(strstr(mida__mlflow_unreadable_why("databricks"),
                         "Databricks"));
  assert_non_null(strstr(mida__mlflow_unreadable_why("https://h"),
                         "tracking server"));
}

/* A run's lives (mlflow_lives.h): life 1 from its start; a new life only
 * when the run runs again after it was seen ended, never on a re-read;
 * the cursor text back to the same life, and a text that is none. */
static void test_run_lives(void **state) {
  (void)state;
  mida__mlf_life life = {0, 0, false};
  assert_true(mida__mlf_life_step(&life, false, 100, 500));
  assert_true(life.n == 1 && life.started_ns == 100 && !life.ended);
  assert_false(mida__mlf_life_step(&life, false, 100, 600)); /* re-read */
  assert_true(mida__mlf_life_step(&life, true, 100, 700));   /* ended */
  assert_false(mida__mlf_life_step(&life, true, 100, 800));
  assert_true(mida__mlf_life_step(&life, false, 100, 900)); /* resumed */
  assert_true(life.n == 2 && life.started_ns == 900 && !life.ended);
  assert_false(mida__mlf_life_step(&life, false, 100, 1000));
  char text[64];
  assert_int_not_equal(mida__mlf_life_format(&life, text, sizeof text), 0);
  assert_string_equal(text, "2 900 R");
  mida__mlf_life back = {0, 0, false};
  assert_true(mida__mlf_life_parse(text, &back));
  assert_true(back.n == life.n && back.started_ns == life.started_ns &&
              back.ended == life.ended);
  assert_true(mida__mlf_life_parse("3 -5 E", &back) && back.ended &&
              back.n == 3 && back.started_ns == -5);
  static const char *const bad[] = {"", "0 1 R", "1 1", "1 1 X", "1 1 R ",
                                    "x 1 R", "99999999999999999999 1 R"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(mida__mlf_life_parse(bad[i], &back));
  assert_int_equal(mida__mlf_life_format(&life, text, 4), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_readable_tracking_uris),
      cmocka_unit_test(test_status_mapping),
      cmocka_unit_test(test_values_as_mlflow_encodes_them),
      cmocka_unit_test(test_file_store_metric_lines),
      cmocka_unit_test(test_run_lives),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

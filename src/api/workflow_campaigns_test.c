/*
 * workflow_campaigns_test.c -- the campaigns of a session's workflows:
 * each kept one found, an unknown one not, a workflow kept once, and the
 * table's bound (later workflows are not kept, none is lost).
 */
#include "api/workflow_campaigns.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static mida_id_t id_of(unsigned n, unsigned char tag) {
  mida_id_t id;
  memset(id.bytes, tag, sizeof id.bytes);
  memcpy(id.bytes + 8, &n, sizeof n); /* the random half: the probe's */
  return id;
}

static void test_each_kept_campaign_is_found(void **state) {
  (void)state;
  mida__wf_campaigns *t = calloc(1, sizeof *t);
  assert_non_null(t);
  mida_id_t got, wf0 = id_of(0, 'w');
  assert_int_equal(mida__wf_campaigns_get(t, &wf0, &got), 0);
  for (unsigned n = 0; n < MIDA__WF_CAMPAIGNS_MAX; n++) {
    mida_id_t wf = id_of(n, 'w'), c = id_of(n, 'c');
    assert_int_equal(mida__wf_campaigns_put(t, &wf, &c), 0);
  }
  /* Kept once: a second put of a workflow changes nothing. */
  mida_id_t other = id_of(99, 'x');
  assert_int_equal(mida__wf_campaigns_put(t, &wf0, &other), 0);
  for (unsigned n = 0; n < MIDA__WF_CAMPAIGNS_MAX; n++) {
    mida_id_t wf = id_of(n, 'w'), c = id_of(n, 'c');
    assert_int_equal(mida__wf_campaigns_get(t, &wf, &got), 1);
    assert_memory_equal(got.bytes, c.bytes, sizeof c.bytes);
  }
  /* Full: one more is not kept; an unknown one is not found. */
  mida_id_t late = id_of(MIDA__WF_CAMPAIGNS_MAX, 'w');
  assert_int_equal(mida__wf_campaigns_put(t, &late, &other), -1);
  assert_int_equal(mida__wf_campaigns_get(t, &late, &got), 0);
  mida_id_t unknown = id_of(5, 'u');
  assert_int_equal(mida__wf_campaigns_get(t, &unknown, &got), 0);
  free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_kept_campaign_is_found),
  };
  return cmocka_run_group_tests_name("workflow_campaigns", tests, NULL, NULL);
}

/*
 * concurrency_test.c -- several processes write one store at once.
 *
 * Four processes each record 50,000 tasks (begin and end) into the same
 * SQLite store, each through its own journal and shipper; the store must end
 * with exactly 200,000 tasks, all complete.
 */
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sys/wait.h>

#define PROCESSES 4

static void child(const char *url, int index, long tasks) {
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.campaign = "concurrency";
  mida_session_t *s = NULL;
  char err[512];
  if (mida_open(&cfg, &s, err, sizeof err) != MIDA_OK) {
    fprintf(stderr, "child %d: mida_open: %s\n", index, err);
    _exit(3);
  }
  mida_workflow_info_t wi = {.name = "writer"};
  mida_id_t wf;
  if (mida_workflow_begin(s, &wi, &wf) != MIDA_OK)
    _exit(4);
  for (long i = 0; i < tasks; i++) {
    char used[64];
    snprintf(used, sizeof used, "{\"proc\":%d,\"i\":%ld}", index, i);
    mida_task_info_t ti = {.activity = "write", .used = used};
    mida_id_t t;
    if (mida_task_begin(s, &ti, &t) != MIDA_OK ||
        mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"ok\":true}", NULL) !=
            MIDA_OK)
      _exit(5);
  }
  mida_workflow_end(s, &wf, MIDA_STATUS_FINISHED);
  _exit(mida_close(s) == MIDA_OK ? 0 : 6);
}

static void test_four_processes_write_one_store(void **state) {
  (void)state;
  long per = test_scaled(50000, 10);
  char dir[256], db[300], url[320], sql[256];
  test_tmpdir(dir, sizeof dir, "conc");
  snprintf(db, sizeof db, "%s/store.db", dir);
  snprintf(url, sizeof url, "sqlite://%s", db);
  pid_t pids[PROCESSES];
  for (int p = 0; p < PROCESSES; p++) {
    pids[p] = fork();
    assert_true(pids[p] >= 0);
    if (pids[p] == 0)
      child(url, p, per);
  }
  for (int p = 0; p < PROCESSES; p++) {
    int status;
    waitpid(pids[p], &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  assert_int_equal(test_sql_int(db, "SELECT count(*) FROM task"),
                   PROCESSES * per);
  assert_int_equal(test_sql_int(db, "SELECT count(*) FROM task WHERE "
                                    "status='FINISHED' AND "
                                    "generated->>'ok' = 1"),
                   PROCESSES * per);
  assert_int_equal(test_sql_int(db, "SELECT count(DISTINCT pid) FROM task"),
                   PROCESSES);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM (SELECT used->>'proc' p, count(*) n FROM "
           "task GROUP BY p HAVING n = %ld)",
           per);
  assert_int_equal(test_sql_int(db, sql), PROCESSES);
  assert_int_equal(test_sql_int(db, "SELECT count(*) FROM workflow WHERE "
                                    "status='FINISHED'"),
                   PROCESSES);
  test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_four_processes_write_one_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

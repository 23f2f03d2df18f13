/*
 * guard_test.c -- unit tests of the query guard's shared parts (guard.h):
 * the scan of a statement's text for refused functions, through quotes,
 * comments, case, schema names and Unicode escapes, without refusing
 * names that only look alike; and the limits read from the environment.
 */
#include "sink/guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Whether the scan refuses sql; why must then contain says. */
static void assert_refused(const char *sql, const char *says) {
  char why[160] = "";
  if (mida__guard_denied_call(sql, why, sizeof why) != 1)
    fail_msg("not refused: %s", sql);
  if (strstr(why, says) == NULL)
    fail_msg("%s: '%s' does not say '%s'", sql, why, says);
}

static void assert_allowed(const char *sql) {
  char why[160] = "";
  if (mida__guard_denied_call(sql, why, sizeof why) != 0)
    fail_msg("refused: %s (%s)", sql, why);
}

static void test_refuses_calls_however_spelt(void **state) {
  (void)state;
  assert_refused("SELECT pg_read_file('/etc/passwd')",
                 "pg_read_file() reads the database server's files");
  assert_refused("select PG_READ_FILE ('x')", "server's files");
  assert_refused("SELECT \"pg_ls_dir\" /* a comment */ ('/')", "directories");
  assert_refused("SELECT pg_catalog.pg_terminate_backend(1)",
                 "other sessions");
  assert_refused("SELECT x FROM t WHERE f(set_config\n--c\n('role', 'x', 1))",
                 "role");
  assert_refused("SELECT 1 -- pg_read_file('x') in a comment too", "files");
  assert_refused("SELECT pg_ls_waldir()", "directories");
  assert_refused("SELECT pg_create_logical_replication_slot('a', 'b')",
                 "server");
  assert_refused("SELECT pg_try_advisory_lock_shared(1)", "locks");
  assert_refused("SELECT query_to_xml_and_xmlschema('q', true, true, '')",
                 "SQL text");
  assert_refused("SELECT dblink_exec('x')", "other databases");
  assert_refused("SELECT fts3_tokenizer('simple')", "pointers");
  assert_refused("SELECT [load_extension]('x')", "loads code");
  assert_refused("SELECT U&\"\\0070g_read_file\"('x')", "Unicode");
  assert_refused("SELECT u&\"a\"", "Unicode");
  /* PostgreSQL's comments nest: the call follows the outer comment's end,
   * not the first star and slash. */
  assert_refused("SELECT pg_try_advisory_lock /* /* */ */ (42)", "locks");
  assert_refused("SELECT set_config/*/**/*/('a', 'b', false)", "settings");
  assert_refused("SELECT pg_logical_emit_message(false, 'a', 'b')",
                 "server's log");
  assert_refused("SELECT lowrite(lo_open(lo_create(0), 131072), 'x')",
                 "writes to the store");
  assert_refused("SELECT lo_creat(-1)", "writes to the store");
  assert_refused("SELECT lo_truncate64(0, 1)", "writes to the store");
  assert_refused("SELECT txid_current()", "transaction id");
  assert_refused("SELECT pg_catalog.PG_CURRENT_XACT_ID()", "transaction id");
}

static void test_allows_names_that_only_look_alike(void **state) {
  (void)state;
  assert_allowed("");
  assert_allowed("SELECT count(*) FROM task");
  assert_allowed("SELECT my_pg_read_file(1), pg_read_file_2(1)");
  assert_allowed("SELECT set_config FROM t");   /* a column */
  assert_allowed("SELECT * FROM t WHERE a = 'set_config'");
  assert_allowed("SELECT pg_create_slot(1)");   /* not *_replication_slot */
  assert_allowed("SELECT u&'caf\\00e9'");        /* escapes in a string */
  assert_allowed("SELECT menu&\"x\" FROM t");    /* not U& */
  assert_allowed("SELECT json_each(used) FROM task_v, mida_num(a, 'b')");
  /* These read a transaction id and take none. */
  assert_allowed("SELECT txid_current_if_assigned(), txid_current_snapshot()");
  assert_allowed("SELECT pg_current_xact_id_if_assigned()");
}

static void test_denied_function_names(void **state) {
  (void)state;
  assert_non_null(mida__guard_denied_function("SET_CONFIG", 10));
  /* The name is the len bytes given: "set_config" of "set_configx". */
  assert_non_null(mida__guard_denied_function("set_configx", 10));
  assert_null(mida__guard_denied_function("set_configx", 11));
  /* A prefix covers every name that starts with it. */
  assert_non_null(mida__guard_denied_function("pg_ls_anything", 14));
  assert_null(mida__guard_denied_function("sum", 3));
  assert_null(mida__guard_denied_function(NULL, 0));
}

static void test_limits_from_the_environment(void **state) {
  (void)state;
  mida__query_limits lim;
  unsetenv("MIDA_QUERY_TIMEOUT_MS");
  unsetenv("MIDA_QUERY_TEMP_MB");
  mida__guard_limits_default(&lim);
  assert_int_equal(lim.timeout_ms, MIDA_GUARD_TIMEOUT_MS_DEFAULT);
  assert_int_equal(lim.temp_bytes, (int64_t)MIDA_GUARD_TEMP_MB_DEFAULT << 20);
  setenv("MIDA_QUERY_TIMEOUT_MS", "1500", 1);
  setenv("MIDA_QUERY_TEMP_MB", "0", 1);
  mida__guard_limits_default(&lim);
  assert_int_equal(lim.timeout_ms, 1500);
  assert_int_equal(lim.temp_bytes, 0);
  setenv("MIDA_QUERY_TIMEOUT_MS", "-5", 1);
  setenv("MIDA_QUERY_TEMP_MB", "12x", 1);
  mida__guard_limits_default(&lim);
  assert_int_equal(lim.timeout_ms, MIDA_GUARD_TIMEOUT_MS_DEFAULT);
  assert_int_equal(lim.temp_bytes, (int64_t)MIDA_GUARD_TEMP_MB_DEFAULT << 20);
  unsetenv("MIDA_QUERY_TIMEOUT_MS");
  unsetenv("MIDA_QUERY_TEMP_MB");
  /* The reading processes' memory bound is read the same way. */
  unsetenv("MIDA_QUERY_MEM_MB");
  assert_int_equal(mida__guard_reader_mem_bytes(),
                   (int64_t)MIDA_GUARD_MEM_MB_DEFAULT << 20);
  setenv("MIDA_QUERY_MEM_MB", "300", 1);
  assert_int_equal(mida__guard_reader_mem_bytes(), (int64_t)300 << 20);
  setenv("MIDA_QUERY_MEM_MB", "0", 1);
  assert_int_equal(mida__guard_reader_mem_bytes(), 0);
  setenv("MIDA_QUERY_MEM_MB", "12x", 1);
  assert_int_equal(mida__guard_reader_mem_bytes(),
                   (int64_t)MIDA_GUARD_MEM_MB_DEFAULT << 20);
  unsetenv("MIDA_QUERY_MEM_MB");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_refuses_calls_however_spelt),
      cmocka_unit_test(test_allows_names_that_only_look_alike),
      cmocka_unit_test(test_denied_function_names),
      cmocka_unit_test(test_limits_from_the_environment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

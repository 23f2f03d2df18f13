/*
 * fileid_test.c -- file URIs (encoded as RFC 3986 wants, decoded back),
 * what is refused as a file reference, and file version ids.
 */
#include "core/fileid.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include <sys/stat.h>

static void test_uri_encodes_what_rfc3986_wants(void **state) {
  (void)state;
  char buf[128];
  assert_int_equal(mida__file_uri("/data/r6-zscore/shard-0.npz", buf,
                                  sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "file:///data/r6-zscore/shard-0.npz");
  assert_int_equal(mida__file_uri("/a b/%/é?#", buf, sizeof buf), MIDA_OK);
  assert_string_equal(buf, "file:///a%20b/%25/%C3%A9%3F%23");
  assert_int_equal(mida__file_uri_len("/a b"), strlen("file:///a%20b"));
  assert_int_equal(mida__file_uri("/abc", buf, 11), MIDA_ETOOBIG);
  assert_int_equal(mida__file_uri("/abc", buf, 12), MIDA_OK);
}

static void test_uri_path_round_trip(void **state) {
  (void)state;
  const char *paths[] = {"/x", "/a b/%/é?#", "/d/shard-1.npz", "/:@!$&'()"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    char uri[128], back[128];
    assert_int_equal(mida__file_uri(paths[i], uri, sizeof uri), MIDA_OK);
    assert_int_equal(mida__file_uri_path(uri, back, sizeof back), MIDA_OK);
    assert_string_equal(back, paths[i]);
  }
}

static void test_uri_path_accepts_and_refuses(void **state) {
  (void)state;
  char buf[64];
  assert_int_equal(mida__file_uri_path("/plain/a%20b", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "/plain/a%20b"); /* a path is taken as it is */
  assert_int_equal(mida__file_uri_path("file://localhost/x", buf, sizeof buf),
                   MIDA_OK);
  assert_string_equal(buf, "/x");
  const char *bad[] = {"relative/x", "file://host/x", "s3://b/x",
                       "file:///a%2",  "file:///a%zz", "file:///a%00b",
                       "file:///a?b",  "",             "file:"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(mida__file_uri_path(bad[i], buf, sizeof buf),
                     MIDA_EINVAL);
  assert_int_equal(mida__file_uri_path(NULL, buf, sizeof buf), MIDA_EINVAL);
  assert_int_equal(mida__file_uri_path("/abcdef", buf, 4), MIDA_ETOOBIG);
}

static void test_version_id(void **state) {
  (void)state;
  struct stat st;
  memset(&st, 0, sizeof st);
  st.st_dev = 2049;
  st.st_ino = 123456;
  st.st_mtim.tv_sec = 1700000000;
  st.st_mtim.tv_nsec = 5;
  st.st_size = 4096;
  char buf[96];
  assert_int_equal(mida__file_version_id(&st, buf, sizeof buf), MIDA_OK);
  assert_string_equal(buf, "inode:2049:123456:1700000000000000005:4096");
  assert_int_equal(mida__file_version_id(&st, buf, 10), MIDA_ETOOBIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uri_encodes_what_rfc3986_wants),
      cmocka_unit_test(test_uri_path_round_trip),
      cmocka_unit_test(test_uri_path_accepts_and_refuses),
      cmocka_unit_test(test_version_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

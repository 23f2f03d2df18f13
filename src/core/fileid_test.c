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

#include <stdint.h>
#include <stdio.h>
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

/* Every byte at every place of a path long enough to be measured sixteen
 * bytes at a time: the URI and its length are those one byte at a time
 * gives, and the path's length comes with it. */
static void test_uri_every_byte_everywhere(void **state) {
  (void)state;
  const char *plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-._~!$&'()*+,;=:@/";
  for (int c = 1; c < 256; c++) {
    for (size_t at = 0; at < 40; at++) {
      char path[41];
      memset(path, 'a', 40);
      path[0] = '/';
      path[20] = '/';
      path[at] = (char)c;
      path[40] = '\0';
      size_t want = 7 + 40 + (strchr(plain, c) != NULL ? 0 : 2);
      size_t path_len = 0;
      assert_int_equal(mida__file_uri_measure(path, &path_len), want);
      assert_int_equal(path_len, 40);
      assert_int_equal(mida__file_uri_len(path), want);
      char uri[160];
      assert_int_equal(mida__file_uri(path, uri, sizeof uri), MIDA_OK);
      assert_int_equal(strlen(uri), want);
    }
  }
}

/* Numbers of every length, each side of each power of ten, and the
 * largest, against snprintf: the version id writes them eight digits at a
 * time, with no leading zeros. */
static void test_version_id_every_length(void **state) {
  (void)state;
  uint64_t values[3 * 20 + 2];
  size_t n = 0;
  uint64_t p10 = 1;
  for (int i = 0; i < 20; i++, p10 *= 10) {
    values[n++] = p10 - 1;
    values[n++] = p10;
    values[n++] = p10 + 1;
  }
  values[n++] = UINT64_MAX;
  values[n++] = 1796216133314076691ull;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < n; j += 7) {
      struct stat st;
      memset(&st, 0, sizeof st);
      st.st_dev = (dev_t)values[j];
      st.st_ino = (ino_t)values[i];
      st.st_mtim.tv_sec = (time_t)(values[(i + j) % n] / 1000000000);
      st.st_mtim.tv_nsec = (long)(values[(i + j) % n] % 1000000000);
      st.st_size = (off_t)(values[n - 1 - i] & INT64_MAX);
      char want[128], got[MIDA_FILE_VERSION_ID_BYTES], checked[96];
      snprintf(want, sizeof want, "inode:%llu:%llu:%llu:%llu",
               (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
               (unsigned long long)((uint64_t)st.st_mtim.tv_sec * 1000000000u +
                                    (uint64_t)st.st_mtim.tv_nsec),
               (unsigned long long)st.st_size);
      assert_int_equal(mida__file_version_id_write(got, &st), strlen(want));
      assert_string_equal(got, want);
      assert_int_equal(mida__file_version_id(&st, checked, sizeof checked),
                       MIDA_OK);
      assert_string_equal(checked, want);
    }
  }
}

/* Every byte against RFC 3986's pchar set (and '/'), written out as the
 * standard has it: the table in fileid.c must say the same. */
static void test_uri_every_byte(void **state) {
  (void)state;
  const char *plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789-._~!$&'()*+,;=:@/";
  for (int c = 1; c < 256; c++) {
    char path[3] = {'/', (char)c, '\0'};
    char uri[16], want[16];
    int is_plain = strchr(plain, c) != NULL;
    if (is_plain)
      snprintf(want, sizeof want, "file:///%c", c);
    else
      snprintf(want, sizeof want, "file:///%%%02X", c);
    assert_int_equal(mida__file_uri(path, uri, sizeof uri), MIDA_OK);
    assert_string_equal(uri, want);
    assert_int_equal(mida__file_uri_len(path), strlen(want));
  }
}

/* Numbers of every length, 0 and the largest included. */
static void test_version_id_digits(void **state) {
  (void)state;
  struct stat st;
  char buf[96], want[96];
  uint64_t v = 0;
  for (int digits = 1; digits <= 20; digits++) {
    uint64_t lo = v, hi = digits == 20 ? UINT64_MAX : v * 10 + 9;
    uint64_t cases[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
      memset(&st, 0, sizeof st);
      st.st_dev = (dev_t)cases[k];
      st.st_ino = (ino_t)(cases[k] / 3);
      st.st_mtim.tv_sec = 1700000000;
      st.st_mtim.tv_nsec = 999999999;
      st.st_size = (off_t)(cases[k] % 1000000007);
      snprintf(want, sizeof want, "inode:%llu:%llu:%llu:%llu",
               (unsigned long long)cases[k], (unsigned long long)(cases[k] / 3),
               1700000000999999999ull,
               (unsigned long long)(cases[k] % 1000000007));
      assert_int_equal(mida__file_version_id(&st, buf, sizeof buf), MIDA_OK);
      assert_string_equal(buf, want);
    }
    v = v == 0 ? 10 : v * 10; /* the smallest number of digits + 1 */
  }
}

/* Every number under 1,100,000 (the digit pairs of small numbers, and
 * the two-then-four of device numbers) as each of the four fields, and
 * the same numbers past each eighth digit, against snprintf. */
static void test_version_id_every_small_number(void **state) {
  (void)state;
  for (uint64_t v = 0; v < 1100000; v++) {
    uint64_t big = 100000000ull * (v % 1000) + v; /* past put_short */
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_dev = (dev_t)v;
    st.st_ino = (ino_t)big;
    st.st_mtim.tv_sec = (time_t)(v / 1000);
    st.st_mtim.tv_nsec = (long)(v % 1000);
    st.st_size = (off_t)(1099999 - v);
    char want[128], got[MIDA_FILE_VERSION_ID_BYTES];
    snprintf(want, sizeof want, "inode:%llu:%llu:%llu:%llu",
             (unsigned long long)v, (unsigned long long)big,
             (unsigned long long)(v / 1000 * 1000000000ull + v % 1000),
             (unsigned long long)(1099999 - v));
    size_t n = mida__file_version_id_write(got, &st);
    if (n != strlen(want) || strcmp(got, want) != 0)
      fail_msg("%llu: %s, not %s", (unsigned long long)v, got, want);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_uri_encodes_what_rfc3986_wants),
      cmocka_unit_test(test_uri_path_round_trip),
      cmocka_unit_test(test_uri_path_accepts_and_refuses),
      cmocka_unit_test(test_uri_every_byte),
      cmocka_unit_test(test_uri_every_byte_everywhere),
      cmocka_unit_test(test_version_id_digits),
      cmocka_unit_test(test_version_id),
      cmocka_unit_test(test_version_id_every_length),
      cmocka_unit_test(test_version_id_every_small_number),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * noise_test.c -- the preload library's noise test (noise.c) alone: which
 * paths are not recorded, at every length around the sixteen-byte steps
 * of its vector scan (a component, a ".so" or a byte to escape across a
 * step's edge), whether the path is its URI as it is, installed code kept
 * when MIDA_PRELOAD_RECORD_CODE asks, and the MIDA_PRELOAD_IGNORE
 * prefixes. The table's answers are those of the byte-at-a-time scan
 * before 2026-12-07 (the vector scan was checked against it over 201,104
 * paths).
 */
#include "preload/preload.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct noise_case {
  const char *path;
  int noise;     /* mida__pl_noise_scan's answer */
  int uri_plain; /* what it says of the URI when not noise; -1: noise */
} noise_case;

static const noise_case cases[] = {
    {"/", 0, 1},
    {"/a", 0, 1},
    {"/tmp/x", 0, 1},
    {"/tmp/a b", 0, 0},
    {"/tmp/50%", 0, 0},
    {"/tmp/é", 0, 0},
    {"/x.so", 1, -1},
    {"/x.so.1", 1, -1},
    {"/x.sox", 0, 1},
    {"/lib.so/x", 0, 1},
    {"/usr/lib/x86_64-linux-gnu/libc.so.6", 1, -1},
    {"/usr/include/stdio.h", 1, -1},
    {"/usr/local/lib/x.a", 1, -1},
    {"/lib64/ld-linux-x86-64.so.2", 1, -1},
    {"/home/u/proj/src/main.c", 0, 1},
    {"/home/u/.venv/lib/python3.11/site-packages/numpy/__init__.py", 1, -1},
    {"/home/u/.venv/lib/python3.11/x.py", 1, -1},
    {"/home/u/lib/pythonX/x.py", 0, 1},
    {"/home/u/__pycache__/m.pyc", 1, -1},
    {"/home/u/_pycache_/m.py", 0, 1},
    {"/opt/dist-packages/x", 1, -1},
    {"/opt/dist-package/x", 0, 1},
    {"/opt/site-packages", 0, 1},
    {"/opt/site-packages/", 1, -1},
    {"/srv/pyvenv.cfg", 1, -1},
    {"/srv/pyvenv.cfgx", 0, 1},
    {"/proc/self/maps", 1, -1},
    {"/sys/kernel/x", 1, -1},
    {"/dev/null", 1, -1},
    {"/etc/ld.so.cache", 1, -1},
    {"/aaaaaaaaaaaaaaa", 0, 1},
    {"/aaaaaaaaaaaaaa/", 0, 1},
    {"/aaaaaaaaaaaaaaaa", 0, 1},
    {"/aaaaaaaaaaa.so", 1, -1},
    {"/aaaaaaaaaaaa.so", 1, -1},
    {"/aaaaaaaaaaaaa.so", 1, -1},
    {"/aaaaaaaaaaaaaa.so", 1, -1},
    {"/aaaaaaaaaaaaaa/site-packages/x", 1, -1},
    {"/aaaaaaaaaaaaaaa/site-packages/x", 1, -1},
    {"/aaaaaaaaaaaaa/site-packages/x", 1, -1},
    {"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/x.so", 1, -1},
    {"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaa/x.so", 1, -1},
    {"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/x.so", 1, -1},
    {"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/b c", 0, 0},
    {"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s", 0, 1},
    {"/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s.so", 1, -1},
    {"/s/d/l/_", 0, 1},
    {"/s/d/l/_/", 0, 1},
    {"/xs/site-packages/y", 1, -1},
    {"/x/lib/python3/y", 1, -1},
    {"/x/lib/python/y", 0, 1},
    {"/tmp/a.so.txt", 1, -1},
    {"/tmp/.so", 1, -1},
    {"/tmp/so", 0, 1},
    {"/tmp/x.SO", 0, 1},
    {"/tmp/lib.so.so.so", 1, -1},
};

static void test_the_table_of_paths(void **state) {
  (void)state;
  mida__pl_noise_init(NULL, 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int plain = -1;
    int noise = mida__pl_noise_scan(cases[i].path, strlen(cases[i].path),
                                    &plain);
    if (noise != cases[i].noise ||
        (!noise && plain != cases[i].uri_plain)) {
      fprintf(stderr, "%s: noise %d (want %d), plain %d (want %d)\n",
              cases[i].path, noise, cases[i].noise, plain,
              cases[i].uri_plain);
      fail();
    }
    assert_int_equal(mida__pl_is_noise(cases[i].path), cases[i].noise);
  }
}

/* A code component or a ".so" at each place in paths of every length
 * from 1 to 70 bytes: the vector scan's steps and its tail copy. */
static void test_every_length_and_place(void **state) {
  (void)state;
  mida__pl_noise_init(NULL, 0);
  char path[128];
  for (size_t len = 2; len <= 70; len++) {
    memset(path, 'a', len);
    path[0] = '/';
    path[len] = '\0';
    int plain = -1;
    assert_int_equal(mida__pl_noise_scan(path, len, &plain), 0);
    assert_int_equal(plain, 1);
    /* ".so" ending the last component, wherever the path ends. */
    if (len >= 5) {
      memcpy(path + len - 3, ".so", 3);
      assert_int_equal(mida__pl_noise_scan(path, len, &plain), 1);
    }
    /* a space, which the URI escapes, at each place */
    for (size_t at = 1; at < len; at++) {
      memset(path, 'a', len);
      path[0] = '/';
      path[at] = ' ';
      plain = -1;
      assert_int_equal(mida__pl_noise_scan(path, len, &plain), 0);
      assert_int_equal(plain, 0);
    }
    /* "/site-packages/" starting at each place where it fits */
    static const char pkg[] = "/site-packages/x";
    for (size_t at = 0; at + sizeof pkg - 1 <= len; at++) {
      memset(path, 'b', len);
      path[0] = '/';
      memcpy(path + at, pkg, sizeof pkg - 1);
      assert_int_equal(mida__pl_noise_scan(path, len, &plain), 1);
    }
  }
}

static void test_code_is_data_when_asked(void **state) {
  (void)state;
  mida__pl_noise_init(NULL, 1);
  int plain = -1;
  const char *code = "/home/u/.venv/lib/python3.11/site-packages/np/x.py";
  assert_int_equal(mida__pl_noise_scan(code, strlen(code), &plain), 0);
  assert_int_equal(mida__pl_is_noise("/usr/include/stdio.h"), 0);
  /* the kernel's files, the loader's and shared libraries stay noise */
  assert_int_equal(mida__pl_is_noise("/usr/lib/x86_64-linux-gnu/libc.so.6"),
                   1);
  assert_int_equal(mida__pl_is_noise("/proc/self/maps"), 1);
  assert_int_equal(mida__pl_is_noise("/etc/ld.so.cache"), 1);
  mida__pl_noise_init(NULL, 0);
}

static void test_ignored_prefixes(void **state) {
  (void)state;
  /* ':' ends a prefix, '\\' makes the next byte the prefix's own. */
  mida__pl_noise_init("/tmp/run.db:/data/odd\\:name", 0);
  assert_int_equal(mida__pl_is_noise("/tmp/run.db"), 1);
  assert_int_equal(mida__pl_is_noise("/tmp/run.db-wal"), 1);
  assert_int_equal(mida__pl_is_noise("/tmp/run.dc"), 0);
  assert_int_equal(mida__pl_is_noise("/data/odd:name/x"), 1);
  assert_int_equal(mida__pl_is_noise("/data/odd"), 0);
  mida__pl_noise_init(NULL, 0);
  assert_int_equal(mida__pl_is_noise("/tmp/run.db"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_table_of_paths),
      cmocka_unit_test(test_every_length_and_place),
      cmocka_unit_test(test_code_is_data_when_asked),
      cmocka_unit_test(test_ignored_prefixes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * id_test.c -- identifiers: layout, order, text form, uniqueness across
 * threads and fork().
 */

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 8
#define IDS_PER_THREAD 1000000

static int id_cmp(const void *a, const void *b) {
  return memcmp(a, b, 16);
}

static void test_layout_has_version_7_and_variant(void **state) {
  (void)state;
  int64_t before_ms = mida_now_ns() / 1000000;
  mida_id_t id = mida_id_new();
  uint64_t ms = 0;
  for (int i = 0; i < 6; i++)
    ms = ms << 8 | id.bytes[i];
  assert_int_equal(id.bytes[6] >> 4, 7);
  assert_int_equal(id.bytes[8] >> 6, 2);
  assert_true((int64_t)ms >= before_ms);
  assert_true((int64_t)ms <= mida_now_ns() / 1000000 + 1);
}

static void test_ids_of_one_thread_increase(void **state) {
  (void)state;
  mida_id_t prev = mida_id_new();
  for (int i = 0; i < 100000; i++) {
    mida_id_t next = mida_id_new();
    assert_true(memcmp(prev.bytes, next.bytes, 16) < 0);
    prev = next;
  }
}

static void test_text_form_round_trips(void **state) {
  (void)state;
  mida_id_t id = mida_id_new(), back;
  char text[MIDA_ID_STRLEN];
  mida_id_format(&id, text);
  assert_int_equal(strlen(text), 36);
  assert_int_equal(text[8], '-');
  assert_int_equal(text[23], '-');
  assert_int_equal(mida_id_parse(text, &back), MIDA_OK);
  assert_memory_equal(id.bytes, back.bytes, 16);
  for (char *p = text; *p; p++) /* upper case is accepted too */
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  assert_int_equal(mida_id_parse(text, &back), MIDA_OK);
  assert_memory_equal(id.bytes, back.bytes, 16);
}

static void test_parse_rejects_malformed_text(void **state) {
  (void)state;
  mida_id_t id;
  const char *bad[] = {"",
                       "xyz",
                       "0190a4c2-0000-7000-8000-00000000000",
                       "0190a4c2-0000-7000-8000-0000000000000",
                       "0190a4c200007000-8000-000000000000",
                       "0190a4c2-0000-7000-8000-00000000000g",
                       NULL};
  for (int i = 0; bad[i] != NULL; i++)
    assert_int_equal(mida_id_parse(bad[i], &id), MIDA_EINVAL);
  assert_int_equal(mida_id_parse(NULL, &id), MIDA_EINVAL);
}

typedef struct worker_arg {
  mida_id_t *out; /* IDS_PER_THREAD ids */
} worker_arg;

static void *make_ids(void *p) {
  worker_arg *w = p;
  for (int i = 0; i < IDS_PER_THREAD; i++)
    w->out[i] = mida_id_new();
  return NULL;
}

static void test_eight_threads_make_no_duplicate(void **state) {
  (void)state;
  size_t total = (size_t)THREADS * IDS_PER_THREAD;
  mida_id_t *all = malloc(total * sizeof *all);
  assert_non_null(all);
  pthread_t threads[THREADS];
  worker_arg args[THREADS];
  for (int t = 0; t < THREADS; t++) {
    args[t].out = all + (size_t)t * IDS_PER_THREAD;
    assert_int_equal(pthread_create(&threads[t], NULL, make_ids, &args[t]), 0);
  }
  for (int t = 0; t < THREADS; t++)
    pthread_join(threads[t], NULL);
  qsort(all, total, sizeof *all, id_cmp);
  size_t duplicates = 0;
  for (size_t i = 1; i < total; i++)
    duplicates += memcmp(all[i - 1].bytes, all[i].bytes, 16) == 0;
  free(all);
  assert_int_equal(duplicates, 0);
}

static void test_fork_child_does_not_repeat_parent(void **state) {
  (void)state;
  (void)mida_id_new(); /* seed the parent's generator */
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    mida_id_t ids[1000];
    for (int i = 0; i < 1000; i++)
      ids[i] = mida_id_new();
    ssize_t w = write(fds[1], ids, sizeof ids);
    _exit(w == (ssize_t)sizeof ids ? 0 : 1);
  }
  mida_id_t mine[1000], theirs[1000];
  for (int i = 0; i < 1000; i++)
    mine[i] = mida_id_new();
  size_t got = 0;
  while (got < sizeof theirs) {
    ssize_t r = read(fds[0], (char *)theirs + got, sizeof theirs - got);
    assert_true(r > 0);
    got += (size_t)r;
  }
  int status;
  waitpid(pid, &status, 0);
  close(fds[0]);
  close(fds[1]);
  for (int i = 0; i < 1000; i++)
    for (int k = 0; k < 1000; k++)
      assert_memory_not_equal(mine[i].bytes, theirs[k].bytes, 16);
}

static void test_names_give_stable_distinct_ids(void **state) {
  (void)state;
  mida_id_t a = mida_id_from_name("campaign", "climate");
  mida_id_t b = mida_id_from_name("campaign", "climate");
  mida_id_t c = mida_id_from_name("campaign", "climate2");
  mida_id_t d = mida_id_from_name("workflow", "climate");
  assert_memory_equal(a.bytes, b.bytes, 16);
  assert_memory_not_equal(a.bytes, c.bytes, 16);
  assert_memory_not_equal(a.bytes, d.bytes, 16);
  assert_int_equal(a.bytes[6] >> 4, 8);
  char text[MIDA_ID_STRLEN];
  mida_id_t e = mida_id_from_name("campaign", mida_id_format(&a, text));
  assert_memory_equal(a.bytes, e.bytes, 16); /* an id names itself */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_has_version_7_and_variant),
      cmocka_unit_test(test_ids_of_one_thread_increase),
      cmocka_unit_test(test_text_form_round_trips),
      cmocka_unit_test(test_parse_rejects_malformed_text),
      cmocka_unit_test(test_eight_threads_make_no_duplicate),
      cmocka_unit_test(test_fork_child_does_not_repeat_parent),
      cmocka_unit_test(test_names_give_stable_distinct_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

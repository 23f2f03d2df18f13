/*
 * conn_limit_test.c -- the table of connections `mida serve` holds
 * (conn_limit.h): the limit in all, the limit from one address, places
 * given back and taken again, and addresses that are not counted by
 * address (a Unix socket's).
 */
#include "serve/conn_limit.h"

#include "mida.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

static struct sockaddr_in v4(const char *text) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(40000);
  inet_pton(AF_INET, text, &a.sin_addr);
  return a;
}

#define SA(a) ((const struct sockaddr *)&(a))

static void test_the_limit_from_one_address(void **state) {
  (void)state;
  mida__conn_limit l;
  assert_int_equal(mida__conn_limit_init(&l, 10, 2), MIDA_OK);
  struct sockaddr_in a = v4("127.0.0.1"), b = v4("127.0.0.2");
  assert_true(mida__conn_limit_admits(&l, SA(a)));
  long t1 = mida__conn_limit_take(&l, SA(a));
  long t2 = mida__conn_limit_take(&l, SA(a));
  assert_true(t1 > 0 && t2 == t1);
  assert_false(mida__conn_limit_admits(&l, SA(a)));
  assert_true(mida__conn_limit_admits(&l, SA(b))); /* another address */
  mida__conn_limit_give(&l, t1);
  assert_true(mida__conn_limit_admits(&l, SA(a)));
  mida__conn_limit_give(&l, t2);
  assert_int_equal(l.held, 0);
  mida__conn_limit_free(&l);
}

static void test_the_limit_in_all(void **state) {
  (void)state;
  mida__conn_limit l;
  assert_int_equal(mida__conn_limit_init(&l, 3, 64), MIDA_OK);
  char text[32];
  long tokens[3];
  for (int i = 0; i < 3; i++) {
    snprintf(text, sizeof text, "10.0.0.%d", i + 1);
    struct sockaddr_in a = v4(text);
    assert_true(mida__conn_limit_admits(&l, SA(a)));
    tokens[i] = mida__conn_limit_take(&l, SA(a));
    assert_true(tokens[i] > 0);
  }
  struct sockaddr_in d = v4("10.0.0.9");
  assert_false(mida__conn_limit_admits(&l, SA(d)));
  /* A place given back is free for any address. */
  mida__conn_limit_give(&l, tokens[1]);
  assert_true(mida__conn_limit_admits(&l, SA(d)));
  long t = mida__conn_limit_take(&l, SA(d));
  assert_int_equal(t, tokens[1]);
  mida__conn_limit_give(&l, t);
  mida__conn_limit_give(&l, tokens[0]);
  mida__conn_limit_give(&l, tokens[2]);
  assert_int_equal(l.held, 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(l.places[i].family, 0);
  mida__conn_limit_free(&l);
}

static void test_ipv6_and_unix_sockets(void **state) {
  (void)state;
  mida__conn_limit l;
  assert_int_equal(mida__conn_limit_init(&l, 4, 1), MIDA_OK);
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::1", &a.sin6_addr);
  long t = mida__conn_limit_take(&l, SA(a));
  assert_true(t > 0);
  assert_false(mida__conn_limit_admits(&l, SA(a)));
  /* The same bytes in another family are another address. */
  struct sockaddr_in b = v4("0.0.0.0");
  assert_true(mida__conn_limit_admits(&l, SA(b)));
  /* A Unix socket's connections count in all only. */
  struct sockaddr_un u;
  memset(&u, 0, sizeof u);
  u.sun_family = AF_UNIX;
  long tu1 = mida__conn_limit_take(&l, SA(u));
  long tu2 = mida__conn_limit_take(&l, SA(u));
  assert_int_equal(tu1, 0);
  assert_int_equal(tu2, 0);
  assert_int_equal(l.held, 3);
  long tn = mida__conn_limit_take(&l, NULL);
  assert_int_equal(tn, 0);
  assert_false(mida__conn_limit_admits(&l, SA(b))); /* 4 held in all */
  mida__conn_limit_give(&l, tu1);
  mida__conn_limit_give(&l, tu2);
  mida__conn_limit_give(&l, tn);
  mida__conn_limit_give(&l, t);
  mida__conn_limit_give(&l, -1); /* a take that found no place */
  assert_int_equal(l.held, 0);
  mida__conn_limit_free(&l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_limit_from_one_address),
      cmocka_unit_test(test_the_limit_in_all),
      cmocka_unit_test(test_ipv6_and_unix_sockets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

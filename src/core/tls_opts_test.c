/*
 * tls_opts_test.c -- the TLS options of broker URLs: the scheme decides,
 * the URL's parameters win over MIDA_TLS_*, a plain URL never reads them
 * and refuses TLS parameters, a key needs a certificate, files are checked.
 */
#include "core/tls_opts.h"
#include "core/url.h"

#include "mida.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char readable[64]; /* a file that exists, made by setup */

static int setup(void **state) {
  (void)state;
  snprintf(readable, sizeof readable, "/tmp/mida-tls-opts-%d.pem",
           (int)getpid());
  FILE *f = fopen(readable, "w");
  if (f == NULL)
    return -1;
  fputs("not checked here\n", f);
  fclose(f);
  unsetenv("MIDA_TLS_CA");
  unsetenv("MIDA_TLS_CERT");
  unsetenv("MIDA_TLS_KEY");
  unsetenv("MIDA_TLS_SERVER_NAME");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(readable);
  return 0;
}

/* Reads the options of url (its query parsed here) for tls_scheme. */
static int read_opts(const char *url, const char *tls_scheme, mida__tls_opts *o,
                     char *err, size_t errlen) {
  mida__url u;
  assert_int_equal(mida__url_parse(url, 1, &u), MIDA_OK);
  return mida__tls_opts_read(url, u.query, tls_scheme, o, err, errlen);
}

static void test_the_scheme_decides(void **state) {
  (void)state;
  mida__tls_opts o;
  char err[256] = "";
  assert_int_equal(read_opts("rediss://h/s", "rediss", &o, err, sizeof err),
                   MIDA_OK);
  assert_true(o.enabled);
  assert_string_equal(o.ca, "");
  assert_string_equal(mida__tls_expected_name(&o, "h"), "h");
  assert_int_equal(read_opts("redis://h/s", "rediss", &o, err, sizeof err),
                   MIDA_OK);
  assert_false(o.enabled);
  assert_int_equal(read_opts("MQTTS://h/t", "mqtts", &o, err, sizeof err),
                   MIDA_OK);
  assert_true(o.enabled);
}

static void test_parameters_win_over_the_environment(void **state) {
  (void)state;
  char url[256];
  snprintf(url, sizeof url, "tls://h/s?ca=%s&sni=broker.test", readable);
  setenv("MIDA_TLS_CA", "/nonexistent/ca.pem", 1);
  setenv("MIDA_TLS_CERT", readable, 1);
  mida__tls_opts o;
  char err[256] = "";
  assert_int_equal(read_opts(url, "tls", &o, err, sizeof err), MIDA_OK);
  assert_string_equal(o.ca, readable);
  assert_string_equal(o.cert, readable);
  assert_string_equal(o.key, readable); /* one PEM with both */
  assert_string_equal(o.server_name, "broker.test");
  assert_string_equal(mida__tls_expected_name(&o, "10.0.0.1"), "broker.test");
  /* A plain URL reads no environment. */
  assert_int_equal(read_opts("nats://h/s", "tls", &o, err, sizeof err),
                   MIDA_OK);
  assert_string_equal(o.ca, "");
  assert_string_equal(o.cert, "");
  unsetenv("MIDA_TLS_CA");
  unsetenv("MIDA_TLS_CERT");
}

static void test_mistakes_are_named(void **state) {
  (void)state;
  mida__tls_opts o;
  char err[256] = "";
  assert_int_equal(
      read_opts("mqtt://h/t?ca=/x.pem", "mqtts", &o, err, sizeof err),
      MIDA_EURL);
  assert_non_null(strstr(err, "TLS option 'ca' given for a plain mqtt://"));
  char url[256];
  snprintf(url, sizeof url, "mqtts://h/t?key=%s", readable);
  assert_int_equal(read_opts(url, "mqtts", &o, err, sizeof err), MIDA_EURL);
  assert_non_null(strstr(err, "'key'"));
  assert_int_equal(read_opts("rediss://h/s?cert=/nonexistent/c.pem", "rediss",
                             &o, err, sizeof err),
                   MIDA_EURL);
  assert_non_null(strstr(err, "cannot read the TLS certificate file"));
  assert_non_null(strstr(err, "/nonexistent/c.pem"));
}

static void test_ip_literals(void **state) {
  (void)state;
  assert_true(mida__tls_is_ip("127.0.0.1"));
  assert_true(mida__tls_is_ip("::1"));
  assert_false(mida__tls_is_ip("localhost"));
  assert_false(mida__tls_is_ip("1.2.3"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_the_scheme_decides),
      cmocka_unit_test(test_parameters_win_over_the_environment),
      cmocka_unit_test(test_mistakes_are_named),
      cmocka_unit_test(test_ip_literals),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

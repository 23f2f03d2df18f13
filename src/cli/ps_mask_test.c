/*
 * ps_mask_test.c -- unit tests of mida__cli_mask_argv (ps_mask.c), the
 * mask of the passwords in mida's own argument memory, which `ps` shows
 * to every user (the end to end tests, through /proc/PID/cmdline:
 * tests/security/test_secrets.py). Each case is an argument and what `ps`
 * must show of it; and whatever the messages mask of a URL (its userinfo's
 * secret, mida__url_secret_span, its secret parameters' values,
 * mida__url_next_secret_value: core/url.h, and the values of secret
 * key=value words, mida__conninfo_next_secret: core/conninfo.h) is masked
 * in `ps` too. The cases run in one call, as main() makes it: the copy it
 * returns lives until exit.
 */
#include "cli/cli.h"

#include "core/conninfo.h"
#include "core/url.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef struct mask_case {
  const char *arg;   /* an argument of mida */
  const char *shown; /* what `ps` shows of it once masked */
} mask_case;

static const mask_case cases[] = {
    {"postgresql://u:pw@h/db", "postgresql://u:**@h/db"},
    {"--store=redis://:pw@h/s?password=x&a=1",
     "--store=redis://:**@h/s?password=*&a=1"},
    /* A password holding '@', '/', '?' or '#' (which a URL should
     * percent-encode) is masked whole, as in the messages. */
    {"postgresql://u:front@back@h/x", "postgresql://u:**********@h/x"},
    {"postgresql://u:pa/ss@h/db", "postgresql://u:*****@h/db"},
    {"redis://:ab#cd@h:1/s", "redis://:*****@h:1/s"},
    {"mqtt://u:ab?cd@h/t?x=1", "mqtt://u:*****@h/t?x=1"},
    {"redis://:a?b@c/d:e@f", "redis://:*********@f"},
    /* A NATS token, a userinfo of one part, is all secret; one that holds
     * a '#', '?' or '/' was left whole in `ps` until 2026-12, though the
     * messages masked it. */
    {"nats://tok@h/s", "nats://***@h/s"},
    {"nats://ab#cd@h/s", "nats://*****@h/s"},
    {"tls://a?b@h/s", "tls://***@h/s"},
    {"nats://to/ken@h/s", "nats://******@h/s"},
    /* A secret parameter in the fragment, as in the messages; one after a
     * query's fragment was left whole until 2026-12. */
    {"https://h/x#f?token=abc", "https://h/x#f?token=***"},
    {"--store=postgresql://u@h/db#x?password=p",
     "--store=postgresql://*@h/db#x?password=*"},
    {"https://h/x?a=1#f?token=abc", "https://h/x?a=1#f?token=***"},
    /* The parameters begin after the password, as in the messages, not
     * at a '?' of the user name. */
    {"redis://u?a=1:pw@h/s?token=1", "redis://u?a=1:**@h/s?token=*"},
    /* A user name alone: `ps` hides it (the messages show it). */
    {"https://u@h/x", "https://*@h/x"},
    /* Nothing to hide: an '@' of the path or the query, a file name. */
    {"https://example.org/a@b", "https://example.org/a@b"},
    {"https://h/x?a=b@c", "https://h/x?a=b@c"},
    {"sqlite:///tmp/we:ird@name.db", "sqlite:///tmp/we:ird@name.db"},
    /* A URL with its "//" mistyped is a path to mida, masked all the
     * same. */
    {"redis:/:pw@h/s", "redis:/:**@h/s"},
    {"redis:h/s?password=x#token=y", "redis:h/s?password=*#token=*"},
    /* Two URLs in one argument: the first one's userinfo runs to the last
     * '@' before a query, so more is hidden, never less. */
    {"a=redis://:p1@h/s,b=nats://t2@h/s", "a=redis://:******************@h/s"},
    /* A libpq conninfo: the values of its secret key=value words, alone,
     * after a URL or as an option's value, quoted or with a space around
     * '='. Shown whole until 2027-01. */
    {"host=h dbname=d password=pwC", "host=h dbname=d password=***"},
    {"postgresql://u@h/db password=pwA", "postgresql://*@h/db password=***"},
    {"--store=password=pwB host=h", "--store=password=*** host=h"},
    {"host=h password='a b\\' c' sslpassword = k",
     "host=h password=********* sslpassword = *"},
    /* The words are read before the URL's masks change the text: the
     * userinfo, which runs to the last '@', and a word's value overlap. */
    {"redis://:pw@h/s password=a@b", "redis://:*******************"},
};

#define N_CASES (sizeof cases / sizeof cases[0])

static char *masked[N_CASES + 1]; /* argv[1..]: the arguments once masked */

static int mask_all(void **state) {
  (void)state;
  static char memory[N_CASES + 1][128];
  static char *argv[N_CASES + 2];
  argv[0] = "mida";
  for (size_t i = 0; i < N_CASES; i++) {
    snprintf(memory[i], sizeof memory[i], "%s", cases[i].arg);
    argv[i + 1] = memory[i];
  }
  char **copy = mida__cli_mask_argv((int)N_CASES + 1, argv);
  for (size_t i = 0; i < N_CASES; i++) {
    masked[i] = argv[i + 1];
    /* The copy main() works on keeps each argument whole. */
    if (copy == argv || strcmp(copy[i + 1], cases[i].arg) != 0)
      return -1;
  }
  return 0;
}

static void test_each_argument_is_masked_as_ps_must_show_it(void **state) {
  (void)state;
  for (size_t i = 0; i < N_CASES; i++) {
    if (strcmp(masked[i], cases[i].shown) != 0)
      print_error("%s: shown as %s, want %s\n", cases[i].arg, masked[i],
                  cases[i].shown);
    assert_string_equal(masked[i], cases[i].shown);
  }
}

static void test_ps_hides_at_least_what_the_messages_hide(void **state) {
  (void)state;
  for (size_t i = 0; i < N_CASES; i++) {
    const char *url = strstr(cases[i].arg, "://");
    if (url == NULL)
      url = cases[i].arg; /* a mistyped URL (core/url.h) or none */
    while (url > cases[i].arg && url[-1] != '=')
      url--; /* the URL's scheme, after an option's '=' */
    size_t base = (size_t)(url - cases[i].arg);
    size_t off, len;
    if (mida__url_secret_span(url, &off, &len))
      for (size_t k = base + off; k < base + off + len; k++)
        assert_int_equal(masked[i][k], '*');
    /* The values of secret parameters, in the query and the fragment. */
    const char *params = mida__url_params(url);
    size_t from = 0;
    while (params != NULL &&
           mida__url_next_secret_value(params, &from, &off, &len)) {
      size_t at = base + (size_t)(params - url) + off;
      for (size_t k = at; k < at + len; k++)
        assert_int_equal(masked[i][k], '*');
    }
    /* The values of secret key=value words (core/conninfo.h), in the
     * argument and in an option's value. */
    const char *eq = cases[i].arg[0] == '-' ? strchr(cases[i].arg, '=') : NULL;
    const char *texts[2] = {cases[i].arg, eq != NULL ? eq + 1 : NULL};
    for (size_t t = 0; t < 2 && texts[t] != NULL; t++) {
      base = (size_t)(texts[t] - cases[i].arg);
      from = 0;
      while (mida__conninfo_next_secret(texts[t], &from, &off, &len))
        for (size_t k = base + off; k < base + off + len; k++)
          assert_int_equal(masked[i][k], '*');
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_each_argument_is_masked_as_ps_must_show_it),
      cmocka_unit_test(test_ps_hides_at_least_what_the_messages_hide),
  };
  return cmocka_run_group_tests(tests, mask_all, NULL);
}

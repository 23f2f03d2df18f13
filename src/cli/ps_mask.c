/*
 * ps_mask.c -- hides the passwords of the mida command's own arguments
 * from other users' `ps` (cli.h, mida__cli_mask_argv).
 *
 * /proc/PID/cmdline, which `ps` shows to every user, is read from the
 * process's own argument memory. A URL given on the command line
 * (`--store postgresql://u:pw@db/x`, `mida ingest --from redis://:pw@...`)
 * would stay readable there for the whole run; so main() works on a copy
 * of argv and overwrites, in the original memory, the password of every
 * URL's userinfo and the values of its secret-looking parameters, in its
 * query and its fragment (core/redact.h), and those of secret key=value
 * words (a libpq conninfo: core/conninfo.h), with '*'. It narrows the
 * window to the first moments of the process; the environment
 * (MIDA_STORE) or ~/.pgpass leave none.
 *
 * Where a userinfo ends and which parameters are secret are the
 * messages' rules (mida__url_userinfo_end, mida__url_params_start,
 * mida__url_next_secret_value: core/url.h; mida__conninfo_next_secret),
 * not copies of them, so that `ps` hides at least what the messages hide
 * (ps_mask_test.c); `ps` hides a user name alone too.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/conninfo.h"
#include "core/url.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Overwrites with '*' the secret parts of the URL whose authority starts
 * at p (just after its "://"); token: its scheme is nats or tls, whose
 * userinfo of one part is a token. */
static void mask_url(char *p, int token) {
  /* Where the userinfo ends, where the parameters begin and which are
   * secret (in the query and the fragment alike): the rules of the
   * messages (core/url.h), read before any mask changes the text. */
  char *params = p + mida__url_params_start(p, token);
  size_t at, colon;
  if (mida__url_userinfo_end(p, &at, &colon)) {
    if (colon != SIZE_MAX) {
      memset(p + colon + 1, '*', at - colon - 1); /* the password */
    } else if (token || at <= strcspn(p, "/?#")) {
      /* A userinfo of one part, all of it: a NATS token, as in the
       * messages; elsewhere a user name, which `ps` needs no more (the
       * messages show it). Past a '/' only a token is taken for one: in
       * https://host/a@b the '@' is the path's, as in the messages. */
      memset(p, '*', at);
    }
  }
  size_t from = 0, off, len;
  while (mida__url_next_secret_value(params, &from, &off, &len))
    memset(params + off, '*', len);
}

/* Where the scheme of the URL whose "://" is at sep, in arg, starts: the
 * letters, digits, '+', '-' and '.' before it. */
static const char *scheme_start(const char *arg, const char *sep) {
  const char *start = sep;
  while (start > arg && (isalnum((unsigned char)start[-1]) ||
                         strchr("+-.", start[-1]) != NULL))
    start--;
  return start;
}

/* Whether the n bytes of scheme are one of names. */
static int scheme_among(const char *scheme, size_t n, const char *a,
                        const char *b) {
  return mida__url_scheme_equal(scheme, n, a) ||
         mida__url_scheme_equal(scheme, n, b);
}

/* The copy main() works on, freed at exit. */
static char **masked_copy;

static void free_masked_copy(void) {
  for (size_t i = 0; masked_copy != NULL && masked_copy[i] != NULL; i++)
    mida__free(masked_copy[i]);
  mida__free(masked_copy);
  masked_copy = NULL;
}

/* Where the authority of arg starts when arg is a URL with its "//" or
 * ':' mistyped and a userinfo or parameters ("redis:/:pw@host/s",
 * "redis:h/s?password=x": core/url.h); 0 otherwise. Such a text is a
 * path to mida, but shown as a URL, its secrets masked: the parameters
 * too, which `ps` showed until 2026-12. */
static size_t mistyped_url(const char *arg, size_t *scheme_len) {
  size_t start = mida__url_mistyped(arg, scheme_len);
  return start > 0 && strpbrk(arg + start, "@?#") != NULL ? start : 0;
}

/* The value of arg when it is an option given with its value
 * ("--store=VALUE"), or NULL. */
static const char *option_value(const char *arg) {
  const char *eq = arg[0] == '-' ? strchr(arg, '=') : NULL;
  return eq != NULL ? eq + 1 : NULL;
}

/* Whether text holds a secret key=value word (core/conninfo.h). */
static int has_secret_word(const char *text) {
  size_t from = 0, off, len;
  return text != NULL && mida__conninfo_next_secret(text, &from, &off, &len);
}

/* Overwrites with '*', in masked, the values of the secret key=value
 * words of original, the same text before any mask: as in the messages,
 * the words are read where a URL's masks cannot change them. */
static void mask_words(char *masked, const char *original) {
  size_t from = 0, off, len;
  while (mida__conninfo_next_secret(original, &from, &off, &len))
    memset(masked + off, '*', len);
}

char **mida__cli_mask_argv(int argc, char **argv) {
  int any = 0;
  for (int i = 1; i < argc && !any; i++) {
    size_t n;
    any = strstr(argv[i], "://") != NULL || mistyped_url(argv[i], &n) > 0 ||
          has_secret_word(argv[i]) || has_secret_word(option_value(argv[i]));
  }
  if (!any)
    return argv;
  char **copy = mida__calloc((size_t)argc + 1, sizeof *copy);
  if (copy == NULL)
    return argv; /* nothing hidden, nothing broken */
  for (int i = 0; i < argc; i++) {
    copy[i] = mida__strdup(argv[i]);
    if (copy[i] == NULL) {
      for (int k = 0; k < i; k++)
        mida__free(copy[k]);
      mida__free(copy);
      return argv;
    }
  }
  masked_copy = copy;
  if (atexit(free_masked_copy) != 0)
    return argv; /* the copy stays reachable; nothing hidden */
  for (int i = 1; i < argc; i++) {
    size_t scheme_len = 0;
    size_t mistyped = mistyped_url(argv[i], &scheme_len);
    if (mistyped > 0)
      mask_url(argv[i] + mistyped,
               scheme_among(argv[i], scheme_len, "nats", "tls"));
    for (char *s = strstr(argv[i], "://"); s != NULL;
         s = strstr(s + 3, "://")) {
      /* A path (sqlite://, file://) has no userinfo and nothing to hide,
       * as in mida__url_redact: an '@' in a file name is no password's
       * end. */
      const char *scheme = scheme_start(argv[i], s);
      size_t n = (size_t)(s - scheme);
      if (!scheme_among(scheme, n, "sqlite", "file"))
        mask_url(s + 3, scheme_among(scheme, n, "nats", "tls"));
    }
    /* A libpq conninfo (--store 'host=h password=pw'), alone, after a
     * URL or as an option's value (--store='password=pw'). */
    mask_words(argv[i], copy[i]);
    const char *value = option_value(copy[i]);
    if (value != NULL)
      mask_words(argv[i] + (value - copy[i]), value);
  }
  return copy;
}

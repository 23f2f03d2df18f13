/*
 * ps_mask.c -- hides the passwords of the mida command's own arguments
 * from other users' `ps` (cli.h, mida__cli_mask_argv).
 *
 * /proc/PID/cmdline, which `ps` shows to every user, is read from the
 * process's own argument memory. A URL given on the command line
 * (`--store postgresql://u:pw@db/x`, `mida ingest --from redis://:pw@...`)
 * would stay readable there for the whole run; so main() works on a copy
 * of argv and overwrites, in the original memory, the password of every
 * URL's userinfo and the values of its secret-looking query parameters
 * (core/redact.h) with '*'. It narrows the window to the first moments of
 * the process; the environment (MIDA_STORE) or ~/.pgpass leave none.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/redact.h"
#include "core/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Overwrites with '*' the secret parts of the URL that starts at p (just
 * after its "://"). */
static void mask_url(char *p) {
  /* The userinfo ends at the last '@' before the query, as in the
   * messages (mida__url_redact), not at the first '/': a password that
   * holds a '/' (postgresql://u:pa/ss@h/db) was left whole in `ps`. */
  size_t before_query = strcspn(p, "?#");
  char *at = NULL;
  for (size_t i = 0; i < before_query; i++)
    if (p[i] == '@')
      at = p + i;
  /* Failing one, when a '?' or '#' comes before the first '/', it is the
   * password's (redis://:ab#cd@h/s), and the userinfo ends at the last
   * '@' of all, as in the messages (mida__url_secret_span). */
  if (at == NULL && p[before_query] != '\0' &&
      strcspn(p, "/") > before_query)
    at = strrchr(p + before_query, '@');
  if (at != NULL) {
    /* The password; or, a userinfo of one part, all of it (a NATS token:
     * token@; elsewhere a user name, which `ps` needs no more). */
    char *colon = memchr(p, ':', (size_t)(at - p));
    /* Past a '/', only a password is taken for one: in
     * https://host/a@b the '@' is the path's, as in the messages. */
    int past_slash = (size_t)(at - p) > strcspn(p, "/?#");
    if (colon != NULL || !past_slash)
      for (char *c = colon != NULL ? colon + 1 : p; c < at; c++)
        *c = '*';
  }
  char *q = strchr(p, '?');
  if (q == NULL)
    return;
  for (char *k = q + 1; *k != '\0' && *k != '#';) {
    size_t n = strcspn(k, "&#");
    char *eq = memchr(k, '=', n);
    if (eq != NULL && mida__secret_name(k, (size_t)(eq - k)))
      memset(eq + 1, '*', n - (size_t)(eq + 1 - k));
    k += n;
    if (*k == '&')
      k++;
  }
}

/* Whether the URL whose "://" is at sep, in arg, names a path (sqlite://,
 * file://): it has no userinfo and nothing to hide, as in
 * mida__url_redact, and an '@' in a file name is no password's end. */
static int names_a_path(const char *arg, const char *sep) {
  const char *start = sep;
  while (start > arg && (isalnum((unsigned char)start[-1]) ||
                         strchr("+-.", start[-1]) != NULL))
    start--;
  size_t n = (size_t)(sep - start);
  return mida__url_scheme_equal(start, n, "sqlite") ||
         mida__url_scheme_equal(start, n, "file");
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
 * ':' mistyped and a userinfo ("redis:/:pw@host/s": core/url.h); 0
 * otherwise. Such a text is a path to mida, but shown as a URL. */
static size_t mistyped_url(const char *arg) {
  size_t scheme_len = 0;
  size_t start = mida__url_mistyped(arg, &scheme_len);
  return start > 0 && strchr(arg + start, '@') != NULL ? start : 0;
}

char **mida__cli_mask_argv(int argc, char **argv) {
  int any = 0;
  for (int i = 1; i < argc && !any; i++)
    any = strstr(argv[i], "://") != NULL || mistyped_url(argv[i]) > 0;
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
    size_t mistyped = mistyped_url(argv[i]);
    if (mistyped > 0)
      mask_url(argv[i] + mistyped);
    for (char *s = strstr(argv[i], "://"); s != NULL;
         s = strstr(s + 3, "://"))
      if (!names_a_path(argv[i], s))
        mask_url(s + 3);
  }
  return copy;
}

/*
 * argv.c -- a command line as JSON, bounded and with secrets hidden (see
 * argv.h).
 */
#include "core/argv.h"

#include "core/conninfo.h"
#include "core/credentials.h"
#include "core/json.h"
#include "core/redact.h"
#include "core/shell_secret.h"
#include "core/url.h"
#include "core/url_text.h"
#include "mida.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Where the URL in arg begins: at the scheme before its first "://"
 * ("postgresql://..." of "--db=postgresql://..."), or NULL when arg holds
 * none. */
static const char *url_in(const char *arg) {
  const char *sep = strstr(arg, "://");
  if (sep == NULL)
    return NULL;
  const char *start = sep;
  while (start > arg && (isalnum((unsigned char)start[-1]) ||
                         start[-1] == '+' || start[-1] == '-' ||
                         start[-1] == '.'))
    start--;
  return start;
}

/* The name an option or assignment gives its value: "--db-password" of
 * "--db-password=x" or of "--db-password" itself, "TOKEN" of "TOKEN=x".
 * An '=' inside a URL's query is not one ("https://h/x?token=..."): the
 * whole argument is then the URL. Sets *len, and *has_value when the value
 * follows an '='. */
static const char *arg_name(const char *arg, size_t *len, int *has_value) {
  const char *eq = strchr(arg, '=');
  const char *url = url_in(arg);
  if (eq != NULL && url != NULL && url < eq)
    eq = NULL;
  *has_value = eq != NULL;
  *len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
  return arg;
}

/* Whether arg is an option ("-x", "--name") whose value is the next
 * argument and whose name looks like a secret's. A header attached to
 * curl's -H ("-HAuthorization: Bearer x") is none: it has white space. */
static int secret_option(const char *arg) {
  if (arg[0] != '-' || arg[1] == '\0' || strpbrk(arg, "= \t\n") != NULL)
    return 0;
  return mida__secret_option(arg, strlen(arg));
}

static int add_cut(mida__buf *b, const char *s, size_t len) {
  if (len <= MIDA_ARGV_MAX_ARG)
    return mida__json_add_string(b, s, len);
  char cut[MIDA_ARGV_MAX_ARG + 4];
  memcpy(cut, s, MIDA_ARGV_MAX_ARG);
  memcpy(cut + MIDA_ARGV_MAX_ARG, "...", 3);
  return mida__json_add_string(b, cut, MIDA_ARGV_MAX_ARG + 3);
}

/* The finders of secret values inside one argument's text. */
typedef int (*secret_finder)(const char *text, size_t *from, size_t *off,
                             size_t *len);

/* Copies text into out (cap > 0) with the value of each secret that find
 * finds written "***"; cut at cap - 1 bytes. Returns the length written. */
static size_t mask_found(const char *text, secret_finder find, char *out,
                         size_t cap) {
  size_t o = 0, from = 0, off, len, copied = 0;
  while (find(text, &from, &off, &len)) {
    mida__url_put(out, cap, &o, text + copied, off - copied, 0);
    mida__url_put(out, cap, &o, MIDA_REDACTED, strlen(MIDA_REDACTED), 1);
    copied = off + len;
  }
  mida__url_put(out, cap, &o, text + copied, strlen(text + copied), 0);
  out[o] = '\0';
  return o;
}

/* Copies text into out (cap > 0) with the value of each secret option or
 * header of a shell command (core/shell_secret.h) and of each secret
 * key=value word (core/conninfo.h) written "***"; cut at cap - 1 bytes.
 * Returns the length written. The shell's come first: a key=value
 * word's value runs to white space, so it could take the name of a JSON
 * member after it ("'token=x{"password": "y"}'") and leave its value. */
static size_t mask_words(const char *text, char *out, size_t cap) {
  char words[MIDA_ARGV_MAX_ARG + 2];
  mask_found(text, mida__shell_next_secret, words, sizeof words);
  return mask_found(words, mida__conninfo_next_secret, out, cap);
}

/* An argument that holds URLs or secret key=value words: each URL as
 * messages show it (its password and secret query values "***"), the
 * text around them as it is ("--db=", "DATABASE_URL=", the rest of a
 * shell command after a URL) but for the values of secret words ("psql
 * 'host=h password=***'"), then cut as every argument is. A URL ends
 * where core/url_text.h says (a space, a quote, ...), so that its mask
 * changes no word: the words are read once the URLs are masked. No
 * allocation: the preload library records argv in a vfork child's exec. */
static int add_with_urls(mida__buf *b, const char *arg) {
  /* One byte past what is kept, so that add_cut sees a longer one. */
  char shown[MIDA_ARGV_MAX_ARG + 2];
  size_t o = 0, from = 0, len = strlen(arg), start, end;
  while (o <= MIDA_ARGV_MAX_ARG &&
         mida__url_text_next(arg, len, from, &start, &end)) {
    mida__url_put(shown, sizeof shown, &o, arg + from, start - from, 0);
    char url[2 * MIDA_ARGV_MAX_ARG + 1];
    char masked[2 * MIDA_ARGV_MAX_ARG + 16];
    size_t n = end - start;
    if (n < sizeof url) {
      memcpy(url, arg + start, n);
      url[n] = '\0';
      mida__url_redact(url, masked, sizeof masked);
    } else { /* past what is ever shown: its scheme and a mask */
      size_t scheme = (size_t)((const char *)memchr(arg + start, ':', n) -
                               (arg + start));
      snprintf(masked, sizeof masked, "%.*s://" MIDA_REDACTED, (int)scheme,
               arg + start);
    }
    mida__url_put(shown, sizeof shown, &o, masked, strlen(masked), 0);
    from = end;
  }
  mida__url_put(shown, sizeof shown, &o, arg + from, len - from, 0);
  shown[o] = '\0';
  char masked[sizeof shown];
  o = mask_words(shown, masked, sizeof masked);
  return add_cut(b, masked, o);
}

/* Whether arg holds a secret key=value word (core/conninfo.h) or a
 * secret option or header of a shell command (core/shell_secret.h). */
static int has_secret_word(const char *arg) {
  size_t from = 0, off, len;
  if (!mida__has_secret_stem(arg, strlen(arg)) && strstr(arg, "-pw") == NULL)
    /* no name in it is a secret's (nor the option -pw, which has no
     * stem): most arguments; but a shell command may run curl -u
     * USER:PASSWORD */
    return strchr(arg, ' ') != NULL &&
           mida__shell_next_secret(arg, &from, &off, &len);
  if (mida__conninfo_next_secret(arg, &from, &off, &len))
    return 1;
  from = 0;
  return mida__shell_next_secret(arg, &from, &off, &len);
}

/* Where the value of a header in arg starts, when its name looks like a
 * secret's; 0 when arg holds none. A header is "NAME: VALUE" (the space
 * optional) as the whole argument or after an option's '=': what curl -H,
 * wget --header= and httpie take ("Authorization: Bearer x",
 * "X-Api-Key:x") and openssl's -passin ("pass:x"). Its value runs to the
 * end of the argument, so that "Basic dXNlcjpwdw==" goes whole, not only
 * up to its last '=' as a NAME=VALUE. "NAME://" is a URL's scheme. */
static size_t secret_header_value(const char *arg) {
  const char *eq = strchr(arg, '=');
  const char *name = arg[0] == '-' && eq != NULL ? eq + 1 : arg;
  if (strchr(name, ':') == NULL)
    return 0; /* most arguments: no header */
  size_t n = mida__secret_header_name(name);
  if (n == 0)
    return 0;
  return (size_t)(name - arg) + n + 1 + strspn(name + n + 1, " \t");
}

/* How many bytes of arg are kept before "***" when a secret of kind
 * (core/credentials.h) starts at arg + value: the user name of
 * "USER:PASSWORD" is kept ("alice:***"), a password not at all, nor a
 * user name with an empty password, which is an API key ("curl -u
 * sk_live_KEY:"); (size_t)-1 when the value holds no secret. */
static size_t kept_of_value(enum mida__secret_value kind, const char *arg,
                            size_t value) {
  size_t n = strlen(arg + value);
  size_t secret = mida__credentials_secret(kind, arg + value, n);
  return secret < n ? value + secret : (size_t)-1;
}

/* arg with its first keep bytes as they are and "***" after them. */
static int add_masked_after(mida__buf *b, const char *arg, size_t keep) {
  char shown[MIDA_ARGV_MAX_ARG + sizeof MIDA_REDACTED];
  if (keep > MIDA_ARGV_MAX_ARG)
    keep = MIDA_ARGV_MAX_ARG;
  memcpy(shown, arg, keep);
  memcpy(shown + keep, MIDA_REDACTED, strlen(MIDA_REDACTED));
  return mida__json_add_string(b, shown, keep + strlen(MIDA_REDACTED));
}

/* An argument that is a JSON object or array, or an option's "--name="
 * and one (a name that is not a secret's, which hides the whole value),
 * with members named like secrets (`--config '{"password": "x"}'`): those
 * members' values "***" (core/redact.h), then the URLs and secret words
 * of the rest hidden as add_with_urls hides them in any argument; 1 if it
 * was one and was added, 0 if not. */
static int add_json_redacted(mida__buf *b, const char *arg, int *rc) {
  const char *eq = arg[0] == '-' ? strchr(arg, '=') : NULL;
  const char *json = eq != NULL ? eq + 1 : arg;
  const char *p = json + strspn(json, " \t\n");
  if ((*p != '{' && *p != '[') ||
      (eq != NULL && mida__secret_option(arg, (size_t)(eq - arg))))
    return 0;
  size_t len = strlen(json);
  if (!mida__has_secret_stem(json, len) ||
      mida__json_secret_count(json, len) <= 0)
    return 0;
  /* On the stack, not the heap: argv is recorded in a vfork child too,
   * where malloc could meet a lock that another thread of the parent
   * holds. A longer value (its record is cut at MIDA_ARGV_MAX_ARG bytes
   * anyway) is hidden whole. */
  char mem[4 * MIDA_ARGV_MAX_ARG];
  mida__buf red;
  mida__buf_init_fixed(&red, mem, sizeof mem);
  int made = mida__buf_add(&red, arg, (size_t)(json - arg));
  if (made == MIDA_OK)
    made = mida__json_redact(json, len, &red);
  if (made == MIDA_OK) {
    *rc = add_with_urls(b, mida__buf_str(&red));
  } else {
    size_t keep = (size_t)(json - arg);
    *rc = add_masked_after(b, arg, keep);
  }
  return 1;
}

/* One argument, redacted; a program's option value of kind starts in it
 * at value (0 when it is the value of the option before). */
static int add_arg(mida__buf *b, const char *arg, int after_secret_option,
                   enum mida__secret_value kind, size_t value) {
  if (after_secret_option)
    return mida__json_add_string(b, MIDA_REDACTED, strlen(MIDA_REDACTED));
  size_t kept = kept_of_value(kind, arg, value);
  if (kept != (size_t)-1)
    return add_masked_after(b, arg, kept);
  int rc;
  if (add_json_redacted(b, arg, &rc))
    return rc;
  size_t header = secret_header_value(arg);
  if (header > 0 && header <= MIDA_ARGV_MAX_ARG)
    return add_masked_after(b, arg, header);
  size_t nlen;
  int has_value;
  const char *name = arg_name(arg, &nlen, &has_value);
  /* "NAME=VALUE" is one name's: in "curl -u a:b --token=x" (a shell
   * command) the words before "--token" are read as any argument's. */
  if (has_value && nlen > 0 && strcspn(name, " \t\n") >= nlen &&
      mida__secret_option(name, nlen)) {
    char shown[MIDA_ARGV_MAX_ARG + 8];
    size_t keep = nlen < MIDA_ARGV_MAX_ARG ? nlen : MIDA_ARGV_MAX_ARG;
    memcpy(shown, arg, keep);
    shown[keep] = '=';
    memcpy(shown + keep + 1, MIDA_REDACTED, strlen(MIDA_REDACTED));
    return mida__json_add_string(b, shown,
                                 keep + 1 + strlen(MIDA_REDACTED));
  }
  if (url_in(arg) != NULL || has_secret_word(arg))
    return add_with_urls(b, arg);
  return add_cut(b, arg, strlen(arg));
}

int mida__argv_json(mida__buf *b, int argc, char *const *argv) {
  int rc = mida__buf_adds(b, "[");
  int n = argc < MIDA_ARGV_MAX_ARGS ? argc : MIDA_ARGV_MAX_ARGS;
  /* A program's own secret options and words (curl's -u, mysql's -p,
   * htpasswd's password) are read after an argument that names it
   * (core/credentials.h): argv[0], or a later one, as in `sudo curl -u
   * ...`. Other programs' values there are no secret (`docker run -u
   * 1000:1000`). */
  struct mida__credentials named = {0};
  for (int i = 0; i < n && rc == MIDA_OK; i++) {
    if (i > 0)
      rc = mida__buf_adds(b, ",");
    size_t value;
    enum mida__secret_value secret =
        mida__credentials_word(&named, argv[i], strlen(argv[i]), &value);
    if (rc == MIDA_OK)
      rc = add_arg(b, argv[i], i > 0 && secret_option(argv[i - 1]), secret,
                   value);
  }
  if (rc == MIDA_OK && argc > n)
    rc = mida__buf_adds(b, ",\"...\"");
  if (rc == MIDA_OK)
    rc = mida__buf_adds(b, "]");
  return rc;
}

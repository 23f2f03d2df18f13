/*
 * cli_common.c -- option parsing, store opening and small result sets for
 * the verbs of the `mida` command (cli.h).
 *
 * Options are parsed by hand rather than with getopt_long so that every verb
 * understands --help and --store the same way, reports unknown options in
 * the same words, and keeps positional arguments that begin with a dash
 * after "--".
 */
#include "cli/cli.h"

#include "capture/ship_lock.h"
#include "core/alloc.h"
#include "core/conninfo.h"
#include "core/url.h"
#include "mida.h"
#include "mida_config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mida__cli_usage_error(const char *verb, const char *fmt, ...) {
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  va_list ap;
  va_start(ap, fmt);
  int rc = mida__buf_vprintf(&b, fmt, ap);
  va_end(ap);
  fprintf(stderr, "mida %s: ", verb);
  /* It may echo an argument: escaped (core/term.h). */
  (void)mida__cli_put_text(stderr, rc == MIDA_OK ? mida__buf_str(&b) : fmt);
  fprintf(stderr, "\nTry 'mida %s --help'.\n", verb);
  mida__buf_free(&b);
  return MIDA_CLI_USAGE;
}

int mida__cli_fail(const char *fmt, ...) {
  /* A message may echo a name from the store or the command line: its
   * control characters are escaped (core/term.h), so that it stays one
   * line and cannot drive the terminal. */
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  va_list ap;
  va_start(ap, fmt);
  int rc = mida__buf_vprintf(&b, fmt, ap);
  va_end(ap);
  fputs("mida: ", stderr);
  if (rc == MIDA_OK)
    (void)mida__cli_put_text(stderr, mida__buf_str(&b));
  else
    fputs(fmt, stderr);
  fputc('\n', stderr);
  mida__buf_free(&b);
  return MIDA_CLI_FAIL;
}

void mida__cli_note(const char *fmt, ...) {
  mida__buf b;
  mida__buf_init(&b, 1 << 20);
  va_list ap;
  va_start(ap, fmt);
  int rc = mida__buf_vprintf(&b, fmt, ap);
  va_end(ap);
  if (rc == MIDA_OK) {
    size_t n = b.len;
    if (n > 0 && b.ptr[n - 1] == '\n')
      b.ptr[--b.len] = '\0'; /* the line's own end */
    (void)mida__cli_put_text(stderr, mida__buf_str(&b));
    fputc('\n', stderr);
  }
  mida__buf_free(&b);
}

int mida__cli_parse_count(const char *text, long long *out) {
  if (text == NULL || text[0] < '0' || text[0] > '9')
    return -1;
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || end == NULL || *end != '\0' || v > 1000000000000LL)
    return -1;
  *out = v;
  return 0;
}

/* The option of opts named by arg (up to its '=' if any), or NULL. */
static const mida__cli_opt *find_opt(const mida__cli_opt *opts, const char *arg,
                                     size_t len) {
  for (const mida__cli_opt *o = opts; o != NULL && o->name != NULL; o++) {
    if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
      return o;
    if (o->alias != NULL && strlen(o->alias) == len &&
        strncmp(o->alias, arg, len) == 0)
      return o;
  }
  return NULL;
}

/* Whether arg, which starts with a dash, is written as an option: its name
 * (up to an '=', if any) is dashes, letters and digits, as every option's
 * is. Another word is an operand: SQL for `mida query` that begins with a
 * comment ("-- c", "--top runs\nSELECT ..."), which getopt would also
 * take for an option. */
static int is_option_word(const char *arg) {
  static const char name_chars[] = "-abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  size_t len = strcspn(arg, "=");
  return len > 1 && strspn(arg, name_chars) >= len;
}

int mida__cli_parse(mida__cli *cli, const char *verb, const char *help,
                    const mida__cli_opt *opts, int argc, char **argv,
                    const char **pos, int minpos, int maxpos, int *npos) {
  int n = 0;
  int options_done = 0;
  uint64_t given = 0; /* the options with a value seen, by place in opts */
  int store_given = 0; /* the verb's own --store seen */
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (options_done || arg[0] != '-' || !is_option_word(arg)) {
      if (n >= maxpos)
        return mida__cli_usage_error(verb, "unexpected argument '%s'", arg);
      pos[n++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      options_done = 1;
      continue;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(help, stdout);
      return MIDA_CLI_OK;
    }
    const char *eq = strchr(arg, '=');
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    const char *store = NULL;
    const mida__cli_opt store_opt[2] = {{"--store", NULL, &store, NULL},
                                        {NULL, NULL, NULL, NULL}};
    const mida__cli_opt *o = find_opt(opts, arg, len);
    if (o == NULL)
      o = find_opt(store_opt, arg, len);
    if (o == NULL)
      return mida__cli_usage_error(verb, "unknown option '%.*s'", (int)len,
                                   arg);
    if (o->flag != NULL && o->value == NULL) {
      if (eq != NULL)
        return mida__cli_usage_error(verb, "option '%s' takes no value",
                                     o->name);
      *o->flag = 1;
      continue;
    }
    const char *value = NULL;
    if (eq != NULL) {
      value = eq + 1;
    } else if (i + 1 < argc && strcmp(argv[i + 1], "--") != 0) {
      /* "--" is the end of the options, never a value: `mida run
       * --campaign -- cmd` named its campaign "--" (give "--name=--" for
       * that). */
      value = argv[++i];
    } else {
      return mida__cli_usage_error(verb, "option '%s' needs a value", o->name);
    }
    if (o->flag != NULL) { /* repeatable: each value is kept */
      if (*o->flag >= MIDA_CLI_REPEAT_MAX)
        return mida__cli_usage_error(verb, "option '%s' given more than %d "
                                     "times",
                                     o->name, MIDA_CLI_REPEAT_MAX);
      o->value[(*o->flag)++] = value;
      continue;
    }
    /* A second value would replace the first without a word: a filter
     * (--status, --activity) dropped, a result that answers another
     * question. */
    if (o == store_opt) {
      if (store_given++)
        return mida__cli_usage_error(
            verb, "option '%s' given twice: it takes one value", o->name);
    } else {
      size_t at = (size_t)(o - opts);
      uint64_t bit = at < 64 ? (uint64_t)1 << at : 0;
      if ((given & bit) != 0)
        return mida__cli_usage_error(
            verb, "option '%s' given twice: it takes one value", o->name);
      given |= bit;
    }
    *o->value = value;
    if (o == store_opt)
      cli->store = store;
  }
  if (n < minpos) {
    /* "missing argument" alone left the user to guess which (`mida diff
     * A` lacks B, `mida export` its format): the usage lines of the help,
     * up to its first blank line, name them. */
    const char *blank = strstr(help, "\n\n");
    int len = blank != NULL ? (int)(blank - help) : (int)strcspn(help, "\n");
    fprintf(stderr, "mida %s: missing argument\n%.*s\nTry 'mida %s --help'.\n",
            verb, len, help, verb);
    return MIDA_CLI_USAGE;
  }
  *npos = n;
  return MIDA_CLI_CONTINUE;
}

/* Whether the store holds mida's table mida_meta, which every version of
 * its schema has: another program's database may have a table task. */
static int has_mida_schema(mida__sink *sink) {
  mida__cli_rows rows;
  int rc = mida__cli_fetch(sink, "SELECT key FROM mida_meta LIMIT 0", NULL, 0,
                           1, &rows);
  mida__cli_rows_free(&rows);
  return rc == MIDA_OK;
}

int mida__cli_store_error(mida__sink *sink, int rc, const char *what) {
  const char *msg = mida__sink_errmsg(sink);
  if (msg == NULL || msg[0] == '\0')
    msg = mida_strerror(rc);
  /* A file that is empty (0 bytes) or some other database made "no such
   * table: task" (or, with a table task of its own, "no such column:
   * activity"), which reads like a damaged store. Copied: the check below
   * replaces the sink's message. */
  char first[512];
  snprintf(first, sizeof first, "%s", msg);
  if ((strstr(first, "no such table") != NULL ||
       strstr(first, "no such column") != NULL) &&
      !has_mida_schema(sink))
    return mida__cli_fail("%s: the store is empty or is not a mida store "
                          "(%s): is it the store your workflows write?",
                          what, first);
  return mida__cli_fail("%s: %s", what, first);
}

/* ---- interrupting a query ----------------------------------------------
 *
 * Killing a reading verb while its query runs would leave the query
 * running on a PostgreSQL server, holding its snapshot, until it next
 * writes to the gone client. So the first SIGINT or SIGTERM stops the
 * queries in flight (PQcancel, sqlite3_interrupt: the query guard's
 * cancel), and the verb ends with "the query was cancelled"; without a
 * query in flight, or at a second signal, the signal does what it always
 * does. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
  if (!interrupted && mida__sink_cancel_queries() > 0) {
    interrupted = 1;
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void cancel_queries_on_signals(void) {
  const int sigs[] = {SIGINT, SIGTERM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction old;
    /* A signal that the parent has us ignore (a background job's SIGINT)
     * stays ignored. */
    if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
      continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(sigs[i], &sa, NULL);
  }
}

int mida__cli_absolute(const char *path, char *buf, size_t cap) {
  if (path[0] == '/') {
    int n = snprintf(buf, cap, "%s", path);
    return n > 0 && (size_t)n < cap ? 0 : -1;
  }
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == NULL)
    return -1;
  int n = snprintf(buf, cap, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
                   path);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

int mida__cli_check_store(const char *store) {
  if (!mida__conninfo_looks_like(store))
    return MIDA_CLI_CONTINUE;
  fputs("mida: " MIDA_CONNINFO_REFUSED "\n", stderr);
  return MIDA_CLI_USAGE;
}

void mida__cli_unbounded_time(mida__sink *sink) {
  const char *set = getenv("MIDA_QUERY_TIMEOUT_MS");
  if (set != NULL && *set != '\0')
    return;
  mida__query_limits lim = sink->limits;
  lim.timeout_ms = 0;
  mida__sink_set_limits(sink, &lim);
}

int mida__cli_open_store(const mida__cli *cli, int writable, mida__sink **out) {
  char path[4096];
  char err[512] = "";
  char shown[MIDA_URL_SHOWN];
  *out = NULL;
  int ex = mida__cli_check_store(cli->store);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  /* A reader waits for the records of a `mida run` that returned while
   * they are still being shipped (capture/ship_lock.h). */
  if (!writable &&
      mida__ship_wait_store(cli->store, err, sizeof err) != MIDA_OK) {
    mida__cli_note("mida: warning: %s\n", err);
    err[0] = '\0';
  }
  /* A store that is a local file is checked before it is opened, so that
   * the message names the path the user can fix, whatever the backend
   * would say about a missing file. */
  int local = mida__url_sqlite_path(cli->store, path, sizeof(path)) == MIDA_OK;
  int create = writable == MIDA_CLI_STORE_WRITE;
  /* A path is shown as a URL would be: it may be a mistyped one
   * ("redis:/:pw@host/s"), whose password is then masked. */
  if (!create && local && access(path, F_OK) != 0)
    return mida__cli_fail("no store at %s (set --store or MIDA_STORE)",
                          mida__url_redact(path, shown, sizeof shown));
  int flags = !writable ? MIDA_SINK_READONLY | MIDA_SINK_NOCREATE
              : create  ? 0
                        : MIDA_SINK_NOCREATE;
  if (!writable)
    cancel_queries_on_signals();
  int rc = mida__sink_open(cli->store, flags, out, err, sizeof(err));
  if (rc == MIDA_OK)
    return MIDA_CLI_CONTINUE;
  *out = NULL;
  /* A server's database that is there says what it holds instead. */
  if (rc == MIDA_ENOTFOUND && (local || err[0] == '\0'))
    return mida__cli_fail(
        "no store at %s (set --store or MIDA_STORE)",
        mida__url_redact(local ? path : cli->store, shown, sizeof shown));
  if (rc == MIDA_ENOTFOUND)
    return mida__cli_fail("%s: is it the store your workflows write? (set "
                          "--store or MIDA_STORE)",
                          err);
  /* A backend's message that says what failed names the store itself
   * ("cannot open store 'x.db': ...", "cannot connect on store ..."). */
  if (strncmp(err, "cannot ", 7) == 0)
    return mida__cli_fail("%s", err);
  return mida__cli_fail("cannot open store %s: %s",
                        mida__url_redact(cli->store, shown, sizeof shown),
                        err[0] != '\0' ? err : mida_strerror(rc));
}

/* ---- a child's environment -------------------------------------------- */

/* Whether e starts with one of prefixes (NULL-terminated, or NULL). */
static int starts_with_any(const char *e, const char *const *prefixes) {
  for (size_t i = 0; prefixes != NULL && prefixes[i] != NULL; i++)
    if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0)
      return 1;
  return 0;
}

/* Whether e is one of the names[i] whose values[i] is set. */
static int replaced(const char *e, const char *const *names,
                    const char *const *values, int n) {
  for (int i = 0; i < n; i++)
    if (values[i] != NULL && strncmp(e, names[i], strlen(names[i])) == 0)
      return 1;
  return 0;
}

char **mida__cli_child_env(char *const *base, const char *const *drop,
                           const char *const *names, const char *const *values,
                           int n) {
  extern char **environ;
  if (base == NULL)
    base = environ;
  size_t nbase = 0;
  while (base[nbase] != NULL)
    nbase++;
  char **env = mida__calloc(nbase + (size_t)n + 1, sizeof *env);
  if (env == NULL)
    return NULL;
  size_t k = 0;
  for (size_t i = 0; i < nbase; i++) {
    if (replaced(base[i], names, values, n) || starts_with_any(base[i], drop))
      continue;
    if ((env[k++] = mida__strdup(base[i])) == NULL) {
      mida__cli_child_env_free(env);
      return NULL;
    }
  }
  for (int i = 0; i < n; i++) {
    if (values[i] == NULL)
      continue;
    size_t len = strlen(names[i]) + strlen(values[i]) + 1;
    if ((env[k] = mida__malloc(len)) == NULL) {
      mida__cli_child_env_free(env);
      return NULL;
    }
    snprintf(env[k++], len, "%s%s", names[i], values[i]);
  }
  return env;
}

void mida__cli_child_env_free(char **env) {
  for (size_t i = 0; env != NULL && env[i] != NULL; i++)
    mida__free(env[i]);
  mida__free(env);
}

int mida__cli_env_set(mida__cli_env *e, const char *name, const char *value) {
  int i = 0;
  while (i < e->n && strcmp(e->name[i], name) != 0)
    i++;
  if (i == MIDA_CLI_ENV_EDITS)
    return MIDA_EINVAL;
  char *copy = mida__strdup(value);
  if (copy == NULL)
    return MIDA_ENOMEM;
  if (i == e->n) {
    e->name[i] = name;
    e->value[i] = NULL;
    e->n++;
  }
  mida__free(e->value[i]);
  e->value[i] = copy;
  return MIDA_OK;
}

const char *mida__cli_env_get(const mida__cli_env *e, const char *name) {
  for (int i = 0; i < e->n; i++)
    if (strcmp(e->name[i], name) == 0)
      return e->value[i];
  char var[128];
  size_t len = strlen(name);
  if (len == 0 || len >= sizeof var)
    return NULL;
  memcpy(var, name, len - 1); /* without its '=' */
  var[len - 1] = '\0';
  return getenv(var);
}

void mida__cli_env_undo(mida__cli_env *e, int mark) {
  while (e->n > mark) {
    e->n--;
    mida__free(e->value[e->n]);
    e->value[e->n] = NULL;
  }
}

char **mida__cli_env_build(const mida__cli_env *e, const char *const *drop) {
  return mida__cli_child_env(NULL, drop, e->name, (const char *const *)e->value,
                             e->n);
}

void mida__cli_env_free(mida__cli_env *e) {
  mida__cli_env_undo(e, 0);
}

/* ThreadSanitizer intercepts fork(), not _Fork(): its runtime would be
 * copied into the child mid-update by another thread, and the child's
 * intercepted calls (sigaction, execve) could wait on it for ever. */
#if defined(__SANITIZE_THREAD__)
#define FORK_WITHOUT_HANDLERS 0
#else
#define FORK_WITHOUT_HANDLERS MIDA_HAVE__FORK
#endif

pid_t mida__cli_fork_to_exec(void) {
#if FORK_WITHOUT_HANDLERS
  return _Fork();
#else
  return fork();
#endif
}

/* ---- small results ----------------------------------------------------- */

int mida__cli_fetch(mida__sink *sink, const char *sql,
                    const char *const *params, int nparams, size_t max_rows,
                    mida__cli_rows *out) {
  return mida__rows_fetch(sink, sql, params, nparams, max_rows, out);
}

const char *mida__cli_cell(const mida__cli_rows *r, size_t row, int col) {
  return mida__rows_cell(r, row, col);
}

static int row_seen(void *ctx, int ncols, const char *const *names,
                    const char *const *values) {
  (void)ncols;
  (void)names;
  (void)values;
  *(int *)ctx = 1;
  return 1; /* one row says it all */
}

int mida__cli_has_row(mida__sink *sink, const char *sql,
                      const char *const *params, int nparams, int *any) {
  *any = 0;
  return mida__sink_query(sink, sql, params, nparams, row_seen, any);
}

void mida__cli_rows_free(mida__cli_rows *r) {
  mida__rows_free(r);
}

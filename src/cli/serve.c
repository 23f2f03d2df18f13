/*
 * serve.c -- `mida serve`: the read-only HTTP API and the web dashboard on
 * the store (src/serve/).
 *
 * This verb checks what it is given before anything listens: the store
 * must open read-only and hold a mida schema (else a clear message and
 * exit status 1, before any port is taken); a token file must be private
 * to its owner and hold a token of at least 16 characters; a listen
 * address that is not loopback needs the token. Then it serves until
 * SIGINT or SIGTERM, and stops cleanly: event streams end, requests in
 * flight finish.
 */
#include "cli/cli.h"

#include "mida.h"
#include "mida_config.h"

#include <stdio.h>
#include <string.h>

#if MIDA_HAVE_MICROHTTPD

#include "core/alloc.h"
#include "core/url.h"
#include "serve/http.h"
#include "serve/answer_cache.h"
#include "serve/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_MIN 16
#define TOKEN_MAX 4096

static const char serve_help[] =
    "usage: mida serve [--listen HOST:PORT] [--token-file FILE]\n"
    "\n"
    "Serves the store read-only over HTTP: a JSON API under /api/\n"
    "(described at /api/openapi.json) and a live web dashboard at /.\n"
    "Nothing it serves can change the store.\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT  where to listen (default: 127.0.0.1:8765; port 0\n"
    "                      picks a free one). Any address but loopback\n"
    "                      needs --token-file\n"
    "  --token-file FILE   every /api/ request must send 'Authorization:\n"
    "                      Bearer TOKEN' with the token in FILE (one line,\n"
    "                      at least 16 characters, readable by its owner\n"
    "                      only); the page asks for it once\n"
    "  --connections N     store connections shared by requests (default 8)\n"
    "  --poll-ms N         how often the live updates look for changes\n"
    "                      (default 200)\n"
    "  --idle-timeout S    close a connection idle for S seconds: kept\n"
    "                      between requests, or an event stream whose\n"
    "                      client reads nothing (default 60)\n"
    "  --max-clients N     connections held at once (default 256; 64 from\n"
    "                      one address); one more is refused and counted\n"
    "  --store URL         the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida serve --store run.db      # then open http://127.0.0.1:8765/\n"
    "  # remote: run it on loopback there, and on your machine:\n"
    "  #   ssh -L 8765:127.0.0.1:8765 host   (docs/serve.md)\n";

/* Reads the token from path into a new string; NULL after a message. */
static char *read_token(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    mida__cli_fail("cannot read the token file %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    mida__cli_fail("the token file %s is not a regular file", path);
    return NULL;
  }
  if ((st.st_mode & 077) != 0) {
    close(fd);
    mida__cli_fail("the token file %s may be read by others: chmod 600 it",
                   path);
    return NULL;
  }
  char *buf = mida__calloc(1, TOKEN_MAX + 1);
  if (buf == NULL) {
    close(fd);
    mida__cli_fail("out of memory");
    return NULL;
  }
  ssize_t n = read(fd, buf, TOKEN_MAX + 1);
  close(fd);
  if (n < 0 || n > TOKEN_MAX) {
    mida__free(buf);
    mida__cli_fail("the token file %s is unreadable or longer than %d bytes",
                   path, TOKEN_MAX);
    return NULL;
  }
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                   buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    buf[--n] = '\0';
  int printable = 1;
  for (ssize_t i = 0; i < n; i++)
    if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f)
      printable = 0;
  if (n < TOKEN_MIN || !printable) {
    memset(buf, 0, TOKEN_MAX);
    mida__free(buf);
    mida__cli_fail("the token in %s must be one line of at least %d "
                   "printable characters without spaces",
                   path, TOKEN_MIN);
    return NULL;
  }
  return buf;
}

/* How the store is named in messages: a SQLite file by its path, another
 * store by its URL without a password. */
static const char *store_name(const mida__cli *cli, char *buf, size_t len) {
  if (mida__url_sqlite_path(cli->store, buf, len) == MIDA_OK)
    return buf;
  return mida__url_redact(cli->store, buf, len);
}

/* Opens the store once, as the handlers will, and checks its schema. */
static int check_store(const mida__cli *cli, int *schema) {
  char name[1024];
  mida__sink *sink = NULL;
  char err[512] = "";
  if (mida__url_sqlite_path(cli->store, name, sizeof name) == MIDA_OK &&
      access(name, F_OK) != 0)
    return mida__cli_fail("no store at %s (set --store or MIDA_STORE)", name);
  /* The sink's own message: it names the file, or the server without its
   * password, and says what is wrong with it. */
  int rc = mida__sink_open(cli->store, MIDA_SINK_READONLY | MIDA_SINK_NOCREATE,
                           &sink, err, sizeof err);
  if (rc != MIDA_OK)
    return mida__cli_fail("cannot serve this store: %s",
                          err[0] ? err : mida_strerror(rc));
  /* The tables say it is a mida store; the change numbers, which the
   * live updates read, came with schema version 2. */
  mida__cli_rows rows;
  *schema = 0;
  if (mida__cli_fetch(sink, "SELECT id, seq FROM task LIMIT 0", NULL, 0, 1,
                      &rows) == MIDA_OK)
    *schema = 2;
  mida__cli_rows_free(&rows);
  if (*schema == 0 && mida__cli_fetch(sink, "SELECT id FROM task LIMIT 0", NULL,
                                      0, 1, &rows) == MIDA_OK)
    *schema = 1;
  mida__cli_rows_free(&rows);
  mida__sink_close(sink);
  if (*schema <= 0)
    return mida__cli_fail("store %s holds no mida schema: is it the store "
                          "your workflows write?",
                          store_name(cli, name, sizeof name));
  return MIDA_CLI_CONTINUE;
}

int mida__cli_serve(mida__cli *cli, int argc, char **argv) {
  const char *listen = "127.0.0.1:8765";
  const char *token_file = NULL, *conns_text = NULL, *poll_text = NULL;
  const char *idle_text = NULL, *clients_text = NULL;
  const mida__cli_opt opts[] = {
      {"--listen", NULL, &listen, NULL},
      {"--token-file", NULL, &token_file, NULL},
      {"--connections", NULL, &conns_text, NULL},
      {"--poll-ms", NULL, &poll_text, NULL},
      {"--idle-timeout", NULL, &idle_text, NULL},
      {"--max-clients", NULL, &clients_text, NULL},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  int ex = mida__cli_parse(cli, "serve", serve_help, opts, argc, argv, NULL, 0,
                           0, &npos);
  if (ex == MIDA_CLI_CONTINUE)
    ex = mida__cli_check_store(cli->store);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  long long conns = 8, poll_ms = 200, idle_s = 60, clients = 256;
  if (conns_text != NULL && (mida__cli_parse_count(conns_text, &conns) != 0 ||
                             conns < 1 || conns > 256))
    return mida__cli_usage_error("serve", "--connections must be 1 to 256");
  if (poll_text != NULL && (mida__cli_parse_count(poll_text, &poll_ms) != 0 ||
                            poll_ms < 10 || poll_ms > 60000))
    return mida__cli_usage_error("serve", "--poll-ms must be 10 to 60000");
  if (idle_text != NULL && (mida__cli_parse_count(idle_text, &idle_s) != 0 ||
                            idle_s < 2 || idle_s > 3600))
    return mida__cli_usage_error("serve",
                                 "--idle-timeout must be 2 to 3600 seconds");
  if (clients_text != NULL &&
      (mida__cli_parse_count(clients_text, &clients) != 0 || clients < 1 ||
       clients > 4096))
    return mida__cli_usage_error("serve", "--max-clients must be 1 to 4096");

  char *token = NULL;
  if (token_file != NULL) {
    token = read_token(token_file);
    if (token == NULL)
      return MIDA_CLI_FAIL;
  }
  int loopback = 0;
  char why[300];
  if (mida__http_check_listen(listen, &loopback, why, sizeof why) != MIDA_OK) {
    mida__free(token);
    return mida__cli_usage_error("serve", "%s", why);
  }
  if (token == NULL && !loopback) {
    return mida__cli_fail(
        "refusing to listen on %s without a token: any machine that "
        "reaches it could read the store. Give --token-file FILE, or keep "
        "127.0.0.1 and use an SSH tunnel (docs/serve.md)",
        listen);
  }
  /* This process only reads: the rows of /api/sql's statements are
   * bounded in memory as their temporary files are (guard.h). */
  (void)mida__sink_bound_reader_memory();
  int schema = 0;
  ex = check_store(cli, &schema);
  if (ex != MIDA_CLI_CONTINUE) {
    mida__free(token);
    return ex;
  }
  char name[1024];
  if (schema < 2)
    fprintf(stderr,
            "mida serve: store %s has no change numbers (schema version "
            "1): the live updates need version 2, which any mida that "
            "writes to it brings\n",
            store_name(cli, name, sizeof name));

  /* Threads started from here on inherit this mask: only this thread
   * takes SIGINT and SIGTERM, in sigwait() below. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
  signal(SIGPIPE, SIG_IGN);

  mida__serve srv;
  memset(&srv, 0, sizeof srv);
  atomic_init(&srv.sql_running, 0);
  srv.store_kind =
      strncmp(cli->store, "postgres", 8) == 0 ? "postgresql" : "sqlite";
  srv.event_poll_ms = (int)poll_ms;
  srv.series = mida__answer_cache_new();
  srv.lists = mida__answer_cache_new();
  char err[512] = "";
  int rc = mida__serve_pool_init(&srv.pool, cli->store, (int)conns);
  if (rc == MIDA_OK)
    rc = mida__serve_events_start(&srv, err, sizeof err);
  mida__http *http = NULL;
  int port = 0;
  mida__http_opts hopts = {listen, token, (int)clients, (int)idle_s};
  if (rc == MIDA_OK)
    rc = mida__http_start(&srv, &hopts, &http, &port, err, sizeof err);
  if (token != NULL) {
    memset(token, 0, strlen(token));
    mida__free(token);
  }
  if (rc != MIDA_OK) {
    mida__serve_events_free(&srv);
    mida__serve_pool_free(&srv.pool);
    mida__answer_cache_free(srv.series);
    mida__answer_cache_free(srv.lists);
    return mida__cli_fail("%s", err[0] ? err : mida_strerror(rc));
  }
  char shown[300];
  snprintf(shown, sizeof shown, "%s", listen);
  char *colon = strrchr(shown, ':');
  if (colon != NULL)
    snprintf(colon + 1, sizeof shown - (size_t)(colon + 1 - shown), "%d", port);
  fprintf(stderr, "mida serve: http://%s/ (read-only%s); Ctrl-C stops\n", shown,
          token_file != NULL ? ", bearer token required" : "");
  fflush(stderr);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  fprintf(stderr, "mida serve: stopping\n");
  mida__http_stop(http);
  /* What the event streams lost is told once more, where the operator
   * reads the server's own words. */
  char drops[1024];
  mida__serve_drops_text(&srv, drops, sizeof drops);
  if (drops[0] != '\0')
    fprintf(stderr, "mida serve: dropped: %s\n", drops);
  mida__serve_events_free(&srv);
  mida__serve_pool_free(&srv.pool);
  mida__answer_cache_free(srv.series);
  mida__answer_cache_free(srv.lists);
  return MIDA_CLI_OK;
}

#else /* !MIDA_HAVE_MICROHTTPD */

int mida__cli_serve(mida__cli *cli, int argc, char **argv) {
  (void)cli;
  (void)argc;
  (void)argv;
  return mida__cli_fail("this mida was built without libmicrohttpd: "
                        "`mida serve` is not available (install "
                        "libmicrohttpd-dev and rebuild)");
}

#endif

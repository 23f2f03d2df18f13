/*
 * observe.c -- `mida observe mlflow|tensorboard`: run an observer of
 * MLflow's tracking store (SQLite, PostgreSQL or an mlruns file store) or
 * of TensorBoard's event files (the observers live in src/observe/; see
 * observer.h), in the foreground or detached.
 *
 * The verb opens a session on the store (so the observer's records go
 * through the journal, crash-safe, like every other source), installs the
 * signal handlers that ask the observer to stop, and prints a one-line
 * summary of what it read. SIGINT or SIGTERM: stop at the next safe point,
 * after the batch being read, however much is left (the session is then
 * flushed and closed, cursors included, and the next start reads on from
 * them); a second one: at once, by the signal's default action (what was
 * read is in the journal, which the next start ships). SIGUSR1, which
 * mida__cli_observe_stop() sends: one last pass reading everything
 * written until then, then stop. MIDA_CAMPAIGN and
 * MIDA_PARENT_TASK tie what it observes to a campaign and a parent task.
 *
 * It also offers mida__cli_observe_spawn()/mida__cli_observe_stop() for
 * `mida run`, which starts an observer beside the program it runs.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/url.h"
#include "observe/observer.h"
#include "mida.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char observe_help[] =
    "usage: mida observe mlflow [--tracking-uri URI] [options]\n"
    "       mida observe tensorboard --logdir DIR [options]\n"
    "\n"
    "Reads what MLflow or TensorBoard writes, while they write it, into the\n"
    "store; the training script does not change.\n"
    "\n"
    "  mlflow       follows an MLflow tracking store (an SQLite or\n"
    "               PostgreSQL database, or a file store: an mlruns\n"
    "               directory), read-only:\n"
    "               experiments, runs, params, tags, every metric point,\n"
    "               dataset inputs and logged models\n"
    "  tensorboard  follows every event file (*tfevents*) under DIR: every\n"
    "               scalar at every step, hparams and text\n"
    "\n"
    "options:\n"
    "  --tracking-uri URI  sqlite:///path/mlflow.db,\n"
    "                      postgresql://user@host/db,\n"
    "                      file:///path/mlruns (a file store), or a path:\n"
    "                      a file store (an mlruns directory) unless it is\n"
    "                      a file or ends in .db, .sqlite or .sqlite3\n"
    "                      (default: $MLFLOW_TRACKING_URI)\n"
    "  --logdir DIR        TensorBoard's log directory\n"
    "  --once              one pass over everything, then exit\n"
    "  --poll-ms N         longest wait between passes (default 500);\n"
    "                      inotify wakes the observer sooner\n"
    "  --daemon            detach and run in the background; prints the pid\n"
    "                      (its summary line then goes to /dev/null)\n"
    "  --end-after S       tensorboard: end a run (FINISHED) whose files have\n"
    "                      not grown for S seconds (default 300; 0: never)\n"
    "  --end-at-stop       end every run when stopped (as mida run does when\n"
    "                      its command exits)\n"
    "  --quiet             no summary line, no notes (warnings stay)\n"
    "  --parent-since NS   $MIDA_PARENT_TASK is the parent of the runs begun\n"
    "                      at or after NS (ns since the epoch) only (mida\n"
    "                      run's observers: their own command's runs)\n"
    "  --store URL         the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "SIGINT (Ctrl-C) or SIGTERM stops it cleanly after the batch it is\n"
    "reading, however much is left: what it read and where it read up to\n"
    "are flushed to the store, and a restarted observer goes on from\n"
    "there. A second one stops it at once (what it read is shipped by the\n"
    "next start). SIGUSR1 stops it after one last pass that reads\n"
    "everything written until then (mida run's stop). Prints a summary\n"
    "line at the end:\n"
    "  observed KIND: passes=N records=N metrics=N tasks=N files=N\n"
    "  bad_records=N bad_bytes=N bad_events=N errors=N items=N skipped=N\n"
    "  ended=N waits=N\n"
    "\n"
    "examples:\n"
    "  mida --store obs.db observe mlflow \\\n"
    "      --tracking-uri sqlite:///mlflow.db &\n"
    "  mida observe mlflow --tracking-uri file:///home/me/mlruns --once\n"
    "  mida observe tensorboard --logdir runs --once\n";

/* What the observer is asked to do: MIDA_OBS_GO_ON, MIDA_OBS_DRAIN or
 * MIDA_OBS_INTERRUPT (observer.h). */
static atomic_int stop_flag;

/* SIGINT, SIGTERM: stop at the next safe point; the second: at once. */
static void on_interrupt(int sig) {
  if (atomic_exchange(&stop_flag, MIDA_OBS_INTERRUPT) == MIDA_OBS_INTERRUPT) {
    /* Delivered when this handler returns: killed by the signal, as the
     * shell that sent it expects. */
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

/* SIGUSR1: one last pass that reads everything, then stop (unless a stop
 * at once was asked already). */
static void on_drain(int sig) {
  (void)sig;
  int go_on = MIDA_OBS_GO_ON;
  atomic_compare_exchange_strong(&stop_flag, &go_on, MIDA_OBS_DRAIN);
}

/* The signals that ask the observer to stop, blocked by
 * mida__cli_observe_spawn until the handlers are set. */
static void stop_signals_set(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGUSR1);
}

/* Messages of notes (INFO) are left out with --quiet. */
static int quiet;

static void log_line(void *ctx, mida__obs_level level, const char *msg) {
  const char *kind = ctx;
  if (quiet && level == MIDA_OBS_INFO)
    return;
  mida__cli_note("mida observe %s: %s%s\n", kind,
          level == MIDA_OBS_WARN    ? "warning: "
          : level == MIDA_OBS_ERROR ? "error: "
                                    : "",
          msg);
  /* Said once, with the observer's note that it stops: someone waiting
   * for a long batch to end has a way out. */
  static int hinted;
  if (!quiet && !hinted && atomic_load(&stop_flag) == MIDA_OBS_INTERRUPT) {
    hinted = 1;
    mida__cli_note("mida observe %s: a second SIGINT or SIGTERM stops it at "
                   "once (what it read is shipped at the next start)\n",
                   kind);
  }
}

static int detach(void) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return mida__cli_fail("cannot fork: %s", strerror(errno));
  if (pid > 0) {
    printf("%ld\n", (long)pid);
    fflush(stdout);
    _exit(MIDA_CLI_OK);
  }
  setsid();
  /* Standard input and output to /dev/null, so that whoever started us
   * (a shell's $(...), a pipe) sees its end now; warnings still go to
   * standard error. */
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd >= 0) {
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    close(fd);
  }
  return MIDA_CLI_CONTINUE;
}

int mida__cli_observe(mida__cli *cli, int argc, char **argv) {
  if (argc >= 2 &&
      (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(observe_help, stdout);
    return MIDA_CLI_OK;
  }
  if (argc < 2 || argv[1][0] == '-')
    return mida__cli_usage_error("observe", "say what to observe: mlflow or "
                                            "tensorboard");
  if (strcmp(argv[1], "mlflow") != 0 && strcmp(argv[1], "tensorboard") != 0)
    return mida__cli_usage_error(
        "observe", "unknown source '%s' (known: mlflow, tensorboard)", argv[1]);
  const char *kind = argv[1];
  int mlflow = strcmp(kind, "mlflow") == 0;
  const char *uri = NULL, *logdir = NULL, *poll = NULL, *end_after = NULL;
  const char *parent_since = NULL;
  int once = 0, daemon = 0, end_at_stop = 0;
  const mida__cli_opt opts[] = {
      {"--tracking-uri", NULL, &uri, NULL},
      {"--logdir", NULL, &logdir, NULL},
      {"--poll-ms", NULL, &poll, NULL},
      {"--once", NULL, NULL, &once},
      {"--daemon", NULL, NULL, &daemon},
      {"--end-after", NULL, &end_after, NULL},
      {"--end-at-stop", NULL, NULL, &end_at_stop},
      {"--quiet", NULL, NULL, &quiet},
      {"--parent-since", NULL, &parent_since, NULL},
      {NULL, NULL, NULL, NULL},
  };
  int npos = 0;
  char verb[32];
  snprintf(verb, sizeof verb, "observe %s", kind);
  int ex = mida__cli_parse(cli, verb, observe_help, opts, argc - 1, argv + 1,
                           NULL, 0, 0, &npos);
  if (ex == MIDA_CLI_CONTINUE)
    ex = mida__cli_check_store(cli->store);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (mlflow && uri == NULL)
    uri = getenv("MLFLOW_TRACKING_URI");
  if (mlflow && (uri == NULL || uri[0] == '\0'))
    return mida__cli_usage_error(verb, "--tracking-uri is required (or set "
                                       "MLFLOW_TRACKING_URI)");
  if (!mlflow && (logdir == NULL || logdir[0] == '\0'))
    return mida__cli_usage_error(verb, "--logdir is required");
  long long poll_ms = 0;
  if (poll != NULL && (mida__cli_parse_count(poll, &poll_ms) != 0 ||
                       poll_ms < 1 || poll_ms > 3600000))
    return mida__cli_usage_error(verb, "--poll-ms takes 1 to 3600000");
  long long end_s = MIDA_OBS_END_AFTER_S;
  if (end_after != NULL && (mida__cli_parse_count(end_after, &end_s) != 0 ||
                            end_s < 0 || end_s > 31536000))
    return mida__cli_usage_error(verb, "--end-after takes 0 (never) to "
                                       "31536000 seconds");
  long long since_ns = 0;
  if (parent_since != NULL) {
    char *end = NULL;
    errno = 0;
    since_ns = strtoll(parent_since, &end, 10);
    if (errno != 0 || end == parent_since || *end != '\0' || since_ns < 0)
      return mida__cli_usage_error(verb, "--parent-since takes a time in ns "
                                         "since the epoch");
  }
  if (daemon) {
    ex = detach();
    if (ex != MIDA_CLI_CONTINUE)
      return ex;
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sa.sa_handler = on_drain;
  sigaction(SIGUSR1, &sa, NULL);
  sigset_t stop_signals; /* blocked by mida__cli_observe_spawn */
  stop_signals_set(&stop_signals);
  sigprocmask(SIG_UNBLOCK, &stop_signals, NULL);

  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = cli->store;
  mida_session_t *s = NULL;
  char err[512] = "";
  int rc = mida_open(&cfg, &s, err, sizeof err);
  char shown[MIDA_URL_SHOWN];
  if (rc != MIDA_OK)
    return mida__cli_fail("cannot open the store %s: %s",
                          mida__url_redact(cli->store, shown, sizeof shown),
                          err[0] ? err : mida_strerror(rc));
  /* What a session that opened records less than asked, or differently
   * (a capture knob kept at its default), is said as mida run says it. */
  if (err[0] != '\0')
    log_line((void *)kind, MIDA_OBS_WARN, err);
  mida__obs_opts o;
  memset(&o, 0, sizeof o);
  o.once = once;
  o.poll_ms = (unsigned)poll_ms;
  o.stop = &stop_flag;
  o.log = log_line;
  o.log_ctx = (void *)kind;
  o.end_after_s = (unsigned)end_s;
  o.end_at_stop = end_at_stop;
  o.parent_since_ns = since_ns;
  mida__obs_stats st;
  memset(&st, 0, sizeof st);
  rc = mlflow ? mida__mlflow_observe(s, uri, &o, &st)
              : mida__tb_observe(s, logdir, &o, &st);
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", rc != MIDA_OK ? mida_errmsg(NULL) : "");
  int crc = mida_close(s);
  if (!quiet) {
    printf("observed %s: passes=%llu records=%llu metrics=%llu tasks=%llu "
           "files=%llu bad_records=%llu bad_bytes=%llu bad_events=%llu "
           "errors=%llu items=%llu skipped=%llu ended=%llu waits=%llu\n",
           kind, (unsigned long long)st.passes,
           (unsigned long long)st.records, (unsigned long long)st.metrics,
           (unsigned long long)st.tasks, (unsigned long long)st.files,
           (unsigned long long)st.bad_records,
           (unsigned long long)st.bad_bytes,
           (unsigned long long)st.bad_events, (unsigned long long)st.errors,
           (unsigned long long)st.items, (unsigned long long)st.skipped,
           (unsigned long long)st.ended, (unsigned long long)st.waits);
    fflush(stdout);
  }
  if (rc != MIDA_OK)
    return mida__cli_fail("observe %s: %s", kind,
                          msg[0] ? msg : mida_strerror(rc));
  if (crc != MIDA_OK)
    return mida__cli_fail("observe %s: flushing to the store failed: %s", kind,
                          mida_strerror(crc));
  return MIDA_CLI_OK;
}

/* ---- for mida run -------------------------------------------------- */

int mida__cli_observe_spawn(const char *kind, const char *arg,
                            const char *store, int64_t since_ns,
                            char *const *base_env, pid_t *pid) {
  if (kind == NULL || arg == NULL || pid == NULL)
    return MIDA_EINVAL;
  int mlflow = strcmp(kind, "mlflow") == 0;
  if (!mlflow && strcmp(kind, "tensorboard") != 0)
    return MIDA_EINVAL;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return MIDA_EIO;
  self[n] = '\0';
  /* The runs the command begins from then on are its own. */
  char since[32];
  snprintf(since, sizeof since, "%lld",
           (long long)(since_ns > 0 ? since_ns : mida_now_ns()));
  /* Made before the fork: the child only calls execve. */
  const char *uri = mlflow ? arg : NULL;
  static const char *const names[] = {"MIDA_STORE=", "MLFLOW_TRACKING_URI="};
  const char *values[] = {store, uri};
  char **env = mida__cli_child_env(base_env, NULL, names, values, 2);
  if (env == NULL)
    return MIDA_ENOMEM;
  char *args[12];
  int k = 0;
  args[k++] = self;
  args[k++] = "observe";
  args[k++] = (char *)kind;
  if (!mlflow) {
    args[k++] = "--logdir";
    args[k++] = (char *)arg;
  }
  args[k++] = "--poll-ms";
  args[k++] = "200";
  /* Beside a command: no summary line in its output, no notes; the
   * command's end is the end of what it wrote. */
  args[k++] = "--quiet";
  args[k++] = "--end-at-stop";
  args[k++] = "--parent-since";
  args[k++] = since;
  args[k] = NULL;
  fflush(stdout);
  fflush(stderr);
  /* A stop that comes before the observer has its handlers waits for
   * them: the child starts with the stop signals blocked (the mask is
   * inherited through fork and exec) and mida__cli_observe unblocks them
   * once its handlers are set, so a short command cannot leave the
   * observer killed mid-start. */
  sigset_t stop_signals, old_mask;
  stop_signals_set(&stop_signals);
  sigprocmask(SIG_BLOCK, &stop_signals, &old_mask);
  pid_t child = mida__cli_fork_to_exec();
  if (child == 0) {
    execve(self, args, env);
    _exit(127);
  }
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  mida__cli_child_env_free(env);
  if (child < 0)
    return MIDA_EIO;
  *pid = child;
  return MIDA_OK;
}

int mida__cli_observe_stop(pid_t pid, int timeout_ms) {
  if (pid <= 0)
    return MIDA_EINVAL;
  /* Not SIGTERM, which stops at the next safe point: the command's end
   * is the end of what it wrote, and all of it is to be read now. */
  kill(pid, SIGUSR1);
  int status = 0;
  for (int waited = 0;; waited += 10) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? MIDA_OK : MIDA_EIO;
    if (r < 0)
      return MIDA_EIO;
    if (timeout_ms >= 0 && waited >= timeout_ms) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return MIDA_ETIMEDOUT;
    }
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
  }
}

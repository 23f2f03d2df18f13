/*
 * run.c -- `mida run`: run a command as an observed workflow.
 *
 *   mida run [--campaign C] [--workflow-name N] -- python train.py --lr 1
 *
 * The command becomes a workflow (source "run") with one task: its argv as
 * `used`, its exit status (or signal) as `generated`, FINISHED when it exits
 * with 0 and ERROR otherwise, and the resource use wait4() reports for it
 * (the command and the descendants it waited for: CPU time, peak memory,
 * I/O; src/core/rusage.h) as `telemetry`; while it runs, the session's
 * sampler samples each process of the command under its pid
 * (src/telemetry/tree.h), which joins each process's task. The child
 * inherits, so
 * that whatever it records lands in the same place without a change to its
 * code:
 *
 *   MIDA_STORE        the store in force (--store, $MIDA_STORE or default;
 *                     a local SQLite store's path made absolute)
 *   MIDA_CAMPAIGN     --campaign, when given
 *   MIDA_WORKFLOW     the new workflow's id
 *   MIDA_PARENT_TASK  the command's task id
 *   DASK_DISTRIBUTED__SCHEDULER__PRELOAD, DASK_DISTRIBUTED__WORKER__PRELOAD
 *                     the path of mida's preload file (python/dask_preload/,
 *                     found beside this program; else "mida.dask")
 *                     prepended to what is already there, so a
 *                     LocalCluster or an external scheduler/worker started
 *                     from the command is observed where its Python can
 *                     import mida, and runs unobserved, saying so, where
 *                     it cannot (dask_preload_entry below)
 *
 * Things to start alongside the command (observers of MLflow, TensorBoard;
 * more later) are rows of the `companions` table below: an option, and the
 * functions that start and stop the helper. Signals sent to mida run (INT,
 * TERM, HUP, QUIT, USR1, USR2) are forwarded to the child; mida run
 * exits with the child's status (128 + N for a signal N, as shells do), or
 * 127 when the command is not found, 126 when it cannot be run. Observing
 * never stops the command: a store that cannot be opened or a record that
 * cannot be made is a warning on stderr and the command runs all the same
 * (MIDA_STRICT=1 makes them errors, before the command starts).
 */
#include "cli/cli.h"
#include "cli/run_after.h"
#include "cli/run_early.h"
#include "cli/run_preload.h"
#include "cli/run_said.h"

#include "api/session_access.h"
#include "capture/ship_lock.h"
#include "core/alloc.h"
#include "core/argv.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/json.h"
#include "core/rusage.h"
#include "core/url.h"
#include "mida.h"
#include "observe/mlflow.h"
#include "sink/sink.h"
#include "telemetry/telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char run_help[] =
    "usage: mida run [options] [--] COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND as a workflow and records its argv, start, end and exit\n"
    "status, and every process it starts (a task each, under the\n"
    "command's) with the files each one reads and writes (through\n"
    "libmida_preload.so in LD_PRELOAD; see docs/run.md). The command\n"
    "inherits MIDA_STORE, MIDA_CAMPAIGN,\n"
    "MIDA_WORKFLOW and MIDA_PARENT_TASK, and the Dask preload variables\n"
    "(DASK_DISTRIBUTED__SCHEDULER__PRELOAD and __WORKER__PRELOAD, with\n"
    "mida's preload file, mida_dask_preload.py, prepended), so that Python\n"
    "code using the mida package or Dask is observed with no change to it.\n"
    "A Dask process whose Python cannot import mida runs unobserved and\n"
    "says so on stderr.\n"
    "Signals are forwarded to the command; the exit status is the\n"
    "command's (128+N after signal N, 127 if it is not found, 126 if it\n"
    "cannot be run). A store that cannot be opened is a warning: the\n"
    "command runs, its records wait in the spool (MIDA_STRICT=1: an\n"
    "error).\n"
    "The task's telemetry is the command's resource use as wait4 gives it\n"
    "(CPU time, peak memory, I/O of the command and what it waited for);\n"
    "while they run, the command's processes are sampled, each under its\n"
    "pid ($MIDA_SAMPLE_HZ, 1 a second by default; `mida telemetry --task`).\n"
    "\n"
    "options:\n"
    "  --campaign C        the campaign (default: $MIDA_CAMPAIGN)\n"
    "  --workflow-name N   the workflow's name (default: the command's)\n"
    "  --no-dask           do not set the Dask preload variables\n"
    "  --detach-ship       return when the command ends, and leave what is\n"
    "                      left to ship to a detached `mida recover`; mida's\n"
    "                      queries of the store wait for it, up to\n"
    "                      $MIDA_SHIP_WAIT_MS (5000 by default); other\n"
    "                      readers of the store may miss the last records\n"
    "                      meanwhile (ignored with --digest); a local store\n"
    "                      is left alone for the first 0.8 s\n"
    "  --wait-ship         the default: return once every record is in the\n"
    "                      store\n"
    "  --wait-sync         also wait until an SQLite store is on the disk\n"
    "                      and one file again (by default a detached `mida\n"
    "                      recover` copies its WAL back and syncs it right\n"
    "                      after; mida's queries wait for it)\n"
    "  --mlflow URI        also observe an MLflow tracking store meanwhile\n"
    "                      (default: the one MLflow will use:\n"
    "                      $MLFLOW_TRACKING_URI, else ./mlruns when it holds\n"
    "                      experiments, else sqlite:///mlflow.db here)\n"
    "  --no-mlflow         do not observe MLflow\n"
    "  --tensorboard DIR   also observe TensorBoard event files meanwhile\n"
    "  --no-files          record the command only, not its processes and\n"
    "                      files\n"
    "  --ignore P[:P...]   absolute path prefixes whose files are not\n"
    "                      recorded (as /proc, /sys, /dev, shared\n"
    "                      libraries, mida's own; not with --no-files)\n"
    "  --record-code       record installed code too: an interpreter's\n"
    "                      (Python's __pycache__, lib/pythonX.Y,\n"
    "                      site-packages, pyvenv.cfg) and the system's\n"
    "                      headers and libraries (/usr/include, /usr/lib,\n"
    "                      /lib, ...); by default noise, counted only;\n"
    "                      also MIDA_PRELOAD_RECORD_CODE=1\n"
    "  --digest            add the SHA-256 of each file generated, computed\n"
    "                      after the command ended\n"
    "  --digest-max BYTES  with --digest: larger files are not hashed\n"
    "                      (default 64 MiB)\n"
    "  --store URL         the store (default: $MIDA_STORE, else "
    "sqlite://mida.db)\n"
    "\n"
    "example:\n"
    "  mida run --campaign paper -- python pipeline.py --n 100\n";

#define RUN_JOURNAL_BYTES (256 * 1024) /* mida run's own journal ring */
/* With --detach-ship, how long after the start the store is left alone:
 * neither opened nor shipped to (mida__open_quiet, the collector's quiet
 * start). A command that ends sooner runs beside no store work at all,
 * and its records are shipped after it by the detached recover; a longer
 * one's first records are shipped at this mark, within DESIGN.md's
 * second from a task's end to its visibility. */
#define RUN_QUIET_MS 800
/* Without --detach-ship, a local store is opened once the command runs
 * (spawn() returns after its exec), not while it starts: the opening
 * (the schema read, the first statements compiled, ~1 ms of a core) on
 * one of this machine's two cores delayed the command's exec by as much
 * (the new process waited behind the shipper thread). This is only the
 * bound, should the command's start itself hang: the spawn ends the
 * quiet start (mida__session_quiet_end). */
#define RUN_SPAWN_QUIET_MS 200

/* ---- companions: helpers started with the command ------------------------ */

/* A helper process started alongside the command and stopped after it,
 * selected by an option, or implied by what the command will do. To add
 * one, add a row. */
typedef struct companion {
  const char *option;     /* e.g. "--mlflow" */
  const char *off_option; /* turns an implied one off, or NULL */
  const char *kind;       /* passed to start(): "mlflow" */
  /* What it follows when its option is not given, into buf; NULL when
   * nothing (it says why when something is there it cannot follow). May
   * be NULL. */
  const char *(*implied)(char *buf, size_t cap);
  /* Why an argument given with its option cannot be followed (for a usage
   * error, before the command runs), or NULL when it can. May be NULL. */
  const char *(*unusable_why)(const char *arg);
  const char *readable; /* what it can follow, for that error, or NULL */
  int (*start)(const char *kind, const char *arg, const char *store,
               int64_t since_ns, char *const *base_env, pid_t *pid);
  int (*stop)(pid_t pid, int timeout_ms);
} companion;

/* What the MLflow observer reads, for the messages that name a tracking
 * URI it does not (mida__mlflow_unreadable_why). */
#define MLFLOW_READABLE                                                        \
  "sqlite:, postgresql:, file: stores and paths are observed"

/* The tracking store the command's MLflow will write, as MLflow resolves
 * it: MLFLOW_TRACKING_URI, else MLflow's default in the working directory
 * (src/observe/mlflow.h). A program that calls mlflow.set_tracking_uri()
 * is not followed there: give --mlflow. */
static const char *mlflow_implied(char *buf, size_t cap) {
  const char *env = getenv("MLFLOW_TRACKING_URI");
  char shown[MIDA_URL_SHOWN];
  if (env != NULL && env[0] != '\0') {
    const char *why = mida__mlflow_unreadable_why(env);
    if (why == NULL)
      return env;
    /* One line, and the command runs as it would: its MLflow runs are
     * just not recorded. */
    mida__cli_note("mida run: warning: MLFLOW_TRACKING_URI=%s is not "
                   "observed, the command's MLflow runs are not recorded: "
                   "%s (" MLFLOW_READABLE ")\n",
                   mida__url_redact(env, shown, sizeof shown), why);
    return NULL;
  }
  return mida__mlflow_default_uri(buf, cap) == MIDA_OK ? buf : NULL;
}

static const companion companions[] = {
    {"--mlflow", "--no-mlflow", "mlflow", mlflow_implied,
     mida__mlflow_unreadable_why, MLFLOW_READABLE, mida__cli_observe_spawn,
     mida__cli_observe_stop},
    {"--tensorboard", NULL, "tensorboard", NULL, NULL, NULL,
     mida__cli_observe_spawn, mida__cli_observe_stop},
};
#define COMPANION_COUNT (sizeof companions / sizeof companions[0])

/* ---- companions started late ------------------------------------------- */

#define LATE_WATCH_MS 200

/* An implied companion whose source is a file that is not there yet
 * (MLflow's ./mlflow.db before the command's first run) is not started
 * with the command: a thread looks for the file every LATE_WATCH_MS and
 * starts the companion when it appears, and late_finish() starts it at the
 * end if the file appeared after the last look (its first pass then reads
 * everything). Its --parent-since is mida run's start all the same, and
 * its environment the one it would have had (saved before the preload's
 * variables are set). So a command that never uses MLflow pays for no
 * observer: no process, no store session, no stop to wait for. */
typedef struct late_start {
  const char *store;
  int64_t since_ns;                  /* before the command started */
  char **env;                        /* the companions' (run's), or NULL */
  const char *arg[COMPANION_COUNT];  /* each one's argument */
  const char *path[COMPANION_COUNT]; /* the file awaited, or NULL */
  pid_t *pid;                        /* the companions' pids (run's) */
  int waiting;                       /* a file is awaited */
  int thread_started;
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int stop;
} late_start;

/* The file of an SQLite URL as MLflow writes it (sqlite:////abs/x.db,
 * sqlite:///rel.db), or NULL for any other URL. */
static const char *sqlite_file_of(const char *uri) {
  static const char prefix[] = "sqlite:///";
  size_t n = sizeof prefix - 1;
  return strncmp(uri, prefix, n) == 0 && uri[n] != '\0' ? uri + n : NULL;
}

/* Starts the awaited companions whose file is there now (each is tried
 * once). Called with w->lock held, or after the thread ended. */
static void late_start_due(late_start *w) {
  for (size_t i = 0; i < COMPANION_COUNT; i++) {
    if (w->path[i] == NULL || access(w->path[i], F_OK) != 0)
      continue;
    w->path[i] = NULL;
    if (companions[i].start(companions[i].kind, w->arg[i], w->store,
                            w->since_ns, w->env, &w->pid[i]) != MIDA_OK) {
      mida__cli_note("mida run: cannot start the %s observer\n",
                     companions[i].kind);
      w->pid[i] = 0;
    }
  }
}

static void *late_watch(void *arg) {
  late_start *w = arg;
  pthread_mutex_lock(&w->lock);
  while (!w->stop) {
    late_start_due(w);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += LATE_WATCH_MS * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&w->wake, &w->lock, &until);
  }
  pthread_mutex_unlock(&w->lock);
  return NULL;
}

/* Companion i (implied, following uri) waits for its file if it is an
 * SQLite database not there yet: 1, or 0 to start it now. */
static int late_defer(late_start *w, size_t i, const char *uri) {
  const char *file = sqlite_file_of(uri);
  if (file == NULL || access(file, F_OK) == 0)
    return 0;
  w->arg[i] = uri;
  w->path[i] = file;
  w->waiting = 1;
  return 1;
}

/* Starts the watcher if a companion waits. */
static void late_begin(late_start *w) {
  if (!w->waiting)
    return;
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  w->thread_started = pthread_create(&w->thread, NULL, late_watch, w) == 0;
}

/* After the command ended: stops the watcher and starts what is due. */
static void late_finish(late_start *w) {
  if (!w->waiting)
    return;
  if (w->thread_started) {
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
  }
  late_start_due(w);
}

/* ---- the environment of the command -------------------------------------- */

/* The store as the command is given it (MIDA_STORE): a local SQLite store
 * named by a relative path ("run.db", "sqlite://run.db", the default
 * mida.db) made absolute against this working directory, into buf, so
 * that a process of the command that changes directory and records
 * through the API (`cd sub && python step.py` with a @mida.task) records
 * into this store, not into a new one in sub/. Any other URL (a server's,
 * an absolute path), or one whose absolute form does not fit, is given as
 * it is. */
static const char *store_for_command(const char *store, char *buf,
                                     size_t cap) {
  char path[PATH_MAX], abs[PATH_MAX];
  if (mida__url_sqlite_path(store, path, sizeof path) != MIDA_OK ||
      path[0] == '/' || mida__cli_absolute(path, abs, sizeof abs) != 0)
    return store;
  int n = snprintf(buf, cap, "sqlite://%s", abs);
  return n > 0 && (size_t)n < cap ? buf : store;
}

/* What goes first in the command's Dask preload variables, into buf
 * (PATH_MAX): the absolute path of mida's preload file (run_preload.h),
 * which every Python imports -- it takes the preload from mida.dask, or,
 * in a Python that cannot import mida, says so on stderr and preloads
 * nothing, and the process runs unobserved -- else the module name
 * mida.dask, which such a Python cannot import, and then Dask's cluster
 * does not start ("Cluster failed to start: No module named 'mida'").
 * The file is not used where Dask would misread its path: one with a
 * space (or any white space) is taken for the text of a script
 * (distributed/preloading.py), and one with a quote or a backslash would
 * break the list literal the variable holds once it had a value already
 * (below); a comma is harmless inside the literal's quotes, and a path
 * starting with '/' is never a Python literal, so Dask's
 * ast.literal_eval leaves it a string. Then mida.dask, with a note. */
static const char *dask_preload_entry(char *buf, size_t cap) {
  if (mida__run_preload_dask_file(buf, cap) != 0)
    return "mida.dask";
  int misread = 0;
  for (const unsigned char *c = (const unsigned char *)buf; *c != '\0'; c++)
    if (*c <= ' ' || *c == 0x7f || *c == '\'' || *c == '"' || *c == '\\')
      misread = 1;
  if (!misread)
    return buf;
  mida__cli_note("mida run: the Dask preload file's path (%s) has a space, "
                 "a quote or a backslash, which Dask's preload setting "
                 "misreads: mida.dask is preloaded instead (a Python that "
                 "cannot import mida then does not start a Dask cluster: "
                 "--no-dask)\n",
                 buf);
  return "mida.dask";
}

/* Whether a Dask preload value has mida's preload in it already (either
 * form: a nested mida run, or a user's own setting). */
static int has_mida_preload(const char *value) {
  return strstr(value, "mida.dask") != NULL ||
         strstr(value, "mida_dask_preload.py") != NULL;
}

/* Prepends entry (dask_preload_entry) to a Dask preload variable (var ends
 * in '=') in env. Dask reads the value with ast.literal_eval, falling back
 * to a plain string: a list literal keeps what was there. Returns MIDA_OK,
 * or non-zero (left alone, said why, or out of memory). */
static int prepend_preload(mida__cli_env *env, const char *var,
                           const char *entry) {
  const char *old = mida__cli_env_get(env, var);
  if (old == NULL || old[0] == '\0')
    return mida__cli_env_set(env, var, entry);
  if (has_mida_preload(old))
    return MIDA_OK;
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  int rc;
  size_t n = strlen(old);
  if (old[0] == '[' && old[n - 1] == ']') /* a list literal */
    rc = mida__buf_printf(&b, "['%s', %s", entry, old + 1);
  else if (strchr(old, '\'') == NULL && strchr(old, '\\') == NULL)
    rc = mida__buf_printf(&b, "['%s', '%s']", entry, old);
  else {
    mida__cli_note("mida run: %.*s left as it is (cannot add mida's "
                   "preload to it safely)\n",
                   (int)strlen(var) - 1, var);
    return -1;
  }
  if (rc == MIDA_OK)
    rc = mida__cli_env_set(env, var, mida__buf_str(&b));
  mida__buf_free(&b);
  return rc;
}

/* {"argv": [...], "cwd": "..."} into b; the argv bounded and with the
 * values of secret-looking options hidden (core/argv.h), as the preload
 * records every other process. */
static int argv_json(mida__buf *b, int argc, char **argv) {
  int rc = mida__buf_adds(b, "{\"argv\":");
  if (rc == MIDA_OK)
    rc = mida__argv_json(b, argc, argv);
  char cwd[4096];
  if (rc == MIDA_OK && getcwd(cwd, sizeof cwd) != NULL) {
    rc = mida__buf_adds(b, ",\"cwd\":");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(b, cwd, strlen(cwd));
    if (rc == MIDA_OK)
      rc = mida__buf_adds(b, "}");
  } else if (rc == MIDA_OK) {
    rc = mida__buf_adds(b, "}");
  }
  return rc;
}

/* ---- signals ------------------------------------------------------------- */

static volatile sig_atomic_t child_pid; /* the command, once started */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP,
                                SIGQUIT, SIGUSR1, SIGUSR2};
#define FORWARDED_COUNT (sizeof forwarded / sizeof forwarded[0])

/* Forwards a signal sent to mida run (kill, sigqueue) to the command. A
 * signal the kernel generated, such as Ctrl-C from the terminal, already
 * reached the command through its process group: sending it again would
 * deliver it twice. */
static void forward_signal(int sig, siginfo_t *info, void *uctx) {
  (void)uctx;
  int saved = errno;
  if (child_pid > 0 && (info == NULL || info->si_code <= 0))
    kill((pid_t)child_pid, sig);
  errno = saved;
}

static void set_forwarding(struct sigaction *old) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = forward_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  for (size_t i = 0; i < FORWARDED_COUNT; i++)
    sigaction(forwarded[i], &sa, &old[i]);
}

static void restore_signals(const struct sigaction *old) {
  for (size_t i = 0; i < FORWARDED_COUNT; i++)
    sigaction(forwarded[i], &old[i], NULL);
}

/* Starts argv without a copy of this process: posix_spawnp, which glibc
 * makes with clone(CLONE_VM | CLONE_VFORK), so the child runs in this
 * process's memory until its exec. A fork copied the page tables of a
 * process whose threads (the shipper opening the store, the sampler) go on
 * writing meanwhile: every page one of them wrote before the child's exec
 * was copied, each copy a TLB flush on the other CPU (an interprocessor
 * interrupt, a VM exit here). The child gets the default action of the
 * signals mida run forwards (exec would reset the handler anyway) and
 * this thread's signal mask, as after restore_signals() and exec. Returns
 * 1 with *pid (or -1 and *err, the errno of the failed exec) when it
 * decided; 0 when the fork must do it: a forwarded signal was ignored when
 * mida run started, and the command is to inherit SIG_IGN, which
 * posix_spawn cannot give; or the file is not one exec runs (ENOEXEC: a
 * script without "#!", which execvpe, not posix_spawnp, hands to
 * /bin/sh). */
static int spawn_sharing(char **argv, char **envp, const struct sigaction *old,
                         pid_t *pid, int *err) {
  sigset_t defaults;
  sigemptyset(&defaults);
  for (size_t i = 0; i < FORWARDED_COUNT; i++) {
    if (!(old[i].sa_flags & SA_SIGINFO) && old[i].sa_handler == SIG_IGN)
      return 0;
    sigaddset(&defaults, forwarded[i]);
  }
  posix_spawnattr_t attr;
  if (posix_spawnattr_init(&attr) != 0)
    return 0;
  int started = 0;
  if (posix_spawnattr_setsigdefault(&attr, &defaults) == 0 &&
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF) == 0) {
    int e = posix_spawnp(pid, argv[0], NULL, &attr, argv, envp);
    started = e != ENOEXEC;
    if (e != 0) {
      *pid = -1;
      *err = e;
    }
  }
  posix_spawnattr_destroy(&attr);
  return started;
}

/* Starts argv as a child with the environment envp (found on this
 * process's PATH, as execvp does): spawn_sharing(), else a fork. Returns
 * its pid, or -1 with *err set to the errno of the failed fork or exec
 * (seen through a close-on-exec pipe). */
static pid_t spawn(char **argv, char **envp, const struct sigaction *old,
                   int *err) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = -1;
  if (spawn_sharing(argv, envp, old, &pid, err))
    return pid;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *err = errno;
    return -1;
  }
  pid = mida__cli_fork_to_exec();
  if (pid < 0) {
    *err = errno;
    close(fds[0]);
    close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    restore_signals(old);
    close(fds[0]);
    execvpe(argv[0], argv, envp);
    int e = errno;
    ssize_t w = write(fds[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  close(fds[1]);
  int e = 0;
  ssize_t r;
  do {
    r = read(fds[0], &e, sizeof e);
  } while (r < 0 && errno == EINTR);
  close(fds[0]);
  if (r == (ssize_t)sizeof e) { /* exec failed */
    waitpid(pid, NULL, 0);
    *err = e;
    return -1;
  }
  return pid;
}

/* ---- the verb ------------------------------------------------------------ */

/* Records the command's end: its resource use, its task's end (status
 * from code, generated gen, error) and its workflow's. */
static void record_end(mida_session_t *s, const mida_id_t *wf,
                       const mida_id_t *task, int code, const char *usage,
                       const char *gen, const char *error) {
  mida_status_t st = code == 0 ? MIDA_STATUS_FINISHED : MIDA_STATUS_ERROR;
  int rc = MIDA_OK;
  if (!mida_id_is_nil(task) && usage[0] != '\0')
    rc = mida_task_update(s, task, &(mida_task_update_t){.telemetry = usage});
  if (rc == MIDA_OK && !mida_id_is_nil(task))
    rc = mida_task_end(s, task, st, gen, error[0] ? error : NULL);
  if (rc == MIDA_OK && !mida_id_is_nil(wf))
    rc = mida_workflow_end(s, wf, st);
  if (rc != MIDA_OK)
    mida__cli_note("mida run: cannot record the end: %s\n", mida_errmsg(s));
}

/* With --detach-ship (not with --digest): the command's end goes
 * into this process's journal, the observers are asked to stop (they
 * finish on their own), a detached `mida recover` is started that ships
 * every journal once this process is gone, and mida run ends at once with
 * the command's status: the command's caller does not wait for the store
 * (its opening, the last segments, its checkpoint: ~60 ms and ~10 us a
 * file record). Its journals are left as a crash would leave them
 * (committed records survive; src/capture/journal.h). The recover holds
 * the spool's shipping lock from before this returns until it is done, and
 * the store's readers wait for it (src/capture/ship_lock.h): a query made
 * after mida run returned sees the command's records. Returns only if the
 * recover cannot be started (then mida run ships as usual; the end is
 * recorded already). */
static void detach_ship(mida_session_t *s, mida__run_preload *files,
                        const char *store, const pid_t *comp_pid,
                        const mida_id_t *wf, const mida_id_t *task, int code,
                        const char *usage, const char *gen, const char *error) {
  record_end(s, wf, task, code, usage, gen, error);
  int rc = mida__run_preload_detach(files, store);
  if (rc != MIDA_OK) {
    mida__cli_note("mida run: cannot detach the shipping (%s); shipping "
                   "now\n",
                   mida_strerror(rc));
    return;
  }
  for (size_t i = 0; i < COMPANION_COUNT; i++)
    if (comp_pid[i] > 0)
      kill(comp_pid[i], SIGTERM);
  fflush(stdout);
  fflush(stderr);
  _exit(code);
}

/* By default, into a local SQLite store: the commits of the command's
 * last records and of its end are the last work mida run waits for. The
 * copy-back that makes the store one file on the disk again (the WAL
 * copied into the database, both synced, the WAL removed) is left to a
 * detached `mida recover --settle` that runs once this process is gone
 * and ships nothing (run_after.h). A `tar c` of 10,000 files made ~3.4
 * MB of WAL: its two syncs, copy and removals took ~18 ms of mida run's
 * ~143 (plain 96 ms) on this project's VM. The records are committed
 * when mida run returns: every reader sees them, and a crash of any
 * process keeps them; a power loss before the recover's sync may take
 * them, as it may the command's own unsynced output. When no process
 * can be started, mida run's close does the copy-back as before; so too
 * when this process is a PID namespace's init (`mida run` as a
 * container's command), whose end kills every other process of the
 * namespace. */
static void settle_after(const char *spool, const char *store) {
  if (getpid() != 1 && mida__run_recover_after(spool, store, 1) == MIDA_OK)
    mida__sink_leave_wal();
}

/* The command's name for its workflow and task: the last component of
 * path, or path as written when it has none ("./", "dir/"), never "". */
static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* Records the workflow of the command and its task: ids into *wf and
 * *task (set even when a record is dropped, so that the command's own
 * records still name them). Returns MIDA_OK or the first error. */
static int record_start(mida_session_t *s, const char *wf_name, int cmdc,
                        char **cmdv, mida_id_t *wf, mida_id_t *task) {
  mida__buf used;
  mida__buf_init(&used, 1 << 20);
  /* A command line too long to record is recorded without its argv. */
  const char *argv_text =
      argv_json(&used, cmdc, cmdv) == MIDA_OK ? mida__buf_str(&used) : NULL;
  mida_workflow_info_t wi = {0};
  wi.name = wf_name != NULL ? wf_name : base_name(cmdv[0]);
  wi.source = "run";
  wi.metadata = argv_text;
  int rc = mida_workflow_begin(s, &wi, wf);
  mida_task_info_t ti = {0};
  ti.activity = base_name(cmdv[0]);
  ti.workflow = wf;
  ti.used = argv_text;
  if (!mida_id_is_nil(wf)) {
    int trc = mida_task_begin(s, &ti, task);
    rc = rc != MIDA_OK ? rc : trc;
  }
  mida__buf_free(&used);
  return rc;
}

/* Where the command starts in argv: after "--", or at the first argument
 * that is neither an option nor an option's value. */
static int command_start(int argc, char **argv) {
  static const char *const with_value[] = {
      "--campaign", "--workflow-name", "--store", "--mlflow",
      "--tensorboard", NULL};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0)
      return i + 1;
    if (a[0] != '-' || a[1] == '\0')
      return i;
    if (strchr(a, '=') != NULL)
      continue;
    for (int k = 0; with_value[k] != NULL; k++)
      if (strcmp(a, with_value[k]) == 0) {
        i++;
        break;
      }
    for (int k = 0; mida__run_preload_value_options[k] != NULL; k++)
      if (strcmp(a, mida__run_preload_value_options[k]) == 0) {
        i++;
        break;
      }
  }
  return argc;
}

/* Whether MIDA_JOURNAL_BYTES names a ring size that mida_open takes (as
 * mida_config_init reads it: a size, not 0). */
/* The error of a command killed by sig, in the form that the preload
 * library gives its processes (src/preload/emit.c, docs/run.md): "killed
 * by signal 9 (KILL)", the signal's short name, not strsignal()'s
 * description. */
static void signal_error(int sig, char *out, size_t cap) {
  const char *name = sigabbrev_np(sig);
  snprintf(out, cap, "killed by signal %d (%s)", sig,
           name != NULL ? name : "?");
}

static int journal_bytes_given(void) {
  const char *v = getenv("MIDA_JOURNAL_BYTES");
  uint64_t bytes = 0;
  return v != NULL && v[0] != '\0' && mida__parse_size(v, &bytes) == 0 &&
         bytes > 0 && bytes <= SIZE_MAX;
}

int mida__cli_run(mida__cli *cli, int argc, char **argv) {
  const char *campaign = NULL, *wf_name = NULL;
  const char *comp_arg[COMPANION_COUNT] = {NULL};
  int comp_off[COMPANION_COUNT] = {0};
  int no_dask = 0, detach = 0, wait_ship = 0, wait_sync = 0;
  mida__cli_opt opts[7 + 2 * COMPANION_COUNT + MIDA_RUN_PRELOAD_OPTIONS];
  mida__run_preload files;
  int k = mida__run_preload_options(&files, opts);
  opts[k++] = (mida__cli_opt){"--campaign", NULL, &campaign, NULL};
  opts[k++] = (mida__cli_opt){"--workflow-name", NULL, &wf_name, NULL};
  opts[k++] = (mida__cli_opt){"--no-dask", NULL, NULL, &no_dask};
  opts[k++] = (mida__cli_opt){"--detach-ship", NULL, NULL, &detach};
  opts[k++] = (mida__cli_opt){"--wait-ship", NULL, NULL, &wait_ship};
  opts[k++] = (mida__cli_opt){"--wait-sync", NULL, NULL, &wait_sync};
  for (size_t i = 0; i < COMPANION_COUNT; i++) {
    opts[k++] = (mida__cli_opt){companions[i].option, NULL, &comp_arg[i],
                                NULL};
    if (companions[i].off_option != NULL)
      opts[k++] = (mida__cli_opt){companions[i].off_option, NULL, NULL,
                                  &comp_off[i]};
  }
  opts[k] = (mida__cli_opt){NULL, NULL, NULL, NULL};

  int cmd = command_start(argc, argv);
  int npos = 0;
  int ex = mida__cli_parse(cli, "run", run_help, opts, cmd, argv, NULL, 0, 0,
                           &npos);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  if (cmd >= argc)
    return mida__cli_usage_error("run", "no command given");
  if (campaign != NULL && campaign[0] == '\0')
    return mida__cli_usage_error("run", "--campaign: the name is empty");
  if (wf_name != NULL && wf_name[0] == '\0')
    return mida__cli_usage_error("run", "--workflow-name: the name is empty");
  /* Each says when mida run returns: before the store holds the records,
   * once it does, once they are synced. */
  if (detach && (wait_ship || wait_sync))
    return mida__cli_usage_error(
        "run", "--detach-ship and %s say opposite things: choose one",
        wait_ship ? "--wait-ship" : "--wait-sync");
  /* A store that cannot be one is a usage error, before the command runs
   * (any other store that cannot be opened now is a warning). */
  ex = mida__cli_check_store(cli->store);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  ex = mida__run_preload_check(&files);
  if (ex != MIDA_CLI_CONTINUE)
    return ex;
  /* An observer given a source it cannot read would only fail once the
   * command runs ("did not stop cleanly"): the option the user gave
   * cannot work, so it is refused now. An implied one only warns
   * (mlflow_implied): the command did not ask for it. */
  for (size_t i = 0; i < COMPANION_COUNT; i++) {
    const char *why = comp_arg[i] != NULL && companions[i].unusable_why != NULL
                          ? companions[i].unusable_why(comp_arg[i])
                          : NULL;
    char shown[MIDA_URL_SHOWN];
    if (why != NULL)
      return mida__cli_usage_error(
          "run", "%s %s: not a source the %s observer reads: %s%s%s%s",
          companions[i].option,
          mida__url_redact(comp_arg[i], shown, sizeof shown),
          companions[i].kind, why, companions[i].readable != NULL ? " (" : "",
          companions[i].readable != NULL ? companions[i].readable : "",
          companions[i].readable != NULL ? ")" : "");
  }
  char **cmdv = argv + cmd;
  int cmdc = argc - cmd;
  /* By default the store holds every record when mida run returns, so
   * that any reader of it (sqlite3, psql, not only mida's own, which wait
   * for a detached shipper) sees the command's lineage at once. The
   * digests are computed by this process after the command ended. */
  detach = detach && !wait_ship && !files.digest;

  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = cli->store;
  if (campaign != NULL)
    cfg.campaign = campaign;
  /* The command's task gets the command's resource use (wait4), not the
   * summary of this thread's. */
  cfg.telemetry_task = 0;
  /* mida run records a handful of records itself (the workflow, the
   * command's task and its end): the default 16 MiB ring, whose pages a
   * journal touches when it opens, cost more than the rest of its start
   * (27 ms). A full ring spills into the next segment: nothing is lost.
   * A MIDA_JOURNAL_BYTES that is empty or does not parse keeps this
   * default, as mida_open's warning says. */
  if (!journal_bytes_given())
    cfg.journal_bytes = RUN_JOURNAL_BYTES;
  /* A local SQLite store opens once the command runs, not before it (a
   * new one: its schema and six fdatasync, ~8 ms; RUN_SPAWN_QUIET_MS);
   * the early flush waits for it instead and says if it cannot. A
   * server's store is waited for as by any program, so that one that is
   * down is said before the command runs. */
  int open_wait_ms = cfg.open_wait_ms;
  char local[PATH_MAX];
  int local_store =
      mida__url_sqlite_path(cli->store, local, sizeof local) == MIDA_OK;
  if (local_store)
    cfg.open_wait_ms = 0;
  /* Observation never stops the command: a store that cannot be opened,
   * or a record that cannot be made, is a warning, unless MIDA_STRICT. */
  /* A quiet start needs a store that is not waited for (a local one),
   * and the wait of MIDA_STRICT would end it. */
  int quiet_ms = !local_store || cfg.strict ? 0
                 : detach                     ? RUN_QUIET_MS
                                              : RUN_SPAWN_QUIET_MS;
  files.quiet_ms = detach ? quiet_ms : 0;
  mida_session_t *s = NULL;
  char err[512] = "";
  int rc = mida__open_quiet(&cfg, quiet_ms, &s, err, sizeof err);
  char shown[MIDA_URL_SHOWN];
  if (rc != MIDA_OK && cfg.strict)
    return mida__cli_fail("run: cannot open the store %s: %s",
                          mida__url_redact(cli->store, shown, sizeof shown),
                          err);
  if (rc != MIDA_OK)
    mida__cli_note(
            "mida run: not recording (%s); running the command "
            "anyway\n",
            err);
  /* A warning (a capture knob kept at its default, a journal without
   * room) changes neither what is recorded nor when: only a store that
   * mida_open waited for and that cannot be opened now is not worth the
   * early flush's wait. mida_open said so, unless the store's first
   * attempt failed only after its wait. */
  int store_down = 0;
  if (s != NULL && cfg.open_wait_ms > 0) {
    char msg[512];
    int open_rc = mida__session_wait_open(s, 0, msg, sizeof msg);
    store_down = open_rc != MIDA_OK && open_rc != MIDA_ETIMEDOUT;
    if (store_down && err[0] == '\0')
      mida__run_note_store_down(s, open_rc, msg);
    else if (store_down)
      (void)mida__run_said_first(msg); /* mida_open's warning, err, says it */
  }

  mida_id_t wf = {{0}}, task = {{0}};
  if (s != NULL &&
      record_start(s, wf_name, cmdc, cmdv, &wf, &task) != MIDA_OK) {
    if (cfg.strict) {
      ex = mida__cli_fail("run: cannot record the command: %s", mida_errmsg(s));
      mida_close(s);
      return ex;
    }
    /* Not even the command's record could be kept (no spool to keep it
     * in: a read-only directory, a path through a file): nothing of the
     * run would be, so it is said once, with the reason, and the command
     * runs unobserved, not under five more warnings of the same cause. */
    char why[384];
    if (mida__session_space(s, why, sizeof why) != MIDA_OK)
      mida__cli_note("mida run: not recording (no room to keep records: "
                     "%s); running the command anyway\n",
                     why);
    else
      mida__cli_note("mida run: not recording (cannot record the command: "
                     "%s); running the command anyway\n",
                     mida_errmsg(s));
    mida_close(s);
    s = NULL;
    wf = task = (mida_id_t){{0}};
  } else if (s != NULL && err[0] != '\0') {
    mida__cli_note("mida run: warning: %s\n", err);
  }

  /* The command's environment is built aside, never with setenv: this
   * process has threads that read its environment (cli.h). An edit that
   * finds no memory leaves the variable out, as a failed setenv did. */
  mida__cli_env env = {0};
  char store_abs[PATH_MAX + 16];
  (void)mida__cli_env_set(
      &env, "MIDA_STORE=",
      store_for_command(cli->store, store_abs, sizeof store_abs));
  if (!mida_id_is_nil(&task)) {
    char wf_text[MIDA_ID_STRLEN], task_text[MIDA_ID_STRLEN];
    (void)mida__cli_env_set(&env,
                            "MIDA_WORKFLOW=", mida_id_format(&wf, wf_text));
    (void)mida__cli_env_set(
        &env, "MIDA_PARENT_TASK=", mida_id_format(&task, task_text));
  }
  if (campaign != NULL)
    (void)mida__cli_env_set(&env, "MIDA_CAMPAIGN=", campaign);
  if (!no_dask) {
    char dask_file[PATH_MAX];
    const char *entry = dask_preload_entry(dask_file, sizeof dask_file);
    (void)prepend_preload(&env, "DASK_DISTRIBUTED__SCHEDULER__PRELOAD=",
                          entry);
    (void)prepend_preload(&env, "DASK_DISTRIBUTED__WORKER__PRELOAD=", entry);
  }
  /* The companions' environment: the command's without the preload's
   * variables, which come next (NULL when out of memory: this process's). */
  char **comp_env = mida__cli_env_build(&env, NULL);
  /* Records made so far reach the store while the command starts (not
   * worth a wait when the store is not there). */
  mida__run_early early = {0};
  if (s != NULL && !store_down)
    mida__run_early_begin(&early, s, cli->store, quiet_ms + open_wait_ms);

  pid_t comp_pid[COMPANION_COUNT] = {0};
  char implied[COMPANION_COUNT][PATH_MAX + 32];
  late_start late;
  memset(&late, 0, sizeof late);
  late.store = cli->store;
  late.since_ns = mida_now_ns();
  late.pid = comp_pid;
  late.env = comp_env;
  for (size_t i = 0; i < COMPANION_COUNT; i++) {
    /* What the command will use (MLflow's tracking store) starts the
     * observer too, unless turned off; once its file is there. */
    int is_implied = 0;
    if (comp_arg[i] == NULL && !comp_off[i] && companions[i].implied != NULL) {
      comp_arg[i] = companions[i].implied(implied[i], sizeof implied[i]);
      is_implied = 1;
    }
    if (comp_arg[i] == NULL ||
        (is_implied && late_defer(&late, i, comp_arg[i])))
      continue;
    if (companions[i].start(companions[i].kind, comp_arg[i], cli->store,
                            late.since_ns, comp_env, &comp_pid[i]) != MIDA_OK) {
      mida__cli_note( "mida run: cannot start the %s observer\n",
              companions[i].kind);
      comp_pid[i] = 0;
    }
  }

  late_begin(&late);
  (void)mida__run_preload_start(&files, s, cli->store, &wf, &task, cmdv, &env);
  char **cmd_env = mida__cli_env_build(&env, NULL);
  mida__cli_env_free(&env);
  if (cmd_env == NULL)
    mida__cli_note("mida run: out of memory for the command's environment; "
                   "running it unobserved\n");
  struct sigaction old[FORWARDED_COUNT];
  set_forwarding(old);
  int spawn_err = 0;
  extern char **environ;
  pid_t pid = spawn(cmdv, cmd_env != NULL ? cmd_env : environ, old, &spawn_err);
  if (!detach)
    mida__session_quiet_end(s); /* RUN_SPAWN_QUIET_MS */
  mida__cli_child_env_free(cmd_env);
  int status = 0, code;
  char error[256] = "", gen[96];
  char usage[MIDA_RUSAGE_JSON_MAX] = "";
  if (pid < 0) {
    snprintf(error, sizeof error, "cannot execute %s: %s", cmdv[0],
             strerror(spawn_err));
    mida__cli_note("mida run: %s\n", error);
    /* As a shell, env(1) and timeout(1) say it: 127 for a command not
     * found, 126 for one found that cannot be run (not executable, not a
     * program, a directory, a path through a file). */
    code = spawn_err == ENOENT ? 127 : 126;
    snprintf(gen, sizeof gen, "{\"exit_status\":%d}", code);
  } else {
    child_pid = pid;
    /* The root task is the command: its pid, said outright. The begin
     * above leaves the store this process's pid as the batch's default,
     * which the library's own begin in the command (explicit, but equal
     * to its batch's origin) did not replace in a PostgreSQL store
     * (postgres.c merges an origin column so); said from here it differs
     * from this batch's origin, and wins in any order of arrival. */
    if (s != NULL && !mida_id_is_nil(&task))
      (void)mida_task_update(s, &task, &(mida_task_update_t){.pid = pid});
    /* The session's sampler samples the command's processes, each under
     * its pid, so that each task has its CPU, memory and I/O over time
     * (docs/telemetry.md); this process's own samples go on beside. */
    if (s != NULL)
      mida__telemetry_sample_tree(pid);
    pid_t r;
    struct rusage ru;
    do {
      r = wait4(pid, &status, 0, &ru);
    } while (r < 0 && errno == EINTR);
    mida__telemetry_sample_tree(0);
    child_pid = 0;
    if (r == pid)
      mida__rusage_json(&ru, usage, sizeof usage);
    if (WIFSIGNALED(status)) {
      code = 128 + WTERMSIG(status);
      signal_error(WTERMSIG(status), error, sizeof error);
      snprintf(gen, sizeof gen, "{\"signal\":%d}", WTERMSIG(status));
    } else {
      code = WEXITSTATUS(status);
      if (code != 0)
        snprintf(error, sizeof error, "exit status %d", code);
      snprintf(gen, sizeof gen, "{\"exit_status\":%d}", code);
    }
  }
  restore_signals(old);

  late_finish(&late);
  mida__cli_child_env_free(comp_env);
  /* A detached end does not wait for the early flush: cut short, it is
   * as a crash would leave it (what it had not committed stays in the
   * journal for the recover, and a record applied twice changes nothing,
   * src/sink/sink.h). */
  if (detach && s != NULL)
    detach_ship(s, &files, cli->store, comp_pid, &wf, &task, code, usage, gen,
                error);
  mida__run_early_end(&early);
  for (size_t i = 0; i < COMPANION_COUNT; i++)
    if (comp_pid[i] > 0 &&
        companions[i].stop(comp_pid[i], 10000) != MIDA_OK)
      mida__cli_note( "mida run: the %s observer did not stop cleanly\n",
              companions[i].kind);
  if (s != NULL && !wait_sync && local_store)
    settle_after(files.spool, cli->store);
  mida__run_preload_finish(&files);

  if (s == NULL)
    return code;
  if (!detach)
    record_end(s, &wf, &task, code, usage, gen, error);
  char no_room[384];
  int space = mida__session_space(s, no_room, sizeof no_room);
  mida_stats_t st;
  mida_stats_get(s, &st);
  mida__set_error(MIDA_OK, "%s", ""); /* what is said next is the close's */
  rc = mida_close(s);
  /* Why, in the store's own words where it said any. */
  char why[512];
  snprintf(why, sizeof why, "%s",
           mida_errmsg(NULL)[0] != '\0' ? mida_errmsg(NULL)
                                         : mida_strerror(rc));
  if (rc == MIDA_EREFUSED || rc == MIDA_EDENIED)
    mida__cli_note("mida run: %s ('mida stats' counts them)\n",
                   mida_strerror(rc));
  else if (rc != MIDA_OK && space != MIDA_OK)
    mida__cli_note("mida run: the store did not take the run's records (%s), "
                   "and there was no room to keep them (%s): %llu dropped, "
                   "nothing is left for 'mida recover'\n",
                   why, no_room,
                   (unsigned long long)st.dropped);
  else if (rc != MIDA_OK && mida__run_said_first(why))
    mida__cli_note("mida run: the store did not take every record (%s); "
                   "they stay in the spool for 'mida recover'\n",
                   why);
  return code;
}

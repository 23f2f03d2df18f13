/*
 * state.c -- the preload library's process state: what it learns when the
 * program starts, its journal, and what changes in a child after fork().
 *
 * Configuration comes from the environment that `mida run` gives the
 * command and that the exec wrappers pass on to every descendant (adding
 * it back to an environment that a program cleared):
 *
 *   MIDA_PRELOAD_SPOOL   the spool directory of the journals; without it
 *                        the library stays inactive (every wrapper only
 *                        calls the real function)
 *   MIDA_PRELOAD_IGNORE  ':'-separated path prefixes not to record (the
 *                        spool, the store, `mida run --ignore`); a '\'
 *                        makes the byte after it (a ':' or '\' of a
 *                        path) part of the prefix
 *   MIDA_PRELOAD_PIPES   the registry of pipe writers (pipes.c)
 *   MIDA_PRELOAD_RING    journal ring bytes of the largest segments
 *                        (default 1 MiB)
 *   MIDA_PRELOAD_RECORD_CODE  set and not "0": an interpreter's installed
 *                        code (Python's __pycache__, lib/pythonX.Y,
 *                        site-/dist-packages, pyvenv.cfg) is recorded as
 *                        data, not counted as noise (`mida run
 *                        --record-code`)
 *   MIDA_WORKFLOW, MIDA_CAMPAIGN   the workflow and campaign of the tasks
 *
 * and, per process, from its parent:
 *
 *   MIDA_PRELOAD_TASK    "TASK,PARENT,PID": with PID this process's own,
 *                        the task goes on across an exec; with PID 0, this
 *                        is a process that its parent's wrapper announced
 *                        (posix_spawn); with another PID the variable was
 *                        inherited through a path the library did not see
 *                        (a static program's child, system()): this
 *                        process is a new task whose parent is TASK.
 *                        With PARENT "-" and PID 0, `mida run`'s handoff
 *                        to its command, which goes on as TASK, the run's
 *                        root task. A `mida run` observed by an outer one
 *                        gives its command such a handoff, which the
 *                        outer library passes on as it is (exec.c): the
 *                        inner command is the inner run's root task, as
 *                        it would be unobserved, not a child task of the
 *                        outer library's.
 *   MIDA_PRELOAD_FDS     "fd:read:written:marks,..." descriptors an exec
 *                        kept open, with their counts so far; "scan"
 *                        after an exec in a vfork child: every one
 *   MIDA_PRELOAD_COUNTS  "PID:..." after an exec: the counters of what the
 *                        process could not record so far (counts.c)
 *
 * This process's MIDA_PRELOAD_TASK entry in environ is replaced by a static
 * buffer of fixed length that says "this task, this pid" from the start,
 * so that whatever a program spawns unseen names the right parent, and a
 * child after fork() rewrites it without allocating.
 */
#include "preload/preload.h"

#include "core/alloc.h"
#include "core/argv.h"
#include "core/buf.h"
#include "core/host.h"
#include "core/json.h"
#include "preload/real.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__thread int mida__pl_busy __attribute__((tls_model("initial-exec")));
int mida__pl_active;
mida__pl_state mida__pl;

/* The largest segments' ring. A process that appends many records (tar c
 * of 10,000 files: ~2 MiB) goes through 64 KiB, 256 KiB and then 1 MiB
 * rings: four segment files, not nine of 256 KiB, each a new inode, a
 * fallocate, a link and a mapping (10 tar c runs, the library alone:
 * ~4 ms of CPU a run less). */
#define DEFAULT_RING (1024 * 1024)
/* The first segment's ring: most processes of a command (a compiler's cc1
 * and as, a shell's children) append a few records, their begin, a few
 * dozen files and their end, and a 64 KiB ring holds ~300 of them. Making,
 * zeroing and mapping the 256 KiB of a full segment was about a fifth of
 * the library's cost of a short process; a process that appends more moves
 * on to larger segments, each ring four times the last
 * (mida__journal_open_growing). */
#define FIRST_RING MIDA_JOURNAL_MIN_RING

/* "MIDA_PRELOAD_TASK=" + id + "," + id + "," + 10-digit pid. */
static char context_entry[MIDA_PL_CTX_BYTES];

/* The journal: 0 none yet, 1 being opened, 2 open, 3 cannot be opened. */
static _Atomic int journal_state;
static mida__journal *journal;

int64_t mida__pl_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mida__pl_context_env(const mida_id_t *task, const mida_id_t *parent,
                          long pid, char *buf) {
  char t[MIDA_ID_STRLEN], p[MIDA_ID_STRLEN];
  mida_id_format(task, t);
  if (parent != NULL && !mida_id_is_nil(parent))
    mida_id_format(parent, p);
  else
    memcpy(p, "-", 2);
  snprintf(buf, MIDA_PL_CTX_BYTES, "MIDA_PRELOAD_TASK=%s,%s,%010ld", t, p,
           pid);
}

mida__journal *mida__pl_journal(void) {
  int st = atomic_load_explicit(&journal_state, memory_order_acquire);
  if (st == 2)
    return journal;
  if (st == 3)
    return NULL;
  int expect = 0;
  if (atomic_compare_exchange_strong(&journal_state, &expect, 1)) {
    char err[256];
    mida__journal *j = NULL;
    int rc = mida__journal_open_growing(
        mida__pl.spool, FIRST_RING, mida__pl.ring_bytes, MIDA_FULL_SPILL, 0,
        mida__hostname(), (int64_t)mida__pl.pid, &j, err, sizeof err);
    journal = rc == MIDA_OK ? j : NULL;
    /* `mida run` ships the sealed segments while this process runs;
     * its segments count the drops of the images before (counts.c). */
    if (journal != NULL) {
      mida__journal_set_handoff(journal);
      if (mida__pl.journal_dropped_before > 0)
        mida__journal_carry_dropped(journal, mida__pl.journal_dropped_before);
    }
    atomic_store_explicit(&journal_state, journal != NULL ? 2 : 3,
                          memory_order_release);
    return journal;
  }
  while (atomic_load_explicit(&journal_state, memory_order_acquire) == 1)
    sched_yield();
  return atomic_load(&journal_state) == 2 ? journal : NULL;
}

mida__journal *mida__pl_journal_if_open(void) {
  return atomic_load_explicit(&journal_state, memory_order_acquire) == 2
             ? journal
             : NULL;
}

/* ---- start ------------------------------------------------------------- */

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

static int parse_id(const char *text, size_t len, mida_id_t *out) {
  char buf[MIDA_ID_STRLEN];
  if (len != MIDA_ID_STRLEN - 1)
    return -1;
  memcpy(buf, text, len);
  buf[len] = '\0';
  return mida_id_parse(buf, out) == MIDA_OK ? 0 : -1;
}

const char *mida__pl_run_handoff(char *const *envp) {
  static const char name[] = "MIDA_PRELOAD_TASK=";
  static const char tail[] = ",-,0000000000";
  const size_t id_len = MIDA_ID_STRLEN - 1;
  for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
    if (strncmp(envp[i], name, sizeof name - 1) != 0)
      continue;
    const char *v = envp[i] + sizeof name - 1;
    mida_id_t id;
    return strlen(v) == id_len + sizeof tail - 1 &&
                   strcmp(v + id_len, tail) == 0 &&
                   parse_id(v, id_len, &id) == 0
               ? envp[i]
               : NULL;
  }
  return NULL;
}

/* Reads MIDA_PRELOAD_TASK (see the top of the file) into the state. */
static void read_context(void) {
  const char *ctx = getenv("MIDA_PRELOAD_TASK");
  mida_id_t task, parent;
  memset(&parent, 0, sizeof parent);
  const char *c1 = ctx != NULL ? strchr(ctx, ',') : NULL;
  const char *c2 = c1 != NULL ? strchr(c1 + 1, ',') : NULL;
  if (c2 == NULL || parse_id(ctx, (size_t)(c1 - ctx), &task) != 0) {
    /* Started by hand with LD_PRELOAD, or a context we cannot read. */
    mida__pl.task = mida_id_new();
    const char *pt = getenv("MIDA_PARENT_TASK");
    if (pt == NULL || mida_id_parse(pt, &mida__pl.parent) != MIDA_OK)
      memset(&mida__pl.parent, 0, sizeof mida__pl.parent);
    return;
  }
  if (c1[1] != '-')
    (void)parse_id(c1 + 1, (size_t)(c2 - c1 - 1), &parent);
  long pid = strtol(c2 + 1, NULL, 10);
  if (pid == (long)mida__pl.pid || pid == 0) {
    /* An exec of this process's task, or one announced by the parent;
     * with no parent, `mida run`'s own task (run_preload.c). */
    mida__pl.task = task;
    mida__pl.parent = parent;
    mida__pl.is_command = c1[1] == '-';
    /* Before anything of this image is counted. */
    if (pid != 0)
      mida__pl_counts_adopt(getenv("MIDA_PRELOAD_COUNTS"));
  } else {
    mida__pl.task = mida_id_new();
    mida__pl.parent = task;
  }
}

const char *mida__pl_activity_of(char *const *argv, const char *exe,
                                 size_t *len) {
  const char *name =
      argv != NULL && argv[0] != NULL ? base_name(argv[0]) : "";
  if (name[0] == '\0')
    name = base_name(exe);
  size_t n = strlen(name);
  *len = n < MIDA_PL_ACTIVITY ? n : MIDA_PL_ACTIVITY - 1;
  return name;
}

/* {"argv":[...],"cwd":"..."}, the program's path and its name into the
 * state. */
static void describe_process(int argc, char **argv) {
  mida__buf b;
  mida__buf_init(&b, 1 << 16);
  int rc = mida__buf_adds(&b, "{\"argv\":");
  if (rc == MIDA_OK)
    rc = mida__argv_json(&b, argc, argv);
  char cwd[PATH_MAX];
  if (rc == MIDA_OK && getcwd(cwd, sizeof cwd) != NULL) {
    rc = mida__buf_adds(&b, ",\"cwd\":");
    if (rc == MIDA_OK)
      rc = mida__json_add_string(&b, cwd, strlen(cwd));
  }
  if (rc == MIDA_OK)
    rc = mida__buf_adds(&b, "}");
  mida__pl.used_json = rc == MIDA_OK ? mida__strdup(mida__buf_str(&b)) : NULL;
  mida__buf_reset(&b);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    if (mida__json_add_string(&b, exe, (size_t)n) == MIDA_OK)
      mida__pl.exe_json = mida__strdup(mida__buf_str(&b));
  }
  mida__buf_free(&b);
  size_t len;
  const char *name =
      mida__pl_activity_of(argc > 0 ? argv : NULL, n > 0 ? exe : "", &len);
  memcpy(mida__pl.activity, name, len);
  mida__pl.activity[len] = '\0';
}

/* Every descriptor this process starts with, with no counts: what a vfork
 * child set up before its exec (MIDA_PL_FDS_SCAN). As an exec after a
 * fork hands them over: stdin, stdout and stderr whatever they are, and
 * beyond them regular files only, up to MIDA_PL_INHERIT_MAX (a pipe there,
 * make's jobserver or a multiprocessing child's, would make its readers
 * depend on whoever writes it). Returns 0 if /proc cannot say. */
static int adopt_every_descriptor(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return 0;
  int own = dirfd(d), beyond = 0;
  struct dirent *e;
  struct stat st;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end != '\0' || end == e->d_name || fd == own || fd < 0 ||
        fd >= MIDA_PL_FDS)
      continue;
    if (fd > 2 && (beyond >= MIDA_PL_INHERIT_MAX || fstat((int)fd, &st) != 0 ||
                   !S_ISREG(st.st_mode)))
      continue;
    beyond += fd > 2;
    mida__pl_track_inherited((int)fd, 0, 0);
  }
  MIDA_PL_REAL(closedir)(d);
  return 1;
}

/* The descriptors this process starts with: stdin, stdout and stderr, and
 * those an exec handed over with their counts (MIDA_PRELOAD_FDS), or all
 * of them after an exec in a vfork child. */
static void adopt_descriptors(void) {
  const char *list = getenv("MIDA_PRELOAD_FDS");
  if (list != NULL && strcmp(list, MIDA_PL_FDS_SCAN) == 0) {
    if (adopt_every_descriptor())
      return;
    list = NULL; /* no /proc: stdin, stdout and stderr as below */
  }
  int done[3] = {0, 0, 0};
  while (list != NULL && *list != '\0') {
    char *end;
    long fd = strtol(list, &end, 10);
    unsigned long long r = 0, w = 0;
    unsigned long marks = 0;
    if (*end == ':')
      r = strtoull(end + 1, &end, 10);
    if (*end == ':')
      w = strtoull(end + 1, &end, 10);
    if (*end == ':')
      marks = strtoul(end + 1, &end, 10);
    if (fd >= 0 && fd < MIDA_PL_FDS) {
      mida__pl_track_inherited((int)fd, r, w);
      mida__pl_set_marks((int)fd, (unsigned)marks);
      if (fd < 3)
        done[fd] = 1;
    }
    list = *end == ',' ? end + 1 : NULL;
  }
  for (int fd = 0; fd < 3; fd++)
    if (!done[fd])
      mida__pl_track_inherited(fd, 0, 0);
}

static void own_context_entry(void) {
  mida__pl_context_env(&mida__pl.task, &mida__pl.parent, (long)mida__pl.pid,
                       context_entry);
  putenv(context_entry);
}

static void at_exit(int code, void *arg);

/* Runs before main() (and gets argc, argv as glibc passes them to
 * initializers). */
__attribute__((constructor)) static void preload_start(int argc, char **argv,
                                                        char **envp) {
  (void)envp;
  mida__pl_exit_handlers_started();
  mida__pl_busy = 1;
  mida__pl_resolve_all();
  const char *spool = getenv("MIDA_PRELOAD_SPOOL");
  const char *off = getenv("MIDA_DISABLE");
  if (spool == NULL || spool[0] != '/' ||
      strlen(spool) >= sizeof mida__pl.spool ||
      (off != NULL && off[0] != '\0' && strcmp(off, "0") != 0)) {
    mida__pl_busy = 0;
    return;
  }
  snprintf(mida__pl.spool, sizeof mida__pl.spool, "%s", spool);
  mida__pl.pid = getpid();
  mida__pl.started_ns = mida__pl_now_ns();
  mida__pl.ring_bytes = DEFAULT_RING;
  const char *ring = getenv("MIDA_PRELOAD_RING");
  if (ring != NULL && atol(ring) >= MIDA_JOURNAL_MIN_RING)
    mida__pl.ring_bytes = (size_t)atol(ring);
  const char *wf = getenv("MIDA_WORKFLOW");
  if (wf == NULL || mida_id_parse(wf, &mida__pl.workflow) != MIDA_OK)
    memset(&mida__pl.workflow, 0, sizeof mida__pl.workflow);
  const char *camp = getenv("MIDA_CAMPAIGN");
  if (camp != NULL && camp[0] != '\0')
    mida__pl.campaign = mida_id_from_name("campaign", camp);
  Dl_info self;
  if (dladdr((void *)preload_start, &self) != 0 && self.dli_fname != NULL &&
      self.dli_fname[0] == '/')
    snprintf(mida__pl.self_path, sizeof mida__pl.self_path, "%s",
             self.dli_fname);
  const char *code = getenv("MIDA_PRELOAD_RECORD_CODE");
  mida__pl_noise_init(getenv("MIDA_PRELOAD_IGNORE"),
                      code != NULL && code[0] != '\0' &&
                          strcmp(code, "0") != 0);
  mida__pl_pipes_init(getenv("MIDA_PRELOAD_PIPES"));
  read_context();
  own_context_entry();
  describe_process(argc, argv);
  /* The journal holds no descriptor of the program's: every number, and
   * every slot under RLIMIT_NOFILE, stays the program's. */
  mida__journal_set_no_fds(true);
  mida__pl_active = 1;
  adopt_descriptors();
  on_exit(at_exit, NULL);
  mida__pl_emit_begin();
  mida__pl_busy = 0;
}

/* The end of the process: what it did with the files it still has open,
 * then its task's end. exit() gets here through on_exit(); _exit() and
 * _Exit() through their wrappers (process.c), where libc's buffers are
 * not flushed, so neither are they here (flush is 0). */
static void process_end(int code, int flush) {
  /* A vfork child calling exit() (which it must not) would end its
   * parent's task. */
  if (!mida__pl_active || mida__pl.exited || mida__pl_in_vfork_child())
    return;
  int saved = errno;
  int was_busy = mida__pl_busy;
  mida__pl_busy = 1;
  mida__pl_record_all(flush ? MIDA_PL_AT_EXIT : MIDA_PL_AT_EXEC_LOST);
  mida__pl_emit_end(code);
  mida__pl_busy = was_busy;
  errno = saved;
}

static void at_exit(int code, void *arg) {
  (void)arg;
  process_end(code, 1);
}

void mida__pl_exit_now(int code) {
  process_end(code, 0);
}

/* ---- fork -------------------------------------------------------------- */

void mida__pl_after_fork(const mida_id_t *child_task) {
  mida__pl.pid = getpid();
  mida__pl.parent = mida__pl.task;
  mida__pl.task = *child_task;
  mida__pl.started_ns = mida__pl_now_ns();
  mida__pl.begun = 0;
  mida__pl.exited = 0;
  mida__pl.is_command = 0;
  for (int c = 0; c < MIDA_PL_C_COUNT; c++)
    atomic_store_explicit(&mida__pl.counters[c], 0, memory_order_relaxed);
  atomic_store_explicit(&mida__pl.segments_made_told, 0,
                        memory_order_relaxed);
  mida__pl.segments_made_before = 0;
  mida__pl.dropped_kept = 0;
  mida__pl.dropped_given = 0;
  mida__pl.journal_dropped_before = 0;
  /* The parent's journal stays the parent's. */
  if (atomic_load_explicit(&journal_state, memory_order_acquire) == 2)
    mida__journal_forget(journal);
  journal = NULL;
  atomic_store_explicit(&journal_state, 0, memory_order_release);
  mida__pl_context_env(&mida__pl.task, &mida__pl.parent, (long)mida__pl.pid,
                       context_entry);
  mida__pl_files_reset_counts();
  mida__pl_stdio_forked();
  mida__pl_links_reset();
  mida__pl_children_reset();
}

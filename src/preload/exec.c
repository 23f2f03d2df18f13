/*
 * exec.c -- the exec family (execve, execv, execvp, execvpe, execl,
 * execlp, execle, fexecve, execveat) and posix_spawn / posix_spawnp.
 *
 * Before an exec replaces the program, what it did with files that the
 * exec closes (close-on-exec) is recorded, and the descriptors it keeps
 * are handed to the new program with their counts (MIDA_PRELOAD_FDS), and
 * so are the counters of what it could not record (MIDA_PRELOAD_COUNTS:
 * counts.c). The new program's environment carries the task on
 * (MIDA_PRELOAD_TASK = this task, this pid: state.c) and gets back
 * whatever of the library's configuration and LD_PRELOAD a program
 * removed, so that every descendant is observed. A program the library
 * cannot enter (a static or setuid binary: core/program.h) is recorded
 * now, as what the task becomes, with a note; for a program of another
 * ELF class the library is taken out of its LD_PRELOAD, so that the
 * loader prints no error into its output.
 *
 * A program the library will enter is recorded now too, as what the task
 * becomes (its activity and argv, as its own begin will repeat them: one
 * encoder, emit.c), since the process may be killed after the exec and
 * before that begin; if the exec fails, the program it still is is
 * recorded after it (the store keeps a task's last activity and argv).
 * Not so a script, whose interpreter runs with another argv.
 *
 * glibc's execl*, execv and execvp call the exec system call through
 * internal names that no wrapper sees, so each is wrapped here and turned
 * into a call of the real execve or execvpe with the new environment.
 * posix_spawn's child execs inside libc too: its task is made here, in the
 * parent, and given to the child through the environment, and recorded
 * with the program it runs once posix_spawn says the exec went through. A
 * vfork child execs in its parent's memory: exec_common then records
 * nothing itself and leaves to the parent what must be recorded, the
 * program it becomes included (vfork.c).
 */
#include "preload/preload.h"

#include "core/alloc.h"
#include "core/program.h"
#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Variables of the library's configuration, put back if a program's
 * environment lost them. */
static const char *const carried_names[] = {
    "MIDA_PRELOAD_SPOOL", "MIDA_PRELOAD_IGNORE", "MIDA_PRELOAD_PIPES",
    "MIDA_PRELOAD_RING",  "MIDA_WORKFLOW",       "MIDA_CAMPAIGN",
    "MIDA_STORE",         "MIDA_SPOOL",          "MIDA_PRELOAD_RECORD_CODE",
};
#define CARRIED (sizeof carried_names / sizeof carried_names[0])

/* Variables this library sets for each new program: dropped from the
 * environment given, then set anew. */
static int is_own_variable(const char *entry) {
  return strncmp(entry, "MIDA_PRELOAD_TASK=", 18) == 0 ||
         strncmp(entry, "MIDA_PRELOAD_FDS=", 17) == 0 ||
         strncmp(entry, "MIDA_PRELOAD_COUNTS=", 20) == 0;
}

static int has_name(char *const *envp, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
    if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
      return 1;
  return 0;
}

/* Whether self is one of the ':' or ' ' separated names of value: where
 * it starts, or NULL. */
static const char *find_name(const char *value, const char *self) {
  size_t slen = strlen(self);
  for (const char *p = value; (p = strstr(p, self)) != NULL; p += slen) {
    int starts = p == value || p[-1] == ':' || p[-1] == ' ';
    int ends = p[slen] == '\0' || p[slen] == ':' || p[slen] == ' ';
    if (starts && ends)
      return p;
  }
  return NULL;
}

/* Copies the n bytes at s to *w and moves *w past them. */
static void put(char **w, const char *s, size_t n) {
  memcpy(*w, s, n);
  *w += n;
}

/* The value of LD_PRELOAD for a new program, into w (which has room for
 * the old value and this library's path, plus 2): the old one with this
 * library added (observable) or taken out (foreign). */
static void preload_value(char **w, const char *old, int observable) {
  const char *self = mida__pl.self_path;
  size_t slen = strlen(self), olen = strlen(old);
  const char *at = slen > 0 ? find_name(old, self) : NULL;
  if (slen == 0 || (observable && at != NULL) ||
      (!observable && at == NULL)) {
    put(w, old, olen);
  } else if (observable) {
    put(w, old, olen);
    if (olen > 0)
      put(w, ":", 1);
    put(w, self, slen);
  } else {
    put(w, old, (size_t)(at - old));
    const char *rest = at + slen;
    if (*rest == ':' || *rest == ' ')
      rest++;
    put(w, rest, strlen(rest));
  }
}

/* The environment of a new program: envp without this library's per-
 * program variables, with MIDA_PRELOAD_TASK = context, (if any)
 * MIDA_PRELOAD_FDS = fds and the entry counts (an exec of this process:
 * counts.c; NULL or "" for none), the configuration put back, and
 * LD_PRELOAD fixed. One heap block (array and strings) to free with
 * mida__free, or NULL when out of memory (the exec then goes on with
 * envp as it is). With carry (NULL: none), a copy of that program
 * description goes into the block after the strings, and *copy says where
 * (a vfork child's for its parent, which its own stack would not
 * outlive). */
static char **new_environment(char *const *envp, const char *context,
                              const char *fds, const char *counts,
                              int observable,
                              const mida__pl_program *carry,
                              mida__pl_program *copy) {
  static const char fds_name[] = "MIDA_PRELOAD_FDS=";
  static const char preload_name[] = "LD_PRELOAD=";
  size_t count = 0, bytes = 0;
  const char *old_preload = "";
  for (; envp != NULL && envp[count] != NULL; count++)
    if (strncmp(envp[count], preload_name, 11) == 0)
      old_preload = envp[count] + 11;
  const char *carried[CARRIED];
  size_t ncarried = 0;
  for (size_t i = 0; i < CARRIED; i++) {
    const char *v = getenv(carried_names[i]);
    if (v != NULL && !has_name(envp, carried_names[i])) {
      carried[ncarried++] = carried_names[i];
      bytes += strlen(carried_names[i]) + 1 + strlen(v) + 1;
    }
  }
  bytes += strlen(context) + 1;
  if (fds != NULL && fds[0] != '\0')
    bytes += sizeof fds_name + strlen(fds);
  if (counts != NULL && counts[0] != '\0')
    bytes += strlen(counts) + 1;
  bytes += sizeof preload_name + strlen(old_preload) +
           strlen(mida__pl.self_path) + 2;
  if (carry != NULL)
    bytes += carry->len + 1 + (carry->used ? strlen(carry->used) + 1 : 0);
  size_t slots = count + ncarried + 5;
  char **out = mida__malloc(slots * sizeof(char *) + bytes);
  if (out == NULL)
    return NULL;
  char *w = (char *)(out + slots);
  size_t n = 0;
  for (size_t i = 0; i < count; i++)
    if (!is_own_variable(envp[i]) &&
        strncmp(envp[i], preload_name, 11) != 0)
      out[n++] = envp[i];
  for (size_t i = 0; i < ncarried; i++) {
    out[n++] = w;
    put(&w, carried[i], strlen(carried[i]));
    put(&w, "=", 1);
    const char *v = getenv(carried[i]);
    put(&w, v, strlen(v) + 1);
  }
  out[n++] = w;
  put(&w, context, strlen(context) + 1);
  if (fds != NULL && fds[0] != '\0') {
    out[n++] = w;
    put(&w, fds_name, sizeof fds_name - 1);
    put(&w, fds, strlen(fds) + 1);
  }
  if (counts != NULL && counts[0] != '\0') {
    out[n++] = w;
    put(&w, counts, strlen(counts) + 1);
  }
  char *entry = w;
  put(&w, preload_name, sizeof preload_name - 1);
  char *value = w;
  preload_value(&w, old_preload, observable);
  put(&w, "", 1);
  if (value[0] != '\0')
    out[n++] = entry;
  out[n] = NULL;
  if (carry != NULL) {
    copy->activity = w;
    copy->len = carry->len;
    put(&w, carry->activity, carry->len);
    put(&w, "", 1);
    copy->used = NULL;
    if (carry->used != NULL) {
      copy->used = w;
      put(&w, carry->used, strlen(carry->used) + 1);
    }
  }
  return out;
}

/* The program a name without '/' runs: the first executable in $PATH (the
 * caller's, as execvp searches it), into buf; else name itself. */
static const char *search_path(const char *name, char *buf, size_t cap) {
  if (strchr(name, '/') != NULL)
    return name;
  const char *path = getenv("PATH");
  if (path == NULL)
    path = "/bin:/usr/bin";
  while (*path != '\0') {
    const char *end = strchr(path, ':');
    size_t dl = end != NULL ? (size_t)(end - path) : strlen(path);
    int n = snprintf(buf, cap, "%.*s%s%s", (int)dl, path, dl > 0 ? "/" : "",
                     name);
    if (n > 0 && (size_t)n < cap && access(buf, X_OK) == 0)
      return buf;
    if (end == NULL)
      break;
    path = end + 1;
  }
  return name;
}

/* What an exec of program (argv), of that kind, must do first; returns
 * whether the library will observe it. became: what the program will say
 * it is, for one the library will observe, else nothing (activity NULL). */
static int before_exec(const char *program, char *const argv[],
                       mida__program_kind kind,
                       const mida__pl_program *became, char *context,
                       char *fds, size_t fds_cap) {
  const char *note = mida__program_kind_note(kind);
  mida__pl_context_env(&mida__pl.task, &mida__pl.parent, (long)getpid(),
                       context);
  fds[0] = '\0';
  if (note != NULL) {
    /* Nothing of the new program will be seen: record all now. */
    mida__pl_count(MIDA_PL_C_UNOBSERVED);
    mida__pl_record_all(MIDA_PL_AT_EXEC_LOST);
    mida__pl_emit_unobserved_exec(note, program, argv);
    mida__pl_emit_counters();
  } else {
    mida__pl_record_all(MIDA_PL_AT_EXEC);
    mida__pl_emit_counters();
    mida__pl_files_inheritable(fds, fds_cap);
    /* Said now, not only by the new program's begin: a process killed
     * after the exec and before that begin (SIGKILL from a shell's `kill
     * -9 $!`) still says what it ran. The begin repeats it. */
    if (became->activity != NULL)
      mida__pl_emit_exec_intent(became);
  }
  /* The program to come says what the task is, not the parent's reaping
   * (process.c): set after the records above, so that a process killed
   * before them is still this program to its parent. */
  mida__pl_exec_noted(1);
  return kind != MIDA_PROGRAM_FOREIGN;
}

/* What an exec in a vfork child must do first (vfork.c): nothing that
 * changes the parent's state it runs in. The new program gets the task
 * its parent made, and adopts the descriptors it starts with (state.c,
 * adopt_every_descriptor), since the child's own opens and redirections
 * went straight to libc. Returns, as before_exec, whether the library
 * will observe it; *note, for a program it cannot enter. */
static int before_exec_in_vfork_child(mida__program_kind kind, char *context,
                                      char *fds, size_t fds_cap,
                                      const char **note) {
  *note = mida__program_kind_note(kind);
  mida__pl_vfork_child_context(context);
  snprintf(fds, fds_cap, "%s", MIDA_PL_FDS_SCAN);
  return kind != MIDA_PROGRAM_FOREIGN;
}

enum exec_how { BY_PATH, BY_SEARCH, BY_FD, BY_AT };

/* Runs an exec the way `how` says, with this library's environment;
 * vforked: in a vfork child (the wrapper could not enter). */
static int exec_common(enum exec_how how, int dirfd, const char *path,
                       char *const argv[], char *const envp[], int at_flags,
                       int vforked) {
  char program[PATH_MAX];
  const char *checked = path;
  if (how == BY_SEARCH)
    checked = search_path(path, program, sizeof program);
  else if (how == BY_FD) {
    snprintf(program, sizeof program, "/proc/self/fd/%d", dirfd);
    checked = program;
  } else if (how == BY_AT) {
    if (path[0] == '\0' && (at_flags & AT_EMPTY_PATH) != 0)
      snprintf(program, sizeof program, "/proc/self/fd/%d", dirfd);
    else if (mida__pl_abspath(dirfd, path, program) != 0)
      snprintf(program, sizeof program, "%s", path);
    checked = program;
  }
  char context[MIDA_PL_CTX_BYTES];
  char fds[2048];
  int saved = errno;
  mida__program_kind kind = mida__program_kind_of(checked);
  /* What a program the library will enter is going to say it is: the
   * interpreter of a script says another argv, and a program that cannot
   * be read may be anything, so neither is said before it runs. */
  char used[MIDA_PL_EXEC_USED];
  mida__pl_program became = {NULL, 0, NULL};
  if (kind == MIDA_PROGRAM_OBSERVABLE)
    mida__pl_program_of(&became, argv, checked, used, sizeof used);
  const char *note = NULL;
  char **env;
  if (vforked) {
    /* The parent records it: the child's stack is gone by then. */
    mida__pl_program kept = {NULL, 0, NULL};
    int observable =
        before_exec_in_vfork_child(kind, context, fds, sizeof fds, &note);
    env = new_environment(envp, context, fds, NULL, observable,
                          became.activity != NULL ? &became : NULL, &kept);
    /* the parent frees env, and records the note or what the child
     * became */
    mida__pl_vfork_child_exec(env, note, checked, argv, &kept);
  } else {
    int observable = before_exec(checked, argv, kind, &became, context, fds,
                                 sizeof fds);
    /* The new image goes on from this one's counts (counts.c), taken
     * after before_exec's records, whose drops they include. */
    char counts[MIDA_PL_COUNTS_BYTES];
    mida__pl_counts_entry(counts);
    env = new_environment(envp, context, fds, counts, observable, NULL,
                          NULL);
  }
  char *const *use = env != NULL ? env : envp;
  errno = saved;
  int rc;
  switch (how) {
  case BY_SEARCH:
    rc = MIDA_PL_REAL(execvpe)(path, argv, use);
    break;
  case BY_FD:
    rc = MIDA_PL_REAL(fexecve)(dirfd, argv, use);
    break;
  case BY_AT:
    rc = MIDA_PL_REAL(execveat)
             ? MIDA_PL_REAL(execveat)(dirfd, path, argv, use, at_flags)
             : (errno = ENOSYS, -1);
    break;
  default:
    rc = MIDA_PL_REAL(execve)(path, argv, use);
    break;
  }
  saved = errno;
  if (vforked) {
    mida__pl_vfork_forget_exec();
  } else {
    mida__free(env);
    /* Taken back before the parent may record the child as this program
     * again (process.c). */
    if (became.activity != NULL)
      mida__pl_emit_exec_failed();
    mida__pl_exec_noted(0);
  }
  errno = saved;
  return rc; /* the exec failed: the program goes on as it was */
}

/* The wrappers: without the library active, the real call. */

MIDA_PL_EXPORT int execve(const char *path, char *const argv[],
                          char *const envp[]) {
  if (!mida__pl_enter())
    return mida__pl_in_vfork_child()
               ? exec_common(BY_PATH, AT_FDCWD, path, argv, envp, 0, 1)
               : MIDA_PL_REAL(execve)(path, argv, envp);
  int rc = exec_common(BY_PATH, AT_FDCWD, path, argv, envp, 0, 0);
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int execv(const char *path, char *const argv[]) {
  return execve(path, argv, environ);
}

MIDA_PL_EXPORT int execvpe(const char *file, char *const argv[],
                           char *const envp[]) {
  if (!mida__pl_enter())
    return mida__pl_in_vfork_child()
               ? exec_common(BY_SEARCH, AT_FDCWD, file, argv, envp, 0, 1)
               : MIDA_PL_REAL(execvpe)(file, argv, envp);
  int rc = exec_common(BY_SEARCH, AT_FDCWD, file, argv, envp, 0, 0);
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int execvp(const char *file, char *const argv[]) {
  return execvpe(file, argv, environ);
}

MIDA_PL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
  if (!mida__pl_enter())
    return mida__pl_in_vfork_child()
               ? exec_common(BY_FD, fd, "", argv, envp, 0, 1)
               : MIDA_PL_REAL(fexecve)(fd, argv, envp);
  int rc = exec_common(BY_FD, fd, "", argv, envp, 0, 0);
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int execveat(int dirfd, const char *path, char *const argv[],
                            char *const envp[], int flags) {
  if (!mida__pl_enter()) {
    if (mida__pl_in_vfork_child())
      return exec_common(BY_AT, dirfd, path, argv, envp, flags, 1);
    if (MIDA_PL_REAL(execveat) == NULL) {
      errno = ENOSYS;
      return -1;
    }
    return MIDA_PL_REAL(execveat)(dirfd, path, argv, envp, flags);
  }
  int rc = exec_common(BY_AT, dirfd, path, argv, envp, flags, 0);
  mida__pl_leave();
  return rc;
}

/* The arguments of an execl-style call as an array (heap), or NULL. */
static char **collect_args(const char *arg0, va_list ap, char ***envp) {
  va_list count;
  va_copy(count, ap);
  size_t n = 1;
  while (va_arg(count, const char *) != NULL)
    n++;
  va_end(count);
  char **argv = mida__malloc((n + 1) * sizeof(char *));
  if (argv == NULL)
    return NULL;
  argv[0] = (char *)arg0;
  for (size_t i = 1; i <= n; i++)
    argv[i] = va_arg(ap, char *); /* the last one read is the NULL */
  if (envp != NULL)
    *envp = va_arg(ap, char **);
  return argv;
}

/* Runs call(path, argv, envp) on the arguments collect_args() made, and
 * frees them if it returns (the exec failed), keeping its errno. */
static int exec_collected(int (*call)(const char *, char *const[],
                                      char *const[]),
                          const char *path, char **argv, char **envp) {
  if (argv == NULL) {
    errno = ENOMEM;
    return -1;
  }
  int rc = call(path, argv, envp);
  int saved = errno;
  mida__free(argv);
  errno = saved;
  return rc;
}

MIDA_PL_EXPORT int execl(const char *path, const char *arg0, ...) {
  va_list ap;
  va_start(ap, arg0);
  char **argv = collect_args(arg0, ap, NULL);
  va_end(ap);
  return exec_collected(execve, path, argv, environ);
}

MIDA_PL_EXPORT int execlp(const char *file, const char *arg0, ...) {
  va_list ap;
  va_start(ap, arg0);
  char **argv = collect_args(arg0, ap, NULL);
  va_end(ap);
  return exec_collected(execvpe, file, argv, environ);
}

MIDA_PL_EXPORT int execle(const char *path, const char *arg0, ...) {
  va_list ap;
  va_start(ap, arg0);
  char **envp = NULL;
  char **argv = collect_args(arg0, ap, &envp);
  va_end(ap);
  return exec_collected(execve, path, argv, envp);
}

/* ---- posix_spawn ------------------------------------------------------- */

typedef int (*spawn_fn)(pid_t *, const char *,
                        const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[],
                        char *const[]);

/* A `mida run` observed here starting its command (mida__pl_run_handoff):
 * the command goes on as that run's root task, which the run records (its
 * start, its end from wait4), so nothing is recorded here; the handoff and
 * the run's own configuration (its spool: its collector ships the
 * command's journals) are passed on as given, LD_PRELOAD kept whole. The
 * rest of what this library does at a spawn is for a child task of its
 * own, which this is not. Keeps errno as the spawn leaves it. */
static int spawn_handed_off(spawn_fn real, pid_t *pid, const char *path,
                            const posix_spawn_file_actions_t *actions,
                            const posix_spawnattr_t *attr,
                            char *const argv[], char *const envp[],
                            const char *handoff, mida__program_kind kind) {
  char **env = new_environment(envp, handoff, NULL, NULL,
                               kind != MIDA_PROGRAM_FOREIGN, NULL, NULL);
  int rc = real(pid, path, actions, attr, argv, env != NULL ? env : envp);
  int saved = errno;
  mida__free(env);
  errno = saved;
  return rc;
}

static int spawn_common(spawn_fn real, int search, pid_t *pid,
                        const char *path,
                        const posix_spawn_file_actions_t *actions,
                        const posix_spawnattr_t *attr, char *const argv[],
                        char *const envp[]) {
  if (!mida__pl_enter())
    return real(pid, path, actions, attr, argv, envp);
  int saved = errno;
  char program[PATH_MAX];
  const char *checked =
      search ? search_path(path, program, sizeof program) : path;
  mida__program_kind kind = mida__program_kind_of(checked);
  const char *handoff = mida__pl_run_handoff(envp);
  if (handoff != NULL) {
    errno = saved;
    int rc = spawn_handed_off(real, pid, path, actions, attr, argv, envp,
                              handoff, kind);
    mida__pl_leave();
    return rc;
  }
  const char *note = mida__program_kind_note(kind);
  /* What the child became, said with its task: it may be killed before it
   * says so itself (exec.c's exec_common says why not for a script). */
  char used[MIDA_PL_EXEC_USED];
  mida__pl_program became = {NULL, 0, NULL};
  if (kind == MIDA_PROGRAM_OBSERVABLE)
    mida__pl_program_of(&became, argv, checked, used, sizeof used);
  mida_id_t child = mida_id_new();
  int64_t started = mida__pl_now_ns();
  char context[MIDA_PL_CTX_BYTES];
  mida__pl_context_env(&child, &mida__pl.task, 0, context);
  char **env = new_environment(envp, context, NULL, NULL,
                               kind != MIDA_PROGRAM_FOREIGN, NULL, NULL);
  pid_t got = 0;
  errno = saved;
  int rc = real(&got, path, actions, attr, argv, env != NULL ? env : envp);
  saved = errno;
  if (rc == 0) {
    if (pid != NULL)
      *pid = got;
    char *note_used = NULL;
    if (note != NULL) {
      mida__pl_count(MIDA_PL_C_UNOBSERVED);
      note_used = mida__pl_argv_used(argv);
      became.activity = mida__pl_activity_of(NULL, checked, &became.len);
      became.used = note_used;
    }
    mida__pl_emit_child(&child, got, started, note, checked, &became, 0);
    mida__free(note_used);
    mida__pl_child_add(got, &child, note != NULL);
  }
  mida__free(env);
  errno = saved;
  mida__pl_leave();
  return rc;
}

MIDA_PL_EXPORT int posix_spawn(pid_t *pid, const char *path,
                               const posix_spawn_file_actions_t *actions,
                               const posix_spawnattr_t *attr,
                               char *const argv[], char *const envp[]) {
  return spawn_common(MIDA_PL_REAL(posix_spawn), 0, pid, path, actions, attr,
                      argv, envp);
}

MIDA_PL_EXPORT int posix_spawnp(pid_t *pid, const char *file,
                                const posix_spawn_file_actions_t *actions,
                                const posix_spawnattr_t *attr,
                                char *const argv[], char *const envp[]) {
  return spawn_common(MIDA_PL_REAL(posix_spawnp), 1, pid, file, actions,
                      attr, argv, envp);
}

/*
 * process.c -- processes: fork, the wait family, and _exit.
 *
 * fork() makes the child's task id in the parent, before the fork, so that
 * both know it: the parent records the child (parent task, pid, start) and
 * remembers its pid, and the child takes the id as its own (state.c). When
 * the parent reaps the child (wait, waitpid, wait3, wait4, waitid), it
 * records the child's exit status or the signal that killed it: the one
 * record a process killed by SIGKILL cannot make itself.
 *
 * vfork() stays a vfork, with the child's task made by the parent in the
 * same way (vfork.c); where it cannot, it is this fork(), as POSIX allows.
 *
 * The normal exit of a process is seen by an on_exit() handler (state.c);
 * _exit() and _Exit() end without it, so they are wrapped.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>


/* ---- children awaited -------------------------------------------------- */

typedef struct child {
  _Atomic pid_t pid; /* 0: free */
  mida_id_t task;    /* its task */
} child;

static child children[MIDA_PL_CHILDREN];

void mida__pl_child_add(pid_t pid, const mida_id_t *task, int unobserved) {
  (void)unobserved;
  for (int i = 0; i < MIDA_PL_CHILDREN; i++) {
    pid_t expect = 0;
    if (atomic_load_explicit(&children[i].pid, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(&children[i].pid, &expect, -1)) {
      children[i].task = *task;
      atomic_store_explicit(&children[i].pid, pid, memory_order_release);
      return;
    }
  }
  /* Full: this child's end is recorded by itself only. */
}

void mida__pl_children_reset(void) {
  for (int i = 0; i < MIDA_PL_CHILDREN; i++)
    atomic_store_explicit(&children[i].pid, 0, memory_order_relaxed);
}

/* A child pid was reaped with status (keep: WNOWAIT, it stays awaited). */
static void reaped(pid_t pid, int status, int keep) {
  if (!(WIFEXITED(status) || WIFSIGNALED(status)))
    return;
  for (int i = 0; i < MIDA_PL_CHILDREN; i++) {
    if (atomic_load_explicit(&children[i].pid, memory_order_acquire) != pid)
      continue;
    mida_id_t task = children[i].task;
    if (!keep)
      atomic_store_explicit(&children[i].pid, 0, memory_order_release);
    mida__pl_emit_reaped(&task, status, 1);
    return;
  }
}

/* After a wait call returned pid with status. */
static pid_t waited(pid_t pid, const int *status, int options) {
  if (pid > 0 && status != NULL && mida__pl_enter()) {
    int saved = errno;
    reaped(pid, *status, (options & WNOWAIT) != 0);
    errno = saved;
    mida__pl_leave();
  }
  return pid;
}

MIDA_PL_EXPORT pid_t wait(int *status) {
  int st = 0;
  pid_t r = MIDA_PL_REAL(wait)(&st);
  if (r > 0 && status != NULL)
    *status = st;
  return waited(r, &st, 0);
}

MIDA_PL_EXPORT pid_t waitpid(pid_t pid, int *status, int options) {
  int st = 0;
  pid_t r = MIDA_PL_REAL(waitpid)(pid, &st, options);
  if (r > 0 && status != NULL)
    *status = st;
  return waited(r, &st, options);
}

MIDA_PL_EXPORT pid_t wait3(int *status, int options, struct rusage *ru) {
  int st = 0;
  pid_t r = MIDA_PL_REAL(wait3)(&st, options, ru);
  if (r > 0 && status != NULL)
    *status = st;
  return waited(r, &st, options);
}

MIDA_PL_EXPORT pid_t wait4(pid_t pid, int *status, int options,
                           struct rusage *ru) {
  int st = 0;
  pid_t r = MIDA_PL_REAL(wait4)(pid, &st, options, ru);
  if (r > 0 && status != NULL)
    *status = st;
  return waited(r, &st, options);
}

MIDA_PL_EXPORT int waitid(idtype_t type, id_t id, siginfo_t *info,
                          int options) {
  siginfo_t local;
  siginfo_t *use = info != NULL ? info : &local;
  memset(use, 0, sizeof *use);
  int rc = MIDA_PL_REAL(waitid)(type, id, use, options);
  if (rc != 0 || use->si_pid <= 0)
    return rc;
  int status;
  if (use->si_code == CLD_EXITED)
    status = (use->si_status & 0xff) << 8;
  else if (use->si_code == CLD_KILLED || use->si_code == CLD_DUMPED)
    status = use->si_status & 0x7f;
  else
    return rc;
  waited(use->si_pid, &status, options);
  return rc;
}

/* ---- fork -------------------------------------------------------------- */

pid_t mida__pl_fork_observed(void) {
  pid_t (*real)(void) = MIDA_PL_REAL(fork);
  if (!mida__pl_enter())
    return real();
  int saved = errno;
  mida_id_t task = mida_id_new();
  int64_t started = mida__pl_now_ns();
  errno = saved;
  pid_t pid = real();
  saved = errno;
  if (pid == 0) {
    mida__pl_after_fork(&task);
  } else if (pid > 0) {
    mida__pl_emit_child(&task, pid, started, NULL, NULL, NULL);
    mida__pl_child_add(pid, &task, 0);
  }
  errno = saved;
  mida__pl_leave();
  return pid;
}

MIDA_PL_EXPORT pid_t fork(void) {
  return mida__pl_fork_observed();
}

/* ---- _exit ------------------------------------------------------------- */

static void exiting(int code) {
  if (mida__pl_enter()) {
    mida__pl_exit_now(code);
    mida__pl_leave();
  }
}

MIDA_PL_EXPORT void _exit(int code) {
  exiting(code);
  MIDA_PL_REAL(_exit)(code);
  __builtin_unreachable();
}

MIDA_PL_EXPORT void _Exit(int code) {
  exiting(code);
  MIDA_PL_REAL(_Exit)(code);
  __builtin_unreachable();
}

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
 * A forked child that is killed before it records anything (`sleep 10 &
 * kill -9 $!` in bash: the child is killed before its exec) would be a
 * task with an end and nothing else. Its parent knows what it was -- a
 * copy of itself, unless it exec'd -- but not whether it exec'd: the
 * program it became recorded its own begin, whose activity and argv the
 * parent must not overwrite (a store applies records in any order). So
 * each forked child has a byte in a page its parent shares with its
 * children (MAP_SHARED, made at the parent's first fork), which the child
 * sets just before an exec (and clears again if the exec fails). Reaping
 * a child killed by a signal whose byte is clear, the parent records it
 * as running the parent's program, as its own first record would have.
 *
 * The normal exit of a process is seen by an on_exit() handler (state.c);
 * _exit() and _Exit() end without it, so they are wrapped.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>


/* ---- children awaited -------------------------------------------------- */

typedef struct child {
  _Atomic pid_t pid; /* 0: free; -1: taken, its pid not known yet */
  mida_id_t task;    /* its task */
} child;

/* The children, and beside them (on a page a child writes anyway, in
 * mida__pl_children_reset) what a fork changes in the child. */
static struct {
  child list[MIDA_PL_CHILDREN];
  /* The page shared with this process's forked children: byte i is 0
   * from the fork of the child in list[i] until it execs (1 then, and
   * for a child not made by fork). NULL until the first fork (or if it
   * could not be made); a child starts without one. */
  _Atomic(_Atomic uint8_t *) execd;
  /* In a forked child: its byte in its parent's page, or NULL. */
  _Atomic uint8_t *my_execd;
} kids;

/* Takes a free slot of kids.list (pid -1); -1 if none is free. */
static int child_take(void) {
  for (int i = 0; i < MIDA_PL_CHILDREN; i++) {
    pid_t expect = 0;
    if (atomic_load_explicit(&kids.list[i].pid, memory_order_relaxed) == 0 &&
        atomic_compare_exchange_strong(&kids.list[i].pid, &expect, -1))
      return i;
  }
  return -1; /* full: such a child's end is recorded by itself only */
}

/* Gives slot i (taken) the child pid running task, or frees it (pid not
 * above 0: no child was made). */
static void child_set(int i, pid_t pid, const mida_id_t *task) {
  if (i < 0)
    return;
  if (pid <= 0) {
    atomic_store_explicit(&kids.list[i].pid, 0, memory_order_release);
    return;
  }
  kids.list[i].task = *task;
  atomic_store_explicit(&kids.list[i].pid, pid, memory_order_release);
}

void mida__pl_child_add(pid_t pid, const mida_id_t *task, int unobserved) {
  (void)unobserved;
  int i = child_take();
  /* Not made by fork: its parent never records it as this program. */
  _Atomic uint8_t *page = atomic_load_explicit(&kids.execd,
                                               memory_order_acquire);
  if (i >= 0 && page != NULL)
    atomic_store_explicit(&page[i], 1, memory_order_relaxed);
  child_set(i, pid, task);
}

void mida__pl_children_reset(void) {
  for (int i = 0; i < MIDA_PL_CHILDREN; i++)
    atomic_store_explicit(&kids.list[i].pid, 0, memory_order_relaxed);
}

/* This process's page of execd, made now if it has none (NULL if it
 * cannot be). */
static _Atomic uint8_t *execd_page(void) {
  _Atomic uint8_t *page =
      atomic_load_explicit(&kids.execd, memory_order_acquire);
  if (page != NULL)
    return page;
  void *made = MIDA_PL_REAL(mmap)(NULL, MIDA_PL_CHILDREN,
                                   PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (made == MAP_FAILED)
    return NULL;
  memset(made, 1, MIDA_PL_CHILDREN); /* the children made so far */
  _Atomic uint8_t *expect = NULL;
  if (!atomic_compare_exchange_strong(&kids.execd, &expect,
                                      (_Atomic uint8_t *)made)) {
    munmap(made, MIDA_PL_CHILDREN); /* another thread's fork made one */
    return expect;
  }
  return (_Atomic uint8_t *)made;
}

void mida__pl_exec_noted(int execing) {
  if (kids.my_execd != NULL)
    atomic_store_explicit(kids.my_execd, (uint8_t)(execing != 0),
                          memory_order_release);
}

/* A child pid was reaped with status (keep: WNOWAIT, it stays awaited). */
static void reaped(pid_t pid, int status, int keep) {
  if (!(WIFEXITED(status) || WIFSIGNALED(status)))
    return;
  for (int i = 0; i < MIDA_PL_CHILDREN; i++) {
    if (atomic_load_explicit(&kids.list[i].pid, memory_order_acquire) != pid)
      continue;
    mida_id_t task = kids.list[i].task;
    /* Killed before its exec, it may have recorded nothing: it ran this
     * program. One that exits recorded its begin itself. */
    _Atomic uint8_t *page =
        atomic_load_explicit(&kids.execd, memory_order_acquire);
    int this_program =
        WIFSIGNALED(status) && page != NULL &&
        atomic_load_explicit(&page[i], memory_order_acquire) == 0;
    if (!keep)
      atomic_store_explicit(&kids.list[i].pid, 0, memory_order_release);
    mida__pl_emit_reaped(&task, status, this_program);
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
  int slot = child_take();
  _Atomic uint8_t *page = slot >= 0 ? execd_page() : NULL;
  if (page != NULL)
    atomic_store_explicit(&page[slot], 0, memory_order_relaxed);
  errno = saved;
  pid_t pid = real();
  saved = errno;
  if (pid == 0) {
    /* The parent's page stays mapped here, this byte the child's. */
    kids.my_execd = page != NULL ? &page[slot] : NULL;
    atomic_store_explicit(&kids.execd, NULL, memory_order_relaxed);
    mida__pl_after_fork(&task);
  } else {
    if (pid > 0)
      mida__pl_emit_child(&task, pid, started, NULL, NULL, NULL, 0);
    child_set(slot, pid, &task);
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

/*
 * vfork.c -- vfork() kept a vfork.
 *
 * Debian's /bin/sh (dash) starts every command of a script, or of a
 * recipe make hands to it, with vfork(), and gcc starts cc1 and as so.
 * Made a fork() (as it was), each such child copied its parent's page
 * tables and took a page fault for each page the parent or the child wrote
 * before the exec: dash looping over /bin/true under the library, 111 ->
 * 48 page faults and 518 -> 347 us added a command (the spool on a tmpfs,
 * 2026-12-03).
 *
 * A vfork child runs in its parent's memory, on its parent's stack and
 * thread, until it execs or _exits; the parent's thread waits until then.
 * So:
 *
 * - vfork itself (x86-64 here) is a stub that calls the real vfork with
 *   the caller's return address in a register, as glibc's own vfork does,
 *   never in a frame of its own: the child returns straight to the caller,
 *   and whatever the child's calls write on the stack cannot touch it;
 * - before the real call, mida__pl_vfork_begin (on the parent's thread)
 *   makes the child's task id, notes when it started, and leaves the
 *   thread's guard (mida__pl_busy) set: every wrapper the child calls goes
 *   straight to libc, so the child changes nothing of its parent's state
 *   (tracked files, counts, journal);
 * - an exec in the child (exec.c, before_exec_in_vfork_child) gives the new
 *   program its task the way posix_spawn does ("TASK,PARENT,0": announced
 *   by the parent) and asks it to adopt the descriptors it starts with
 *   (MIDA_PRELOAD_FDS=scan, state.c), since the child's own redirections
 *   (`cmd > out`, `3> log`) went unseen; a program the library cannot
 *   enter is noted here for the parent to record;
 * - back in the parent, mida__pl_vfork_end records the child (its task,
 *   pid, start; the parent's program as its activity if it never exec'd,
 *   the program it exec'd -- activity and argv, which the child left in
 *   the block of its environment, as that program's begin will say them,
 *   since the child may be killed before it begins -- or the note of a
 *   program the library cannot enter), remembers it for the wait that
 *   reaps it, frees what the child allocated, and clears the guard. The
 *   parent runs again only once the child's exec went through (or the
 *   child ended), so nothing needs taking back.
 *
 * Where the stub cannot be used -- another architecture, or a shadow stack
 * in use (the child and then the parent return through one shadow stack,
 * which glibc's vfork allows for and this stub does not) -- vfork() is
 * fork(), as POSIX allows (process.c).
 */
#include "preload/preload.h"

#include "core/alloc.h"
#include "preload/real.h"

#include <errno.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer's (libasan exports it; its own vfork interceptor calls
 * it): clears the stack's shadow below sp. */
void __asan_handle_vfork(void *sp);
#endif

/* The vfork in progress on this thread (parent and child share it). */
typedef struct vfork_state {
  int on;           /* between vfork_begin and vfork_end */
  pid_t parent_pid; /* the parent's pid: another pid here is the child */
  mida_id_t task;   /* the child's task */
  int64_t started;  /* when the child started */
  int exec_tried;   /* set by the child just before its exec */
  char **env;       /* the child's exec environment (heap), or NULL */
  const char *note; /* set by the child: it execs a program the library
                       cannot enter (core/program.h) */
  char *program;    /* then its path, and */
  char *used;       /* its {"argv":[...]} (heap), or NULL */
  mida__pl_program became; /* set by the child: what a program the
                              library will enter is to say it is (in env),
                              or activity NULL */
} vfork_state;

static __thread vfork_state vf __attribute__((tls_model("initial-exec")));

/* Whether a shadow stack guards this thread's returns: rdsspq reads its
 * pointer, 0 without one (on a CPU without shadow stacks the instruction
 * is a no-op, written as bytes for assemblers that do not know it). */
static int shadow_stack_on(void) {
#if defined(__x86_64__)
  unsigned long long ssp = 0;
  __asm__ volatile(".byte 0xf3, 0x48, 0x0f, 0x1e, 0xc8" /* rdsspq %rax */
                   : "+a"(ssp));
  return ssp != 0;
#else
  return 1;
#endif
}

/* Called by the stub before the real vfork: the function the stub calls
 * (the real vfork), or NULL for fork() instead. */
__attribute__((visibility("hidden"), used)) void *mida__pl_vfork_begin(void) {
  int saved = errno;
  void *real = NULL;
  pid_t (*fn)(void) = MIDA_PL_REAL(vfork);
  if (fn != NULL && !shadow_stack_on())
    __builtin_memcpy(&real, &fn, sizeof real);
  if (real != NULL && mida__pl_enter()) {
    /* Left set until vfork_end: the child's calls go straight to libc. */
    vf.on = 1;
    vf.parent_pid = mida__pl.pid;
    vf.task = mida_id_new();
    vf.started = mida__pl_now_ns();
    vf.exec_tried = 0;
    vf.env = NULL;
    vf.note = NULL;
    vf.program = NULL;
    vf.used = NULL;
    vf.became = (mida__pl_program){NULL, 0, NULL};
  }
  errno = saved;
  return real;
}

/* Called by the stub in the parent once the child exec'd or ended (pid),
 * or the vfork failed (-1). A child's own vfork (after which the child
 * would find its parent's state here) changes nothing. */
__attribute__((visibility("hidden"), used)) void mida__pl_vfork_end(pid_t pid) {
  if (!vf.on || getpid() != vf.parent_pid)
    return;
#if defined(__SANITIZE_ADDRESS__)
  /* The child's calls ran on this stack below this frame and left their
   * redzones poisoned in ASan's shadow; ASan's vfork interceptor clears
   * them only once this stub has returned to it. The journal's opening
   * below (its 12 KiB of buffers) met them: a false overflow that aborted
   * dash under the sanitized preload tests, as soon as a change moved a
   * frame. */
  char here;
  __asan_handle_vfork(&here);
#endif
  int saved = errno;
  if (pid > 0) {
    /* What the child left here says whether its exec went through. */
    int execd = vf.exec_tried;
    mida__pl_program noted = {NULL, 0, vf.used};
    const mida__pl_program *became = execd ? &vf.became : NULL;
    if (vf.note != NULL) {
      mida__pl_count(MIDA_PL_C_UNOBSERVED);
      if (vf.program != NULL)
        noted.activity = mida__pl_activity_of(NULL, vf.program, &noted.len);
      became = &noted;
    }
    mida__pl_emit_child(&vf.task, pid, vf.started, vf.note, vf.program,
                        became, !execd);
    mida__pl_child_add(pid, &vf.task, vf.note != NULL);
  }
  mida__pl_vfork_forget_exec(); /* frees what the child made */
  vf.on = 0;
  mida__pl_leave();
  errno = saved;
}

int mida__pl_in_vfork_child(void) {
  return vf.on && getpid() != vf.parent_pid;
}

void mida__pl_vfork_child_context(char *buf) {
  mida__pl_context_env(&vf.task, &mida__pl.task, 0, buf);
}

void mida__pl_vfork_child_exec(char **env, const char *note,
                               const char *program, char *const *argv,
                               const mida__pl_program *became) {
  vf.exec_tried = 1;
  vf.env = env;
  if (env != NULL && became != NULL)
    vf.became = *became;
  if (note != NULL) {
    vf.note = note;
    vf.program = mida__strdup(program);
    vf.used = mida__pl_argv_used(argv);
  }
}

void mida__pl_vfork_forget_exec(void) {
  vf.exec_tried = 0;
  mida__free(vf.env);
  mida__free(vf.program);
  mida__free(vf.used);
  vf.env = NULL;
  vf.program = NULL;
  vf.used = NULL;
  vf.note = NULL;
  vf.became = (mida__pl_program){NULL, 0, NULL}; /* it was in env */
}

/* fork() instead of a vfork the stub cannot make. */
__attribute__((visibility("hidden"), used)) pid_t mida__pl_vfork_as_fork(void) {
  return mida__pl_fork_observed();
}

#if defined(__x86_64__)
/* The stub: the caller's return address is popped into %rsi, which the
 * real vfork (and the kernel) leave as they are, in the child as in the
 * parent, and pushed back just before the return, as glibc's vfork does
 * with its own. The stack stays 16-byte aligned at each call. */
__asm__(".text\n"
        ".globl vfork\n"
        ".type vfork, @function\n"
        "vfork:\n"
        "  .cfi_startproc\n"
        "  endbr64\n"
        "  subq $8, %rsp\n"
        "  .cfi_adjust_cfa_offset 8\n"
        "  call mida__pl_vfork_begin\n"
        "  addq $8, %rsp\n"
        "  .cfi_adjust_cfa_offset -8\n"
        "  testq %rax, %rax\n"
        "  jnz 2f\n"
        "  jmp mida__pl_vfork_as_fork\n"
        "2:\n"
        "  popq %rsi\n"
        "  .cfi_adjust_cfa_offset -8\n"
        "  .cfi_register %rip, %rsi\n"
        "  call *%rax\n"
        "  testl %eax, %eax\n"
        "  jz 1f\n"
        "  pushq %rsi\n"
        "  .cfi_adjust_cfa_offset 8\n"
        "  .cfi_rel_offset %rip, 0\n"
        "  pushq %rax\n"
        "  .cfi_adjust_cfa_offset 8\n"
        "  movl %eax, %edi\n"
        "  call mida__pl_vfork_end\n"
        "  popq %rax\n"
        "  .cfi_adjust_cfa_offset -8\n"
        "  popq %rsi\n"
        "  .cfi_adjust_cfa_offset -8\n"
        "  .cfi_register %rip, %rsi\n"
        "1:\n"
        "  pushq %rsi\n"
        "  .cfi_adjust_cfa_offset 8\n"
        "  .cfi_rel_offset %rip, 0\n"
        "  ret\n"
        "  .cfi_endproc\n"
        ".size vfork, .-vfork\n");
#else
MIDA_PL_EXPORT pid_t vfork(void) {
  return mida__pl_fork_observed();
}
#endif

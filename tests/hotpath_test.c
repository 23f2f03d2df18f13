/*
 * hotpath_test.c -- the capture calls make no system call.
 *
 * A child process opens a session, warms it up, then installs a seccomp
 * filter on its calling thread only (the shipper thread is not affected)
 * that traps every system call except the few the signal handler and exit
 * need. It then records tasks, data, dependencies and metric points; a trap
 * counts a system call. The child exits with the count, which must be 0.
 * Per-task telemetry (which reads CPU clocks through system calls, within
 * its own budget) is switched off here, as it can be for this guarantee.
 */
#include "mida.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static volatile sig_atomic_t trapped;

static void on_sigsys(int sig, siginfo_t *info, void *uctx) {
  (void)sig;
  (void)info;
  (void)uctx;
  trapped++;
}

/* Traps every system call of this thread but rt_sigreturn, exit and
 * exit_group. */
static int trap_syscalls(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_rt_sigreturn, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static void child(const char *url) {
  setenv("MIDA_TELEMETRY_TASK", "0", 1);
  mida_config_t cfg;
  mida_config_init(&cfg);
  cfg.store = url;
  cfg.campaign = "hotpath";
  mida_session_t *s = NULL;
  if (mida_open(&cfg, &s, NULL, 0) != MIDA_OK)
    _exit(200);
  mida_workflow_info_t wi = {.name = "w"};
  mida_id_t wf, t, prev;
  if (mida_workflow_begin(s, &wi, &wf) != MIDA_OK)
    _exit(201);
  mida_task_info_t ti = {
      .activity = "step", .workflow = &wf, .used = "{\"lr\":0.1,\"batch\":32}"};
  mida_data_info_t d = {.uri = "file:///tmp/x", .size = 10};
  for (int i = 0; i < 100; i++) { /* warm up every path */
    mida_task_begin(s, &ti, &t);
    mida_data(s, &t, MIDA_USED, &d);
    mida_metric(s, &t, "loss", i, 0, 0.5);
    mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"y\":1}", NULL);
    prev = t;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSYS, &sa, NULL) != 0 || trap_syscalls() != 0)
    _exit(202);
  int failed = 0;
  for (int i = 0; i < 20000; i++) {
    failed |= mida_task_begin(s, &ti, &t);
    failed |= mida_data(s, &t, MIDA_GENERATED, &d);
    failed |= mida_task_dep(s, &t, &prev);
    failed |= mida_metric(s, &t, "loss", i, 0, 1.0 / (i + 1));
    failed |= mida_task_end(s, &t, MIDA_STATUS_FINISHED, "{\"y\":2}", NULL);
    prev = t;
  }
  int count = trapped;
  /* Exit without closing: the filter forbids what close needs. */
  syscall(SYS_exit_group, failed ? 203 : (count > 199 ? 199 : count));
}

static void test_capture_calls_make_no_system_call(void **state) {
  (void)state;
#if defined(__SANITIZE_THREAD__)
  skip(); /* ThreadSanitizer's runtime makes system calls of its own */
#endif
  char dir[256], url[320];
  test_tmpdir(dir, sizeof dir, "hot");
  snprintf(url, sizeof url, "sqlite://%s/store.db", dir);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    child(url);
  int status;
  waitpid(pid, &status, 0);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  test_rmtree(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_capture_calls_make_no_system_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

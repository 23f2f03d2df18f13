/*
 * exec_window.c -- a process killed after its exec and before the new
 * program's first record (tests/preload/test_run_exec_window.py):
 *
 *   exec_window fork|vfork|spawn STOPLIB PROGRAM [ARG...]
 *       starts a child that runs PROGRAM with its ARGs (argv[0] the base
 *       name of PROGRAM) the way the mode says, with STOPLIB (exec_stop.c)
 *       added after the preload library in LD_PRELOAD and
 *       MIDA_TEST_EXEC_STOP set: the child stops in that library's
 *       constructor, before the preload library's; once it has stopped it
 *       is killed with SIGKILL and reaped. Exit 0 if it was so.
 *   exec_window failed ERRNO PROGRAM
 *       execs PROGRAM, which must fail with errno ERRNO (a number); exit 0
 *       if it did. The task goes on as this program.
 *
 * Only system calls and the exec (or posix_spawn, vfork) between the start
 * of the child and its kill: nothing else of the child's is recorded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s != NULL ? s + 1 : path;
}

/* environ with STOPLIB after the rest of LD_PRELOAD, and the stop asked
 * for (static: a vfork child must not allocate). */
static char **stop_environment(const char *stoplib) {
  static char *env[1024];
  static char preload[8192];
  const char *old = getenv("LD_PRELOAD");
  snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s",
           old != NULL ? old : "", old != NULL && old[0] ? ":" : "",
           stoplib);
  size_t n = 0;
  for (char **e = environ; *e != NULL && n < 1020; e++)
    if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
      env[n++] = *e;
  env[n++] = preload;
  env[n++] = "MIDA_TEST_EXEC_STOP=1";
  env[n] = NULL;
  return env;
}

static int stop_and_kill(pid_t pid) {
  int st;
  if (pid <= 0 || waitpid(pid, &st, WUNTRACED) != pid || !WIFSTOPPED(st))
    return 1;
  if (kill(pid, SIGKILL) != 0 || waitpid(pid, &st, 0) != pid)
    return 1;
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "failed") == 0) {
    int want = atoi(argv[2]);
    char *args[] = {(char *)base_name(argv[3]), NULL};
    execv(argv[3], args);
    return errno == want ? 0 : 1;
  }
  if (argc < 4) {
    fprintf(stderr, "usage: exec_window fork|vfork|spawn STOPLIB PROGRAM "
                    "[ARG...]\n       exec_window failed ERRNO PROGRAM\n");
    return 2;
  }
  const char *how = argv[1];
  char **env = stop_environment(argv[2]);
  char *program = argv[3];
  char **args = argv + 3;
  args[0] = (char *)base_name(program);
  pid_t pid;
  if (strcmp(how, "fork") == 0) {
    pid = fork();
    if (pid == 0) {
      execve(program, args, env);
      _exit(127);
    }
  } else if (strcmp(how, "vfork") == 0) {
    pid = vfork();
    if (pid == 0) {
      execve(program, args, env);
      _exit(127);
    }
  } else if (strcmp(how, "spawn") == 0) {
    if (posix_spawn(&pid, program, NULL, NULL, args, env) != 0)
      return 1;
  } else {
    return 2;
  }
  return stop_and_kill(pid);
}

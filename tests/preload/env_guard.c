/*
 * env_guard.c -- a library preloaded into `mida run` itself by one test
 * (test_run_environment.py): setenv, unsetenv, putenv and clearenv abort
 * the mida process if it has more than one thread when it calls them.
 * mida run's threads (the store's shipper, the telemetry sampler, SQLite
 * starting) read the environment, and changing it under a reader is
 * undefined behaviour: a getenv in the shipper once crashed on an environ
 * that setenv had moved. The command's environment must be built aside.
 * Only the program named "mida" is checked: the command under it inherits
 * this library and may do as it likes.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int checked; /* this process is mida (set once, before main) */

__attribute__((constructor)) static void env_guard_init(void) {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0)
    return;
  exe[n] = '\0';
  const char *base = strrchr(exe, '/');
  checked = strcmp(base != NULL ? base + 1 : exe, "mida") == 0;
}

/* The "Threads:" line of /proc/self/status, or 0 if it cannot be read. */
static int thread_count(void) {
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return 0;
  buf[n] = '\0';
  const char *t = strstr(buf, "\nThreads:");
  return t != NULL ? atoi(t + 9) : 0;
}

static void check(const char *call) {
  if (!checked || thread_count() <= 1)
    return;
  static const char msg[] = "env_guard: mida changed its environment with "
                            "threads running: ";
  ssize_t w = write(2, msg, sizeof msg - 1);
  w = write(2, call, strlen(call));
  w = write(2, "\n", 1);
  (void)w;
  abort();
}

#define REAL(type, name) ((type)dlsym(RTLD_NEXT, name))

__attribute__((visibility("default"))) int
setenv(const char *name, const char *value, int overwrite) {
  check("setenv");
  return REAL(int (*)(const char *, const char *, int), "setenv")(name, value,
                                                                  overwrite);
}

__attribute__((visibility("default"))) int unsetenv(const char *name) {
  check("unsetenv");
  return REAL(int (*)(const char *), "unsetenv")(name);
}

__attribute__((visibility("default"))) int putenv(char *string) {
  check("putenv");
  return REAL(int (*)(char *), "putenv")(string);
}

__attribute__((visibility("default"))) int clearenv(void) {
  check("clearenv");
  return REAL(int (*)(void), "clearenv")();
}

/*
 * getenv_guard.c -- a library preloaded into a program that records with
 * mida, by one test (test_run_environment.py): getenv and secure_getenv
 * abort the program when a thread of mida's own (named "mida-...": the
 * shipper, the sampler) calls them. A program may change its environment
 * at any moment, and a getenv under its setenv can crash it; mida's
 * threads read the copy mida_open took (src/core/env.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void check(const char *call, const char *name) {
  char thread[16] = "";
  if (pthread_getname_np(pthread_self(), thread, sizeof thread) != 0 ||
      strncmp(thread, "mida-", 5) != 0)
    return;
  const char *parts[] = {"getenv_guard: ", call,   "(", name,
                         ") on thread ",   thread, "\n"};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    ssize_t w = write(2, parts[i], strlen(parts[i]));
    (void)w;
  }
  abort();
}

__attribute__((visibility("default"))) char *getenv(const char *name) {
  check("getenv", name);
  return ((char *(*)(const char *))dlsym(RTLD_NEXT, "getenv"))(name);
}

__attribute__((visibility("default"))) char *secure_getenv(const char *name) {
  check("secure_getenv", name);
  return ((char *(*)(const char *))dlsym(RTLD_NEXT, "secure_getenv"))(name);
}

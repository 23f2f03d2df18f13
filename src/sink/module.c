/*
 * module.c -- finds, loads and checks the network backends' modules (see
 * module.h): dlopen on first use, once per process, never unloaded.
 */
#include "sink/module.h"

#include "core/alloc.h"
#include "core/env.h"
#include "core/errors.h"
#include "mida.h"
#include "mida_config.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The modules, the schemes they serve, and what a Debian system needs for
 * them: the package of the client library (at run time) and of its headers
 * (to build the module). */
static const struct module_info {
  const char *name;     /* module name: file mida_<name>.so */
  const char *schemes;  /* the URL schemes it serves, space-separated */
  const char *library;  /* the client library, in words */
  const char *runtime;  /* Debian package of the library */
  const char *dev;      /* Debian package to build the module */
} modules[] = {
    {"postgresql", "postgresql postgres", "libpq", "libpq5", "libpq-dev"},
    {"redis", "redis rediss", "hiredis", "libhiredis0.14", "libhiredis-dev"},
    {"nats", "nats tls", "libnats", "libnats3.4", "libnats-dev"},
    {"mqtt", "mqtt mqtts", "libmosquitto", "libmosquitto1", "libmosquitto-dev"},
};
#define MODULE_COUNT (sizeof modules / sizeof modules[0])

struct mida__module {
  const struct module_info *info; /* which */
  void *handle;                   /* from dlopen, never closed */
};

static mida__module loaded[MODULE_COUNT]; /* guarded by load_lock */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static const mida__module_host host = {
    .abi = MIDA__MODULE_ABI,
    .malloc = mida__malloc,
    .calloc = mida__calloc,
    .realloc = mida__realloc,
    .free = mida__free,
    .vset_error = mida__vset_error,
    .thread_errmsg = mida__thread_errmsg,
    .env_dup = mida__env_dup,
};

const char *mida__module_for_scheme(const char *scheme, size_t len) {
  for (size_t i = 0; i < MODULE_COUNT; i++) {
    const char *p = modules[i].schemes;
    while (*p != '\0') {
      size_t n = strcspn(p, " ");
      if (n == len && strncmp(p, scheme, len) == 0)
        return modules[i].name;
      p += n + (p[n] == ' ');
    }
  }
  return NULL;
}

/* The directory of the file that holds this code (libmida.so, or the
 * program it is linked into), into dir. 0 if it cannot be told. */
static int own_dir(char *dir, size_t len) {
  Dl_info di;
  char path[PATH_MAX];
  if (dladdr((void *)&own_dir, &di) != 0 && di.dli_fname != NULL &&
      di.dli_fname[0] == '/') {
    snprintf(path, sizeof path, "%s", di.dli_fname);
  } else {
    /* The main program, named as it was run: ask the kernel. */
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
      return 0;
    path[n] = '\0';
  }
  char *slash = strrchr(path, '/');
  if (slash == NULL)
    return 0;
  *slash = '\0';
  snprintf(dir, len, "%s", path);
  return 1;
}

/* Appends a directory to dirs[] if it fits; returns the new count. */
static int add_dir(char dirs[][PATH_MAX], int n, int max, const char *a,
                   const char *b) {
  if (n >= max || a[0] == '\0')
    return n;
  int w = snprintf(dirs[n], PATH_MAX, "%s%s", a, b);
  return w > 0 && w < PATH_MAX ? n + 1 : n;
}

/* The directories to look in, in order (module.h), into dirs[]. */
static int search_dirs(char dirs[][PATH_MAX], int max) {
  int n = 0;
  char *env = mida__env_dup("MIDA_MODULE_DIR");
  if (env != NULL && env[0] != '\0') {
    n = add_dir(dirs, n, max, env, ""); /* the only place, when set */
    mida__free(env);
    return n;
  }
  mida__free(env);
  char own[PATH_MAX];
  if (own_dir(own, sizeof own)) {
    n = add_dir(dirs, n, max, own, "/mida-modules");  /* beside libmida */
    n = add_dir(dirs, n, max, own, "/../lib/mida-modules"); /* bin/mida */
  }
  n = add_dir(dirs, n, max, MIDA_MODULE_DIR_INSTALL, "");
  return add_dir(dirs, n, max, MIDA_MODULE_DIR_BUILD, "");
}

/* Opens and checks one module file. */
static int open_module(const struct module_info *mi, const char *path,
                       void **out, char *err, size_t errlen) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *why = dlerror();
    snprintf(err, errlen,
             "cannot load mida's %s module %s: %s; install the Debian "
             "package %s (%s)",
             mi->name, path, why != NULL ? why : "unknown error",
             mi->runtime, mi->library);
    return MIDA_EUNSUPPORTED;
  }
  const char *version = dlsym(h, MIDA__MODULE_SYM_VERSION);
  const uint32_t *abi = dlsym(h, MIDA__MODULE_SYM_ABI);
  int (*init)(const mida__module_host *) =
      (int (*)(const mida__module_host *))dlsym(h, MIDA__MODULE_SYM_INIT);
  if (version == NULL || abi == NULL || init == NULL ||
      strcmp(version, MIDA_VERSION) != 0 || *abi != MIDA__MODULE_ABI) {
    snprintf(err, errlen,
             "%s is not a module of this mida (%s, module ABI %d): it is "
             "from %s; install the module of the same build",
             path, MIDA_VERSION, MIDA__MODULE_ABI,
             version != NULL ? version : "something else");
    dlclose(h);
    return MIDA_EUNSUPPORTED;
  }
  int rc = init(&host);
  if (rc != MIDA_OK) {
    snprintf(err, errlen, "mida's %s module %s refused to start: %s",
             mi->name, path, mida_strerror(rc));
    dlclose(h);
    return MIDA_EUNSUPPORTED;
  }
  *out = h;
  return MIDA_OK;
}

int mida__module_load(const char *name, const mida__module **out, char *err,
                      size_t errlen) {
  char scratch[1];
  if (err == NULL || errlen == 0) {
    err = scratch;
    errlen = sizeof scratch;
  }
  err[0] = '\0';
  *out = NULL;
  size_t i = 0;
  while (i < MODULE_COUNT && strcmp(modules[i].name, name) != 0)
    i++;
  if (i == MODULE_COUNT) {
    snprintf(err, errlen, "no mida module is called '%s'", name);
    return MIDA_EUNSUPPORTED;
  }
  const struct module_info *mi = &modules[i];
  pthread_mutex_lock(&load_lock);
  if (loaded[i].handle != NULL) {
    *out = &loaded[i];
    pthread_mutex_unlock(&load_lock);
    return MIDA_OK;
  }
  char dirs[5][PATH_MAX];
  int ndirs = search_dirs(dirs, 5);
  char path[PATH_MAX + 64];
  int rc = MIDA_EUNSUPPORTED;
  int found = 0;
  for (int d = 0; d < ndirs && !found; d++) {
    int w = snprintf(path, sizeof path, "%s/mida_%s.so", dirs[d], mi->name);
    if (w < 0 || (size_t)w >= sizeof path || access(path, F_OK) != 0)
      continue;
    found = 1;
    void *h = NULL;
    rc = open_module(mi, path, &h, err, errlen);
    if (rc == MIDA_OK) {
      loaded[i].info = mi;
      loaded[i].handle = h;
      *out = &loaded[i];
    }
  }
  pthread_mutex_unlock(&load_lock);
  if (!found) {
    char where[5 * PATH_MAX + 16] = "";
    size_t used = 0;
    for (int d = 0; d < ndirs && used < sizeof where; d++) {
      int w = snprintf(where + used, sizeof where - used, "%s%s",
                       d > 0 ? ", " : "", dirs[d]);
      if (w < 0)
        break;
      used += (size_t)w;
    }
    snprintf(err, errlen,
             "%s:// needs mida's %s module (mida_%s.so, which uses %s), "
             "and this installation has none (looked in %s); build mida "
             "with the Debian package %s installed, and install %s to run "
             "it",
             mi->name, mi->name, mi->name, mi->library, where, mi->dev,
             mi->runtime);
  }
  return rc;
}

void *mida__module_symbol(const mida__module *m, const char *symbol) {
  return m != NULL && m->handle != NULL ? dlsym(m->handle, symbol) : NULL;
}

/*
 * mhd.c -- libmicrohttpd, loaded when `mida serve` starts (see mhd.h).
 *
 * The library is opened by its soname (MIDA_MICROHTTPD_SONAME, the one of
 * the library the build compiled against), so the dynamic loader finds it
 * where it would have found a linked one; then, if that fails, in the
 * directory pkg-config gave at build time (a libmicrohttpd installed
 * outside the loader's path). It is never closed.
 */
#include "serve/mhd.h"

#include "mida_config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t mhd_lock = PTHREAD_MUTEX_INITIALIZER;
static mida__mhd_api mhd_api;
static int mhd_loaded;

/* Looks every entry point up in h; 0, or -1 naming the missing one. */
static int resolve(void *h, mida__mhd_api *api, const char **missing) {
  struct {
    const char *name;
    void **slot;
  } const syms[] = {
      {"MHD_start_daemon", (void **)&api->start_daemon},
      {"MHD_stop_daemon", (void **)&api->stop_daemon},
      {"MHD_quiesce_daemon", (void **)&api->quiesce_daemon},
      {"MHD_get_daemon_info", (void **)&api->get_daemon_info},
      {"MHD_lookup_connection_value", (void **)&api->lookup_connection_value},
      {"MHD_get_connection_values", (void **)&api->get_connection_values},
      {"MHD_get_connection_info", (void **)&api->get_connection_info},
      {"MHD_create_response_from_buffer",
       (void **)&api->create_response_from_buffer},
      {"MHD_create_response_from_callback",
       (void **)&api->create_response_from_callback},
      {"MHD_add_response_header", (void **)&api->add_response_header},
      {"MHD_queue_response", (void **)&api->queue_response},
      {"MHD_destroy_response", (void **)&api->destroy_response},
  };
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    *syms[i].slot = dlsym(h, syms[i].name);
    if (*syms[i].slot == NULL) {
      *missing = syms[i].name;
      return -1;
    }
  }
  return 0;
}

const mida__mhd_api *mida__mhd_load(char *err, size_t errlen) {
  pthread_mutex_lock(&mhd_lock);
  if (mhd_loaded) {
    pthread_mutex_unlock(&mhd_lock);
    return &mhd_api;
  }
  void *h = dlopen(MIDA_MICROHTTPD_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL && MIDA_MICROHTTPD_LIBDIR[0] != '\0') {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", MIDA_MICROHTTPD_LIBDIR,
             MIDA_MICROHTTPD_SONAME);
    h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  }
  const char *missing = NULL;
  mida__mhd_api api;
  if (h == NULL) {
    const char *why = dlerror();
    snprintf(err, errlen,
             "serve needs libmicrohttpd (%s): install the Debian "
             "package libmicrohttpd12",
             why != NULL ? why : MIDA_MICROHTTPD_SONAME " not found");
  } else if (resolve(h, &api, &missing) != 0) {
    snprintf(err, errlen,
             "serve cannot use %s: it has no %s (mida was built "
             "against a newer libmicrohttpd)",
             MIDA_MICROHTTPD_SONAME, missing);
    dlclose(h);
  } else {
    mhd_api = api;
    mhd_loaded = 1;
  }
  const mida__mhd_api *out = mhd_loaded ? &mhd_api : NULL;
  pthread_mutex_unlock(&mhd_lock);
  return out;
}

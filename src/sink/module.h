/*
 * module.h -- the network backends as loadable modules: the seam between
 * libmida and them.
 *
 * PostgreSQL, Redis, NATS and MQTT each need a client library (libpq with
 * OpenSSL, Kerberos and LDAP behind it; hiredis; libnats; libmosquitto).
 * Linking them into libmida would load them into every process that uses
 * mida, even one whose store is an SQLite file. So each is built as a
 * module, mida_<name>.so (src/modules/), that sink.c, consumer.c and the
 * MLflow observer load the first time a URL names its scheme, the way
 * telemetry/gpu_nvml.c loads NVML. SQLite stays built in.
 *
 * A module is built with the pure parts of the tree it needs (core,
 * sink/wire.c, ...) and borrows from libmida, through the host table it
 * is given at load time, what holds process-wide state: the allocation
 * wrappers (so tests count and fail its allocations too) and the thread's
 * error message. It exports only the symbols named below.
 *
 * Where modules are looked for: in $MIDA_MODULE_DIR alone when it is set;
 * else, in order, the directory "mida-modules" beside the file that holds
 * this code (libmida.so) or in ../lib beside it (the mida program, which
 * holds the code itself) -- the layout of a wheel, mida/_lib/{bin,lib} --
 * then the install tree's <libdir>/mida, then the build tree. A module
 * must come from the same mida version (MIDA_VERSION) and module ABI as
 * the library that loads it.
 */
#ifndef MIDA_SINK_MODULE_H
#define MIDA_SINK_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Changes whenever the host table, the method tables of sink.h and
 * wire.h, or the exported symbols change shape. */
#define MIDA__MODULE_ABI 5

/* What libmida lends a module. */
typedef struct mida__module_host {
  uint32_t abi;                              /* MIDA__MODULE_ABI */
  void *(*malloc)(size_t n);                 /* core/alloc.h */
  void *(*calloc)(size_t count, size_t n);
  void *(*realloc)(void *p, size_t n);
  void (*free)(void *p);
  int (*vset_error)(int rc, const char *fmt, va_list ap); /* errors.h */
  const char *(*thread_errmsg)(void);
  char *(*env_dup)(const char *name); /* core/env.h */
} mida__module_host;

/* The symbols a module exports (everything else in it is hidden):
 *   const char mida_module_version[]   MIDA_VERSION of its build
 *   const uint32_t mida_module_abi     MIDA__MODULE_ABI of its build
 *   int mida_module_init(const mida__module_host *)   called once
 *   const mida__sink_methods *const mida_module_sinks[]  NULL-ended
 *   const mida__consumer_methods *const mida_module_consumer  (brokers)
 *   int mida_module_mlflow_open(...)   (postgresql: the MLflow reader) */
#define MIDA__MODULE_SYM_VERSION "mida_module_version"
#define MIDA__MODULE_SYM_ABI "mida_module_abi"
#define MIDA__MODULE_SYM_INIT "mida_module_init"
#define MIDA__MODULE_SYM_SINKS "mida_module_sinks"
#define MIDA__MODULE_SYM_CONSUMER "mida_module_consumer"
#define MIDA__MODULE_SYM_MLFLOW_OPEN "mida_module_mlflow_open"

/* Marks the symbols above in a module's sources. */
#define MIDA__MODULE_EXPORT __attribute__((visibility("default")))

typedef struct mida__module mida__module;

/* Loads module name ("postgresql", "redis", "nats", "mqtt") once per
 * process; later calls return the same. Thread-safe. Returns MIDA_OK, or
 * MIDA_EUNSUPPORTED with a message in err that says what is missing and
 * which Debian package brings it. A failed load is tried again on the
 * next call (a package may have been installed meanwhile). */
int mida__module_load(const char *name, const mida__module **out, char *err,
                      size_t errlen);

/* A symbol of a loaded module (one of the names above), or NULL. */
void *mida__module_symbol(const mida__module *m, const char *symbol);

/* The module that serves a URL scheme ("postgresql", "postgres",
 * "redis", "nats", "mqtt"), or NULL for one that no module serves. */
const char *mida__module_for_scheme(const char *scheme, size_t len);

#endif /* MIDA_SINK_MODULE_H */

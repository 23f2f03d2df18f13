/*
 * run_preload.h -- the file and process capture of `mida run` (issue 14):
 * the part of the verb that puts libmida_preload.so (src/preload) into the
 * command and ships what it records.
 *
 * run.c calls, in order: mida__run_preload_options() while it builds its
 * option table; mida__run_preload_start() just before it starts the
 * command (it edits the command's environment: LD_PRELOAD and the
 * MIDA_PRELOAD_* variables of src/preload/state.c); and
 * mida__run_preload_finish() once the command has ended, before it
 * records the command's end.
 */
#ifndef MIDA_CLI_RUN_PRELOAD_H
#define MIDA_CLI_RUN_PRELOAD_H

#include "cli/cli.h"
#include "mida.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define MIDA_RUN_PRELOAD_OPTIONS 5 /* entries it adds to the option table */

typedef struct mida__run_preload {
  /* options */
  int no_files;           /* --no-files: the library is not used */
  const char *ignore;     /* --ignore P[:P...]: prefixes not recorded */
  int digest;             /* --digest: hash generated files afterwards */
  const char *digest_max; /* --digest-max BYTES: largest file hashed */
  int record_code;        /* --record-code: installed code is data */
  uint64_t digest_bytes;  /* --digest-max as a number, bytes */
  int quiet_ms;           /* no collector pass this long after the start
                             (--detach-ship: run.c's RUN_QUIET_MS) */
  /* state, once started */
  int active;                /* the library is in the command */
  const char *store;         /* the store URL (borrowed) */
  mida_session_t *session;   /* mida run's session (borrowed), or NULL */
  mida_id_t workflow;        /* the run's workflow */
  char spool[PATH_MAX];      /* the spool of the journals, absolute */
  char registry[PATH_MAX];   /* the pipe registry file, or "" */
  int collect_failed;        /* the store could not take the command's
                                journals (said once) */
  pthread_t collector;       /* ships journals of ended processes */
  int collector_started;     /* whether it runs */
  int stop_fd;               /* eventfd: written to stop the collector */
  int inotify;               /* the collector's inotify descriptor, or -1 */
  int inotify_watch;         /* its watch of the spool, or -1 once removed */
  _Atomic uint64_t passes;   /* collector passes that shipped records: a
                                transaction each (run.ship_passes) */
} mida__run_preload;

/* The options that take a value (for run.c's search of the command). */
extern const char *const mida__run_preload_value_options[];

/* Zeroes p and adds its options to opts (room for
 * MIDA_RUN_PRELOAD_OPTIONS). Returns how many it added. */
int mida__run_preload_options(mida__run_preload *p, mida__cli_opt *opts);

/* Checks the values of p's options once they are parsed, before the
 * command runs (--digest-max a count, and given with --digest; --ignore
 * absolute prefixes; neither --ignore nor --record-code with --no-files).
 * Returns MIDA_CLI_CONTINUE, or MIDA_CLI_USAGE after saying on stderr
 * which value is wrong. */
int mida__run_preload_check(mida__run_preload *p);

/* Puts the library into env, the environment edits of the command argv
 * (cli.h: this process's environment is left as it is), whose task
 * (the root of its processes) is task of workflow in session s, and starts
 * shipping the journals of its processes into store. Never fails the
 * command: whatever goes wrong is said on stderr and the command runs
 * unobserved. Returns 1 if files are recorded. */
int mida__run_preload_start(mida__run_preload *p, mida_session_t *s,
                            const char *store, const mida_id_t *workflow,
                            const mida_id_t *task, char *const *argv,
                            mida__cli_env *env);

/* After the command ended: ships the last journals, hashes generated files
 * (--digest), removes the pipe registry. The process is to end next: the
 * collector's inotify descriptor is left to its end (run_preload.c). */
void mida__run_preload_finish(mida__run_preload *p);

/* Stops the collector (the end of a pass it is in is awaited); finish()
 * does it first. */
void mida__run_preload_stop(mida__run_preload *p);

/* `mida run --detach-ship`, after the command ended: tells the collector
 * to stop (without waiting for the pass it may be in), removes the pipe
 * registry, and starts a detached process that
 * waits for this one to end and then runs `mida recover` on the spool into
 * store, which ships whatever this process and the command's processes
 * left in their journals. That process holds the spool's shipping lock
 * (src/capture/ship_lock.h) from before this returns until the recover
 * ends, so that the store's readers wait for it. The caller then ends at
 * once (_exit) with everything it has to record appended to its journal.
 * Returns MIDA_OK, MIDA_ENOMEM, MIDA_ETOOBIG or MIDA_EIO (then the caller
 * finishes as usual). */
int mida__run_preload_detach(mida__run_preload *p, const char *store);

/* The absolute path of mida's Dask preload file (python/dask_preload/
 * mida_dask_preload.py, which run.c puts in the command's Dask preload
 * variables) into buf (PATH_MAX), found beside this mida program as the
 * library is: <bin>/../../python/dask_preload/ in the build tree,
 * <bin>/../share/mida/ once installed and in a wheel's mida/_lib, then the
 * configured <prefix>/<datadir>/mida/. Returns 0, or -1 if it is nowhere. */
int mida__run_preload_dask_file(char *buf, size_t cap);

#endif /* MIDA_CLI_RUN_PRELOAD_H */

/*
 * thread_task.h -- the tasks a thread has open, for the `mida run` preload.
 *
 * `mida run` records the files every process reads and writes through an
 * LD_PRELOAD library (src/preload). When a thread of an observed process
 * runs a workflow-level task -- a `@mida.task` call, a Dask task run by a
 * worker's TaskMeter, any mida_task_begin() .. mida_task_end() -- the files
 * it opens belong to that task as well as to the process. This module is
 * the seam between the two sides:
 *
 * - libmida keeps, per thread, a small stack of the tasks begun and not yet
 *   ended on that thread (push at begin, pop at end: a few stores into
 *   thread-local memory, no lock, no system call, within the capture hot
 *   path's budget);
 * - the preload library exports one function, MIDA_PRELOAD_ATTACH_SYMBOL.
 *   When a session opens, libmida looks it up once (dlsym(RTLD_DEFAULT),
 *   which sees the preloaded library even from a Python extension module
 *   loaded with RTLD_LOCAL) and hands it mida__thread_task_current; the
 *   preload library calls that when a file is opened, never on reads or
 *   writes. Each copy of libmida in a process (libmida.so, the static copy
 *   inside the Python extension) attaches its own.
 *
 * Version 1 of the seam: attach(version, current), where current(out)
 * writes the innermost open task of the calling thread and returns 1, or
 * returns 0 when the thread has none. A preload library that does not know
 * the version ignores the call.
 */
#ifndef MIDA_CORE_THREAD_TASK_H
#define MIDA_CORE_THREAD_TASK_H

#include "mida.h"

#define MIDA_THREAD_TASK_DEPTH 16 /* open tasks remembered per thread */
#define MIDA_PRELOAD_ATTACH_SYMBOL "mida_preload_attach"
#define MIDA_PRELOAD_SEAM_VERSION 1

/* The innermost task open on the calling thread: 1 and *out, or 0. */
typedef int (*mida__thread_task_fn)(mida_id_t *out);

/* The preload library's entry point (exported under
 * MIDA_PRELOAD_ATTACH_SYMBOL). */
typedef void (*mida__preload_attach_fn)(int version,
                                        mida__thread_task_fn current);

/* Notes that the calling thread began task. A thread with
 * MIDA_THREAD_TASK_DEPTH tasks open forgets its oldest. */
void mida__thread_task_push(const mida_id_t *task);

/* Notes that task ended; a task not open on this thread is ignored. */
void mida__thread_task_pop(const mida_id_t *task);

/* The innermost task open on the calling thread: 1 and *out, or 0. */
int mida__thread_task_current(mida_id_t *out);

/* Hands mida__thread_task_current to the preload library if one is loaded
 * (the first call in a process looks it up; later calls return at once).
 * Called when a session opens, never on the hot path. Thread-safe. */
void mida__thread_task_announce(void);

#endif /* MIDA_CORE_THREAD_TASK_H */

/*
 * exit_handlers.c -- on_exit and __cxa_atexit: a last look at the pipes a
 * process wrote into, after the exit handlers that run after the
 * library's own.
 *
 * exit() runs the handlers in the reverse of their registration, then
 * flushes every stream (libc's _IO_cleanup). The library's handler
 * (state.c, at_exit) announces the writers of pipes and records the
 * process's files; it is registered by the library's constructor, which
 * runs after the constructors of the libraries the program links to. A
 * handler one of those registers runs after the library's if it was
 * registered with on_exit(), or with __cxa_atexit() and no DSO handle
 * (one with a DSO's handle, as atexit() passes it, runs when that DSO is
 * finalized, in _dl_fini, which runs before the library's handler). Its
 * output calls that are wrapped announce their writer themselves
 * (stdio_write.c, stdio_wide.c, stdio_messages.c); what it writes through
 * a call that is not (putpwent, herror, getopt's messages: libc's own
 * internal calls) waited in the stream's buffer for the last flush and
 * reached the reader from a writer never announced.
 *
 * So the first such registration, made before the library's constructor
 * ran, registers first a handler of the library's own, last_look, which
 * therefore runs after it and after the library's handler: it announces,
 * as the library's handler does first, each pipe's write end whose stream
 * holds output or wrote (files.c, mida__pl_stream_flushing). It records
 * nothing else: the files such a handler writes after the library's
 * handler recorded them are not recorded again. A process in which no
 * such handler was registered has no last look.
 *
 * Each wrapper adds two loads to a registration, then calls the real
 * function as it is.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <stdlib.h>

/* Set when the library's constructor starts: a handler registered since
 * runs before the library's. */
static _Atomic int constructor_started;
/* Set when last_look is registered (once a process, and its forks). */
static _Atomic int last_look_in;

void mida__pl_exit_handlers_started(void) {
  atomic_store_explicit(&constructor_started, 1, memory_order_relaxed);
}

static void last_look(int code, void *arg) {
  (void)code;
  (void)arg;
  if (mida__pl_in_vfork_child() || !mida__pl_enter())
    return; /* !mida__pl_enter(): not recording, or in a wrapper */
  int saved = errno;
  mida__pl_stream_flushing(NULL);
  errno = saved;
  mida__pl_leave();
}

/* Before a handler that runs after the library's is registered. */
static void registering_late_handler(void) {
  if (atomic_load_explicit(&constructor_started, memory_order_relaxed) ||
      atomic_load_explicit(&last_look_in, memory_order_relaxed) ||
      atomic_exchange_explicit(&last_look_in, 1, memory_order_relaxed))
    return;
  int saved = errno;
  int (*real)(void (*)(int, void *), void *) = MIDA_PL_REAL(on_exit);
  if (real != NULL)
    real(last_look, NULL);
  errno = saved;
}

MIDA_PL_EXPORT int on_exit(void (*fn)(int, void *), void *arg) {
  registering_late_handler();
  return MIDA_PL_REAL(on_exit)(fn, arg);
}

/* The C++ ABI's, declared in no C header. */
int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

MIDA_PL_EXPORT int __cxa_atexit(void (*fn)(void *), void *arg, void *dso) {
  if (dso == NULL)
    registering_late_handler();
  return MIDA_PL_REAL(__cxa_atexit)(fn, arg, dso);
}

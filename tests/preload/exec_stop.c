/*
 * exec_stop.c -- a library whose constructor stops its process (SIGSTOP)
 * when MIDA_TEST_EXEC_STOP is set: listed in LD_PRELOAD after the preload
 * library, it runs before the library's own constructor (the loader
 * initializes the preloaded objects last listed first), so the process is
 * held after its exec and before the new program's first record, for
 * exec_window.c to kill it there.
 */
#include <signal.h>
#include <stdlib.h>

__attribute__((constructor)) static void stop_here(void) {
  if (getenv("MIDA_TEST_EXEC_STOP") != NULL)
    raise(SIGSTOP);
}

/*
 * fstat_hook.c -- a library preloaded after libmida_preload.so by one test
 * (test_preload.py, statrace), so that the preload library's "real" fstat
 * is this one: it calls the C library's, then, once armed by the helper
 * (mida_test_fstat_hook), does what another thread or a signal handler
 * could do in the instant between that answer and the moment the preload
 * library keeps it: append to a file through a writer, or close the
 * descriptor and open another file on its number.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOOK_NONE 0
#define HOOK_WRITE 1  /* write "world" to fd */
#define HOOK_REOPEN 2 /* close the fstat'ed descriptor, open path on it */

struct mida_test_fstat_hook {
  int action;       /* HOOK_*, cleared once done */
  int fd;           /* HOOK_WRITE: the writer */
  const char *path; /* HOOK_REOPEN: the file opened instead */
  int reopened;     /* HOOK_REOPEN: the descriptor open() gave */
};

__attribute__((
    visibility("default"))) struct mida_test_fstat_hook mida_test_fstat_hook;

__attribute__((visibility("default"))) int fstat(int fd, struct stat *st) {
  static int (*real)(int, struct stat *);
  if (real == NULL)
    real = (int (*)(int, struct stat *))dlsym(RTLD_NEXT, "fstat");
  int rc = real(fd, st);
  struct mida_test_fstat_hook *h = &mida_test_fstat_hook;
  int action = h->action;
  h->action = HOOK_NONE;
  if (rc == 0 && action == HOOK_WRITE)
    (void)!write(h->fd, "world", 5);
  if (rc == 0 && action == HOOK_REOPEN) {
    close(fd);
    h->reopened = open(h->path, O_RDONLY);
  }
  return rc;
}

/*
 * popen.c -- popen and pclose: the pipe between a program and the command
 * it starts through libc, as a task dependency.
 *
 * glibc's popen makes its pipe with its own __pipe2 and starts `sh -c
 * command` with its own __posix_spawn, internal calls that the wrappers of
 * pipe, pipe2 and posix_spawn (close_dup.c, exec.c) never see, and pclose
 * closes the descriptor with an internal close. The child is observed all
 * the same (it inherits LD_PRELOAD and the context that names its parent,
 * state.c) and adopts the pipe as its stdin or stdout, as any child of
 * pipe() and fork does; what was missing is the program's own end. So
 * popen tracks it as pipe() would have (files.c, mida__pl_track_pipe),
 * with the stream over it, and pclose releases it before libc closes it,
 * as fclose does: what the stream wrote announces the program as a writer
 * of the pipe (pipes.c) before the command can see the end of its input,
 * and what it read makes the program depend on the command's writers. The
 * reader depends on the writer: with popen(command, "r") the program on
 * the command, with "w" the command on the program.
 *
 * The real call is made first and returned as it is (the stream, the
 * status pclose gives, errno); what the wrappers add is an fstat of the
 * new descriptor and the table updates of files.c, with errno kept and
 * the thread's re-entry guard set.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>

MIDA_PL_EXPORT FILE *popen(const char *command, const char *mode) {
  FILE *(*real)(const char *, const char *) = MIDA_PL_REAL(popen);
  if (real == NULL) {
    errno = ENOSYS;
    return NULL;
  }
  FILE *s = real(command, mode);
  if (s == NULL || !mida__pl_enter())
    return s;
  int saved = errno;
  int fd = fileno(s);
  struct stat st;
  /* Its mode's first letter says which end the program holds; glibc
   * refuses any other. The "e" flag (close-on-exec) changes nothing
   * here: an exec records what it closes (exec.c). */
  if (fd >= 0 && (mode[0] == 'r' || mode[0] == 'w') && fstat(fd, &st) == 0 &&
      S_ISFIFO(st.st_mode)) {
    mida__pl_track_pipe(fd, (uint64_t)st.st_ino,
                        mode[0] == 'r' ? MIDA_PL_R : MIDA_PL_W);
    mida__pl_set_stream(fd, s, 0);
  }
  errno = saved;
  mida__pl_leave();
  return s;
}

MIDA_PL_EXPORT int pclose(FILE *s) {
  int (*real)(FILE *) = MIDA_PL_REAL(pclose);
  if (real == NULL) {
    errno = ENOSYS;
    return -1;
  }
  if (s != NULL && mida__pl_enter()) {
    int saved = errno;
    mida__pl_stream_closing(s);
    errno = saved;
    mida__pl_leave();
  }
  return real(s);
}

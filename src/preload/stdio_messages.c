/*
 * stdio_messages.c -- libc's calls that print a message on stderr: perror,
 * psignal, psiginfo, error and error_at_line (which flush stdout first),
 * and the warn and err families of <err.h> (warn, warnx, vwarn, vwarnx,
 * err, errx, verr, verrx).
 *
 * Each prints through libc's own internal calls, which no stdio wrapper
 * sees, into stderr, unbuffered: the message is in stderr's pipe when the
 * call returns. A program that reported an error into `2>&1 | head -n 1`
 * and was then killed by SIGPIPE at its next write was never announced as
 * the pipe's writer: only its flush, close or exit looked at stderr. So
 * each announces stderr's (and for error(), stdout's) writer first, as the
 * output calls of stdio_write.c do; after the first call the check is the
 * same load of the descriptor's entry and of its marks.
 *
 * error() and error_at_line() take a format and its arguments, and libc
 * has no variant that takes a va_list: the wrapper formats the message
 * itself (vsnprintf, with errno as the caller left it for %m) and hands it
 * to the real function as "%s", which prints it as it would have. A
 * message longer than MESSAGE_ON_STACK bytes is formatted into the heap;
 * if that fails, it is cut there. The err family ends the process: its
 * wrappers are noreturn, as the real ones.
 */
#include "preload/preload.h"

#include "core/alloc.h"
#include "preload/real.h"

#include <err.h>
#include <errno.h>
#include <error.h>
#include <signal.h>
#include <stdarg.h>

#define MESSAGE_ON_STACK 1024

/* ---- perror and psignal ------------------------------------------------ */

MIDA_PL_EXPORT void perror(const char *s) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(perror)(s);
}

MIDA_PL_EXPORT void psignal(int sig, const char *s) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(psignal)(sig, s);
}

MIDA_PL_EXPORT void psiginfo(const siginfo_t *info, const char *s) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(psiginfo)(info, s);
}

/* ---- error and error_at_line ------------------------------------------- */

/* What error() writes into: stdout is flushed first (libc's own fflush,
 * which the fflush wrapper does not see), then stderr. */
static void error_writing(void) {
  if (mida__pl_enter()) {
    int saved = errno;
    mida__pl_stream_flushing(stdout);
    errno = saved;
    mida__pl_leave();
  }
  mida__pl_stream_writing(stderr);
}

/* The message of fmt and ap, formatted into stack (MESSAGE_ON_STACK
 * bytes) or, if longer, into the heap (*heap, to free with mida__free;
 * NULL if not). errno is the caller's when the message is formatted. */
static const char *message(char *stack, char **heap, int caller_errno,
                           const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  *heap = NULL;
  errno = caller_errno;
  int n = vsnprintf(stack, MESSAGE_ON_STACK, fmt, ap);
  if (n >= MESSAGE_ON_STACK) {
    *heap = mida__malloc((size_t)n + 1);
    errno = caller_errno;
    if (*heap != NULL)
      vsnprintf(*heap, (size_t)n + 1, fmt, again);
  }
  va_end(again);
  return *heap != NULL ? *heap : stack;
}

MIDA_PL_EXPORT void error(int status, int errnum, const char *fmt, ...) {
  int caller_errno = errno;
  error_writing();
  char stack[MESSAGE_ON_STACK];
  char *heap;
  va_list ap;
  va_start(ap, fmt);
  const char *text = message(stack, &heap, caller_errno, fmt, ap);
  va_end(ap);
  errno = caller_errno;
  /* A status other than 0 ends the process here, heap and all. */
  MIDA_PL_REAL(error)(status, errnum, "%s", text);
  mida__free(heap);
  errno = caller_errno;
}

MIDA_PL_EXPORT void error_at_line(int status, int errnum, const char *file,
                                  unsigned line, const char *fmt, ...) {
  int caller_errno = errno;
  error_writing();
  char stack[MESSAGE_ON_STACK];
  char *heap;
  va_list ap;
  va_start(ap, fmt);
  const char *text = message(stack, &heap, caller_errno, fmt, ap);
  va_end(ap);
  errno = caller_errno;
  MIDA_PL_REAL(error_at_line)(status, errnum, file, line, "%s", text);
  mida__free(heap);
  errno = caller_errno;
}

/* ---- <err.h> ----------------------------------------------------------- */

MIDA_PL_EXPORT void vwarn(const char *fmt, va_list ap) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(vwarn)(fmt, ap);
}

MIDA_PL_EXPORT void vwarnx(const char *fmt, va_list ap) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(vwarnx)(fmt, ap);
}

MIDA_PL_EXPORT void warn(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(vwarn)(fmt, ap);
  va_end(ap);
}

MIDA_PL_EXPORT void warnx(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(vwarnx)(fmt, ap);
  va_end(ap);
}

MIDA_PL_EXPORT _Noreturn void verr(int status, const char *fmt, va_list ap) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(verr)(status, fmt, ap);
  __builtin_unreachable();
}

MIDA_PL_EXPORT _Noreturn void verrx(int status, const char *fmt,
                                    va_list ap) {
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(verrx)(status, fmt, ap);
  __builtin_unreachable();
}

MIDA_PL_EXPORT _Noreturn void err(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(verr)(status, fmt, ap);
  __builtin_unreachable();
}

MIDA_PL_EXPORT _Noreturn void errx(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stderr);
  MIDA_PL_REAL(verrx)(status, fmt, ap);
  __builtin_unreachable();
}

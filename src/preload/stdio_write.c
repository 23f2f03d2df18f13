/*
 * stdio_write.c -- the output calls of libc's streams that can put bytes
 * into a pipe by themselves: printf, fprintf, vprintf, vfprintf (and their
 * fortified names), fputs, puts, fputc, putc, putchar (and their unlocked
 * names), putw, and __overflow, which the unlocked putc macros of <stdio.h>
 * call when the buffer is full.
 *
 * libc writes a stream's buffer out with its own internal write, which no
 * wrapper sees, when it fills up (4 KiB for a pipe), at each line of a
 * line-buffered stream and at each call on an unbuffered one (stderr):
 * `seq 100000 | head -n 1` has head read seq's first 4 KiB and end while
 * seq is still printing, and seq, killed by SIGPIPE at its next write,
 * never reached the close or exit where its stream was looked at. So the
 * first output call on a stream over a pipe's write end announces the
 * process as the pipe's writer (pipes.c) before the real call. A process
 * that only holds the write end makes no such call, and is no writer.
 *
 * After the first call the check is one load of the descriptor's entry
 * and one of its marks; the real function is called as it is and what it
 * returns, errno included, is the caller's.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <errno.h>
#include <stdarg.h>

/* With optimization glibc's <stdio.h> makes some of these inline
 * functions or macros; the definitions below are the exported ones. */
#undef putc
#undef putchar
#undef fputc_unlocked
#undef putc_unlocked
#undef putchar_unlocked

void mida__pl_stream_announce(mida__pl_file *f) {
  if (!mida__pl_enter())
    return;
  int saved = errno;
  mida__pl_pipe_first_write(f);
  errno = saved;
  mida__pl_leave();
}

/* ---- formatted ---------------------------------------------------------- */

MIDA_PL_EXPORT int vfprintf(FILE *s, const char *fmt, va_list ap) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(vfprintf)(s, fmt, ap);
}

MIDA_PL_EXPORT int vprintf(const char *fmt, va_list ap) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(vfprintf)(stdout, fmt, ap);
}

MIDA_PL_EXPORT int fprintf(FILE *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(s);
  int r = MIDA_PL_REAL(vfprintf)(s, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stdout);
  int r = MIDA_PL_REAL(vfprintf)(stdout, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int __vfprintf_chk(FILE *s, int flag, const char *fmt,
                                  va_list ap) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(__vfprintf_chk)(s, flag, fmt, ap);
}

MIDA_PL_EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(__vfprintf_chk)(stdout, flag, fmt, ap);
}

MIDA_PL_EXPORT int __fprintf_chk(FILE *s, int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(s);
  int r = MIDA_PL_REAL(__vfprintf_chk)(s, flag, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int __printf_chk(int flag, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stdout);
  int r = MIDA_PL_REAL(__vfprintf_chk)(stdout, flag, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- strings and characters -------------------------------------------- */

MIDA_PL_EXPORT int fputs(const char *str, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputs)(str, s);
}

MIDA_PL_EXPORT int fputs_unlocked(const char *str, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputs_unlocked)(str, s);
}

MIDA_PL_EXPORT int puts(const char *str) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(puts)(str);
}

MIDA_PL_EXPORT int fputc(int c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputc)(c, s);
}

MIDA_PL_EXPORT int putc(int c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(putc)(c, s);
}

MIDA_PL_EXPORT int putchar(int c) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(putc)(c, stdout);
}

MIDA_PL_EXPORT int fputc_unlocked(int c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputc_unlocked)(c, s);
}

MIDA_PL_EXPORT int putc_unlocked(int c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputc_unlocked)(c, s);
}

MIDA_PL_EXPORT int putchar_unlocked(int c) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(fputc_unlocked)(c, stdout);
}

MIDA_PL_EXPORT int putw(int w, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(putw)(w, s);
}

MIDA_PL_EXPORT int __overflow(FILE *s, int c) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(__overflow)(s, c);
}

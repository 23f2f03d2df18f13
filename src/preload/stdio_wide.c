/*
 * stdio_wide.c -- the wide-character output calls of libc's streams:
 * fwprintf, wprintf, vfwprintf, vwprintf (and their fortified names),
 * fputws, fputwc, putwc, putwchar (and their unlocked names), and
 * __woverflow, which old <libio.h> macros of putwc_unlocked call when the
 * buffer is full.
 *
 * A wide stream writes its buffer out as the narrow one does (stdio_write.c
 * tells why that matters): by libc's own write, when it fills up, at each
 * line of a line-buffered stream and at each call on an unbuffered one. So
 * the first wide output call on a stream over a pipe's write end announces
 * the process as the pipe's writer before the real call. Before, only the
 * stream's flush, close or the exit looked at it: a wide writer whose
 * reader took its first full buffer and ended (`head -n 1`), killed by
 * SIGPIPE at its next write, was never announced.
 *
 * After the first call the check is the narrow one (preload.h,
 * mida__pl_stream_writing): one load of the descriptor's entry and one of
 * its marks; the real function is called as it is and what it returns,
 * errno included, is the caller's.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <stdarg.h>
#include <wchar.h>

/* With optimization glibc's <wchar.h> may make these macros. */
#undef putwc
#undef putwchar
#undef putwc_unlocked
#undef putwchar_unlocked

/* ---- formatted ---------------------------------------------------------- */

MIDA_PL_EXPORT int vfwprintf(FILE *s, const wchar_t *fmt, va_list ap) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(vfwprintf)(s, fmt, ap);
}

MIDA_PL_EXPORT int vwprintf(const wchar_t *fmt, va_list ap) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(vfwprintf)(stdout, fmt, ap);
}

MIDA_PL_EXPORT int fwprintf(FILE *s, const wchar_t *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(s);
  int r = MIDA_PL_REAL(vfwprintf)(s, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int wprintf(const wchar_t *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stdout);
  int r = MIDA_PL_REAL(vfwprintf)(stdout, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int __vfwprintf_chk(FILE *s, int flag, const wchar_t *fmt,
                                   va_list ap) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(__vfwprintf_chk)(s, flag, fmt, ap);
}

MIDA_PL_EXPORT int __vwprintf_chk(int flag, const wchar_t *fmt, va_list ap) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(__vfwprintf_chk)(stdout, flag, fmt, ap);
}

MIDA_PL_EXPORT int __fwprintf_chk(FILE *s, int flag, const wchar_t *fmt,
                                  ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(s);
  int r = MIDA_PL_REAL(__vfwprintf_chk)(s, flag, fmt, ap);
  va_end(ap);
  return r;
}

MIDA_PL_EXPORT int __wprintf_chk(int flag, const wchar_t *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mida__pl_stream_writing(stdout);
  int r = MIDA_PL_REAL(__vfwprintf_chk)(stdout, flag, fmt, ap);
  va_end(ap);
  return r;
}

/* ---- strings and characters -------------------------------------------- */

MIDA_PL_EXPORT int fputws(const wchar_t *str, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputws)(str, s);
}

MIDA_PL_EXPORT int fputws_unlocked(const wchar_t *str, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputws_unlocked)(str, s);
}

MIDA_PL_EXPORT wint_t fputwc(wchar_t c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputwc)(c, s);
}

MIDA_PL_EXPORT wint_t putwc(wchar_t c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputwc)(c, s);
}

MIDA_PL_EXPORT wint_t putwchar(wchar_t c) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(fputwc)(c, stdout);
}

MIDA_PL_EXPORT wint_t fputwc_unlocked(wchar_t c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputwc_unlocked)(c, s);
}

MIDA_PL_EXPORT wint_t putwc_unlocked(wchar_t c, FILE *s) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(fputwc_unlocked)(c, s);
}

MIDA_PL_EXPORT wint_t putwchar_unlocked(wchar_t c) {
  mida__pl_stream_writing(stdout);
  return MIDA_PL_REAL(fputwc_unlocked)(c, stdout);
}

/* glibc's, declared in no installed header since <libio.h> went. */
wint_t __woverflow(FILE *s, wint_t c);

MIDA_PL_EXPORT wint_t __woverflow(FILE *s, wint_t c) {
  mida__pl_stream_writing(s);
  return MIDA_PL_REAL(__woverflow)(s, c);
}

/*
 * errors.h -- error messages, one convention for the whole library.
 *
 * A function that fails returns a MIDA_E* code (include/mida.h) and leaves
 * a message: in its handle where it has one (a session: mida_errmsg(s); a
 * sink: mida__sink_errmsg; a consumer, a shipper: the same), else in the
 * calling thread's buffer below (read back with mida_errmsg(NULL)). A
 * function that creates a handle and fails has no handle to keep the
 * message in, and writes it into its caller's buffer (char *err, size_t
 * errlen), as mida_open does.
 */
#ifndef MIDA_CORE_ERRORS_H
#define MIDA_CORE_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

/* Sets the calling thread's last message, printf-style; returns rc. */
int mida__set_error(int rc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mida__vset_error(int rc, const char *fmt, va_list ap);

/* Writes a message into a caller's buffer err of errlen bytes (nothing if
 * err is NULL or errlen 0), printf-style: the third way above. */
void mida__errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The calling thread's last message ("" if none); valid until the thread
 * sets another. */
const char *mida__thread_errmsg(void);

#endif /* MIDA_CORE_ERRORS_H */

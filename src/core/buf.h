/*
 * buf.h -- a growable byte buffer with a cap (after curl's dynbuf).
 *
 * Used off the hot path: building SQL, JSON output, error messages. The buffer
 * refuses to grow past its cap and frees itself when an append fails, so a
 * caller cannot go on with half a result by accident.
 */
#ifndef MIDA_CORE_BUF_H
#define MIDA_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct mida__buf {
  char *ptr;  /* contents, always NUL-terminated when non-NULL */
  size_t len; /* bytes used, not counting the NUL */
  size_t cap; /* bytes allocated */
  size_t max; /* the most len may reach */
  int fixed;  /* 1: ptr is the caller's memory (mida__buf_init_fixed) */
} mida__buf;

/* Sets up an empty buffer that may hold up to max bytes. */
void mida__buf_init(mida__buf *b, size_t max);

/* Sets up an empty buffer over the caller's mem (cap bytes, the NUL
 * included), which it never grows, frees or leaves: an append that does
 * not fit fails with MIDA_ETOOBIG and empties it, as a capped buffer's
 * does. For a path that must not allocate (the preload library's exec);
 * mida__buf_free then only empties it. */
void mida__buf_init_fixed(mida__buf *b, char *mem, size_t cap);

/* Appends; on failure (MIDA_ENOMEM, or MIDA_ETOOBIG past max) the buffer is
 * freed and reset. Return MIDA_OK or the error. */
int mida__buf_add(mida__buf *b, const void *data, size_t len);
int mida__buf_adds(mida__buf *b, const char *s);
int mida__buf_printf(mida__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int mida__buf_vprintf(mida__buf *b, const char *fmt, va_list ap);

/* "" if the buffer is empty, else its contents. */
const char *mida__buf_str(const mida__buf *b);

void mida__buf_reset(mida__buf *b);
void mida__buf_free(mida__buf *b);

/* Copies a library's message m (NULL: "") into buf as one line: trailing
 * newlines and spaces dropped, each inner line break with the indent after
 * it made one space, after a ". " (the next line in upper case) or "; "
 * where the line before it ended in no punctuation (libpq's messages end
 * in a newline and indent their hints with a tab: "...refused. Is the
 * server running..."; ours do not). Returns buf. */
const char *mida__one_line(const char *m, char *buf, size_t buflen);

#endif /* MIDA_CORE_BUF_H */

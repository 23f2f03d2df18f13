/*
 * buf.c -- growable, capped byte buffer (see buf.h).
 */
#include "core/buf.h"

#include "core/alloc.h"
#include "mida.h"

#include <stdio.h>
#include <string.h>

void mida__buf_init(mida__buf *b, size_t max) {
  b->ptr = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
  b->fixed = 0;
}

void mida__buf_init_fixed(mida__buf *b, char *mem, size_t cap) {
  b->ptr = cap > 0 ? mem : NULL;
  b->len = 0;
  b->cap = cap;
  b->max = cap > 0 ? cap - 1 : 0;
  b->fixed = 1;
  if (b->ptr != NULL)
    b->ptr[0] = '\0';
}

void mida__buf_free(mida__buf *b) {
  if (b->fixed) {
    mida__buf_reset(b); /* the memory stays the caller's */
    return;
  }
  mida__free(b->ptr);
  b->ptr = NULL;
  b->len = 0;
  b->cap = 0;
}

void mida__buf_reset(mida__buf *b) {
  b->len = 0;
  if (b->ptr != NULL)
    b->ptr[0] = '\0';
}

/* Makes room for extra more bytes plus the NUL. */
static int buf_reserve(mida__buf *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra) {
    mida__buf_free(b);
    return MIDA_ETOOBIG;
  }
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return MIDA_OK;
  if (b->fixed) { /* its max is cap - 1: not reached */
    mida__buf_free(b);
    return MIDA_ETOOBIG;
  }
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap *= 2;
  char *p = mida__realloc(b->ptr, cap);
  if (p == NULL) {
    mida__buf_free(b);
    return MIDA_ENOMEM;
  }
  b->ptr = p;
  b->cap = cap;
  return MIDA_OK;
}

int mida__buf_add(mida__buf *b, const void *data, size_t len) {
  int rc = buf_reserve(b, len);
  if (rc != MIDA_OK)
    return rc;
  if (len > 0)
    memcpy(b->ptr + b->len, data, len);
  b->len += len;
  b->ptr[b->len] = '\0';
  return MIDA_OK;
}

int mida__buf_adds(mida__buf *b, const char *s) {
  return mida__buf_add(b, s, strlen(s));
}

/* Formats straight into the room the buffer has, which is most often
 * enough, and formats a second time, after making room, only when it was
 * not: measuring first (vsnprintf into NULL, then again into the buffer)
 * formatted every text twice, about half of the cost of building the
 * store's statements at each `mida run` (~1,000 instructions of glibc's
 * vsnprintf a call, hundreds of calls). */
int mida__buf_vprintf(mida__buf *b, const char *fmt, va_list ap) {
  size_t room = b->cap - b->len; /* with the NUL's byte; 0 if unallocated */
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(room > 0 ? b->ptr + b->len : NULL, room, fmt, ap);
  int rc = MIDA_OK;
  if (n < 0) {
    mida__buf_free(b);
    rc = MIDA_EINVAL;
  } else if ((size_t)n < room && (size_t)n <= b->max - b->len) {
    b->len += (size_t)n; /* it fitted, NUL included */
  } else {
    /* What a short room received is overwritten, or freed with the
     * buffer when it cannot grow (past its max too). */
    rc = buf_reserve(b, (size_t)n);
    if (rc == MIDA_OK) {
      vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, again);
      b->len += (size_t)n;
    }
  }
  va_end(again);
  return rc;
}

int mida__buf_printf(mida__buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mida__buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

const char *mida__buf_str(const mida__buf *b) {
  return b->ptr != NULL ? b->ptr : "";
}

const char *mida__one_line(const char *m, char *buf, size_t buflen) {
  if (buflen == 0)
    return buf;
  const char *src = m != NULL ? m : "";
  size_t n = strlen(src);
  while (n > 0 && (src[n - 1] == '\n' || src[n - 1] == '\r' ||
                   src[n - 1] == ' ' || src[n - 1] == '\t'))
    n--;
  /* A line break and the indent after it end a sentence where nothing
   * did ("...refused\n\tIs the server running..." reads "...refused. Is
   * the server running..."; a next line in lower case follows a "; "), and
   * are one space after a line that ended in punctuation. */
  size_t o = 0, room = buflen - 1;
  for (size_t i = 0; i < n && o < room; i++) {
    if (src[i] != '\n' && src[i] != '\r') {
      buf[o++] = src[i];
      continue;
    }
    while (i + 1 < n && strchr("\t \n\r", src[i + 1]) != NULL)
      i++;
    while (o > 0 && buf[o - 1] == ' ')
      o--;
    if (o == 0)
      continue;
    int ended = strchr(".:;!?,", buf[o - 1]) != NULL;
    int upper = src[i + 1] >= 'A' && src[i + 1] <= 'Z';
    if (!ended && o < room)
      buf[o++] = upper ? '.' : ';';
    if (o < room)
      buf[o++] = ' ';
  }
  buf[o] = '\0';
  return buf;
}

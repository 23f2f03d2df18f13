/*
 * stdio_seen.c -- what this process's own stdio streams did that no
 * wrapper saw: whether a stream wrote or read through its buffer.
 *
 * libc reads and writes a stream's descriptor with its own internal calls.
 * Most output calls are wrapped (stdio_write.c, stdio_wide.c,
 * stdio_messages.c), but not the inline putc_unlocked of <stdio.h>, nor
 * any input call; so when a pipe's end is closed, flushed or left at exit
 * (files.c), the stream's state in glibc's FILE says what it did: put
 * mode (set by its first output, kept by a flush) or output not yet
 * flushed, and a read buffer or the end of file met.
 *
 * A child made by fork() has a copy of that state, which is its parent's:
 * bash's stdout is in put mode once it ran `echo`, and each `( ... )`
 * subshell it forks then, printing nothing, looked like a writer of its
 * pipe at its exit (the reader depended on each one, and the pipe's four
 * writer slots filled up); the parent's stdin buffer made a child that
 * read nothing a reader. So a forked child notes, just after the fork
 * (mida__pl_stdio_forked), each stream whose state says it wrote or read,
 * and where its buffer pointers are. A noted stream is the child's own
 * writer once it makes an output call (the wrappers call
 * mida__pl_stdio_own while mida__pl_stdio_inherited counts notes), holds
 * output (the inline putc_unlocked, or what the parent left unflushed,
 * which the child's exit writes out again), or its put pointer moved; its
 * own reader once its get pointer or area moved, or it met the end.
 *
 * Nothing here is on the read/write path: these run when a pipe's end is
 * closed, flushed or left at exit, at an fclose, and once in a forked
 * child.
 */
#include "preload/preload.h"

#include <stdatomic.h>

/* glibc's flag of a stream in put mode (libio.h): set by its first
 * output, which goes through the overflow that sets up the put area, and
 * kept by a flush. */
#define GLIBC_IO_CURRENTLY_PUTTING 0x800

/* Streams whose state, at the last fork, was the parent's. More are rare
 * (stdin, stdout, stderr, a stream or two): the rest count as before, the
 * inherited state as the child's own. */
#define INHERITED_MAX 16

typedef struct inherited_stream {
  FILE *_Atomic stream; /* the stream, or NULL: a free place */
  _Atomic int put;      /* it was in put mode, nothing pending, and has
                           made no output call since (stdio_write.c) */
  int got;              /* it had read through its buffer */
  char *put_at;         /* its put pointer at the fork */
  char *get_at;         /* its get pointer at the fork */
  char *get_end;        /* the end of its get area at the fork */
  int eof;              /* whether it had met the end of file then */
} inherited_stream;

static inherited_stream inherited[INHERITED_MAX];
/* Places of inherited[] used since the last fork: 0 in a process that was
 * not forked, where nothing here is looked at. */
static _Atomic int inherited_count;

_Atomic int mida__pl_stdio_inherited;

/* The state of s at the fork, or NULL if s's state is its own. */
static inherited_stream *inherited_of(const FILE *s) {
  if (s == NULL)
    return NULL; /* not a free place's */
  int n = atomic_load_explicit(&inherited_count, memory_order_acquire);
  for (int k = 0; k < n; k++)
    if (atomic_load_explicit(&inherited[k].stream, memory_order_relaxed) == s)
      return &inherited[k];
  return NULL;
}

/* Whether the stream read anything through its buffer: it holds what it
 * read, or it met the end. Its pointers alone say nothing: setvbuf()
 * points them all at the buffer (Python makes its stdin, stdout and
 * stderr so at start). */
static int buffer_read(FILE *s) {
  return s->_IO_read_end != s->_IO_read_base || feof_unlocked(s);
}

/* Input is not wrapped: a child's own read moved the get pointer (what
 * it took from the buffer) or the get area (what it read into it). */
static int stream_read(FILE *s) {
  if (s == NULL || !buffer_read(s))
    return 0;
  const inherited_stream *was = inherited_of(s);
  return was == NULL || !was->got || s->_IO_read_ptr != was->get_at ||
         s->_IO_read_end != was->get_end ||
         (feof_unlocked(s) != 0) != was->eof;
}

/* Whether the stream holds output not yet flushed. */
static int holds_output(const FILE *s) {
  return s->_IO_write_base != NULL && s->_IO_write_ptr > s->_IO_write_base;
}

int mida__pl_stream_wrote(FILE *s) {
  if (s == NULL || s->_IO_write_base == NULL)
    return 0;
  if (holds_output(s))
    return 1; /* this process writes it out, even the parent's */
  if ((s->_flags & GLIBC_IO_CURRENTLY_PUTTING) == 0)
    return 0;
  /* In put mode since the fork, with no output call of this process: an
   * output call that is not wrapped moved the put pointer, if anything. */
  const inherited_stream *was = inherited_of(s);
  return was == NULL ||
         !atomic_load_explicit(&was->put, memory_order_relaxed) ||
         s->_IO_write_ptr != was->put_at;
}

int mida__pl_stdio_moved(mida__pl_file *f, int fd, int is_write) {
  if (is_write)
    return mida__pl_stream_wrote(f->stream) ||
           ((fd == 1 || mida__pl_file_of(1) == f) &&
            mida__pl_stream_wrote(stdout)) ||
           ((fd == 2 || mida__pl_file_of(2) == f) &&
            mida__pl_stream_wrote(stderr));
  return stream_read(f->stream) ||
         ((fd == 0 || mida__pl_file_of(0) == f) && stream_read(stdin));
}

/* Forgets that s was in put mode at the fork: it wrote since. */
static void put_forgotten(inherited_stream *was) {
  if (atomic_exchange_explicit(&was->put, 0, memory_order_relaxed))
    atomic_fetch_sub_explicit(&mida__pl_stdio_inherited, 1,
                              memory_order_relaxed);
}

void mida__pl_stdio_own(FILE *s) {
  inherited_stream *was = inherited_of(s);
  if (was != NULL)
    put_forgotten(was);
}

void mida__pl_stdio_closed(FILE *s) {
  if (atomic_load_explicit(&inherited_count, memory_order_acquire) == 0)
    return;
  inherited_stream *was = inherited_of(s);
  if (was == NULL)
    return;
  put_forgotten(was);
  atomic_store_explicit(&was->stream, NULL, memory_order_relaxed);
}

/* Notes s's state as its parent left it, if it says the stream wrote
 * (with nothing pending) or read. */
static void note_inherited(FILE *s) {
  if (s == NULL || inherited_of(s) != NULL)
    return;
  int put = s->_IO_write_base != NULL && !holds_output(s) &&
            (s->_flags & GLIBC_IO_CURRENTLY_PUTTING) != 0;
  int got = buffer_read(s);
  int n = atomic_load_explicit(&inherited_count, memory_order_relaxed);
  if ((!put && !got) || n >= INHERITED_MAX)
    return;
  inherited_stream *was = &inherited[n];
  was->got = got;
  was->put_at = s->_IO_write_ptr;
  was->get_at = s->_IO_read_ptr;
  was->get_end = s->_IO_read_end;
  was->eof = feof_unlocked(s) != 0;
  atomic_store_explicit(&was->put, put, memory_order_relaxed);
  if (put)
    atomic_fetch_add_explicit(&mida__pl_stdio_inherited, 1,
                              memory_order_relaxed);
  atomic_store_explicit(&was->stream, s, memory_order_relaxed);
  atomic_store_explicit(&inherited_count, n + 1, memory_order_release);
}

void mida__pl_stdio_forked(void) {
  /* The parent's notes, if it was a forked child too, were its own.
   * Nothing is written where there are none: a page written in a child is
   * a page fault. */
  if (atomic_load_explicit(&inherited_count, memory_order_relaxed) != 0) {
    for (int k = 0; k < INHERITED_MAX; k++) {
      atomic_store_explicit(&inherited[k].stream, NULL, memory_order_relaxed);
      atomic_store_explicit(&inherited[k].put, 0, memory_order_relaxed);
    }
    atomic_store_explicit(&inherited_count, 0, memory_order_release);
    atomic_store_explicit(&mida__pl_stdio_inherited, 0,
                          memory_order_relaxed);
  }
  note_inherited(stdin);
  note_inherited(stdout);
  note_inherited(stderr);
  const int end = mida__pl_fd_bound();
  for (int fd = 0; fd < end; fd++) {
    mida__pl_file *f = mida__pl_file_of(fd);
    if (f != NULL)
      note_inherited(f->stream);
  }
}

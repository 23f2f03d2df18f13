/*
 * preload.h -- the inside of libmida_preload.so, the library that `mida
 * run` puts into every process of a command through LD_PRELOAD (internal to
 * src/preload).
 *
 * What it records. Each process is a task (activity = the program's name,
 * its argv, cwd, pid and parent pid, start, end, exit status or signal);
 * the task of the process that started it is its parent, and a task goes
 * on across execve() with its new program. Each regular file a process
 * opens is data (a file:// URI; identity "inode:dev:ino:mtime_ns:size"
 * taken when it is closed), linked to the process's task -- and to the
 * workflow-level task its thread had open, if any (core/thread_task.h) --
 * as used (opened for reading) or generated (written), with the bytes read
 * or written. A pipe read by one process of the command and written by
 * another becomes a task dependency (pipes.c). Records go into a journal
 * segment of the process's own in the spool (src/capture/journal.h), which
 * `mida run` ships; nothing here talks to a store.
 *
 * How it stays out of the way (STYLE.md, "Interposition"):
 *
 * - one file per intercepted family: open.c, mkstemp.c, close_dup.c,
 *   rw.c, stdio.c, stdio_write.c, stdio_wide.c, stdio_messages.c,
 *   popen.c, mmap.c, stat.c, names.c, times.c, exec.c, process.c,
 *   vfork.c, exit_handlers.c;
 *   each wrapper finds the real function lazily with dlsym(RTLD_NEXT)
 *   (real.c);
 * - reads and writes only add to counters of a preallocated table indexed
 *   by descriptor (files.c): no lock, no allocation, no system call beyond
 *   the real one, errno untouched;
 * - the other wrappers save and restore errno, and set a thread-local flag
 *   while they work, so that a call they make themselves, or one made by a
 *   signal handler that interrupts them, goes straight to the real
 *   function;
 * - the journal is appended to only when a file is closed, a process
 *   starts, forks, execs or exits, and a child is reaped.
 *
 * Nothing but the intercepted functions and mida_preload_attach (the seam
 * of core/thread_task.h) is exported: the library is built with hidden
 * visibility and each exported function is marked MIDA_PL_EXPORT.
 */
#ifndef MIDA_PRELOAD_PRELOAD_H
#define MIDA_PRELOAD_PRELOAD_H

#include "capture/journal.h"
#include "mida.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define MIDA_PL_EXPORT __attribute__((visibility("default")))

#define MIDA_PL_FDS 4096       /* descriptors tracked: 0 .. MIDA_PL_FDS-1 */
#define MIDA_PL_FILES 1024     /* files open at once that can be tracked */
#define MIDA_PL_PATH 4096      /* bytes of an absolute path, NUL included */
#define MIDA_PL_CHILDREN 256   /* children whose end is awaited */
#define MIDA_PL_WF_TASKS 4     /* copies of libmida that attached */
#define MIDA_PL_INHERIT_MAX 64 /* descriptors handed over across exec */
#define MIDA_PL_ACTIVITY 256   /* bytes of an activity, NUL included */
#define MIDA_PL_EXEC_USED 16384 /* bytes of the argv an exec records before
                                   the new program runs (on the stack) */

/* MIDA_PRELOAD_FDS of a program a vfork child execs: adopt every
 * descriptor it starts with (state.c, adopt_descriptors). */
#define MIDA_PL_FDS_SCAN "scan"

/* ---- the per-thread guard ---------------------------------------------- */

/* Set while a wrapper of this thread works: what it calls, and what a
 * signal handler interrupting it calls, goes straight to libc. */
extern __thread int mida__pl_busy __attribute__((tls_model("initial-exec")));

/* Whether the library records (configured by `mida run`, initialized). */
extern int mida__pl_active;

/* Enters a wrapper's recording part: 1 if the caller may record (and must
 * call mida__pl_leave), 0 if it must only call the real function. */
static inline int mida__pl_enter(void) {
  if (!mida__pl_active || mida__pl_busy)
    return 0;
  mida__pl_busy = 1;
  return 1;
}

static inline void mida__pl_leave(void) {
  mida__pl_busy = 0;
}

/* ---- tracked files (files.c) ------------------------------------------ */

enum mida__pl_kind {
  MIDA_PL_PATH_KIND = 1, /* opened by name: a regular file, or a directory
                            (told apart with fstat when closed) */
  MIDA_PL_PIPE_KIND = 2  /* an anonymous pipe's end */
};

enum mida__pl_mode { MIDA_PL_R = 1, MIDA_PL_W = 2 };

/* Facts gathered while a file is open (bits of mida__pl_file.marks). */
enum mida__pl_mark {
  MIDA_PL_TRUNCATED = 1, /* O_TRUNC or ftruncate(): its content replaced */
  MIDA_PL_CREATE = 2,    /* O_CREAT: generated if empty when closed */
  MIDA_PL_MAPPED_R = 4,  /* mapped readable */
  MIDA_PL_MAPPED_W = 8,  /* mapped shared and writable */
  MIDA_PL_UNANNOUNCED = 16, /* a pipe's write end not yet in the registry */
  MIDA_PL_INHERITED = 32,   /* came from the parent (fork, exec): recorded
                               only if this process used it */
  MIDA_PL_RETIMED = 64,     /* its mtime set (futimens): a new version */
  MIDA_PL_FRESH = 128       /* opened for writing with O_TRUNC, or made by
                               O_CREAT|O_EXCL: what it reads back is its
                               own writing, no earlier version's */
};

/* One open file (an open file description, shared by its dup'ed
 * descriptors), in a table preallocated for the process. */
typedef struct mida__pl_file {
  _Atomic uint32_t refs;     /* descriptors pointing here; 0: free */
  uint8_t kind;              /* mida__pl_kind */
  uint8_t mode;              /* MIDA_PL_R | MIDA_PL_W */
  _Atomic uint8_t marks;     /* mida__pl_mark bits */
  _Atomic uint64_t nread;    /* bytes read (or mapped readable) */
  _Atomic uint64_t nwritten; /* bytes written (or mapped writable) */
  uint64_t pipe_ino;         /* a pipe's inode */
  FILE *stream;              /* the stdio stream over it, or NULL */
  mida_id_t wf_task;         /* the workflow-level task of the opening
                                thread, or nil */
  char *path;                /* absolute path (MIDA_PL_PATH bytes) */
  uint64_t told_read;        /* nread already in a record (links.c) */
  uint64_t told_written;     /* nwritten already in a record */
} mida__pl_file;

/* Descriptor -> index + 1 into mida__pl_files; 0: not tracked. */
extern _Atomic int32_t mida__pl_fd_map[MIDA_PL_FDS];
extern mida__pl_file mida__pl_files[MIDA_PL_FILES];

/* One past the highest descriptor ever tracked in this process: the walks
 * of the table (at exit, exec, fork, closefrom) stop there, not at
 * MIDA_PL_FDS (a short process has a handful of descriptors; 4,096 slots
 * were ~25,000 instructions at every exit). Raised before an entry is
 * installed, never lowered. */
extern _Atomic int mida__pl_fd_end;

static inline int mida__pl_fd_bound(void) {
  return atomic_load_explicit(&mida__pl_fd_end, memory_order_acquire);
}

/* Whether id is set (not nil): mida_id_is_nil() without its call and
 * memcmp(), for the close path. */
static inline int mida__pl_id_set(const mida_id_t *id) {
  uint64_t w[2];
  memcpy(w, id->bytes, 16);
  return (w[0] | w[1]) != 0;
}

/* The file descriptor fd refers to, or NULL. No lock; safe anywhere. */
static inline mida__pl_file *mida__pl_file_of(int fd) {
  if ((unsigned)fd >= MIDA_PL_FDS)
    return NULL;
  int32_t i = atomic_load_explicit(&mida__pl_fd_map[fd], memory_order_acquire);
  return i > 0 ? &mida__pl_files[i - 1] : NULL;
}

/* The read/write path: adds n > 0 bytes to fd's counter, if tracked. */
static inline void mida__pl_count_read(int fd, int64_t n) {
  mida__pl_file *f = n > 0 ? mida__pl_file_of(fd) : NULL;
  if (f != NULL)
    atomic_fetch_add_explicit(&f->nread, (uint64_t)n, memory_order_relaxed);
}

static inline void mida__pl_count_write(mida__pl_file *f, int64_t n) {
  if (f != NULL && n > 0)
    atomic_fetch_add_explicit(&f->nwritten, (uint64_t)n,
                              memory_order_relaxed);
}

/* The stdio output path (stdio_write.c, stdio_wide.c, stdio_messages.c,
 * stdio.c): an output call on a stream over a pipe's write end not yet
 * announced announces this process as the pipe's writer first, before
 * libc can write the stream's buffer into the pipe by itself (full, a
 * line, unbuffered). glibc's FILE: its descriptor read as libc's own
 * fileno_unlocked reads it (-1: none). The slow paths are out of line
 * (cold), so that the wrapper's fast path saves few registers before it
 * tail-calls the real function. */
__attribute__((cold, noinline)) void
mida__pl_stream_announce(mida__pl_file *f);

/* In a forked child, the number of streams still in the put mode their
 * parent left them in (stdio_seen.c); 0 in any other process. */
extern _Atomic int mida__pl_stdio_inherited;

/* Stream s makes an output call in a forked child: its put mode is its
 * own from now (stdio_seen.c). No lock, errno untouched. */
__attribute__((cold, noinline)) void mida__pl_stdio_own(FILE *s);

static inline void mida__pl_stream_writing(FILE *s) {
  if (__builtin_expect(atomic_load_explicit(&mida__pl_stdio_inherited,
                                            memory_order_relaxed) != 0,
                       0))
    mida__pl_stdio_own(s);
  mida__pl_file *f = s != NULL ? mida__pl_file_of(s->_fileno) : NULL;
  if (f != NULL &&
      __builtin_expect((atomic_load_explicit(&f->marks, memory_order_relaxed) &
                        MIDA_PL_UNANNOUNCED) != 0,
                       0))
    mida__pl_stream_announce(f);
}

/* ---- what stdio did unseen (stdio_seen.c) ------------------------------ */

/* Whether this process's stdio wrote through stream s (glibc's put mode,
 * or output held): not a forked child's copy of its parent's put mode. */
int mida__pl_stream_wrote(FILE *s);

/* Whether this process's own stdio wrote (is_write) or read through f,
 * which descriptor fd refers to (or did, until the close under way): the
 * stream over it, or stdout and stderr (stdin) when f is what descriptor
 * 1 or 2 (0) refers to. */
int mida__pl_stdio_moved(mida__pl_file *f, int fd, int is_write);

/* In a child just made by fork(): notes the streams whose state is the
 * parent's, so that it is not taken for the child's own. */
void mida__pl_stdio_forked(void);

/* Stream s is about to be closed (fclose, pclose, freopen): a later
 * stream at its address is another. */
void mida__pl_stdio_closed(FILE *s);

/* Puts the absolute, lexically normal form of path (relative to directory
 * descriptor dirfd, or the working directory for AT_FDCWD) into out
 * (MIDA_PL_PATH bytes). Returns 0, or -1 if it does not fit or the base is
 * unknown. */
int mida__pl_abspath(int dirfd, const char *path, char *out);

/* mida__pl_abspath, returning the length of what it put into out, or -1. */
ssize_t mida__pl_abspath_len(int dirfd, const char *path, char *out);

/* Whether an absolute path is noise: not recorded, only counted
 * (/proc, /sys, /dev, loader libraries, mida's own files, --ignore). */
int mida__pl_is_noise(const char *abs);

/* mida__pl_is_noise of abs, len bytes long, looked at in the same pass for
 * the URI: *uri_plain is 1 if every byte of abs stands for itself in one
 * (core/fileid.h), 0 if some byte may not or if abs is noise. */
int mida__pl_noise_scan(const char *abs, size_t len, int *uri_plain);

/* Reads the ':'-separated prefixes of MIDA_PRELOAD_IGNORE (at start; "\:"
 * and "\\" are a ':' and a '\' of a prefix);
 * code_is_data (MIDA_PRELOAD_RECORD_CODE): an interpreter's installed code
 * (__pycache__, lib/pythonX.Y, site-packages, ...) is recorded, not noise. */
void mida__pl_noise_init(const char *list, int code_is_data);

/* The working directory changed (chdir, fchdir): relative paths are
 * resolved against the new one. */
void mida__pl_cwd_changed(void);

/* Starts tracking fd, just opened by name (dirfd, path) with open(2)
 * flags; exclusive: the open was announced by mida__pl_excl_begin, which
 * said 1. Noise and untrackable files are counted and left alone. */
void mida__pl_track_open(int fd, int dirfd, const char *path, int flags,
                         int exclusive);

/* Around an open(2) with flags: called before the real call, 1 if it may
 * create its file exclusively (O_CREAT | O_EXCL), which is then announced
 * until mida__pl_excl_end(1), called after the file is tracked (or the
 * open failed). Such a file is new: no file another descriptor had open
 * before it can be it, so its writer is left out of the kept fstats taken
 * while no such open or writer was under way (files.c, writer_excl). Only
 * an atomic count: safe in a signal handler, errno untouched. */
int mida__pl_excl_begin(int flags);
void mida__pl_excl_ended(void);

/* Inline: every open ends one, and most announced nothing. */
static inline void mida__pl_excl_end(int announced) {
  if (announced)
    mida__pl_excl_ended();
}

/* Adds n records dropped by this process, which its journal could not
 * keep the count of, to the pipe registry, where `mida run` records them
 * (pipes.c). Returns false where there is no registry. */
bool mida__pl_pipes_add_dropped(uint64_t n);

/* Starts tracking fd as an end of a pipe with inode ino. */
void mida__pl_track_pipe(int fd, uint64_t ino, int mode);

/* Tracks an inherited descriptor (at start): a regular file found by its
 * /proc/self/fd link, or a pipe. Counts carried over exec are added. */
void mida__pl_track_inherited(int fd, uint64_t nread, uint64_t nwritten);

/* stream is the stdio stream over tracked fd (fopen, fdopen); append: it
 * was opened for appending. Its bytes are also counted by how far fd's
 * offset moves. */
void mida__pl_set_stream(int fd, FILE *stream, int append);

/* Before the descriptor of stream s is closed inside libc (fclose,
 * pclose, freopen): flushes s, then records its file while the descriptor
 * still shows it (stdio.c). */
void mida__pl_stream_closing(FILE *s);

/* Before libc flushes stream s (every stream if s is NULL: fflush(NULL),
 * exit): a pipe's write end that s wrote into, or holds output for,
 * announces this process as a writer of the pipe (pipes.c) before the
 * data can reach a reader (files.c). */
void mida__pl_stream_flushing(FILE *s);

/* Marks carried over an exec (MIDA_PRELOAD_FDS) onto fd's entry. */
void mida__pl_set_marks(int fd, unsigned marks);

/* fd now refers to what old refers to (dup, dup2, fcntl F_DUPFD). If fd
 * was tracked, it is released first (see mida__pl_release). */
void mida__pl_dup(int old, int fd);

/* A call of the real fstat (or, where struct stat64 is struct stat,
 * fstat64) of fd into st. */
typedef int (*mida__pl_fstat_call)(int fd, void *st);

/* The program's own fstat of fd (stat.c): returns call(fd, st), errno as
 * it left it. If fd's file is open for reading only and the call
 * succeeded, the answer (a struct stat) is kept as the identity of fd's
 * file for its close, if nothing can have changed it in between (see
 * files.c) -- measured from before the real call, so that what happens
 * while it returns (another thread's write, fd closed and its entry given
 * to another file) is not missed. No lock, no system call of its own. */
int mida__pl_fstat(int fd, void *st, mida__pl_fstat_call call);

/* This process changed a file (truncate, ftruncate): a kept fstat of any
 * file may be out of date. */
void mida__pl_files_changed(void);

/* Called before fd is closed: drops its reference and, on the last one,
 * records the file (mida__pl_record_file). fd must still be open. */
void mida__pl_release(int fd);

/* Records what the process did with f so far (links, pipe dependencies),
 * reading its identity from fd (which must refer to it). The counters are
 * kept, so that a later record of the same file says the larger count. */
void mida__pl_record_file(mida__pl_file *f, int fd);

/* Which files mida__pl_record_all() records. */
enum mida__pl_when {
  MIDA_PL_AT_EXIT,      /* all; stdio flushed first, pipe writers announced */
  MIDA_PL_AT_EXEC,      /* those the exec closes (close-on-exec) */
  MIDA_PL_AT_EXEC_LOST  /* all: the new program will not be observed */
};

/* Records the tracked files (at exit, at exec); see mida__pl_when. */
void mida__pl_record_all(int when);

/* Forgets all tracked files without recording them (in a child that was
 * made by fork: it keeps its own counts from zero). */
void mida__pl_files_reset_counts(void);

/* Writes "fd:nread:nwritten,..." of the tracked descriptors an exec keeps
 * open into buf (for MIDA_PRELOAD_FDS). Returns the length, or 0. */
size_t mida__pl_files_inheritable(char *buf, size_t cap);

/* fd's file, opened with O_TMPFILE and tracked without a name, was given
 * the absolute name abs (linkat): it is recorded under it when closed. */
void mida__pl_files_named(int fd, const char *abs);

/* Renames open files whose path is from (or under it) to to. */
void mida__pl_files_renamed(const char *from, const char *to);

/* The running total of the bytes of a link of this process (task, the
 * version st of a file, role) after adding more: what a record says
 * (links.c). */
int64_t mida__pl_link_total(const mida_id_t *task, const struct stat *st,
                            int role, uint64_t more);

/* Forgets every total (a child after fork counts its own): the table is
 * cleared before the next total is taken. */
void mida__pl_links_reset(void);

/* ---- process state (state.c) ------------------------------------------ */

/* A process-wide count of something not recorded (see mida__pl_state). */
typedef enum mida__pl_counter {
  MIDA_PL_C_IGNORED,      /* opens of noise files */
  MIDA_PL_C_UNTRACKED,    /* files not tracked: table full, fd too high,
                             path too long */
  MIDA_PL_C_DROPPED,      /* records the journal could not take */
  MIDA_PL_C_UNOBSERVED,   /* execs of programs the library cannot enter */
  MIDA_PL_C_PIPES_LOST,   /* pipe writers the registry could not hold */
  MIDA_PL_C_COUNT
} mida__pl_counter;

typedef struct mida__pl_state {
  pid_t pid;                 /* this process (updated after fork) */
  mida_id_t task;            /* this process's task */
  mida_id_t parent;          /* the task that started it, or nil */
  mida_id_t workflow;        /* MIDA_WORKFLOW, or nil */
  mida_id_t campaign;        /* from MIDA_CAMPAIGN, or nil */
  int64_t started_ns;        /* when this process (or image) started */
  char activity[MIDA_PL_ACTIVITY]; /* the program's name */
  char *used_json;           /* {"argv":[...],"cwd":...} (heap), or NULL */
  char *exe_json;            /* the program's path as a JSON string (heap),
                                or NULL */
  int begun;                 /* this process's begin is in its journal */
  int exited;                /* its end is */
  int is_command;            /* the command's first process (the root
                                task, maybe after exec): `mida run` records
                                its resource use from wait4, so its end
                                does not */
  char spool[PATH_MAX];      /* MIDA_PRELOAD_SPOOL */
  char self_path[PATH_MAX];  /* this library, for LD_PRELOAD of children */
  size_t ring_bytes;         /* journal ring size */
  _Atomic uint64_t counters[MIDA_PL_C_COUNT]; /* mida__pl_counter */
  _Atomic uint64_t segments_made_told; /* run.segment_files_made so far */
  uint64_t segments_made_before; /* segment files made anew by the images
                                    of this process before its last exec */
  uint64_t dropped_kept;  /* run.dropped_records last in the journal */
  uint64_t dropped_given; /* drops handed to the pipe registry (emit.c) */
  uint64_t journal_dropped_before; /* records the journals of this
                                      process's images before its last
                                      exec dropped (counts.c) */
} mida__pl_state;

extern mida__pl_state mida__pl;

static inline void mida__pl_count(mida__pl_counter c) {
  atomic_fetch_add_explicit(&mida__pl.counters[c], 1, memory_order_relaxed);
}

/* The activity of a program started with argv (NULL: none) whose path is
 * exe: the base name of argv[0], or of exe where that is empty, as the
 * program's own begin says it. Returns where it is (in argv[0] or exe) and
 * its length in *len, at most MIDA_PL_ACTIVITY - 1 bytes. */
const char *mida__pl_activity_of(char *const *argv, const char *exe,
                                 size_t *len);

/* The library's constructor starts (exit_handlers.c): an exit handler
 * registered from now on runs before the library's own. */
void mida__pl_exit_handlers_started(void);

/* The end of the process in _exit() or _Exit() (process.c): what it did
 * with its open files, then its task's end, without flushing stdio. */
void mida__pl_exit_now(int code);

/* This process's journal, opened on first use; NULL if it cannot be. */
mida__journal *mida__pl_journal(void);

/* The journal if it is open already, else NULL (never opens it). */
mida__journal *mida__pl_journal_if_open(void);

/* In a child just made by fork(): a new task (its id made by the parent
 * before the fork), its own journal when needed, its own counts. */
void mida__pl_after_fork(const mida_id_t *child_task);

/* Writes "MIDA_PRELOAD_TASK=task,parent,pid" for a process about to be
 * made (pid 0) or an exec of this one into buf (MIDA_PL_CTX_BYTES). */
#define MIDA_PL_CTX_BYTES 128
void mida__pl_context_env(const mida_id_t *task, const mida_id_t *parent,
                          long pid, char *buf);

/* The "MIDA_PRELOAD_TASK=..." entry of envp if it is a `mida run`'s
 * handoff to its command (parent "-", pid 0: state.c), else NULL: what a
 * `mida run` observed by an outer one gives the command it starts. */
const char *mida__pl_run_handoff(char *const *envp);

/* The innermost workflow-level task open on the calling thread (through
 * the seam, seam.c): 1 and *out, or 0. mida__pl_thread_task asks the
 * attached copies (mida__pl_thread_task_asked) only if there are any. */
int mida__pl_thread_task_asked(mida_id_t *out);

/* How many copies of libmida attached (seam.c): 0 in most processes. */
extern _Atomic int mida__pl_seams;

/* Inline: every open asks, and a process without libmida has nothing to
 * ask. */
static inline int mida__pl_thread_task(mida_id_t *out) {
  if (atomic_load_explicit(&mida__pl_seams, memory_order_acquire) == 0)
    return 0;
  return mida__pl_thread_task_asked(out);
}

/* ---- counters across exec (counts.c) ---------------------------------- */

/* Writes "MIDA_PRELOAD_COUNTS=pid:..." into buf (MIDA_PL_COUNTS_BYTES): this
 * process's counters, for the image an exec of it starts; "" when every
 * one is 0 (the new image's own start). */
#define MIDA_PL_COUNTS_BYTES 256
void mida__pl_counts_entry(char *buf);

/* The start of an image that goes on with this process's task after an
 * exec: its counters from value (MIDA_PRELOAD_COUNTS, or NULL), if they
 * are this process's. */
void mida__pl_counts_adopt(const char *value);

/* ---- records (emit.c) -------------------------------------------------- */

/* What a program says it is in its own begin, as another process or image
 * says it for it: its activity (len bytes, not NUL-terminated) and its
 * {"argv":[...]} (or NULL). Borrowed. */
typedef struct mida__pl_program {
  const char *activity; /* NULL: nothing to say */
  size_t len;           /* bytes of activity */
  const char *used;     /* {"argv":[...]}, or NULL */
} mida__pl_program;

/* *p for a program that is about to run argv at path (exec, posix_spawn)
 * as its own begin will say it (mida__pl_activity_of, core/argv.h), its
 * used written into buf (cap bytes; NULL if it does not fit there). No
 * allocation, no system call. */
void mida__pl_program_of(mida__pl_program *p, char *const *argv,
                         const char *path, char *buf, size_t cap);

/* The begin of this process's task (activity, argv, cwd, times), once. */
void mida__pl_emit_begin(void);

/* The end of this process's task with exit status code. */
void mida__pl_emit_end(int code);

/* A child this process made (fork, vfork, posix_spawn): its task, parent,
 * pid and start; with became (the program it exec'd), its activity and
 * argv too, and with note (that program cannot be entered) the note and
 * program (its path, or NULL) as its exe; this_program: a child that
 * never exec'd, recorded as running this program (activity, argv, cwd,
 * exe). */
void mida__pl_emit_child(const mida_id_t *child, pid_t pid, int64_t started,
                         const char *note, const char *program,
                         const mida__pl_program *became, int this_program);

/* This process execs a program the library cannot enter: the task goes on
 * as that program (activity, argv) with the note. */
void mida__pl_emit_unobserved_exec(const char *note, const char *path,
                                   char *const *argv);

/* This process is about to exec a program the library will observe, p:
 * the task is that program from now (what its own begin will repeat), so
 * that a process killed between the exec and that begin still says what
 * it ran. */
void mida__pl_emit_exec_intent(const mida__pl_program *p);

/* The exec after mida__pl_emit_exec_intent failed: the task is this
 * program again (its begin, if it made none yet). */
void mida__pl_emit_exec_failed(void);

/* A child's end as its parent saw it (wait status); this_program: a child
 * that never exec'd and may have recorded nothing, recorded as running
 * this program (activity, argv, cwd, exe). */
void mida__pl_emit_reaped(const mida_id_t *child, int status,
                          int this_program);

/* A link between task and the file of identity st at path. */
void mida__pl_emit_link(const mida_id_t *task, const char *path,
                        const struct stat *st, int role, int64_t bytes);

/* mida__pl_emit_link with path's length and its URI's (core/fileid.h,
 * mida__file_uri_measure) known already: the close path's. */
void mida__pl_emit_link_known(const mida_id_t *task, const char *path,
                              size_t path_len, size_t uri_len,
                              const struct stat *st, int role, int64_t bytes);

/* What mida__pl_emit_named says of a file's version. */
enum mida__pl_naming {
  MIDA_PL_NAME_REMOVED,   /* gone (unlink, or replaced by a rename) */
  MIDA_PL_NAME_BY_RENAME, /* named path by a rename */
  MIDA_PL_NAME_BY_LINK    /* named path by a (hard) link */
};

/* The file at path (st) now has that name, or is gone (how). A name
 * given by a rename or a link is marked so ({"named_by": ...}), and the
 * store keeps it over a name a process saw at a close, whichever of the
 * two it applies first: the writer's record of the temporary and the
 * renamer's come from two journals, shipped in either order. */
void mida__pl_emit_named(const char *path, const struct stat *st,
                         enum mida__pl_naming how);

/* task depends on upstream (a pipe between them). */
void mida__pl_emit_dep(const mida_id_t *task, const mida_id_t *upstream);

/* The counts of what was not recorded, as COUNTER records (at exit). */
void mida__pl_emit_counters(void);

/* The segment files this process made anew rather than took from the
 * spool's pool, over all its images (run.segment_files_made). */
uint64_t mida__pl_segments_made(void);

/* ---- pipes between processes (pipes.c) -------------------------------- */

/* Where the registry of pipe writers is (MIDA_PRELOAD_PIPES, at start). */
void mida__pl_pipes_init(const char *path);

/* The write path's check: the first write into a pipe's write end f puts
 * this task in the registry before the data can reach a reader. */
void mida__pl_pipe_first_write(mida__pl_file *f);

/* Notes that this process's task writes into pipe ino. */
void mida__pl_pipe_announce(uint64_t ino);

/* Records a dependency of this task on each writer of pipe ino. */
void mida__pl_pipe_read_from(uint64_t ino);

/* {"argv":[...]} of argv (heap; free with mida__free), or NULL. */
char *mida__pl_argv_used(char *const *argv);

/* ---- vfork (vfork.c) --------------------------------------------------- */

/* Whether the calling thread is a vfork child that has not exec'd yet: it
 * runs in its parent's memory, where the library must change nothing. */
int mida__pl_in_vfork_child(void);

/* In a vfork child: "MIDA_PRELOAD_TASK=child,parent,0" into buf
 * (MIDA_PL_CTX_BYTES). */
void mida__pl_vfork_child_context(char *buf);

/* In a vfork child about to exec: the environment it made (heap), for the
 * parent to free; with note, the program the library cannot enter (path,
 * argv), else what the program will be (became, borrowed from env; NULL:
 * nothing to say), for the parent to record. */
void mida__pl_vfork_child_exec(char **env, const char *note,
                               const char *program, char *const *argv,
                               const mida__pl_program *became);

/* Forgets (and frees) the above: in a vfork child whose exec failed, and
 * in the parent once the child exec'd or ended. */
void mida__pl_vfork_forget_exec(void);

/* fork() observed: the child's task made here, recorded, and awaited
 * (process.c). */
pid_t mida__pl_fork_observed(void);

/* ---- children (process.c) ---------------------------------------------- */

/* Remembers that pid runs task (so that reaping it records its end). */
void mida__pl_child_add(pid_t pid, const mida_id_t *task, int unobserved);

/* Forgets every child (in a new child after fork). */
void mida__pl_children_reset(void);

/* In a forked child: it is about to exec (execing 1), or its exec failed
 * (0), as its parent will read when it reaps it. Nothing in a process
 * that is no forked child. */
void mida__pl_exec_noted(int execing);

/* ---- time ------------------------------------------------------------- */

int64_t mida__pl_now_ns(void);

#endif /* MIDA_PRELOAD_PRELOAD_H */

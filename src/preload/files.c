/*
 * files.c -- the table of files a process has open, by descriptor, and
 * what is recorded when one is closed (see preload.h).
 *
 * The table is preallocated: MIDA_PL_FDS descriptor slots, each holding the
 * index (+1) of an entry among MIDA_PL_FILES; an entry stands for one open
 * file description, shared by the descriptors dup'ed from it, and holds its
 * absolute path (a fixed MIDA_PL_PATH bytes of a static arena, whose pages
 * the kernel provides only once touched) and its byte counters. Entries are
 * taken with a compare-and-swap on their reference count, so no lock is
 * ever held: a signal handler or a fork() at any moment finds the table
 * usable. Reads and writes touch only the counters.
 *
 * A file is recorded when its last descriptor is closed (or at exec and
 * exit): fstat() gives its identity ("inode:dev:ino:mtime_ns:size") -- or
 * the program's own fstat of a file it only read, made just before (see
 * seen_stat) -- and
 * tells a regular file from a directory, and the open flags and counters
 * give its role: generated if it was written, truncated or mapped writable
 * (or created by O_CREAT and still empty), used if it was opened for
 * reading and not only written.
 */
#include "preload/preload.h"

#include "core/fileid.h"
#include "core/path.h"
#include "preload/real.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Atomic int32_t mida__pl_fd_map[MIDA_PL_FDS];
_Atomic int mida__pl_fd_end;
mida__pl_file mida__pl_files[MIDA_PL_FILES];

/* The paths of the entries: touched page by page as entries are used. */
static char path_arena[MIDA_PL_FILES][MIDA_PL_PATH];

/* Where the next entry search starts: the entry freed last, or the one
 * after the entry taken last. An entry is reused as soon as it is free, so
 * that a process that opens and closes one file after another keeps using
 * the same entry and the same page of the path arena, instead of touching
 * (and having the kernel fault in) a new 4 KiB page for each of its first
 * MIDA_PL_FILES opens. */
static _Atomic uint32_t next_entry;

/* The working directory, per thread, valid while cwd_generation has not
 * moved since it was read (chdir and fchdir move it). */
static _Atomic uint32_t cwd_generation = 1;
static __thread char tls_cwd[MIDA_PL_PATH]
    __attribute__((tls_model("initial-exec")));
static __thread uint32_t tls_cwd_generation
    __attribute__((tls_model("initial-exec")));

/* Each entry's path: its length in bytes (PATH_LEN bits), and PATH_PLAIN
 * if every byte of it stands for itself in a URI (its URI is "file://"
 * and the path, not measured at close). Beside the entries, not in them:
 * an entry of 80 bytes is found by a multiply-free index on the read and
 * write path. */
#define PATH_LEN 0x1FFF
#define PATH_PLAIN 0x8000
static uint16_t path_info[MIDA_PL_FILES];

_Static_assert(MIDA_PL_PATH <= PATH_LEN + 1, "a path's length fits");

/* Offsets of stdio and inherited descriptors, to count what libc's own
 * buffered I/O moved (never seen by the read/write wrappers). */
static int64_t start_offset[MIDA_PL_FILES];

/* The entries open for writing (bit i: entry i), and a count moved each
 * time one is taken or given back, or a file is truncated by name: what
 * own_writes() sums up. */
static _Atomic uint64_t writers[MIDA_PL_FILES / 64];
static _Atomic uint64_t writers_epoch;
/* Bit w: writers[w] has had a bit set (never cleared: clearing it could
 * race with a setter), so that own_writes() looks only at those words. */
static _Atomic uint64_t writers_words;

/* Exclusive writers: the entries of files this process made with
 * O_CREAT | O_EXCL (writer_excl[i] 1), open for writing. Such a file did
 * not exist before its open, so it is none of the files another of the
 * process's descriptors had open then: a kept fstat of a file opened
 * before it, taken while no exclusive open or writer was under way,
 * cannot be changed by it. `cp -r` reads each source (and fstat()s it)
 * while it writes the copy, made exclusively: counted, each copy's
 * writes voided the source's kept fstat, one more system call a file.
 * So own_writes() sums them apart: their epoch is excl_epoch, and
 * excl_open counts the exclusive opens announced (mida__pl_excl_begin,
 * before the real call, so that a file made but not yet tracked is
 * counted too) and the exclusive writers open; a kept fstat taken while
 * it was 0 leaves them out (seen_stat.excl), one taken while it was not
 * counts them all, as it does every other writer. Set before the
 * entry's writers bit (released there), cleared when the entry is
 * taken. */
static _Atomic uint8_t writer_excl[MIDA_PL_FILES];
static _Atomic uint64_t excl_epoch;
static _Atomic int excl_open;

int mida__pl_excl_begin(int flags) {
  if ((flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL))
    return 0;
  atomic_fetch_add_explicit(&excl_open, 1, memory_order_seq_cst);
  return 1;
}

void mida__pl_excl_ended(void) {
  atomic_fetch_sub_explicit(&excl_open, 1, memory_order_seq_cst);
}

static void writer_set(int i, int on) {
  uint64_t bit = 1ull << (i % 64);
  int excl = atomic_load_explicit(&writer_excl[i], memory_order_relaxed);
  _Atomic uint64_t *epoch = excl ? &excl_epoch : &writers_epoch;
  if (on) {
    if (excl)
      atomic_fetch_add_explicit(&excl_open, 1, memory_order_seq_cst);
    atomic_fetch_or_explicit(&writers_words, 1ull << (i / 64),
                             memory_order_relaxed);
    /* Released: own_writes() sees the entry's identity (writer_known,
     * writer_excl) as it was when the bit was set. */
    atomic_fetch_or_explicit(&writers[i / 64], bit, memory_order_release);
    atomic_fetch_add_explicit(epoch, 1, memory_order_relaxed);
    return;
  }
  if ((atomic_load_explicit(&writers[i / 64], memory_order_relaxed) & bit) == 0)
    return;
  /* What the entry adds to own_writes()'s sum goes into the epoch, and one
   * more, before the entry leaves it: the sum only ever grows. An epoch
   * one up alone let a writer that had written one byte when a reader's
   * fstat was kept, and then wrote more and was closed, leave the sum as
   * it was. */
  mida__pl_file *f = &mida__pl_files[i];
  uint64_t part =
      atomic_load_explicit(&f->nwritten, memory_order_relaxed) +
      ((uint64_t)atomic_load_explicit(&f->marks, memory_order_relaxed) << 56);
  atomic_fetch_add_explicit(epoch, part + 1, memory_order_relaxed);
  atomic_fetch_and_explicit(&writers[i / 64], ~bit, memory_order_relaxed);
  if (excl)
    atomic_fetch_sub_explicit(&excl_open, 1, memory_order_seq_cst);
}

void mida__pl_files_changed(void) {
  atomic_fetch_add_explicit(&writers_epoch, 1, memory_order_relaxed);
}

/* Set for good once this process has a descriptor that may write a file
 * with no entry to count it (the table full, a descriptor past
 * MIDA_PL_FDS, a path that could not be made absolute): own_writes() is
 * unknown from then on. */
static _Atomic int writes_unseen;

/* fd, opened with flags or a duplicate of a writer, gets no entry: if it
 * can change a file, what own_writes() sums no longer tells. */
static void untracked_writer(int flags) {
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) != 0)
    atomic_store_explicit(&writes_unseen, 1, memory_order_relaxed);
}

/* The file of each writer whose file is known (writer_known[i] 1): a
 * descriptor inherited from the parent, whose fstat the library took at
 * start -- most often stdout or stderr sent to a log file. An open file
 * description's file never changes, so what it writes, seen or not (libc's
 * stdio writes unseen), can only change that file. Set before the entry's
 * writers bit (released there), cleared when the entry is taken. */
static _Atomic uint8_t writer_known[MIDA_PL_FILES];
static dev_t writer_dev[MIDA_PL_FILES];
static ino_t writer_ino[MIDA_PL_FILES];
/* The entries that had writer_known set, in the order they were (at
 * start, by mida__pl_track_inherited; a writer past MAX_KNOWN stays
 * unknown); known_count is 0 in most processes (no log file on stdout),
 * which then look at none of it. */
#define MAX_KNOWN 8
static int known_list[MAX_KNOWN];
static _Atomic int known_count;

/* Whether a known writer writes the file dev, ino. */
static int known_writer_of(dev_t dev, ino_t ino) {
  int n = atomic_load_explicit(&known_count, memory_order_acquire);
  for (int k = 0; k < n; k++) {
    int i = known_list[k];
    if (atomic_load_explicit(&writer_known[i], memory_order_acquire) &&
        writer_dev[i] == dev && writer_ino[i] == ino)
      return 1;
  }
  return 0;
}

/* A summary of everything this process wrote through its files open for
 * writing: the epoch, plus the bytes and marks of each; any change between
 * two calls means it may have written. UINT64_MAX: unknown (a writer's
 * bytes go through libc's buffers or a writable mapping, unseen, or a
 * writer has no entry: writes_unseen). A writer whose file is known
 * (writer_known) is left out: it changes only its own file, which the
 * reader's is checked against (known_writer_of). So are the exclusive
 * writers and their epoch, unless with_excl (see writer_excl). */
static inline __attribute__((always_inline)) uint64_t
own_writes(int with_excl) {
  if (atomic_load_explicit(&writes_unseen, memory_order_relaxed))
    return UINT64_MAX;
  const int known = atomic_load_explicit(&known_count, memory_order_relaxed);
  uint64_t sum = atomic_load_explicit(&writers_epoch, memory_order_acquire);
  if (with_excl)
    sum += atomic_load_explicit(&excl_epoch, memory_order_acquire);
  uint64_t words = atomic_load_explicit(&writers_words, memory_order_relaxed);
  while (words != 0) {
    int w = __builtin_ctzll(words);
    words &= words - 1;
    uint64_t bits = atomic_load_explicit(&writers[w], memory_order_acquire);
    while (bits != 0) {
      int i = w * 64 + __builtin_ctzll(bits);
      bits &= bits - 1;
      if (known != 0 &&
          atomic_load_explicit(&writer_known[i], memory_order_relaxed))
        continue;
      if (!with_excl &&
          atomic_load_explicit(&writer_excl[i], memory_order_relaxed))
        continue;
      mida__pl_file *f = &mida__pl_files[i];
      uint8_t marks = atomic_load_explicit(&f->marks, memory_order_relaxed);
      if ((marks & MIDA_PL_MAPPED_W) != 0 || f->stream != NULL ||
          start_offset[i] >= 0)
        return UINT64_MAX;
      sum += atomic_load_explicit(&f->nwritten, memory_order_relaxed) +
             ((uint64_t)marks << 56);
    }
  }
  return sum == UINT64_MAX ? 0 : sum;
}

/* The program's last fstat of each entry's file (stat.c), and when (coarse
 * monotonic ns; 0: none). At close it stands for the fstat(2) the record
 * needs when nothing this process did can have changed the file in
 * between: the entry is open for reading only, its marks did not change
 * since (no mapping), libc's stdio does not read it unseen (no stream, no
 * starting offset), and nothing was written through any of the process's
 * files open for writing (own_writes() the same: no write, truncation or
 * mapping, no writer opened or closed), other than the writers known to
 * write other files (writer_known) -- and it was taken less than
 * STAT_FRESH_NS before the close, a window like the one between a
 * program's last read and its close, in which another process's write is
 * not seen either. */
typedef struct seen_stat {
  _Atomic int64_t at; /* when; 0 while empty or being written */
  uint8_t marks;      /* the entry's marks then */
  uint8_t excl;       /* own_writes() counted the exclusive writers */
  uint64_t writes;    /* own_writes() then */
  dev_t dev;          /* what fstat said: what a record needs of it */
  ino_t ino;
  mode_t mode;
  off_t size;
  struct timespec mtim;
} seen_stat;

static seen_stat seen[MIDA_PL_FILES];

/* How many times each entry was taken: mida__pl_fstat's count before the
 * real call names the entry's file of one taking, so that an answer about
 * a file closed meanwhile (and the entry given to another) is not kept. */
static _Atomic uint32_t entry_gen[MIDA_PL_FILES];

#define STAT_FRESH_NS 10000000 /* 10 ms */

/* Coarse monotonic time in ns (the vDSO's: no system call), never 0. */
static int64_t coarse_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
    return 1;
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + 1;
}

/* Keeps st, the answer of the program's fstat of entry i's file, as
 * seen[i], unless the entry was given to another file since gen (its
 * taking then) or st cannot stand for the file at its close; marks,
 * excl and writes are what the entry's marks and own_writes() were before
 * the fstat. */
static void keep_stat(int fd, int i, const struct stat *st, uint32_t gen,
                      uint8_t marks, uint8_t excl, uint64_t writes) {
  if (!S_ISREG(st->st_mode) || mida__pl_file_of(fd) != &mida__pl_files[i] ||
      atomic_load_explicit(&entry_gen[i], memory_order_seq_cst) != gen)
    return;
  /* A known writer of this very file (writer_known) changes it unseen. */
  if (atomic_load_explicit(&known_count, memory_order_relaxed) != 0 &&
      known_writer_of(st->st_dev, st->st_ino))
    return;
  seen_stat *s = &seen[i];
  /* Emptied before the fields change: an exchange with acquire order, so
   * that no store below comes before it (a release fence would do, but
   * ThreadSanitizer builds refuse fences). */
  atomic_exchange_explicit(&s->at, 0, memory_order_acq_rel);
  s->marks = marks;
  s->excl = excl;
  s->writes = writes;
  s->dev = st->st_dev;
  s->ino = st->st_ino;
  s->mode = st->st_mode;
  s->size = st->st_size;
  s->mtim = st->st_mtim;
  int64_t now = coarse_ns();
  atomic_store_explicit(&s->at, now, memory_order_seq_cst);
  /* The entry given to another file since the check (its taking moves
   * entry_gen before it clears at): taken back. */
  if (atomic_load_explicit(&entry_gen[i], memory_order_seq_cst) != gen)
    atomic_compare_exchange_strong(&s->at, &now, 0);
}

int mida__pl_fstat(int fd, void *st, mida__pl_fstat_call call) {
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f == NULL || f->kind != MIDA_PL_PATH_KIND || f->mode != MIDA_PL_R)
    return call(fd, st);
  int i = (int)(f - mida__pl_files);
  /* What the answer is measured from, before the real call, so that what
   * happens while it returns (another thread's write, fd closed and its
   * entry given to another file) is not missed. */
  uint32_t gen = atomic_load_explicit(&entry_gen[i], memory_order_seq_cst);
  uint8_t marks = atomic_load_explicit(&f->marks, memory_order_relaxed);
  /* An exclusive open or writer under way may be of this very file (made,
   * then opened again for reading): counted. One begun after this makes a
   * file that is not this one, open since before. */
  uint8_t excl = atomic_load_explicit(&excl_open, memory_order_seq_cst) != 0;
  /* Before the answer: a write that ends after this changes the sum. */
  uint64_t writes = own_writes(excl);
  int rc = call(fd, st);
  if (rc == 0 && writes != UINT64_MAX)
    keep_stat(fd, i, (const struct stat *)st, gen, marks, excl, writes);
  return rc;
}

/* The identity of f's file from the program's own fstat, if it may stand
 * for one taken now (see seen_stat): 1 and *st, or 0. */
static int stat_seen(mida__pl_file *f, struct stat *st) {
  size_t i = (size_t)(f - mida__pl_files);
  seen_stat *s = &seen[i];
  int64_t at = atomic_load_explicit(&s->at, memory_order_acquire);
  if (at == 0 || f->mode != MIDA_PL_R || f->stream != NULL ||
      start_offset[i] >= 0 ||
      s->marks != atomic_load_explicit(&f->marks, memory_order_relaxed) ||
      coarse_ns() - at > STAT_FRESH_NS)
    return 0;
  if ((atomic_load_explicit(&known_count, memory_order_relaxed) != 0 &&
       known_writer_of(s->dev, s->ino)) ||
      own_writes(s->excl) != s->writes)
    return 0;
  /* Only what a record reads (mida__pl_record_file, the links, the
   * version id); the rest of *st is left as it is. */
  st->st_dev = s->dev;
  st->st_ino = s->ino;
  st->st_mode = s->mode;
  st->st_size = s->size;
  st->st_mtim = s->mtim;
  /* Rewritten meanwhile (another thread's fstat): ask the kernel. A
   * read-don't-modify-write with release order, so that the reads above
   * all come before it (a seqlock's reader; no fence, which
   * ThreadSanitizer builds refuse). */
  return atomic_fetch_add_explicit(&s->at, 0, memory_order_acq_rel) == at;
}

/* ---- paths ------------------------------------------------------------- */

/* Called by the chdir/fchdir wrappers. */
void mida__pl_cwd_changed(void) {
  atomic_fetch_add_explicit(&cwd_generation, 1, memory_order_relaxed);
}

static __thread size_t tls_cwd_len __attribute__((tls_model("initial-exec")));

/* The working directory into out; its length, or -1. */
static ssize_t cwd_into(char *out) {
  uint32_t gen = atomic_load_explicit(&cwd_generation, memory_order_relaxed);
  if (tls_cwd_generation != gen) {
    if (getcwd(tls_cwd, sizeof tls_cwd) == NULL || tls_cwd[0] != '/')
      return -1;
    tls_cwd_len = strlen(tls_cwd);
    tls_cwd_generation = gen;
  }
  memcpy(out, tls_cwd, tls_cwd_len + 1);
  return (ssize_t)tls_cwd_len;
}

/* The path of directory descriptor dirfd into out; its length, or -1. */
static ssize_t dir_into(int dirfd, char *out) {
  mida__pl_file *f = mida__pl_file_of(dirfd);
  if (f != NULL && f->kind == MIDA_PL_PATH_KIND && f->path[0] == '/') {
    size_t n = path_info[f - mida__pl_files] & PATH_LEN;
    memcpy(out, f->path, n + 1);
    return (ssize_t)n;
  }
  char link[32];
  snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
  ssize_t n = readlink(link, out, MIDA_PL_PATH - 1);
  if (n <= 0 || out[0] != '/')
    return -1;
  out[n] = '\0';
  return n;
}

/* Whether path (relative, or an absolute one after its first '/') is
 * already lexically normal: no "." or ".." component, no empty one ("//",
 * a trailing '/'), so that it can be taken, or appended to its base, as it
 * is. Looks only at each '/' (strchr
 * finds them a word at a time) and at the first component. */
static int is_plain_relative(const char *path) {
  if (path[0] == '.' || path[0] == '/')
    return 0;
  for (const char *q = strchr(path, '/'); q != NULL; q = strchr(q + 1, '/'))
    if (q[1] == '/' || q[1] == '.' || q[1] == '\0')
      return 0;
  return 1;
}

int mida__pl_abspath(int dirfd, const char *path, char *out) {
  return mida__pl_abspath_len(dirfd, path, out) < 0 ? -1 : 0;
}

ssize_t mida__pl_abspath_len(int dirfd, const char *path, char *out) {
  if (path == NULL || path[0] == '\0')
    return -1;
  size_t len = 0;
  if (path[0] != '/') {
    ssize_t n = dirfd == AT_FDCWD ? cwd_into(out) : dir_into(dirfd, out);
    if (n < 0)
      return -1;
    len = (size_t)n;
    if (len == 1)
      len = 0; /* the root: components add their own '/' */
    if (is_plain_relative(path)) {
      /* The common case ("d/f.txt"): one copy. */
      size_t plen = strlen(path);
      if (len + 1 + plen + 1 > MIDA_PL_PATH)
        return -1;
      out[len] = '/';
      memcpy(out + len + 1, path, plen + 1);
      return (ssize_t)(len + 1 + plen);
    }
  } else if (path[1] != '\0' && is_plain_relative(path + 1)) {
    size_t plen = strlen(path);
    if (plen + 1 > MIDA_PL_PATH)
      return -1;
    memcpy(out, path, plen + 1);
    return (ssize_t)plen;
  }
  /* Append path's components, lexically (core/path.h). */
  size_t n = mida__path_append(out, len, MIDA_PL_PATH, path);
  return n == (size_t)-1 ? -1 : (ssize_t)n;
}

/* ---- entries ----------------------------------------------------------- */

/* Takes a free entry (refs 0 -> 1) and clears it; -1 if none is free. */
static int entry_take(void) {
  uint32_t start = atomic_load_explicit(&next_entry, memory_order_relaxed);
  for (uint32_t k = 0; k < MIDA_PL_FILES; k++) {
    uint32_t i = (start + k) % MIDA_PL_FILES;
    uint32_t expect = 0;
    if (atomic_load_explicit(&mida__pl_files[i].refs, memory_order_relaxed) ==
            0 &&
        atomic_compare_exchange_strong(&mida__pl_files[i].refs, &expect, 1)) {
      mida__pl_file *f = &mida__pl_files[i];
      f->kind = 0;
      f->mode = 0;
      atomic_store_explicit(&f->marks, 0, memory_order_relaxed);
      atomic_store_explicit(&f->nread, 0, memory_order_relaxed);
      atomic_store_explicit(&f->nwritten, 0, memory_order_relaxed);
      f->pipe_ino = 0;
      f->stream = NULL;
      memset(&f->wf_task, 0, sizeof f->wf_task);
      f->path = path_arena[i];
      f->path[0] = '\0';
      path_info[i] = 0;
      if (atomic_load_explicit(&writer_known[i], memory_order_relaxed))
        atomic_store_explicit(&writer_known[i], 0, memory_order_relaxed);
      if (atomic_load_explicit(&writer_excl[i], memory_order_relaxed))
        atomic_store_explicit(&writer_excl[i], 0, memory_order_relaxed);
      f->told_read = 0;
      f->told_written = 0;
      start_offset[i] = -1;
      atomic_fetch_add_explicit(&entry_gen[i], 1, memory_order_seq_cst);
      atomic_store_explicit(&seen[i].at, 0, memory_order_seq_cst);
      atomic_store_explicit(&next_entry, (i + 1) % MIDA_PL_FILES,
                            memory_order_relaxed);
      return (int)i;
    }
  }
  return -1;
}

static void entry_put(int i) {
  writer_set(i, 0);
  atomic_store_explicit(&mida__pl_files[i].refs, 0, memory_order_release);
  atomic_store_explicit(&next_entry, (uint32_t)i, memory_order_relaxed);
}

/* What libc's streams moved through pipe end f, which descriptor fd
 * refers to -- its own stream (fdopen, popen), or stdout and stderr
 * (stdin) through descriptor 1 or 2 (0) -- told when fd is closed or the
 * process ends (a stream's output calls and flushes have most often
 * announced its write end already: stdio_write.c, announce_flushed): a
 * write end they wrote into is announced (pipes.c), and a read end they
 * read from counts as read, so that its record makes the reader depend
 * on the pipe's writers (fgets on a popen(cmd, "r") stream reads through
 * no wrapper). A pipe end only held is neither. */
static void pipe_stream_moves(mida__pl_file *f, int fd) {
  if (f->kind != MIDA_PL_PIPE_KIND)
    return;
  if ((atomic_load_explicit(&f->marks, memory_order_relaxed) &
       MIDA_PL_UNANNOUNCED) != 0 &&
      mida__pl_stdio_moved(f, fd, 1))
    mida__pl_pipe_first_write(f);
  if ((f->mode & MIDA_PL_R) != 0 &&
      atomic_load_explicit(&f->nread, memory_order_relaxed) == 0 &&
      mida__pl_stdio_moved(f, fd, 0))
    atomic_store_explicit(&f->nread, 1, memory_order_relaxed);
}

/* Announces f, which descriptor fd refers to, as a pipe's write end that
 * this process wrote into, if stream s (or the stream over f, or stdout
 * or stderr through descriptor 1 or 2) has output for it or wrote into it
 * before. Called before libc flushes (mida__pl_stream_flushing): a reader
 * that reads the flushed bytes and ends at once (`head -c 1`) finds the
 * writer in the registry. A write end only held is not announced: its
 * streams hold nothing and never wrote. */
static void announce_flushed(mida__pl_file *f, int fd, FILE *s) {
  if (f == NULL || f->kind != MIDA_PL_PIPE_KIND ||
      (atomic_load_explicit(&f->marks, memory_order_relaxed) &
       MIDA_PL_UNANNOUNCED) == 0)
    return;
  if (mida__pl_stream_wrote(s) || mida__pl_stdio_moved(f, fd, 1))
    mida__pl_pipe_first_write(f);
}

void mida__pl_stream_flushing(FILE *s) {
  if (s != NULL) {
    int fd = fileno(s); /* -1 without a descriptor (fmemopen) */
    announce_flushed(mida__pl_file_of(fd), fd, s);
    return;
  }
  const int end = mida__pl_fd_bound();
  for (int fd = 0; fd < end; fd++)
    announce_flushed(mida__pl_file_of(fd), fd, NULL);
}

/* Drops one reference of entry i; the last one records the file, whose
 * identity is read from fd (or, when fd is -1, from its path: a descriptor
 * closed behind the library's back); what libc's streams moved through a
 * pipe's end by fd is told first (pipe_stream_moves). */
static void entry_unref(int i, int fd, int record) {
  mida__pl_file *f = &mida__pl_files[i];
  if (fd >= 0)
    pipe_stream_moves(f, fd);
  uint32_t r = atomic_load_explicit(&f->refs, memory_order_acquire);
  /* Never down to 0 and back: a free entry may be taken at once. */
  while (r > 1)
    if (atomic_compare_exchange_weak_explicit(&f->refs, &r, r - 1,
                                              memory_order_acq_rel,
                                              memory_order_acquire))
      return;
  if (record)
    mida__pl_record_file(f, fd);
  entry_put(i);
}

/* Forgets whatever fd pointed at, recording it by its path: fd itself now
 * refers to something else. */
static void map_clear_stale(int fd) {
  if ((unsigned)fd >= MIDA_PL_FDS)
    return;
  int32_t old =
      atomic_exchange_explicit(&mida__pl_fd_map[fd], 0, memory_order_acq_rel);
  if (old > 0)
    entry_unref(old - 1, -1, 1);
}

/* Points fd at entry i (which holds a reference for it). A descriptor
 * still pointing elsewhere was closed unseen (close_range in a child, a
 * libc-internal close): that file is recorded by its path. */
static void map_install(int fd, int i) {
  int end = atomic_load_explicit(&mida__pl_fd_end, memory_order_relaxed);
  while (end <= fd && !atomic_compare_exchange_weak_explicit(
                          &mida__pl_fd_end, &end, fd + 1, memory_order_release,
                          memory_order_relaxed)) {
  }
  int32_t old = atomic_exchange_explicit(&mida__pl_fd_map[fd], i + 1,
                                         memory_order_acq_rel);
  if (old > 0)
    entry_unref(old - 1, -1, 1);
}

/* fd, just opened, is not tracked: entry i (or -1) goes back, and why is
 * counted. */
static void not_tracked(int fd, int i, mida__pl_counter why) {
  if (i >= 0)
    entry_put(i);
  map_clear_stale(fd);
  mida__pl_count(why);
}

void mida__pl_track_open(int fd, int dirfd, const char *path, int flags,
                         int exclusive) {
  if (fd < 0)
    return;
  if ((flags & O_PATH) != 0) {
    map_clear_stale(fd); /* no content to speak of */
    return;
  }
  /* No name yet: tracked without a path until linkat gives it one
   * (mida__pl_files_named); recorded only then. */
  int unnamed = (flags & O_TMPFILE) == O_TMPFILE;
  if (fd >= MIDA_PL_FDS) {
    untracked_writer(flags);
    mida__pl_count(MIDA_PL_C_UNTRACKED);
    return;
  }
  int i = entry_take();
  if (i < 0) {
    untracked_writer(flags);
    not_tracked(fd, -1, MIDA_PL_C_UNTRACKED);
    return;
  }
  mida__pl_file *f = &mida__pl_files[i];
  ssize_t len = unnamed ? 0 : mida__pl_abspath_len(dirfd, path, f->path);
  if (len < 0) {
    untracked_writer(flags);
    not_tracked(fd, i, MIDA_PL_C_UNTRACKED);
    return;
  }
  f->path[len] = '\0';
  int uri_plain = 0;
  if (!unnamed && mida__pl_noise_scan(f->path, (size_t)len, &uri_plain)) {
    not_tracked(fd, i, MIDA_PL_C_IGNORED);
    return;
  }
  path_info[i] = (uint16_t)((size_t)len | (uri_plain ? PATH_PLAIN : 0));
  f->kind = MIDA_PL_PATH_KIND;
  int acc = flags & O_ACCMODE;
  f->mode = acc == O_RDONLY ? MIDA_PL_R
            : acc == O_WRONLY ? MIDA_PL_W
                              : (MIDA_PL_R | MIDA_PL_W);
  uint8_t marks = 0;
  if ((flags & O_TRUNC) != 0 && (f->mode & MIDA_PL_W) != 0)
    marks |= MIDA_PL_TRUNCATED | MIDA_PL_FRESH;
  if (exclusive)
    marks |= MIDA_PL_FRESH;
  if ((flags & O_CREAT) != 0 || unnamed)
    marks |= MIDA_PL_CREATE;
  atomic_store_explicit(&f->marks, marks, memory_order_relaxed);
  if ((f->mode & MIDA_PL_W) != 0) {
    if (exclusive)
      atomic_store_explicit(&writer_excl[i], 1, memory_order_relaxed);
    writer_set(i, 1);
  } else if ((flags & O_TRUNC) != 0)
    mida__pl_files_changed(); /* Linux truncates, even for reading only */
  if (mida__pl_thread_task(&f->wf_task) == 0)
    memset(&f->wf_task, 0, sizeof f->wf_task);
  map_install(fd, i);
}

void mida__pl_track_pipe(int fd, uint64_t ino, int mode) {
  if (fd < 0 || fd >= MIDA_PL_FDS) {
    mida__pl_count(MIDA_PL_C_UNTRACKED);
    return;
  }
  int i = entry_take();
  if (i < 0) {
    mida__pl_count(MIDA_PL_C_UNTRACKED);
    return;
  }
  mida__pl_file *f = &mida__pl_files[i];
  f->kind = MIDA_PL_PIPE_KIND;
  f->mode = (uint8_t)mode;
  f->pipe_ino = ino;
  atomic_store_explicit(
      &f->marks, (mode & MIDA_PL_W) != 0 ? MIDA_PL_UNANNOUNCED : 0,
      memory_order_relaxed);
  map_install(fd, i);
}

void mida__pl_track_inherited(int fd, uint64_t nread, uint64_t nwritten) {
  struct stat st;
  if (fd < 0 || fd >= MIDA_PL_FDS || fstat(fd, &st) != 0)
    return;
  int fl = MIDA_PL_REAL(fcntl)(fd, F_GETFL);
  if (fl < 0)
    return;
  int acc = fl & O_ACCMODE;
  int mode = acc == O_RDONLY ? MIDA_PL_R
             : acc == O_WRONLY ? MIDA_PL_W
                               : (MIDA_PL_R | MIDA_PL_W);
  if (S_ISFIFO(st.st_mode)) {
    char link[32], target[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    /* Anonymous pipes only: a named FIFO (make's jobserver) links no one. */
    if (n > 5 && memcmp(target, "pipe:", 5) == 0)
      mida__pl_track_pipe(fd, (uint64_t)st.st_ino, mode);
    return;
  }
  if (!S_ISREG(st.st_mode))
    return;
  char link[32];
  int i = entry_take();
  if (i < 0) {
    mida__pl_count(MIDA_PL_C_UNTRACKED);
    return;
  }
  mida__pl_file *f = &mida__pl_files[i];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, f->path, MIDA_PL_PATH - 1);
  if (n <= 0 || f->path[0] != '/') {
    entry_put(i);
    mida__pl_count(MIDA_PL_C_UNTRACKED);
    return;
  }
  f->path[n] = '\0';
  /* A file with no name left (bash's here-document, opened again for
   * reading and unlinked before the command runs): the kernel's link ends
   * in " (deleted)", which is no part of the name it had. One that never
   * had a name (O_TMPFILE: Python's TemporaryFile as a child's stdout) is
   * "#<inode>" there: no one's data, as for its opener. */
  static const char deleted[] = " (deleted)";
  size_t dl = sizeof deleted - 1;
  if (st.st_nlink == 0 && (size_t)n > dl &&
      memcmp(f->path + n - dl, deleted, dl) == 0) {
    n -= (ssize_t)dl;
    f->path[n] = '\0';
    const char *base = strrchr(f->path, '/') + 1;
    if (base[0] == '#' && base[1] != '\0' &&
        strspn(base + 1, "0123456789") == strlen(base + 1)) {
      entry_put(i);
      return;
    }
  }
  int uri_plain;
  if (mida__pl_noise_scan(f->path, (size_t)n, &uri_plain)) {
    entry_put(i);
    return;
  }
  path_info[i] = (uint16_t)((size_t)n | (uri_plain ? PATH_PLAIN : 0));
  f->kind = MIDA_PL_PATH_KIND;
  f->mode = (uint8_t)mode;
  if ((mode & MIDA_PL_W) != 0) {
    int k = atomic_load_explicit(&known_count, memory_order_relaxed);
    if (k < MAX_KNOWN) {
      writer_dev[i] = st.st_dev;
      writer_ino[i] = st.st_ino;
      atomic_store_explicit(&writer_known[i], 1, memory_order_release);
      known_list[k] = i;
      atomic_store_explicit(&known_count, k + 1, memory_order_release);
    }
    writer_set(i, 1);
  }
  atomic_store_explicit(&f->marks, MIDA_PL_INHERITED, memory_order_relaxed);
  atomic_store_explicit(&f->nread, nread, memory_order_relaxed);
  atomic_store_explicit(&f->nwritten, nwritten, memory_order_relaxed);
  /* Appends move the offset to the end first: count from the end. */
  off_t at = (fl & O_APPEND) != 0 ? st.st_size : lseek(fd, 0, SEEK_CUR);
  start_offset[i] = at >= 0 ? (int64_t)at : -1;
  map_install(fd, i);
}

void mida__pl_set_stream(int fd, FILE *stream, int append) {
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f == NULL)
    return;
  f->stream = stream;
  int64_t i = f - mida__pl_files;
  struct stat st;
  off_t at = !append ? lseek(fd, 0, SEEK_CUR)
             : fstat(fd, &st) == 0 ? st.st_size
                                   : -1;
  start_offset[i] = at >= 0 ? (int64_t)at : -1;
}

void mida__pl_dup(int old, int fd) {
  if (fd < 0 || old == fd)
    return;
  mida__pl_file *f = mida__pl_file_of(old);
  if (fd >= MIDA_PL_FDS) {
    if (f != NULL) {
      if ((f->mode & MIDA_PL_W) != 0)
        untracked_writer(O_WRONLY);
      mida__pl_count(MIDA_PL_C_UNTRACKED);
    }
    return;
  }
  if (f == NULL) {
    map_clear_stale(fd);
    return;
  }
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  int i = (int)(f - mida__pl_files);
  /* On stdin, stdout or stderr, libc's stdio will read or write it
   * unseen: count by the offset too (add_buffered). */
  if (fd <= 2 && start_offset[i] < 0 && f->kind == MIDA_PL_PATH_KIND) {
    off_t at = lseek(fd, 0, SEEK_CUR);
    start_offset[i] = at >= 0 ? (int64_t)at : -1;
  }
  map_install(fd, i);
}

void mida__pl_release(int fd) {
  if ((unsigned)fd >= MIDA_PL_FDS)
    return;
  int32_t i =
      atomic_exchange_explicit(&mida__pl_fd_map[fd], 0, memory_order_acq_rel);
  if (i > 0)
    entry_unref(i - 1, fd, 1);
}

/* The bytes libc's buffered I/O moved on fd since it was tracked (its
 * offset now minus then), for entries that have a starting offset, if
 * this process's own stdio read or wrote through it. The offset belongs
 * to the open file description, which a descriptor inherited from the
 * parent, or handed to a child, shares with other processes: what they
 * read or wrote moves it too. A shell whose child writes the log on its
 * stdout, and that never printed into it itself, did not write the log;
 * one that did (a builtin echo) is credited with the whole move. */
static void add_buffered(mida__pl_file *f, int fd) {
  int64_t start = start_offset[f - mida__pl_files];
  if (start < 0 || fd < 0)
    return;
  int wrote = (f->mode & MIDA_PL_W) != 0 && mida__pl_stdio_moved(f, fd, 1);
  if (!wrote &&
      ((f->mode & MIDA_PL_R) == 0 || !mida__pl_stdio_moved(f, fd, 0)))
    return;
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (at < 0 || (int64_t)at <= start)
    return;
  uint64_t moved = (uint64_t)((int64_t)at - start);
  _Atomic uint64_t *c = wrote ? &f->nwritten : &f->nread;
  uint64_t have = atomic_load_explicit(c, memory_order_relaxed);
  if (moved > have)
    atomic_store_explicit(c, moved, memory_order_relaxed);
}

void mida__pl_record_file(mida__pl_file *f, int fd) {
  uint64_t nr = atomic_load_explicit(&f->nread, memory_order_relaxed);
  uint8_t marks = atomic_load_explicit(&f->marks, memory_order_relaxed);
  if (f->kind == MIDA_PL_PIPE_KIND) {
    if ((f->mode & MIDA_PL_R) != 0 && nr > 0)
      mida__pl_pipe_read_from(f->pipe_ino);
    return;
  }
  if (f->kind != MIDA_PL_PATH_KIND || f->path[0] != '/')
    return; /* an O_TMPFILE never linked: no one's data */
  struct stat st;
  int ok = fd < 0              ? stat(f->path, &st)
           : stat_seen(f, &st) ? 0
                               : fstatat(fd, "", &st, AT_EMPTY_PATH);
  if (ok != 0 || !S_ISREG(st.st_mode))
    return; /* a directory, a device, or gone */
  if (start_offset[f - mida__pl_files] >= 0)
    add_buffered(f, fd);
  nr = atomic_load_explicit(&f->nread, memory_order_relaxed);
  uint64_t nw = atomic_load_explicit(&f->nwritten, memory_order_relaxed);
  /* A descriptor the process got from its parent and only closed (a
   * fork child closing what it does not need, stdin never read) is not
   * something it used. */
  if ((marks & MIDA_PL_INHERITED) != 0 && nr == 0 && nw == 0 &&
      (marks & (MIDA_PL_TRUNCATED | MIDA_PL_MAPPED_R | MIDA_PL_MAPPED_W |
                MIDA_PL_RETIMED)) == 0)
    return;
  int generated =
      (f->mode & MIDA_PL_W) != 0 &&
      (nw > 0 ||
       (marks & (MIDA_PL_TRUNCATED | MIDA_PL_MAPPED_W | MIDA_PL_RETIMED)) !=
           0 ||
       ((marks & MIDA_PL_CREATE) != 0 && st.st_size == 0));
  /* A file emptied or made by its open (a linker's output, opened
   * O_RDWR|O_CREAT|O_TRUNC and read back) was not used: what was read of
   * it is what this process wrote. Until 2026-12-06 `ld` was recorded as
   * using the program it generated, a loop in make's lineage. */
  int used = (f->mode & MIDA_PL_R) != 0 && (marks & MIDA_PL_FRESH) == 0 &&
             (nr > 0 || (marks & MIDA_PL_MAPPED_R) != 0 || !generated);
  /* What this open adds to the link's total: what was not in a record of
   * this file already (one recorded at exec and again at close). */
  uint64_t more_r = nr - (nr >= f->told_read ? f->told_read : nr);
  uint64_t more_w = nw - (nw >= f->told_written ? f->told_written : nw);
  f->told_read = nr;
  f->told_written = nw;
  const mida_id_t *tasks[2] = {&mida__pl.task, NULL};
  if (mida__pl_id_set(&f->wf_task))
    tasks[1] = &f->wf_task;
  /* The URI's length: the path's own, as the open's scan found, or
   * measured (a byte to encode, a renamed file). */
  unsigned info = path_info[f - mida__pl_files];
  size_t path_len = info & PATH_LEN, uri_len;
  if ((info & PATH_PLAIN) != 0)
    uri_len = 7 + path_len; /* "file://" */
  else
    uri_len = mida__file_uri_measure(f->path, &path_len);
  for (int k = 0; k < 2 && tasks[k] != NULL; k++) {
    if (used)
      mida__pl_emit_link_known(
          tasks[k], f->path, path_len, uri_len, &st, MIDA_USED,
          mida__pl_link_total(tasks[k], &st, MIDA_USED, more_r));
    if (generated)
      mida__pl_emit_link_known(
          tasks[k], f->path, path_len, uri_len, &st, MIDA_GENERATED,
          mida__pl_link_total(tasks[k], &st, MIDA_GENERATED, more_w));
  }
}

/* Flushes a stdio stream if no other thread holds it (at exit, where
 * waiting could deadlock), so that what it holds is in the file before the
 * file's identity is taken. */
static void flush_quietly(FILE *s) {
  if (s != NULL && ftrylockfile(s) == 0) {
    fflush_unlocked(s);
    funlockfile(s);
  }
}

/* The walks of the open files through their descriptors (at exit, exec,
 * fork): the file of the first descriptor from *fd on (set to it) whose
 * file is not marked in met, a bitmap of MIDA_PL_FILES bits; NULL when the
 * tracked descriptors are done. The caller marks what it has dealt with
 * (mark_met), so a file open under several descriptors is met once. */
static mida__pl_file *next_unmet(int *fd, int end, const uint8_t *met) {
  for (; *fd < end; (*fd)++) {
    mida__pl_file *f = mida__pl_file_of(*fd);
    if (f == NULL)
      continue;
    size_t i = (size_t)(f - mida__pl_files);
    if ((met[i / 8] & (1u << (i % 8))) == 0)
      return f;
  }
  return NULL;
}

static void mark_met(uint8_t *met, const mida__pl_file *f) {
  size_t i = (size_t)(f - mida__pl_files);
  met[i / 8] |= (uint8_t)(1u << (i % 8));
}

void mida__pl_record_all(int when) {
  uint8_t seen[MIDA_PL_FILES / 8];
  memset(seen, 0, sizeof seen);
  int cloexec_only = when == MIDA_PL_AT_EXEC;
  if (when == MIDA_PL_AT_EXIT) {
    /* The writers of pipes first, then the flush that reaches their
     * readers (libc's own, after this, finds nothing left). */
    mida__pl_stream_flushing(NULL);
    flush_quietly(stdout);
    flush_quietly(stderr);
  }
  const int end = mida__pl_fd_bound();
  for (int fd = 0;; fd++) {
    mida__pl_file *f = next_unmet(&fd, end, seen);
    if (f == NULL)
      break;
    if (cloexec_only) {
      int fl = MIDA_PL_REAL(fcntl)(fd, F_GETFD);
      if (fl < 0 || (fl & FD_CLOEXEC) == 0)
        continue;
    } else if (when == MIDA_PL_AT_EXIT) {
      flush_quietly(f->stream);
      if (f->kind == MIDA_PL_PIPE_KIND) {
        /* What libc's buffers moved through a pipe counts: a write end
         * that stdio wrote into is announced for the readers still to
         * come, and a read end that stdio read from is a dependency. A
         * write end only held (by each command of a loop piped into
         * `cat`, by every job of `make | tee`) is not: its holder is no
         * writer, and 4 writers fill the pipe's slot (pipes.c). */
        pipe_stream_moves(f, fd);
      }
    }
    mark_met(seen, f);
    mida__pl_record_file(f, fd);
  }
}

void mida__pl_files_reset_counts(void) {
  /* The entries the child's descriptors point at, found through them: the
   * table's 1,024 entries (80 KiB) are mostly pages the parent never
   * touched, and reading each was a page fault in every child (~20 in a
   * shell's). An entry no descriptor points at (taken by another thread of
   * the parent in the middle of an open) is nobody's in the child. */
  uint8_t done[MIDA_PL_FILES / 8];
  memset(done, 0, sizeof done);
  const int end = mida__pl_fd_bound();
  for (int fd = 0;; fd++) {
    mida__pl_file *f = next_unmet(&fd, end, done);
    if (f == NULL)
      break;
    mark_met(done, f);
    size_t i = (size_t)(f - mida__pl_files);
    atomic_store_explicit(&f->nread, 0, memory_order_relaxed);
    atomic_store_explicit(&f->nwritten, 0, memory_order_relaxed);
    f->told_read = 0;
    f->told_written = 0;
    uint8_t keep = MIDA_PL_INHERITED;
    if (f->kind == MIDA_PL_PIPE_KIND && (f->mode & MIDA_PL_W) != 0)
      keep |= MIDA_PL_UNANNOUNCED; /* the child writes as itself */
    atomic_store_explicit(&f->marks, keep, memory_order_relaxed);
    memset(&f->wf_task, 0, sizeof f->wf_task);
    atomic_store_explicit(&seen[i].at, 0, memory_order_relaxed);
    /* What libc's buffers move from now on is the child's: count from the
     * offset the descriptor has now. */
    if (start_offset[i] >= 0) {
      off_t at = lseek(fd, 0, SEEK_CUR);
      start_offset[i] = at >= 0 ? (int64_t)at : -1;
    }
  }
}

size_t mida__pl_files_inheritable(char *buf, size_t cap) {
  size_t len = 0;
  buf[0] = '\0';
  int count = 0;
  const int end = mida__pl_fd_bound();
  for (int fd = 0; fd < end && count < MIDA_PL_INHERIT_MAX; fd++) {
    mida__pl_file *f = mida__pl_file_of(fd);
    if (f == NULL || f->kind != MIDA_PL_PATH_KIND || f->path[0] != '/')
      continue; /* a pipe, or an O_TMPFILE without a name */
    int fl = MIDA_PL_REAL(fcntl)(fd, F_GETFD);
    if (fl < 0 || (fl & FD_CLOEXEC) != 0)
      continue;
    add_buffered(f, fd);
    int n = snprintf(
        buf + len, cap - len, "%s%d:%llu:%llu:%u", len > 0 ? "," : "", fd,
        (unsigned long long)atomic_load_explicit(&f->nread,
                                                 memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&f->nwritten,
                                                 memory_order_relaxed),
        (unsigned)atomic_load_explicit(&f->marks, memory_order_relaxed));
    if (n < 0 || (size_t)n >= cap - len) {
      buf[len] = '\0';
      break;
    }
    len += (size_t)n;
    count++;
  }
  return len;
}

/* Marks carried over an exec (MIDA_PRELOAD_FDS) onto fd's entry. */
void mida__pl_set_marks(int fd, unsigned marks) {
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f != NULL)
    atomic_fetch_or_explicit(&f->marks,
                             (uint8_t)(marks & (MIDA_PL_TRUNCATED |
                                                MIDA_PL_CREATE |
                                                MIDA_PL_MAPPED_W |
                                                MIDA_PL_RETIMED |
                                                MIDA_PL_FRESH)),
                             memory_order_relaxed);
}

void mida__pl_files_renamed(const char *from, const char *to) {
  size_t flen = strlen(from), tlen = strlen(to);
  for (int i = 0; i < MIDA_PL_FILES; i++) {
    mida__pl_file *f = &mida__pl_files[i];
    if (atomic_load_explicit(&f->refs, memory_order_acquire) == 0 ||
        f->kind != MIDA_PL_PATH_KIND)
      continue;
    if (strncmp(f->path, from, flen) != 0 ||
        (f->path[flen] != '\0' && f->path[flen] != '/'))
      continue;
    size_t rest = strlen(f->path + flen);
    if (tlen + rest + 1 > MIDA_PL_PATH)
      continue;
    memmove(f->path + tlen, f->path + flen, rest + 1);
    memcpy(f->path, to, tlen);
    path_info[i] = (uint16_t)(tlen + rest); /* measured at close */
  }
}

void mida__pl_files_named(int fd, const char *abs) {
  mida__pl_file *f = mida__pl_file_of(fd);
  if (f == NULL || f->kind != MIDA_PL_PATH_KIND || f->path[0] != '\0')
    return;
  size_t len = strlen(abs);
  int plain;
  if (len >= MIDA_PL_PATH || mida__pl_noise_scan(abs, len, &plain))
    return;
  memcpy(f->path, abs, len + 1);
  path_info[f - mida__pl_files] =
      (uint16_t)(len | (plain ? PATH_PLAIN : 0));
}

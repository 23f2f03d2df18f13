/*
 * journal.c -- the per-process capture journal: segment files, lock-free
 * append, the in-process reader, and the reader of orphan segments left by
 * dead processes. The file format is documented in journal.h.
 *
 * Writers. A writer loads the current segment, reads its tail and, if the
 * ring has room, moves the tail forward with one compare-and-swap; the space
 * between the old and new tail is its own. Bit 63 of the tail word is the
 * SEALED flag: once it is set, every compare-and-swap on the old segment
 * fails, so no writer can reserve in a segment after it was sealed. Sealing,
 * opening the next segment and publishing it as current happen in one
 * critical section under the journal's mutex; that slow path runs only when a
 * ring is full under the SPILL policy.
 *
 * The reader (one thread) reads committed frames from the oldest segment in
 * the queue, clears what was shipped to zero and then stores the head with
 * release order. A writer loads the head with acquire order before it
 * reserves, so the space it is given has been cleared before it writes: a
 * stale commit word can never be mistaken for a new one.
 *
 * Retired segments. A writer may have loaded a segment pointer just before
 * the segment was sealed, drained and retired, and dereference it later. So
 * the address range of a retired segment is never handed back to the system
 * while the journal is open: its header page stays mapped (showing a sealed
 * tail, so the stale writer moves on) and its ring is replaced by an
 * inaccessible reservation that holds no memory. The next segment the
 * journal opens is moved (mremap) onto that same range, so a stale pointer
 * always sees either the sealed old header or the live new one, and the
 * number of ranges is bounded by the most segments ever alive at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, MREMAP_FIXED */
#endif

#include "capture/journal.h"

#include "capture/spool_dir.h"
#include "capture/spool_pool.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/crc32c.h"
#include "core/errors.h"
#include "core/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the journal format is little-endian; a big-endian port must swap"
#endif

#define SEALED_BIT (UINT64_C(1) << 63)
#define POS_MASK (~SEALED_BIT)
#define MAX_RING_BYTES (UINT64_C(1) << 40) /* 1 TiB: a sanity bound */
#define MAX_POSITION (UINT64_C(1) << 62)   /* head beyond this is corrupt */
#define HOST_BYTES 64
#define NAME_HOST_MAX 63 /* host characters in a name */
#define NO_FRAME UINT64_MAX
/* How often a journal short of room tries a new segment again. */
#define SPACE_RETRY_NS UINT64_C(1000000000)

/* The segment header as it lies at the start of the file (journal.h). */
typedef struct seg_header {
  char magic[8];            /* "MIDAJRN1" */
  uint32_t version;         /* MIDA_JOURNAL_VERSION */
  uint32_t header_bytes;    /* MIDA_JOURNAL_HEADER_BYTES */
  uint64_t ring_bytes;      /* ring size, a multiple of 4096 */
  uint64_t seq;             /* segment sequence number, from 0 */
  uint64_t pid;             /* the writer's pid */
  uint64_t start_ns;        /* the writer's start, ns since epoch */
  char host[HOST_BYTES];    /* the writer's host name, NUL-padded */
  uint8_t unused[16];       /* zero */
  _Atomic uint64_t tail;    /* end of reserved space; bit 63: sealed */
  _Atomic uint64_t head;    /* shipped up to here */
  _Atomic uint64_t sealed;  /* 0, or the final tail once sealed */
  _Atomic uint64_t dropped; /* records dropped (DROP policy) */
  _Atomic uint64_t corrupt; /* regions a reader skipped as corrupt */
  _Atomic uint64_t records; /* frames committed, PAD excluded */
  _Atomic uint64_t releasing; /* the head a reader is clearing up to */
  _Atomic uint64_t flags;     /* SEG_TAILABLE */
  _Atomic uint64_t dropped_before; /* the journal's drops before this
                                      segment, the carried included */
  _Atomic uint64_t corrupt_before; /* corrupt regions its reader counted
                                      in the earlier segments */
} seg_header;

_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 must be plain");
_Static_assert(offsetof(seg_header, version) == 8, "header layout");
_Static_assert(offsetof(seg_header, ring_bytes) == 16, "header layout");
_Static_assert(offsetof(seg_header, host) == 48, "header layout");
_Static_assert(offsetof(seg_header, tail) == 128, "header layout");
_Static_assert(offsetof(seg_header, head) == 136, "header layout");
_Static_assert(offsetof(seg_header, sealed) == 144, "header layout");
_Static_assert(offsetof(seg_header, dropped) == 152, "header layout");
_Static_assert(offsetof(seg_header, corrupt) == 160, "header layout");
_Static_assert(offsetof(seg_header, records) == 168, "header layout");
_Static_assert(offsetof(seg_header, releasing) == 176, "header layout");
_Static_assert(offsetof(seg_header, flags) == 184, "header layout");
_Static_assert(offsetof(seg_header, dropped_before) == 192, "header layout");
_Static_assert(offsetof(seg_header, corrupt_before) == 200, "header layout");
_Static_assert(sizeof(seg_header) <= MIDA_JOURNAL_HEADER_BYTES, "header");

static const char SEG_MAGIC[8] = {'M', 'I', 'D', 'A', 'J', 'R', 'N', '1'};

/* flags: the writer's reader is another process, which may read the
 * segment while it lives (mida__journal_set_handoff, mida__tail_open). */
#define SEG_TAILABLE UINT64_C(1)

/* The byte of a segment file that a reader of a live segment locks (an
 * open file description lock, which flock(2) does not see): one reader
 * at a time, and no recovery while it reads. */
#define READER_LOCK_BYTE (MIDA_JOURNAL_HEADER_BYTES - 1)

/* One segment of the live journal. Writers read only hdr and ring, which
 * never change for the life of the struct (see "Retired segments" above). */
typedef struct segment {
  uint8_t *base;         /* the mapping: header page, then the ring */
  seg_header *hdr;       /* == base */
  uint8_t *ring;         /* base + MIDA_JOURNAL_HEADER_BYTES */
  uint64_t ring_bytes;   /* its ring's size (fixed for the struct's life) */
  int fd;                /* open and flock'ed file; -1 once retired, or
                            with no_fds */
  uint64_t seq;          /* sequence number of the file now mapped */
  char *path;            /* its path; NULL once retired */
  uint64_t counted_upto; /* reader: skipped regions before this counted */
  struct segment *next;  /* next newer in the queue, or in the free list */
} segment;

struct mida__journal {
  _Atomic(segment *) current; /* where writers reserve */
  uint64_t ring_bytes;        /* ring size of every segment after the
                                 first, and the bound on a record */
  uint64_t first_ring;        /* ring size of the first segment (<=) */
  uint64_t next_ring;         /* ring size of the next segment a spill
                                 makes: four times the last one's, up to
                                 ring_bytes (guarded by lock) */
  mida_full_policy_t policy;  /* what a full ring does */
  pthread_mutex_t lock;       /* guards the fields below and seg opening */
  segment *queue_head;        /* oldest segment; changed only by the reader */
  segment *queue_tail;        /* newest segment == current */
  segment *free_list;         /* retired address ranges, ready for reuse */
  uint64_t next_seq;          /* sequence number of the next segment */
  uint64_t segments_opened;   /* segment files created */
  _Atomic uint64_t segments_made; /* of which made anew, not from the pool:
                                     read without the lock */
  uint64_t retired_records;   /* records of segments already removed */
  uint64_t retired_dropped;   /* drops counted in segments removed */
  uint64_t retired_corrupt;   /* corrupt regions of segments removed */
  char *spool;                /* spool directory */
  char *host;                 /* host name as given */
  char *host_safe;            /* host name usable in a file name */
  int64_t pid;                /* pid written to the headers */
  int64_t start_ns;           /* journal start, ns since epoch */
  uint64_t spool_max;         /* bytes the spool's segments may take, 0: any */
  atomic_bool space_blocked;  /* the last new segment failed: full rings
                                 drop until mida__journal_maintain() clears
                                 it */
  _Atomic uint64_t unjournaled; /* records dropped with no segment at all */
  _Atomic uint64_t dropped_total; /* every record dropped, in a segment or
                                     none, and those carried in
                                     (mida__journal_carry_dropped) */
  uint64_t space_failures;      /* segments that could not be made (lock) */
  int space_rc;                 /* why the last one failed, or MIDA_OK (lock) */
  char space_err[256];          /* its message (lock) */
  uint64_t retry_ns;            /* reader: when maintain tries again, 0: unset
                                   (CLOCK_MONOTONIC ns) */
  bool handoff;                 /* the reader is another process: sealed
                                   segments are handed to it (lock) */
};

struct mida__orphan {
  int fd;                    /* open and flock'ed segment file */
  uint8_t *base;             /* its mapping */
  size_t map_bytes;          /* header plus ring */
  seg_header *hdr;           /* == base */
  uint8_t *ring;             /* base + MIDA_JOURNAL_HEADER_BYTES */
  uint64_t ring_bytes;       /* ring size from the header */
  uint64_t counted_upto;     /* skipped regions before this are counted */
  char *path;                /* the file's path */
  char host[HOST_BYTES + 1]; /* host from the header, NUL-terminated */
  int64_t pid;               /* pid from the header */
  int64_t start_ns;          /* the writer's journal start, from the header */
  bool salvaged;             /* head/tail were damaged: read from pos to
                                end as found by a scan of the whole ring */
  bool live;                 /* its writer lives (mida__tail_open): the
                                reader's lock held, the file kept */
  uint64_t pos;              /* salvage: shipped up to here (in memory) */
  uint64_t end;              /* salvage: the end of the last valid frame;
                                live: the tail the last peek read to */
  bool copied;               /* read, not mapped: hdr is copy, ring a copy
                                of its unshipped frames (read_orphan) */
  uint64_t ring_base;        /* copied: the ring offset of ring[0] */
  seg_header copy;           /* copied: the header as read */
};

/* What a reader needs to know about one ring. */
typedef struct ring_view {
  uint8_t *ring;             /* first byte of the ring */
  uint64_t size;             /* ring bytes */
  _Atomic uint64_t *corrupt; /* header counter of skipped regions */
  uint64_t *counted_upto;    /* reader's memory of what it counted */
  bool orphan;               /* no live writer: uncommitted means torn */
  uint64_t base;             /* ring offset of ring[0]: 0, or in a copy of
                                a window of the ring (an orphan read), the
                                window's start */
} ring_view;

enum frame_state { FRAME_VALID, FRAME_UNCOMMITTED, FRAME_BAD };

/* ---- helpers ------------------------------------------------------------ */


static inline uint64_t round8(uint64_t n) {
  return (n + 7) & ~UINT64_C(7);
}

static inline _Atomic uint64_t *commit_word(uint8_t *frame) {
  return (_Atomic uint64_t *)(void *)frame;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* A heap string made by printf; NULL when out of memory. */
static char *format_alloc(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *format_alloc(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return NULL;
  char *s = mida__malloc((size_t)n + 1);
  if (s == NULL)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

/* The host name with every character outside [A-Za-z0-9_-] replaced by '_'
 * (a '.' would break the name's fields, a '/' its directory). */
static char *sanitize_host(const char *host) {
  size_t n = strlen(host);
  if (n > NAME_HOST_MAX)
    n = NAME_HOST_MAX;
  if (n == 0)
    return mida__strdup("unknown");
  char *s = mida__malloc(n + 1);
  if (s == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    char c = host[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-';
    s[i] = ok ? c : '_';
  }
  s[n] = '\0';
  return s;
}

/* ---- frames: validation and the reader's scan ------------------------- */

/* Looks at the frame that would start at logical position pos (whose ring
 * offset leaves room for a frame header) and, if it is committed and sound
 * and ends by end, fills *size and (for a record) *f. */
static enum frame_state check_frame(const ring_view *rv, uint64_t pos,
                                    uint64_t end, uint64_t *size,
                                    mida__frame *f) {
  uint64_t off = pos % rv->size;
  uint64_t room = rv->size - off;
  uint8_t *p = rv->ring + (off - rv->base);
  uint64_t commit = atomic_load_explicit(commit_word(p), memory_order_acquire);
  if (commit != (pos ^ MIDA_FRAME_MAGIC))
    return FRAME_UNCOMMITTED;
  uint32_t len, crc;
  uint16_t type;
  memcpy(&len, p + 8, 4);
  memcpy(&type, p + 12, 2);
  memcpy(&crc, p + 16, 4);
  uint64_t frame_bytes;
  uint32_t expect = mida__crc32c(0, p + 8, 8);
  if (type == MIDA_REC_PAD) {
    /* A PAD fills the ring to its end; its payload is not covered. */
    if ((uint64_t)len != room - MIDA_FRAME_HEADER_BYTES)
      return FRAME_BAD;
    frame_bytes = room;
  } else {
    if ((uint64_t)len > rv->size / 4)
      return FRAME_BAD;
    frame_bytes = MIDA_FRAME_HEADER_BYTES + round8(len);
    if (frame_bytes > room)
      return FRAME_BAD;
  }
  /* Past end, before its payload is read: a copy of a window of the ring
   * (read_orphan) holds nothing after end but a frame header of zeros. */
  if (frame_bytes > end - pos)
    return FRAME_BAD;
  if (type != MIDA_REC_PAD)
    expect = mida__crc32c(expect, p + MIDA_FRAME_HEADER_BYTES, len);
  if (crc != expect)
    return FRAME_BAD;
  *size = frame_bytes;
  f->type = type;
  f->version = p[14];
  f->payload = p + MIDA_FRAME_HEADER_BYTES;
  f->len = len;
  return FRAME_VALID;
}

/* The first position in [from, end) where a valid frame starts, or
 * NO_FRAME. Only commit words are read until one matches its position. */
static uint64_t resync(const ring_view *rv, uint64_t from, uint64_t end) {
  for (uint64_t q = from; q < end; q += 8) {
    if (rv->size - q % rv->size < MIDA_FRAME_HEADER_BYTES)
      continue;
    uint64_t size;
    mida__frame f;
    if (check_frame(rv, q, end, &size, &f) == FRAME_VALID)
      return q;
  }
  return NO_FRAME;
}

/* Counts the skipped region [from, to) once, however often it is peeked. */
static void count_skip(const ring_view *rv, uint64_t from, uint64_t to) {
  if (from < *rv->counted_upto)
    return;
  atomic_fetch_add_explicit(rv->corrupt, 1, memory_order_relaxed);
  *rv->counted_upto = to;
}

/* Collects up to max frames from pos to end into frames[*n...], skipping PAD
 * frames and corrupt regions. In a live ring an uncommitted frame stops the
 * scan (its writer is still at work); in an orphan it is torn and skipped,
 * and with end_is_tail the space after the last valid frame is skipped too.
 * Returns the position after the last frame or region consumed. */
static uint64_t scan(const ring_view *rv, uint64_t pos, uint64_t end,
                     bool end_is_tail, mida__frame *frames, size_t max,
                     size_t *n) {
  while (*n < max && pos < end) {
    uint64_t room = rv->size - pos % rv->size;
    if (room < MIDA_FRAME_HEADER_BYTES) {
      /* No frame starts this close to the ring's end (see journal.h). */
      if (room > end - pos)
        break;
      pos += room;
      continue;
    }
    uint64_t size;
    mida__frame f;
    enum frame_state st = check_frame(rv, pos, end, &size, &f);
    if (st == FRAME_VALID) {
      if (f.type != MIDA_REC_PAD)
        frames[(*n)++] = f;
      pos += size;
      continue;
    }
    if (st == FRAME_UNCOMMITTED && !rv->orphan)
      break;
    uint64_t next = resync(rv, pos + 8, end);
    if (next != NO_FRAME) {
      count_skip(rv, pos, next);
      pos = next;
      continue;
    }
    if (rv->orphan && end_is_tail) {
      /* Reserved by a writer that died before committing: lost. */
      count_skip(rv, pos, end);
      pos = end;
    }
    break;
  }
  return pos;
}

/* Clears [head, mark) of the ring to zero, then publishes head = mark. The
 * end being cleared to is published first (releasing), so that a reader
 * killed in the middle leaves a release that the next one finishes
 * (finish_release) instead of zeros it would count as corrupt. */
static void clear_and_advance(uint8_t *ring, uint64_t size, seg_header *hdr,
                              uint64_t head, uint64_t mark) {
  atomic_store_explicit(&hdr->releasing, mark, memory_order_release);
  uint64_t len = mark - head;
  uint64_t off = head % size;
  uint64_t first = len < size - off ? len : size - off;
  memset(ring + off, 0, (size_t)first);
  if (len > first)
    memset(ring, 0, (size_t)(len - first));
  atomic_store_explicit(&hdr->head, mark, memory_order_release);
}

/* Releases [head, mark) of a sealed segment's ring: nothing will be written
 * there again, so instead of clearing it the whole pages in it are dropped
 * from this process's page tables (the bytes stay in the file until the
 * segment is removed). With the writer dropping a ring's pages when it seals
 * it (spill), a backlog of sealed segments costs disk, not resident memory:
 * RSS stays bounded by about two rings however far the shipper falls
 * behind. */
static void drop_and_advance(uint8_t *ring, uint64_t size, seg_header *hdr,
                             uint64_t head, uint64_t mark) {
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t from = (head % size + page - 1) / page * page;
  uint64_t to = mark - head >= size ? size : mark % size;
  if (mark - head < size && mark % size <= head % size)
    to = size; /* wrapped: drop up to the ring's end */
  to = to / page * page;
  if (to > from)
    madvise(ring + from, (size_t)(to - from), MADV_DONTNEED);
  atomic_store_explicit(&hdr->head, mark, memory_order_release);
}

/* ---- segments of the live journal ------------------------------------- */

/* The corrupt regions the journal's reader counted in its segments so
 * far: those removed or handed off, and those in the queue. Called at
 * open or with j->lock held. */
static uint64_t corrupt_so_far(const mida__journal *j) {
  uint64_t n = j->retired_corrupt;
  for (const segment *s = j->queue_head; s != NULL; s = s->next)
    n += atomic_load_explicit(&s->hdr->corrupt, memory_order_relaxed);
  return n;
}

/* Counts a record dropped in segment header h. */
static void count_drop(mida__journal *j, seg_header *h) {
  atomic_fetch_add_explicit(&h->dropped, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&j->dropped_total, 1, memory_order_relaxed);
}

/* The header of a new segment, before the file is linked. Its
 * dropped_before and corrupt_before are the journal's running totals, so
 * that a reader of any one segment (a recovery) can tell the store the
 * journal's total so far: the largest of them, which the store keeps, is
 * the sum over the segments, however often a segment is shipped. A drop
 * that a writer counts in the segment being replaced while this one is
 * made counts there only. */
static void init_header(mida__journal *j, seg_header *h, uint64_t seq,
                        uint64_t ring) {
  memcpy(h->magic, SEG_MAGIC, sizeof h->magic);
  h->version = MIDA_JOURNAL_VERSION;
  h->header_bytes = MIDA_JOURNAL_HEADER_BYTES;
  h->ring_bytes = ring;
  h->seq = seq;
  h->pid = (uint64_t)j->pid;
  h->start_ns = (uint64_t)j->start_ns;
  memset(h->host, 0, sizeof h->host);
  size_t n = strlen(j->host);
  memcpy(h->host, j->host, n < HOST_BYTES - 1 ? n : HOST_BYTES - 1);
  /* Sealed until segment_create has it in place (see there). */
  atomic_store_explicit(&h->tail, SEALED_BIT, memory_order_relaxed);
  atomic_store_explicit(&h->head, 0, memory_order_relaxed);
  atomic_store_explicit(&h->sealed, 0, memory_order_relaxed);
  atomic_store_explicit(&h->dropped, 0, memory_order_relaxed);
  atomic_store_explicit(&h->corrupt, 0, memory_order_relaxed);
  atomic_store_explicit(&h->records, 0, memory_order_relaxed);
  atomic_store_explicit(&h->releasing, 0, memory_order_relaxed);
  atomic_store_explicit(&h->flags, j->handoff ? SEG_TAILABLE : 0,
                        memory_order_relaxed);
  atomic_store_explicit(&h->dropped_before,
                        atomic_load_explicit(&j->dropped_total,
                                             memory_order_relaxed),
                        memory_order_relaxed);
  atomic_store_explicit(&h->corrupt_before, corrupt_so_far(j),
                        memory_order_relaxed);
}

/* Touches every page of a new ring for writing, so that the file's pages
 * are allocated and mapped writable here, on the slow path, instead of one
 * page fault per 4 KiB in the middle of the first lap of appends. */
static void prefault_ring(uint8_t *ring, uint64_t bytes) {
#ifdef MADV_POPULATE_WRITE
  /* Linux 5.14: all the write faults in one system call (a 64 KiB ring's
   * 16 faults were ~15 us in a VM). */
  if (madvise(ring, (size_t)bytes, MADV_POPULATE_WRITE) == 0)
    return;
#endif
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  for (uint64_t off = 0; off < bytes; off += page)
    ((volatile uint8_t *)ring)[off] = 0;
}

/* Whether an errno value means that the file system has no room. */
static bool is_no_space(int e) {
  return e == ENOSPC || e == EDQUOT;
}

/* Allocates the file's blocks for its first bytes (posix_fallocate, which
 * also sets the size). Returns 0 or an errno value. */
static int reserve_blocks(int fd, size_t bytes) {
  int e;
  do {
    e = posix_fallocate(fd, 0, (off_t)bytes);
  } while (e == EINTR);
  return e;
}

/* Writes zeros over the file's first bytes with pwritev(2), after
 * reserve_blocks(). Blocks that posix_fallocate() reserved are "unwritten"
 * extents (ext4, XFS): the first store through the mapping into each page
 * then converts its extent in a page fault of its own, which made a 256
 * KiB segment cost ~0.5 ms to make and fill on ext4 (~0.4 us per record);
 * one write of zeros converts them all at once and leaves the pages in the
 * page cache (~0.1 ms in all). Every vector points at the same page of
 * zeros, in .bss and only ever read: the kernel's shared zero page, one
 * page fault in the process (a 64 KiB buffer was 16, in every process
 * the preload library starts a journal in). Returns 0 or an errno value. */
static int zero_blocks(int fd, size_t bytes) {
  static char zeros[4096] __attribute__((aligned(4096)));
  struct iovec v[64];
  size_t done = 0;
  while (done < bytes) {
    int cnt = 0;
    for (size_t at = done; at < bytes && cnt < 64; cnt++) {
      size_t len = bytes - at < sizeof zeros ? bytes - at : sizeof zeros;
      v[cnt] = (struct iovec){.iov_base = zeros, .iov_len = len};
      at += len;
    }
    ssize_t w = pwritev(fd, v, cnt, (off_t)done);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? errno : EIO;
    done += (size_t)w;
  }
  return 0;
}

/* Bytes on disk of the segment files (*.mj, *.mj.tmp) in dir, whoever
 * writes them. Returns MIDA_OK or MIDA_EIO. */
static int spool_bytes(const char *dir, uint64_t *out) {
  *out = 0;
  DIR *d = opendir(dir);
  if (d == NULL)
    return errno == ENOENT ? MIDA_OK : MIDA_EIO;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    bool seg = n > 3 && strcmp(e->d_name + n - 3, ".mj") == 0;
    bool tmp = n > 7 && strcmp(e->d_name + n - 7, ".mj.tmp") == 0;
    struct stat st;
    if ((seg || tmp) &&
        fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode))
      *out += (uint64_t)st.st_blocks * 512;
  }
  closedir(d);
  return MIDA_OK;
}

/* Makes sure the spool directory exists and is this user's own
 * (spool_dir.h), and that one more segment of
 * bytes keeps it within MIDA_SPOOL_MAX. Returns MIDA_OK, MIDA_EFULL (over
 * the bound, or no room to create the directory), MIDA_EIO or
 * MIDA_ENOMEM, with a message. */
static int spool_room(mida__journal *j, size_t bytes, char *err,
                      size_t errlen) {
  int rc = mida__spool_dir_prepare(j->spool, true, err, errlen);
  if (rc != MIDA_OK)
    return rc == MIDA_EIO && is_no_space(errno) ? MIDA_EFULL : rc;
  if (j->spool_max == 0)
    return MIDA_OK;
  uint64_t used = 0;
  if (spool_bytes(j->spool, &used) != MIDA_OK) {
    mida__errbuf_set(err, errlen, "cannot read spool directory %s: %s",
                     j->spool, strerror(errno));
    return MIDA_EIO;
  }
  if (used + bytes > j->spool_max) {
    mida__errbuf_set(
        err, errlen,
        "spool %s holds %llu bytes: one more segment of %zu would pass "
        "MIDA_SPOOL_MAX (%llu)",
        j->spool, (unsigned long long)used, bytes,
        (unsigned long long)j->spool_max);
    return MIDA_EFULL;
  }
  return MIDA_OK;
}

/* Whether a segment keeps its descriptor once mapped
 * (mida__journal_set_no_fds); false, the default: it does. */
static atomic_bool no_fds;

void mida__journal_set_no_fds(bool on) {
  atomic_store_explicit(&no_fds, on, memory_order_relaxed);
}

/* Gives a whole, locked segment file its name: links an unnamed
 * (O_TMPFILE) file, or renames the .tmp one. Returns 0 or -1 with errno. */
static int publish_file(int fd, bool unnamed, const char *tmp,
                        const char *path) {
  if (!unnamed)
    return rename(tmp, path);
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW);
}

/* Creates segment file number j->next_seq with a ring of ring bytes,
 * complete with its header, under a temporary name that it then renames, so
 * that every *.mj file is whole. With reuse (whose ring is of the same
 * size), the mapping is moved onto reuse's address range and reuse is the
 * segment returned; else a new struct is allocated. Called at open or with
 * j->lock held. */
static int segment_create(mida__journal *j, uint64_t ring, segment *reuse,
                          segment **out, char *err, size_t errlen) {
  int rc = MIDA_OK;
  uint64_t seq = j->next_seq;
  size_t map_bytes = (size_t)(MIDA_JOURNAL_HEADER_BYTES + ring);
  int fd = -1;
  void *base = MAP_FAILED;
  bool renamed = false;
  bool unnamed = false;
  segment *seg = reuse;
  char *tmp = NULL;
  rc = spool_room(j, map_bytes, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  char *path = format_alloc("%s/%s.%lld.%lld.%06llu.mj", j->spool, j->host_safe,
                            (long long)j->pid, (long long)j->start_ns,
                            (unsigned long long)seq);
  if (path != NULL)
    tmp = format_alloc("%s.tmp", path);
  if (path == NULL || tmp == NULL) {
    rc = MIDA_ENOMEM;
    mida__errbuf_set(err, errlen, "out of memory naming a journal segment");
    goto fail;
  }
  if (seg == NULL) {
    seg = mida__calloc(1, sizeof *seg);
    if (seg == NULL) {
      rc = MIDA_ENOMEM;
      mida__errbuf_set(err, errlen, "out of memory opening a journal segment");
      goto fail;
    }
    seg->fd = -1;
  }
  /* A spent file of this size from the spool's pool (spool_pool.h), taken
   * as <name>.tmp, locked. Else, where the file system allows it, the file
   * has no name until it is whole and locked (O_TMPFILE, then linkat), so
   * no other process ever sees, or sweeps, a half-made segment; elsewhere
   * it is made as <name>.tmp and renamed, and mida__spool_sweep() leaves
   * young .tmp files alone. */
  fd = mida__spool_pool_take(j->spool, map_bytes, tmp);
  bool pooled = fd >= 0;
  if (!pooled) {
    fd = open(j->spool, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    unnamed = fd >= 0;
  }
  if (fd < 0)
    fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = MIDA_EIO;
    mida__errbuf_set(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
    goto fail;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    rc = MIDA_EIO;
    mida__errbuf_set(err, errlen, "cannot lock %s: %s", tmp, strerror(errno));
    goto fail;
  }
  /* Blocks reserved now, not a sparse file: every page of the mapping has
   * its storage before the first write, so a full disk is an error here
   * and never a SIGBUS in the middle of an append. A pooled file has its
   * blocks, written; its old frames are zeroed like a new file's, so none
   * can pass for a frame of this journal. */
  int fa = pooled ? 0 : reserve_blocks(fd, map_bytes);
  /* A full file system may be full of the pool's files, of other sizes
   * (up to MIDA_POOL_SLOTS of each): they are a cache, and give way. */
  if (is_no_space(fa) && mida__spool_pool_drain(j->spool) > 0)
    fa = reserve_blocks(fd, map_bytes);
  if (fa == 0)
    fa = zero_blocks(fd, map_bytes);
  if (fa != 0) {
    rc = is_no_space(fa) ? MIDA_EFULL : MIDA_EIO;
    mida__errbuf_set(err, errlen, "cannot reserve %zu bytes for %s: %s",
                     map_bytes, tmp, strerror(fa));
    goto fail;
  }
  base = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    rc = MIDA_EIO;
    mida__errbuf_set(err, errlen, "cannot map %s: %s", tmp, strerror(errno));
    goto fail;
  }
  init_header(j, base, seq, ring);
  prefault_ring((uint8_t *)base + MIDA_JOURNAL_HEADER_BYTES, ring);
  if (publish_file(fd, unnamed, tmp, path) != 0) {
    rc = MIDA_EIO;
    mida__errbuf_set(err, errlen, "cannot name %s: %s", path, strerror(errno));
    goto fail;
  }
  renamed = true;
  if (reuse != NULL) {
    void *moved = mremap(base, map_bytes, map_bytes,
                         MREMAP_MAYMOVE | MREMAP_FIXED, reuse->base);
    if (moved == MAP_FAILED) {
      rc = MIDA_EIO;
      mida__errbuf_set(err, errlen, "cannot move the mapping of %s: %s", path,
                       strerror(errno));
      goto fail;
    }
    base = moved;
  } else {
    seg->base = base;
    seg->hdr = base;
    seg->ring = seg->base + MIDA_JOURNAL_HEADER_BYTES;
    seg->ring_bytes = ring;
  }
  /* Open for writers only now, with release order. A writer still
   * holding a pointer to the retired segment whose address range this one
   * took over (see "Retired segments") reads this header: until here it
   * found the tail sealed and went back for the current segment; from
   * here its compare-and-swap of the tail reads this store or a later one,
   * and so sees the mapping and the header made before it. */
  atomic_store_explicit(&seg->hdr->tail, 0, memory_order_release);
  /* The mapping holds the open file description, and with it the lock,
   * until it is unmapped or replaced (hand_off_sealed): the descriptor is
   * not needed from here. */
  if (atomic_load_explicit(&no_fds, memory_order_relaxed)) {
    close(fd);
    fd = -1;
  }
  seg->fd = fd;
  seg->seq = seq;
  seg->path = path;
  seg->counted_upto = 0;
  seg->next = NULL;
  j->next_seq++;
  j->segments_opened++;
  if (!pooled)
    atomic_fetch_add_explicit(&j->segments_made, 1, memory_order_relaxed);
  mida__free(tmp);
  *out = seg;
  return MIDA_OK;

fail:
  if (base != MAP_FAILED)
    munmap(base, map_bytes);
  if (fd >= 0) {
    if (renamed)
      unlink(path);
    else if (!unnamed)
      unlink(tmp);
    close(fd);
  }
  if (seg != reuse)
    mida__free(seg);
  mida__free(tmp);
  mida__free(path);
  return rc;
}

/* Turns seg's ring into an inaccessible reservation of its address range.
 * If that fails the old ring simply stays mapped until reuse or close. */
static void ring_reserve(segment *seg) {
  void *r =
      mmap(seg->ring, (size_t)seg->ring_bytes, PROT_NONE,
           MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  (void)r;
}

/* Closes seg's file and keeps its address range on the free list. */
static void segment_to_free_list(mida__journal *j, segment *seg) {
  if (seg->fd >= 0)
    close(seg->fd);
  seg->fd = -1;
  mida__free(seg->path);
  seg->path = NULL;
  seg->next = j->free_list;
  j->free_list = seg;
}

/* Removes the drained, sealed segment seg from disk and keeps its address
 * range for reuse: the header page stays (sealed), the ring becomes an
 * inaccessible reservation. Called by the reader with j->lock held. */
static void segment_retire(mida__journal *j, segment *seg) {
  seg_header *h = seg->hdr;
  j->retired_records += atomic_load_explicit(&h->records, memory_order_relaxed);
  j->retired_dropped += atomic_load_explicit(&h->dropped, memory_order_relaxed);
  j->retired_corrupt += atomic_load_explicit(&h->corrupt, memory_order_relaxed);
  unlink(seg->path);
  ring_reserve(seg);
  segment_to_free_list(j, seg);
}

/* The reader's move to the next segment once the oldest is sealed and
 * drained. Returns false if there is none (which would be a bug). */
static bool retire_front(mida__journal *j) {
  pthread_mutex_lock(&j->lock);
  segment *seg = j->queue_head;
  segment *next = seg->next;
  if (next != NULL) {
    j->queue_head = next;
    segment_retire(j, seg);
    /* Every corrupt region of the earlier segments is counted now. */
    atomic_store_explicit(&next->hdr->corrupt_before, j->retired_corrupt,
                          memory_order_relaxed);
  }
  pthread_mutex_unlock(&j->lock);
  return next != NULL;
}

/* Records that a new segment could not be made (rc), with j->lock held:
 * full rings then drop and count until mida__journal_maintain() lets a
 * writer try again. */
static void note_no_room(mida__journal *j, int rc) {
  j->space_rc = rc;
  j->space_failures++;
  atomic_store_explicit(&j->space_blocked, true, memory_order_relaxed);
}

/* Whether every frame of segment seg, from its head to its tail, is
 * committed: no writer is still filling one. Only the frames' headers are
 * read (commit word, length, type), not their payloads or checksums: this
 * runs on the writer's slow path at every spill of a journal handed off
 * (the preload library's), and the reader checks each frame anyway. */
static bool all_committed(segment *seg) {
  seg_header *h = seg->hdr;
  const uint64_t ring = seg->ring_bytes;
  uint64_t end = atomic_load_explicit(&h->tail, memory_order_acquire) &
                 POS_MASK;
  uint64_t pos = atomic_load_explicit(&h->head, memory_order_acquire);
  while (pos < end) {
    uint64_t room = ring - pos % ring;
    if (room < MIDA_FRAME_HEADER_BYTES) {
      pos += room;
      continue;
    }
    uint8_t *p = seg->ring + pos % ring;
    if (atomic_load_explicit(commit_word(p), memory_order_acquire) !=
        (pos ^ MIDA_FRAME_MAGIC))
      return false;
    uint32_t len;
    uint16_t type;
    memcpy(&len, p + 8, 4);
    memcpy(&type, p + 12, 2);
    uint64_t size =
        type == MIDA_REC_PAD ? room : MIDA_FRAME_HEADER_BYTES + round8(len);
    if (size > room || size > end - pos)
      return false; /* not a frame this writer made: the reader judges */
    pos += size;
  }
  return true;
}

/* In a journal whose reader lives in another process
 * (mida__journal_set_handoff): gives the sealed segments at the front of
 * the queue whose frames are all committed to that reader, in order. Their
 * files are closed, so their locks go and recovery may ship them while this
 * process lives on; only their address ranges stay, as segment_retire()
 * keeps them, but the files are left for the reader to remove. Called with
 * j->lock held. */
static void hand_off_sealed(mida__journal *j) {
  segment *current = atomic_load_explicit(&j->current, memory_order_relaxed);
  while (j->queue_head != NULL && j->queue_head != current &&
         all_committed(j->queue_head)) {
    segment *seg = j->queue_head;
    seg_header *h = seg->hdr;
    j->queue_head = seg->next;
    j->retired_records +=
        atomic_load_explicit(&h->records, memory_order_relaxed);
    j->retired_dropped +=
        atomic_load_explicit(&h->dropped, memory_order_relaxed);
    j->retired_corrupt +=
        atomic_load_explicit(&h->corrupt, memory_order_relaxed);
    ring_reserve(seg);
    /* A mapping of the file keeps its open file description, and with it
     * the lock, alive: the header page becomes a private copy (a stale
     * writer still finds it sealed there), moved into place whole. */
    void *copy = mmap(NULL, MIDA_JOURNAL_HEADER_BYTES, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy != MAP_FAILED) {
      memcpy(copy, seg->base, MIDA_JOURNAL_HEADER_BYTES);
      if (mremap(copy, MIDA_JOURNAL_HEADER_BYTES, MIDA_JOURNAL_HEADER_BYTES,
                 MREMAP_MAYMOVE | MREMAP_FIXED, seg->base) == MAP_FAILED)
        munmap(copy, MIDA_JOURNAL_HEADER_BYTES);
    }
    segment_to_free_list(j, seg);
  }
}

void mida__journal_set_handoff(mida__journal *j) {
  pthread_mutex_lock(&j->lock);
  j->handoff = true;
  for (segment *seg = j->queue_head; seg != NULL; seg = seg->next)
    atomic_store_explicit(&seg->hdr->flags, SEG_TAILABLE, memory_order_release);
  pthread_mutex_unlock(&j->lock);
}

/* An address range of the free list whose ring is ring bytes, taken off
 * the list, or NULL. Called with j->lock held. */
static segment *take_free_range(mida__journal *j, uint64_t ring) {
  for (segment **p = &j->free_list; *p != NULL; p = &(*p)->next)
    if ((*p)->ring_bytes == ring) {
      segment *s = *p;
      *p = s->next;
      return s;
    }
  return NULL;
}

/* The slow path of a full ring under SPILL: opens the next segment, seals
 * seg and publishes the new one, all under the lock so that writers who see
 * the seal and take the lock find the new segment current. Returns MIDA_OK
 * (retry) or MIDA_EFULL (no new segment could be opened; counted). */
static int spill(mida__journal *j, segment *seg) {
  int rc = MIDA_OK;
  pthread_mutex_lock(&j->lock);
  if (atomic_load_explicit(&j->current, memory_order_relaxed) != seg)
    goto out;
  const uint64_t ring = j->next_ring;
  segment *reuse = take_free_range(j, ring);
  segment *next = NULL;
  /* Another writer found no room a moment ago: no second attempt until
   * the reader clears the flag (mida__journal_maintain). */
  if (atomic_load_explicit(&j->space_blocked, memory_order_relaxed)) {
    count_drop(j, seg->hdr);
    rc = MIDA_EFULL;
    goto out;
  }
  int made =
      segment_create(j, ring, reuse, &next, j->space_err, sizeof j->space_err);
  if (made != MIDA_OK) {
    if (reuse != NULL) {
      reuse->next = j->free_list;
      j->free_list = reuse;
    }
    note_no_room(j, made);
    count_drop(j, seg->hdr);
    rc = MIDA_EFULL;
    goto out;
  }
  uint64_t t = atomic_load_explicit(&seg->hdr->tail, memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(
      &seg->hdr->tail, &t, t | SEALED_BIT, memory_order_acq_rel,
      memory_order_relaxed)) {
  }
  atomic_store_explicit(&seg->hdr->sealed, t, memory_order_relaxed);
  j->next_ring = ring < j->ring_bytes / 4 ? ring * 4 : j->ring_bytes;
  j->queue_tail->next = next;
  j->queue_tail = next;
  atomic_store_explicit(&j->current, next, memory_order_release);
  /* The sealed ring now waits on disk for the shipper; its pages leave this
   * process's resident set (a writer still finishing a frame there faults
   * its page back in: the mapping is shared, nothing is lost). */
  madvise(seg->ring, (size_t)seg->ring_bytes, MADV_DONTNEED);
  if (j->handoff)
    hand_off_sealed(j);
out:
  pthread_mutex_unlock(&j->lock);
  return rc;
}

/* ---- the writer's side -------------------------------------------------- */

/* Makes and publishes the journal's first segment, at open or later from
 * mida__journal_maintain(). Returns MIDA_OK or why it could not (recorded
 * for mida__journal_space()). */
static int first_segment(mida__journal *j) {
  pthread_mutex_lock(&j->lock);
  segment *seg = NULL;
  int rc = segment_create(j, j->first_ring, NULL, &seg, j->space_err,
                          sizeof j->space_err);
  if (rc == MIDA_OK) {
    j->queue_head = seg;
    j->queue_tail = seg;
    j->space_rc = MIDA_OK;
    j->space_err[0] = '\0';
    atomic_store_explicit(&j->space_blocked, false, memory_order_relaxed);
    atomic_store_explicit(&j->current, seg, memory_order_release);
  } else {
    note_no_room(j, rc);
  }
  pthread_mutex_unlock(&j->lock);
  return rc;
}

/* ring_bytes rounded up to a multiple of 4096, at least the minimum. */
static uint64_t ring_size(size_t ring_bytes) {
  uint64_t ring = ((uint64_t)ring_bytes + 4095) & ~UINT64_C(4095);
  return ring < MIDA_JOURNAL_MIN_RING ? MIDA_JOURNAL_MIN_RING : ring;
}

int mida__journal_open(const char *spool_dir, size_t ring_bytes,
                       mida_full_policy_t policy, uint64_t spool_max,
                       const char *host, int64_t pid, mida__journal **out,
                       char *err, size_t errlen) {
  return mida__journal_open_growing(spool_dir, ring_bytes, ring_bytes, policy,
                                    spool_max, host, pid, out, err, errlen);
}

int mida__journal_open_growing(const char *spool_dir, size_t first_ring,
                               size_t ring_bytes, mida_full_policy_t policy,
                               uint64_t spool_max, const char *host,
                               int64_t pid, mida__journal **out, char *err,
                               size_t errlen) {
  if (out == NULL || spool_dir == NULL || spool_dir[0] == '\0' ||
      (uint64_t)ring_bytes > MAX_RING_BYTES ||
      (policy != MIDA_FULL_SPILL && policy != MIDA_FULL_DROP)) {
    mida__errbuf_set(err, errlen, "invalid journal arguments");
    return MIDA_EINVAL;
  }
  *out = NULL;
  mida__errbuf_set(err, errlen, "%s", "");
  uint64_t ring = ring_size(ring_bytes);
  uint64_t first = ring_size(first_ring);
  /* Under DROP a record the first ring cannot hold would be dropped. */
  if (first > ring || policy == MIDA_FULL_DROP)
    first = ring;
  mida__journal *j = mida__calloc(1, sizeof *j);
  if (j == NULL) {
    mida__errbuf_set(err, errlen, "out of memory opening the journal");
    return MIDA_ENOMEM;
  }
  int rc = MIDA_OK;
  j->ring_bytes = ring;
  j->first_ring = first;
  j->next_ring = first < ring / 4 ? first * 4 : ring;
  j->policy = policy;
  j->spool_max = spool_max;
  j->pid = pid;
  j->start_ns = (int64_t)now_ns();
  j->spool = mida__strdup(spool_dir);
  j->host = mida__strdup(host != NULL ? host : "");
  j->host_safe = j->host != NULL ? sanitize_host(j->host) : NULL;
  if (j->spool == NULL || j->host == NULL || j->host_safe == NULL) {
    mida__errbuf_set(err, errlen, "out of memory opening the journal");
    rc = MIDA_ENOMEM;
    goto fail;
  }
  if (pthread_mutex_init(&j->lock, NULL) != 0) {
    mida__errbuf_set(err, errlen, "cannot create the journal's mutex");
    rc = MIDA_ENOMEM;
    goto fail;
  }
  /* Without a first segment (no room, a read-only spool) the journal still
   * opens: appends drop and count until mida__journal_maintain() makes
   * one. Only running out of memory is a failure. */
  rc = first_segment(j);
  if (rc == MIDA_ENOMEM) {
    mida__errbuf_set(err, errlen, "%s", j->space_err);
    pthread_mutex_destroy(&j->lock);
    goto fail;
  }
  if (rc != MIDA_OK)
    mida__errbuf_set(err, errlen, "%s", j->space_err);
  *out = j;
  return MIDA_OK;

fail:
  mida__free(j->spool);
  mida__free(j->host);
  mida__free(j->host_safe);
  mida__free(j);
  return rc;
}

int mida__journal_space(mida__journal *j, char *msg, size_t msglen) {
  pthread_mutex_lock(&j->lock);
  bool ready = atomic_load_explicit(&j->current, memory_order_relaxed) != NULL;
  bool blocked = atomic_load_explicit(&j->space_blocked, memory_order_relaxed);
  int rc = ready && !blocked ? MIDA_OK : j->space_rc;
  mida__errbuf_set(msg, msglen, "%s", rc != MIDA_OK ? j->space_err : "");
  pthread_mutex_unlock(&j->lock);
  return rc;
}

void mida__journal_maintain(mida__journal *j) {
  bool ready = atomic_load_explicit(&j->current, memory_order_acquire) != NULL;
  if (ready && !atomic_load_explicit(&j->space_blocked, memory_order_relaxed)) {
    j->retry_ns = 0;
    return;
  }
  uint64_t now = (uint64_t)mida__monotonic_ns();
  if (j->retry_ns == 0) {
    j->retry_ns = now + SPACE_RETRY_NS;
    return;
  }
  if (now < j->retry_ns)
    return;
  j->retry_ns = now + SPACE_RETRY_NS;
  if (!ready) {
    (void)first_segment(j);
    return;
  }
  /* The next writer that finds its ring full tries a new segment again. */
  atomic_store_explicit(&j->space_blocked, false, memory_order_relaxed);
}

int mida__journal_reserve(mida__journal *j, uint16_t type, size_t payload_len,
                          mida__slot *slot) {
  if ((uint64_t)payload_len > j->ring_bytes / 4)
    return MIDA_ETOOBIG;
  const uint64_t need = MIDA_FRAME_HEADER_BYTES + round8(payload_len);
  for (;;) {
    segment *seg = atomic_load_explicit(&j->current, memory_order_acquire);
    if (seg == NULL) {
      /* No segment could be made yet (no room, a read-only spool). */
      atomic_fetch_add_explicit(&j->unjournaled, 1, memory_order_relaxed);
      atomic_fetch_add_explicit(&j->dropped_total, 1, memory_order_relaxed);
      return MIDA_EFULL;
    }
    seg_header *h = seg->hdr;
    const uint64_t ring = seg->ring_bytes;
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_relaxed);
    uint64_t skip = 0;
    uint64_t room = 0; /* bytes from t to the ring's end */
    /* A record too big for a small first ring moves on to a full one. */
    bool full = (uint64_t)payload_len > ring / 4;
    for (;;) {
      if (full || (t & SEALED_BIT) != 0)
        break;
      room = ring - t % ring;
      skip = need > room ? room : 0;
      uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
      if (t + skip + need - head > ring) {
        full = true;
        break;
      }
      if (atomic_compare_exchange_weak_explicit(&h->tail, &t, t + skip + need,
                                                memory_order_acq_rel,
                                                memory_order_relaxed))
        break;
    }
    if ((t & SEALED_BIT) != 0) {
      /* Sealed under us: the sealer holds the lock until it has published
       * the next segment, so waiting for the lock waits for that. */
      if (atomic_load_explicit(&j->current, memory_order_acquire) == seg) {
        pthread_mutex_lock(&j->lock);
        pthread_mutex_unlock(&j->lock);
      }
      continue;
    }
    if (full) {
      if (j->policy == MIDA_FULL_DROP ||
          atomic_load_explicit(&j->space_blocked, memory_order_relaxed)) {
        count_drop(j, h);
        return MIDA_EFULL;
      }
      int rc = spill(j, seg);
      if (rc != MIDA_OK)
        return rc;
      continue;
    }
    uint8_t *ring_base = seg->ring;
    /* t's offset in the ring, from room (the CAS succeeded with this t):
     * a 64-bit division less per record, a second one less below. */
    uint64_t off = ring - room;
    if (skip >= MIDA_FRAME_HEADER_BYTES) {
      /* Fill the rest of the ring with a committed PAD frame. */
      uint8_t *pad = ring_base + off;
      uint32_t pad_len = (uint32_t)(skip - MIDA_FRAME_HEADER_BYTES);
      uint16_t pad_type = MIDA_REC_PAD;
      memcpy(pad + 8, &pad_len, 4);
      memcpy(pad + 12, &pad_type, 2);
      pad[14] = MIDA_RECORD_VERSION;
      pad[15] = 0;
      uint32_t crc = mida__crc32c(0, pad + 8, 8);
      memcpy(pad + 16, &crc, 4);
      atomic_store_explicit(commit_word(pad), t ^ MIDA_FRAME_MAGIC,
                            memory_order_release);
    }
    uint64_t pos = t + skip;
    /* A skip ends at the ring's end: the frame starts at its beginning. */
    uint8_t *frame = ring_base + (skip != 0 ? 0 : off);
    uint32_t len = (uint32_t)payload_len;
    memcpy(frame + 8, &len, 4);
    memcpy(frame + 12, &type, 2);
    frame[14] = MIDA_RECORD_VERSION;
    frame[15] = 0;
    memset(frame + 16, 0, 8);
    slot->payload = frame + MIDA_FRAME_HEADER_BYTES;
    slot->len = len;
    slot->frame_ = frame;
    slot->pos_ = pos;
    slot->segment_ = seg;
    return MIDA_OK;
  }
}

void mida__journal_commit(mida__journal *j, mida__slot *slot) {
  (void)j;
  uint8_t *frame = slot->frame_;
  segment *seg = slot->segment_;
  uint32_t crc = mida__crc32c_8_then(0, frame + 8, slot->payload, slot->len);
  memcpy(frame + 16, &crc, 4);
  /* Counted before the commit word: once that is stored the reader may
   * drain and retire the segment, and the writer must not touch it. */
  atomic_fetch_add_explicit(&seg->hdr->records, 1, memory_order_relaxed);
  atomic_store_explicit(commit_word(frame), slot->pos_ ^ MIDA_FRAME_MAGIC,
                        memory_order_release);
}

void mida__journal_stats_get(mida__journal *j, mida__journal_stats *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&j->lock);
  out->records = j->retired_records;
  out->dropped = j->retired_dropped +
                 atomic_load_explicit(&j->unjournaled, memory_order_relaxed);
  out->corrupt = j->retired_corrupt;
  out->segments = j->segments_opened;
  out->made = mida__journal_segments_made(j);
  out->spool_full = j->space_failures;
  for (segment *s = j->queue_head; s != NULL; s = s->next) {
    seg_header *h = s->hdr;
    out->records += atomic_load_explicit(&h->records, memory_order_relaxed);
    out->dropped += atomic_load_explicit(&h->dropped, memory_order_relaxed);
    out->corrupt += atomic_load_explicit(&h->corrupt, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
    t &= POS_MASK;
    out->backlog += t > head ? t - head : 0;
  }
  pthread_mutex_unlock(&j->lock);
}

void mida__journal_carry_dropped(mida__journal *j, uint64_t dropped) {
  pthread_mutex_lock(&j->lock);
  atomic_fetch_add_explicit(&j->dropped_total, dropped, memory_order_relaxed);
  for (segment *s = j->queue_head; s != NULL; s = s->next)
    atomic_fetch_add_explicit(&s->hdr->dropped_before, dropped,
                              memory_order_relaxed);
  pthread_mutex_unlock(&j->lock);
}

uint64_t mida__journal_dropped_total(const mida__journal *j) {
  return atomic_load_explicit(&j->dropped_total, memory_order_relaxed);
}

uint64_t mida__journal_segments_made(const mida__journal *j) {
  return atomic_load_explicit(&j->segments_made, memory_order_relaxed);
}

const char *mida__journal_host(const mida__journal *j) {
  return j->host;
}

int64_t mida__journal_pid(const mida__journal *j) {
  return j->pid;
}

int64_t mida__journal_start_ns(const mida__journal *j) {
  return j->start_ns;
}

/* ---- the reader's side -------------------------------------------------- */

static ring_view live_view(segment *seg) {
  ring_view rv = {seg->ring, seg->ring_bytes, &seg->hdr->corrupt,
                  &seg->counted_upto, false, 0};
  return rv;
}

size_t mida__journal_peek(mida__journal *j, mida__frame *frames, size_t max,
                          uint64_t *mark) {
  for (;;) {
    segment *seg = j->queue_head;
    if (seg == NULL) { /* no segment yet */
      *mark = 0;
      return 0;
    }
    seg_header *h = seg->hdr;
    uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t end = t & POS_MASK;
    ring_view rv = live_view(seg);
    size_t n = 0;
    uint64_t pos = scan(&rv, head, end, false, frames, max, &n);
    if (n > 0 || max == 0) {
      *mark = pos;
      return n;
    }
    /* Only PAD frames or skipped regions: nothing to hand out, so release
     * them here, and move on if that drained a sealed segment. */
    if (pos != head)
      clear_and_advance(seg->ring, seg->ring_bytes, h, head, pos);
    if ((t & SEALED_BIT) != 0 && pos == end && retire_front(j))
      continue;
    *mark = pos;
    return 0;
  }
}

void mida__journal_release(mida__journal *j, uint64_t mark) {
  mida__journal_release_skipping(j, mark, 0);
}

void mida__journal_release_skipping(mida__journal *j, uint64_t mark,
                                    uint64_t undecodable) {
  segment *seg = j->queue_head;
  if (seg == NULL)
    return;
  seg_header *h = seg->hdr;
  uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
  uint64_t end = t & POS_MASK;
  if (mark <= head || mark > end)
    return;
  /* Before the head moves: a segment drained here is retired at once,
   * and its count goes into the journal's (retire_front). */
  atomic_fetch_add_explicit(&h->corrupt, undecodable, memory_order_relaxed);
  if ((t & SEALED_BIT) != 0) {
    drop_and_advance(seg->ring, seg->ring_bytes, h, head, mark);
    if (mark == end)
      retire_front(j);
    return;
  }
  clear_and_advance(seg->ring, seg->ring_bytes, h, head, mark);
}

/* A live segment's mapping: its header page and its ring. */
static size_t seg_map_bytes(const segment *seg) {
  return (size_t)(MIDA_JOURNAL_HEADER_BYTES + seg->ring_bytes);
}

void mida__journal_close(mida__journal *j) {
  if (j == NULL)
    return;
  segment *seg = j->queue_head;
  while (seg != NULL) {
    segment *next = seg->next;
    seg_header *h = seg->hdr;
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    if ((t & POS_MASK) == head)
      unlink(seg->path);
    munmap(seg->base, seg_map_bytes(seg));
    if (seg->fd >= 0)
      close(seg->fd);
    mida__free(seg->path);
    mida__free(seg);
    seg = next;
  }
  seg = j->free_list;
  while (seg != NULL) {
    segment *next = seg->next;
    munmap(seg->base, seg_map_bytes(seg));
    mida__free(seg);
    seg = next;
  }
  pthread_mutex_destroy(&j->lock);
  mida__free(j->spool);
  mida__free(j->host);
  mida__free(j->host_safe);
  mida__free(j);
}

size_t mida__journal_fds(mida__journal *j, int *fds, size_t max) {
  size_t n = 0;
  pthread_mutex_lock(&j->lock);
  for (segment *seg = j->queue_head; seg != NULL; seg = seg->next)
    if (seg->fd >= 0 && n < max)
      fds[n++] = seg->fd;
  pthread_mutex_unlock(&j->lock);
  return n;
}

void mida__journal_forget(mida__journal *j) {
  if (j == NULL)
    return;
  /* No lock: this process has one thread, and another thread of the parent
   * may have held the mutex when it forked. */
  for (segment *seg = j->queue_head, *next; seg != NULL; seg = next) {
    next = seg->next;
    munmap(seg->base, seg_map_bytes(seg));
    if (seg->fd >= 0)
      close(seg->fd);
    mida__free(seg->path);
    mida__free(seg);
  }
  for (segment *seg = j->free_list, *next; seg != NULL; seg = next) {
    next = seg->next;
    munmap(seg->base, seg_map_bytes(seg));
    mida__free(seg);
  }
  mida__free(j->spool);
  mida__free(j->host);
  mida__free(j->host_safe);
  mida__free(j);
}

/* ---- orphans --------------------------------------------------------------
 */

/* Whether hdr (read from a file of file_bytes) describes a segment: its
 * magic, version and sizes; its positions may still be damaged. */
static bool header_is_sane(const seg_header *hdr, uint64_t file_bytes) {
  if (memcmp(hdr->magic, SEG_MAGIC, sizeof SEG_MAGIC) != 0 ||
      hdr->version != MIDA_JOURNAL_VERSION ||
      hdr->header_bytes != MIDA_JOURNAL_HEADER_BYTES)
    return false;
  uint64_t ring = hdr->ring_bytes;
  return ring >= MIDA_JOURNAL_MIN_RING && ring <= MAX_RING_BYTES &&
         ring % 4096 == 0 && file_bytes == MIDA_JOURNAL_HEADER_BYTES + ring;
}

/* Whether the head and tail of a sane header can be believed: aligned, in
 * order, at most a ring apart. */
static bool positions_are_sane(const seg_header *hdr) {
  uint64_t head = atomic_load_explicit(&hdr->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&hdr->tail, memory_order_relaxed);
  t &= POS_MASK;
  return head % 8 == 0 && t % 8 == 0 && head < MAX_POSITION && t >= head &&
         t - head <= hdr->ring_bytes;
}

/* Finds the unshipped frames of a segment whose head or tail is damaged,
 * without them: every frame names its own position (its commit word), so a
 * scan of the whole ring finds the valid frames, the last of which ends
 * the window [*start, *end) of at most one ring. Frames already shipped
 * may be in it too (a sealed ring is not cleared): shipping them again
 * changes nothing in the store. An empty window is (0, 0). */
static void salvage_window(const ring_view *rv, uint64_t *start,
                           uint64_t *end) {
  uint64_t lo = UINT64_MAX, hi = 0;
  for (uint64_t off = 0; off + MIDA_FRAME_HEADER_BYTES <= rv->size; off += 8) {
    uint64_t c =
        atomic_load_explicit(commit_word(rv->ring + off), memory_order_relaxed);
    uint64_t p = c ^ MIDA_FRAME_MAGIC;
    uint64_t size;
    mida__frame f;
    if (p % rv->size != off || p >= MAX_POSITION ||
        check_frame(rv, p, p + rv->size, &size, &f) != FRAME_VALID)
      continue;
    lo = p < lo ? p : lo;
    hi = p + size > hi ? p + size : hi;
  }
  if (hi == 0) {
    *start = *end = 0;
    return;
  }
  *end = hi;
  *start = hi - lo > rv->size ? hi - rv->size : lo;
}

/* A release that a reader killed while clearing left unfinished (its end
 * published, the head not yet moved): finished by the reader that now has
 * the segment, since everything before that end was shipped. */
static void finish_release(uint8_t *ring, uint64_t size, seg_header *hdr) {
  uint64_t head = atomic_load_explicit(&hdr->head, memory_order_acquire);
  uint64_t to = atomic_load_explicit(&hdr->releasing, memory_order_acquire);
  uint64_t t =
      atomic_load_explicit(&hdr->tail, memory_order_acquire) & POS_MASK;
  if (to > head && to <= t && to % 8 == 0 && to - head <= size)
    clear_and_advance(ring, size, hdr, head, to);
}

/* Tries to take the reader's lock of an open segment file
 * (READER_LOCK_BYTE), without waiting. Returns 0, or -1 with errno. */
static int reader_lock(int fd) {
  struct flock fl = {.l_type = F_WRLCK,
                     .l_whence = SEEK_SET,
                     .l_start = READER_LOCK_BYTE,
                     .l_len = 1};
  return fcntl(fd, F_OFD_SETLK, &fl);
}

/* As still_named (below), with the file's own stat into *a. */
static bool still_named_stat(int fd, const char *path, struct stat *a) {
  struct stat b;
  return fstat(fd, a) == 0 && stat(path, &b) == 0 && a->st_dev == b.st_dev &&
         a->st_ino == b.st_ino;
}

/* Whether path still names the file open as fd: checked once its locks
 * are held, since a shipper may have renamed it into the pool (and a new
 * journal taken it) between this reader's open and its lock. */
static bool still_named(int fd, const char *path) {
  struct stat a;
  return still_named_stat(fd, path, &a);
}

/* Opens the segment file at path for a reader (*out set to NULL first)
 * and reads its header into *hdr (sane, not yet its positions). Returns
 * the descriptor, or a negative MIDA_E* code with a message in err. */
static int open_segment_file(const char *path, mida__orphan **out,
                             seg_header *hdr, uint64_t *file_bytes, char *err,
                             size_t errlen) {
  if (path == NULL || out == NULL) {
    mida__errbuf_set(err, errlen, "invalid segment reader arguments");
    return MIDA_EINVAL;
  }
  *out = NULL;
  /* Only this user's own files, never through a link: a segment planted
   * by someone else would become records in this user's store. */
  struct stat st;
  int fd = mida__spool_open_segment_stat(path, O_RDWR, &st);
  if (fd < 0 && (errno == EPERM || errno == ELOOP || errno == EINVAL)) {
    mida__errbuf_set(
        err, errlen, "%s is not a journal segment of yours: %s", path,
        errno == EPERM ? "another user owns it" : "not a regular file");
    return MIDA_ECORRUPT;
  }
  if (fd < 0) {
    mida__errbuf_set(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return MIDA_EIO;
  }
  if (!S_ISREG(st.st_mode) ||
      pread(fd, hdr, sizeof *hdr, 0) != (ssize_t)sizeof *hdr ||
      !header_is_sane(hdr, (uint64_t)st.st_size)) {
    mida__errbuf_set(err, errlen, "%s is not a journal segment", path);
    close(fd);
    return MIDA_ECORRUPT;
  }
  *file_bytes = (uint64_t)st.st_size;
  return fd;
}

/* The ring size and the writer's host, pid and start of a reader's
 * segment, from its header. */
static void take_identity(mida__orphan *o, const seg_header *hdr) {
  o->ring_bytes = hdr->ring_bytes;
  memcpy(o->host, hdr->host, HOST_BYTES);
  o->host[HOST_BYTES] = '\0';
  o->pid = (int64_t)hdr->pid;
  o->start_ns = (int64_t)hdr->start_ns;
}

/* An orphan (reader's handle) for the segment file fd, whose header is
 * hdr, mapped whole. Returns MIDA_OK or an error with a message in err;
 * fd is the handle's, or closed on failure. */
static int map_reader(int fd, const seg_header *hdr, uint64_t file_bytes,
                      const char *path, mida__orphan **out, char *err,
                      size_t errlen) {
  size_t map_bytes = (size_t)file_bytes;
  void *base = mmap(NULL, map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    mida__errbuf_set(err, errlen, "cannot map %s: %s", path, strerror(errno));
    close(fd);
    return MIDA_EIO;
  }
  mida__orphan *o = mida__calloc(1, sizeof *o);
  if (o != NULL)
    o->path = mida__strdup(path);
  if (o == NULL || o->path == NULL) {
    mida__errbuf_set(err, errlen, "out of memory opening %s", path);
    if (o != NULL)
      mida__free(o);
    munmap(base, map_bytes);
    close(fd);
    return MIDA_ENOMEM;
  }
  o->fd = fd;
  o->base = base;
  o->map_bytes = map_bytes;
  o->hdr = base;
  o->ring = o->base + MIDA_JOURNAL_HEADER_BYTES;
  take_identity(o, hdr);
  *out = o;
  return MIDA_OK;
}

/* The largest window of unshipped frames that an orphan has read into
 * memory rather than mapped (read_orphan). */
#define COPY_MAX_BYTES (256u * 1024)

/* Whether the orphan whose header (under its locks) is hdr can be read
 * into memory: positions sane, no release left half done, and its
 * unshipped frames one piece of the ring of at most COPY_MAX_BYTES. */
static bool can_copy(const seg_header *hdr) {
  if (!positions_are_sane(hdr))
    return false;
  uint64_t head = atomic_load_explicit(&hdr->head, memory_order_relaxed);
  uint64_t t =
      atomic_load_explicit(&hdr->tail, memory_order_relaxed) & POS_MASK;
  uint64_t to = atomic_load_explicit(&hdr->releasing, memory_order_relaxed);
  uint64_t size = hdr->ring_bytes;
  if (to > head && to <= t && to % 8 == 0 && to - head <= size)
    return false; /* finish_release's to do, on the mapping */
  return t - head <= COPY_MAX_BYTES && head % size + (t - head) <= size;
}

/* The orphan of the segment file fd, locked, whose header hdr passed
 * can_copy: its unshipped frames read (pread) into memory, with room for a
 * frame header of zeros after them (a torn last frame is read no
 * further). A short-lived process's segment holds a few kilobytes of
 * frames: one read, where a mapping of the whole file cost a mmap, its
 * page faults, a munmap and the pages that clearing the ring dirtied. Its
 * releases write the header's head (mida__orphan_release); the ring is
 * not cleared, as no writer will use it again (a file put into the pool
 * is zeroed by its next writer, journal.c). Returns as orphan_locked. */
static int read_orphan(int fd, const seg_header *hdr, const char *path,
                       mida__orphan **out, char *err, size_t errlen) {
  uint64_t head = atomic_load_explicit(&hdr->head, memory_order_relaxed);
  uint64_t t =
      atomic_load_explicit(&hdr->tail, memory_order_relaxed) & POS_MASK;
  size_t len = (size_t)(t - head);
  mida__orphan *o = mida__calloc(1, sizeof *o);
  uint8_t *buf = mida__calloc(1, len + MIDA_FRAME_HEADER_BYTES);
  char *p = mida__strdup(path);
  if (o == NULL || buf == NULL || p == NULL) {
    mida__errbuf_set(err, errlen, "out of memory opening %s", path);
    mida__free(o);
    mida__free(buf);
    mida__free(p);
    close(fd);
    return MIDA_ENOMEM;
  }
  off_t at = (off_t)(MIDA_JOURNAL_HEADER_BYTES + head % hdr->ring_bytes);
  if (len > 0 && pread(fd, buf, len, at) != (ssize_t)len) {
    mida__errbuf_set(err, errlen, "cannot read %s: %s", path,
                     strerror(errno));
    mida__free(o);
    mida__free(buf);
    mida__free(p);
    close(fd);
    return MIDA_EIO;
  }
  memcpy(&o->copy, hdr, sizeof o->copy);
  o->fd = fd;
  o->path = p;
  o->copied = true;
  o->hdr = &o->copy;
  o->ring = buf;
  o->ring_base = head % hdr->ring_bytes;
  take_identity(o, hdr);
  *out = o;
  return MIDA_OK;
}

/* Moves the head of a copied orphan to mark, in its copy and in the
 * file (where a later reader starts, should this one not remove it), and
 * with it the count of the corrupt regions its scans skipped (count_skip
 * counts in the copy): a recovery that fails or is killed after this
 * leaves the count in the file for the next one to send, as a mapped
 * orphan's header keeps it, since the head has passed what it counts.
 * One write, of the header from head to corrupt: sealed and dropped go
 * back as they were read (the writer is gone, and this reader holds both
 * locks). */
static void copied_advance(mida__orphan *o, uint64_t mark) {
  atomic_store_explicit(&o->copy.head, mark, memory_order_relaxed);
  const size_t from = offsetof(seg_header, head);
  const size_t to = offsetof(seg_header, corrupt) + sizeof o->copy.corrupt;
  (void)pwrite(o->fd, (const uint8_t *)&o->copy + from, to - from, (off_t)from);
}

/* The orphan of the segment file fd (header hdr, as first read) whose
 * writer's lock this reader has just taken: takes the reader's lock too,
 * checks the file is still at path and reads its header again, then maps
 * it. Returns as mida__orphan_open; fd is the orphan's, or closed. */
static int orphan_locked(int fd, const char *path, mida__orphan **out,
                         char *err, size_t errlen) {
  /* The one of a reader of live segments, which may still be reading it
   * after its writer ended. */
  if (reader_lock(fd) != 0) {
    int e = errno;
    mida__errbuf_set(err, errlen, "%s is held by another process", path);
    close(fd);
    return e == EWOULDBLOCK || e == EAGAIN || e == EACCES ? MIDA_EBUSY
                                                          : MIDA_EIO;
  }
  struct stat st;
  if (!still_named_stat(fd, path, &st)) {
    mida__errbuf_set(err, errlen, "%s was shipped by another process", path);
    close(fd);
    return MIDA_EBUSY;
  }
  /* Read the header again under the lock: the last holder may have moved
   * the head or removed the file's content since the first look (its size
   * is the one just seen). */
  seg_header hdr;
  if (pread(fd, &hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
      !header_is_sane(&hdr, (uint64_t)st.st_size)) {
    mida__errbuf_set(err, errlen, "%s is not a journal segment", path);
    close(fd);
    return MIDA_ECORRUPT;
  }
  if (can_copy(&hdr))
    return read_orphan(fd, &hdr, path, out, err, errlen);
  mida__orphan *o = NULL;
  int rc = map_reader(fd, &hdr, (uint64_t)st.st_size, path, &o, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  if (!positions_are_sane(o->hdr)) {
    /* Read what is valid without trusting the header, and leave the file
     * as it is: it is quarantined, not removed, once shipped. */
    ring_view rv = {o->ring, o->ring_bytes, &o->hdr->corrupt, &o->counted_upto,
                    true, 0};
    o->salvaged = true;
    salvage_window(&rv, &o->pos, &o->end);
    o->counted_upto = o->pos;
  } else {
    finish_release(o->ring, o->ring_bytes, o->hdr);
  }
  *out = o;
  return MIDA_OK;
}

/* The live segment of the file fd (header hdr of a tailable segment, as
 * first read; file_bytes long), whose writer's lock is held: takes the
 * reader's lock, checks the file and its header again, and maps it.
 * Returns as mida__tail_open; fd is the handle's, or closed. */
static int tail_locked(int fd, seg_header *hdr, uint64_t file_bytes,
                       const char *path, mida__orphan **out, char *err,
                       size_t errlen) {
  int rc = MIDA_EBUSY;
  if (reader_lock(fd) != 0) {
    mida__errbuf_set(err, errlen, "%s is being read by another process", path);
    goto fail;
  }
  /* Under the reader's lock no recovery can move it: its name and header
   * are checked again (the header read above may be another journal's). */
  if (!still_named(fd, path) ||
      pread(fd, hdr, sizeof *hdr, 0) != (ssize_t)sizeof *hdr ||
      !header_is_sane(hdr, file_bytes) ||
      (atomic_load_explicit(&hdr->flags, memory_order_relaxed) &
       SEG_TAILABLE) == 0) {
    mida__errbuf_set(err, errlen, "%s was shipped by another process", path);
    goto fail;
  }
  mida__orphan *o = NULL;
  rc = map_reader(fd, hdr, file_bytes, path, &o, err, errlen);
  if (rc != MIDA_OK)
    return rc;
  if (!positions_are_sane(o->hdr)) {
    /* A live writer's positions are never damaged: leave it to the
     * recovery that comes once it has ended. */
    mida__errbuf_set(err, errlen, "%s has damaged positions", path);
    mida__orphan_close(o, false);
    return MIDA_ECORRUPT;
  }
  o->live = true;
  finish_release(o->ring, o->ring_bytes, o->hdr);
  *out = o;
  return MIDA_OK;

fail:
  close(fd);
  return rc;
}

int mida__orphan_open(const char *path, mida__orphan **out, char *err,
                      size_t errlen) {
  return mida__segment_open(path, false, out, err, errlen);
}

int mida__tail_open(const char *path, mida__orphan **out, char *err,
                    size_t errlen) {
  seg_header hdr;
  uint64_t file_bytes = 0;
  int fd = open_segment_file(path, out, &hdr, &file_bytes, err, errlen);
  if (fd < 0)
    return fd;
  int rc = MIDA_EBUSY;
  if ((atomic_load_explicit(&hdr.flags, memory_order_relaxed) & SEG_TAILABLE) ==
      0) {
    mida__errbuf_set(err, errlen, "%s is read by its own process", path);
    rc = MIDA_EUNSUPPORTED;
    goto fail;
  }
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    /* No writer any more: an orphan, for mida__orphan_open. */
    mida__errbuf_set(err, errlen, "%s has no writer", path);
    rc = MIDA_ENOTFOUND;
    goto fail;
  }
  if (errno != EWOULDBLOCK) {
    mida__errbuf_set(err, errlen, "%s is being read by another process", path);
    goto fail;
  }
  return tail_locked(fd, &hdr, file_bytes, path, out, err, errlen);

fail:
  close(fd);
  return rc;
}

int mida__segment_open(const char *path, bool tail, mida__orphan **out,
                       char *err, size_t errlen) {
  seg_header hdr;
  uint64_t file_bytes = 0;
  int fd = open_segment_file(path, out, &hdr, &file_bytes, err, errlen);
  if (fd < 0)
    return fd;
  if (flock(fd, LOCK_EX | LOCK_NB) == 0)
    return orphan_locked(fd, path, out, err, errlen);
  int e = errno;
  if (e != EWOULDBLOCK && e != EAGAIN && e != EACCES) {
    mida__errbuf_set(err, errlen, "cannot lock %s: %s", path, strerror(e));
    close(fd);
    return MIDA_EIO;
  }
  if (!tail ||
      (atomic_load_explicit(&hdr.flags, memory_order_relaxed) & SEG_TAILABLE) ==
          0) {
    mida__errbuf_set(err, errlen, "%s is held by another process", path);
    close(fd);
    return MIDA_EBUSY;
  }
  /* Nothing reserved past its head when the header was read: nothing to
   * read now (nor a release to finish, which ends at most at the tail),
   * without the reader's lock and a mapping. A header read in a race
   * (the file taken into another journal) says so at worst for one pass. */
  if ((atomic_load_explicit(&hdr.tail, memory_order_relaxed) & POS_MASK) ==
      atomic_load_explicit(&hdr.head, memory_order_relaxed)) {
    mida__errbuf_set(err, errlen, "%s has nothing to read", path);
    close(fd);
    return MIDA_ENOTFOUND;
  }
  /* Whatever keeps a live segment from being read now, it is busy. */
  int rc = tail_locked(fd, &hdr, file_bytes, path, out, err, errlen);
  return rc == MIDA_OK ? MIDA_OK : MIDA_EBUSY;
}

bool mida__orphan_live(const mida__orphan *o) {
  return o->live;
}

size_t mida__orphan_peek(mida__orphan *o, mida__frame *frames, size_t max,
                         uint64_t *mark) {
  seg_header *h = o->hdr;
  if (o->salvaged) {
    ring_view rv = {o->ring, o->ring_bytes, &h->corrupt, &o->counted_upto,
                    true, 0};
    size_t n = 0;
    uint64_t pos = scan(&rv, o->pos, o->end, true, frames, max, &n);
    if (n == 0)
      o->pos = pos;
    *mark = pos;
    return n;
  }
  uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
  t &= POS_MASK;
  /* Trust the stored tail only if it could be right; else read at most one
   * ring's worth, which the commit words' positions keep honest. A live
   * writer's tail is right. */
  bool tail_ok = t >= head && t - head <= o->ring_bytes && t % 8 == 0;
  uint64_t end = tail_ok ? t : head + o->ring_bytes;
  if (o->live && !tail_ok)
    end = head;
  o->end = end;
  /* In a live segment an uncommitted frame is still being written: the
   * scan stops there, as the in-process reader's does. */
  ring_view rv = {o->ring, o->ring_bytes, &h->corrupt, &o->counted_upto,
                  !o->live, o->ring_base};
  size_t n = 0;
  uint64_t pos = scan(&rv, head, end, tail_ok, frames, max, &n);
  if (n == 0 && pos != head && o->copied) {
    copied_advance(o, pos);
  } else if (n == 0 && pos != head) {
    clear_and_advance(o->ring, o->ring_bytes, h, head, pos);
  }
  *mark = pos;
  return n;
}

size_t mida__tail_peek_from(mida__orphan *o, uint64_t from,
                            mida__frame *frames, size_t max, uint64_t *mark) {
  seg_header *h = o->hdr;
  uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
  if (!o->live || o->salvaged || o->copied || from <= head ||
      from - head > o->ring_bytes)
    return mida__orphan_peek(o, frames, max, mark);
  uint64_t t = atomic_load_explicit(&h->tail, memory_order_acquire);
  t &= POS_MASK;
  /* A live writer's tail is right; one that is not is read no further. */
  uint64_t end = t >= from && t - head <= o->ring_bytes && t % 8 == 0 ? t
                                                                       : from;
  o->end = end;
  ring_view rv = {o->ring, o->ring_bytes, &h->corrupt, &o->counted_upto,
                  false, o->ring_base};
  size_t n = 0;
  /* Nothing is cleared or advanced here: what lies between the head and
   * from is not released yet. */
  *mark = scan(&rv, from, end, true, frames, max, &n);
  return n;
}

bool mida__tail_caught_up(const mida__orphan *o, uint64_t mark) {
  return mark >= o->end;
}

void mida__orphan_release(mida__orphan *o, uint64_t mark) {
  mida__orphan_release_skipping(o, mark, 0);
}

void mida__orphan_release_skipping(mida__orphan *o, uint64_t mark,
                                   uint64_t undecodable) {
  seg_header *h = o->hdr;
  if (o->salvaged) {
    if (mark > o->pos && mark <= o->end) {
      o->pos = mark;
      atomic_fetch_add_explicit(&h->corrupt, undecodable,
                                memory_order_relaxed);
    }
    return;
  }
  uint64_t head = atomic_load_explicit(&h->head, memory_order_relaxed);
  if (mark <= head || mark - head > o->ring_bytes)
    return;
  /* Counted with the head's move: in a copy, by the same write
   * (copied_advance); in a mapping, just before it, so that a reader
   * killed between the two counts them again rather than never (as
   * count_skip counts a mapped segment's skipped regions at the peek). */
  atomic_fetch_add_explicit(&h->corrupt, undecodable, memory_order_relaxed);
  if (o->copied)
    copied_advance(o, mark);
  else if (!o->live ||
           (atomic_load_explicit(&h->tail, memory_order_acquire) &
            SEALED_BIT) != 0)
    /* No writer reserves there again (its writer is dead, or moved on to
     * its next segment): the released bytes are left as they are, for a
     * file that is removed, or pooled and zeroed by its next writer
     * (spool_pool.h). Clearing them wrote every page of the ring --
     * each a write fault on the shared mapping and a dirty page for the
     * disk -- for nothing: ~2.3 MB at the end of `mida run -- tar c`. */
    atomic_store_explicit(&h->head, mark, memory_order_release);
  else
    clear_and_advance(o->ring, o->ring_bytes, h, head, mark);
}

const char *mida__orphan_host(const mida__orphan *o) {
  return o->host;
}

int64_t mida__orphan_pid(const mida__orphan *o) {
  return o->pid;
}

int64_t mida__orphan_start_ns(const mida__orphan *o) {
  return o->start_ns;
}

uint64_t mida__orphan_corrupt(const mida__orphan *o) {
  return atomic_load_explicit(&o->hdr->corrupt, memory_order_relaxed);
}

uint64_t mida__orphan_dropped(const mida__orphan *o) {
  return atomic_load_explicit(&o->hdr->dropped, memory_order_relaxed);
}

uint64_t mida__orphan_dropped_total(const mida__orphan *o) {
  return atomic_load_explicit(&o->hdr->dropped_before, memory_order_relaxed) +
         mida__orphan_dropped(o);
}

uint64_t mida__orphan_corrupt_total(const mida__orphan *o) {
  return atomic_load_explicit(&o->hdr->corrupt_before, memory_order_relaxed) +
         mida__orphan_corrupt(o);
}

void mida__orphan_carry_corrupt(mida__orphan *o, uint64_t before) {
  seg_header *h = o->hdr;
  if (before <= atomic_load_explicit(&h->corrupt_before, memory_order_relaxed))
    return;
  atomic_store_explicit(&h->corrupt_before, before, memory_order_relaxed);
  if (o->copied)
    (void)pwrite(o->fd, &o->copy.corrupt_before, sizeof o->copy.corrupt_before,
                 (off_t)offsetof(seg_header, corrupt_before));
}

bool mida__orphan_salvaged(const mida__orphan *o) {
  return o->salvaged;
}

void mida__orphan_close(mida__orphan *o, bool remove) {
  mida__orphan_close_pooled(o, remove, NULL);
}

void mida__orphan_close_pooled(mida__orphan *o, bool remove,
                               mida__pool_cursor *cursor) {
  if (o == NULL)
    return;
  /* Unlinked (or renamed) while still locked, so no other recoverer can
   * open it between the unlock and the unlink and ship it twice. A
   * salvaged segment is kept aside, never removed: what was in its damaged
   * part cannot be told. */
  if (o->live) {
    /* Its writer still has it: nothing is removed. */
  } else if (remove && o->salvaged) {
    char *q = format_alloc("%s%s", o->path, MIDA_QUARANTINE_SUFFIX);
    /* If that fails it stays in place, to be recovered again. */
    if (q != NULL)
      (void)rename(o->path, q);
    mida__free(q);
  } else if (remove && !mida__spool_pool_put_from(o->path, o->fd, cursor)) {
    unlink(o->path);
  }
  if (o->copied)
    mida__free(o->ring);
  else
    munmap(o->base, o->map_bytes);
  close(o->fd);
  mida__free(o->path);
  mida__free(o);
}

/* ---- the spool directory ---------------------------------------------- */

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int mida__segment_name_ids(const char *path, int64_t *pid, int64_t *start_ns,
                           uint64_t *seq) {
  const char *base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  const char *dot = strchr(base, '.');
  if (dot == NULL)
    return -1;
  char *end = NULL;
  long long p = strtoll(dot + 1, &end, 10);
  if (*end != '.')
    return -1;
  long long st = strtoll(end + 1, &end, 10);
  if (*end != '.')
    return -1;
  unsigned long long q = strtoull(end + 1, &end, 10);
  if (strcmp(end, ".mj") != 0)
    return -1;
  *pid = p;
  *start_ns = st;
  *seq = q;
  return 0;
}

static bool is_segment_name(const char *name) {
  size_t n = strlen(name);
  return n > 3 && name[0] != '.' && strcmp(name + n - 3, ".mj") == 0;
}

/* A .tmp segment file younger than this may still be on its way to being
 * locked by a live writer. */
#define SWEEP_MIN_AGE_S 60

/* Removes the .tmp segment file name of spool_dir if its writer is gone
 * (it is unlocked) and it is old enough (SWEEP_MIN_AGE_S). Returns 1 if
 * it did, 0 if not, -1 when out of memory. */
static int sweep_one(const char *spool_dir, const char *name) {
  size_t n = strlen(name);
  if (n < 8 || strcmp(name + n - 7, ".mj.tmp") != 0)
    return 0;
  char *path = format_alloc("%s/%s", spool_dir, name);
  if (path == NULL)
    return -1;
  int removed = 0;
  int fd = mida__spool_open_segment(path, O_RDWR);
  /* Locked: its writer is alive and about to rename it. Young: its
   * writer may not have locked it yet. */
  struct stat st;
  bool young = fd >= 0 && fstat(fd, &st) == 0 &&
               time(NULL) - st.st_mtime < SWEEP_MIN_AGE_S;
  if (fd >= 0 && !young && flock(fd, LOCK_EX | LOCK_NB) == 0) {
    unlink(path);
    removed = 1;
  }
  if (fd >= 0)
    close(fd);
  mida__free(path);
  return removed;
}

int mida__spool_sweep(const char *spool_dir) {
  DIR *d = opendir(spool_dir);
  if (d == NULL)
    return errno == ENOENT ? MIDA_OK : MIDA_EIO;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    int r = sweep_one(spool_dir, e->d_name);
    if (r < 0)
      break;
    removed += r;
  }
  closedir(d);
  return removed;
}

/* mida__spool_list, and with sweep the sweep of mida__spool_sweep made in
 * the same reading of the directory, before fn is called. */
static int list_segments(const char *spool_dir, bool sweep,
                         int (*fn)(void *ctx, const char *path), void *ctx) {
  DIR *d = opendir(spool_dir);
  if (d == NULL)
    return errno == ENOENT ? MIDA_OK : MIDA_EIO;
  int rc = MIDA_OK;
  char **names = NULL;
  size_t count = 0, cap = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (e == NULL) {
      if (errno != 0)
        rc = MIDA_EIO;
      break;
    }
    if (!is_segment_name(e->d_name)) {
      if (sweep)
        (void)sweep_one(spool_dir, e->d_name);
      continue;
    }
    if (count == cap) {
      size_t grown = cap == 0 ? 16 : cap * 2;
      char **bigger = mida__realloc(names, grown * sizeof *names);
      if (bigger == NULL) {
        rc = MIDA_ENOMEM;
        break;
      }
      names = bigger;
      cap = grown;
    }
    names[count] = mida__strdup(e->d_name);
    if (names[count] == NULL) {
      rc = MIDA_ENOMEM;
      break;
    }
    count++;
  }
  closedir(d);
  if (rc == MIDA_OK && count > 0)
    qsort(names, count, sizeof *names, compare_names);
  for (size_t i = 0; i < count && rc == MIDA_OK; i++) {
    char *path = format_alloc("%s/%s", spool_dir, names[i]);
    if (path == NULL) {
      rc = MIDA_ENOMEM;
      break;
    }
    rc = fn(ctx, path);
    mida__free(path);
    if (rc > 0) {
      rc = MIDA_OK; /* fn asked to stop early */
      break;
    }
  }
  for (size_t i = 0; i < count; i++)
    mida__free(names[i]);
  mida__free(names);
  return rc;
}

int mida__spool_list(const char *spool_dir,
                     int (*fn)(void *ctx, const char *path), void *ctx) {
  return list_segments(spool_dir, false, fn, ctx);
}

int mida__spool_sweep_list(const char *spool_dir,
                           int (*fn)(void *ctx, const char *path),
                           void *ctx) {
  return list_segments(spool_dir, true, fn, ctx);
}

/* Adds one segment file's header counters to the sums in ctx. */
static int add_segment_stats(void *ctx, const char *path) {
  mida__spool_stats *st = ctx;
  int fd = mida__spool_open_segment(path, O_RDONLY);
  if (fd < 0)
    return MIDA_OK; /* removed meanwhile (shipped), or not this user's */
  seg_header hdr;
  struct stat sb;
  bool sane = fstat(fd, &sb) == 0 &&
              pread(fd, &hdr, sizeof hdr, 0) == (ssize_t)sizeof hdr &&
              header_is_sane(&hdr, (uint64_t)sb.st_size);
  if (!sane || !positions_are_sane(&hdr))
    st->damaged++;
  if (sane) {
    st->segments++;
    /* A segment whose lock can be had belongs to no live process. */
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
      st->orphans++;
      flock(fd, LOCK_UN);
    }
    uint64_t t = atomic_load_explicit(&hdr.tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&hdr.head, memory_order_relaxed);
    t &= POS_MASK;
    if (t >= head && t - head <= hdr.ring_bytes)
      st->backlog_bytes += t - head;
    st->dropped += atomic_load_explicit(&hdr.dropped, memory_order_relaxed);
    st->corrupt += atomic_load_explicit(&hdr.corrupt, memory_order_relaxed);
  }
  close(fd);
  return MIDA_OK;
}

int mida__spool_segment_stats(const char *spool_dir, mida__spool_stats *out) {
  memset(out, 0, sizeof *out);
  return mida__spool_list(spool_dir, add_segment_stats, out);
}

int mida__spool_stats_get(const char *spool_dir, mida__spool_stats *out) {
  int rc = mida__spool_segment_stats(spool_dir, out);
  if (rc != MIDA_OK)
    return rc;
  rc = spool_bytes(spool_dir, &out->disk_bytes);
  DIR *d = opendir(spool_dir);
  if (d == NULL)
    return rc;
  size_t suffix = strlen(MIDA_QUARANTINE_SUFFIX);
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
    size_t n = strlen(e->d_name);
    if (n > suffix &&
        strcmp(e->d_name + n - suffix, MIDA_QUARANTINE_SUFFIX) == 0)
      out->quarantined++;
  }
  closedir(d);
  return rc;
}

/*
 * pipes.c -- pipes between the processes of a command, as task
 * dependencies.
 *
 * In `sort in | uniq -c`, uniq depends on sort, but neither knows the
 * other: each only holds an end of an anonymous pipe, known by its inode.
 * `mida run` makes a small registry file that every process of the command
 * maps shared: a process that writes into a pipe adds its task to the
 * pipe's slot (before its first write, so a reader never finds the data
 * before the writer), and a process that read from a pipe, when it closes
 * its end or exits, records a dependency on each task in the slot. The
 * registry is lock-free (compare-and-swap on the inode, then on a writer
 * counter, then a ready bit per writer), so a process killed at any point
 * leaves it usable.
 *
 * ---- Registry file format, version 1 ---------------------------------------
 *
 *   offset  size  field
 *        0     8  magic "MIDAPIPE"
 *        8     4  version (1)
 *       12     4  slots (a power of two)
 *       16     8  records dropped by the command's processes whose
 *                  journals could not keep their count (added to
 *                  atomically; `mida run` records the sum as its
 *                  counter run.dropped_records)
 *       24    40  zero
 *       64        slots, 96 bytes each:
 *                   0  8  pipe inode (0: free)
 *                   8  4  writers claimed (may pass 4: the rest are lost)
 *                  12  4  ready bits, one per writer written
 *                  16 64  4 writer task ids
 *                  80 16  zero
 *
 * Integers are in the host's byte order: the file is never shared between
 * hosts.
 */
#include "preload/preload.h"

#include "preload/real.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PIPES_MAGIC "MIDAPIPE"
#define PIPES_VERSION 1
#define PIPES_HEADER 64
#define PIPES_WRITERS 4
#define PIPES_PROBES 64 /* slots tried before giving up */

typedef struct pipes_header {
  char magic[8];
  uint32_t version;
  uint32_t slots;
  _Atomic uint64_t dropped;
  uint8_t zero[40];
} pipes_header;

typedef struct pipes_slot {
  _Atomic uint64_t ino;
  _Atomic uint32_t claimed;
  _Atomic uint32_t ready;
  mida_id_t writer[PIPES_WRITERS];
  uint8_t zero[16];
} pipes_slot;

_Static_assert(sizeof(pipes_header) == PIPES_HEADER, "registry header");
_Static_assert(sizeof(pipes_slot) == 96, "registry slot");

static char registry_path[PATH_MAX];
/* 0 not mapped yet, 1 mapping, 2 mapped, 3 none. */
static _Atomic int registry_state;
static pipes_slot *registry;
static uint32_t registry_slots;

void mida__pl_pipes_init(const char *path) {
  if (path != NULL && path[0] == '/' && strlen(path) < sizeof registry_path)
    memcpy(registry_path, path, strlen(path) + 1);
  else
    registry_path[0] = '\0';
}

static pipes_slot *map_registry(void) {
  int st = atomic_load_explicit(&registry_state, memory_order_acquire);
  if (st == 2)
    return registry;
  if (st == 3 || registry_path[0] == '\0')
    return NULL;
  int expect = 0;
  if (!atomic_compare_exchange_strong(&registry_state, &expect, 1)) {
    while (atomic_load_explicit(&registry_state, memory_order_acquire) == 1)
      ;
    return atomic_load(&registry_state) == 2 ? registry : NULL;
  }
  pipes_slot *slots = NULL;
  int fd = open(registry_path, O_RDWR | O_CLOEXEC);
  struct stat sb;
  if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > PIPES_HEADER) {
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);
    const pipes_header *h = p;
    if (p != MAP_FAILED && memcmp(h->magic, PIPES_MAGIC, 8) == 0 &&
        h->version == PIPES_VERSION && h->slots > 0 &&
        (h->slots & (h->slots - 1)) == 0 &&
        PIPES_HEADER + (uint64_t)h->slots * sizeof(pipes_slot) <=
            (uint64_t)sb.st_size) {
      registry_slots = h->slots;
      slots = (pipes_slot *)((char *)p + PIPES_HEADER);
    } else if (p != MAP_FAILED) {
      munmap(p, (size_t)sb.st_size);
    }
  }
  if (fd >= 0)
    close(fd);
  registry = slots;
  atomic_store_explicit(&registry_state, slots != NULL ? 2 : 3,
                        memory_order_release);
  return slots;
}

bool mida__pl_pipes_add_dropped(uint64_t n) {
  pipes_slot *slots = map_registry();
  if (slots == NULL)
    return false;
  pipes_header *h = (pipes_header *)((char *)slots - PIPES_HEADER);
  atomic_fetch_add_explicit(&h->dropped, n, memory_order_relaxed);
  return true;
}

/* The slot of pipe ino; with claim, a free one is taken for it. */
static pipes_slot *find_slot(uint64_t ino, int claim) {
  pipes_slot *slots = map_registry();
  if (slots == NULL || ino == 0)
    return NULL;
  uint64_t h = ino * UINT64_C(0x9E3779B97F4A7C15);
  for (uint32_t k = 0; k < PIPES_PROBES; k++) {
    pipes_slot *s = &slots[(h + k) & (registry_slots - 1)];
    uint64_t have = atomic_load_explicit(&s->ino, memory_order_acquire);
    if (have == ino)
      return s;
    if (have == 0) {
      if (!claim)
        return NULL;
      uint64_t expect = 0;
      if (atomic_compare_exchange_strong(&s->ino, &expect, ino) ||
          expect == ino)
        return s;
    }
  }
  return NULL;
}

void mida__pl_pipe_announce(uint64_t ino) {
  pipes_slot *s = find_slot(ino, 1);
  if (s == NULL) {
    if (registry_path[0] != '\0')
      mida__pl_count(MIDA_PL_C_PIPES_LOST);
    return;
  }
  uint32_t ready = atomic_load_explicit(&s->ready, memory_order_acquire);
  for (int k = 0; k < PIPES_WRITERS; k++)
    if ((ready & (1u << k)) != 0 &&
        memcmp(s->writer[k].bytes, mida__pl.task.bytes, 16) == 0)
      return; /* already there */
  uint32_t k = atomic_fetch_add_explicit(&s->claimed, 1, memory_order_relaxed);
  if (k >= PIPES_WRITERS) {
    mida__pl_count(MIDA_PL_C_PIPES_LOST);
    return;
  }
  s->writer[k] = mida__pl.task;
  atomic_fetch_or_explicit(&s->ready, 1u << k, memory_order_release);
}

void mida__pl_pipe_read_from(uint64_t ino) {
  pipes_slot *s = find_slot(ino, 0);
  if (s == NULL)
    return;
  uint32_t ready = atomic_load_explicit(&s->ready, memory_order_acquire);
  for (int k = 0; k < PIPES_WRITERS; k++) {
    if ((ready & (1u << k)) == 0 ||
        memcmp(s->writer[k].bytes, mida__pl.task.bytes, 16) == 0)
      continue;
    mida_id_t up = s->writer[k];
    mida__pl_emit_dep(&mida__pl.task, &up);
  }
}

/* The write path's check: the first write into a pipe's write end puts
 * this task in the registry first. */
void mida__pl_pipe_first_write(mida__pl_file *f) {
  uint8_t m = atomic_fetch_and_explicit(
      &f->marks, (uint8_t)~MIDA_PL_UNANNOUNCED, memory_order_relaxed);
  if ((m & MIDA_PL_UNANNOUNCED) != 0)
    mida__pl_pipe_announce(f->pipe_ino);
}

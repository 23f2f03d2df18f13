/*
 * links.c -- the bytes of each link of this process, summed over its opens.
 *
 * A store keeps the largest byte count it was sent for a link (task, data,
 * role), which makes a record applied twice harmless. So that a process
 * that reads the same version of a file three times says three times the
 * bytes, each record carries the running total of its link in this
 * process: a small preallocated table keyed by the link, taken with a
 * compare-and-swap like the file table, and cleared in a child after
 * fork() before its first total (most children exec first, and never do).
 * A full table falls back to the count of one open (counted nowhere: the
 * store then keeps the largest open's count, which is never more than
 * what was done).
 */
#include "preload/preload.h"

#include <sched.h>
#include <string.h>

/* A power of two, large enough that a process that opens 10,000 files
 * (tar of a tree) finds a free slot within a probe or two: a full table
 * makes every lookup walk all PROBES slots. 256 KiB of zero pages, touched
 * only where links land. */
#define LINKS 16384
#define PROBES 32

typedef struct link_total {
  _Atomic uint64_t key; /* hash of the link, 0: free */
  _Atomic uint64_t bytes; /* bytes so far */
} link_total;

static link_total totals[LINKS];

/* 1: a child after fork() whose table still holds its parent's totals,
 * cleared before the child's first total; 2: being cleared; 0: its own.
 * Cleared at the fork itself, the table's 256 KiB were written in every
 * child: 64 page faults in each process a shell or make forks to exec
 * another program at once. */
static _Atomic int parents_totals;

/* Clears the parent's totals if this child still has them; a thread that
 * finds another one clearing them waits for it (once in the child's life,
 * for a clear of 256 KiB), so that no total is taken from a table about
 * to be cleared. The clearing thread is inside a wrapper (mida__pl_busy),
 * so a signal handler that interrupts it never gets here. */
static void own_table(void) {
  int have = atomic_load_explicit(&parents_totals, memory_order_acquire);
  while (have != 0) {
    int expect = 1;
    if (have == 1 &&
        atomic_compare_exchange_strong(&parents_totals, &expect, 2)) {
      for (size_t i = 0; i < LINKS; i++) {
        atomic_store_explicit(&totals[i].key, 0, memory_order_relaxed);
        atomic_store_explicit(&totals[i].bytes, 0, memory_order_relaxed);
      }
      atomic_store_explicit(&parents_totals, 0, memory_order_release);
      return;
    }
    sched_yield();
    have = atomic_load_explicit(&parents_totals, memory_order_acquire);
  }
}

/* A hash of the task's id: FNV-1a's steps over its two 64-bit halves
 * (not its 16 bytes one by one: this is on every close), then the high
 * bits folded down. */
static uint64_t task_hash(const mida_id_t *task) {
  uint64_t w[2];
  memcpy(w, task->bytes, 16);
  uint64_t h = 0xcbf29ce484222325ull;
  h = (h ^ w[0]) * 0x100000001b3ull;
  h = (h ^ w[1]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

/* The key of a link: the hash of the task's, continued over the file
 * version and the role; never 0. */
static uint64_t link_key(uint64_t task_h, const struct stat *st, int role) {
  uint64_t h = task_h;
  uint64_t parts[5] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino,
                       (uint64_t)st->st_mtim.tv_sec,
                       (uint64_t)st->st_mtim.tv_nsec,
                       (uint64_t)st->st_size ^ ((uint64_t)role << 62)};
  for (int k = 0; k < 5; k++)
    h = (h ^ parts[k]) * 0x100000001b3ull;
  return h | 1;
}

/* Where a link's probes start: inodes are taken in groups of 64 numbers,
 * each group on 128 neighbouring slots (two per inode: used, generated)
 * placed by a hash of the group, the task and the device. The files a
 * program goes through one after another -- made together, so numbered
 * together -- then share a few cache lines and pages, where slots picked
 * by the whole key scattered the closes over the table (a cache miss each,
 * and a page fault the first time); groups still spread like hashed keys,
 * so a long run of inodes does not fill the table solid.
 *
 * A taken slot sends the probe to the other slot of the same inode, then
 * to the same two slots of another group's place, *step groups on (odd, by
 * the group's hash): each inode has 256 slots' worth of places, where one
 * slot after another (the slots of the next inodes, taken by the group
 * that took this place) took ~5 probes a close for `tar c` of 10,000 files
 * and ran out of all 32 for one close in ten. */
static uint64_t link_start(uint64_t task_h, const struct stat *st, int role,
                           uint64_t *step) {
  uint64_t ino = (uint64_t)st->st_ino;
  uint64_t group =
      ((ino >> 6) ^ task_h ^ (uint64_t)st->st_dev) * 0x9e3779b97f4a7c15ull;
  *step = (((group >> 16) & 127) | 1) * 128;
  return (group >> 32) * 128 + (ino & 63) * 2 +
         (uint64_t)(role == MIDA_GENERATED);
}

int64_t mida__pl_link_total(const mida_id_t *task, const struct stat *st,
                            int role, uint64_t more) {
  own_table();
  uint64_t task_h = task_hash(task);
  uint64_t key = link_key(task_h, st, role);
  uint64_t step;
  uint64_t start = link_start(task_h, st, role, &step);
  for (uint32_t k = 0; k < PROBES; k++) {
    link_total *t = &totals[(start + (k & 1) + (k >> 1) * step) & (LINKS - 1)];
    /* Claimed by a compare-and-swap at once, not looked at first: a slot
     * still free is the common case, and the first touch of a page is
     * then one write fault, not a read fault (the zero page) and a write
     * fault after it. A failed exchange reads what the slot holds. */
    uint64_t have = 0;
    if (atomic_compare_exchange_strong(&t->key, &have, key))
      have = key;
    if (have == key)
      return (int64_t)(atomic_fetch_add_explicit(&t->bytes, more,
                                                 memory_order_relaxed) +
                       more);
  }
  return (int64_t)more;
}

void mida__pl_links_reset(void) {
  atomic_store_explicit(&parents_totals, 1, memory_order_release);
}

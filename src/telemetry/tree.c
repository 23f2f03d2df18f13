/*
 * tree.c -- the live processes of one process tree, found by listing /proc
 * (see tree.h for how and why).
 *
 * Each tick's list is an array of (pid, slot) sorted by pid; slot says
 * what the pid is: the index of its state in the tree's slots, or one of
 * the SLOT_ values below. The previous tick's array is kept beside it, and
 * the two are swapped after each listing, so nothing is allocated after
 * mida__proc_tree_new().
 */
#include "telemetry/tree.h"

#include "core/alloc.h"
#include "mida.h"
#include "telemetry/proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  SLOT_OTHER = -1,     /* not of the tree (or gone before it was read) */
  SLOT_UNKNOWN = -2,   /* new in this listing, not classified yet */
  SLOT_UNTRACKED = -3, /* of the tree, but every slot was taken */
};

/* How far up a chain of new processes classify() goes: deeper chains, all
 * born within one period, are taken as not the tree's. */
#define CLASSIFY_DEPTH 32

typedef struct entry {
  int32_t pid;  /* a numeric entry of /proc */
  int32_t slot; /* index into slots, or SLOT_* */
} entry;

struct mida__proc_tree {
  int64_t root;         /* the tree's root pid */
  char proc_root[256];  /* the directory listed: /proc or a test's */
  DIR *dir;             /* proc_root, kept open and rewound; or NULL */
  entry *cur, *prev;    /* MIDA_TREE_PIDS_MAX each */
  size_t ncur, nprev;   /* entries in use */
  size_t next_free;     /* where to look for a free slot first */
  int listed;           /* 1 once /proc was listed */
  mida__tree_proc slots[MIDA_TREE_TRACKED_MAX];
};

int mida__proc_tree_new(int64_t root, const char *proc_root,
                        mida__proc_tree **out) {
  *out = NULL;
  mida__proc_tree *t = mida__calloc(1, sizeof *t);
  if (t == NULL)
    return MIDA_ENOMEM;
  t->cur = mida__malloc(MIDA_TREE_PIDS_MAX * sizeof *t->cur);
  t->prev = mida__malloc(MIDA_TREE_PIDS_MAX * sizeof *t->prev);
  if (t->cur == NULL || t->prev == NULL) {
    mida__proc_tree_free(t);
    return MIDA_ENOMEM;
  }
  t->root = root;
  snprintf(t->proc_root, sizeof t->proc_root, "%s", proc_root);
  *out = t;
  return MIDA_OK;
}

void mida__proc_tree_free(mida__proc_tree *t) {
  if (t == NULL)
    return;
  if (t->dir != NULL)
    closedir(t->dir);
  mida__free(t->cur);
  mida__free(t->prev);
  mida__free(t);
}

int64_t mida__proc_tree_root(const mida__proc_tree *t) { return t->root; }

mida__tree_proc *mida__proc_tree_slot(mida__proc_tree *t, size_t i) {
  return &t->slots[i];
}

void mida__proc_tree_drop(mida__proc_tree *t, size_t i) {
  t->slots[i].used = 0;
  /* Its entry keeps the index until the pid leaves /proc: make it
   * another's, so that its children are not taken as the tree's. */
  for (size_t k = 0; k < t->nprev; k++) {
    if (t->prev[k].slot == (int32_t)i) {
      t->prev[k].slot = SLOT_OTHER;
      break;
    }
  }
}

/* The pid a directory entry names, or -1 if it is not all digits. */
static int32_t pid_of(const char *name) {
  int64_t v = 0;
  if (*name == '\0')
    return -1;
  for (const char *p = name; *p != '\0'; p++) {
    if (*p < '0' || *p > '9' || v > INT32_MAX / 10)
      return -1;
    v = v * 10 + (*p - '0');
  }
  return v > 0 && v <= INT32_MAX ? (int32_t)v : -1;
}

static int by_pid(const void *a, const void *b) {
  int32_t x = ((const entry *)a)->pid, y = ((const entry *)b)->pid;
  return (x > y) - (x < y);
}

/* The index of pid in the current list, or -1. */
static ptrdiff_t find(const mida__proc_tree *t, int64_t pid) {
  size_t lo = 0, hi = t->ncur;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->cur[mid].pid < pid)
      lo = mid + 1;
    else if (t->cur[mid].pid > pid)
      hi = mid;
    else
      return (ptrdiff_t)mid;
  }
  return -1;
}

static int is_tree(int32_t slot) {
  return slot >= 0 || slot == SLOT_UNTRACKED;
}

/* A slot for a process of the tree, or SLOT_UNTRACKED when all are taken. */
static int32_t take_slot(mida__proc_tree *t, int64_t pid,
                         uint64_t start_ticks) {
  for (size_t n = 0; n < MIDA_TREE_TRACKED_MAX; n++) {
    size_t i = (t->next_free + n) % MIDA_TREE_TRACKED_MAX;
    if (!t->slots[i].used) {
      t->slots[i] = (mida__tree_proc){
          .pid = pid, .start_ticks = start_ticks, .used = 1};
      t->next_free = (i + 1) % MIDA_TREE_TRACKED_MAX;
      return (int32_t)i;
    }
  }
  return SLOT_UNTRACKED;
}

/* Decides whether the new process at index j is the tree's: the root, or
 * a child of one that is (classified first if it is new too). */
static void classify(mida__proc_tree *t, size_t j, char *buf, size_t cap,
                     int depth) {
  entry *e = &t->cur[j];
  e->slot = SLOT_OTHER; /* until said otherwise; also ends any cycle */
  char rel[32];
  snprintf(rel, sizeof rel, "%d/stat", (int)e->pid);
  size_t len = 0;
  int rc = mida__proc_read(t->proc_root, rel, buf, cap, &len);
  mida__proc_pstat ps;
  if ((rc != MIDA_OK && rc != MIDA_ETOOBIG) ||
      mida__proc_parse_pstat(buf, len, &ps) != MIDA_OK)
    return; /* gone already, or not a process we can read */
  int tree = e->pid == t->root;
  if (!tree && depth < CLASSIFY_DEPTH) {
    ptrdiff_t k = find(t, (int64_t)ps.ppid);
    if (k >= 0 && (size_t)k != j) {
      if (t->cur[k].slot == SLOT_UNKNOWN)
        classify(t, (size_t)k, buf, cap, depth + 1);
      tree = is_tree(t->cur[k].slot);
    }
  }
  if (tree)
    e->slot = take_slot(t, e->pid, ps.start_ticks);
}

int mida__proc_tree_list(mida__proc_tree *t, char *buf, size_t cap,
                         uint64_t *unlisted, uint64_t *untracked) {
  *unlisted = 0;
  *untracked = 0;
  if (t->dir == NULL) {
    t->dir = opendir(t->proc_root);
    if (t->dir == NULL)
      return MIDA_EIO;
  } else {
    rewinddir(t->dir);
  }
  t->ncur = 0;
  int sorted = 1;
  struct dirent *d;
  while ((d = readdir(t->dir)) != NULL) {
    int32_t pid = pid_of(d->d_name);
    if (pid < 0)
      continue;
    if (t->ncur == MIDA_TREE_PIDS_MAX) {
      (*unlisted)++;
      continue;
    }
    if (t->ncur > 0 && t->cur[t->ncur - 1].pid >= pid)
      sorted = 0;
    t->cur[t->ncur++] = (entry){pid, SLOT_UNKNOWN};
  }
  /* /proc lists pids in ascending order; a test's directory need not. */
  if (!sorted) {
    qsort(t->cur, t->ncur, sizeof *t->cur, by_pid);
    size_t w = 0;
    for (size_t r = 0; r < t->ncur; r++)
      if (w == 0 || t->cur[w - 1].pid != t->cur[r].pid)
        t->cur[w++] = t->cur[r];
    t->ncur = w;
  }
  /* What both lists hold keeps its class; what left frees its slot. */
  size_t i = 0, j = 0;
  while (i < t->nprev || j < t->ncur) {
    if (j == t->ncur || (i < t->nprev && t->prev[i].pid < t->cur[j].pid)) {
      if (t->prev[i].slot >= 0)
        t->slots[t->prev[i].slot].used = 0;
      i++;
    } else if (i == t->nprev || t->cur[j].pid < t->prev[i].pid) {
      j++;
    } else {
      t->cur[j++].slot = t->prev[i++].slot;
    }
  }
  for (j = 0; j < t->ncur; j++) {
    /* The first listing: pids are handed out in increasing order, so a
     * lower pid than the root's is a process that was there before it
     * (unless the pids wrapped around in the moment since the root
     * started). Reading only the others' stat keeps the first tick about
     * as cheap as the next ones. */
    if (!t->listed && t->cur[j].pid < t->root)
      t->cur[j].slot = SLOT_OTHER;
    if (t->cur[j].slot == SLOT_UNKNOWN)
      classify(t, j, buf, cap, 0);
    if (t->cur[j].slot == SLOT_UNTRACKED)
      (*untracked)++;
  }
  entry *swap = t->prev;
  t->prev = t->cur;
  t->cur = swap;
  t->nprev = t->ncur;
  t->ncur = 0;
  t->listed = 1;
  return MIDA_OK;
}

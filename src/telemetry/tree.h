/*
 * tree.h -- the live processes of one process tree (a root and its
 * descendants), found by listing /proc; private to src/telemetry/.
 *
 * The sampler of `mida run` samples the command's processes, not its own
 * (sampler.c, mida__telemetry_sample_tree). Which processes those are is
 * asked of /proc at each tick: this kernel may have no
 * /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN), and the journals of
 * the command's processes say nothing of a command run without the
 * preload library (--no-files). So each tick lists /proc's numeric
 * entries (one directory, kept open and rewound) and compares them with
 * the previous tick's list, both sorted by pid: a pid in both is the same
 * process, already classified; only a new pid's PID/stat is read, once,
 * for its parent -- it belongs to the tree if it is the root or its parent
 * does. A process stays in the tree once it was seen there, also after its
 * parent exits and it is reparented (a daemon the command left behind),
 * until it is gone from /proc. The first listing reads the stat of the
 * pids above the root's only (pids are handed out in increasing order:
 * the lower ones were there before it), the later ones the new pids'
 * only; so a tick costs about one listing of /proc (~50 us for 100
 * processes on the development VM) and a stat read per process born since
 * the last.
 *
 * A process that starts and reparents between two ticks (a double fork
 * within a period) is not seen as the tree's, nor is one of the first
 * moments whose pid came after the pids wrapped around (below the
 * root's); a pid reused between two ticks is caught by its start time
 * when it is sampled.
 *
 * Bounds, each allocated once: MIDA_TREE_PIDS_MAX entries of /proc per
 * tick (more are not looked at: counted as telemetry.tree_unlisted) and
 * MIDA_TREE_TRACKED_MAX processes of the tree with their own state (the
 * previous CPU reading, for cpu_pct); beyond that a process of the tree is
 * still known as one, so that its children are, but not sampled (counted
 * by the sampler as telemetry.tree_skipped).
 *
 * Not thread-safe: used by the sampler thread alone.
 */
#ifndef MIDA_TELEMETRY_TREE_H
#define MIDA_TELEMETRY_TREE_H

#include <stddef.h>
#include <stdint.h>

#define MIDA_TREE_PIDS_MAX 32768 /* /proc entries looked at per tick */
#define MIDA_TREE_TRACKED_MAX 1024 /* tree processes with a state */

/* Where the CPU time of a process was last read, for its cpu_pct. */
typedef struct mida__cpu_mark {
  uint64_t ticks; /* utime + stime then, clock ticks */
  int64_t ns;     /* when, monotonic ns */
  int have;       /* 1 once set */
} mida__cpu_mark;

/* A process of the tree that has a state. */
typedef struct mida__tree_proc {
  int64_t pid;          /* its pid */
  uint64_t start_ticks; /* its start (stat field 22), to tell a reused pid */
  mida__cpu_mark cpu;   /* its previous CPU reading */
  int used;             /* 1 while this slot holds a live process */
} mida__tree_proc;

typedef struct mida__proc_tree mida__proc_tree;

/* A tree rooted at pid root, listed from the directory proc_root ("/proc",
 * or a test's). Returns MIDA_OK and *out (free with mida__proc_tree_free),
 * or MIDA_ENOMEM. */
int mida__proc_tree_new(int64_t root, const char *proc_root,
                        mida__proc_tree **out);

void mida__proc_tree_free(mida__proc_tree *t);

/* The pid the tree is rooted at. */
int64_t mida__proc_tree_root(const mida__proc_tree *t);

/* Lists proc_root again and classifies the new pids, reading their stat
 * through buf (cap bytes). *unlisted receives the /proc entries not looked
 * at for MIDA_TREE_PIDS_MAX, *untracked the tree's processes without a
 * slot for MIDA_TREE_TRACKED_MAX. Returns MIDA_OK, or MIDA_EIO when
 * proc_root cannot be read (the tree is then as it was). */
int mida__proc_tree_list(mida__proc_tree *t, char *buf, size_t cap,
                         uint64_t *unlisted, uint64_t *untracked);

/* The tree's slots, MIDA_TREE_TRACKED_MAX of them; those with used set
 * are its live processes as of the last listing. */
mida__tree_proc *mida__proc_tree_slot(mida__proc_tree *t, size_t i);

/* Forgets the process of a used slot: its pid was reused by a process
 * outside the tree (sampler.c saw another start time). */
void mida__proc_tree_drop(mida__proc_tree *t, size_t i);

#endif /* MIDA_TELEMETRY_TREE_H */

/*
 * seam.c -- the workflow-level task of the calling thread (item 3 of
 * issue 14; the contract is core/thread_task.h).
 *
 * Each copy of libmida in the process calls mida_preload_attach() once,
 * when its first session opens, with a function that reads that copy's
 * per-thread stack of open tasks. When a file is opened, the preload
 * library asks each attached copy in turn; the first that has a task open
 * on this thread names the task the file also belongs to. A process
 * without libmida pays one load of a zero count per open.
 */
#include "preload/preload.h"

#include "core/thread_task.h"

static _Atomic(mida__thread_task_fn) attached[MIDA_PL_WF_TASKS];
_Atomic int mida__pl_seams; /* the attached functions' count */

MIDA_PL_EXPORT void mida_preload_attach(int version,
                                        mida__thread_task_fn current);

void mida_preload_attach(int version, mida__thread_task_fn current) {
  if (version != MIDA_PRELOAD_SEAM_VERSION || current == NULL)
    return;
  int n = atomic_load(&mida__pl_seams);
  for (int i = 0; i < n && i < MIDA_PL_WF_TASKS; i++)
    if (atomic_load(&attached[i]) == current)
      return;
  int slot = atomic_fetch_add(&mida__pl_seams, 1);
  if (slot < MIDA_PL_WF_TASKS)
    atomic_store(&attached[slot], current);
}

int mida__pl_thread_task_asked(mida_id_t *out) {
  int n = atomic_load_explicit(&mida__pl_seams, memory_order_acquire);
  if (n > MIDA_PL_WF_TASKS)
    n = MIDA_PL_WF_TASKS;
  for (int i = 0; i < n; i++) {
    mida__thread_task_fn fn =
        atomic_load_explicit(&attached[i], memory_order_acquire);
    if (fn != NULL && fn(out))
      return 1;
  }
  return 0;
}

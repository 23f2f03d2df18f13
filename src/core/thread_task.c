/*
 * thread_task.c -- the tasks a thread has open, and the seam that shows
 * them to the `mida run` preload library (see thread_task.h).
 */
#include "core/thread_task.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

/* The tasks open on this thread, oldest first. */
static _Thread_local struct {
  int n;                                 /* entries in use */
  mida_id_t task[MIDA_THREAD_TASK_DEPTH]; /* the open tasks */
} tls_open;

void mida__thread_task_push(const mida_id_t *task) {
  if (tls_open.n == MIDA_THREAD_TASK_DEPTH) {
    /* Begun and never ended here: the oldest is the likeliest abandoned. */
    memmove(&tls_open.task[0], &tls_open.task[1],
            (MIDA_THREAD_TASK_DEPTH - 1) * sizeof(mida_id_t));
    tls_open.n--;
  }
  tls_open.task[tls_open.n++] = *task;
}

void mida__thread_task_pop(const mida_id_t *task) {
  for (int i = tls_open.n - 1; i >= 0; i--) {
    if (memcmp(tls_open.task[i].bytes, task->bytes, 16) == 0) {
      memmove(&tls_open.task[i], &tls_open.task[i + 1],
              (size_t)(tls_open.n - i - 1) * sizeof(mida_id_t));
      tls_open.n--;
      return;
    }
  }
}

int mida__thread_task_current(mida_id_t *out) {
  if (tls_open.n == 0)
    return 0;
  *out = tls_open.task[tls_open.n - 1];
  return 1;
}

static pthread_once_t announce_once = PTHREAD_ONCE_INIT;

static void announce(void) {
  void *sym = dlsym(RTLD_DEFAULT, MIDA_PRELOAD_ATTACH_SYMBOL);
  if (sym == NULL)
    return; /* not under `mida run`: nothing to tell */
  mida__preload_attach_fn attach;
  memcpy(&attach, &sym, sizeof attach); /* object to function pointer */
  attach(MIDA_PRELOAD_SEAM_VERSION, mida__thread_task_current);
}

void mida__thread_task_announce(void) {
  pthread_once(&announce_once, announce);
}

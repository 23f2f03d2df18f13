/*
 * thread_task.c -- the tasks a thread has open, and the seam that shows
 * them to the `mida run` preload library (see thread_task.h).
 */
#include "core/thread_task.h"

#include "core/tls_addr.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

/* The tasks open on this thread, oldest first. */
typedef struct open_tasks {
  int n;                                  /* entries in use */
  mida_id_t task[MIDA_THREAD_TASK_DEPTH]; /* the open tasks */
} open_tasks;
static _Thread_local open_tasks tls_open;

/* This thread's open tasks, their address found once (core/tls_addr.h). */
MIDA_TLS_ACCESSOR(thread_open, open_tasks, tls_open)

void mida__thread_task_push(const mida_id_t *task) {
  open_tasks *o = thread_open();
  if (o->n == MIDA_THREAD_TASK_DEPTH) {
    /* Begun and never ended here: the oldest is the likeliest abandoned. */
    memmove(&o->task[0], &o->task[1],
            (MIDA_THREAD_TASK_DEPTH - 1) * sizeof(mida_id_t));
    o->n--;
  }
  o->task[o->n++] = *task;
}

void mida__thread_task_pop(const mida_id_t *task) {
  open_tasks *o = thread_open();
  for (int i = o->n - 1; i >= 0; i--) {
    if (memcmp(o->task[i].bytes, task->bytes, 16) == 0) {
      memmove(&o->task[i], &o->task[i + 1],
              (size_t)(o->n - i - 1) * sizeof(mida_id_t));
      o->n--;
      return;
    }
  }
}

int mida__thread_task_current(mida_id_t *out) {
  open_tasks *o = thread_open();
  if (o->n == 0)
    return 0;
  *out = o->task[o->n - 1];
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

/*
 * sqlite_checkpoint.c -- a thread that copies the WAL back into the
 * database while the writer goes on (see sqlite_checkpoint.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pthread_setname_np */
#endif

#include "sink/sqlite_checkpoint.h"

#include "core/alloc.h"
#include "core/env.h"
#include "sink/sink.h"
#include "sink/sqlite_fork.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Frames (pages) appended to the WAL between two wakes of the thread:
 * 1 MiB. Small enough that the close finds little left, large enough that
 * a checkpoint's two syncs are paid once per thousands of records. */
#define CKPT_STEP_FRAMES 256

/* Frames in the WAL past which the thread is woken after every commit:
 * 4 MiB. SQLite starts a WAL over from its beginning only at a write
 * transaction that begins with every frame copied back (and no reader in
 * it). Woken every CKPT_STEP_FRAMES, the thread had mostly left what came
 * after its last wake uncopied when the writer began again, so a long
 * session's WAL grew until the writer's own checkpoint at
 * MIDA_SQLITE_CKPT_FALLBACK_FRAMES: 34-35 MB for a `mida run` of a program
 * writing 30,000 files in 10 s, whose removal at the close took 23-38 ms
 * on ext4 with online discard. Woken after each commit, it catches up
 * whenever the writer pauses (the collector's passes are milliseconds
 * apart), and the next transaction starts the WAL over: the file stays
 * near this size (6-14 MB in that run, under a reader running queries
 * back to back). Its checkpoints then come closer, but each syncs only
 * when it has frames to copy. What one transaction writes is beyond it:
 * a collector's group of most of the 10,000 file records of a `tar c`
 * into a store of 60 earlier such runs is ~10,500 frames (43 MB). */
#define CKPT_RESTART_FRAMES 1024

struct mida__sqlite_ckpt {
  char *path;    /* the database, for the second connection */
  char *vfs;     /* its VFS's name, or NULL */
  pid_t owner;   /* the process that may have the thread */
  int frames;    /* WAL frames after the writer's last commit */
  int woken_at;  /* frames when the thread was last woken */
  int committed; /* the writer has committed once */
  int failed;    /* the thread could not be made: no more tries */
  int started;   /* the thread runs (writer's thread only) */
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  int pending;  /* under lock: a checkpoint is asked */
  int stopping; /* under lock: the thread is to end */
  sqlite3 *db;  /* the thread's connection */
};

/* The writer's WAL hook, after each commit, on its thread: notes the
 * WAL's length and, past the fallback, checkpoints as SQLite's automatic
 * checkpoint would have (the hook replaced it). */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames) {
  mida__sqlite_ckpt *c = arg;
  c->frames = frames;
  if (frames >= MIDA_SQLITE_CKPT_FALLBACK_FRAMES)
    (void)sqlite3_wal_checkpoint(db, name);
  return SQLITE_OK;
}

static atomic_int allowed; /* mida__sqlite_ckpt_allow was called */

void mida__sqlite_ckpt_allow(void) {
  atomic_store(&allowed, 1);
}

mida__sqlite_ckpt *mida__sqlite_ckpt_watch(sqlite3 *writer, const char *path,
                                           const char *vfs) {
  if (!atomic_load(&allowed))
    return NULL;
  mida__sqlite_ckpt *c = mida__calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->path = mida__strdup(path);
  c->vfs = vfs != NULL ? mida__strdup(vfs) : NULL;
  if (c->path == NULL || (vfs != NULL && c->vfs == NULL)) {
    mida__free(c->path);
    mida__free(c->vfs);
    mida__free(c);
    return NULL;
  }
  c->owner = getpid();
  sqlite3_wal_hook(writer, wal_hook, c);
  return c;
}

static void *checkpoint_main(void *arg) {
  pthread_setname_np(pthread_self(), "mida-checkpoint");
  mida__env_own_thread(); /* the environment as mida_open read it */
  mida__sqlite_ckpt *c = arg;
  pthread_mutex_lock(&c->lock);
  for (;;) {
    while (!c->pending && !c->stopping)
      pthread_cond_wait(&c->wake, &c->lock);
    if (c->stopping)
      break;
    c->pending = 0;
    pthread_mutex_unlock(&c->lock);
    /* PASSIVE: copies what no reader still needs, waits for no one, and
     * leaves the WAL for the writer to start over when it is all copied.
     * What it could not copy (SQLITE_BUSY: another process checkpoints)
     * the next wake or the close copies. Counted as a backend call: a
     * fork meanwhile waits for it. */
    int log = 0, copied = 0;
    mida__sink_backend_enter();
    (void)sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE,
                                    &log, &copied);
    mida__sink_backend_leave();
    pthread_mutex_lock(&c->lock);
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

/* The second connection and the thread; 0, or -1 (c->failed set). */
static int start(mida__sqlite_ckpt *c) {
  if (mida__sqlite_conn_before_open() != 0)
    goto fail;
  if (sqlite3_open_v2(c->path, &c->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW,
                      c->vfs) != SQLITE_OK)
    goto fail;
  mida__sqlite_conn_opened(c->db);
  /* A read makes the connection take up the WAL (and finds that it is a
   * database at all); query_only, as it is never to write. */
  if (sqlite3_exec(c->db,
                   "PRAGMA query_only = 1; "
                   "SELECT 1 FROM sqlite_schema LIMIT 1",
                   NULL, NULL, NULL) != SQLITE_OK)
    goto fail;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->wake, NULL);
  /* The program's signals go to its own threads, never to this one. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&c->thread, NULL, checkpoint_main, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (err == 0) {
    c->started = 1;
    return 0;
  }
  pthread_cond_destroy(&c->wake);
  pthread_mutex_destroy(&c->lock);
fail:
  mida__sqlite_conn_closing(c->db);
  sqlite3_close(c->db);
  c->db = NULL;
  c->failed = 1;
  return -1;
}

void mida__sqlite_ckpt_after_commit(mida__sqlite_ckpt *c) {
  if (c == NULL || c->failed)
    return;
  if (!c->committed) {
    /* The WAL as this session found it (other writers' frames): the step
     * counts from here, so that a process that writes a record or two
     * never makes the thread. */
    c->committed = 1;
    c->woken_at = c->frames;
    return;
  }
  if (c->frames < c->woken_at)
    c->woken_at = 0; /* the WAL started over */
  int step = c->frames >= CKPT_RESTART_FRAMES ? 1 : CKPT_STEP_FRAMES;
  if (c->frames - c->woken_at < step)
    return;
  if (!c->started && start(c) != 0)
    return;
  c->woken_at = c->frames;
  pthread_mutex_lock(&c->lock);
  c->pending = 1;
  pthread_cond_signal(&c->wake);
  pthread_mutex_unlock(&c->lock);
}

void mida__sqlite_ckpt_stop(mida__sqlite_ckpt *c, sqlite3 *writer) {
  if (c == NULL)
    return;
  if (c->owner != getpid()) {
    /* A child of fork(): the thread stayed in the parent, whose state
     * (and its connection's) this copy must not touch. */
    return;
  }
  if (writer != NULL)
    sqlite3_wal_hook(writer, NULL, NULL);
  if (c->started) {
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
  }
  mida__sqlite_conn_closing(c->db);
  sqlite3_close(c->db);
  mida__free(c->path);
  mida__free(c->vfs);
  mida__free(c);
}

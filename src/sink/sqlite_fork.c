/*
 * sqlite_fork.c -- the list of this process's SQLite connections, and the
 * close of those a fork() child inherited (sqlite_fork.h says why).
 */
#include "sink/sqlite_fork.h"

#include "core/alloc.h"

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 **conns; /* the connections open, all opened by owner */
static size_t nconns, cap;
static pid_t owner; /* the process that opened them, 0: none yet */
static int tainted; /* one inherited inside a write transaction is open */

/* Closes an inherited connection in the child, touching nothing of the
 * parent's files: no checkpoint (and so no removal of the WAL) at the
 * close, its statements finalized so that the close is not deferred. */
static void close_inherited(sqlite3 *db) {
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
  sqlite3_stmt *st;
  while ((st = sqlite3_next_stmt(db, NULL)) != NULL)
    sqlite3_finalize(st);
  sqlite3_close(db);
}

int mida__sqlite_conn_before_open(void) {
  pthread_mutex_lock(&lock);
  pid_t self = getpid();
  if (owner != 0 && owner != self) {
    size_t kept = 0;
    for (size_t i = 0; i < nconns; i++) {
      if (sqlite3_txn_state(conns[i], NULL) == SQLITE_TXN_WRITE)
        conns[kept++] = conns[i]; /* never closed, never used */
      else
        close_inherited(conns[i]);
    }
    nconns = kept;
    tainted = kept > 0;
  }
  owner = self;
  int rc = tainted ? -1 : 0;
  pthread_mutex_unlock(&lock);
  return rc;
}

void mida__sqlite_conn_opened(sqlite3 *db) {
  pthread_mutex_lock(&lock);
  if (nconns == cap) {
    size_t more = cap == 0 ? 8 : cap * 2;
    sqlite3 **grown = mida__realloc(conns, more * sizeof *grown);
    if (grown != NULL) {
      conns = grown;
      cap = more;
    }
  }
  /* Out of memory: unlisted, as before this list existed. */
  if (nconns < cap)
    conns[nconns++] = db;
  pthread_mutex_unlock(&lock);
}

void mida__sqlite_conn_closing(sqlite3 *db) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < nconns; i++)
    if (conns[i] == db) {
      conns[i] = conns[--nconns];
      break;
    }
  pthread_mutex_unlock(&lock);
}

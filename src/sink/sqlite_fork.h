/*
 * sqlite_fork.h -- the SQLite connections a fork() child inherits are
 * closed, without a checkpoint, before the child opens one of its own
 * (sqlite_fork.c).
 *
 * SQLite keeps, in each process, which locks its connections hold on each
 * file (os_unix.c's list of inodes). A child of fork() inherits that
 * bookkeeping but not the POSIX locks it stands for. A connection that the
 * child opens to the same store then believes that the inherited ones
 * hold the database's SHARED lock and the shared memory's "dead man
 * switch" for the process, and takes neither. A process that closes its
 * last connection meanwhile -- the parent at its exit -- finds no one else
 * on the store: it checkpoints and deletes the WAL under the child, whose
 * later commits go into a deleted file. Their records were released from
 * the child's journal as shipped: lost, silently (a Python child that
 * recorded 300 tasks while its parent exited kept 61 of them).
 *
 * So every connection mida opens is listed with the process that opened
 * it, and before any open a process that is not that one (a fork child)
 * closes the listed ones: no checkpoint at that close (the WAL is the
 * parent's), their statements finalized. The child holds none of the
 * parent's locks, so releasing them releases nothing of the parent's, and
 * SQLite's bookkeeping is empty again: the child's own connection takes
 * its locks for real. One exception: a connection that was inside a write
 * transaction at the fork (a recovery's group, between two batches) is
 * not closed, since its rollback would clean the parent's uncommitted
 * frames out of the shared WAL index; the child then opens no connection
 * at all (MIDA_EBUSY), and its records wait in its journal, for recovery
 * once it has ended. What held the inherited connections (a session's
 * sink) is never used in the child: a session does not survive fork.
 * Calls are made inside the sink's counted backend calls (sink.c), which
 * a fork waits for, so the list's lock is never inherited held.
 */
#ifndef MIDA_SINK_SQLITE_FORK_H
#define MIDA_SINK_SQLITE_FORK_H

#include <sqlite3.h>

/* Before a connection is opened: in a fork child, closes those inherited
 * from the parent (above). Returns 0, or -1 if one could not be closed:
 * then this process must open none. */
int mida__sqlite_conn_before_open(void);

/* A connection opened (listed), and one about to be closed (unlisted). */
void mida__sqlite_conn_opened(sqlite3 *db);
void mida__sqlite_conn_closing(sqlite3 *db);

#endif /* MIDA_SINK_SQLITE_FORK_H */

/*
 * sqlite_wal_writes.h -- the shim VFS that gathers a store connection's
 * WAL writes (internal to src/sink/sqlite*.c).
 *
 * SQLite writes each WAL frame with two system calls, its 24-byte header
 * and then its page, so that a commit of 800 pages (`mida run` of `tar c`
 * over 10,000 files) is 1,600 pwrite(2)s: on a VM where a system call
 * costs microseconds, ~26 ms of the commit that `mida run` waits for once
 * the command has ended. This shim ("mida-wal", the VFS behind sqlite_temp.h's)
 * gathers consecutive WAL writes in a buffer of MIDA_WAL_GATHER_BYTES
 * (30 frames of 4 KiB pages) and writes
 * them with one pwrite(2) each time it fills.
 *
 * What SQLite may assume of a write stays true when it matters:
 * - A commit fails if its frames cannot be written. The write of a commit
 *   frame's page (its header's database size is not zero), the last of
 *   the transaction, writes out everything gathered before it returns,
 *   and returns the error, as an unbuffered write would have.
 * - No one reads a frame that is not in the file. The connection's own
 *   reads, syncs, truncations and size queries of the WAL write out what
 *   is gathered first; and so do its database file's shared-memory calls
 *   (lock, barrier, map, unmap), which come before any other connection
 *   can learn of new frames (the WAL index's header is published after a
 *   barrier) and before this one lets go of the write lock (so a
 *   transaction rolled back after spilling pages never writes them after
 *   another writer has taken the WAL over). Should such a late write fail,
 *   where SQLite's call has no error to return (the barrier), the WAL file
 *   fails every call after it.
 * - A fork child never writes its parent's gathered bytes: bytes are held
 *   only inside a write transaction (its commit, or the release of its
 *   lock, writes them out), and a child leaves such a connection alone,
 *   unclosed and unused (sqlite_fork.h).
 * Nothing is synced that was not, and nothing waits longer for the disk:
 * gathering only replaces many writes into the page cache by fewer.
 */
#ifndef MIDA_SINK_SQLITE_WAL_WRITES_H
#define MIDA_SINK_SQLITE_WAL_WRITES_H

#include <sqlite3.h>

/* Bytes of WAL a connection gathers before it writes them: under 128 KiB,
 * the most the default VFS writes at once (its seekAndWriteFd masks a
 * write's length with 0x1ffff). */
#define MIDA_WAL_GATHER_BYTES (124 * 1024)

/* The shim VFS, registered (not as the default) on first use, in front of
 * the default VFS; NULL if it could not be. Thread-safe. */
sqlite3_vfs *mida__sqlite_wal_writes_vfs(void);

#endif /* MIDA_SINK_SQLITE_WAL_WRITES_H */

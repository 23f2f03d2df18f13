/*
 * run_after.h -- the detached `mida recover` that takes over a store when
 * `mida run` ends (run_after.c).
 *
 * Two ends of `mida run` leave work to it:
 * - `--detach-ship` (run_preload.h): everything the command and mida run
 *   left in their journals, which it ships;
 * - the default end into a local SQLite store (run.c, "settle"): every
 *   record is committed before mida run returns, and the recover
 *   (`--settle`) ships nothing; what it does is its close's, the store's
 *   copy-back: the WAL copied into the database file, both synced, the
 *   WAL removed. mida run's own close leaves that undone
 *   (mida__sink_leave_wal).
 *
 * The process waits for mida run to be gone before it runs (`mida
 * recover --after-fd`: the end of a pipe that mida run holds, which also
 * carries mida run's pid, then mida run's exit), so that the journals
 * left are orphans it may ship and its connection is the store's last
 * (which removes the WAL). It holds the spool's shipping
 * lock (src/capture/ship_lock.h) from before mida run returns until it
 * ends: mida's readers of the store wait for it, and a script or a bench
 * can wait for the lock before it removes the store.
 */
#ifndef MIDA_CLI_RUN_AFTER_H
#define MIDA_CLI_RUN_AFTER_H

/* Starts that process for the spool dir (absolute; "" or NULL: the
 * store's own spool, as mida_open finds it) and store: `mida recover`,
 * or with settle `mida recover --settle`, which ships nothing and only
 * makes the copy-back. Call it once no other thread of the caller starts
 * processes (the descriptors it hands the child are briefly inheritable).
 * Returns MIDA_OK, MIDA_ENOMEM, MIDA_ETOOBIG or MIDA_EIO (no process
 * started). */
int mida__run_recover_after(const char *spool, const char *store, int settle);

#endif /* MIDA_CLI_RUN_AFTER_H */

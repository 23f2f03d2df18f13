/*
 * ship_lock.h -- read-your-writes for a store whose last records are
 * still on their way: the lock by which its readers wait for the detached
 * shippers of `mida run` (ship_lock.c).
 *
 * `mida run` returns when its command ends and leaves the shipping of what
 * is left in the spool to a detached `mida recover` (src/cli/run.c). So
 * that a query made right after `mida run` returned sees the command's
 * records, the spool holds one lock file, MIDA_SHIP_LOCK_NAME. Every
 * detached shipper holds a shared flock(2) on it from before `mida run`
 * returns until its shipping is done (it is released when the process
 * ends, however it ends); a reader, before it opens the store, waits
 * until it could take the lock exclusively, i.e. until no shipper holds
 * it, and gives up after a bound. `mida run` holds it too while the
 * records it made before its command started are on their way, so that
 * the command's own queries find them. Shippers share the lock, so that runs
 * of the same store never wait for one another; a reader only tries the
 * exclusive lock (LOCK_NB, polled) and never queues on it, so that it
 * cannot hold up a shipper that is starting. A store without a spool, or
 * a spool without the file, has nothing pending.
 */
#ifndef MIDA_CAPTURE_SHIP_LOCK_H
#define MIDA_CAPTURE_SHIP_LOCK_H

#include <stddef.h>

#define MIDA_SHIP_LOCK_NAME "shipping.lock" /* in the spool directory */
#define MIDA_SHIP_WAIT_MS 5000 /* a reader's default bound, in ms */

/* Opens (making it if missing, mode 0600) the lock file of the spool dir
 * and takes a shared lock on it for a shipper, which keeps the descriptor
 * open (close-on-exec: clear FD_CLOEXEC in a child that execs the
 * shipper) as long as it ships. Returns the descriptor (>= 0), or
 * MIDA_EIO (errno set) or MIDA_ETOOBIG. */
int mida__ship_lock_hold(const char *spool);

/* As mida__ship_lock_hold, for the spool of the store at store_url
 * ($MIDA_SPOOL, else the store's default): for a process that ships into
 * the store while others may read it (`mida run` before its command). */
int mida__ship_lock_hold_store(const char *store_url);

/* Waits until no shipper holds the lock of the spool dir, for at most
 * timeout_ms. Returns MIDA_OK (none pending, or no lock file), or
 * MIDA_ETIMEDOUT (one still ships). Thread-safe. */
int mida__ship_lock_wait(const char *spool, int timeout_ms);

/* A reader's wait for the store at store_url: its spool is $MIDA_SPOOL,
 * else the store's default (core/config.h), and its bound
 * $MIDA_SHIP_WAIT_MS, else MIDA_SHIP_WAIT_MS. On MIDA_ETIMEDOUT note (of
 * cap bytes, if not NULL) receives a sentence for the user that says the
 * answer may lack the last records; it is "" otherwise. Returns MIDA_OK
 * or MIDA_ETIMEDOUT. Thread-safe. */
int mida__ship_wait_store(const char *store_url, char *note, size_t cap);

#endif /* MIDA_CAPTURE_SHIP_LOCK_H */

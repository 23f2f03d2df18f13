/*
 * sqlite_checkpoint.h -- the WAL copied back into the database while the
 * writer goes on (internal to src/sink/sqlite.c).
 *
 * In WAL mode every commit appends pages to the WAL, and a checkpoint
 * copies them back into the database file. SQLite's own checkpoints run on
 * the writer's thread, inside the commit that passes a threshold, and at
 * the close of the last connection -- where it copies the whole WAL and
 * syncs both files. A `mida run` of `tar c` over 10,000 files waited
 * ~15-20 ms for that close (880 pages of WAL on this VM) after the
 * command had ended; a program's exit waits the same way.
 *
 * So a writer whose WAL grows hands the copying to a thread of its own
 * ("mida-checkpoint") with a second connection to the same file: every
 * CKPT_STEP_FRAMES frames appended, a PASSIVE checkpoint there copies what
 * the writer has committed, concurrently with the writer's next
 * transactions (WAL mode lets a checkpoint and a writer run together; a
 * PASSIVE one waits for no one, readers included). The close then copies
 * only the frames of the last moments. Past 4 MiB of WAL the thread is
 * woken after every commit, so that it has copied everything when the
 * writer pauses and the writer's next transaction starts the WAL over
 * (sqlite_checkpoint.c, CKPT_RESTART_FRAMES). The thread and its
 * connection are made once the session's own commits have appended a
 * step's frames, so a session that writes little never has them. Its
 * calls into SQLite are counted as backend calls (the fork guard,
 * sink.h), like the writer's.
 *
 * Only in a process of mida's own (mida run, ingest, recover:
 * mida__sink_own_process), never inside someone else's program, where the
 * store's shipper runs beside the program's threads: there a checkpoint in
 * flight holds up the program's fork() (the fork guard, sink.c, waits for
 * it -- forks of a Python program writing tasks as fast as it could took
 * 10-13 ms at the 90th percentile with the thread, 2-6 ms without), and
 * costs its CPU (~0.2 % of a Dask run's), for an exit a few milliseconds
 * sooner. There SQLite's own checkpoints go on as before.
 *
 * It also stands in for SQLite's automatic checkpoint, whose hook it
 * replaces (SQLite has one WAL hook a connection): when the WAL still
 * reaches MIDA_SQLITE_CKPT_FALLBACK_FRAMES (the thread could not be made,
 * or cannot keep up), the writer checkpoints as SQLite's would have.
 */
#ifndef MIDA_SINK_SQLITE_CHECKPOINT_H
#define MIDA_SINK_SQLITE_CHECKPOINT_H

#include <sqlite3.h>

/* The writer's own checkpoint, as SQLite's automatic one at this many
 * frames (32 MiB of 4 KiB pages rather than SQLite's 1000: ingest
 * rewrites the same right-most B-tree pages batch after batch, and a
 * longer interval copies each of them back once instead of several times,
 * about 5% more tasks/s in bench_sink_apply when the writer did all
 * checkpoints). */
#define MIDA_SQLITE_CKPT_FALLBACK_FRAMES 8192

typedef struct mida__sqlite_ckpt mida__sqlite_ckpt;

/* Lets the writers of this process hand their checkpoints to a thread
 * (above: a process of mida's own). Thread-safe; cannot be undone. */
void mida__sqlite_ckpt_allow(void);

/* Starts watching writer's WAL (its WAL hook). path and vfs (NULL: the
 * default) name the database for the second connection, opened when
 * needed. Returns NULL when the process does not allow the thread
 * (mida__sqlite_ckpt_allow) or memory is short: SQLite's own automatic
 * checkpoint is then left in place. */
mida__sqlite_ckpt *mida__sqlite_ckpt_watch(sqlite3 *writer, const char *path,
                                           const char *vfs);

/* After each of the writer's commits, on its thread: wakes the
 * checkpointing thread, making it the first time, once CKPT_STEP_FRAMES
 * frames were appended since it was last woken (or since the session's
 * first commit). */
void mida__sqlite_ckpt_after_commit(mida__sqlite_ckpt *c);

/* Before the writer's connection closes (its close then checkpoints what
 * is left, and removes the WAL: it must be the last connection): stops
 * the thread, closes its connection, removes the hook, frees c. In a
 * child of fork(), where the thread does not exist, only forgets it.
 * NULL is a no-op. */
void mida__sqlite_ckpt_stop(mida__sqlite_ckpt *c, sqlite3 *writer);

#endif /* MIDA_SINK_SQLITE_CHECKPOINT_H */

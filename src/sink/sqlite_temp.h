/*
 * sqlite_temp.h -- the bound on a query's temporary space in the SQLite
 * store (internal to src/sink/sqlite*.c; the query guard, guard.h).
 *
 * A sort or a materialised subquery larger than the page cache spills
 * into temporary files, and SQLite bounds them by nothing but the disk: a
 * sorting query over a cross join filled 731 MB in 15 s. SQLite has no
 * per-connection bound on them, so the store's connections use a shim VFS
 * ("mida-temp") in front of the default one. It hands the main database,
 * its WAL and shared memory to the default VFS untouched, and wraps the
 * temporary files (sorter runs, temporary databases, statement journals)
 * that a connection opens while one of its queries runs: their bytes are
 * counted against the sink's budget, and a write past it fails with
 * SQLITE_FULL, which ends the statement. temp_store stays FILE (a query
 * may not change it), so that what is not in the bounded page cache is in
 * these files; only a batch's own transaction runs under MEMORY, for its
 * small statement journals (sqlite.c, mida__sqlite_set_temp_store).
 *
 * The budget is found through the thread that runs the query (a sink is
 * used by one thread at a time, and SQLite's sorter runs in the calling
 * thread unless PRAGMA threads, which a query may not set, says more).
 */
#ifndef MIDA_SINK_SQLITE_TEMP_H
#define MIDA_SINK_SQLITE_TEMP_H

#include <stdint.h>

/* A connection's temporary space. */
typedef struct mida__sqlite_temp_budget {
  int64_t limit; /* bytes a query's temporary files may hold; 0: no bound */
  int64_t used;  /* bytes the connection's counted temporary files hold */
  int active;    /* a query is running: the limit applies */
  int exceeded;  /* a write was refused since the query began */
} mida__sqlite_temp_budget;

/* The name of the shim VFS to open store connections with, registered on
 * first use; NULL if it could not be registered (then the default VFS is
 * used, unbounded). Thread-safe. */
const char *mida__sqlite_temp_vfs(void);

/* Brackets a query run by the calling thread: temporary files opened in
 * between count against b, and b's limit applies. */
void mida__sqlite_temp_begin(mida__sqlite_temp_budget *b, int64_t limit);
void mida__sqlite_temp_end(mida__sqlite_temp_budget *b);

#endif /* MIDA_SINK_SQLITE_TEMP_H */

/*
 * sqlite_immutable.h -- a reader of an SQLite store that it cannot write
 * beside opens the store as an unchanging file (sqlite_immutable.c).
 *
 * A store is in WAL mode. SQLite reads a WAL-mode file through its -shm
 * file, which it makes beside the store when it is not there: in a
 * directory that the reader cannot write (a store copied to a read-only
 * share, an archive, another user's results, a read-only mount) every
 * reading verb failed with "attempt to write a readonly database" or
 * "unable to open database file". When neither the -wal nor the -shm file
 * is there, no connection has the store open (the last one to close
 * removes both), so the file holds every committed record (unless a
 * rollback -journal is there too, which the usual open reads); such a
 * reader opens it with SQLite's `immutable=1`, which reads the file
 * alone, with no lock and no -shm. A writer could start later -- another
 * user who may write that directory -- and the reader would not see its
 * records: a store that is being written is read where the -shm can be
 * made, as before.
 */
#ifndef MIDA_SINK_SQLITE_IMMUTABLE_H
#define MIDA_SINK_SQLITE_IMMUTABLE_H

/* Whether a reader opens the store at path as an unchanging file (above):
 * if so, the `file:` URI that opens it so, for sqlite3_open_v2 with
 * SQLITE_OPEN_URI, to free with mida__free(); NULL when the store is
 * opened as usual (or there was no memory for the URI). */
char *mida__sqlite_immutable_uri(const char *path);

#endif /* MIDA_SINK_SQLITE_IMMUTABLE_H */

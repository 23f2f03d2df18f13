/*
 * sqlite_close_test.c -- what an SQLite store's writer in a process of
 * mida's own (`mida run`) committed is on the disk once it has closed,
 * also when another connection (a reader) keeps its close from
 * checkpointing (sqlite.c, make_durable_before_close).
 * A VFS of the test's own, made the default before the store's first
 * opening, stands under the store's and notes, for the WAL, whether a
 * write came after its last sync.
 */
#include "sink/sink.h"
#include "sink/sqlite_shim.h"
#include "sink/store_fixture.h"

#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- a VFS that watches the WAL's syncs ---------------------------------- */

static sqlite3_vfs *real_vfs;    /* the default before ours */
static int wal_written_unsynced; /* a WAL write came after its last sync */
static int wal_syncs;            /* syncs of a WAL */

/* The WAL's wrapper: mida__shim_file (sqlite_shim.h), whose forwarding
 * methods it uses but for its writes and syncs. */
static int w_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  wal_written_unsynced = 1;
  return mida__shim_write(f, b, n, o);
}
static int w_sync(sqlite3_file *f, int flags) {
  int rc = mida__shim_sync(f, flags);
  if (rc == SQLITE_OK) {
    wal_written_unsynced = 0;
    wal_syncs++;
  }
  return rc;
}

/* Version 1 methods: SQLite maps no WAL file's memory and asks it for no
 * shared memory (that is the database file's). */
static const sqlite3_io_methods watched_io = {
    .iVersion = 1,
    .xClose = mida__shim_close,
    .xRead = mida__shim_read,
    .xWrite = w_write,
    .xTruncate = mida__shim_truncate,
    .xSync = w_sync,
    .xFileSize = mida__shim_file_size,
    .xLock = mida__shim_lock,
    .xUnlock = mida__shim_unlock,
    .xCheckReservedLock = mida__shim_check_reserved,
    .xFileControl = mida__shim_file_control,
    .xSectorSize = mida__shim_sector_size,
    .xDeviceCharacteristics = mida__shim_device_characteristics,
};

static int w_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags) {
  (void)vfs;
  if (!(flags & SQLITE_OPEN_WAL))
    return real_vfs->xOpen(real_vfs, name, f, flags, out_flags);
  mida__shim_file *w = (mida__shim_file *)f;
  int rc = mida__sqlite_shim_open_real(real_vfs, name, w, sizeof *w, flags,
                                       out_flags);
  if (rc == SQLITE_OK)
    w->base.pMethods = &watched_io;
  return rc;
}

static sqlite3_vfs watching_vfs;

/* Ours becomes the default: the store's own VFSes (sqlite_wal_writes.c,
 * sqlite_temp.c) stand in front of the default they find at their first
 * use. */
static void install_watching_vfs(void) {
  real_vfs = sqlite3_vfs_find(NULL);
  assert_non_null(real_vfs);
  watching_vfs = *real_vfs;
  watching_vfs.zName = "mida-test-watch";
  watching_vfs.szOsFile = (int)sizeof(mida__shim_file) + real_vfs->szOsFile;
  watching_vfs.xOpen = w_open;
  assert_int_equal(sqlite3_vfs_register(&watching_vfs, 1), SQLITE_OK);
}

/* ---- the test ------------------------------------------------------------ */

static void
test_a_writer_closed_beside_a_reader_leaves_its_wal_synced(void **state) {
  fixture *fx = *state;
  install_watching_vfs();
  mida__sink_own_process(); /* as `mida run` is */
  char err[512] = "";
  mida__sink *sink = NULL;
  assert_int_equal(mida__sink_open(fx->path, 0, &sink, err, sizeof err),
                   MIDA_OK);
  /* A reader, as `mida serve` keeps one: open, and past a read (in WAL
   * mode a connection holds its shared lock from then on). */
  sqlite3 *reader = NULL;
  assert_int_equal(
      sqlite3_open_v2(fx->path, &reader, SQLITE_OPEN_READONLY, real_vfs->zName),
      SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(reader, "SELECT count(*) FROM task", NULL, NULL, NULL),
      SQLITE_OK);

  mida__rec r;
  memset(&r, 0, sizeof r);
  r.type = MIDA_REC_TASK;
  r.f[MIDA_F_ID].present = true;
  r.f[MIDA_F_ID].v.id = mida_id_new();
  const mida__origin origin = {"host", 1};
  assert_int_equal(mida__sink_put_batch(sink, &r, 1, &origin), MIDA_OK);
  assert_true(wal_written_unsynced); /* NORMAL: the commit synced nothing */
  mida__sink_close(sink);
  if (wal_written_unsynced)
    fail_msg("the writer closed with its last commit in a WAL no one "
             "synced (%d syncs of it)",
             wal_syncs);
  sqlite3_close(reader);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_a_writer_closed_beside_a_reader_leaves_its_wal_synced, setup,
          teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

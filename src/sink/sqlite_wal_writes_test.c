/*
 * sqlite_wal_writes_test.c -- the store's WAL writes are gathered
 * (sqlite_wal_writes.h): a commit of many pages reaches the WAL file in
 * few writes, every committed frame is in the file for another connection
 * once the commit has returned, and a commit whose writes fail says so
 * and leaves the store as it was.
 * A VFS of the test's own, made the default before the store's first
 * opening, stands under the store's shims and counts the WAL's writes, or
 * fails them on demand.
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

#define TASKS 3000
#define FRAME_BYTES (24 + 4096) /* a WAL frame of a 4 KiB page */

/* ---- a VFS that counts the WAL's writes -------------------------------- */

static sqlite3_vfs counting_vfs;
static long wal_writes;      /* xWrite calls on a WAL */
static long wal_bytes;       /* bytes they wrote */
static int wal_writes_fail;  /* fail them with SQLITE_FULL */

static int c_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
  if (wal_writes_fail)
    return SQLITE_FULL;
  wal_writes++;
  wal_bytes += n;
  return mida__shim_write(f, b, n, o);
}

static const sqlite3_io_methods counted_io = {
    .iVersion = 1,
    .xClose = mida__shim_close,
    .xRead = mida__shim_read,
    .xWrite = c_write,
    .xTruncate = mida__shim_truncate,
    .xSync = mida__shim_sync,
    .xFileSize = mida__shim_file_size,
    .xLock = mida__shim_lock,
    .xUnlock = mida__shim_unlock,
    .xCheckReservedLock = mida__shim_check_reserved,
    .xFileControl = mida__shim_file_control,
    .xSectorSize = mida__shim_sector_size,
    .xDeviceCharacteristics = mida__shim_device_characteristics,
};

static int c_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags) {
  sqlite3_vfs *root = vfs->pAppData;
  if (!(flags & SQLITE_OPEN_WAL))
    return root->xOpen(root, name, f, flags, out_flags);
  mida__shim_file *w = (mida__shim_file *)f;
  int rc =
      mida__sqlite_shim_open_real(root, name, w, sizeof *w, flags, out_flags);
  if (rc == SQLITE_OK)
    w->base.pMethods = &counted_io;
  return rc;
}

/* Ours becomes the default: the store's shims (sqlite_wal_writes.c,
 * sqlite_temp.c) stand in front of the default they find at their first
 * use. */
static int install_counting_vfs(void **state) {
  (void)state;
  sqlite3_vfs *root = sqlite3_vfs_find(NULL);
  if (root == NULL)
    return -1;
  mida__sqlite_shim_init(&counting_vfs, root, "mida-test-count",
                         (int)sizeof(mida__shim_file), c_open);
  return sqlite3_vfs_register(&counting_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------- */

/* Puts n task records in one batch (one commit). */
static int put_tasks(mida__sink *sink, int n) {
  mida__rec *recs = calloc((size_t)n, sizeof *recs);
  assert_non_null(recs);
  for (int i = 0; i < n; i++) {
    recs[i].type = MIDA_REC_TASK;
    recs[i].f[MIDA_F_ID].present = true;
    recs[i].f[MIDA_F_ID].v.id = mida_id_new();
    mida__rec_set_str(&recs[i], MIDA_F_ACTIVITY, "gathered", 8);
  }
  const mida__origin origin = {"host", 1};
  int rc = mida__sink_put_batch(sink, recs, (size_t)n, &origin);
  free(recs);
  return rc;
}

/* The store at path opened, with n tasks put into it. */
static mida__sink *open_with_tasks(const char *path, int n) {
  char err[512] = "";
  mida__sink *sink = NULL;
  assert_int_equal(mida__sink_open(path, 0, &sink, err, sizeof err), MIDA_OK);
  assert_int_equal(put_tasks(sink, n), MIDA_OK);
  return sink;
}

/* The tasks that a connection of the counting VFS alone (none of the
 * store's shims) reads in the store at path. */
static long counted_plainly(const char *path) {
  return tasks_read_plainly(path, counting_vfs.zName);
}

/* ---- the tests ----------------------------------------------------------- */

/* A commit of many pages: SQLite writes each frame's header and page
 * apart (two writes a frame); gathered, the file gets a write for about
 * every 30 frames. Every frame is in the file once the commit returned:
 * another connection, which reads the WAL through its own descriptor,
 * sees every task. */
static void test_a_commit_is_written_in_few_writes(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_with_tasks(fx->path, 10);
  wal_writes = wal_bytes = 0;
  assert_int_equal(put_tasks(sink, TASKS), MIDA_OK);
  long frames = wal_bytes / FRAME_BYTES;
  if (frames < 60)
    fail_msg("the commit wrote %ld frames, too few to tell", frames);
  if (wal_writes * 8 > frames)
    fail_msg("%ld frames in %ld writes: not gathered", frames, wal_writes);
  assert_int_equal(counted_plainly(fx->path), TASKS + 10);
  mida__sink_close(sink);
}

/* A commit whose WAL writes fail (a full disk) fails, and the store is as
 * it was: no frame of it is counted as committed, for this connection or
 * another, and the next commit goes in. */
static void test_a_commit_whose_writes_fail_fails(void **state) {
  fixture *fx = *state;
  mida__sink *sink = open_with_tasks(fx->path, 10);
  wal_writes_fail = 1;
  int rc = put_tasks(sink, TASKS);
  wal_writes_fail = 0;
  assert_int_not_equal(rc, MIDA_OK);
  assert_int_equal(counted_plainly(fx->path), 10);
  mida__sink_close(sink);
  sink = open_with_tasks(fx->path, 5);
  assert_int_equal(counted_plainly(fx->path), 15);
  mida__sink_close(sink);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_a_commit_is_written_in_few_writes,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_a_commit_whose_writes_fail_fails,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, install_counting_vfs, NULL);
}

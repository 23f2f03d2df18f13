/*
 * live_journal_fixture.h -- journals for the unit tests of what reads
 * them (recovery_test.c, shipper_test.c): one opened in a spool, read by
 * its own process or, with handoff, by another as the preload library's
 * are (its segments live and tailable), and records appended to it.
 * Static functions, with cmocka's asserts: included by one test program
 * each, after <cmocka.h>.
 */
#ifndef MIDA_CAPTURE_LIVE_JOURNAL_FIXTURE_H
#define MIDA_CAPTURE_LIVE_JOURNAL_FIXTURE_H

#include "capture/journal.h"
#include "core/record.h"
#include "mida.h"

#include <unistd.h>

/* A journal of this process's in dir, 64 KiB rings, under host; with
 * handoff, one whose reader is another process (mida__tail_open). */
static mida__journal *fixture_journal(const char *dir, const char *host,
                                      int handoff) {
  mida__journal *j = NULL;
  char err[256] = "";
  if (mida__journal_open(dir, 64 * 1024, MIDA_FULL_SPILL, 0, host, getpid(),
                         &j, err, sizeof err) != MIDA_OK)
    fail_msg("journal_open: %s", err);
  if (handoff)
    mida__journal_set_handoff(j);
  return j;
}

/* Appends rec to j. */
static void append_rec(mida__journal *j, const mida__rec *rec) {
  mida__slot slot;
  assert_int_equal(mida__journal_reserve(j, rec->type,
                                         mida__rec_encoded_size(rec), &slot),
                   MIDA_OK);
  mida__rec_encode(rec, slot.payload, slot.len);
  mida__journal_commit(j, &slot);
}

/* Appends n COUNTER records to j. */
static void append_counters(mida__journal *j, int n) {
  for (int i = 0; i < n; i++) {
    mida__rec rec;
    mida__rec_counter(&rec, NULL, 0, "x", i);
    append_rec(j, &rec);
  }
}

#endif /* MIDA_CAPTURE_LIVE_JOURNAL_FIXTURE_H */

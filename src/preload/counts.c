/*
 * counts.c -- the counters of what a process could not record
 * (run.ignored_opens, run.untracked_files, run.dropped_records,
 * run.unobserved_programs, run.pipes_lost; and run.segment_files_made),
 * carried across its execs.
 *
 * A counter is a process's running total: the library emits it at each
 * exec and at the exit (emit.c), and the store keeps the largest value of
 * a counter for each host and pid, so that a record shipped twice, or a
 * total said again, counts once. An exec keeps the pid but starts a new
 * image of the library, with its counters at zero: until 2026-12-07 the
 * store kept the larger of the images' counts rather than their sum (a
 * program that opened 3 ignored files and exec'd one that opened 5 said
 * 5), and what an image counted after its exec's own emit (the drop of
 * the record that says what it became) was lost with it.
 *
 * So the new image starts from the old one's totals, handed over in its
 * environment as the descriptors' byte counts are (MIDA_PRELOAD_FDS):
 *
 *   MIDA_PRELOAD_COUNTS  "PID:ignored,untracked,dropped,unobserved,
 *                        pipes_lost,dropped_kept,segments_made,
 *                        journal_dropped"
 *
 * Every value an image emits is then the total of the process so far,
 * whose largest is the sum over its images: nothing changes in the
 * records, in the store, or for a process that never execs. (Emitting each
 * image's own count instead would need the store to add up what it now
 * keeps the largest of, and to tell a count said twice from two counts.)
 * The snapshot is taken once the exec's records are made (exec.c), so that
 * their drops are in it. An exec that fails frees the environment it made,
 * and the process goes on with the same counters: nothing is counted
 * twice.
 *
 * PID binds the counts to the process that exec'd: read only where
 * MIDA_PRELOAD_TASK says the task goes on in this same process (state.c),
 * and only if PID is this process's, so that a copy of the variable that
 * reached another process unseen (a forked child that execs by a raw
 * system call, a static program's child) is not taken as its own.
 *
 * The drops are handed over as the share the store has or will have
 * through this process's journal: those handed to the pipe registry
 * (emit.c, emit_dropped), which `mida run` adds up itself, are left out,
 * and dropped_kept (the value the journal last took) goes on with them, so
 * that the new image hands the registry only what no journal holds.
 *
 * journal_dropped is the journal's own count (the counter "dropped" that
 * recovery ships from its segments, journal.h): the new image's journal
 * starts from it (mida__journal_carry_dropped), so that the store has
 * the sum over the images there too, not the larger (until 2026-12-07).
 */
#include "preload/preload.h"

#include <stdlib.h>

/* + dropped_kept, segments_made, journal_dropped */
#define CARRIED_VALUES (MIDA_PL_C_COUNT + 3)

void mida__pl_counts_entry(char *buf) {
  uint64_t v[CARRIED_VALUES];
  for (int c = 0; c < MIDA_PL_C_COUNT; c++)
    v[c] = atomic_load_explicit(&mida__pl.counters[c], memory_order_relaxed);
  v[MIDA_PL_C_DROPPED] -= mida__pl.dropped_given;
  v[MIDA_PL_C_COUNT] = mida__pl.dropped_kept;
  v[MIDA_PL_C_COUNT + 1] = mida__pl_segments_made();
  mida__journal *j = mida__pl_journal_if_open();
  /* Without the journal's lock, as mida__pl_segments_made. */
  v[MIDA_PL_C_COUNT + 2] = j != NULL ? mida__journal_dropped_total(j)
                                     : mida__pl.journal_dropped_before;
  /* Nothing counted (a forked child that execs at once, most of them): no
   * variable, which the new program's loader and every getenv would
   * walk past (~2,800 instructions a process, callgrind). */
  uint64_t any = 0;
  for (int i = 0; i < CARRIED_VALUES; i++)
    any |= v[i];
  buf[0] = '\0';
  if (any == 0)
    return;
  char *w = buf, *end = buf + MIDA_PL_COUNTS_BYTES;
  int n = snprintf(w, (size_t)(end - w), "MIDA_PRELOAD_COUNTS=%ld:",
                   (long)mida__pl.pid);
  for (int i = 0; n >= 0 && n < end - w && i < CARRIED_VALUES; i++) {
    w += n;
    n = snprintf(w, (size_t)(end - w), "%s%llu", i > 0 ? "," : "",
                 (unsigned long long)v[i]);
  }
  if (n < 0 || n >= end - w)
    buf[0] = '\0'; /* cannot happen: 8 values of 20 digits fit */
}

void mida__pl_counts_adopt(const char *value) {
  if (value == NULL)
    return;
  char *end;
  long pid = strtol(value, &end, 10);
  if (end == value || *end != ':' || pid != (long)mida__pl.pid)
    return;
  uint64_t v[CARRIED_VALUES];
  for (int i = 0; i < CARRIED_VALUES; i++) {
    const char *at = end + 1;
    if (*at < '0' || *at > '9')
      return;
    v[i] = strtoull(at, &end, 10);
    if (*end != (i + 1 < CARRIED_VALUES ? ',' : '\0'))
      return; /* not what an exec of this library wrote: none taken */
  }
  for (int c = 0; c < MIDA_PL_C_COUNT; c++)
    atomic_store_explicit(&mida__pl.counters[c], v[c], memory_order_relaxed);
  mida__pl.dropped_kept = v[MIDA_PL_C_COUNT];
  mida__pl.dropped_given = 0;
  mida__pl.segments_made_before = v[MIDA_PL_C_COUNT + 1];
  mida__pl.journal_dropped_before = v[MIDA_PL_C_COUNT + 2];
}

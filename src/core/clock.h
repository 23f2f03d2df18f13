/*
 * clock.h -- the monotonic clock, for deadlines, waits and intervals: a
 * store's wait for its other writers, a broker's or a database's timeout,
 * a collector's period, the age of a sample. Never for a time that is
 * stored: records carry the wall clock (record.h).
 *
 * CLOCK_MONOTONIC never goes back and does not jump with the wall clock;
 * on Linux it is read through the vDSO, without a system call. Inline, so
 * that a caller that times something pays no call for it.
 */
#ifndef MIDA_CORE_CLOCK_H
#define MIDA_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The monotonic clock in milliseconds, from an unspecified start. */
static inline int64_t mida__monotonic_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The monotonic clock in nanoseconds, from an unspecified start. */
static inline int64_t mida__monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Sleeps ms milliseconds, or less when a signal handler runs meanwhile
 * (nanosleep's EINTR, whatever SA_RESTART says): a wait that a SIGTERM
 * ends at once. */
static inline void mida__sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#endif /* MIDA_CORE_CLOCK_H */

/*
 * callgrind_marks.c -- callgrind's client requests for a Python benchmark,
 * loaded with ctypes (bench/bench_dask_ir.py): a Python program cannot
 * issue them itself, and without them callgrind counts the imports and
 * the cluster's start, whose instructions move between runs by more than
 * the work being measured. Outside valgrind each call does nothing.
 *
 * Built only where valgrind's headers are (bench/meson.build); never part
 * of libmida.
 */
#include <valgrind/callgrind.h>

#define MARKS_EXPORT __attribute__((visibility("default")))

/* Instruments and counts from here on (run with --instr-atstart=no). */
MARKS_EXPORT void callgrind_marks_start(void) {
  CALLGRIND_START_INSTRUMENTATION;
}

/* Stops instrumenting: what runs after is not counted. */
MARKS_EXPORT void callgrind_marks_stop(void) {
  CALLGRIND_STOP_INSTRUMENTATION;
}

/* Sets every count to zero. */
MARKS_EXPORT void callgrind_marks_zero(void) {
  CALLGRIND_ZERO_STATS;
}

/* Writes the counts since the last dump or zero to a new part of the
 * output file, named by label (a NUL-terminated string, not kept), and
 * sets them to zero. */
MARKS_EXPORT void callgrind_marks_dump(const char *label) {
  CALLGRIND_DUMP_STATS_AT(label);
}

/*
 * run_left.h -- the processes of a `mida run` command still running when
 * the command itself has ended: a child it did not wait for, such as the
 * resource tracker of Python's multiprocessing (every Dask LocalCluster
 * starts one), which ends a few milliseconds after the program it serves.
 * `mida run` waits a moment for them, so that their ends are in the store
 * when it returns instead of their tasks staying RUNNING until the next
 * `mida recover`; a daemon that goes on is left running, and counted.
 */
#ifndef MIDA_CLI_RUN_LEFT_H
#define MIDA_CLI_RUN_LEFT_H

#include "mida.h"

#include <stddef.h>
#include <sys/types.h>

/* How long `mida run` waits for them, at most. */
#define MIDA_RUN_LEFT_WAIT_MS 500

/* The pids of the live processes that hold a journal segment in spool and
 * belong to the run whose workflow is workflow (their environment names
 * it as MIDA_WORKFLOW, which every process of the command inherits), this
 * process excepted, into pids (at most max). Processes of other programs
 * that write to the same spool (another run on the store) are not
 * counted. Returns how many. */
size_t mida__run_left_find(const char *spool, const mida_id_t *workflow,
                           pid_t *pids, size_t max);

/* Waits until none of pids[0..n) is alive (a zombie is not) or timeout_ms
 * has passed; returns how many are still alive. */
size_t mida__run_left_wait(const pid_t *pids, size_t n, int timeout_ms);

#endif /* MIDA_CLI_RUN_LEFT_H */

/*
 * rusage.h -- a process's resource use (struct rusage, from getrusage or
 * wait4) as the JSON object a task's `telemetry` column holds, with the
 * keys of a task summary (src/telemetry/telemetry.h) where they mean the
 * same. Used by `mida run` for its command (wait4) and by the preload
 * library for each process it observes (getrusage at the exit), so both
 * write the same keys.
 */
#ifndef MIDA_CORE_RUSAGE_H
#define MIDA_CORE_RUSAGE_H

#include <stddef.h>

struct rusage;

/* Room for the longest object mida__rusage_json writes. */
#define MIDA_RUSAGE_JSON_MAX 512

/* Writes ru as a JSON object into buf (cap >= MIDA_RUSAGE_JSON_MAX):
 *   cpu_process_ns     user + system CPU time
 *   cpu_user_ns, cpu_system_ns  the two parts
 *   maxrss_kb          the peak resident set (of the largest process, for
 *                      wait4's sum over a child and what it waited for)
 *   ctx_voluntary, ctx_involuntary  context switches
 *   in_blocks, out_blocks  512-byte blocks read from / queued to storage
 *   read_bytes, write_bytes  the same in bytes
 *   minflt, majflt     page faults without and with storage I/O
 * Returns its length, or 0 (buf "") if cap is too small. No allocation. */
size_t mida__rusage_json(const struct rusage *ru, char *buf, size_t cap);

#endif

/*
 * pid.h -- whether a process of this host has ended: the recovery's
 * question before it marks a dead journal's tasks LOST
 * (src/capture/recovery.c), and `mida run`'s while it waits for the
 * command's processes that outlive it (src/cli/run_left.c).
 */
#ifndef MIDA_CORE_PID_H
#define MIDA_CORE_PID_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether pid is no process of this host, or one that has ended and
 * awaits its reaping (a zombie: an orphan whose reaper is slow, as a
 * container's init may be). A process that cannot be told (another
 * user's, its /proc entry unreadable) is not gone. */
bool mida__process_gone(pid_t pid);

#endif /* MIDA_CORE_PID_H */

/*
 * pid.c -- whether a process of this host has ended (see pid.h).
 */
#include "core/pid.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

bool mida__process_gone(pid_t pid) {
  if (kill(pid, 0) != 0)
    return errno == ESRCH;
  char path[48], buf[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return false;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  /* "pid (comm) S ...": the state follows the comm's last ')'. */
  const char *close = strrchr(buf, ')');
  return close != NULL && close[1] == ' ' &&
         (close[2] == 'Z' || close[2] == 'X');
}

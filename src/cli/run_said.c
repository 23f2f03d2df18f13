/*
 * run_said.c -- the store's trouble said once a run (see run_said.h).
 */
#include "cli/run_said.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char said[512]; /* the message said last, "" if none */

bool mida__run_said_first(const char *why) {
  if (why == NULL || why[0] == '\0')
    return true;
  pthread_mutex_lock(&lock);
  bool first = strncmp(said, why, sizeof said - 1) != 0;
  if (first)
    snprintf(said, sizeof said, "%s", why);
  pthread_mutex_unlock(&lock);
  return first;
}

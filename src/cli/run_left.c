/*
 * run_left.c -- the command's processes that outlive it (see run_left.h):
 * found from the journal segments of the spool (a segment's name carries
 * its writer's pid), told apart from other programs' by the workflow id in
 * their environment, and awaited by polling, as they are not this
 * process's children.
 */
#include "cli/run_left.h"

#include "capture/journal.h"
#include "core/alloc.h"
#include "core/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 2
#define ENVIRON_MAX (1u << 20) /* bytes of an environment read, at most */

/* The writer's pid in a segment's path ".../HOST.PID.START.SEQ.mj" (the
 * host may hold dots: read from the end), or 0. */
static pid_t segment_pid(const char *path) {
  const char *base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  size_t n = strlen(base);
  if (n < 4 || strcmp(base + n - 3, ".mj") != 0)
    return 0;
  const char *end = base + n - 3; /* the '.' of ".mj" */
  for (int field = 0; field < 3; field++) { /* SEQ, START, then PID */
    const char *dot = end - 1;
    while (dot > base && *dot != '.')
      dot--;
    if (dot <= base)
      return 0;
    if (field == 2) {
      char *stop;
      long pid = strtol(dot + 1, &stop, 10);
      return stop == end && pid > 0 ? (pid_t)pid : 0;
    }
    end = dot;
  }
  return 0;
}

/* Whether pid is a process that has not ended (a zombie has). */
static int alive(pid_t pid) {
  if (kill(pid, 0) != 0 && errno == ESRCH)
    return 0;
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno != ENOENT;
  ssize_t got = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (got <= 0)
    return 0;
  buf[got] = '\0';
  const char *paren = strrchr(buf, ')'); /* the name may hold ')' */
  return paren == NULL || paren[1] == '\0' || paren[2] != 'Z';
}

/* Whether pid's environment holds the NUL-terminated entry want. */
static int environment_has(pid_t pid, const char *want) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  char *env = mida__malloc(ENVIRON_MAX + 1);
  size_t len = 0;
  ssize_t got = 0;
  while (env != NULL && len < ENVIRON_MAX &&
         ((got = read(fd, env + len, ENVIRON_MAX - len)) > 0 ||
          (got < 0 && errno == EINTR)))
    len += got > 0 ? (size_t)got : 0;
  close(fd);
  int found = 0;
  size_t want_len = strlen(want) + 1; /* with its NUL */
  for (size_t at = 0; env != NULL && at < len && !found;) {
    size_t entry = strnlen(env + at, len - at);
    found = entry + 1 == want_len && memcmp(env + at, want, entry) == 0;
    at += entry + 1;
  }
  mida__free(env);
  return found;
}

typedef struct finding {
  const char *entry; /* "MIDA_WORKFLOW=<id>" */
  pid_t self;
  pid_t *pids;
  size_t n, max;
} finding;

static int consider(void *ctx, const char *path) {
  finding *f = ctx;
  pid_t pid = segment_pid(path);
  if (pid == 0 || pid == f->self || f->n == f->max)
    return 0;
  for (size_t i = 0; i < f->n; i++)
    if (f->pids[i] == pid)
      return 0; /* a second segment of one process */
  if (alive(pid) && environment_has(pid, f->entry))
    f->pids[f->n++] = pid;
  return 0;
}

size_t mida__run_left_find(const char *spool, const mida_id_t *workflow,
                           pid_t *pids, size_t max) {
  char id[MIDA_ID_STRLEN], entry[sizeof "MIDA_WORKFLOW=" + MIDA_ID_STRLEN];
  snprintf(entry, sizeof entry, "MIDA_WORKFLOW=%s",
           mida_id_format(workflow, id));
  finding f = {entry, getpid(), pids, 0, max};
  (void)mida__spool_list(spool, consider, &f);
  return f.n;
}

size_t mida__run_left_wait(const pid_t *pids, size_t n, int timeout_ms) {
  int64_t until = mida__monotonic_ms() + timeout_ms;
  for (;;) {
    size_t running = 0;
    for (size_t i = 0; i < n; i++)
      running += (size_t)alive(pids[i]);
    if (running == 0 || mida__monotonic_ms() >= until)
      return running;
    struct timespec pause = {0, POLL_MS * 1000000L};
    nanosleep(&pause, NULL);
  }
}

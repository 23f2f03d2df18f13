/*
 * run_left.c -- the command's processes that outlive it (see run_left.h):
 * found from the journal segments of the spool (a segment's name carries
 * its writer's pid: mida__segment_name_ids), told apart from other
 * programs' by the workflow id in their environment, and awaited by
 * polling (mida__process_gone), as they are not this process's children.
 */
#include "cli/run_left.h"

#include "capture/journal.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/pid.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 2
#define ENVIRON_MAX (1u << 20) /* bytes of an environment read, at most */

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
  int64_t id, start;
  uint64_t seq;
  if (mida__segment_name_ids(path, &id, &start, &seq) != 0 || id <= 0)
    return 0;
  pid_t pid = (pid_t)id;
  if (pid == f->self || f->n == f->max)
    return 0;
  for (size_t i = 0; i < f->n; i++)
    if (f->pids[i] == pid)
      return 0; /* a second segment of one process */
  if (!mida__process_gone(pid) && environment_has(pid, f->entry))
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
      running += (size_t)!mida__process_gone(pids[i]);
    if (running == 0 || mida__monotonic_ms() >= until)
      return running;
    struct timespec pause = {0, POLL_MS * 1000000L};
    nanosleep(&pause, NULL);
  }
}

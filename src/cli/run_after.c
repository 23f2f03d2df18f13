/*
 * run_after.c -- the detached `mida recover` that takes over a store when
 * `mida run` ends (see run_after.h).
 */
#include "cli/run_after.h"

#include "capture/ship_lock.h"
#include "cli/cli.h"
#include "core/config.h"
#include "mida.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <unistd.h>

/* Moves *fd above the standard streams, which the child's are made
 * from (a process started with one of them closed gets it from open or
 * pipe). 0 or -1. */
static int above_stdio(int *fd) {
  if (*fd > 2)
    return 0;
  int moved = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
  if (moved < 0)
    return -1;
  close(*fd);
  *fd = moved;
  return 0;
}

/* Starts path with args and env in a session of its own, its standard
 * streams on /dev/null, keeping the descriptors lock and wait (this
 * process's stay open). posix_spawn, which glibc makes with
 * clone(CLONE_VM | CLONE_VFORK): a fork would copy the page tables of
 * this process, whose threads go on writing its last records meanwhile,
 * each page written then copied. MIDA_OK or MIDA_EIO. */
static int spawn_detached(const char *path, char *const *args,
                          char *const *env, int lock, int wait) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  if (posix_spawn_file_actions_init(&fa) != 0)
    return MIDA_EIO;
  if (posix_spawnattr_init(&attr) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return MIDA_EIO;
  }
  int ok =
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDWR, 0) == 0 &&
      posix_spawn_file_actions_adddup2(&fa, 0, 1) == 0 &&
      posix_spawn_file_actions_adddup2(&fa, 0, 2) == 0 &&
      posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID) == 0;
  /* Both kept across the exec: their close-on-exec flags cleared here,
   * where no other thread starts a process any more (run.c). */
  if (ok)
    ok = fcntl(lock, F_SETFD, 0) == 0 && fcntl(wait, F_SETFD, 0) == 0;
  pid_t pid;
  if (ok)
    ok = posix_spawn(&pid, path, &fa, &attr, args, env) == 0;
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return ok ? MIDA_OK : MIDA_EIO;
}

int mida__run_recover_after(const char *spool, const char *store,
                            int settle) {
  char spool_buf[PATH_MAX];
  if (spool == NULL || spool[0] == '\0') {
    if (mida__spool_in_force(store, spool_buf, sizeof spool_buf) != MIDA_OK)
      return MIDA_ETOOBIG;
    spool = spool_buf;
  }
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return MIDA_EIO;
  self[n] = '\0';
  /* Without the library and its variables: it must not observe itself.
   * The store goes by the environment, never by argv (a URL may hold a
   * password). */
  static const char *const drop[] = {"LD_PRELOAD=", "MIDA_PRELOAD_", NULL};
  static const char *const name[] = {"MIDA_STORE="};
  const char *value[] = {store};
  char **env = mida__cli_child_env(NULL, drop, name, value, 1);
  if (env == NULL)
    return MIDA_ENOMEM;
  /* Held from now until the recover is done: the store's readers wait. */
  int lock = mida__ship_lock_hold(spool);
  if (lock < 0) {
    mida__cli_child_env_free(env);
    return lock;
  }
  /* The recover waits for this process to be gone: the pipe's write
   * end, kept here, closes with it, and this process's pid, written into
   * the pipe, names whose exit to wait for then (recover.c). */
  int gone[2];
  if (pipe2(gone, O_CLOEXEC) != 0) {
    close(lock);
    mida__cli_child_env_free(env);
    return MIDA_EIO;
  }
  if (above_stdio(&lock) != 0 || above_stdio(&gone[0]) != 0) {
    close(lock);
    close(gone[0]);
    close(gone[1]);
    mida__cli_child_env_free(env);
    return MIDA_EIO;
  }
  char fd_text[16];
  snprintf(fd_text, sizeof fd_text, "%d", gone[0]);
  char *args[] = {self, "recover", "--spool", (char *)spool, "--after-fd",
                  fd_text, settle ? "--settle" : NULL, NULL};
  int rc = spawn_detached(self, args, env, lock, gone[0]);
  close(gone[0]);
  close(lock); /* the child's copy holds it */
  if (rc == MIDA_OK) {
    /* A few bytes, which the pipe holds whatever the reader does; if they
     * cannot be written, the recover waits for the pipe's end alone. */
    char pid_text[24];
    int len = snprintf(pid_text, sizeof pid_text, "%ld", (long)getpid());
    ssize_t written = write(gone[1], pid_text, (size_t)len);
    (void)written;
  } else {
    close(gone[1]);
  }
  /* gone[1] stays open (close-on-exec) until this process ends. */
  mida__cli_child_env_free(env);
  return rc;
}

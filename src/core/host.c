/*
 * host.c -- cached host and user names for records' defaults.
 *
 * Each is looked up on its first use, apart: the preload library (inside
 * any program) asks only for the host name, and must never reach the
 * user-name lookup, which without $USER goes through NSS (a socket to
 * nscd, /etc/passwd, perhaps a module dlopen'ed) in every process.
 */
#include "core/host.h"

#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char hostname[256];
static char username[256];
static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static pthread_once_t user_once = PTHREAD_ONCE_INIT;

static void copy_name(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = '\0';
}

static void load_hostname(void) {
  if (gethostname(hostname, sizeof hostname - 1) != 0)
    copy_name(hostname, sizeof hostname, "localhost");
  hostname[sizeof hostname - 1] = '\0';
}

static void load_username(void) {
  const char *user = getenv("USER");
  if (user != NULL && user[0] != '\0') {
    copy_name(username, sizeof username, user);
    return;
  }
  struct passwd pw, *found = NULL;
  char scratch[1024];
  if (getpwuid_r(getuid(), &pw, scratch, sizeof scratch, &found) == 0 &&
      found != NULL)
    copy_name(username, sizeof username, found->pw_name);
}

const char *mida__hostname(void) {
  pthread_once(&host_once, load_hostname);
  return hostname;
}

const char *mida__username(void) {
  pthread_once(&user_once, load_username);
  return username;
}

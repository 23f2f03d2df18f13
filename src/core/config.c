/*
 * config.c -- the store and spool defaults, and the reading of sizes
 * (config.h).
 */
#include "core/config.h"

#include "core/alloc.h"
#include "core/url.h"
#include "mida.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *mida__default_store(void) {
  const char *env = getenv("MIDA_STORE");
  return (env != NULL && env[0] != '\0') ? env : MIDA_DEFAULT_STORE;
}

int mida__default_spool(const char *store_url, char *buf, size_t buflen) {
  char path[4096];
  int n;
  int rc = mida__url_sqlite_path(store_url, path, sizeof path);
  if (rc == MIDA_ETOOBIG)
    return rc;
  if (rc == MIDA_OK) {
    n = snprintf(buf, buflen, "%s.spool", path);
  } else {
    /* FNV-1a of the URL as it may be shown (mida__url_redact): the name
     * is in the argv of the detached `mida recover` and in messages, and
     * a hash of the password is as good as the password to whoever can
     * try passwords against it (FNV-1a, billions a second). Until
     * 2026-12 the whole URL was hashed, password included. A URL that
     * differs only in its password names the same store, and so the same
     * spool. */
    size_t shown_len = 4 * strlen(store_url) + 16; /* each "***" <= 4x */
    char *shown = mida__malloc(shown_len);
    if (shown == NULL)
      return MIDA_ENOMEM;
    mida__url_redact(store_url, shown, shown_len);
    uint64_t h = UINT64_C(0xCBF29CE484222325);
    for (const unsigned char *p = (const unsigned char *)shown; *p; p++)
      h = (h ^ *p) * UINT64_C(0x100000001B3);
    mida__free(shown);
    /* The user's runtime directory first, when it is there and theirs
     * alone (0700): no other user can make the path before them. /tmp is
     * shared, and the journal checks what it finds there
     * (capture/spool_dir.h). */
    const char *run = getenv("XDG_RUNTIME_DIR");
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0')
      tmp = "/tmp";
    struct stat st;
    if (run != NULL && run[0] == '/' && stat(run, &st) == 0 &&
        S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
        (st.st_mode & 077) == 0)
      n = snprintf(buf, buflen, "%s/mida-spool/%016llx", run,
                   (unsigned long long)h);
    else
      n = snprintf(buf, buflen, "%s/mida-spool-%lu/%016llx", tmp,
                   (unsigned long)geteuid(), (unsigned long long)h);
  }
  return (n < 0 || (size_t)n >= buflen) ? MIDA_ETOOBIG : MIDA_OK;
}

int mida__spool_in_force(const char *store_url, char *buf, size_t buflen) {
  const char *env = getenv("MIDA_SPOOL");
  if (env == NULL || env[0] == '\0')
    return mida__default_spool(store_url, buf, buflen);
  int n = snprintf(buf, buflen, "%s", env);
  return n < 0 || (size_t)n >= buflen ? MIDA_ETOOBIG : MIDA_OK;
}

int mida__parse_size(const char *text, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  unsigned long long n = strtoull(text, &end, 10);
  if (errno != 0 || end == text || text[0] == '-')
    return -1;
  /* An optional unit: k, m, g or t (binary multiples). */
  static const char units[] = "kmgt";
  const char *unit = *end != '\0' ? strchr(units, *end | 0x20) : NULL;
  unsigned shift = unit != NULL ? 10 * (unsigned)(unit - units + 1) : 0;
  if (unit != NULL)
    end++;
  if (*end != '\0' || n > (UINT64_MAX >> shift))
    return -1;
  *out = (uint64_t)n << shift;
  return 0;
}

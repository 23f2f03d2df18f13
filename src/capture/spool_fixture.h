/*
 * spool_fixture.h -- the fixture of the journal's unit tests
 * (journal_test.c, journal_tail_test.c): each test gets a spool directory
 * of its own, removed with its files at the end. Static functions:
 * included by one test program each.
 */
#ifndef MIDA_CAPTURE_SPOOL_FIXTURE_H
#define MIDA_CAPTURE_SPOOL_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int make_spool(void **state) {
  char *dir = strdup("/tmp/mida-journal-test-XXXXXX");
  if (dir == NULL || mkdtemp(dir) == NULL) {
    free(dir);
    return -1;
  }
  *state = dir;
  return 0;
}

static int remove_spool(void **state) {
  char *dir = *state;
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      char path[1024];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
  free(dir);
  return 0;
}

#endif /* MIDA_CAPTURE_SPOOL_FIXTURE_H */

"""A program under `mida run` has every descriptor number it has without
it: the library holds none of its own once a journal segment is made (the
segment's mapping keeps its lock: src/capture/journal.h,
mida__journal_set_no_fds). So the lowest free number, the list of
/proc/self/fd, the count of opens before EMFILE under a low
RLIMIT_NOFILE, and a dup2() onto any number below the limit followed by
its close() are the same as without it, and the files written after all
that (enough records for the journal to move on to new segments) are
recorded."""

import subprocess

import pytest

from preload_support import Run, clean_env, compile_c

# fd_numbers: lists /proc/self/fd, opens in.txt until EMFILE, closes
# those; writes 400 files out.N (a record each: the journal fills its
# first segment and makes more); dup2()s a file onto every number from 3
# to the limit (at most 1024) and closes each; lists /proc/self/fd again.
# Prints what it saw.
FD_NUMBERS = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static void list(const char *when) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    exit(2);
  printf("%s:", when);
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
      printf(" %s", e->d_name);
  printf("\n");
  closedir(d);
}

int main(void) {
  list("start");
  int first = -1, n = 0, fd;
  while ((fd = open("in.txt", O_RDONLY)) >= 0) {
    if (first < 0)
      first = fd;
    n++;
  }
  printf("opens %d, the first %d, then errno %d\n", n, first, errno);
  for (int i = 0; i < n; i++)
    close(first + i);
  for (int i = 0; i < 400; i++) {
    char name[32];
    snprintf(name, sizeof name, "out.%d", i);
    fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0)
      return 3;
  }
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  int top = rl.rlim_cur < 1024 ? (int)rl.rlim_cur : 1024, failed = 0;
  int w = open("dup.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (int k = 3; k < top; k++)
    if (k != w && (dup2(w, k) != k || close(k) != 0))
      failed++;
  printf("dup2 and close failed on %d numbers below %d\n", failed, top);
  close(w);
  list("end");
  return 0;
}
"""


@pytest.mark.parametrize("limit", [None, 16])
def test_a_program_has_the_descriptor_numbers_it_has_unobserved(tmp_path,
                                                                limit):
    r = Run(tmp_path)
    exe = compile_c(tmp_path, "fd_numbers", FD_NUMBERS)
    (tmp_path / "in.txt").write_text("in\n")
    cmd = ["/bin/sh", "-c", (f"ulimit -n {limit} && " if limit else "")
           + "exec " + exe]
    plain = subprocess.run(cmd, env=clean_env(), cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    p = r.run(*cmd)
    assert p.returncode == 0, p.stderr
    assert p.stdout == plain.stdout
    made = r.rows("SELECT count(*) FROM task_data td JOIN data d"
                  " ON d.id = td.data_id WHERE td.role = 'generated'"
                  " AND d.uri LIKE ?", f"file://{tmp_path}/out.%")
    assert made == [(400,)]

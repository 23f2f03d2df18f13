"""A file made with O_TMPFILE has no name until linkat() gives it one
(with AT_EMPTY_PATH, or through /proc/self/fd/N followed): from then on it
is the data its writer generated, under that name (src/preload/files.c,
mida__pl_files_named); one never linked is no one's data."""

import os
import subprocess
import sys

import pytest

from preload_support import Run, compile_c

PY = os.path.basename(sys.executable)

# tmpfile_linker empty|proc|never: writes "made unnamed\n" into an
# O_TMPFILE file of the working directory, names it linked.txt the way
# its argument says (or not at all), then closes it.
LINKER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int fd = open(".", O_TMPFILE | O_WRONLY, 0644);
  if (fd < 0)
    return 77; /* no O_TMPFILE on this file system */
  if (write(fd, "made unnamed\n", 13) != 13)
    return 1;
  if (strcmp(argv[1], "empty") == 0) {
    if (linkat(fd, "", AT_FDCWD, "linked.txt", AT_EMPTY_PATH) != 0)
      return 2;
  } else if (strcmp(argv[1], "proc") == 0) {
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, p, AT_FDCWD, "linked.txt", AT_SYMLINK_FOLLOW) != 0)
      return 3;
  }
  return close(fd) == 0 ? 0 : 4;
}
"""


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r):
    return compile_c(r.dir, "tmpfile_linker", LINKER)


def run_linker(r, how, then=""):
    p = r.run("sh", "-c", build(r) + " " + how + then)
    if p.returncode == 77:
        pytest.skip("no O_TMPFILE here")
    assert p.returncode == 0, p.stderr
    return p


@pytest.mark.parametrize("how", ["empty", "proc"])
def test_a_linked_tmpfile_is_generated_under_its_name(r, how):
    run_linker(r, how, " && cat linked.txt")
    assert (r.dir / "linked.txt").read_text() == "made unnamed\n"
    assert r.links(r.dir) == {("tmpfile_linker", "generated", "linked.txt"),
                              ("cat", "used", "linked.txt")}, r.links(r.dir)
    (n,) = {b for _, role, _, _, b in r.link_rows() if role == "generated"}
    assert n == 13


def test_a_tmpfile_never_linked_is_no_ones_data(r):
    run_linker(r, "never")
    assert r.links(r.dir) == set(), r.links(r.dir)


def test_a_childs_stdout_into_a_tmpfile_is_no_ones_data(r):
    """Python's tempfile.TemporaryFile (O_TMPFILE) as a child's stdout:
    the child inherits a file /proc names "#<inode> (deleted)", which is
    no one's data there either."""
    script = r.dir / "t.py"
    script.write_text(
        "import subprocess, tempfile\n"
        "with tempfile.TemporaryFile(dir='.') as f:\n"
        "    subprocess.run(['echo', 'into a temporary'], stdout=f,"
        " check=True)\n"
        "    f.seek(0)\n"
        "    open('copy.txt', 'wb').write(f.read())\n")
    p = r.run(sys.executable, str(script))
    assert p.returncode == 0, p.stderr
    assert (r.dir / "copy.txt").read_text() == "into a temporary\n"
    assert r.links(r.dir) == {(PY, "used", "t.py"),
                              (PY, "generated", "copy.txt")}, r.links(r.dir)

"""popen() makes its pipe and its child inside libc (glibc: __pipe2 and
__posix_spawn, internal calls no wrapper sees), so the pipe between a
program and its popen'ed command was no dependency: the library now wraps
popen and pclose (src/preload/popen.c) and registers that pipe as it does
one made by pipe() and handed to a forked child. The reader depends on the
writer: with popen(cmd, "r") the program on the command, with "w" the
command on the program. What the program sees is unchanged: the data, the
command's exit status from pclose, and errno of a popen that fails.
Python's os.popen (subprocess: pipe2 and vfork, both wrapped) was linked
before; its test guards it. A pipe end read through a stream (fgets) and
closed before the exit is a dependency at its fclose or pclose."""

import os
import subprocess
import sys

import pytest

from preload_support import Run, clean_env, compile_c

PY = os.path.basename(sys.executable)

# popen_user: reads in.txt through popen("cat in.txt", "r") (fgets, the
# way most readers of a popen read: libc's buffered reads, which only the
# stream shows), writes it through popen("cat > out.txt", "w") (fputs),
# then prints the exit status pclose gives of popen("exit 3", "r") and
# the errno of popen with an invalid mode, and that errno of a popen that
# succeeded after errno was set by hand. Each step's failure has its own
# exit status.
POPEN_USER = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

int main(void) {
  char text[256] = "", line[128];
  FILE *in = popen("cat in.txt", "r");
  if (in == NULL)
    return 10;
  while (fgets(line, sizeof line, in) != NULL)
    strncat(text, line, sizeof text - strlen(text) - 1);
  if (pclose(in) != 0)
    return 11;
  FILE *out = popen("cat > out.txt", "w");
  if (out == NULL)
    return 12;
  if (fputs(text, out) < 0)
    return 13;
  if (pclose(out) != 0)
    return 14;
  FILE *failing = popen("exit 3", "r");
  if (failing == NULL)
    return 15;
  int status = pclose(failing);
  errno = 0;
  FILE *bad = popen("true", "x");
  int bad_errno = errno;
  errno = ENOTTY;
  FILE *good = popen("true", "r");
  int good_errno = errno;
  if (good == NULL || pclose(good) != 0)
    return 16;
  printf("status %d exited %d, invalid mode %s errno %d, kept %d\n",
         WEXITSTATUS(status), WIFEXITED(status), bad == NULL ? "NULL" : "?",
         bad_errno, good_errno == ENOTTY);
  return 0;
}
"""

EXPECTED_OUT = "status 3 exited 1, invalid mode NULL errno %d, kept 1\n" % (
    __import__("errno").EINVAL)


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r, source=POPEN_USER, name="popen_user"):
    return compile_c(r.dir, name, source)


def test_a_popen_pipe_is_a_dependency_each_way(r):
    exe = build(r)
    (r.dir / "in.txt").write_text("one\ntwo\n")
    # The same program without the library: what it prints is the same.
    plain = subprocess.run([exe], cwd=r.dir, env=clean_env(),
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == EXPECTED_OUT
    (r.dir / "out.txt").unlink()
    p = r.run(exe)
    assert p.returncode == 0, p.stderr
    assert p.stdout == EXPECTED_OUT
    assert (r.dir / "out.txt").read_text() == "one\ntwo\n"
    # Each popen is an `sh -c` child of the program (observed as any
    # child: it inherits the library); dash starts cat as its own child.
    tree = sorted(r.rows(
        "SELECT t.activity, p.activity, json_extract(t.used, '$.argv'),"
        " t.status FROM task t LEFT JOIN task p ON p.id = t.parent_id"))
    assert tree == [
        ("cat", "sh", '["cat","in.txt"]', "FINISHED"),
        ("cat", "sh", '["cat"]', "FINISHED"),
        ("popen_user", None, '["%s"]' % exe, "FINISHED"),
        ("sh", "popen_user", '["sh","-c","cat > out.txt"]', "FINISHED"),
        ("sh", "popen_user", '["sh","-c","cat in.txt"]', "FINISHED"),
        ("sh", "popen_user", '["sh","-c","exit 3"]', "ERROR"),
        ("sh", "popen_user", '["sh","-c","true"]', "FINISHED")], tree
    # "r": the program read what cat wrote; "w": cat read what it wrote.
    assert r.deps() == {("popen_user", "cat"), ("cat", "popen_user")}
    edges = r.rows("SELECT t.activity, u.activity, td.role, d.uri"
                   " FROM task_dep x JOIN task t ON t.id = x.task_id"
                   " JOIN task u ON u.id = x.upstream_id"
                   " JOIN task_data td ON td.task_id = u.id"
                   " JOIN data d ON d.id = td.data_id ORDER BY 1")
    # The cat its reader depends on is the one that read in.txt.
    assert [(t, u, role, uri.rsplit("/", 1)[1]) for t, u, role, uri in edges
            if t == "popen_user"] == [("popen_user", "cat", "used", "in.txt")]
    assert r.counter("run.pipes_lost") == 0


def test_pythons_os_popen_is_a_dependency_each_way(r):
    (r.dir / "in.txt").write_text("one\ntwo\n")
    script = r.dir / "p.py"
    script.write_text(
        "import os\n"
        "text = os.popen('cat in.txt').read()\n"
        "w = os.popen('cat > out.txt', 'w')\n"
        "w.write(text)\n"
        "assert w.close() is None\n"
        "print(os.popen('exit 3').close())\n")
    p = r.run(sys.executable, str(script))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "768\n"  # os.popen's close: the wait status
    assert (r.dir / "out.txt").read_text() == "one\ntwo\n"
    assert r.deps() == {(PY, "cat"), ("cat", PY)}, r.deps()
    assert r.counter("run.pipes_lost") == 0


# fdopen_reader: pipe(), a forked child that execs `sh -c 'echo hi'` into
# it (dash's builtin echo: write(), so the writer is announced before its
# data, as a stdio writer such as /bin/echo is before its flush), and
# the parent reading the read end through fdopen and fgets, then fclose
# -- the ordinary pipe() path with a stream that reads through no wrapper.
FDOPEN_READER = r"""
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  int fds[2];
  if (pipe(fds) != 0)
    return 10;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl("/bin/sh", "sh", "-c", "echo hi", (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  FILE *in = fdopen(fds[0], "r");
  char line[16];
  if (in == NULL || fgets(line, sizeof line, in) == NULL)
    return 11;
  fclose(in);
  int status;
  if (waitpid(pid, &status, 0) != pid || status != 0)
    return 12;
  fputs(line, stdout);
  return 0;
}
"""


def test_a_pipe_read_through_an_fdopen_stream_is_a_dependency_at_fclose(r):
    """The read end's stream read with fgets and closed with fclose before
    the exit: its dependency was recorded only if the stream was still
    open at exit (files.c, pipe_stream_moves)."""
    exe = build(r, FDOPEN_READER, "fdopen_reader")
    p = r.run(exe)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hi\n"
    assert r.deps() == {("fdopen_reader", "sh")}, r.deps()

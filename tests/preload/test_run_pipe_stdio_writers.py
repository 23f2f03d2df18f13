"""A process whose output reaches a pipe through libc's stdio buffers is
a writer of that pipe (src/preload/pipes.c) from before its data can reach
a reader: the library announces it before the buffer is flushed -- at
fclose, pclose, fflush and exit (src/preload/stdio.c, files.c). It used to
flush first and announce after, so a reader that read the data and ended
without waiting for the end of the pipe (`head -c 1`) could look up the
pipe's writers before the announcement and miss its dependency.

The tests make that order certain rather than likely: the writer holds
256 KiB in a 1 MiB stdio buffer, more than the pipe takes, so its flush
blocks until the reader has read a part and ended; or it flushes a few
bytes with fflush and waits, still alive, until the reader has gone. Each
case runs 3 times; each run must record the dependency. Before the fix
each one missed it."""

import shutil
import subprocess

import pytest

from preload_support import Run, clean_env

# pipe_writer MODE: writes through stdio into a pipe read by `head -c 1`;
# the stream's bytes reach the pipe only at the flush, and nothing before
# the flush tells the library (see hold).
#   exit    256 KiB held to exit(), whose flush blocks
#   fclose  the same, flushed by fclose(stdout)
#   pclose  the same into popen("head -c 1", "w"), flushed by pclose
#   fflush  3 bytes flushed by fflush(stdout), then it waits until the
#           reader has closed the pipe (poll's POLLERR on the write end)
#   flush_only  fflush(stdout), fflush(NULL) and exit with nothing written
# SIGPIPE is ignored: the flush that outlives its reader fails with EPIPE
# and the program exits 0 all the same.
PIPE_WRITER = r"""
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HELD (256 * 1024)

static char big_buffer[1 << 20];
static char bytes[HELD];

/* Puts n bytes into stream s's buffer (1 MiB) while its descriptor points
 * at /dev/null, then puts the pipe back under it: no call that writes
 * into the pipe, or writes at all, comes before the flush. The pipe's end
 * stays open on a second descriptor to the exit: closing it would tell
 * the library that the stream wrote. */
static void hold(FILE *s, int n) {
  int fd = fileno(s);
  int pipe_end = dup(fd);
  int null = open("/dev/null", O_WRONLY);
  dup2(null, fd);
  close(null);
  setvbuf(s, big_buffer, _IOFBF, sizeof big_buffer);
  memset(bytes, 'x', sizeof bytes);
  fwrite(bytes, 1, (size_t)n, s);
  dup2(pipe_end, fd);
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "exit") == 0) {
    hold(stdout, HELD);
    return 0;
  }
  if (strcmp(mode, "fclose") == 0) {
    hold(stdout, HELD);
    fclose(stdout);
    return 0;
  }
  if (strcmp(mode, "pclose") == 0) {
    FILE *s = popen("head -c 1", "w");
    if (s == NULL)
      return 10;
    hold(s, HELD);
    pclose(s);
    return 0;
  }
  if (strcmp(mode, "fflush") == 0) {
    hold(stdout, 3);
    fflush(stdout);
    struct pollfd p = {.fd = 1, .events = 0};
    while (poll(&p, 1, -1) >= 0 && (p.revents & POLLERR) == 0)
      ;
    return 0;
  }
  if (strcmp(mode, "flush_only") == 0) {
    fflush(stdout);
    fflush(NULL);
    return 0;
  }
  return 2;
}
"""

RUNS = 3


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r):
    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = r.dir / "pipe_writer.c"
    src.write_text(PIPE_WRITER)
    exe = r.dir / "pipe_writer"
    subprocess.run([cc, "-O2", "-o", str(exe), str(src)], check=True)
    return str(exe)


def edges(r, reader, writer):
    """[(reader task, writer task)] of task_dep between those activities."""
    return r.rows("SELECT x.task_id, x.upstream_id FROM task_dep x"
                  " JOIN task t ON t.id = x.task_id"
                  " JOIN task u ON u.id = x.upstream_id"
                  " WHERE t.activity = ? AND u.activity = ?", reader, writer)


@pytest.mark.parametrize("mode", ["exit", "fclose", "pclose", "fflush"])
def test_a_stdio_writer_is_announced_before_its_flush(r, mode):
    exe = build(r)
    one = exe + " " + mode if mode == "pclose" else \
        exe + " " + mode + " | head -c 1"
    script = "for i in %s; do %s; done" % (
        " ".join(str(i) for i in range(RUNS)), one)
    # Without the library: what the command prints, and its status.
    plain = subprocess.run(["sh", "-c", script], cwd=r.dir, env=clean_env(),
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "x" * RUNS
    p = r.run("sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert p.stdout == plain.stdout
    statuses = r.rows("SELECT status FROM task WHERE activity = ?",
                      "pipe_writer")
    assert statuses == [("FINISHED",)] * RUNS
    found = edges(r, "head", "pipe_writer")
    # Each head depends on its own writer, each writer has its head.
    assert len(found) == RUNS, found
    assert len({h for h, _ in found}) == len({w for _, w in found}) == RUNS
    assert r.counter("run.pipes_lost") == 0


@pytest.mark.parametrize("reader", ["wc -c", "head -c 1"])
def test_echo_into_a_reader_is_a_dependency_every_time(r, reader):
    """/bin/echo writes through stdout's buffer, flushed by its fclose at
    exit (coreutils' close_stdout): wc reads to the end of the pipe, which
    comes after that fclose; `head -c 1` ends as soon as it has a byte,
    which it could before echo's announcement."""
    n = 20
    p = r.run("sh", "-c", "for i in $(seq %d); do /bin/echo hi | %s; done"
              % (n, reader))
    assert p.returncode == 0, p.stderr
    assert p.stdout == ("3\n" if reader == "wc -c" else "h") * n
    activity = reader.split()[0]
    found = edges(r, activity, "echo")
    assert len(found) == n, found
    assert len({h for h, _ in found}) == len({w for _, w in found}) == n


def test_a_flush_with_nothing_written_announces_no_writer(r):
    """fflush(stdout), fflush(NULL) and the exit of a process that holds
    a pipe's write end and wrote nothing into it: no writer (each of them
    would fill the pipe's 4 slots in a loop piped into cat)."""
    exe = build(r)
    p = r.run("sh", "-c", "{ for i in 1 2 3 4 5; do %s flush_only; done;"
              " /bin/echo a; } | cat" % exe)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "a\n"
    assert r.deps() == {("cat", "echo")}, r.deps()
    assert r.counter("run.pipes_lost") == 0

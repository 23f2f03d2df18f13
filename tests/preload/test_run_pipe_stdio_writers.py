"""A process whose output reaches a pipe through libc's stdio buffers is
a writer of that pipe (src/preload/pipes.c) from before its data can reach
a reader: the library announces it before the buffer is flushed -- at
fclose, pclose, fflush and exit (src/preload/stdio.c, files.c). It used to
flush first and announce after, so a reader that read the data and ended
without waiting for the end of the pipe (`head -c 1`) could look up the
pipe's writers before the announcement and miss its dependency. A
stream's first output call (printf, fputs, fwrite, putc...) announces it
too (src/preload/stdio_write.c): libc writes a full buffer out by itself,
with no flush the library sees, and `seq 100000 | head -n 1` killed seq
by SIGPIPE before its exit had looked at its stream.

The tests make that order certain rather than likely: the writer holds
256 KiB in a 1 MiB stdio buffer, more than the pipe takes, so its flush
blocks until the reader has read a part and ended; or it flushes a few
bytes with fflush and waits, still alive, until the reader has gone. Each
case runs 3 times; each run must record the dependency. Before the fixes
each one missed it."""

import subprocess

import pytest

from preload_support import Run, clean_env, compile_c

# pipe_writer MODE: writes through stdio into a pipe read by `head -c 1`;
# the stream's bytes reach the pipe only at the flush, and nothing before
# the flush tells the library (see hold).
#   exit    256 KiB held to exit(), whose flush blocks
#   fclose  the same, flushed by fclose(stdout)
#   pclose  the same into popen("head -c 1", "w"), flushed by pclose
#   fflush  3 bytes flushed by fflush(stdout), then it waits until the
#           reader has closed the pipe (poll's POLLERR on the write end)
#   flush_only  fflush(stdout), fflush(NULL) and exit with nothing written
#   messages  error(), error_at_line() (%m, a message of 3,000 bytes), the
#           warn family, perror and psignal, then error(3, ...): exit 3
#   fill_HOW  8 KiB through HOW (fwrite, fputs, puts, printf, fputc,
#           putchar, putc_unlocked, putw, and the wide fputws, fwprintf,
#           wprintf, fputwc, putwc, putwchar: into stdout's buffer, which
#           libc writes out each time it is full; fprintf_stderr and the
#           messages perror, error, warnx: into unbuffered stderr, written
#           out at each call), then it waits until the reader has gone, as
#           fflush does
# SIGPIPE is ignored: the flush that outlives its reader fails with EPIPE
# and the program exits 0 all the same.
PIPE_WRITER = r"""
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <error.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

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

/* Returns once the pipe on fd has no reader left (poll's POLLERR). */
static void await_reader_gone(int fd) {
  struct pollfd p = {.fd = fd, .events = 0};
  while (poll(&p, 1, -1) >= 0 && (p.revents & POLLERR) == 0)
    ;
}

/* Whether HOW writes into stderr. */
static int on_stderr(const char *how) {
  return strcmp(how, "fprintf_stderr") == 0 || strcmp(how, "perror") == 0 ||
         strcmp(how, "error") == 0 || strcmp(how, "warnx") == 0;
}

/* 8 KiB into stdout (stderr) through one output call, without flushing.
 * The messages of error() and warnx() begin with the program's name: "x",
 * so that the first byte the reader takes is an x too. */
static int fill(const char *how) {
  FILE *s = on_stderr(how) ? stderr : stdout;
  program_invocation_name = program_invocation_short_name = (char *)"x";
  for (int i = 0; i < 2048; i++) {
    if (strcmp(how, "fwrite") == 0)
      fwrite("xxx\n", 1, 4, s);
    else if (strcmp(how, "fputs") == 0)
      fputs("xxx\n", s);
    else if (strcmp(how, "puts") == 0)
      puts("xxx");
    else if (strcmp(how, "printf") == 0)
      printf("%c%s", 'x', "xx\n"); /* not made a puts by the compiler */
    else if (strcmp(how, "fprintf_stderr") == 0)
      fprintf(s, "%c%s", 'x', "xx\n");
    else if (strcmp(how, "fputc") == 0)
      for (int k = 0; k < 4; k++)
        fputc("xxx\n"[k], s);
    else if (strcmp(how, "putchar") == 0)
      for (int k = 0; k < 4; k++)
        putchar("xxx\n"[k]);
    else if (strcmp(how, "putc_unlocked") == 0)
      for (int k = 0; k < 4; k++)
        putc_unlocked("xxx\n"[k], s);
    else if (strcmp(how, "putw") == 0)
      putw(0x0a787878, s); /* "xxx\n" on a little-endian machine */
    else if (strcmp(how, "fputws") == 0)
      fputws(L"xxx\n", s);
    else if (strcmp(how, "fwprintf") == 0)
      fwprintf(s, L"%lc%ls", L'x', L"xx\n");
    else if (strcmp(how, "wprintf") == 0)
      wprintf(L"%lc%ls", L'x', L"xx\n");
    else if (strcmp(how, "fputwc") == 0)
      for (int k = 0; k < 4; k++)
        fputwc(L"xxx\n"[k], s);
    else if (strcmp(how, "putwc") == 0)
      for (int k = 0; k < 4; k++)
        putwc(L"xxx\n"[k], s);
    else if (strcmp(how, "putwchar") == 0)
      for (int k = 0; k < 4; k++)
        putwchar(L"xxx\n"[k]);
    else if (strcmp(how, "perror") == 0)
      perror("x");
    else if (strcmp(how, "error") == 0)
      error(0, 0, "x");
    else if (strcmp(how, "warnx") == 0)
      warnx("x");
    else
      return 2;
  }
  await_reader_gone(fileno(s));
  return 0;
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
    await_reader_gone(1);
    return 0;
  }
  if (strcmp(mode, "messages") == 0) {
    static char big[3000];
    memset(big, 'y', sizeof big - 1);
    printf("out\n"); /* error() flushes it first */
    errno = EACCES;
    error(0, ENOENT, "%s %d %m", "a", 5);
    error_at_line(0, 0, "f.c", 7, "at %s", "line");
    error(0, 0, "%s", big);
    errno = EACCES;
    warn("w%d", 1);
    warnx("x%d", 2);
    perror("p");
    psignal(SIGINT, "s");
    error(3, 0, "bye %s", "now");
    return 0;
  }
  if (strcmp(mode, "flush_only") == 0) {
    fflush(stdout);
    fflush(NULL);
    return 0;
  }
  if (strncmp(mode, "fill_", 5) == 0)
    return fill(mode + 5);
  return 2;
}
"""

RUNS = 3


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r, name="pipe_writer", flags=("-O2",)):
    return compile_c(r.dir, name, PIPE_WRITER, flags)


def edges(r, reader, writer):
    """[(reader task, writer task)] of task_dep between those activities."""
    return r.rows("SELECT x.task_id, x.upstream_id FROM task_dep x"
                  " JOIN task t ON t.id = x.task_id"
                  " JOIN task u ON u.id = x.upstream_id"
                  " WHERE t.activity = ? AND u.activity = ?", reader, writer)


def run_as_plain(r, script):
    """Runs script without the library, then under mida run: both end
    with status 0 and print one x a loop turn, alike."""
    plain = subprocess.run(["sh", "-c", script], cwd=r.dir, env=clean_env(),
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "x" * RUNS
    p = r.run("sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert p.stdout == plain.stdout


def assert_paired(found, n):
    """n edges, each reader depending on its own writer, each writer with
    its reader."""
    assert len(found) == n, found
    assert len({h for h, _ in found}) == len({w for _, w in found}) == n


@pytest.mark.parametrize("mode", ["exit", "fclose", "pclose", "fflush"])
def test_a_stdio_writer_is_announced_before_its_flush(r, mode):
    exe = build(r)
    one = exe + " " + mode if mode == "pclose" else \
        exe + " " + mode + " | head -c 1"
    script = "for i in %s; do %s; done" % (
        " ".join(str(i) for i in range(RUNS)), one)
    run_as_plain(r, script)
    statuses = r.rows("SELECT status FROM task WHERE activity = ?",
                      "pipe_writer")
    assert statuses == [("FINISHED",)] * RUNS
    found = edges(r, "head", "pipe_writer")
    assert_paired(found, RUNS)
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
    assert_paired(edges(r, activity, "echo"), n)


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


# The same source built two ways: optimized and fortified, where printf is
# __printf_chk, putchar putc, and putc_unlocked an inline macro calling
# __overflow when the buffer is full; and unoptimized, where each is
# called by its own name.
BUILDS = {"pipe_writer": ("-O2", "-D_FORTIFY_SOURCE=2"),
          "pipe_writer_plain": ("-O0",)}


@pytest.mark.parametrize("name", sorted(BUILDS))
@pytest.mark.parametrize("how", ["fwrite", "fputs", "puts", "printf",
                                 "fprintf_stderr", "fputc", "putchar",
                                 "putc_unlocked", "putw", "fputws",
                                 "fwprintf",
                                 "wprintf", "fputwc", "putwc", "putwchar",
                                 "perror", "error", "warnx"])
def test_a_stdio_writer_is_announced_before_its_buffer_fills(r, name, how):
    """A stream whose buffer fills up is written out by libc, not by a
    flush the library sees: the first output call on a stream over a
    pipe announces its writer (src/preload/stdio_write.c). The writer
    here is alive, neither flushed nor closed, when its reader ends."""
    exe = build(r, name, BUILDS[name])
    stderr = how in ("fprintf_stderr", "perror", "error", "warnx")
    redirect = " 2>&1 >/dev/null" if stderr else ""
    script = "for i in %s; do %s fill_%s%s | head -c 1; done" % (
        " ".join(str(i) for i in range(RUNS)), exe, how, redirect)
    run_as_plain(r, script)
    assert_paired(edges(r, "head", name), RUNS)
    assert r.counter("run.pipes_lost") == 0


def test_seq_into_head_is_a_dependency(r):
    """coreutils' seq prints through fputs_unlocked and fwrite; head reads
    its first 4 KiB and ends, and seq, killed by SIGPIPE at its next
    write, never reached the exit where its stream was looked at."""
    p = r.run("sh", "-c", "for i in 1 2 3; do seq 100000 | head -n 1; done")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "1\n" * 3
    found = edges(r, "head", "seq")
    assert len(found) == 3, found


@pytest.mark.parametrize("name", sorted(BUILDS))
def test_messages_are_printed_as_without_the_library(r, name):
    """error() and error_at_line() are handed their message formatted by
    the wrapper (libc has no va_list variant of them): what they print,
    %m and a long message included, and the exit status of error(3, ...)
    are those of the program run without the library."""
    exe = build(r, name, BUILDS[name])
    plain = subprocess.run([exe, "messages"], env=clean_env(), cwd=r.dir,
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 3
    assert "a 5 Permission denied: No such file or directory" in plain.stderr
    assert "y" * 2999 in plain.stderr
    p = r.run(exe, "messages")
    assert (p.returncode, p.stdout, p.stderr) == (
        3, plain.stdout, plain.stderr)

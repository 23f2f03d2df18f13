"""A child made by fork() is a task of its own (src/preload/process.c),
and a writer of a pipe (src/preload/pipes.c) only if it writes into it
itself. Its copy of its parent's stdio streams says what the parent did:
stdout in put mode once the parent printed, even after a flush, and a
buffer the parent filled from stdin. Read as the child's own, that made
every forked child that printed nothing -- each `( ... )` subshell of a
bash that had run `echo` -- a writer of bash's stdout at its exit: the
reader depended on each one, and the fifth writer on took no slot of the
pipe's four (run.pipes_lost). The child must still be a writer for what
it writes itself: its own output calls, and what its parent left unflushed
in a buffer, which the child's exit writes out again."""

import shutil

import pytest

from preload_support import Run, clean_env, compile_c

# fork_writer MODE, with stdout (and stdin) pipes:
#   silent          prints and flushes a line, then forks 5 children one
#                   after the other, each ending with exit(0) unprinted
#   child_writes    prints and flushes a line, then forks a child that
#                   prints one through putc_unlocked (inline: no call the
#                   library sees until the exit's flush)
#   child_flushes   prints a line left in stdout's buffer, then forks a
#                   child that exits: each process writes the line out
#   read_silent     reads a line from stdin through fgets, then forks a
#                   child that exits without reading
FORK_WRITER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Forks a child that runs child (NULL: nothing), then exit(0)s; waits. */
static void fork_child(void (*child)(void)) {
  pid_t pid = fork();
  if (pid < 0)
    exit(3);
  if (pid == 0) {
    if (child != NULL)
      child();
    exit(0);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid || status != 0)
    exit(4);
}

static void print_inline(void) {
  putc_unlocked('c', stdout);
  putc_unlocked('\n', stdout);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "silent") == 0) {
    printf("%c%c", 'p', '\n');
    fflush(stdout);
    for (int i = 0; i < 5; i++)
      fork_child(NULL);
  } else if (strcmp(mode, "child_writes") == 0) {
    printf("%c%c", 'p', '\n');
    fflush(stdout);
    fork_child(print_inline);
  } else if (strcmp(mode, "child_flushes") == 0) {
    printf("%c%c", 'p', '\n');
    fork_child(NULL);
  } else if (strcmp(mode, "read_silent") == 0) {
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL)
      return 5;
    fork_child(NULL);
  } else {
    return 2;
  }
  return 0;
}
"""


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r):
    return compile_c(r.dir, "fork_writer", FORK_WRITER, ("-O2",))


def writers(r, reader):
    """Sorted [(upstream activity, activity of the upstream's parent)] of
    reader's dependencies: a forked child's parent is its program."""
    return sorted(r.rows(
        "SELECT u.activity, p.activity FROM task_dep d"
        " JOIN task t ON t.id = d.task_id"
        " JOIN task u ON u.id = d.upstream_id"
        " LEFT JOIN task p ON p.id = u.parent_id"
        " WHERE t.activity = ?", reader))


def run_ok(r, script, stdout):
    p = r.run("sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert p.stdout == stdout


def test_subshells_that_print_nothing_are_no_writers(r):
    """bash's echo prints through stdout's stream; each `( : )` is a
    forked bash that prints nothing and exits."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    run_ok(r, "bash -c 'echo a; ( : ); ( : ); ( : ); ( : ); ( : ); echo b'"
           " | cat", "a\nb\n")
    assert writers(r, "cat") == [("bash", "sh")]
    assert r.counter("run.pipes_lost") == 0


def test_forked_children_that_print_nothing_are_no_writers(r):
    exe = build(r)
    run_ok(r, exe + " silent | cat", "p\n")
    assert writers(r, "cat") == [("fork_writer", "sh")]
    assert r.counter("run.pipes_lost") == 0


def test_a_forked_child_is_a_writer_of_what_it_prints(r):
    """The parent, announced before the fork, does not make its child one:
    the child, a task of its own, is announced for its own output."""
    exe = build(r)
    run_ok(r, exe + " child_writes | cat", "p\nc\n")
    assert writers(r, "cat") == [("fork_writer", "fork_writer"),
                                 ("fork_writer", "sh")]


def test_a_forked_child_is_a_writer_of_what_it_flushes_for_its_parent(r):
    """Output the parent left in the buffer is in the child's copy too,
    and the child's exit writes it into the pipe."""
    exe = build(r)
    run_ok(r, exe + " child_flushes | cat", "p\np\n")
    assert writers(r, "cat") == [("fork_writer", "fork_writer"),
                                 ("fork_writer", "sh")]


def test_a_forked_child_that_reads_nothing_depends_on_no_writer(r):
    """The parent's stdin buffer holds what it read from the pipe; the
    child's copy of it is not a read of the child's."""
    exe = build(r)
    run_ok(r, "/bin/echo hi | " + exe + " read_silent", "")
    assert sorted(r.rows(
        "SELECT t.activity, p.activity, u.activity FROM task_dep d"
        " JOIN task t ON t.id = d.task_id"
        " JOIN task u ON u.id = d.upstream_id"
        " LEFT JOIN task p ON p.id = t.parent_id")) == [
            ("fork_writer", "sh", "echo")]


def test_a_subshell_writes_its_file_through_its_parents_stream(r):
    """The subshell's stdout stream, in put mode since its parent's echo,
    writes the file that `exec >` put under it: its echo is an output call
    of its own, and the file's bytes are the subshell's; the pipe it held
    before is not written."""
    if shutil.which("bash") is None:
        pytest.skip("no bash")
    run_ok(r, "bash -c 'echo a; ( exec > out; echo hi ); echo b' | cat",
           "a\nb\n")
    rows = r.rows("SELECT t.activity, p.activity, td.role, td.bytes"
                  " FROM task_data td JOIN task t ON t.id = td.task_id"
                  " JOIN data d ON d.id = td.data_id"
                  " LEFT JOIN task p ON p.id = t.parent_id"
                  " WHERE d.uri = ?", "file://%s/out" % r.dir)
    assert rows == [("bash", "bash", "generated", 3)]
    assert writers(r, "cat") == [("bash", "sh")]

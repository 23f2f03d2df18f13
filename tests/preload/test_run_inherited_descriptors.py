"""A descriptor a process inherited (stdin, stdout and stderr sent to files
by whoever started `mida run`) shares its open file description, and its
offset, with the process's children: the bytes a process is credited with
are what it read or wrote itself -- its own read and write calls, and what
its own stdio moved (src/preload/files.c, add_buffered) -- never what a
child's reads and writes moved the shared offset by. A process that wrote
through stdio into a redirected stdout still generated it."""

import os
import subprocess
import sys

import pytest

from preload_support import Run, mida_bin

PYTHON = os.path.realpath(sys.executable)
PY = os.path.basename(PYTHON)


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def run_redirected(r, *cmd, stdin=None, stdout=None):
    """`mida run -- cmd < stdin > stdout` (names in r.dir; /dev/null when
    None)."""
    src = open(r.dir / stdin if stdin else os.devnull, "rb")
    dst = open(r.dir / stdout if stdout else os.devnull, "wb")
    with src, dst:
        p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--", *cmd],
                           env=r.env(), cwd=r.dir, stdin=src, stdout=dst,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def links(r):
    """{(activity, role, name, bytes)} of the links to files in r.dir."""
    base = "file://" + str(r.dir) + "/"
    return {(act, role, uri[len(base):], n) for act, role, uri, n in r.rows(
        "SELECT t.activity, td.role, d.uri, td.bytes FROM task_data td"
        " JOIN task t ON t.id = td.task_id JOIN data d ON d.id = td.data_id")
        if uri.startswith(base) and uri[len(base):] not in ("run.db",)}


def test_shells_are_not_credited_with_their_childs_writes(r):
    run_redirected(r, "bash", "-c", 'bash -c "/bin/echo hi; true"; true',
                   stdout="out3.log")
    assert (r.dir / "out3.log").read_text() == "hi\n"
    assert links(r) == {("echo", "generated", "out3.log", 3)}


def test_shells_are_not_credited_with_their_childs_reads(r):
    (r.dir / "in.txt").write_text("hello\n")
    run_redirected(r, "bash", "-c", 'bash -c "cat; true"; true',
                   stdin="in.txt")
    assert links(r) == {("cat", "used", "in.txt", 6)}


def test_python_is_not_credited_with_its_subprocess_output(r):
    run_redirected(r, PYTHON, "-c", "import subprocess;"
                   " subprocess.run(['/bin/echo', 'hi'])", stdout="out4.log")
    assert (r.dir / "out4.log").read_text() == "hi\n"
    assert links(r) == {("echo", "generated", "out4.log", 3)}


def test_python_writing_a_pipe_through_a_child_is_no_writer(r):
    """Python makes its stdio streams unbuffered at start (setvbuf), which
    sets their pointers without any output: not a writer of the pipe its
    child wrote into."""
    p = r.run("bash", "-c", f"{PYTHON} -c \"import subprocess;"
              " subprocess.run(['/bin/echo', 'hi'])\" | cat")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hi\n"
    assert r.deps() == {("cat", "echo")}


def test_a_process_printing_into_redirected_stdout_generated_it(r):
    run_redirected(r, PYTHON, "-c", "import ctypes;"
                   " ctypes.CDLL(None).printf(b'through stdio\\n')",
                   stdout="out6.log")
    assert (r.dir / "out6.log").read_text() == "through stdio\n"
    assert links(r) == {(PY, "generated", "out6.log", 14)}


def test_a_shell_printing_beside_its_child_generated_the_log_too(r):
    """bash's builtin printf writes through stdio: bash generated the log,
    as its child did. Its bytes are the offset's move while it held the
    descriptor, the child's included (docs/run.md, Limits)."""
    run_redirected(r, "bash", "-c", 'printf "%s\\n" abc; /bin/echo x; true',
                   stdout="out5.log")
    assert (r.dir / "out5.log").read_text() == "abc\nx\n"
    assert links(r) == {("bash", "generated", "out5.log", 6),
                        ("echo", "generated", "out5.log", 2)}


def test_a_reader_through_stdio_of_redirected_stdin_used_it(r):
    (r.dir / "in.txt").write_text("b\na\n")
    run_redirected(r, "sort", stdin="in.txt", stdout="sorted")
    assert (r.dir / "sorted").read_text() == "a\nb\n"
    assert links(r) == {("sort", "used", "in.txt", 4),
                        ("sort", "generated", "sorted", 4)}


@pytest.mark.parametrize("how", ["exec", "heredoc"])
def test_an_inherited_file_with_no_name_left_keeps_the_one_it_had(r, how):
    """A file unlinked before the program that inherits it starts (a
    shell's `exec < f; rm f`, bash's here-document too large for a pipe,
    written into a temporary, opened again and unlinked): /proc names it
    "f (deleted)", which is no part of the name the data had."""
    if how == "exec":
        p = r.run("sh", "-c", "echo hi > f; exec < f; rm f; exec cat > out")
        name = "f"
    else:
        script = r.dir / "heredoc.sh"
        script.write_text("cat > out <<EOF\n%s\nEOF\n" % ("x" * 200000))
        p = r.run("env", "TMPDIR=" + str(r.dir), "bash", str(script))
        name = None
    assert p.returncode == 0, p.stderr
    rows = r.rows("SELECT d.uri, d.metadata FROM task_data td"
                  " JOIN task t ON t.id = td.task_id"
                  " JOIN data d ON d.id = td.data_id"
                  " WHERE t.activity = 'cat' AND td.role = 'used'")
    assert len(rows) == 1, rows
    ((uri, metadata),) = rows
    assert "deleted" not in uri and metadata == '{"removed":true}', rows
    base = uri.rsplit("/", 1)
    assert base[0] == "file://" + str(r.dir), uri
    if name is not None:
        assert base[1] == name


def test_splice_counts_its_bytes_and_makes_a_pipe_writer(r):
    """os.splice (splice(2)) of a file into the pipe to `wc`: the file's
    bytes are counted as read, and the splicer is the pipe's writer, which
    wc depends on."""
    if not hasattr(os, "splice"):
        pytest.skip("no os.splice")
    (r.dir / "in").write_text("eleven byte")
    code = ("import os; fd = os.open('in', os.O_RDONLY);"
            " n = os.splice(fd, 1, 11); assert n == 11, n")
    p = r.run("bash", "-c", "%s -c \"%s\" | wc -c" % (PYTHON, code))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "11"
    assert (PY, "used", "in", 11) in links(r), links(r)
    assert ("wc", PY) in r.deps(), r.deps()

"""A process killed after a successful exec and before the new program's
first record (its begin, made by the preload library's constructor) still
says what it ran: the exec wrapper records the program the task becomes
before it calls the real exec, and takes it back if the exec fails
(src/preload/exec.c); a vfork or posix_spawn child is recorded so by its
parent, which runs again only once the exec went through.

The window is hit every time: exec_window.c starts the child with
exec_stop.c preloaded after the library, whose constructor stops the
process before the library's runs; it is then killed with SIGKILL."""

import errno
import json
import os
import shutil
import struct

import pytest

from preload_support import Run, build_dir


def exec_window():
    return str(build_dir() / "tests" / "preload" / "preload_exec_window")


def stop_library():
    return str(build_dir() / "tests" / "preload" / "libpreload_exec_stop.so")


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def task_rows(r):
    """{activity: (argv or None, cwd or None, error)} of the run's tasks."""
    out = {}
    for act, used, err in r.rows("SELECT activity, used, error FROM task"):
        u = json.loads(used) if used else {}
        out[act] = (u.get("argv"), u.get("cwd"), err)
    return out


@pytest.mark.parametrize("how", ["fork", "vfork", "spawn"])
def test_a_child_killed_before_its_program_began_is_that_program(r, how):
    sleep = shutil.which("sleep")
    p = r.run(exec_window(), how, stop_library(), sleep, "7")
    assert p.returncode == 0, p.stderr
    rows = task_rows(r)
    # The program never recorded itself (no cwd: its begin says one).
    assert rows["sleep"] == (["sleep", "7"], None,
                             "killed by signal 9 (KILL)"), rows
    assert len(rows) == 2, rows
    (parent,), = r.rows("SELECT parent_id FROM task WHERE activity = 'sleep'")
    assert parent == r.root()


def elf_interpreter_at(data):
    """(offset, size) of the PT_INTERP string of a 64-bit little-endian
    ELF."""
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        at = phoff + i * phentsize
        ptype, = struct.unpack_from("<I", data, at)
        if ptype == 3:  # PT_INTERP
            off, = struct.unpack_from("<Q", data, at + 8)
            size, = struct.unpack_from("<Q", data, at + 32)
            return off, size
    raise AssertionError("no PT_INTERP")


def unrunnable_copies(d):
    """Copies of /bin/true whose exec fails: one whose program interpreter
    is missing (ENOENT), one without execute permission (EACCES). Both are
    programs the library would observe, so the exec wrapper records what
    the task becomes before it learns that."""
    data = bytearray(open(os.path.realpath(shutil.which("true")),
                          "rb").read())
    off, size = elf_interpreter_at(data)
    missing = b"/nonexistent/ld.so"
    assert len(missing) < size
    data[off:off + size] = missing + b"\0" * (size - len(missing))
    no_interp = d / "no-interpreter"
    no_interp.write_bytes(bytes(data))
    no_interp.chmod(0o755)
    no_exec = d / "not-executable"
    shutil.copyfile(shutil.which("true"), no_exec)
    no_exec.chmod(0o644)
    return [(no_interp, errno.ENOENT), (no_exec, errno.EACCES)]


@pytest.mark.parametrize("which", [errno.ENOENT, errno.EACCES])
def test_a_failed_exec_leaves_the_task_its_program(r, which):
    program, err = next(c for c in unrunnable_copies(r.dir) if c[1] == which)
    p = r.run(exec_window(), "failed", str(err), str(program))
    assert p.returncode == 0, p.stderr
    rows = task_rows(r)
    assert rows == {"preload_exec_window": (
        [exec_window(), "failed", str(err), str(program)], str(r.dir),
        None)}, rows


def test_a_child_held_before_its_program_began_ends_as_it_ended(r):
    """The record a forked child makes before its exec is the only one of
    its journal, which is dead once the exec is made: a collector pass
    while the new program has not made its first record (here held there
    for half a second) marks what that journal left unfinished LOST. The
    task was begun before that journal (the fork), so it is not among
    them, even if its parent's record of it has not come in yet: it ends
    FINISHED without the LOST reason in its error."""
    true = shutil.which("true")
    p = r.run("bash", "-c", 'LD_PRELOAD="$LD_PRELOAD:%s" '
              'MIDA_TEST_EXEC_STOP=1 %s & c=$!; sleep 0.5; kill -CONT $c;'
              ' wait $c' % (stop_library(), true))
    assert p.returncode == 0, p.stderr
    rows = r.rows("SELECT activity, status, error FROM task")
    assert sorted(rows) == [("bash", "FINISHED", None),
                            ("sleep", "FINISHED", None),
                            ("true", "FINISHED", None)], rows

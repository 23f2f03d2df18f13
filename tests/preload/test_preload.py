"""`mida run` records every process of a command and the files each one
reads and writes (issue 14), through libmida_preload.so. Each test runs a
real command under `mida run` with a store of its own and compares what the
store holds with the exact lineage expected: tasks and their parents,
files used and generated, bytes, and task dependencies."""

import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from preload_support import (Run, build_dir, clean_env, helper, library,
                             mida_bin)


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def write(path, text):
    pathlib.Path(path).write_text(text)


# bash starts its commands with fork(), Debian's sh (dash) with vfork().
@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_shell_pipeline(r, shell):
    write(r.dir / "in", "b\na\nb\n")
    p = r.run(shell, "-c", "sort in > a; uniq -c a > b; cat b | wc -l > n")
    assert p.returncode == 0, p.stderr
    assert (r.dir / "n").read_text() == "2\n"
    root = r.root()
    tasks = r.tasks()
    assert sorted(a for a, _, _ in tasks.values()) == sorted([
        shell, "cat", "sort", "uniq", "wc"])
    assert all(parent == root for t, (_, parent, _) in tasks.items()
               if t != root)
    assert all(st == "FINISHED" for _, _, st in tasks.values())
    # dash opens a simple command's redirections itself, before the vfork
    # (and restores its descriptors after): it creates a and b too.
    by_shell = {("sh", "generated", "a"), ("sh", "generated", "b")} \
        if shell == "sh" else set()
    assert r.links(r.dir) == {
        ("sort", "used", "in"), ("sort", "generated", "a"),
        ("uniq", "used", "a"), ("uniq", "generated", "b"),
        ("cat", "used", "b"), ("wc", "generated", "n")} | by_shell
    # The file one process generated is the data the next one used.
    rows = r.link_rows()
    for name in ("a", "b"):
        ids = {d for _, _, d, uri, _ in rows if uri.endswith("/" + name)}
        assert len(ids) == 1, (name, rows)
    activity = {t: a for t, (a, _, _) in tasks.items()}
    bytes_of = {(activity[t], uri.rsplit("/", 1)[1], role): n
                for t, role, _, uri, n in rows}
    assert bytes_of[("sort", "in", "used")] == 6
    assert bytes_of[("sort", "a", "generated")] == 6
    assert bytes_of[("uniq", "a", "used")] == 6
    # dash made a and b (O_TRUNC) but wrote none of their bytes: those
    # sort and uniq wrote through the descriptor it shares with them.
    if shell == "sh":
        assert bytes_of[("sh", "a", "generated")] == 0
        assert bytes_of[("sh", "b", "generated")] == 0
    # The pipe between cat and wc is a dependency.
    assert r.deps() == {("wc", "cat")}


def query_after_shipping(r, sql):
    """The rows (JSON objects) of `mida query` on r's store, which waits
    for a detached shipper still at work (no sleep, no polling here) and
    must not answer with the warning of one that took too long."""
    q = subprocess.run([mida_bin(), "query", "--json", sql],
                       env=r.env(MIDA_SHIP_WAIT_MS="120000"),
                       capture_output=True, text=True, timeout=180)
    assert q.returncode == 0, q.stderr
    assert "warning" not in q.stderr, q.stderr
    return json.loads(q.stdout)


@pytest.mark.parametrize("options", [("--detach-ship",), ()])
def test_a_query_after_mida_run_returned_sees_every_record(r, options):
    """With --detach-ship mida run ends with the command's status as soon
    as the command ends and a detached `mida recover` ships what is left; a
    mida query made right after it returned waits for that shipper (no
    sleep, no polling here) and sees the whole lineage, as after the
    default, which returns once the store holds everything (the other
    tests here read the SQLite file itself right after it)."""
    write(r.dir / "in", "b\na\nb\n")
    want = {("sort", "used", "in"), ("sort", "generated", "a"),
            ("uniq", "used", "a"), ("uniq", "generated", "b"),
            ("cat", "used", "b"), ("wc", "generated", "n")}
    p = r.run("bash", "-c", "sort in > a; uniq -c a > b;"
              " cat b | wc -l > n; exit 3", options=options)
    assert p.returncode == 3, p.stderr
    rows = query_after_shipping(
        r, "SELECT t.activity, td.role, d.uri FROM task_data td"
        " JOIN task t ON t.id = td.task_id"
        " JOIN data d ON d.id = td.data_id")
    base = "file://" + str(r.dir) + "/"
    got = {(e["activity"], e["role"], e["uri"][len(base):])
           for e in rows if e["uri"].startswith(base)}
    assert got == want, options
    assert r.rows("SELECT status FROM workflow") == [("ERROR",)]
    tasks = r.tasks()
    assert sorted(a for a, _, _ in tasks.values()) == [
        "bash", "cat", "sort", "uniq", "wc"]
    assert tasks[r.root()][2] == "ERROR"
    assert r.deps() == {("wc", "cat")}


def test_detach_ship_cut_short_in_a_pass_loses_nothing(r):
    """--detach-ship does not wait for the pass its collector may be in
    when the command ends: that pass dies with mida run, as in a crash,
    and the detached recover ships its segments again; every file of a
    command that writes thousands (its segments handed over while it runs)
    is in the store for a query made right after mida run returned."""
    n = 4000
    # After the quiet start (no pass in the first 0.8 s), so that passes
    # run while the command writes.
    p = r.run("bash", "-c",
              f"sleep 1; for i in $(seq {n}); do : > f$i; done",
              options=("--detach-ship",))
    assert p.returncode == 0, p.stderr
    assert query_after_shipping(
        r, "SELECT count(DISTINCT d.uri) AS n FROM task_data td"
        " JOIN data d ON d.id = td.data_id"
        " WHERE td.role = 'generated' AND d.uri LIKE '%/f%'") == [{"n": n}]


def test_detach_ship_leaves_the_store_alone_while_a_short_command_runs(r):
    """With --detach-ship, mida run neither opens nor ships to the store in
    the first 0.8 s (a quiet start): a short command runs beside no store
    work at all, the store is made only by the detached recover after it,
    and a query right after mida run returned sees everything. A command
    that runs longer has its records shipped while it runs, after the
    quiet start."""
    write(r.dir / "in", "x\n")
    p = r.run("sh", "-c", "cat in > out; sleep 0.3; "
              "if [ -e run.db ]; then echo made; else echo none; fi",
              options=("--detach-ship",))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "none\n"
    rows = query_after_shipping(
        r, "SELECT t.activity, td.role FROM task_data td"
        " JOIN task t ON t.id = td.task_id JOIN data d ON d.id = td.data_id"
        " WHERE d.uri LIKE '%/out' AND t.activity = 'cat'")
    assert rows == [{"activity": "cat", "role": "generated"}]
    # Longer: the first cat's file is in the store while the command runs.
    write(r.dir / "count.py",
          "import sqlite3\nprint(sqlite3.connect('run.db').execute("
          "\"SELECT count(*) FROM data WHERE uri LIKE '%/early'\")"
          ".fetchone()[0])\n")
    p = r.run("sh", "-c", f"cat in > early; sleep 2.5; "
              f"{sys.executable} count.py", options=("--detach-ship",))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "1\n"


def test_a_reader_waits_for_a_shipper_then_answers_with_a_warning(r):
    """A reader waits while a shipper holds the spool's shipping lock, up
    to MIDA_SHIP_WAIT_MS, then answers all the same with a warning; once
    the lock is free it answers without one."""
    p = r.run("true")
    assert p.returncode == 0, p.stderr
    lock = r.dir / "run.db.spool" / "shipping.lock"
    query = [mida_bin(), "query", "SELECT count(*) AS n FROM workflow"]
    with open(lock, "a") as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # as a detached shipper does
        q = subprocess.run(query, env=r.env(MIDA_SHIP_WAIT_MS="200"),
                           capture_output=True, text=True, timeout=60)
        assert q.returncode == 0, q.stderr
        assert "still being shipped" in q.stderr
        assert "1" in q.stdout
    q = subprocess.run(query, env=r.env(MIDA_SHIP_WAIT_MS="200"),
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0 and q.stderr == "", q.stderr


def test_eight_threads_writing_files(r):
    p = r.run(helper(), "threads", str(r.dir))
    assert p.returncode == 0, p.stderr
    assert len(r.tasks()) == 1
    want = {("preload_helper", "generated", f"t{i}.txt") for i in range(8)}
    assert r.links(r.dir) == want
    for _, role, _, uri, n in r.link_rows():
        i = uri.rsplit("/t", 1)[1][0]
        assert n == 20 * len(f"thread {i}\n")


def test_fork_without_exec(r):
    p = r.run(helper(), "fork", str(r.dir))
    assert p.returncode == 0, p.stderr
    root = r.root()
    tasks = r.tasks()
    assert len(tasks) == 2
    child = next(t for t in tasks if t != root)
    assert tasks[child] == ("preload_helper", root, "FINISHED")
    rows = r.link_rows()
    assert {(t, role) for t, role, _, _, _ in rows} == {
        (child, "generated"), (root, "used")}
    assert len({d for _, _, d, _, _ in rows}) == 1


def test_posix_spawn(r):
    write(r.dir / "in", "spawned\n")
    p = r.run(helper(), "spawn", str(r.dir))
    assert p.returncode == 0, p.stderr
    root = r.root()
    tasks = r.tasks()
    assert sorted(tasks.values()) == [
        ("cat", root, "FINISHED"), ("preload_helper", None, "FINISHED")]
    assert r.links(r.dir) == {("cat", "used", "in"),
                              ("cat", "generated", "out")}


def test_vfork_children_as_a_shell_makes_them(r):
    """A vfork child runs in its parent's memory until it execs: it is a
    task of its own all the same, its redirections are its program's, and
    its parent goes on recording as before (helper.c, mode_vfork)."""
    write(r.dir / "in", "input\n")
    p = r.run(helper(), "vfork", str(r.dir))
    assert p.returncode == 0, p.stderr
    root = r.root()
    rows = r.rows("SELECT id, activity, parent_id, generated, custom"
                  " FROM task")
    shell = next(i for i, a, _, _, _ in rows if a == "sh")
    assert sorted((a, parent or "", gen) for _, a, parent, gen, _ in rows) == [
        ("cat", shell, '{"exit_status":0}'),
        ("preload_helper", "", '{"exit_status":0}'),
        ("preload_helper", root, '{"exit_status":127}'),
        ("preload_helper", root, '{"exit_status":3}'),
        ("sh", root, '{"exit_status":0}')]
    # The children that never exec'd ran the helper: recorded as a forked
    # child records itself.
    for _, a, parent, _, custom in rows:
        if a == "preload_helper" and parent == root:
            assert '"exe":' in custom and "preload_helper" in custom, custom
    # sh wrote log3 (its builtin echo); out, its stdout, only cat wrote:
    # the offset sh shares with cat moved by cat's writes alone.
    assert r.links(r.dir) == {
        ("cat", "used", "in"), ("cat", "generated", "out"),
        ("sh", "generated", "log3"),
        ("preload_helper", "generated", "after.txt")}


def test_a_shells_vfork_stays_a_vfork(r):
    """dash starts each command with vfork(); made a fork() by the library,
    each child copied the shell's page tables and took a page fault for
    each page either wrote before the exec. strace, run under `mida run`,
    watches the shell's children being made."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/deps/tests.apt)")
    out = r.dir / "trace"
    p = r.run(strace, "-f", "-o", str(out), "-e",
              "trace=vfork,fork,clone,clone3", "sh", "-c",
              "/bin/true; /bin/true > /dev/null")
    assert p.returncode == 0, p.stderr
    made = [line for line in out.read_text().splitlines()
            if ("clone" in line or "fork(" in line)
            and "resumed>" not in line and "CLONE_THREAD" not in line]
    assert len(made) == 2, made
    assert all("vfork(" in line or "CLONE_VFORK" in line
               for line in made), made
    # Each a task of its own, the shell's child (strace's own probes of
    # the kernel are children of strace, of no interest here).
    tasks = r.tasks()
    shell, = [t for t, (a, _, _) in tasks.items() if a == "sh"]
    assert sorted((a, parent, st) for a, parent, st in tasks.values()
                  if a == "true") == [("true", shell, "FINISHED")] * 2


def test_failed_exec_goes_on_as_the_same_task(r):
    p = r.run(helper(), "failexec", str(r.dir))
    assert p.returncode == 0, p.stderr
    assert list(r.tasks().values()) == [("preload_helper", None, "FINISHED")]
    assert r.links(r.dir) == {("preload_helper", "generated", "after.txt")}


def test_write_temporary_then_rename(r):
    p = r.run(helper(), "rename", str(r.dir))
    assert p.returncode == 0, p.stderr
    assert r.links(r.dir) == {("preload_helper", "generated", "final")}
    assert r.rows("SELECT count(*) FROM data WHERE uri LIKE '%.tmp'") == [
        (0,)]


def test_dup2_redirection(r):
    p = r.run(helper(), "dup2", str(r.dir))
    assert p.returncode == 0, p.stderr
    rows = r.link_rows()
    assert [(role, uri.rsplit("/", 1)[1], n)
            for _, role, _, uri, n in rows] == [("generated", "log", 26)]


def test_shell_redirection_is_the_programs(r):
    write(r.dir / "in", "x\n")
    p = r.run("bash", "-c", "cat < in > out 2> err; true")
    assert p.returncode == 0, p.stderr
    links = r.links(r.dir)
    assert ("cat", "used", "in") in links
    assert ("cat", "generated", "out") in links


def test_sigkill_midway_keeps_what_was_done(r):
    cmd = [mida_bin(), "run", "--no-mlflow", "--", helper(), "killme",
           str(r.dir)]
    proc = subprocess.Popen(cmd, env=r.env(), cwd=r.dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready = r.dir / "ready"
    for _ in range(300):
        if ready.exists():
            break
        time.sleep(0.05)
    assert ready.exists()
    os.kill(int(ready.read_text()), signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGKILL
    tasks = r.tasks()
    assert list(tasks.values()) == [("preload_helper", None, "ERROR")]
    assert r.rows("SELECT generated FROM task") == [('{"signal":9}',)]
    links = r.links(r.dir)
    assert ("preload_helper", "generated", "done.txt") in links
    # The file open at the kill is not (its identity is taken at close).
    assert not any(name == "partial.txt" for _, _, name in links)


def test_static_binary_is_a_task_with_a_note(r):
    static = helper(static=True)
    if not os.path.exists(static):
        pytest.skip("no static C library to build a static program")
    p = r.run(static, "rename", str(r.dir))
    assert p.returncode == 0, p.stderr
    (custom,), = r.rows("SELECT custom FROM task")
    assert "a static binary: its files were not recorded" in custom
    assert r.links(r.dir) == set()
    assert r.counter("run.unobserved_programs") == 1
    # Started by an observed shell, it is that shell's child task.
    r2 = Run(r.dir / "nested")
    r2.dir.mkdir()
    p = r2.run("bash", "-c", f"{static} rename {r2.dir}; true")
    assert p.returncode == 0, p.stderr
    acts = {a: c for a, c in r2.rows("SELECT activity, custom FROM task")}
    assert set(acts) == {"bash", "preload_helper_static"}
    assert "not_observed" in acts["preload_helper_static"]
    # Its exe is the program it became, not the shell's that forked it
    # (until 2026-12-06 the shell's stayed: /usr/bin/bash).
    real = os.path.realpath(static)
    assert json.loads(acts["preload_helper_static"])["exe"] == real, acts
    assert r2.counter("run.unobserved_programs") == 1
    # Started by sh, which execs it in a vfork child: recorded by sh.
    r3 = Run(r.dir / "vforked")
    r3.dir.mkdir()
    p = r3.run("sh", "-c", f"{static} rename {r3.dir}; true")
    assert p.returncode == 0, p.stderr
    rows = r3.rows("SELECT activity, custom, used, status FROM task")
    acts = {a: (c, u, st) for a, c, u, st in rows}
    assert set(acts) == {"sh", "preload_helper_static"}, rows
    custom, used, status = acts["preload_helper_static"]
    assert "a static binary: its files were not recorded" in custom
    assert json.loads(custom)["exe"] == real, custom
    assert json.loads(used)["argv"][1:] == ["rename", str(r3.dir)]
    assert status == "FINISHED"
    assert r3.links(r3.dir) == set()
    assert r3.counter("run.unobserved_programs") == 1


def test_errno_is_preserved(r):
    p = r.run(helper(), "errno", str(r.dir))
    assert p.returncode == 0, p.stdout + p.stderr


def test_signal_handlers_calling_wrapped_functions(r):
    write(r.dir / "in", "input\n")
    p = r.run(helper(), "signals", str(r.dir))
    assert p.returncode == 0, p.stderr
    links = r.links(r.dir)
    assert ("preload_helper", "used", "in") in links
    assert ("preload_helper", "generated", "sig.txt") in links


def test_fork_while_threads_work(r):
    p = r.run(helper(), "forkthreads", str(r.dir))
    assert p.returncode == 0, p.stderr
    root = r.root()
    tasks = r.tasks()
    children = [t for t in tasks if t != root]
    assert len(children) == 20
    assert all(tasks[c] == ("preload_helper", root, "FINISHED")
               for c in children)
    made = {(t, uri.rsplit("/", 1)[1]) for t, role, _, uri, _ in
            r.link_rows() if role == "generated" and "/c" in uri}
    assert {name for _, name in made} == {f"c{i}.txt" for i in range(20)}
    assert {t for t, _ in made} == set(children)


def test_python_subprocess(r):
    write(r.dir / "in", "x\n")
    p = r.run("python3", "-c", "import subprocess; subprocess.run(['cat',"
              " 'in'], stdout=open('out', 'w'), close_fds=True, check=True)")
    assert p.returncode == 0, p.stderr
    links = r.links(r.dir)
    assert {("cat", "used", "in"), ("cat", "generated", "out")} <= links
    assert not any(a == "cat" and name not in ("in", "out")
                   for a, _, name in links)


def test_a_file_changed_by_its_reader_is_recorded_as_at_close(r):
    """The library may take a program's own fstat of a file it only reads
    as the file's identity at close (src/preload/files.c, seen_stat), but
    not when the process itself changed the file in between: appended
    through another descriptor (a, d: that writer opened after the fstat,
    or before it) or truncated by name (b). The version used is the one at
    close, as when the library asks fstat itself."""
    p = r.run(helper(), "statchange", str(r.dir))
    assert p.returncode == 0, p.stderr
    used = {uri.rsplit("/", 1)[1]: int(data.rsplit(":", 1)[1])
            for _, role, data, uri, _ in r.link_rows() if role == "used"}
    assert used == {"a": 10, "b": 2, "d": 6}


def test_a_file_ftruncated_again_by_its_writer_is_recorded_as_at_close(r):
    """A writer opened with O_TRUNC is marked truncated from its open, so
    an ftruncate() through it later changes none of its marks or bytes:
    the reader's fstat, taken before, must not stand for the file at the
    reader's close (src/preload/names.c, ftruncate)."""
    p = r.run(helper(), "statftruncate", str(r.dir))
    assert p.returncode == 0, p.stderr
    used = {uri.rsplit("/", 1)[1]: int(data.rsplit(":", 1)[1])
            for _, role, data, uri, _ in r.link_rows() if role == "used"}
    assert used == {"e": 2}


def test_a_file_changed_by_an_open_not_followed_is_recorded_as_at_close(r):
    """Opens through which the process changes a file unseen -- O_TRUNC
    with O_RDONLY (g), a writer opened while the file table is full (h)
    -- make the reader's earlier fstat stale: each reader used the file
    as it is at its close."""
    p = r.run(helper(), "statunseen", str(r.dir))
    if p.returncode == 4:
        pytest.skip("RLIMIT_NOFILE leaves no room for 1,100 descriptors")
    assert p.returncode == 0, p.stderr
    sizes = {}
    for _, role, data, uri, _ in r.link_rows():
        name = uri.rsplit("/", 1)[1]
        if role == "used" and name in ("g", "h"):
            sizes.setdefault(name, set()).add(int(data.rsplit(":", 1)[1]))
    assert sizes == {"g": {0}, "h": {10}}


@pytest.mark.parametrize("made", [False, True],
                         ids=["existing", "made-exclusively"])
def test_a_writer_closed_after_writing_more_leaves_no_stale_fstat(r, made):
    """The summary of the process's writes taken with a kept fstat
    (files.c, own_writes) must move on every write: a writer that had
    written one byte when the reader's fstat was taken, then writes more
    into the same file and is closed before the reader, left the sum as
    it was (the closed writer's byte gone, the epoch one up), and the
    reader's fstat, older than those bytes, stood for the file at close.
    The same with the file made by its writer with O_CREAT | O_EXCL: such
    writers are left out of the kept fstats of files opened before them
    (files.c, writer_excl), which they cannot be, but not of this one,
    the very file made, opened again for reading."""
    flags = "os.O_WRONLY"
    if made:
        flags += " | os.O_CREAT | os.O_EXCL"
    else:
        write(r.dir / "f", "")
    script = ("import os\n"
              f"w = os.open('f', {flags})\n"
              "os.write(w, b'a')\n"
              "fd = os.open('f', os.O_RDONLY)\n"
              "os.fstat(fd)\n"
              "os.read(fd, 100)\n"
              "os.write(w, b'bcdef')\n"
              "os.close(w)\n"
              "os.close(fd)\n")
    p = r.run("python3", "-c", script)
    assert p.returncode == 0, p.stderr
    used = {int(data.rsplit(":", 1)[1])
            for _, role, data, uri, _ in r.link_rows()
            if role == "used" and uri.endswith("/f")}
    assert used == {6}, used


def test_a_file_read_while_another_is_made_exclusively_keeps_its_fstat(r):
    """The other side: a file opened and fstat()ed before another is made
    exclusively, which is written and closed before it (cp's order), is
    used as it is, and the copy generated as it is. (That the library
    then makes no fstat of its own: test_library.py.)"""
    write(r.dir / "src", "0123456789")
    script = ("import os\n"
              "fd = os.open('src', os.O_RDONLY)\n"
              "os.fstat(fd)\n"
              "data = os.read(fd, 100)\n"
              "w = os.open('dst', os.O_WRONLY | os.O_CREAT | os.O_EXCL)\n"
              "os.write(w, data)\n"
              "os.close(w)\n"
              "os.close(fd)\n")
    p = r.run("python3", "-c", script)
    assert p.returncode == 0, p.stderr
    sizes = {(uri.rsplit("/", 1)[1], role): int(data.rsplit(":", 1)[1])
             for _, role, data, uri, _ in r.link_rows()
             if uri.endswith(("/src", "/dst"))}
    assert sizes == {("src", "used"): 10, ("dst", "generated"): 10}, sizes


def test_a_file_read_while_it_is_the_log_on_stdout_is_as_at_close(r):
    """A writer inherited from the parent -- stdout sent to a log file --
    leaves a kept fstat of another file trusted: its file is known, and it
    changes no other. But a program that reads that very log, fstat()s it
    and then prints (libc's stdio writes it unseen) used the log as it is
    at its close, not at its fstat."""
    write(r.dir / "log", "hello\n")
    script = ("import ctypes, os\n"
              "fd = os.open('log', os.O_RDONLY)\n"
              "os.fstat(fd)\n"
              "os.read(fd, 100)\n"
              "libc = ctypes.CDLL(None)\n"
              "libc.printf(b'more text\\n')\n"
              "libc.fflush(None)\n"
              "os.close(fd)\n")
    p = r.run("bash", "-c", f"python3 -c \"{script}\" >> log")
    assert p.returncode == 0, p.stderr
    assert (r.dir / "log").read_text() == "hello\nmore text\n"
    used = {int(data.rsplit(":", 1)[1])
            for _, role, data, uri, _ in r.link_rows()
            if role == "used" and uri.endswith("/log")}
    assert used == {16}, used


def test_a_kept_fstat_is_taken_before_what_follows_the_real_call(r):
    """What happens between the C library's answer to the program's fstat
    and the preload library's keeping of it -- another thread appends to
    the file (F), or closes the descriptor and opens another file on its
    number (X, then Y) -- must not make the answer stand for the file at
    close. fstat_hook.c, preloaded after the library, does it there."""
    hook = build_dir() / "tests" / "preload" / "libpreload_fstat_hook.so"
    env = r.env()
    first = env.get("LD_PRELOAD", "")  # sanitizer runtimes, if any
    env["LD_PRELOAD"] = ":".join(
        p for p in (first, str(library()), str(hook)) if p)
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--", helper(),
                        "statrace", str(r.dir)], env=env, cwd=r.dir,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    sizes = {}
    for _, role, data, uri, _ in r.link_rows():
        name = uri.rsplit("/", 1)[1]
        if role == "used" and name in ("F", "X", "Y"):
            sizes.setdefault(name, set()).add(int(data.rsplit(":", 1)[1]))
    assert sizes == {"F": {10}, "X": {8}, "Y": {2}}


def test_mmap_and_stdio(r):
    write(r.dir / "in", "0123456789abcdef" * 4)
    assert r.run(helper(), "mmap", str(r.dir)).returncode == 0
    assert r.run(helper(), "stdio", str(r.dir)).returncode == 0
    assert r.links(r.dir) == {
        ("preload_helper", "used", "in"),
        ("preload_helper", "generated", "mapped"),
        ("preload_helper", "generated", "s1"),
        ("preload_helper", "used", "s1"),
        ("preload_helper", "generated", "s2")}
    sizes = {uri.rsplit("/", 1)[1] + ":" + role: n
             for _, role, _, uri, n in r.link_rows()}
    assert sizes["s1:generated"] == sizes["s2:generated"] == 790
    assert sizes["s1:used"] == 790


def test_a_pipe_reader_depends_on_its_writers_only(r):
    """A process that holds a pipe's write end to its exit is a writer of
    the pipe only if it wrote into it: through write() (announced at the
    first one), libc's stdio (announced at exit: /bin/echo) or dprintf
    (the helper). Each /bin/true of a loop piped into cat holds the write
    end and writes nothing: the old rule made each one a writer at its
    exit, cat depended on the first four of them and the rest were counted
    as lost (run.pipes_lost)."""
    p = r.run("bash", "-c",
              "for i in 1 2 3 4 5 6; do /bin/true; done | cat > loop.out;"
              " (/bin/true; /bin/echo a; /bin/true; /bin/echo b;"
              f" {helper()} dprintf {r.dir}) | cat > out")
    assert p.returncode == 0, p.stderr
    assert (r.dir / "out").read_text() == "a\nb\nto stdout\n"
    deps = r.rows(
        "SELECT g.uri, u.activity FROM task_dep d"
        " JOIN task u ON u.id = d.upstream_id"
        " JOIN task_data td ON td.task_id = d.task_id"
        " AND td.role = 'generated'"
        " JOIN data g ON g.id = td.data_id ORDER BY 1, 2")
    out = "file://" + str(r.dir) + "/out"
    assert deps == [(out, "echo"), (out, "echo"),
                    (out, "preload_helper")], deps
    assert r.counter("run.pipes_lost") == 0
    # dprintf into a file is counted as write() is.
    sizes = {uri.rsplit("/", 1)[1] + ":" + role: n
             for _, role, _, uri, n in r.link_rows()}
    assert sizes["d.txt:generated"] == 11


def test_a_files_uri_encodes_what_its_name_needs(r):
    """A file's URI is its absolute path with each byte that is not a
    URI path character percent-encoded (core/fileid.c). The open finds
    most paths plain, sixteen bytes at a time and then the last few
    (src/preload/files.c, mida__pl_noise_scan), and the close then copies
    the path as it is: a byte to encode in the first sixteen, in a later
    sixteen or in the last few, a byte that stands for itself but that
    scan does not know ('~'), and an open file renamed to such a name,
    are each encoded."""
    from urllib.parse import quote
    names = ["a b", "100%", "x#y", "caf\u00e9", "tilde~ok",
             "sixteen_bytes_ok plus a space", "0123456789abcdefghij k",
             "0123456789abcdefghijklmnopqrstuv%"]
    sub = r.dir / "d"
    sub.mkdir()
    for n in names:
        write(sub / n, "x\n")
    script = ("import os, sys\n"
              "for n in sys.argv[1:]:\n"
              "    open(os.path.join('d', n), 'rb').read()\n"
              "with open('w', 'w') as f:\n"
              "    f.write('y')\n"
              "    os.rename('w', 'renamed to ?')\n"
              "    f.write('z')\n")
    p = r.run("python3", "-c", script, *names)
    assert p.returncode == 0, p.stderr
    uris = {uri for _, _, _, uri, _ in r.link_rows()}
    expect = {"file://" + quote(str(sub / n), safe="/!$&'()*+,;=:@~")
              for n in names}
    expect.add("file://" + quote(str(r.dir / "renamed to ?"),
                                 safe="/!$&'()*+,;=:@~"))
    assert expect <= uris, sorted(uris)


def test_noise_is_counted_not_recorded(r):
    lib = str(r.dir / "libx.so.1")
    write(lib, "not really a library\n")
    p = r.run("bash", "-c", "cat /proc/self/status /dev/null "
              f"{lib} > /dev/null; head -c1 /sys/kernel/mm/transparent_"
              "hugepage/enabled > /dev/null 2>&1; true")
    assert p.returncode == 0, p.stderr
    assert r.link_rows() == []
    assert r.counter("run.ignored_opens") >= 3


def test_only_a_shared_librarys_name_is_noise(r):
    """The ".so" that makes a name a shared library's ends it or is
    followed by a version: "x.sock" and "x.solution" are data."""
    names = ["libx.so", "libx.so.1.2", "x.sock", "x.solution", "x.s"]
    for n in names:
        write(r.dir / n, "x\n")
    p = r.run("cat", *[str(r.dir / n) for n in names])
    assert p.returncode == 0, p.stderr
    assert {uri.rsplit("/", 1)[1] for _, _, _, uri, _ in r.link_rows()} == {
        "x.sock", "x.solution", "x.s"}


def test_an_interpreters_installed_code_is_noise(r):
    """A Python program imports its standard library and packages (and
    their __pycache__): software, not the program's data. Its own script
    and the files it reads and writes are recorded."""
    site = r.dir / "env" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    write(site / "helpermod.py", "VALUE = 1\n")
    write(r.dir / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    write(r.dir / "in", "x\n")
    write(r.dir / "job.py", "import sys, json, decimal, email.message\n"
          f"sys.path.insert(0, {str(site)!r})\n"
          "import helpermod\n"
          f"open({str(r.dir / 'env' / 'pyvenv.cfg')!r}).read()\n"
          "open('out', 'w').write(open('in').read())\n")
    p = r.run("python3", "job.py")
    assert p.returncode == 0, p.stderr
    uris = {uri for _, _, _, uri, _ in r.link_rows()}
    assert not any("/__pycache__/" in u or "/site-packages/" in u or
                   "/lib/python3" in u or u.endswith("pyvenv.cfg")
                   for u in uris), sorted(uris)
    assert {("python3", "used", "job.py"), ("python3", "used", "in"),
            ("python3", "generated", "out")} <= r.links(r.dir)
    assert r.counter("run.ignored_opens") >= 3


def test_installed_code_is_recorded_when_asked(r):
    """--record-code (or MIDA_PRELOAD_RECORD_CODE=1 in mida run's
    environment) turns the rule above off: the package module, its
    __pycache__ and pyvenv.cfg are then data the program used."""
    site = r.dir / "env" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    write(site / "helpermod.py", "VALUE = 1\n")
    write(r.dir / "env" / "pyvenv.cfg", "home = /usr/bin\n")
    (r.dir / "__pycache__").mkdir()
    write(r.dir / "__pycache__" / "cached.bin", "x\n")
    write(r.dir / "job.py", "import sys\n"
          f"sys.path.insert(0, {str(site)!r})\n"
          "import helpermod\n"
          f"open({str(r.dir / 'env' / 'pyvenv.cfg')!r}).read()\n"
          f"open({str(r.dir / '__pycache__' / 'cached.bin')!r}).read()\n")
    p = r.run("python3", "job.py", options=("--record-code",))
    assert p.returncode == 0, p.stderr
    expected = {("python3", "used", "job.py"),
                ("python3", "used",
                 "env/lib/python3.11/site-packages/helpermod.py"),
                ("python3", "used", "env/pyvenv.cfg"),
                ("python3", "used", "__pycache__/cached.bin")}
    assert expected <= r.links(r.dir), sorted(r.links(r.dir))
    # The same through the environment, into a store of its own.
    r2 = Run(r.dir / "by-env")
    r2.dir.mkdir()
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--", "python3",
                        str(r.dir / "job.py")],
                       env=r2.env(MIDA_PRELOAD_RECORD_CODE="1"), cwd=r2.dir,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert expected <= r2.links(r.dir), sorted(r2.links(r.dir))


def test_a_systems_installed_headers_and_libraries_are_noise(r):
    """A C compiler reads a hundred system headers for each file it
    compiles, and its own internals, crt files and archives when it links
    (under /usr/include, /usr/lib, /lib): the system's installed code,
    like its shared libraries, not the build's data. The project's source
    and header are recorded, and what it made; --record-code records the
    system's files too."""
    write(r.dir / "util.h", "int twice(int a);\n")
    write(r.dir / "main.c", '#include <stdio.h>\n#include "util.h"\n'
          "int twice(int a) { return 2 * a; }\n"
          'int main(void) { printf("%d\\n", twice(21)); return 0; }\n')
    p = r.run("cc", "-O1", "-o", "prog", "main.c")
    assert p.returncode == 0, p.stderr
    system = ("file:///usr/include/", "file:///usr/lib/", "file:///lib/",
              "file:///usr/libexec/")
    uris = {uri for _, _, _, uri, _ in r.link_rows()}
    assert not any(u.startswith(system) for u in uris), sorted(uris)
    assert {("cc1", "used", "main.c"), ("cc1", "used", "util.h")} <= \
        r.links(r.dir), sorted(r.links(r.dir))
    assert any(role == "generated" and path == "prog"
               for _, role, path in r.links(r.dir)), sorted(r.links(r.dir))
    # stdio.h and what it includes, the crt files, libc's linker script...
    assert r.counter("run.ignored_opens") >= 10
    r2 = Run(r.dir / "code")
    r2.dir.mkdir()
    p = r2.run("cc", "-O1", "-o", str(r2.dir / "prog"),
               str(r.dir / "main.c"), options=("--record-code",))
    assert p.returncode == 0, p.stderr
    assert ("cc1", "used", "/usr/include/stdio.h") in r2.links(), \
        sorted(r2.links())


def test_ignore_option_and_digest(r):
    write(r.dir / "skip.txt", "x\n")
    p = r.run("bash", "-c", "cat skip.txt > out.txt",
              options=("--ignore", str(r.dir / "skip"), "--digest"))
    assert p.returncode == 0, p.stderr
    assert r.links(r.dir) == {("cat", "generated", "out.txt")}
    import hashlib
    want = "sha256:" + hashlib.sha256(b"x\n").hexdigest()
    assert r.rows("SELECT digest FROM data") == [(want,)]


def test_no_files_option(r):
    write(r.dir / "in", "x\n")
    p = r.run("cat", "in", options=("--no-files",))
    assert p.returncode == 0 and p.stdout == "x\n"
    assert r.link_rows() == []
    assert len(r.tasks()) == 1


def test_make_j2_of_a_c_project(r):
    src = r.dir / "proj"
    src.mkdir()
    write(src / "util.h", "int add(int a, int b);\nint twice(int a);\n")
    write(src / "add.c", '#include "util.h"\nint add(int a, int b) '
          "{ return a + b; }\n")
    write(src / "twice.c", '#include "util.h"\nint twice(int a) '
          "{ return add(a, a); }\n")
    write(src / "main.c", '#include <stdio.h>\n#include "util.h"\n'
          'int main(void) { printf("%d\\n", twice(21)); return 0; }\n')
    write(src / "Makefile",
          "OBJ = main.o add.o twice.o\n"
          "prog: $(OBJ)\n\t$(CC) -o $@ $(OBJ)\n"
          "%.o: %.c util.h\n\t$(CC) -O1 -c $<\n")
    p = r.run("make", "-j2", cwd=src)
    assert p.returncode == 0, p.stderr
    assert subprocess.run([str(src / "prog")], capture_output=True,
                          text=True).stdout == "42\n"
    rows = r.link_rows()
    uris = {uri for _, _, _, uri, _ in rows}
    assert not any(u.startswith(("file:///proc", "file:///dev",
                                 "file:///sys")) or ".so" in u
                   for u in uris), uris
    # Walk the graph downstream, data -> tasks that used it -> data they
    # generated: each source reaches its object, and every object the
    # binary.
    used_by, generated_by = {}, {}
    uri_of = {}
    for task, role, data, uri, _ in rows:
        uri_of[data] = uri
        (used_by if role == "used" else generated_by).setdefault(
            data, set()).add(task)
    made = {}
    for data, tasks in generated_by.items():
        for t in tasks:
            made.setdefault(t, set()).add(data)

    def downstream(uri):
        start = [d for d, u in uri_of.items() if u == uri]
        seen, todo = set(start), list(start)
        while todo:
            d = todo.pop()
            for t in used_by.get(d, ()):
                for out in made.get(t, ()):
                    if out not in seen:
                        seen.add(out)
                        todo.append(out)
        return {uri_of[d] for d in seen}

    base = "file://" + str(src)
    for name in ("main", "add", "twice"):
        reach = downstream(f"{base}/{name}.c")
        assert f"{base}/{name}.o" in reach, (name, reach)
        assert f"{base}/prog" in reach, (name, reach)
        assert f"{base}/prog" in downstream(f"{base}/{name}.o")
    # util.h is used by every compilation.
    assert ("cc1", "used", "util.h") in r.links(src)
    # No step used a version of a file that it generated itself: the
    # linker opens its output O_RDWR|O_CREAT|O_TRUNC and reads it back,
    # and was recorded as using the program it made, a loop.
    loops = {uri_of[d] for d, tasks in used_by.items()
             if tasks & generated_by.get(d, set())}
    assert not loops, loops
    root = r.root()
    assert r.tasks()[root][0] == "make"


@pytest.mark.parametrize("cmd", [
    ["bash", "-c", "cat in; echo to-err >&2; exit 3"],
    ["bash", "-c", "sort -r in | uniq -c | head -n 2"],
    ["bash", "-c", "kill -TERM $$"],
    ["bash", "-c", "exec 3>x; echo hi >&3; exec 3>&-; cat x; ls nope"],
    ["python3", "-c", "import os, sys; print(open('in').read()[:4]);"
     " sys.stderr.write(str(os.path.getsize('in'))); sys.exit(5)"],
    ["tar", "-cf", "-", "in"],
])
def test_output_and_exit_status_unchanged(tmp_path, cmd):
    (tmp_path / "in").write_text("line b\nline a\nline b\n")
    plain = subprocess.run(cmd, cwd=tmp_path, env=clean_env(),
                           capture_output=True, timeout=60)
    (tmp_path / "x").unlink(missing_ok=True)
    r = Run(tmp_path)
    observed = subprocess.run([mida_bin(), "run", "--no-mlflow", "--", *cmd],
                              cwd=tmp_path,
                              env=r.env(), capture_output=True, timeout=60)
    assert observed.returncode == (plain.returncode if plain.returncode >= 0
                                   else 128 - plain.returncode)
    if cmd[0] == "tar":  # the archive holds the file's times, not ours
        assert len(observed.stdout) == len(plain.stdout)
    else:
        assert observed.stdout == plain.stdout
    assert observed.stderr == plain.stderr

"""A child made by fork() that is killed before it records anything (its
first record would be its begin) is recorded by its parent when it reaps
it (src/preload/process.c): as running its parent's program if it never
exec'd, with its parent's argv; a child killed after its exec keeps the
program it became. (QA's `sleep 10 & kill -9 $!` is not a test here, as
its kill lands where it may; a kill after the exec and before sleep's
first record, which under ASan is often hit, is test_run_exec_window.py's,
made to land there every time.)"""

import json

import pytest

from preload_support import Run


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def killed(r):
    """[(activity, argv, parent id)] of the tasks killed by SIGKILL."""
    return [(a, json.loads(u)["argv"] if u else None, p) for a, u, p in r.rows(
        "SELECT activity, used, parent_id FROM task"
        " WHERE error = 'killed by signal 9 (KILL)'")]


def test_a_subshell_killed_before_it_recorded_anything_is_the_shell(r):
    # The subshell only loops over a builtin: no record of its own, ever.
    script = "( while :; do :; done ) & kill -9 $!; wait; true"
    p = r.run("bash", "-c", script)
    assert p.returncode == 0, p.stderr
    root = r.root()
    assert killed(r) == [("bash", ["bash", "-c", script], root)]
    (custom,), = r.rows("SELECT custom FROM task WHERE error IS NOT NULL")
    assert json.loads(custom)["exe"].endswith("/bash"), custom


def test_a_child_killed_after_its_exec_keeps_its_program(r):
    # Killed once sleep runs (its comm says so) and has had time to record
    # its begin: its parent must not make it bash again.
    script = ("sleep 10 & p=$!; until read -r c < /proc/$p/comm &&"
              " [ \"$c\" = sleep ]; do :; done; sleep 0.3; kill -9 $p; wait;"
              " true")
    p = r.run("bash", "-c", script)
    assert p.returncode == 0, p.stderr
    assert killed(r) == [("sleep", ["sleep", "10"], r.root())]


def test_a_child_killed_with_its_parent_is_lost_not_running(r):
    """A process group killed at once (as a batch system cancels a job):
    the inner bash is reaped by the command, which records its signal,
    but its child sleep has no one to reap it and record its end. Its
    journal is dead and its pid is no process (or a zombie awaiting a
    slow reaper): recovery marks its task LOST, though the task was begun
    by its parent before that journal (src/capture/recovery.c,
    lost_from)."""
    # Killed once the inner sleep runs and has had time to record its
    # begin (a fixed 0.5 s was not enough on a loaded machine: the group
    # was killed before the inner bash had started its sleep).
    script = ('setsid bash -c "sleep 30; true" & p=$!; c=;'
              ' until [ -n "$c" ] && read -r n < /proc/$c/comm &&'
              ' [ "$n" = sleep ]; do'
              ' read -r c < /proc/$p/task/$p/children; done;'
              ' sleep 0.3; kill -KILL -- -$p; wait; true')
    p = r.run("bash", "-c", script)
    assert p.returncode == 0, p.stderr
    rows = sorted(r.rows("SELECT activity, status, used FROM task"))
    got = [(a, s, json.loads(u)["argv"]) for a, s, u in rows]
    assert got == [
        ("bash", "ERROR", ["bash", "-c", "sleep 30; true"]),
        ("bash", "FINISHED", ["bash", "-c", script]),
        ("sleep", "FINISHED", ["sleep", "0.3"]),
        ("sleep", "LOST", ["sleep", "30"])], got

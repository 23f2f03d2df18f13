"""Processes of the command that outlive it (src/cli/run_left.c): a child
it did not wait for, as the resource tracker of Python's multiprocessing
(started by every Dask LocalCluster) ends a few milliseconds after the
program. `mida run` waits up to half a second for them before its last
pass, so their ends are in the store when it returns; a daemon that goes
on is left running and counted (run.processes_left_running); other
programs writing to the same store are none of its business."""

import os
import signal
import subprocess
import time

from preload_support import Run, mida_bin


# A child that outlives the command is found by its journal, which it
# makes with its first record: the command waits until the child has made
# one (its close of mark.tmp; the file is renamed into place by a process
# started after that close), as a program that started it long before
# its end would have, so that neither a slow start (the ASan runtime) nor
# the order of the two decides the test.
MARK = "echo up > mark.tmp && mv mark.tmp mark"
AWAIT_MARK = "until [ -e mark ]; do :; done"


def run_popen(r, *cmd):
    p = subprocess.Popen([mida_bin(), "run", "--no-mlflow", "--", *cmd],
                         env=r.env(), cwd=r.dir, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return p.pid


def test_a_child_that_ends_soon_after_the_command_is_in_the_store(tmp_path):
    r = Run(tmp_path)
    pid = run_popen(r, "sh", "-c", "(" + MARK + "; sleep 0.2; echo hi > out)"
                    " & " + AWAIT_MARK + "; exit 0")
    assert (tmp_path / "out").read_text() == "hi\n"
    got = sorted(r.rows("SELECT activity, status FROM task"))
    assert got == [("mv", "FINISHED"), ("sh", "FINISHED"),
                   ("sh", "FINISHED"), ("sleep", "FINISHED")], got
    assert ("sh", "generated", "out") in r.links(under=tmp_path)
    assert r.counter("run.processes_left_running", pid) == 0


def test_a_daemon_is_left_running_and_counted(tmp_path):
    r = Run(tmp_path)
    t0 = time.monotonic()
    # The daemon is the subshell itself, blocked opening a FIFO no one
    # writes: one process, no exec (a program exec'd makes its journal
    # only with its first record, which sleep might never make).
    os.mkfifo(tmp_path / "never")
    pid = run_popen(r, "sh", "-c",
                    "(" + MARK + "; read x < never) >/dev/null 2>&1 &"
                    " echo $! > daemon; " + AWAIT_MARK + "; exit 0")
    took = time.monotonic() - t0
    daemon = int((tmp_path / "daemon").read_text())
    try:
        os.kill(daemon, 0)  # still there: mida run did not wait it out
        assert took < 25, took
        assert sorted(r.rows("SELECT status FROM task"
                             " WHERE activity = 'sh'")) == [
            ("FINISHED",), ("RUNNING",)]
        assert r.counter("run.processes_left_running", pid) == 1
    finally:
        os.kill(daemon, signal.SIGKILL)


def test_another_programs_process_on_the_store_is_not_awaited(tmp_path):
    r = Run(tmp_path)
    other = subprocess.Popen([mida_bin(), "run", "--no-mlflow", "--", "sh",
                              "-c", "echo go > started; sleep 5"],
                             env=r.env(), cwd=tmp_path)
    try:
        while not (tmp_path / "started").exists():
            time.sleep(0.02)
        time.sleep(0.2)  # its sleep has begun and recorded so
        pid = run_popen(r, "true")
        assert r.counter("run.processes_left_running", pid) == 0
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()

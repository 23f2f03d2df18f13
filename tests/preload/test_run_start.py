"""`mida run` starts the command without waiting for a local store: the
store opens on the shipper's thread while the command starts, and the
command's fork must not wait for that opening either (libmida's fork guard,
src/sink/sink.c, holds a fork back until the store call in flight is done;
the command's child only execs, so mida run starts it without the guard:
posix_spawn, or a fork without the handlers).
Until then, a store locked by another program (a long transaction, a
backup) held the command back for as long as the lock lasted."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from preload_support import Run, mida_bin


def test_the_command_starts_while_the_store_is_locked(tmp_path):
    r = Run(tmp_path)
    assert r.run("true").returncode == 0  # the store exists, in WAL mode
    locker = sqlite3.connect(r.store, isolation_level=None)
    locker.execute("PRAGMA locking_mode = EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")
    locker.execute("INSERT INTO mida_meta(key, value) VALUES('lock', '1')")
    marker = tmp_path / "started"
    p = subprocess.Popen([mida_bin(), "run", "--no-mlflow", "--", "touch",
                          str(marker)], env=r.env(), cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        # The command runs while the lock is held (it is released only
        # after): not seen within 30 s means it waited for the store.
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        started = marker.exists()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    out, err = p.communicate(timeout=120)
    assert started, "the command waited for the locked store"
    assert p.returncode == 0, err
    # Once the lock went, its records reached the store all the same.
    tasks = r.rows("SELECT count(*) FROM task WHERE activity = 'touch'")
    assert tasks == [(1,)], err


def test_mida_run_returns_with_every_record_in_the_store(tmp_path):
    """The command's end (its resource use, its status, the workflow's
    end) is appended just before the session stops; the shipper, which may
    be finishing the last collect pass then, must ship it before it stops,
    not leave it in the spool for a later session. One run in two left it
    there once mida run's end got faster (the inotify watch's removal),
    silently: mida_close said nothing."""
    for i in range(10):
        r = Run(tmp_path / str(i))
        r.dir.mkdir()
        p = r.run("sh", "-c", "echo hi > /dev/null")
        assert p.returncode == 0, p.stderr
        left = [f.name for f in (r.dir / "run.db.spool").iterdir()
                if f.name.endswith(".mj")]
        assert left == [], (i, left)
        rows = r.rows("SELECT status, telemetry IS NOT NULL FROM task"
                      " WHERE parent_id IS NULL")
        assert rows == [("FINISHED", 1)], (i, rows)


def test_a_store_slow_at_the_last_pass_is_waited_for_and_said(tmp_path):
    """The last pass, after the command ended, found the store locked by
    another writer for longer than its 10 s (FINISH_WAIT_MS): until
    2026-12-06 mida run then ended without a word, the command's last
    records left in the spool. A local store's lock ends: it is waited for,
    said once, and mida run returns with every record in the store."""
    r = Run(tmp_path)
    assert r.run("true").returncode == 0  # the store exists, in WAL mode
    marker = tmp_path / "ended"
    script = f"cat /dev/null > {marker}; sleep 0.5; /bin/echo hi"
    p = subprocess.Popen([mida_bin(), "run", "--no-mlflow", "--", "sh", "-c",
                          script],
                         env=r.env(), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    locker = sqlite3.connect(r.store, isolation_level=None, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.001)
        locker.execute("BEGIN IMMEDIATE")  # before the command ends
        # Past the collector's last wait for its pass in flight (5 s,
        # COLLECT_WAIT_MS) and FINISH_WAIT_MS (10 s) after it.
        time.sleep(16)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    out, err = p.communicate(timeout=150)
    assert p.returncode == 0, err
    assert out == "hi\n"
    assert err.count("the store is slow") == 1, err
    left = [f.name for f in (r.dir / "run.db.spool").iterdir()
            if f.name.endswith(".mj")]
    assert left == [], (left, err)
    tasks = r.rows("SELECT activity, status FROM task WHERE activity IN"
                   " ('sh', 'echo') ORDER BY activity")
    assert tasks == [("echo", "FINISHED"), ("sh", "FINISHED")], err


def default_signals():
    """The signals mida run forwards with their default actions, as an
    interactive shell leaves them: a runner that ignores one (a background
    job of a script ignores SIGINT and SIGQUIT, nohup SIGHUP) makes mida
    run fork the command by design, so that it inherits SIG_IGN."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)


def test_the_command_starts_without_a_copy_of_mida_run(tmp_path):
    """The command is started with posix_spawn, which glibc makes with
    clone(CLONE_VM | CLONE_VFORK): the child runs in mida run's memory
    until its exec. A fork copied the page tables of a process whose
    threads (the shipper opening the store, the sampler) go on writing
    while the child gets to its exec: each page written meanwhile was
    copied, each copy a TLB flush of the other CPU (~0.35 ms of the
    command's start here). The same holds for the detached `mida
    recover` that mida run leaves the store's copy-back to, started as
    its threads commit the last records (src/cli/run_after.h). strace
    watches the processes mida run makes (its threads aside)."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/deps/tests.apt)")
    r = Run(tmp_path)
    out = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-o", str(out), "-e", "trace=clone,clone3,fork,vfork",
         mida_bin(), "run", "--no-mlflow", "--", "true"],
        env=r.env(), cwd=tmp_path, capture_output=True, text=True,
        timeout=120, preexec_fn=default_signals)
    assert done.returncode == 0, done.stderr
    made = [line for line in out.read_text().splitlines()
            if ("clone" in line or "fork(" in line) and "resumed>" not in line
            and "CLONE_THREAD" not in line]
    assert len(made) == 2, made
    for line in made:
        assert "CLONE_VM" in line and "CLONE_VFORK" in line, made


def test_an_ignored_signal_stays_ignored_in_the_command(tmp_path):
    """A signal ignored when mida run starts (nohup's SIGHUP) is ignored in
    the command too, as exec leaves it: posix_spawn can give a signal only
    its default action, so then mida run forks the command as before."""
    r = Run(tmp_path)
    p = subprocess.run(
        [mida_bin(), "run", "--no-mlflow", "--", "grep", "^SigIgn:",
         "/proc/self/status"], env=r.env(), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert p.returncode == 0, p.stderr
    ignored = int(p.stdout.split()[1], 16)
    assert ignored & (1 << (signal.SIGHUP - 1)), p.stdout
    p = r.run("grep", "^SigIgn:", "/proc/self/status",
              preexec_fn=default_signals)
    assert p.returncode == 0, p.stderr
    ignored = int(p.stdout.split()[1], 16)
    assert not ignored & (1 << (signal.SIGHUP - 1)), p.stdout


def test_a_script_without_an_interpreter_line_runs_under_sh(tmp_path):
    """execvpe runs an executable file that exec refuses (ENOEXEC: a script
    without "#!") with /bin/sh, posix_spawnp does not: mida run then starts
    it as before."""
    script = tmp_path / "script"
    script.write_text("echo ran > done\nexit 7\n")
    script.chmod(0o755)
    r = Run(tmp_path)
    p = r.run("./script")
    assert p.returncode == 7, p.stderr
    assert (tmp_path / "done").read_text() == "ran\n"


@pytest.mark.parametrize("knob", [None, "garbage"])
def test_a_warning_does_not_hold_back_the_records_made_before_the_command(
        tmp_path, knob):
    """The workflow and the command's task reach the store while the
    command starts (the early flush, src/cli/run.c), and the command's own
    query waits for them. A malformed capture knob kept at its default is a
    warning of mida_open: it skipped the early flush, and the records
    waited for the shipper's next pass (here a minute away, MIDA_SHIP_MS)
    or the command's end."""
    r = Run(tmp_path)
    env = r.env(MIDA_SHIP_MS="60000")
    if knob is not None:
        env["MIDA_JOURNAL_BYTES"] = knob
    p = subprocess.run(
        [mida_bin(), "run", "--no-mlflow", "--", mida_bin(), "query",
         "--json", "SELECT count(*) AS n FROM task WHERE parent_id IS NULL"
         " AND status = 'RUNNING'"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == [{"n": 1}], p.stderr
    if knob is not None:
        assert "MIDA_JOURNAL_BYTES=\"garbage\" is not" in p.stderr
    else:
        assert p.stderr == ""


# Prints the size of each journal segment of its parent (mida run).
PARENT_SEGMENTS = r"""
import os, sys
spool = sys.argv[1]
mine = f".{os.getppid()}."
print(sorted(os.path.getsize(os.path.join(spool, f)) for f in os.listdir(spool)
             if mine in f and f.endswith(".mj")))
"""


@pytest.mark.parametrize("knob", ["", "garbage", "0"])
def test_a_malformed_journal_size_keeps_the_ring_of_mida_run(tmp_path, knob):
    """mida run's own journal has a small ring (RUN_JOURNAL_BYTES, 256
    KiB; the default 16 MiB cost 27 ms of its start). A MIDA_JOURNAL_BYTES
    that does not parse (or is empty) keeps the default, the warning says:
    mida run's default, not the library's."""
    script = tmp_path / "segments.py"
    script.write_text(PARENT_SEGMENTS)
    sizes = {}
    for value in (None, knob):
        r = Run(tmp_path)
        env = r.env()
        if value is not None:
            env["MIDA_JOURNAL_BYTES"] = value
        p = subprocess.run(
            [mida_bin(), "run", "--no-mlflow", "--", sys.executable,
             str(script), str(tmp_path / "run.db.spool")],
            env=env, cwd=tmp_path, capture_output=True, text=True,
            timeout=120)
        assert p.returncode == 0, p.stderr
        sizes[value] = p.stdout
    assert sizes[knob] == sizes[None], sizes


def test_the_command_s_records_follow_mida_run_s_into_a_new_store(tmp_path):
    """The command's task is begun by mida run, then described again by
    the library in the program it became (a script's interpreter): the
    library's record is the younger and wins, into a new store as into one
    that exists. A new store opens while the command runs, and its opening
    shipped the spool's ended journals first, the command's among them,
    and mida run's older begin after it: the task was named after the
    script into a new store (tool) and after its interpreter into an
    existing one (sh)."""
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    for new in (True, False, True, True):
        r = Run(tmp_path)
        if new:
            for name in ("run.db", "run.db-wal", "run.db-shm"):
                (tmp_path / name).unlink(missing_ok=True)
        p = r.run("./tool")
        assert p.returncode == 0, p.stderr
        rows = r.rows("SELECT activity, used FROM task ORDER BY started"
                      " DESC LIMIT 1")
        assert rows[0][0] == "sh", (new, rows)
        assert json.loads(rows[0][1])["argv"] == ["/bin/sh", "./tool"]

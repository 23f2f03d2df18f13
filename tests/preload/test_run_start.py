"""`mida run` starts the command without waiting for a local store: the
store opens on the shipper's thread while the command starts, and the
command's fork must not wait for that opening either (libmida's fork guard,
src/sink/sink.c, holds a fork back until the store call in flight is done;
the command's child only execs, so mida run forks it without the guard).
Until then, a store locked by another program (a long transaction, a
backup) held the command back for as long as the lock lasted."""

import os
import sqlite3
import subprocess
import time

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

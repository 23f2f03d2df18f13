"""`mida run` ships what a process records while it runs, not only when
it ends or hands over a full journal segment: its collector reads the live
segments of the preload library (mida__tail_open). These tests check that a
running program's files are in the store before it ends, and that a `mida
run` killed while it reads a live segment loses nothing: the program goes
on, and a later `mida recover` ships the rest, every file once."""

import os
import signal
import subprocess
import sys
import time

import pytest

from preload_support import Run, mida_bin


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


# Writes argv[2] files out/f<i> in argv[1], one every argv[3] seconds, then
# says so in 'written' and waits for 'go' (at most 60 s) before it ends.
WRITER = r"""
import os, pathlib, sys, time
d = pathlib.Path(sys.argv[1]); n = int(sys.argv[2]); gap = float(sys.argv[3])
(d / "out").mkdir()
(d / "pid").write_text(str(os.getpid()))
for i in range(n):
    (d / "out" / f"f{i}").write_text(str(i))
    if gap:
        time.sleep(gap)
(d / "written").write_text("yes")
for _ in range(1200):
    if (d / "go").exists():
        break
    time.sleep(0.05)
"""


def generated(r):
    """The files under out/ that the store says were generated."""
    if not os.path.exists(r.store):
        return set()
    try:
        return {p for act, role, p in r.links(r.dir / "out")
                if role == "generated"}
    except Exception:  # the store is still being made
        return set()


def wait_for(cond, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def start(r, n, gap, out=subprocess.PIPE):
    script = r.dir / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen(
        [mida_bin(), "run", "--no-mlflow", "--", sys.executable, str(script),
         str(r.dir), str(n), str(gap)],
        env=r.env(), cwd=r.dir, stdout=out, stderr=out, text=True)


def test_files_of_a_running_process_are_stored_while_it_runs(r):
    proc = start(r, 5, 0)
    try:
        assert wait_for(lambda: (r.dir / "written").exists(), 60)
        # Five records in a ring of thousands: before, they stayed in the
        # process's live segment until it ended.
        assert wait_for(lambda: len(generated(r)) == 5, 10), generated(r)
        assert proc.poll() is None  # still running
    finally:
        (r.dir / "go").write_text("")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert generated(r) == {f"f{i}" for i in range(5)}


def test_a_steady_writer_is_shipped_in_few_transactions(r):
    # One process writing files for a second or more, ~1 a millisecond:
    # each collector pass that ships is a transaction, which rewrites the
    # pages its B-trees share with the last one and syncs its commit.
    # Passes 5 ms apart whatever they found cost the store of `tar x`
    # ~30 % more CPU; a running process's records are now read when ~500
    # have come in (at most 50 ms apart), and its files are still in the
    # store within a tenth of a second or so (the test above).
    n = 3000
    started = time.monotonic()
    proc = start(r, n, 0.0005, out=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: (r.dir / "written").exists(), 120)
        writing = time.monotonic() - started
    finally:
        (r.dir / "go").write_text("")
    assert proc.wait(timeout=60) == 0
    assert generated(r) == {f"f{i}" for i in range(n)}
    passes = r.counter("run.ship_passes")
    assert passes > 0
    # 5 ms apart, a pass of its own time after each: over 40 a second.
    assert passes <= 10 + writing / 0.025, (passes, writing)


def test_mida_run_killed_while_reading_loses_nothing(r):
    n = 3000
    # No pipes: the writer, which outlives mida run, would hold them.
    proc = start(r, n, 0.0005, out=subprocess.DEVNULL)
    try:
        # Killed while the writer writes and its live segment is read.
        assert wait_for(lambda: len(generated(r)) > 0, 60)
        assert not (r.dir / "written").exists(), "the writer was too quick"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # The program goes on without mida run and ends.
        (r.dir / "go").write_text("")
        pid = int((r.dir / "pid").read_text())
        assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 120)
    finally:
        (r.dir / "go").write_text("")
    rec = subprocess.run([mida_bin(), "recover"], env=r.env(), cwd=r.dir,
                         capture_output=True, text=True, timeout=120)
    assert rec.returncode == 0, rec.stderr
    assert generated(r) == {f"f{i}" for i in range(n)}
    (count,), = r.rows(
        "SELECT count(*) FROM task_data td JOIN data d ON d.id = td.data_id"
        " WHERE td.role = 'generated' AND d.uri LIKE ?",
        f"file://{r.dir}/out/%")
    assert count == n
    assert r.counter("corrupt") == 0

"""The spool's pool of spent segment files (src/capture/spool_pool.h): the
collector of `mida run` keeps the shipped segments of the processes that
ended, renamed pool.<bytes>.<slot>, and the next processes take them as
their segments instead of making new files. Every record still reaches the
store, the pool stays bounded, and what a pooled file held before is
never read as a record."""

import os
import re

from preload_support import Run

POOL = re.compile(r"^pool\.(\d+)\.(\d+)$")


def pool_files(spool):
    return {f.name: f for f in spool.iterdir() if POOL.match(f.name)}


def test_short_processes_leave_a_bounded_pool_and_lose_nothing(tmp_path):
    r = Run(tmp_path)
    script = "for i in $(seq 60); do /bin/true; done"
    p = r.run("sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert r.rows("SELECT count(*) FROM task WHERE activity = 'true'") == \
        [(60,)]
    spool = r.dir / "run.db.spool"
    # Once seen under AddressSanitizer on a loaded machine: 3 segments left
    # while every task was stored. Their names (writer's pid, start and
    # sequence) and mida run's words, if it comes back.
    left = [f.name for f in spool.iterdir() if f.name.endswith(".mj")]
    assert left == [], (left, p.stderr)
    pool = pool_files(spool)
    assert pool, sorted(f.name for f in spool.iterdir())
    slots = {}
    for name in pool:
        size, slot = map(int, POOL.match(name).groups())
        slots.setdefault(size, set()).add(slot)
        assert (spool / name).stat().st_size == size
    # MIDA_POOL_SLOTS (spool_pool.h): 96 of each size.
    assert all(len(s) <= 96 and max(s) < 96 for s in slots.values()), slots


def test_a_later_run_takes_the_pooled_files(tmp_path):
    """A pooled file overwritten with bytes that are no journal is taken
    by a process of the next run (the bytes are gone from it), and that
    run's records are all there."""
    r = Run(tmp_path)
    assert r.run("sh", "-c", "/bin/true; /bin/true").returncode == 0
    spool = r.dir / "run.db.spool"
    pool = pool_files(spool)
    assert pool
    inodes = {}
    for name, f in pool.items():
        size = f.stat().st_size
        f.write_bytes(b"\xab" * size)
        inodes[f.stat().st_ino] = name
    p = r.run("sh", "-c", "for i in 1 2 3 4; do /bin/echo hi; done")
    assert p.returncode == 0, p.stderr
    assert r.rows("SELECT count(*) FROM task WHERE activity = 'echo'") == \
        [(4,)]
    taken = 0
    for f in spool.iterdir():
        if f.stat().st_ino in inodes:
            taken += b"\xab" * 64 not in f.read_bytes()
    assert taken >= 1, inodes


def test_a_loop_of_short_processes_takes_its_files_from_the_pool(tmp_path):
    """A shell's loop of short processes runs on the pool's files: once a
    first run has filled the pool, a second run of the same loop makes
    few segment files anew (the counter run.segment_files_made, which
    each process of the library adds its own to). Before the collector's
    held group walked the spool at each reading (src/capture/recovery.c),
    it held the loop's files out of the pool for hundreds of
    milliseconds, and with 16 slots most of the processes made a new
    file."""
    r = Run(tmp_path)
    script = "i=0; while [ $i -lt 300 ]; do /bin/true; i=$((i+1)); done"
    p = r.run("sh", "-c", script)
    assert p.returncode == 0, p.stderr
    first = r.counter("run.segment_files_made")
    assert first > 0  # a new spool: its first files are made
    p = r.run("sh", "-c", script)
    assert p.returncode == 0, p.stderr
    assert r.rows("SELECT count(*) FROM task WHERE activity = 'true'") == \
        [(600,)]
    made = r.counter("run.segment_files_made") - first
    assert made <= 30, (first, made)  # of the 301 processes of the run

"""`mida run` whose spool's file system fills while its command runs
(docs/reliability.md): the command's processes run on unchanged, and
what they could not record is counted in the store.

The pipe registry that every process of the command maps shared
(src/preload/pipes.c) has its storage from the start; until 2026-12-07 it
was a sparse file, and a process that first touched a page of it once
the spool was full (a forked shell: `$(...)`) died by SIGBUS. A process
that can make no journal segment keeps the count of its drops in that
registry, for `mida run` to record (run.dropped_records); until
2026-12-07 it had nowhere to keep it, and its records were lost
without a count."""

import sqlite3
import subprocess

import pytest

from reliability_support import MIDA_BIN, mount_tmpfs, producer_env, umount

# Fills the spool's tmpfs (dd stops at its end, and at 4 MiB whatever
# happens), then forks: the subshell of $(...) registers the pipe it
# writes into.
COMMAND = """
dd if=/dev/zero of="$FILL" bs=4k count=1024 2>/dev/null
echo "got $(echo hi)"
exit 3
"""


def test_a_command_runs_on_when_the_spool_fills(tmp_path):
    mnt = tmp_path / "mnt"
    if not mount_tmpfs(mnt, "size=2m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        spool = mnt / "spool"
        spool.mkdir(mode=0o700)
        env = producer_env("sqlite://" + str(tmp_path / "m.db"), spool,
                           FILL=mnt / "filler")
        r = subprocess.run([MIDA_BIN, "run", "--ignore", f"{mnt}/", "--",
                            "sh", "-c", COMMAND], env=env,
                           capture_output=True, text=True, timeout=60)
    finally:
        umount(mnt)
    assert "Bus error" not in r.stderr, r.stderr
    assert r.stdout == "got hi\n", r.stderr
    assert r.returncode == 3, r.stderr


# Fills the spool, then starts ten processes, none of which can make a
# journal segment; then frees the room.
TEN_UNRECORDED = """
dd if=/dev/zero of="$FILL" bs=4k count=1024 2>/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do cat /etc/hostname > out.$i; done
rm -f "$FILL"
"""


def test_what_a_full_spool_drops_is_counted(tmp_path):
    mnt = tmp_path / "mnt"
    if not mount_tmpfs(mnt, "size=2m"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    db = tmp_path / "m.db"
    try:
        spool = mnt / "spool"
        spool.mkdir(mode=0o700)
        env = producer_env("sqlite://" + str(db), spool, FILL=mnt / "filler")
        r = subprocess.run([MIDA_BIN, "run", "--ignore", f"{mnt}/", "--",
                            "sh", "-c", TEN_UNRECORDED], env=env,
                           cwd=tmp_path, capture_output=True, text=True,
                           timeout=60)
    finally:
        umount(mnt)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.10").read_text() != ""
    with sqlite3.connect(db) as c:
        [(dropped,)] = c.execute("SELECT sum(value) FROM counter WHERE "
                                 "name = 'run.dropped_records'").fetchall()
    # At least each cat's own begin (its parent records that it ran).
    assert dropped is not None and dropped >= 10

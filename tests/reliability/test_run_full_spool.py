"""`mida run` whose spool's file system fills while its command runs
(docs/reliability.md): the command's processes run on unchanged. The
pipe registry that every process of the command maps shared
(src/preload/pipes.c) has its storage from the start; until 2026-12-07 it
was a sparse file, and a process that first touched a page of it once
the spool was full (a forked shell: `$(...)`) died by SIGBUS."""

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

"""`mida recover` on a journal segment whose header is damaged (its head
set past its tail, or off the 8-byte grid): the frames are found without
the header, every valid one is shipped, and the segment is kept aside as
*.mj.quarantine, counted in `mida stats`, instead of being deleted with
records still in it (docs/reliability.md)."""

import json
import struct
import subprocess

import pytest

from reliability_support import MIDA_BIN, producer_env, run_producer

TASKS = 2000
HEAD, TAIL = 136, 128  # offsets in the segment header (journal.h)

# Records tasks that cannot be shipped (the store's directory is missing),
# then dies by SIGKILL: its journal stays in the spool.
KILLED = f"""
import os, signal, mida
with mida.workflow("damaged"):
    @mida.task
    def t(i):
        return i
    for i in range({TASKS}):
        t(i)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("damage", ["head_past_tail", "head_misaligned"])
def test_recover_salvages_a_damaged_segment(tmp_path, damage):
    spool = tmp_path / "spool"
    store_dir = tmp_path / "later"
    db = store_dir / "m.db"
    env = producer_env("sqlite://" + str(db), spool)
    rc, _, err = run_producer(KILLED, env)
    assert rc == -9, err
    [seg] = list(spool.glob("*.mj"))
    with open(seg, "r+b") as f:
        f.seek(TAIL)
        tail = struct.unpack("<Q", f.read(8))[0] & ~(1 << 63)
        head = tail + 4096 if damage == "head_past_tail" else 3
        f.seek(HEAD)
        f.write(struct.pack("<Q", head))

    store_dir.mkdir()
    r = subprocess.run([MIDA_BIN, "--store", "sqlite://" + str(db),
                        "recover", "--spool", str(spool)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "damaged header" in r.stdout, r.stdout
    assert not list(spool.glob("*.mj"))
    assert len(list(spool.glob("*.mj.quarantine"))) == 1

    q = subprocess.run([MIDA_BIN, "--store", "sqlite://" + str(db), "query",
                        "--json", "SELECT count(*) AS n FROM task WHERE "
                        "status = 'FINISHED'"],
                       capture_output=True, text=True, timeout=60)
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)[0]["n"] == TASKS

    s = subprocess.run([MIDA_BIN, "--store", "sqlite://" + str(db), "stats",
                        "--json", "--spool", str(spool)],
                       capture_output=True, text=True, timeout=60)
    assert s.returncode == 0, s.stderr
    st = json.loads(s.stdout)
    assert st["spool"]["quarantined"] == 1
    assert st["counters"]["quarantined"] == 1

    # A second recovery leaves the quarantined file alone.
    r = subprocess.run([MIDA_BIN, "--store", "sqlite://" + str(db),
                        "recover", "--spool", str(spool)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "recovered 0 records" in r.stdout

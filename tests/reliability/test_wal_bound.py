"""The WAL of an SQLite store stays bounded while steering queries run back
to back (docs/reliability.md): readers keep the ordinary checkpoints from
starting the WAL over, so the writer forces a TRUNCATE checkpoint once the
WAL passes MIDA_WAL_MAX (set small here so that a short run shows it;
bench/wal_bound.sh measures the default under a `mida query` loop over
minutes)."""

import os
import sqlite3
import subprocess
import threading
import time

from reliability_support import producer_env
from midapy_util import BUILD

TASKS = 60000


def test_wal_stays_bounded_under_a_continuous_reader(tmp_path):
    db = tmp_path / "m.db"
    wal = tmp_path / "m.db-wal"
    env = producer_env("sqlite://" + str(db), tmp_path / "spool",
                       MIDA_WAL_MAX="4M")
    producer = subprocess.Popen(
        [str(BUILD / "tests" / "mida_produce"), str(TASKS), "wal"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    biggest = [0]
    queries = [0]

    def read():
        # Steering queries back to back, each on its own connection as
        # `mida query` makes them.
        while not db.exists() and not stop.is_set():
            time.sleep(0.01)
        while not stop.is_set():
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
            try:
                con.execute("SELECT count(*), max(ended) FROM task "
                            "WHERE status = 'FINISHED'").fetchall()
                queries[0] += 1
            except sqlite3.OperationalError:
                pass  # the schema is not there yet
            con.close()
            time.sleep(0.001)

    def watch():
        while not stop.is_set():
            try:
                biggest[0] = max(biggest[0], os.stat(wal).st_size)
            except FileNotFoundError:
                pass
            time.sleep(0.01)

    threads = [threading.Thread(target=read), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    try:
        out, err = producer.communicate(timeout=300)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert producer.returncode == 0, err
    assert queries[0] > 10
    # Without the bound the WAL passes 32 MiB (the automatic checkpoint
    # starts there) and keeps growing; with it, it stays near 4 MiB.
    assert biggest[0] < 24 << 20, f"WAL reached {biggest[0]} bytes"
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM task WHERE activity = 'wal' "
                       "AND status = 'FINISHED'").fetchone()[0] == TASKS
    con.close()

"""The end of `mida run` into a local SQLite store (src/cli/run.c,
settle_after; src/cli/run_after.h): mida run returns once the command's
records are committed, and leaves the store's copy-back (the WAL copied
into the database file, both synced, the WAL removed) to a detached
`mida recover` that runs once mida run is gone. `--wait-sync` does it
before returning, as every run did before. Either way the store ends as
one file on the disk holding every record.

strace follows mida run and every process it forks, the detached recover
among them, and returns only when they have all ended; `-y` names the
file of each fdatasync."""

import fcntl
import os
import re
import shutil
import sqlite3
import subprocess

import pytest

from preload_support import Run, clean_env, library_env, mida_bin

SYNC = re.compile(r"^(\d+) +fdatasync\(\d+<([^>]*)>\)")
EXEC = re.compile(r'^(\d+) +execve\("[^"]*", (\[[^\]]*"recover"[^\]]*\])')


def traced_run(r, tmp_path, *options):
    """Runs a command writing 50 files under strace; returns {pid: argv
    text} of the processes that exec'd `mida recover`, and [(pid, path)]
    of every fdatasync."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/deps/tests.apt)")
    out = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-y", "-s", "200", "-o", str(out), "-e",
         "trace=fdatasync,execve", mida_bin(), "run", "--no-mlflow",
         *options, "--", "sh", "-c",
         "for i in $(seq 50); do echo $i > f$i; done"],
        env=r.env(), cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    recovers, syncs = {}, []
    for line in out.read_text().splitlines():
        m = EXEC.match(line)
        if m:
            recovers[m.group(1)] = m.group(2)
        m = SYNC.match(line)
        if m:
            syncs.append(m.groups())
    return recovers, syncs


def wait_for_detached(r):
    """Returns once no detached shipper holds the spool's lock, as mida's
    readers wait (src/capture/ship_lock.h). Not through `mida query`: a
    reader's connection, the store's last, leaves a WAL behind (it may not
    remove it)."""
    fd = os.open(r.dir / "run.db.spool" / "shipping.lock", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def one_file_holds_everything(r, tmp_path, links=100):
    """The database file alone, copied aside without its WAL, has every
    task and file link of the store."""
    assert not (r.dir / "run.db-wal").exists()
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(r.store, alone / "run.db")
    with sqlite3.connect(alone / "run.db") as con:
        tasks = con.execute("SELECT count(*) FROM task").fetchone()[0]
        generated = con.execute("SELECT count(*) FROM task_data"
                                " WHERE role = 'generated'").fetchone()[0]
    with sqlite3.connect(r.store) as con:
        assert tasks == con.execute("SELECT count(*) FROM task").fetchone()[0]
    con.close()
    assert generated >= links, generated  # 50 files a run


def test_the_copy_back_is_left_to_a_detached_recover(tmp_path):
    r = Run(tmp_path)
    first = r.run("true")  # the store exists before the traced run
    assert first.returncode == 0, first.stderr
    wait_for_detached(r)
    recovers, syncs = traced_run(r, tmp_path)
    assert len(recovers) == 1, (recovers, syncs)
    # It ships nothing (--settle): what the store holds below, mida run
    # committed itself.
    assert '"--settle"' in list(recovers.values())[0], recovers
    db = [pid for pid, path in syncs if path == r.store]
    # The database file is synced by the recover and by no one else: a
    # command this small never passes the checkpointing thread's step.
    assert db and set(db) == set(recovers), (recovers, syncs)
    with sqlite3.connect(r.store) as con:
        seen = con.execute(
            "SELECT count(*) FROM task_data WHERE role = 'generated' AND"
            " data_id IN (SELECT id FROM data WHERE uri LIKE '%/f__'"
            " OR uri LIKE '%/f_')").fetchone()
    con.close()
    assert seen == (50,)
    wait_for_detached(r)
    r.run("sh", "-c", "for i in $(seq 50); do echo $i > g$i; done")
    wait_for_detached(r)
    one_file_holds_everything(r, tmp_path)


def test_wait_sync_makes_the_store_one_file_before_returning(tmp_path):
    r = Run(tmp_path)
    first = r.run("true", options=("--wait-sync",))
    assert first.returncode == 0, first.stderr
    recovers, syncs = traced_run(r, tmp_path, "--wait-sync")
    assert recovers == {}, syncs
    assert [path for _, path in syncs if path == r.store], syncs
    r.run("sh", "-c", "for i in $(seq 50); do echo $i > g$i; done",
          options=("--wait-sync",))
    one_file_holds_everything(r, tmp_path)


def test_two_recovers_of_one_spool_both_succeed(tmp_path):
    """The recover mida run leaves behind may meet another reader of the
    spool (a `mida recover` of the user's, a second run's): a segment one
    of them lists and the other ships and removes before the first opens
    it is not an error (src/capture/recovery.c, gone_since_listed). Until
    2026-12-04 the first failed with "cannot open ...: No such file"."""
    spool = tmp_path / "spool"
    env = library_env(spool)
    n = 400
    made = subprocess.run(["/bin/sh", "-c",
                           f"for i in $(seq {n}); do /bin/true; done"],
                          env=env, cwd=tmp_path, timeout=120)
    assert made.returncode == 0
    assert len(list(spool.glob("*.mj"))) > n
    store = str(tmp_path / "r.db")
    recover = [mida_bin(), "--store", store, "recover", "--spool", str(spool)]
    empty = tmp_path / "empty"
    empty.mkdir()
    first = subprocess.run(recover[:4] + ["--spool", str(empty)],
                           env=clean_env(), capture_output=True, text=True,
                           timeout=60)  # the store exists before the race
    assert first.returncode == 0, first.stderr
    both = [subprocess.Popen(recover, env=clean_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    for p in both:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert err == "", err
    with sqlite3.connect(store) as con:
        trues = con.execute("SELECT count(*) FROM task"
                            " WHERE activity = 'true'").fetchone()[0]
    con.close()
    assert trues == n
    assert list(spool.glob("*.mj")) == []


def test_as_a_namespace_s_init_mida_run_copies_back_itself(tmp_path):
    """`mida run` as a container's command is its PID namespace's init,
    whose end kills every other process there, a detached recover with
    them: then mida run makes the store one file itself, before
    returning (src/cli/run.c, settle_after)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare is not installed")
    r = Run(tmp_path)
    probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc",
                            "true"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("cannot make a PID namespace here (needs root)")
    done = subprocess.run(
        [unshare, "--pid", "--fork", "--mount-proc", mida_bin(), "run",
         "--no-mlflow", "--", "sh", "-c",
         "for i in $(seq 50); do echo $i > g$i; done"],
        env=r.env(), cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    one_file_holds_everything(r, tmp_path, links=50)


def test_a_settling_recover_ships_nothing_and_makes_no_store(tmp_path):
    """`mida recover --settle`, the recover that mida run leaves behind by
    default, only opens the store and closes it: the ended journals in the
    spool are the next run's to ship, in its order (a full recover that
    outlived its run shipped the next run's journals into the store file
    it had opened, which a script had removed and made anew since: the
    next run lost its processes' records), and a store that is gone is
    not made again."""
    spool = tmp_path / "spool"
    env = library_env(spool)
    made = subprocess.run(["/bin/sh", "-c", "/bin/true; /bin/true"],
                          env=env, cwd=tmp_path, timeout=60)
    assert made.returncode == 0
    left = sorted(spool.glob("*.mj"))
    assert len(left) == 3, left
    store = tmp_path / "r.db"
    settle = [mida_bin(), "--store", str(store), "recover", "--spool",
              str(spool), "--settle"]
    done = subprocess.run(settle, env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not store.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    made = subprocess.run(settle[:4] + ["--spool", str(empty)],
                          env=clean_env(), capture_output=True, text=True,
                          timeout=60)  # a store, with no task in it
    assert made.returncode == 0, made.stderr
    done = subprocess.run(settle, env=clean_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sorted(spool.glob("*.mj")) == left
    with sqlite3.connect(store) as con:
        assert con.execute("SELECT count(*) FROM task").fetchone() == (0,)
    con.close()


def test_the_settle_empties_the_wal_before_its_close_deletes_it(tmp_path):
    """The close of the store's last connection deletes the WAL under the
    database's exclusive lock, and a reader that opens it meanwhile
    without a busy wait (the sqlite3 shell) fails with "database is
    locked": ~1 read in 10 right after `mida run` returned, with a WAL of
    a few MB whose blocks the deletion freed under the lock. The detached
    settle now empties the WAL first (a TRUNCATE checkpoint, outside that
    lock), so that the deletion is of an empty file."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/deps/tests.apt)")
    r = Run(tmp_path)
    first = r.run("true")
    assert first.returncode == 0, first.stderr
    wait_for_detached(r)
    out = tmp_path / "trace"
    done = subprocess.run(
        [strace, "-f", "-y", "-o", str(out), "-e",
         "trace=execve,ftruncate,unlink", mida_bin(), "run", "--no-mlflow",
         "--", "sh", "-c", "for i in $(seq 200); do echo $i > f$i; done"],
        env=r.env(), cwd=tmp_path, capture_output=True, text=True,
        timeout=120)
    assert done.returncode == 0, done.stderr
    wal = r.store + "-wal"
    settle = None
    events = []
    for line in out.read_text().splitlines():
        m = EXEC.match(line)
        if m and '"--settle"' in m.group(2):
            settle = m.group(1)
        pid = line.split(" ", 1)[0]
        if settle is not None and pid == settle:
            if re.search(r"ftruncate\(\d+<" + re.escape(wal) + r">, 0\)",
                         line):
                events.append("emptied")
            elif 'unlink("' + wal + '")' in line:
                events.append("deleted")
    assert settle is not None, out.read_text()[-3000:]
    assert events == ["emptied", "deleted"], events
    one_file_holds_everything(r, tmp_path, links=200)

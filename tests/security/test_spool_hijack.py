"""The spool cannot be hijacked by another local user (docs/security.md,
"Other local users"; issue 11, item 3).

The victim is this test's user (root here); the attacker is uid 65534,
reached through `setpriv`. The attacker plants, in a shared sticky
directory that stands for /tmp, (a) the victim's default spool path as a
symbolic link to a directory of theirs, (b) that path as a real directory
of theirs, and (c) a segment of theirs and a link in a spool the victim
left open to everyone. Each planted segment is a real journal, written by
a real producer (mida_produce) run as the attacker with a store that is
down, holding a workflow named FORGED_BY_ATTACKER. The victim then records
into a real PostgreSQL store; the store must not get the forged workflow,
and the victim must be told why its spool was refused."""

import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "multinode"))
sys.path.insert(0, str(HERE.parent / "python"))

import midapy_util  # noqa: E402
from multinode_support import (free_port, mida_bin, pg_db,  # noqa: E402,F401
                               produce_bin, psql)

ATTACKER = 65534
FORGED = "FORGED_BY_ATTACKER"


def as_attacker(*argv, env=None):
    return subprocess.run(["setpriv", f"--reuid={ATTACKER}",
                           f"--regid={ATTACKER}", "--clear-groups", *argv],
                          env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def shared():
    """A directory like /tmp (root's, mode 1777) that both users reach."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to act as a second user through setpriv")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    d = pathlib.Path(tempfile.mkdtemp(prefix="mida-shared-", dir="/tmp"))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def fnv1a(text):
    """The hash that names a non-SQLite store's spool (core/config.c), of
    the URL as it is shown: a URL with a password is hashed with '***' for
    it."""
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and k != "XDG_RUNTIME_DIR"}
    env["MIDA_SAMPLE_HZ"] = "0"
    env.update(extra)
    return env


def forge_segments(produce, spool):
    """Runs a real producer as the attacker into spool with a dead store,
    so that its journal (a FORGED_BY_ATTACKER workflow) stays there."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    r = as_attacker(produce, "3", FORGED, "300",
                    env=clean_env(MIDA_STORE=dead, MIDA_SPOOL=str(spool)))
    segs = list(spool.glob("*.mj"))
    assert segs, f"the attacker's journal was not left: {r.stderr}"
    assert all(p.stat().st_uid == ATTACKER for p in segs)
    return segs


def victim_run(mida, store, shared, strict=False):
    env = clean_env(MIDA_STORE=store, TMPDIR=str(shared))
    if strict:
        env["MIDA_STRICT"] = "1"
    return subprocess.run([mida, "run", "--", "true"], env=env,
                          capture_output=True, text=True, timeout=120)


def forged_workflows(store):
    return int(psql(store, f"SELECT count(*) FROM workflow "
                           f"WHERE name = '{FORGED}'") or 0)


def test_a_spool_path_linked_to_another_users_directory_is_refused(
        shared, pg_db, mida_bin, produce_bin):
    evil = shared / "evil"
    assert as_attacker("mkdir", "-m", "0755", str(evil)).returncode == 0
    spool_parent = shared / f"mida-spool-{os.geteuid()}"
    assert as_attacker("ln", "-s", str(evil),
                       str(spool_parent)).returncode == 0
    forge_segments(produce_bin, evil / fnv1a(pg_db))

    r = victim_run(mida_bin, pg_db, shared)
    assert r.returncode == 0, r.stderr  # the command ran all the same
    assert "refusing the spool" in r.stderr, r.stderr
    assert "symbolic link made by uid 65534" in r.stderr, r.stderr
    assert forged_workflows(pg_db) == 0
    # mida recover refuses it too, and says why.
    rec = subprocess.run([mida_bin, "recover", "--store", pg_db],
                         env=clean_env(TMPDIR=str(shared)),
                         capture_output=True, text=True, timeout=120)
    assert rec.returncode != 0 and "refusing the spool" in rec.stderr
    assert forged_workflows(pg_db) == 0
    # MIDA_STRICT=1: the command is not run unobserved.
    strict = victim_run(mida_bin, pg_db, shared, strict=True)
    assert strict.returncode != 0 and "refusing the spool" in strict.stderr


def test_a_spool_path_owned_by_another_user_is_refused(
        shared, pg_db, mida_bin, produce_bin):
    spool_parent = shared / f"mida-spool-{os.geteuid()}"
    assert as_attacker("mkdir", "-m", "0755",
                       str(spool_parent)).returncode == 0
    forge_segments(produce_bin, spool_parent / fnv1a(pg_db))

    r = victim_run(mida_bin, pg_db, shared)
    assert r.returncode == 0, r.stderr
    assert "refusing the spool" in r.stderr, r.stderr
    assert "belongs to another user" in r.stderr, r.stderr
    assert forged_workflows(pg_db) == 0


def custom_spool_run(mida, store, spool):
    env = clean_env(MIDA_STORE=store, MIDA_SPOOL=str(spool))
    return subprocess.run([mida, "run", "--", "true"], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_custom_spool_below_a_directory_others_can_change_is_refused(
        shared, pg_db, mida_bin):
    # The spool's parent is the victim's own (0700), but a directory above
    # it is the attacker's: they can rename the victim's directory away and
    # put one of theirs in its place at any time after the check.
    team = shared / "team"
    assert as_attacker("mkdir", "-m", "0777", str(team)).returncode == 0
    mine = team / "mine"
    mine.mkdir(mode=0o700)
    r = custom_spool_run(mida_bin, pg_db, mine / "spool")
    assert r.returncode == 0, r.stderr  # the command ran all the same
    assert "refusing the spool" in r.stderr, r.stderr
    assert f"{team}, on its path, belongs to another user" in r.stderr
    assert as_attacker("mv", str(mine), str(team / "moved")).returncode == 0
    # Root's own directory, writable by all and not sticky: the same.
    open_dir = shared / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    (open_dir / "mine").mkdir(mode=0o700)
    r = custom_spool_run(mida_bin, pg_db, open_dir / "mine" / "spool")
    assert "writable by every user and not sticky" in r.stderr, r.stderr
    # A link on the way, made by the attacker, is not followed; one the
    # victim made is, and its target is checked the same way.
    own = shared / "own"
    own.mkdir(mode=0o700)
    assert as_attacker("ln", "-s", str(own),
                       str(shared / "link")).returncode == 0
    r = custom_spool_run(mida_bin, pg_db, shared / "link" / "spool")
    assert "symbolic link made by uid 65534" in r.stderr, r.stderr
    (own / "link").symlink_to(open_dir / "mine")
    r = custom_spool_run(mida_bin, pg_db, own / "link" / "spool")
    assert "writable by every user and not sticky" in r.stderr, r.stderr
    assert int(psql(pg_db, "SELECT count(*) FROM workflow")) == 0
    # Below directories that only root and the victim can change (the
    # shared one is sticky), the spool is used.
    (own / "real").mkdir(mode=0o700)
    (own / "good").symlink_to("real")
    r = custom_spool_run(mida_bin, pg_db, own / "good" / "a" / "spool")
    assert r.returncode == 0 and "refusing" not in r.stderr, r.stderr
    assert (own / "real" / "a" / "spool").is_dir()
    assert int(psql(pg_db, "SELECT count(*) FROM workflow")) >= 1


PY_VICTIM = """
import json, mida, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    with mida.workflow("victim"):
        pass
    mida.flush(2)
print(json.dumps([str(w.message) for w in caught]))
"""


def test_a_python_victim_is_warned_once_and_runs_on(
        shared, pg_db, produce_bin):
    spool_parent = shared / f"mida-spool-{os.geteuid()}"
    assert as_attacker("mkdir", "-m", "0755",
                       str(spool_parent)).returncode == 0
    forge_segments(produce_bin, spool_parent / fnv1a(pg_db))
    env = midapy_util.child_env(shared / "unused.db", MIDA_SAMPLE_HZ="0")
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(MIDA_STORE=pg_db, TMPDIR=str(shared))
    r = subprocess.run([sys.executable, "-c", PY_VICTIM], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    warned = json.loads(r.stdout.strip().splitlines()[-1])
    # Once at the open; a record that then cannot be kept says why too.
    refusals = [w for w in warned if w.startswith("mida: refusing the spool")]
    assert len(refusals) == 1, warned
    assert "belongs to another user" in refusals[0]
    assert forged_workflows(pg_db) == 0


def test_segments_of_another_user_in_an_open_spool_are_not_shipped(
        shared, pg_db, mida_bin, produce_bin):
    # The victim's own spool, left writable by everyone (a careless
    # chmod, or a umask of 0).
    spool = shared / f"mida-spool-{os.geteuid()}" / fnv1a(pg_db)
    spool.mkdir(parents=True)
    spool.parent.chmod(0o755)
    spool.chmod(0o777)
    staged = shared / "staged"
    assert as_attacker("mkdir", "-m", "0755", str(staged)).returncode == 0
    segs = forge_segments(produce_bin, staged)
    for seg in segs:
        assert as_attacker("cp", str(seg), str(spool)).returncode == 0
    name = segs[0].name.replace(".000000.", ".000001.")
    assert as_attacker("ln", "-s", str(segs[0]),
                       str(spool / name)).returncode == 0

    r = victim_run(mida_bin, pg_db, shared)
    assert r.returncode == 0, r.stderr
    assert forged_workflows(pg_db) == 0
    # The victim's own command was recorded, through the same spool.
    assert int(psql(pg_db, "SELECT count(*) FROM workflow")) >= 1
    # The spool was made private again, and the attacker's files left
    # alone (not shipped, not deleted: they are not the victim's).
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert all((spool / s.name).exists() for s in segs)


def test_a_new_sqlite_store_and_its_wal_are_private(tmp_path, mida_bin):
    store = tmp_path / "m.db"
    env = clean_env(MIDA_STORE=str(store), MIDA_SAMPLE_HZ="5")
    r = subprocess.run(["sh", "-c", f"umask 022; exec {mida_bin} run -- "
                        "sleep 1.5"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    made = [store] + [p for p in tmp_path.glob("m.db-*")]
    made += list((tmp_path / "m.db.spool").glob("telemetry.*.lock"))
    assert len(made) >= 2
    for p in made:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_the_default_spool_is_in_the_users_runtime_directory(tmp_path,
                                                             mida_bin):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    run_dir, tmp = tmp_path / "run", tmp_path / "tmp"
    run_dir.mkdir(mode=0o700)
    tmp.mkdir()
    env = clean_env(MIDA_STORE=dead, XDG_RUNTIME_DIR=str(run_dir),
                    TMPDIR=str(tmp))
    subprocess.run([mida_bin, "run", "--", "true"], env=env,
                   capture_output=True, timeout=120)
    spool = run_dir / "mida-spool" / fnv1a(dead)
    assert list(spool.glob("*.mj")), "the journal is not in XDG_RUNTIME_DIR"
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    # A runtime directory others can enter is not used: /tmp's path is.
    run_dir.chmod(0o755)
    subprocess.run([mida_bin, "run", "--", "true"], env=env,
                   capture_output=True, timeout=120)
    assert list((tmp / f"mida-spool-{os.geteuid()}" / fnv1a(dead)).glob(
        "*.mj"))

"""A store URL with a typo is said to be one, and leaves nothing on the disk.

`sqlite:/x.db` (one '/' short) was read as the path of a file `x.db` in a
directory `sqlite:`, which `mida run`, a Python program or a C program
made in the working directory without a word, and readers said "no store
at sqlite:/x.db". A mistyped network URL (`redis:/:pw@host/s`) was refused
as a store, but its spool was made first, as directories named after the
URL in the working directory, password included.
"""

import os
import subprocess

import pytest


def entries(top):
    """Every path under top, relative to it."""
    found = []
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(root, name), top))
    return sorted(found)


@pytest.mark.parametrize("url", ["sqlite:/x.db", "sqlite:x.db",
                                 "file:/x.db", "SQLite:/x.db"])
def test_a_mistyped_sqlite_url_is_refused_and_makes_no_file(run, tmp_path,
                                                            url):
    work = tmp_path / "work"
    work.mkdir()
    scheme = url.split(":")[0]
    r = run("run", "--", "true", store_path=url, cwd=str(work),
            env={"MIDA_SPOOL": ""})
    # Observation never stops the command: it runs, unrecorded, and says so.
    assert r.returncode == 0, r.stderr
    assert f"malformed store URL '{url}': want {scheme}://" in r.stderr
    assert entries(work) == []

    r = run("tasks", store_path=url, cwd=str(work))
    assert r.returncode == 1
    assert f"malformed store URL '{url}'" in r.stderr
    assert "no store at" not in r.stderr


def test_a_path_under_a_directory_named_sqlite_is_still_a_path(run, tmp_path):
    # Only the ':' forms are typos: "sqlite//k.db" is sqlite/k.db.
    work = tmp_path / "work"
    (work / "sqlite").mkdir(parents=True)
    r = run("run", "--", "true", store_path="sqlite//k.db", cwd=str(work))
    assert r.returncode == 0, r.stderr
    assert "malformed" not in r.stderr
    assert (work / "sqlite" / "k.db").exists()


@pytest.mark.parametrize("url", ["redis:/:s3cret-pw@127.0.0.1/s",
                                 "postgresql:/127.0.0.1/db"])
def test_a_mistyped_network_url_makes_no_spool_named_after_it(run, tmp_path,
                                                              url):
    work = tmp_path / "work"
    work.mkdir()
    r = run("run", "--", "true", store_path=None, cwd=str(work),
            env={"MIDA_STORE": url, "MIDA_SPOOL": ""})
    assert r.returncode == 0, r.stderr
    assert "malformed store URL" in r.stderr
    assert "s3cret-pw" not in r.stderr
    assert entries(work) == []


# Each scheme's backend, as mida_config.h names it.
BACKEND = {"redis": "HIREDIS", "rediss": "HIREDIS", "nats": "NATS",
           "tls": "NATS", "mqtt": "MOSQUITTO", "mqtts": "MOSQUITTO",
           "postgresql": "LIBPQ", "postgres": "LIBPQ"}


@pytest.mark.parametrize("url", [
    "redis://h:abc/x", "redis://h:/x", "redis://h:0/x", "redis://h:65536/x",
    "redis://:s3cret-pw@/x", "redis://[::1/x", "rediss://h:12ab/x",
    "nats://h:abc/x", "tls://h:99999/x", "nats://[::1]x/s",
    "mqtt://h:abc/x", "mqtts://h:-1/x", "mqtt://h/a/+/b",
    "postgresql://h:abc/db", "postgresql://h:99999/db",
    "postgres://[::1/db", "postgresql://h:5432,h2:abc/db",
    "postgresql://h/db?port=x", "postgresql://u:s3cret-pw@h/db?bogus=1",
    "postgresql://h1,h2,h3/db?port=1,2",
])
def test_a_malformed_network_url_is_refused_before_any_spool(run, build,
                                                             tmp_path, url):
    """`mida run --store redis://h:abc/x -- true` and mida_open() with it
    left an empty spool directory under /tmp (TMPDIR) before failing: the
    check made before the spool (mida__sink_check_url) read only the
    scheme, and the port was read when the shipper opened the sink. A
    PostgreSQL URL with such a port was worse: libpq reads the port only
    when it connects, so the store looked down, and the records stayed in
    the spool for good. Each backend's reading of its URL is now part of
    that check, for every scheme; nothing is made, and the password is
    never shown."""
    conf = build / "mida_config.h"
    backend = BACKEND[url.split(":")[0]]
    if f"#define MIDA_HAVE_{backend} 1" not in conf.read_text():
        pytest.skip(f"this build has no {backend} backend")
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    env = {"MIDA_SPOOL": "", "TMPDIR": str(tmp), "XDG_RUNTIME_DIR": ""}
    r = run("run", "--", "true", store_path=url, cwd=str(work), env=env)
    assert r.returncode == 0, r.stderr
    said = "holds a wildcard" if "+" in url else "malformed"
    assert "mida run: not recording (" in r.stderr, r.stderr
    assert said in r.stderr, r.stderr
    assert "s3cret-pw" not in r.stderr
    assert (entries(work), entries(tmp)) == ([], [])
    # The C API: mida_open() of the producer of the broker tests.
    full = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    full.update(env, MIDA_STORE=url)
    p = subprocess.run([str(build / "tests" / "mida_produce"), "1", "x"],
                       env=full, cwd=str(work),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, p.stderr
    assert "cannot open: " in p.stderr and said in p.stderr, p.stderr
    assert "s3cret-pw" not in p.stderr
    assert (entries(work), entries(tmp)) == ([], [])

"""A store URL with a typo is said to be one, and leaves nothing on the disk.

`sqlite:/x.db` (one '/' short) was read as the path of a file `x.db` in a
directory `sqlite:`, which `mida run`, a Python program or a C program
made in the working directory without a word, and readers said "no store
at sqlite:/x.db". A mistyped network URL (`redis:/:pw@host/s`) was refused
as a store, but its spool was made first, as directories named after the
URL in the working directory, password included.
"""

import os

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

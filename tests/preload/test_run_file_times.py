"""Copies that keep a file's times (src/preload/times.c): the mtime is
part of a version's identity, and rsync -a and Python's shutil.copy2 set
it by name once the copy is closed, so the version the next reader uses
must be the one the copier is recorded as generating; a call that leaves
the mtime alone makes no version."""

import os
import shutil
import sys

import pytest

from preload_support import Run


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def generated_by_reader(r, name):
    """{(writer activity, reader activity)} joined on the version of name
    that the reader (cat) used."""
    return set(r.rows(
        "SELECT w.activity, u.activity FROM task_data g"
        " JOIN task w ON w.id = g.task_id"
        " JOIN task_data ud ON ud.data_id = g.data_id"
        " JOIN task u ON u.id = ud.task_id"
        " JOIN data d ON d.id = g.data_id"
        " WHERE g.role = 'generated' AND ud.role = 'used'"
        " AND u.activity = 'cat' AND d.uri LIKE ?", "%/" + name))


def old_source(r):
    src = r.dir / "src.txt"
    src.write_text("kept times\n")
    os.utime(src, ns=(1577836800 * 10**9, 1577836800 * 10**9))


def test_python_copy2_then_a_reader_links_the_two(r):
    old_source(r)
    p = r.run("sh", "-c", sys.executable + " -c 'import shutil;"
              " shutil.copy2(\"src.txt\", \"dst.txt\")' && cat dst.txt")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "kept times\n"
    writer = os.path.basename(sys.executable)
    assert generated_by_reader(r, "dst.txt") == {(writer, "cat")}
    # With the bytes the copy wrote (into the version its close saw).
    assert r.rows("SELECT g.bytes FROM task_data g JOIN task_data u"
                  " ON u.data_id = g.data_id AND u.role = 'used'"
                  " WHERE g.role = 'generated'") == [(11,)]


def test_rsync_archive_then_a_reader_links_the_two(r):
    if shutil.which("rsync") is None:
        pytest.skip("no rsync")
    old_source(r)
    p = r.run("sh", "-c", "rsync -a src.txt dst.txt && cat dst.txt")
    assert p.returncode == 0, p.stderr
    assert generated_by_reader(r, "dst.txt") == {("rsync", "cat")}


def test_touch_of_an_existing_file_generates_its_new_version(r):
    old_source(r)
    p = r.run("sh", "-c", "touch src.txt && cat src.txt")
    assert p.returncode == 0, p.stderr
    assert generated_by_reader(r, "src.txt") == {("touch", "cat")}


def test_setting_only_the_access_time_makes_no_version(r):
    old_source(r)
    p = r.run(sys.executable, "-c", "import os; os.utime('src.txt', ns=("
              "0, os.stat('src.txt').st_mtime_ns))")
    assert p.returncode == 0, p.stderr
    p = r.run("touch", "-a", "src.txt")
    assert p.returncode == 0, p.stderr
    assert r.rows("SELECT role FROM task_data td JOIN data d"
                  " ON d.id = td.data_id WHERE d.uri LIKE '%/src.txt'") == []

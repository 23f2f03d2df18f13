"""A file given a second name with link() (git's loose objects, written
under a temporary name, linked to their final one and the temporary
unlinked; `ln`; Python's os.link): the version keeps its identity and
takes the new name, and unlinking one of two names removes nothing."""

import shutil

import pytest

from preload_support import Run


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def data_of(r, name):
    """[(uri's last component, metadata)] of the data rows whose URI ends
    in /name."""
    return [(u.rsplit("/", 1)[1], m) for u, m in r.rows(
        "SELECT uri, metadata FROM data WHERE uri LIKE ?", "%/" + name)]


def test_a_temporary_linked_into_place_then_unlinked_is_the_final_file(r):
    """git's finalize_object_file: write tmp, link(tmp, final),
    unlink(tmp). The version sh generated is the one cat used, under the
    final name, and it is not removed."""
    p = r.run("sh", "-c", "echo hello > tmp_obj && ln tmp_obj final &&"
              " rm tmp_obj && cat final > copy")
    assert p.returncode == 0, p.stderr
    assert (r.dir / "copy").read_text() == "hello\n"
    assert r.links(r.dir) >= {("sh", "generated", "final"),
                              ("cat", "used", "final"),
                              ("cat", "generated", "copy")}, r.links(r.dir)
    # Named by the link, not removed (names.c).
    assert data_of(r, "final") == [("final", '{"named_by":"link"}')]
    assert data_of(r, "tmp_obj") == []


def test_unlinking_one_of_two_names_removes_nothing(r):
    """A file with two names before the command: rm of one leaves the
    version there, under the other."""
    (r.dir / "a").write_text("kept\n")
    (r.dir / "b").hardlink_to(r.dir / "a")
    p = r.run("sh", "-c", "cat a > /dev/null && rm a && cat b > /dev/null")
    assert p.returncode == 0, p.stderr
    assert (r.dir / "b").read_text() == "kept\n"
    rows = r.rows("SELECT metadata FROM data WHERE uri LIKE ?",
                  "%" + str(r.dir) + "/%")
    assert rows and all(m is None for (m,) in rows), rows


def test_git_objects_are_their_final_names_and_not_removed(r):
    if shutil.which("git") is None:
        pytest.skip("no git")
    (r.dir / "a.txt").write_text("a\n")
    p = r.run("sh", "-c", "git init -q . && git add a.txt")
    assert p.returncode == 0, p.stderr
    objects = r.rows("SELECT uri, metadata FROM data WHERE uri LIKE ?",
                     "%/.git/objects/%")
    assert len(objects) == 1, objects
    ((uri, metadata),) = objects
    assert "tmp_obj" not in uri, objects
    assert metadata == '{"named_by":"link"}', objects  # not removed
    # The object is the blob of a.txt, under its hash's name.
    name = uri.split("/.git/objects/", 1)[1].replace("/", "")
    assert len(name) == 40 and (r.dir / ".git" / "objects" / name[:2] /
                                name[2:]).exists()

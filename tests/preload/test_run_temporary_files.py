"""Files made by glibc's mkstemp family, whose own open no wrapper of
open() sees (src/preload/mkstemp.c): the write-a-temporary-then-rename
pattern, in a small C program built here and in `sed -i`, leaves the final
name as the data its writer generated; tmpfile() and mkdtemp() still work
under `mida run` and record nothing of their own."""

import shutil
import sqlite3

import pytest

from preload_support import Run, compile_c, write_then_rename_shipped

# One program, the call it makes chosen by its first argument: each makes
# ./tmpXXXXXX (with a suffix for the *s names), writes it, closes it and
# renames it to final.txt.
MAKER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  char t[32];
  const char *how = argc > 1 ? argv[1] : "mkstemp";
  int suffix = strstr(how, "temps") != NULL;
  snprintf(t, sizeof t, "./tmpXXXXXX%s", suffix ? ".part" : "");
  int fd = -1;
  if (strcmp(how, "mkstemp") == 0)
    fd = mkstemp(t);
  else if (strcmp(how, "mkstemp64") == 0)
    fd = mkstemp64(t);
  else if (strcmp(how, "mkostemp") == 0)
    fd = mkostemp(t, O_CLOEXEC);
  else if (strcmp(how, "mkstemps") == 0)
    fd = mkstemps(t, 5);
  else if (strcmp(how, "mkostemps") == 0)
    fd = mkostemps(t, 5, O_APPEND);
  if (fd < 0 || write(fd, "made by a temporary\n", 20) != 20)
    return 1;
  if (close(fd) != 0)
    return 1;
  return rename(t, "final.txt") == 0 ? 0 : 1;
}
"""

# tmpfile() (a file without a name) written, read back and closed, and a
# directory from mkdtemp() with a file made in it by name.
UNNAMED = r"""
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  FILE *f = tmpfile();
  char buf[16] = {0};
  if (f == NULL || fputs("scratch\n", f) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
      fgets(buf, sizeof buf, f) == NULL || strcmp(buf, "scratch\n") != 0 ||
      fclose(f) != 0)
    return 1;
  char d[] = "./dirXXXXXX";
  if (mkdtemp(d) == NULL)
    return 2;
  char path[64];
  snprintf(path, sizeof path, "%s/inside.txt", d);
  FILE *g = fopen(path, "w");
  if (g == NULL || fputs("inside\n", g) < 0 || fclose(g) != 0)
    return 3;
  return 0;
}
"""


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def build(r, name, source):
    return compile_c(r.dir, name, source)


@pytest.mark.parametrize("how", ["mkstemp", "mkstemp64", "mkostemp",
                                 "mkstemps", "mkostemps"])
def test_a_temporary_renamed_into_place_is_generated(r, how):
    maker = build(r, "maker", MAKER)
    p = r.run(maker, how)
    assert p.returncode == 0, p.stderr
    assert (r.dir / "final.txt").read_text() == "made by a temporary\n"
    root = r.root()
    rows = r.link_rows()
    assert [(t, role, uri.rsplit("/", 1)[1], n)
            for t, role, _, uri, n in rows] == [
        (root, "generated", "final.txt", 20)], rows
    assert r.links(r.dir) == {("maker", "generated", "final.txt")}
    # The version the temporary name was given is the final file's.
    (data,) = {d for _, _, d, _, _ in rows}
    size = (r.dir / "final.txt").stat()
    assert data.endswith(":%d" % size.st_size)
    assert [u for (u,) in r.rows("SELECT uri FROM data")
            if u.rsplit("/", 1)[1].startswith("tmp")] == []


def test_sed_in_place_generates_the_new_version(r):
    if shutil.which("sed") is None:
        pytest.skip("no sed")
    (r.dir / "f.txt").write_text("abc\n")
    p = r.run("sed", "-i", "s/b/B/", "f.txt")
    assert p.returncode == 0, p.stderr
    assert (r.dir / "f.txt").read_text() == "aBc\n"
    assert r.links(r.dir) == {("sed", "used", "f.txt"),
                              ("sed", "generated", "f.txt")}
    rows = r.link_rows()
    by_role = {role: (d, n) for _, role, d, _, n in rows}
    # Two versions: the one read, and the one sed made and renamed.
    assert by_role["used"][0] != by_role["generated"][0]
    assert by_role["generated"][1] == 4
    st = (r.dir / "f.txt").stat()
    assert by_role["generated"][0].split(":")[2] == str(st.st_ino)
    # The version read is gone from the disk: the rename replaced it.
    metadata = dict(r.rows("SELECT id, metadata FROM data"))
    assert metadata[by_role["used"][0]] == '{"removed":true}', metadata
    # Its name is the one the rename gave it (names.c).
    assert metadata[by_role["generated"][0]] == '{"named_by":"rename"}'



def test_a_rename_over_a_file_removes_the_version_it_replaced(r):
    """mv over an existing file, as unlink would; a file with another
    name lives on there and is not removed."""
    (r.dir / "target").write_text("old\n")
    (r.dir / "kept").write_text("kept\n")
    (r.dir / "kept2").hardlink_to(r.dir / "kept")
    p = r.run("sh", "-c", "cat target kept > /dev/null; echo new > tmp;"
              " mv tmp target; echo other > tmp2; mv tmp2 kept")
    assert p.returncode == 0, p.stderr
    by_uri = {}
    for uri, size, metadata in r.rows(
            "SELECT uri, size, metadata FROM data WHERE uri LIKE ?",
            "%" + str(r.dir) + "/%"):
        by_uri.setdefault(uri.rsplit("/", 1)[1], set()).add((size, metadata))
    renamed = '{"named_by":"rename"}'
    assert by_uri == {
        "target": {(4, '{"removed":true}'), (4, renamed)},
        "kept": {(5, None), (6, renamed)}}, by_uri


@pytest.mark.parametrize("renamer_first", [True, False])
def test_a_rename_s_name_holds_whichever_journal_ships_first(
        tmp_path, renamer_first):
    """The writer of a temporary (a shell's `echo > tmp`) and its renamer
    (`mv tmp final`) are two processes with a journal each, which reach
    the store in either order: the version is named final either way (the
    store kept the name of the record applied last, so the renamer's
    journal shipped first left it named tmp)."""
    store = tmp_path / "s.db"
    work = write_then_rename_shipped(tmp_path, store, renamer_first)
    with sqlite3.connect(store) as con:
        named = con.execute("SELECT uri, metadata FROM data WHERE uri LIKE ?",
                            ("%" + str(work) + "/%",)).fetchall()
        links = con.execute(
            "SELECT t.activity, td.role, d.uri FROM task_data td"
            " JOIN task t ON t.id = td.task_id"
            " JOIN data d ON d.id = td.data_id").fetchall()
    final = "file://" + str(work / "final")
    assert named == [(final, '{"named_by":"rename"}')], named
    assert ("sh", "generated", final) in links, links


def test_tmpfile_and_mkdtemp_still_work_and_record_no_temporary(r):
    prog = build(r, "unnamed", UNNAMED)
    p = r.run(prog)
    assert p.returncode == 0, p.stderr
    made = [d for d in r.dir.iterdir() if d.name.startswith("dir")]
    assert len(made) == 1
    rel = made[0].name + "/inside.txt"
    assert r.links(r.dir) == {("unnamed", "generated", rel)}
    assert r.rows("SELECT count(*) FROM data WHERE uri NOT LIKE ?",
                  "%/inside.txt") == [(0,)]

"""`mida run` of a shell command whose files have odd names and whose
arguments hold a URL, read back as a new user would (a QA pass):

- `mida lineage PATH` finds a file by its path as written, whatever its
  name holds (a space, a non-ASCII letter, a '%'): the stored URIs are
  percent-encoded, so the path is encoded the same way, never glued to
  "file://" as it stands ("/d/a%20b" found the file "a b"); a relative
  path is taken from the working directory, and an absolute path or a
  file:// URI with ".", ".." or "//" is cleaned lexically, as `mida run`
  records it;
- the recorded command line keeps what follows a URL with a secret query
  parameter (`sh -c 'echo https://h/x?token=... more; ...'` lost the rest
  of the command)."""

import json

from preload_support import Run


def lineage_up(r, start, cwd=None):
    p = r.verb("lineage", start, "--up", cwd=cwd)
    return p.returncode, p.stdout + p.stderr


def test_lineage_by_path_of_odd_names_and_argv_after_a_url(tmp_path):
    d = tmp_path / "d s"
    d.mkdir()
    r = Run(d)
    (d / "src1").write_text("1\n")
    (d / "src2").write_text("2\n")
    cmd = ('cp src1 "a b"; cp src2 "a%20b"; cat src1 > "ü n"; '
           'echo https://h/x?token=abc more words > log; true')
    p = r.run("sh", "-c", cmd)
    assert p.returncode == 0, p.stderr
    rc, out = lineage_up(r, str(d / "a%20b"))
    assert rc == 0 and "src2" in out and "src1" not in out, out
    rc, out = lineage_up(r, str(d / "a b"))
    assert rc == 0 and "src1" in out and "src2" not in out, out
    rc, out = lineage_up(r, str(d / "ü n"))
    assert rc == 0 and "src1" in out, out
    rc, out = lineage_up(r, "file://" + str(d / "a b").replace(" ", "%20"))
    assert rc == 0 and "src1" in out, out
    # A relative path, as typed in the directory (or beside it).
    rc, out = lineage_up(r, "a b", cwd=d)
    assert rc == 0 and "src1" in out and "src2" not in out, out
    rc, out = lineage_up(r, "./../d s/a%20b", cwd=d)
    assert rc == 0 and "src2" in out and "src1" not in out, out
    (used,) = r.rows("SELECT used FROM task WHERE id = ?", r.root())[0]
    argv = json.loads(used)["argv"]
    assert argv[-1] == cmd.replace("token=abc", "token=***"), argv


def test_lineage_by_an_absolute_path_that_is_not_clean(tmp_path):
    """`mida run` records "/d/x/../x/in.txt" as "/d/x/in.txt" (core/path.h);
    `mida lineage` cleaned a relative path so, an absolute one not: "no
    task or data with id, digest or URI '/d/x/../x/in.txt'"."""
    d = tmp_path / "x"
    d.mkdir()
    r = Run(d)
    (d / "in.txt").write_text("1\n")
    p = r.run("sh", "-c", "cat in.txt > out.txt")
    assert p.returncode == 0, p.stderr
    for start in (f"{d}/../x/in.txt", f"{d}/./in.txt", f"{d}//in.txt",
                  f"/{d}/in.txt", f"file://{d}/../x/in.txt"):
        rc, out = lineage_up(r, start)
        assert rc == 0 and f"file://{d}/in.txt" in out, (start, out)
    rc, out = lineage_up(r, f"{d}/../x/out.txt")
    assert rc == 0 and "in.txt" in out, out


def test_exports_name_odd_files_as_a_person_reads_them(tmp_path):
    """OpenLineage names a file dataset by its path (namespace "file"), as
    other producers do, and RO-Crate gives a File its base name: both
    decoded ("a b"), not the URI's encoding ("a%20b"), which no other
    producer's name would match; the file literally named "a%20b" keeps
    its name."""
    d = tmp_path / "d s"
    d.mkdir()
    r = Run(d)
    (d / "src").write_text("1\n")
    p = r.run("sh", "-c", 'cp src "a b"; cp src "a%20b"; cp src "ü"')
    assert p.returncode == 0, p.stderr
    ol, crate = tmp_path / "ol.json", tmp_path / "crate"
    for args in (["openlineage", "-o", str(ol)], ["rocrate", str(crate)]):
        e = r.verb("export", *args)
        assert e.returncode == 0, e.stderr
    names = set()
    for line in ol.read_text().splitlines():
        if line.strip():
            event = json.loads(line)
            for ds in event.get("inputs", []) + event.get("outputs", []):
                if ds["namespace"] == "file":
                    names.add(ds["name"])
    assert {str(d / "a b"), str(d / "a%20b"), str(d / "ü")} <= names, names
    meta = json.loads((crate / "ro-crate-metadata.json").read_text())
    files = {e["name"] for e in meta["@graph"] if e.get("@type") == "File"}
    assert {"a b", "a%20b", "ü"} <= files, files

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


def shell_run(tmp_path, name, inputs, cmd):
    """`mida run -- sh -c CMD` in a new directory tmp_path/name that holds
    the files inputs ({name: text}); returns the directory and its Run."""
    d = tmp_path / name
    d.mkdir()
    r = Run(d)
    for f, text in inputs.items():
        (d / f).write_text(text)
    p = r.run("sh", "-c", cmd)
    assert p.returncode == 0, p.stderr
    return d, r


def lineage_up(r, start, cwd=None):
    p = r.verb("lineage", start, "--up", cwd=cwd)
    return p.returncode, p.stdout + p.stderr


def test_lineage_by_path_of_odd_names_and_argv_after_a_url(tmp_path):
    cmd = ('cp src1 "a b"; cp src2 "a%20b"; cat src1 > "ü n"; '
           'echo https://h/x?token=abc more words > log; true')
    d, r = shell_run(tmp_path, "d s", {"src1": "1\n", "src2": "2\n"}, cmd)
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
    d, r = shell_run(tmp_path, "x", {"in.txt": "1\n"},
                     "cat in.txt > out.txt")
    for start in (f"{d}/../x/in.txt", f"{d}/./in.txt", f"{d}//in.txt",
                  f"/{d}/in.txt", f"file://{d}/../x/in.txt"):
        rc, out = lineage_up(r, start)
        assert rc == 0 and f"file://{d}/in.txt" in out, (start, out)
    rc, out = lineage_up(r, f"{d}/../x/out.txt")
    assert rc == 0 and "in.txt" in out, out


def test_lineage_by_a_relative_path_of_a_file_that_is_gone(tmp_path):
    """An intermediate the command removed (`sort in > tmp; ...; rm tmp`)
    is in the store under its path: `mida lineage tmp`, typed in its
    directory, said "no task or data with id, digest or URI 'tmp'" where
    its absolute path found it (a relative path was read as one only while
    the file was there). A word that names neither is still not found."""
    d, r = shell_run(tmp_path, "w d", {"in": "b\na\n"},
                     "sort in > tmp; uniq tmp > out; rm tmp")
    assert not (d / "tmp").exists()
    for start in ("tmp", "./tmp", "../w d/tmp"):
        rc, out = lineage_up(r, start, cwd=d)
        assert rc == 0, (start, out)
        assert f"file://{d}/tmp".replace(" ", "%20") in out, (start, out)
        assert "sort" in out and "/in (file)" in out, (start, out)
    p = r.verb("lineage", "tmp", "--down", cwd=d)
    assert p.returncode == 0 and "uniq" in p.stdout, p.stdout + p.stderr
    rc, out = lineage_up(r, "never-there", cwd=d)
    assert rc == 1, out
    assert ("no task or data with id, digest, URI or source key"
            " 'never-there'") in out, out


def test_exports_name_odd_files_as_a_person_reads_them(tmp_path):
    """OpenLineage names a file dataset by its path (namespace "file"), as
    other producers do, and RO-Crate gives a File its base name: both
    decoded ("a b"), not the URI's encoding ("a%20b"), which no other
    producer's name would match; the file literally named "a%20b" keeps
    its name."""
    d, r = shell_run(tmp_path, "d s", {"src": "1\n"},
                     'cp src "a b"; cp src "a%20b"; cp src "ü"')
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

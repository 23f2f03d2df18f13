"""`mida run` where the paths it hands its command hold the characters
that separate the lists it hands them in: a ':' (a directory named by an
ISO time, `run-2026-12-07T05:13:39`) in the store's or the spool's path,
which MIDA_PRELOAD_IGNORE lists ':'-separated, and a space or a ':' in
the library's own path, which LD_PRELOAD splits on and has no escape for.

Until 2026-12-07 the store `run-2026-12-07T05:13:39/mida.db` put the
prefix `.../run-2026-12-07T05` among the ignored ones, and no file the
command read or wrote there (nor anywhere under a name with that prefix)
was recorded, only counted as noise; and a library installed under a
path with a space (a home directory `/home/Ann Lee`) made the loader
print two errors into the command's stderr in every process, and the
command's files went unrecorded without a word of mida's. Last, a name
past PATH_MAX given to a file by a rename (or link, unlink, truncate)."""

import shutil
import subprocess

from preload_support import Run, clean_env, library, mida_bin


def test_a_store_in_a_directory_with_a_colon_records_the_files(tmp_path):
    work = tmp_path / "run-2026-12-07T05:13:39"
    work.mkdir()
    r = Run(work)
    # The store is read by the command too (a nested tool opening it):
    # mida's own file, still noise.
    p = r.run("sh", "-c", "echo hi > out.txt; cat out.txt > copy.txt;"
              " cat run.db > /dev/null")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""
    links = r.links(work)
    assert {("sh", "generated", "out.txt"), ("cat", "used", "out.txt"),
            ("sh", "generated", "copy.txt")} <= links, sorted(links)
    assert not any(path.startswith("run.db") for _, _, path in links), \
        sorted(links)
    # A sibling that only shares the text before the ':' is data too.
    sibling = tmp_path / "run-2026-12-07T05"
    sibling.mkdir()
    (sibling / "in").write_text("x\n")
    p = r.run("cat", str(sibling / "in"))
    assert p.returncode == 0 and p.stdout == "x\n", p.stderr
    assert ("cat", "used", "in") in r.links(sibling)


def test_ignore_prefixes_keep_their_backslashes(tmp_path):
    """The prefixes of --ignore reach the library as they were given, a
    backslash inside one included (not read as an escape), beside a store
    whose path has a ':'."""
    work = tmp_path / "a:b"
    work.mkdir()
    data = tmp_path / "a-data"
    data.mkdir()
    (data / "skip\\me").write_text("x\n")
    (data / "keep").write_text("y\n")
    r = Run(work)
    p = r.run("cat", str(data / "skip\\me"), str(data / "keep"),
              options=("--ignore", str(data / "skip\\m")))
    assert p.returncode == 0 and p.stdout == "x\ny\n", p.stderr
    assert r.links(data) == {("cat", "used", "keep")}
    assert r.counter("run.ignored_opens") >= 1


def test_a_library_path_with_a_space_is_said_not_loaded(tmp_path):
    """The loader cannot take such a path: the library is not put into
    LD_PRELOAD, the command runs as it would alone (no loader error in
    its stderr) and mida says why its files are not recorded."""
    for odd in ("lib dir", "lib:dir"):
        where = tmp_path / odd
        where.mkdir()
        lib = where / "libmida_preload.so"
        shutil.copy(library(), lib)
        r = Run(tmp_path)
        p = subprocess.run(
            [mida_bin(), "run", "--no-mlflow", "--", "sh", "-c",
             "cat /dev/null; echo out; echo err >&2; exit 3"],
            env=clean_env(MIDA_STORE=r.store, MIDA_PRELOAD_LIB=str(lib)),
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert p.returncode == 3
        assert p.stdout == "out\n"
        assert "ld.so" not in p.stderr, p.stderr
        note = [x for x in p.stderr.splitlines() if x != "err"]
        assert len(note) == 1 and "err" in p.stderr.splitlines(), p.stderr
        assert "LD_PRELOAD" in note[0] and "MIDA_PRELOAD_LIB" in note[0]
        assert "files are not recorded" in note[0]


def test_a_name_past_path_max_is_counted_not_followed(tmp_path):
    """A file renamed, linked, unlinked or truncated by a name whose
    absolute path is longer than the library can hold (a relative name
    from a working directory of ~3,900 bytes) keeps the URI it had, which
    no longer names it: each such call is counted in
    run.untracked_files. Until 2026-12-07 none was, and the store said
    `.../x` and `.../v` with nothing to say they were gone."""
    deep = tmp_path
    while len(str(deep)) < 3650:
        deep = deep / ("e" * 250)
    deep = deep / ("f" * (3900 - len(str(deep)) - 1))
    r = Run(tmp_path)
    script = ("import os\n"
              "os.makedirs(os.sys.argv[1]); os.chdir(os.sys.argv[1])\n"
              "assert len(os.getcwd()) == 3900, len(os.getcwd())\n"
              "open('x', 'w').write('1')\n"
              "os.rename('x', 'y' * 250)\n"
              "open('v', 'w').write('2')\n"
              "os.link('v', 'w' * 250)\n"
              "os.unlink('v')\n"
              "os.truncate('w' * 250, 0)\n"
              "os.unlink('w' * 250)\n")
    p = r.run("python3", "-c", script, str(deep))
    assert p.returncode == 0, p.stderr
    assert r.counter("run.untracked_files") == 4

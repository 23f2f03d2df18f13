"""A `mida run` that can keep nothing -- neither the store nor its spool
can be made (a read-only working directory for the default `mida.db`, a
path through a file) -- runs the command unrecorded and says so once, with
the reason, and exits with the command's status. Until 2026-12-06 it said
six warnings of the same cause (the spool, the command's record, the
store, the command's files, its end, the records dropped), three of them
claiming that what was dropped was counted, where nothing could count it."""

import subprocess

from preload_support import clean_env, mida_bin


def test_a_run_that_can_keep_nothing_says_it_once(tmp_path):
    (tmp_path / "a-file").write_text("")
    store = tmp_path / "a-file" / "x.db"
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--store",
                        str(store), "--", "sh", "-c", "echo hi; exit 3"],
                       env=clean_env(), cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 3
    assert p.stdout == "hi\n"
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("mida run: not recording ("), p.stderr
    assert "Not a directory" in lines[0]
    assert lines[0].endswith("running the command anyway")
    assert "counted" not in p.stderr

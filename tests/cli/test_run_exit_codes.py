"""`mida run` exits as a shell (and env, timeout, nohup) would when the
command cannot be run: 127 when it is not found, 126 when it is found but
cannot be run (not executable, a directory, a path through a file); the
root task keeps that status."""

import json
import os
import sqlite3
import subprocess

import pytest

MIDA = os.environ.get("MIDA_BIN", "build/src/cli/mida")


@pytest.mark.parametrize("make, code", [
    (lambda d: str(d / "missing"), 127),
    (lambda d: _file(d, "plain", 0o644), 126),
    (lambda d: str(d), 126),
    (lambda d: _file(d, "file", 0o755) + "/x", 126),
])
def test_a_command_that_cannot_run_exits_as_a_shell_says(tmp_path, make,
                                                          code):
    store = tmp_path / "run.db"
    cmd = make(tmp_path)
    r = subprocess.run([MIDA, "--store", str(store), "run", "--no-mlflow",
                        "--", cmd], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == code, r.stderr
    assert "cannot execute" in r.stderr
    shell = subprocess.run(["bash", "-c", '"$0"', cmd], capture_output=True)
    assert shell.returncode == code
    with sqlite3.connect(store) as con:
        (gen,), = con.execute("SELECT generated FROM task").fetchall()
    assert json.loads(gen) == {"exit_status": code}


def _file(d, name, mode):
    p = d / name
    p.write_text("not a program\n")
    p.chmod(mode)
    return str(p)


def test_a_command_named_by_a_directory_keeps_its_name(tmp_path):
    # "./" has no last component: the workflow and task were named "".
    store = tmp_path / "run.db"
    r = subprocess.run([MIDA, "--store", str(store), "run", "--no-mlflow",
                        "--", "./"], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 126, r.stderr
    with sqlite3.connect(store) as con:
        got = con.execute("SELECT w.name, t.activity FROM task t"
                          " JOIN workflow w ON w.id = t.workflow_id"
                          ).fetchall()
    assert got == [("./", "./")], got


def test_the_help_says_both_statuses_of_a_command_that_cannot_run():
    """`mida run --help` said "127 if it cannot be run", which a command
    found but not executable (126) is not."""
    r = subprocess.run([MIDA, "run", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "127 if it is not found, 126 if it cannot be run" in text, text

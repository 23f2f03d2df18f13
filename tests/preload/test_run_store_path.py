"""`mida run` hands the command the store as an absolute URL: a program
under it that records through the API (`@mida.task`, a Dask worker, a C
program) after a `cd` records into the run's store, not into a new one
beside its new working directory. Until 2026-12-06 a relative store
(`--store run.db`, `MIDA_STORE=sqlite://run.db`, the default `mida.db`)
reached the command as it was written, and `cd sub && python step.py`
recorded its tasks into `sub/run.db`, missing from the run's store."""

import os
import sqlite3
import subprocess
import sys

import pytest

from preload_support import build_dir, clean_env, mida_bin

STEP = r"""
import mida

@mida.task
def step(x):
    return x + 1

step(1)
"""


def python_path():
    return os.pathsep.join(
        [str(build_dir() / "python")] +
        ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))


@pytest.mark.skipif(os.environ.get("MIDA_TEST_SCALE") == "sanitizer",
                    reason="Python under the ASan runtime: too slow here")
@pytest.mark.parametrize("how", ["--store run.db", "MIDA_STORE=sqlite://run.db",
                                 "MIDA_STORE=run.db"])
def test_a_relative_store_is_the_commands_after_a_cd(tmp_path, how):
    (tmp_path / "step.py").write_text(STEP)
    env = clean_env(PYTHONPATH=python_path())
    options = []
    if how.startswith("--store"):
        options = how.split()
    else:
        name, value = how.split("=", 1)
        env[name] = value
    script = 'mkdir sub && cd sub && exec "$0" ../step.py'
    p = subprocess.run([mida_bin(), *options, "run", "--no-mlflow", "--",
                        "sh", "-c", script, sys.executable],
                       env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert not (tmp_path / "sub" / "run.db").exists()
    with sqlite3.connect(tmp_path / "run.db") as con:
        acts = {r[0] for r in con.execute("SELECT activity FROM task")}
    assert "step" in acts, acts


def test_the_command_is_given_the_store_absolute(tmp_path):
    env = clean_env(MIDA_STORE="run.db")
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--", "sh", "-c",
                        'echo "$MIDA_STORE"'], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "sqlite://" + str(tmp_path / "run.db")

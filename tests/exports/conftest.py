"""Fixtures of the export tests: the binary, the fixture store of
tests/cli (two workflows, one with a failed task), an empty store, and a
runner."""

import os
import pathlib
import sqlite3
import subprocess
import sys
import types

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "cli"))

from mida_cli_store import ROOT, make_store, schema_sql  # noqa: E402


@pytest.fixture(scope="session")
def mida_bin():
    path = pathlib.Path(os.environ.get("MIDA_BIN", ROOT / "build" / "src" /
                                       "cli" / "mida"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        pytest.fail(f"mida binary not found at {path}")
    return str(path)


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "fixture.db"
    make_store(str(path))
    return str(path)


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("empty") / "empty.db"
    db = sqlite3.connect(path)
    db.executescript(schema_sql())
    db.commit()
    db.close()
    return str(path)


@pytest.fixture
def run(mida_bin, store, tmp_path):
    def _run(*args, store_path=store, timeout=120):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
        env["MIDA_SPOOL"] = str(tmp_path / "spool")
        r = subprocess.run([mida_bin, "--store", store_path, *args],
                           capture_output=True, env=env, cwd=str(tmp_path),
                           timeout=timeout)
        return types.SimpleNamespace(returncode=r.returncode,
                                     stdout=r.stdout.decode(),
                                     stderr=r.stderr.decode())
    return _run

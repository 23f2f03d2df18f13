"""pytest fixtures for the tests of the `mida` command: the binary, the
store (mida_cli_store.py builds it) and a runner."""

import os
import pathlib
import subprocess
import types

import pytest

from mida_cli_store import ROOT, make_store


@pytest.fixture(scope="session")
def mida_bin():
    path = pathlib.Path(os.environ.get("MIDA_BIN",
                                       ROOT / "build" / "src" / "cli" /
                                       "mida"))
    if not path.is_absolute():
        path = ROOT / path
    if not path.exists():
        pytest.fail(f"mida binary not found at {path}; build it or set "
                    "MIDA_BIN")
    return str(path)


@pytest.fixture(scope="session")
def build():
    """The build directory (MIDA_BUILD, default build/): mida_config.h and
    tests/mida_produce, a C program that records through mida_open()."""
    path = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
    return path if path.is_absolute() else ROOT / path


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "fixture.db"
    make_store(str(path))
    return str(path)


@pytest.fixture
def run(mida_bin, store, tmp_path):
    """run(*args, store_path=..., env=..., cwd=...) -> returncode, stdout,
    stderr (str)."""

    def _run(*args, store_path=store, env=None, cwd=None):
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith("MIDA_")}
        full_env["MIDA_SPOOL"] = str(tmp_path / "spool")
        if env:
            full_env.update(env)
        argv = [mida_bin]
        if store_path is not None:
            argv += ["--store", store_path]
        argv += list(args)
        # Bytes, decoded here: text mode would turn CSV's CRLF into LF.
        r = subprocess.run(argv, capture_output=True, env=full_env,
                           cwd=cwd or str(tmp_path), timeout=60)
        return types.SimpleNamespace(returncode=r.returncode,
                                     stdout=r.stdout.decode("utf-8"),
                                     stderr=r.stderr.decode("utf-8"))

    return _run

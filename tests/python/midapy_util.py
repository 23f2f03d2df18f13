"""Helpers of the Python binding tests: where the build is (importing this
module puts MIDA_BUILD/python, where python/meson.build puts the extension
beside the package's .py files, on sys.path), the environment of a child
process that observes into a store, and reading a store from a fresh
process.

There is deliberately no conftest.py here: other test folders import names
from "their" conftest module, and one more conftest.py in the same pytest
run would shadow theirs."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
PYDIR = BUILD / "python"
HERE = pathlib.Path(__file__).parent
if str(PYDIR) not in sys.path:
    sys.path.insert(0, str(PYDIR))
MIDA_BIN = pathlib.Path(os.environ.get("MIDA_BIN",
                                       BUILD / "src" / "cli" / "mida"))
if not MIDA_BIN.is_absolute():
    MIDA_BIN = ROOT / MIDA_BIN
MIDA_BIN = str(MIDA_BIN)


def child_env(store, **extra):
    """An environment for a child Python that observes into store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")
           and not k.startswith("DASK_")}
    env["MIDA_STORE"] = "sqlite://" + str(store)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PYDIR), str(HERE)] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def store_rows(store, sql, params=()):
    """Rows of a store, read by a fresh process (which also ships the
    journals that dead processes left)."""
    code = ("import json, sys, mida; "
            "print(json.dumps(mida.query(sys.argv[1], "
            "json.loads(sys.argv[2]))))")
    r = subprocess.run([sys.executable, "-c", code, sql,
                        json.dumps(list(params))],
                       env=child_env(store), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)



"""Where the build under test is, for the tests of how mida is built and
packaged (tests/build/): MIDA_BUILD (default <root>/build) and the mida
command in it. No conftest.py here: see tests/python/midapy_util.py."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
if not BUILD.is_absolute():
    BUILD = ROOT / BUILD
MIDA_BIN = pathlib.Path(os.environ.get("MIDA_BIN",
                                       BUILD / "src" / "cli" / "mida"))
if not MIDA_BIN.is_absolute():
    MIDA_BIN = ROOT / MIDA_BIN


def clean_env(**extra):
    """The environment without MIDA_* variables, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env

"""What the mida program costs before its main(): SQLite is linked into it
where its static library is installed (meson option static_sqlite, on by
default). Debian's libsqlite3.so is built with BIND_NOW, so the dynamic
loader bound its ~1,600 symbol relocations at the start of every `mida`
command, ~0.3 ms of each on the development VM (of `mida run` too)."""

import json
import os
import shutil
import subprocess

import pytest

from build_support import BUILD, MIDA_BIN, clean_env


def build_option(name, default):
    with open(BUILD / "meson-info" / "intro-buildoptions.json") as f:
        return next((o["value"] for o in json.load(f) if o["name"] == name),
                    default)


def static_sqlite_installed():
    cc = shutil.which("cc")
    if cc is None:
        return False
    a = subprocess.run([cc, "-print-file-name=libsqlite3.a"],
                       capture_output=True, text=True).stdout.strip()
    return os.path.isabs(a) and os.path.exists(a)


def test_the_program_binds_no_sqlite_symbol_when_it_starts():
    if not build_option("static_sqlite", True):
        pytest.skip("built with -Dstatic_sqlite=false")
    if not static_sqlite_installed():
        pytest.skip("no libsqlite3.a (libsqlite3-dev) to link in")
    out = subprocess.run(["ldd", str(MIDA_BIN)], capture_output=True,
                         text=True, check=True).stdout
    assert "libsqlite3" not in out, out
    # The loader's own count of what it bound: libsqlite3.so brought
    # ~1,600 of the ~1,700.
    stats = subprocess.run([str(MIDA_BIN), "--version"],
                           env=clean_env(LD_DEBUG="statistics"),
                           capture_output=True, text=True, check=True)
    counts = [int(line.split(":")[-1]) for line in stats.stderr.splitlines()
              if "final number of relocations:" in line]
    assert counts and counts[0] < 500, stats.stderr
    assert "sqlite 3." in stats.stdout, stats.stdout

"""The benches take their store as their first argument: bench_key_index
says how it is used for -h and --help, and refuses anything that is not a
store it runs on, rather than open it as an SQLite file of that name (its
`--help` once made a file called "--help" and then failed on PostgreSQL's
TRUNCATE in it)."""

import subprocess

import pytest

from build_support import BUILD, clean_env

BENCH = BUILD / "bench" / "bench_key_index"


def run(*args, cwd):
    if not BENCH.exists():
        pytest.skip("the benches are not built here")
    return subprocess.run([str(BENCH), *args], env=clean_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_says_how_and_touches_nothing(tmp_path, flag):
    r = run(flag, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: bench_key_index"), r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("--sizes",), ("store.db",),
                                  ("sqlite", "extra")])
def test_what_is_not_a_store_is_refused(tmp_path, args):
    r = run(*args, cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "not a store to run on" in r.stderr, r.stderr
    assert "usage:" in r.stderr
    assert list(tmp_path.iterdir()) == []

"""The benches take their store as their first argument: bench_key_index
says how it is used for -h and --help, and refuses anything that is not a
store it runs on, rather than open it as an SQLite file of that name (its
`--help` once made a file called "--help" and then failed on PostgreSQL's
TRUNCATE in it). The Python benches that run a build take its directory
(or its mida) the same way, through bench/bench_args.py."""

import subprocess
import sys

import pytest

from build_support import BUILD, ROOT, clean_env

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


# The Python benches that run a build: its directory (or its mida) first.
PY_BENCHES = {
    "bench_preload.py": "[BUILD [ROUNDS]]",
    "bench_store_growth.py": "[BUILD [RUNS]]",
    "bench_broker.py": "[BUILD]",
    "bench_serve.py": "[BUILD [--series]]",
    "bench_fidelity.py": "[MIDA]",
    "bench_observe_latency.py": "[MIDA]",
}


def run_py(name, *args, cwd):
    script = ROOT / "bench" / name
    return subprocess.run([sys.executable, str(script), *args],
                          env=clean_env(), cwd=cwd, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(PY_BENCHES))
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_python_benches_say_how_and_touch_nothing(tmp_path, name, flag):
    """`bench_preload.py --help` took "--help" for its build directory and
    compiled the project into a scratch directory before it failed."""
    r = run_py(name, flag, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: {name} {PY_BENCHES[name]}\n"), \
        r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(PY_BENCHES))
def test_python_benches_refuse_what_is_not_a_build(tmp_path, name):
    r = run_py(name, str(tmp_path / "nope"), cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "'" + str(tmp_path / "nope") + "' is not a" in r.stderr, r.stderr
    assert f"usage: {name} " in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_count_that_is_not_one_is_refused(tmp_path):
    build = str(BUILD.resolve())
    for args in ((build, "x"), (build, "0"), (build, "3", "extra")):
        r = run_py("bench_preload.py", *args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert "usage: bench_preload.py [BUILD [ROUNDS]]" in r.stderr
    assert list(tmp_path.iterdir()) == []

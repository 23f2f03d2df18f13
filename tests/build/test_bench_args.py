"""The benches take their store as their first argument: bench_key_index
says how it is used for -h and --help, and refuses anything that is not a
store it runs on, rather than open it as an SQLite file of that name (its
`--help` once made a file called "--help" and then failed on PostgreSQL's
TRUNCATE in it). The Python benches that run a build take its directory
(or its mida) the same way, through bench/bench_args.py."""

import json
import shutil
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
    "bench_run_phases.py": "[BUILD [ROUNDS]]",
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


# bench_sink_dask (and bench_sink_dask.sh, which runs it under callgrind):
# counts, then the store's path. It took "--help" for its count of tasks
# (strtoull: 0, then made 1) and ran; the script handed it to valgrind as
# its build directory.
DASK = BUILD / "bench" / "bench_sink_dask"
DASK_SH = ROOT / "bench" / "bench_sink_dask.sh"
DASK_USAGE = "usage: bench_sink_dask [TASKS [BATCH [PATH]]]"
DASK_SH_USAGE = "usage: bench_sink_dask.sh [BUILD [TASKS [BATCH]]]"


def run_dask(*args, cwd, sh=False, **env):
    if not DASK.exists():
        pytest.skip("the benches are not built here")
    cmd = ["sh", str(DASK_SH)] if sh else [str(DASK)]
    return subprocess.run([*cmd, *args], env=clean_env(**env), cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("sh", [False, True], ids=["c", "sh"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_bench_sink_dask_says_how_and_touches_nothing(tmp_path, flag, sh):
    r = run_dask(flag, cwd=tmp_path, sh=sh)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(DASK_SH_USAGE if sh else DASK_USAGE), r.stdout
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [("x",), ("0",), ("-3",), ("12abc",),
                                  ("99999999999999999999999",),
                                  ("10", "0"), ("10", "5", "s.db", "extra")])
def test_bench_sink_dask_refuses_a_bad_count(tmp_path, args):
    r = run_dask(*args, cwd=tmp_path)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert DASK_USAGE in r.stderr, r.stderr
    assert r.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_bench_sink_dask_refuses_an_unknown_order(tmp_path):
    r = run_dask("10", "5", cwd=tmp_path, MIDA_BENCH_ORDER="worker-first")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "MIDA_BENCH_ORDER" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_bench_sink_dask_sh_refuses_an_unknown_order_before_valgrind(
        tmp_path):
    r = run_dask(str(BUILD), "10", "5", cwd=tmp_path, sh=True,
                 MIDA_BENCH_ORDER="redelivered-twice")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "MIDA_BENCH_ORDER" in r.stderr and DASK_SH_USAGE in r.stderr
    assert "valgrind" not in r.stderr.lower(), r.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sh", [False, True], ids=["c", "sh"])
@pytest.mark.parametrize("deps", ["9", "-1", "2x", "12"])
def test_bench_sink_dask_refuses_a_bad_count_of_dependencies(tmp_path, deps,
                                                             sh):
    args = (str(BUILD), "10", "5") if sh else ("10", "5")
    r = run_dask(*args, cwd=tmp_path, sh=sh, MIDA_BENCH_DEPS=deps)
    assert r.returncode == 2, (deps, r.stdout, r.stderr)
    assert "MIDA_BENCH_DEPS" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_bench_sink_dask_applies_redelivered_batches(tmp_path):
    # Each of the worker's batches twice (the second time the summaries
    # take the general form), with two dependencies a task.
    r = run_dask("12", "4", str(tmp_path / "s.db"), cwd=tmp_path,
                 MIDA_BENCH_ORDER="redelivered", MIDA_BENCH_DEPS="2")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert '"bench":"sink_dask"' in r.stdout, r.stdout


@pytest.mark.parametrize("args", [("nope",), (str(BUILD), "x"),
                                  (str(BUILD), "10", "0"),
                                  (str(BUILD), "10", "5", "extra")])
def test_bench_sink_dask_sh_refuses_before_valgrind(tmp_path, args):
    r = run_dask(*args, cwd=tmp_path, sh=True)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert DASK_SH_USAGE in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


# bench_run_fixed.sh: a build directory, nothing else; refused before
# valgrind runs.
FIXED_SH = ROOT / "bench" / "bench_run_fixed.sh"
FIXED_USAGE = "usage: bench_run_fixed.sh [BUILD]"


def run_fixed(*args, cwd):
    return subprocess.run(["sh", str(FIXED_SH), *args], env=clean_env(),
                          cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [("nope",), (str(BUILD), "extra")])
def test_bench_run_fixed_refuses_before_valgrind(tmp_path, args):
    r = run_fixed(*args, cwd=tmp_path)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert FIXED_USAGE in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []


def test_bench_run_fixed_counts(tmp_path):
    if shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed")
    r = run_fixed(str(BUILD), cwd=tmp_path)
    assert r.returncode == 0, (r.stdout, r.stderr)
    line = json.loads(r.stdout.splitlines()[-1])
    assert line["bench"] == "run_fixed_ir"
    # Every figure is a count of something that ran: SQL is compiled in
    # every run, a store there has its schema read, and the library runs
    # in the process.
    assert 0 < line["run_store_there_sql_compile"] < line["run_store_there"]
    assert 0 < line["run_store_there_schema_read"]
    assert 0 < line["run_new_store_sql_compile"] < line["run_new_store"]
    assert line["process_library"] > 0 and line["process_plain"] > 0
    assert list(tmp_path.iterdir()) == []

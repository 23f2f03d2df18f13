"""`mida run` builds the command's environment aside and never changes its
own while it has threads (env_guard.c, preloaded into mida run, aborts it
if it does): its shipper, its telemetry sampler and SQLite read the
environment, and setenv under a reader is undefined behaviour. One run in
about 1,500 of `mida run -- true` once died of SIGSEGV in a getenv of the
shipper's thread, while the main thread set MIDA_STORE. The command still
gets every variable it got before."""

import subprocess

import pytest

from preload_support import (Run, build_dir, dask_preload_file, library,
                             mida_bin)

GUARD = build_dir() / "tests" / "preload" / "libpreload_env_guard.so"


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def guarded_run(r, options, *cmd):
    env = r.env()
    first = env.get("LD_PRELOAD", "")  # sanitizer runtimes, if any
    env["LD_PRELOAD"] = ":".join(p for p in (first, str(GUARD)) if p)
    env["DASK_DISTRIBUTED__WORKER__PRELOAD"] = "['other']"
    return subprocess.run([mida_bin(), "run", "--no-mlflow", *options, "--",
                           *cmd], env=env, cwd=r.dir, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("options", [(), ("--detach-ship",),
                                     ("--no-files",), ("--no-dask",)])
def test_mida_run_leaves_its_own_environment_alone(r, options):
    show = ("MIDA_STORE MIDA_WORKFLOW MIDA_PARENT_TASK MIDA_CAMPAIGN "
            "DASK_DISTRIBUTED__WORKER__PRELOAD LD_PRELOAD MIDA_PRELOAD_TASK")
    script = "for v in %s; do eval echo $v=\\${$v-unset}; done" % show
    p = guarded_run(r, ("--campaign", "c1") + options, "sh", "-c", script)
    assert "env_guard" not in p.stderr, p.stderr
    assert p.returncode == 0, p.stderr
    got = dict(line.split("=", 1) for line in p.stdout.splitlines())
    assert got["MIDA_STORE"] == r.store
    assert got["MIDA_CAMPAIGN"] == "c1"
    assert len(got["MIDA_WORKFLOW"]) == 36
    assert len(got["MIDA_PARENT_TASK"]) == 36
    dask = got["DASK_DISTRIBUTED__WORKER__PRELOAD"]
    if "--no-dask" in options:
        assert dask == "['other']"
    else:
        assert dask == "['%s', 'other']" % dask_preload_file()
    # What was there is kept, first; the library comes after it.
    preload = got["LD_PRELOAD"].split(":")
    if "--no-files" in options:
        assert preload[-1] == str(GUARD)
        assert got["MIDA_PRELOAD_TASK"] == "unset"
    else:
        assert preload[-2:] == [str(GUARD), str(library())]
        assert got["MIDA_PRELOAD_TASK"].startswith(got["MIDA_PARENT_TASK"])


GETENV_GUARD = build_dir() / "tests" / "preload" / "libpreload_getenv_guard.so"


def service_up(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# PostgreSQL is not among them: libpq reads its PG* variables each time it
# connects, on the thread that connects (src/core/env.h).
@pytest.mark.parametrize("store,port", [
    (None, None),
    ("redis://127.0.0.1:6379/mida-env-threads", 6379),
    ("nats://127.0.0.1:4222/mida-env-threads", 4222),
    ("mqtt://127.0.0.1:1883/mida-env-threads", 1883),
])
def test_mida_threads_never_read_the_environment(r, store, port):
    """The shipper (the store's opening: MIDA_INDEX, MIDA_WAL_MAX, SQLite's
    start, a broker module's libraries) and the sampler (its second sample
    looks for GPU libraries: MIDA_NVML_LIBRARY, ...) read the copy that
    mida_open took; getenv_guard.c aborts the program if either calls
    getenv. 1.5 s: past the sampler's second sample at 1 Hz."""
    if port is not None and not service_up(port):
        pytest.skip("no server on port %d" % port)
    env = r.env()
    if store is not None:
        env["MIDA_STORE"] = store
    first = env.get("LD_PRELOAD", "")  # sanitizer runtimes, if any
    env["LD_PRELOAD"] = ":".join(p for p in (first, str(GETENV_GUARD)) if p)
    env["MIDA_INDEX"] = "used.lr"
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--no-files", "--",
                        "sleep", "1.5"], env=env, cwd=r.dir,
                       capture_output=True, text=True, timeout=120)
    assert "getenv_guard" not in p.stderr, p.stderr
    assert p.returncode == 0, p.stderr


def test_the_checkpointing_thread_never_reads_the_environment(r):
    """A command that records ~6,000 files grows the store's WAL past the
    step at which its copying into the database goes to a thread of its
    own (src/sink/sqlite_checkpoint.h, "mida-checkpoint"), which opens a
    second connection: getenv_guard.c aborts mida run if that thread, like
    the shipper and the sampler, calls getenv."""
    env = r.env()
    first = env.get("LD_PRELOAD", "")  # sanitizer runtimes, if any
    env["LD_PRELOAD"] = ":".join(p for p in (first, str(GETENV_GUARD)) if p)
    script = ("i=0; while [ $i -lt 6000 ]; do : > f$i; i=$((i+1)); done; "
              "cat f* > /dev/null")
    p = subprocess.run([mida_bin(), "run", "--no-mlflow", "--", "sh", "-c",
                        script], env=env, cwd=r.dir, capture_output=True,
                       text=True, timeout=300)
    assert "getenv_guard" not in p.stderr, p.stderr
    assert p.returncode == 0, p.stderr
    assert r.rows("SELECT count(*) FROM task_data")[0][0] >= 12000

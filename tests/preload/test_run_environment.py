"""`mida run` builds the command's environment aside and never changes its
own while it has threads (env_guard.c, preloaded into mida run, aborts it
if it does): its shipper, its telemetry sampler and SQLite read the
environment, and setenv under a reader is undefined behaviour. One run in
about 1,500 of `mida run -- true` once died of SIGSEGV in a getenv of the
shipper's thread, while the main thread set MIDA_STORE. The command still
gets every variable it got before."""

import subprocess

import pytest

from preload_support import Run, build_dir, library, mida_bin

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
        assert dask == "['mida.dask', 'other']"
    # What was there is kept, first; the library comes after it.
    preload = got["LD_PRELOAD"].split(":")
    if "--no-files" in options:
        assert preload[-1] == str(GUARD)
        assert got["MIDA_PRELOAD_TASK"] == "unset"
    else:
        assert preload[-2:] == [str(GUARD), str(library())]
        assert got["MIDA_PRELOAD_TASK"].startswith(got["MIDA_PARENT_TASK"])

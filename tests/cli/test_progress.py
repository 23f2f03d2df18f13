"""Progress of long verbs (`mida export`, `mida recover`): a counter on
stderr redrawn in place when stderr is a terminal -- checked on a real
pseudo-terminal with util-linux's `script` -- and not one byte on stderr
when it is not."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("script") is None,
                                reason="util-linux's script is not here")


def on_a_terminal(argv, env, cwd):
    """Runs argv with stdin, stdout and stderr on a pseudo-terminal;
    returns (exit status, what the terminal showed)."""
    cmd = " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
    r = subprocess.run(["script", "-qec", cmd, "/dev/null"], env=env,
                       cwd=cwd, capture_output=True, timeout=300)
    return r.returncode, r.stdout.decode(errors="replace")


def plain_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp_path / "spool")
    return env


@pytest.mark.parametrize("fmt", ["prov", "openlineage", "rocrate"])
def test_export_progress_only_on_a_terminal(mida_bin, store, tmp_path, fmt):
    env = plain_env(tmp_path)
    out = ["crate"] if fmt == "rocrate" else ["-o", "out.json"]
    argv = [mida_bin, "--store", store, "export", fmt] + out
    rc, screen = on_a_terminal(argv, env, tmp_path)
    assert rc == 0, screen
    assert "\rmida export: tasks " in screen and "(100%)" in screen
    shutil.rmtree(tmp_path / "crate", ignore_errors=True)
    (tmp_path / "out.json").unlink(missing_ok=True)
    r = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert b"\r" not in r.stderr and b"mida export: tasks" not in r.stderr


def crashed_producer(db, tasks):
    """A Python process that records tasks and is SIGKILLed before its
    shipper ships any: its journal is left for `mida recover`."""
    build = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env.update(MIDA_STORE=f"sqlite://{db}", MIDA_SHIP_MS="600000",
               MIDA_SAMPLE_HZ="0", MIDA_JOURNAL_BYTES="64M",
               PYTHONPATH=str(build / "python"))
    code = ("import mida, os, signal\n"
            "@mida.task\n"
            "def step(i):\n"
            "    return i\n"
            "with mida.workflow('crashed'):\n"
            f"    for i in range({tasks}):\n"
            "        step(i)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, timeout=300)
    assert r.returncode == -9, r.stderr


def test_recover_progress_only_on_a_terminal(mida_bin, tmp_path):
    for where in ("tty", "plain"):
        db = tmp_path / f"{where}.db"
        crashed_producer(db, 20000)
        env = plain_env(tmp_path)
        env.pop("MIDA_SPOOL")
        argv = [mida_bin, "--store", f"sqlite://{db}", "recover"]
        if where == "tty":
            rc, screen = on_a_terminal(argv, env, tmp_path)
            assert rc == 0, screen
            # One journal: "from 1 journal", not "journals".
            assert "\rmida recover: " in screen and " records from 1 " \
                "journal  " in screen, screen
            assert "recovered " in screen
        else:
            r = subprocess.run(argv, env=env, capture_output=True,
                               timeout=300)
            assert r.returncode == 0, r.stderr
            assert r.stderr == b""
            assert r.stdout.startswith(b"recovered ")

"""Helpers of the reliability tests (tests/reliability/): run a Python
producer in a child process with a given environment, mount a private
tmpfs, and reach the helpers of the other test folders (the private
redis-server of tests/multinode, the build paths of tests/python).

The module has a unique name because pytest runs every tests/*/ folder in
one session (see tests/multinode/multinode_support.py)."""

import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
for d in ("python", "multinode"):
    p = str(HERE.parent / d)
    if p not in sys.path:
        sys.path.insert(0, p)

import midapy_util  # noqa: E402
from midapy_util import MIDA_BIN, PYDIR  # noqa: E402,F401


def producer_env(store, spool, **extra):
    """The environment of a child Python that records into store."""
    env = midapy_util.child_env("unused")
    env["MIDA_STORE"] = store
    env["MIDA_SPOOL"] = str(spool)
    env["MIDA_SAMPLE_HZ"] = "0"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_producer(code, env, timeout=120):
    """Runs code in a child Python; returns (exit status, the JSON object
    it printed last on stdout or None, stderr)."""
    r = subprocess.run([sys.executable, "-c", code], env=env,
                       capture_output=True, text=True, timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    return r.returncode, (json.loads(lines[-1]) if lines else None), r.stderr


def mount_tmpfs(path, options):
    """Mounts a tmpfs on path; False where this process may not mount."""
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs",
                        str(path)], capture_output=True)
    return r.returncode == 0


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)

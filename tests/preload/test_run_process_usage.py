"""Each process under `mida run` gets its resource use as its task's
telemetry (src/preload/emit.c, own_usage): getrusage(RUSAGE_SELF) at its
exit, so its CPU time since its fork (across its execs), its peak memory,
its context switches and storage I/O -- not its children's, which are
tasks of their own. The command's first process, the root task, keeps what
`mida run` reads from wait4 (the command and every process it waited for),
as /usr/bin/time would say it. While they run, `mida run`'s sampler
samples each of them under its pid, so each task has its time series
(src/telemetry/tree.h)."""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from preload_support import Run, clean_env, library_env, mida_bin

# Burns 0.25 s of CPU, then touches 64 MiB.
PYTHON = ("import time\n"
          "t = time.process_time()\n"
          "while time.process_time() - t < 0.25: pass\n"
          "b = bytearray(b'x') * (64 << 20)\n")

# The interpreter itself, not a shim that is a script (pyenv's).
PY = sys.executable
PY_NAME = os.path.basename(PY)

KEYS = {"cpu_process_ns", "cpu_user_ns", "cpu_system_ns", "maxrss_kb",
        "ctx_voluntary", "ctx_involuntary", "in_blocks", "out_blocks",
        "read_bytes", "write_bytes", "minflt", "majflt"}


@pytest.fixture
def r(tmp_path):
    return Run(tmp_path)


def usage(r, activity):
    """The telemetry of the one task of activity, as a dict."""
    rows = r.rows("SELECT telemetry FROM task WHERE activity = ?", activity)
    assert len(rows) == 1, rows
    assert rows[0][0] is not None, "no telemetry for " + activity
    return json.loads(rows[0][0])


def test_each_process_has_its_own_cpu_and_memory(r):
    p = r.run("bash", "-c", "\"$0\" -c \"$1\"; true", PY, PYTHON)
    assert p.returncode == 0, p.stderr
    py = usage(r, PY_NAME)
    assert set(py) == KEYS, py
    assert py["cpu_process_ns"] >= 250_000_000, py
    assert py["cpu_process_ns"] == py["cpu_user_ns"] + py["cpu_system_ns"]
    assert py["maxrss_kb"] >= 64 * 1024, py
    assert py["minflt"] >= 64 * 1024 // 4, py  # a fault a page at least


def test_the_command_keeps_what_wait4_says_of_it_and_its_children(r):
    # bash itself stays small; the python it waited for does not: the root
    # task's figures are those of the whole command, not bash's own.
    p = r.run("bash", "-c", "\"$0\" -c \"$1\"; true", PY, PYTHON)
    assert p.returncode == 0, p.stderr
    root = json.loads(r.rows("SELECT telemetry FROM task WHERE id = ?",
                             r.root())[0][0])
    py = usage(r, PY_NAME)
    assert root["maxrss_kb"] >= 64 * 1024, root
    assert root["cpu_process_ns"] >= py["cpu_process_ns"], (root, py)


def test_a_process_counts_its_cpu_across_its_exec(r):
    # The subshell loops in bash, then becomes `true`: one task, whose CPU
    # is the loop's.
    script = ("( i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done;"
              " exec /bin/true ); true")
    p = r.run("bash", "-c", script)
    assert p.returncode == 0, p.stderr
    t = usage(r, "true")
    assert t["cpu_process_ns"] >= 50_000_000, t


def test_a_forked_child_does_not_count_its_parents_cpu(r):
    # The parent burns CPU, then forks a child that exits at once: the
    # child's count starts at its fork.
    script = ("import os, time\n"
              "t = time.process_time()\n"
              "while time.process_time() - t < 0.3: pass\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    os._exit(0)\n"
              "os.waitpid(pid, 0)\n")
    p = r.run(PY, "-c", script)
    assert p.returncode == 0, p.stderr
    rows = r.rows("SELECT telemetry FROM task WHERE parent_id = ?", r.root())
    assert len(rows) == 1, rows
    child = json.loads(rows[0][0])
    assert child["cpu_process_ns"] < 100_000_000, child


def test_the_first_process_leaves_its_usage_to_mida_run(tmp_path):
    """Under the library alone, with the context `mida run` gives its
    command (its task, no parent): that process writes no telemetry of its
    own, which would race `mida run`'s from wait4 for the same keys; its
    child does."""
    spool = tmp_path / "spool"
    root = "0190a1b2-c3d4-7e5f-8071-8293a4b5c6d7"
    env = library_env(spool, MIDA_PRELOAD_TASK=root + ",-,0000000000")
    made = subprocess.run(["/bin/sh", "-c", "/bin/true; exit 0"], env=env,
                          cwd=tmp_path, timeout=60)
    assert made.returncode == 0
    store = tmp_path / "r.db"
    done = subprocess.run([mida_bin(), "--store", str(store), "recover",
                           "--spool", str(spool)], env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(store) as con:
        got = dict(con.execute("SELECT activity, telemetry IS NOT NULL"
                               " FROM task").fetchall())
    assert got == {"sh": 0, "true": 1}, got


# Touches 100 MiB, then burns 1.5 s of CPU.
BURN = ("import time\n"
        "b = bytearray(100 << 20)\n"
        "for i in range(0, len(b), 4096): b[i] = 1\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 1.5: pass\n")


def test_each_process_is_sampled_while_it_runs(r):
    # Until 2026-12-06 the sampler sampled `mida run` itself: the command's
    # tasks had host samples only.
    p = r.run("bash", "-c", "\"$0\" -c \"$1\"; true", PY, BURN,
              env=r.env(MIDA_SAMPLE_HZ="10"))
    assert p.returncode == 0, p.stderr
    task, pid = r.rows("SELECT id, pid FROM task WHERE activity = ?",
                       PY_NAME)[0]
    got = r.process_samples(task)
    assert set(got) == {pid}, got.keys()  # its own, no one else's
    samples = got[pid]
    # ~15 at 10 Hz; a loaded machine may take fewer.
    assert len(samples) >= 3, samples
    assert max(s.get("rss_kb", 0) for s in samples) >= 100 * 1024, samples
    cpu = [s["cpu_pct"] for s in samples if "cpu_pct" in s]
    # One busy thread: about 100 % of a core, less when the machine is
    # busy; ticks of 10 ms make a window of 0.1 s read up to ~110 %.
    assert cpu and 20 <= max(cpu) <= 150, cpu
    assert max(s["cpu_user_s"] + s["cpu_sys_s"] for s in samples) >= 0.5
    # The root task (bash) has its own samples, under its pid.
    root, root_pid = r.rows("SELECT id, pid FROM task WHERE id = ?",
                            r.root())[0]
    assert root_pid in r.process_samples(root)

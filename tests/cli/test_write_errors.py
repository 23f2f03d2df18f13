"""A write of a verb's output that fails says why in the system's words.

`mida query ... > /dev/full` said "cannot write the result: input/output
error", and `mida export ... -o out.json` past the file size limit "export:
input/output error writing out.json": MIDA_EIO's words for every failed
write, where the system said ENOSPC (No space left on device) or EFBIG
(File too large). Each writer of the command's output now keeps the errno
of the write that failed (src/cli/write_error.c)."""

import os
import resource
import signal
import subprocess

import pytest

import mida_cli_store as fx


def verbs():
    return [["query", "SELECT * FROM task"],
            ["query", "--csv", "SELECT * FROM task"],
            ["query", "--json", "SELECT * FROM task"],
            ["tasks"], ["workflows"],
            ["show", fx.T_FIT], ["show", fx.WF_TRAIN],
            ["lineage", fx.T_CLEAN], ["lineage", "--dot", fx.T_CLEAN],
            ["export", "prov"], ["export", "openlineage"],
            ["export", "prov", "-o", "-"],
            ["diff", fx.T_FIT, fx.T_EVAL],
            ["telemetry"], ["stats"], ["version"]]


@pytest.mark.parametrize("args", verbs(), ids=" ".join)
def test_a_full_standard_output_is_said_to_be_full(mida_bin, store, tmp_path,
                                                   args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp_path / "spool")
    with open("/dev/full", "w") as full:
        r = subprocess.run([mida_bin, "--store", store, *args], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=env,
                           cwd=str(tmp_path), timeout=60)
    assert r.returncode == 1, r.stderr
    assert "No space left on device" in r.stderr, r.stderr
    assert "input/output error" not in r.stderr, r.stderr


def size_limited(limit):
    """preexec_fn: files of at most limit bytes, a write past it EFBIG (not
    SIGXFSZ, which would end the process)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("fmt,out", [("prov", "out.json"),
                                     ("openlineage", "out.ndjson"),
                                     ("rocrate", "crate"),
                                     ("rocrate", "crate.zip")])
def test_an_export_file_past_its_size_limit_says_so(mida_bin, build, tmp_path,
                                                    fmt, out):
    # A store whose exports pass 64 KiB, written by mida's own producer.
    store = f"sqlite://{tmp_path}/big.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env.update(MIDA_STORE=store, MIDA_SPOOL=str(tmp_path / "spool"))
    p = subprocess.run([str(build / "tests" / "mida_produce"), "500", "big"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run([mida_bin, "export", fmt, "-o", out], env=env,
                       cwd=str(work), capture_output=True, text=True,
                       timeout=120, preexec_fn=size_limited(65536))
    assert r.returncode == 1, r.stderr
    assert r.stderr == f"mida: export: cannot write {out}: File too large\n"
    assert os.listdir(work) == []  # the temporary is gone too

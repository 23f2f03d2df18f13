"""A workflow's values never drive the user's terminal (docs/security.md,
"A hostile workflow's values"; issue 11, item 5).

A real Python producer records, through the public binding, a workflow,
tasks, an error, parameters, a data file and a metric whose names hold an
OSC sequence (retitles the terminal), a CR, a fake line ("fake line: mida:
all good"), an 8-bit CSI and a bidirectional override. Every
human-readable output of every verb that shows them must carry none of
those characters raw."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python"))

import midapy_util  # noqa: E402

EVIL = "x\x1b]0;pwn\x07y\rz\nfake line: mida: all good\u009b31m\u202e"
# What must never be written raw to a terminal.
RAW = [b"\x1b", b"\x07", b"\r", b"\nfake line", "\u009b".encode(),
       "\u202e".encode()]

PRODUCER = """
import json, mida, sys
EVIL = json.loads(sys.argv[1])
path = sys.argv[2]

@mida.task(name=EVIL)
def step(**kw):
    mida.data(path, role="generated", name=EVIL)
    mida.metric(EVIL, 1.0)
    return {EVIL: EVIL}

@mida.task(name=EVIL)
def broken(**kw):
    mida.data(path, role="used", name=EVIL)
    raise ValueError(EVIL)

with mida.workflow(EVIL, campaign=EVIL) as wf:
    step(**{EVIL: EVIL})
    try:
        broken(**{EVIL: 2})
    except ValueError:
        pass
assert mida.flush(30)
rows = mida.query("SELECT id, status FROM task ORDER BY status")
print(json.dumps({"wf": wf.id, "tasks": [r["id"] for r in rows]}))
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    store = d / "h.db"
    env = midapy_util.child_env(store, MIDA_SAMPLE_HZ="0")
    target = d / "out.bin"
    target.write_bytes(b"1")
    r = subprocess.run([sys.executable, "-c", PRODUCER, json.dumps(EVIL),
                        str(target)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ids = json.loads(r.stdout.strip().splitlines()[-1])
    return store, ids


def run(store, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    r = subprocess.run([str(midapy_util.MIDA_BIN), "--store", str(store),
                        *args], env=env, capture_output=True, timeout=120)
    return r


def assert_safe(out, what):
    for raw in RAW:
        assert raw not in out, (what, raw, out)


def test_every_human_readable_output_escapes_control_characters(hostile):
    store, ids = hostile
    t1, t2 = ids["tasks"]
    views = [["show", t1], ["show", t2], ["show", ids["wf"]],
             ["lineage", t1], ["lineage", t2], ["workflows"], ["tasks"],
             ["tasks", "--show", "used"], ["stats"], ["diff", t1, t2],
             ["telemetry"], ["query", "SELECT * FROM task"],
             ["query", "SELECT * FROM metric"], ["show", EVIL],
             ["lineage", EVIL], ["no-such-verb" + EVIL]]
    for args in views:
        r = run(store, *args)
        assert_safe(r.stdout, args)
        assert_safe(r.stderr, args)
    # What was there can still be read: the escapes are visible.
    shown = run(store, "show", t2).stdout.decode()
    assert "x\\e]0;pwn\\x07y\\rz\\nfake line: mida: all good" in shown
    assert "\\u{009B}31m\\u{202E}" in shown
    # Machine formats keep the value exactly (JSON escapes it).
    rows = json.loads(run(store, "query", "--json",
                          "SELECT activity FROM task").stdout)
    assert rows[0]["activity"] == EVIL

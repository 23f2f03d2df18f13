"""The TensorBoard observer against real writers: PyTorch's SummaryWriter
(simple_value, float and double tensors, hparams, text), tensorboardX and
TensorBoard's own writer; every step with its exact value and wall time,
seen while the files still grow; corrupt, truncated and garbage files."""

import json
import os
import pathlib
import shutil
import signal
import struct
import subprocess
import time
import uuid

import pytest

# The fixtures are imported so that pytest finds them here.
from obs_support import (  # noqa: F401
    mida_bin, observer, python, store, summary)

np = pytest.importorskip("numpy")
pytest.importorskip("tensorboard")

HERE = pathlib.Path(__file__).resolve().parent
WRITER = str(HERE / "tb_writer.py")
STEPS = 120


def f32(x):
    return float(np.float32(x))


def expected(steps=STEPS):
    loss = {s: 1.0 / (s + 1) for s in range(steps)}
    acc = {s: s / steps for s in range(steps)}
    lr = {s: 0.1 * 0.99 ** s for s in range(steps)}
    return loss, acc, lr


def run_points(store, run, key):
    rows = store.query(
        "SELECT m.step, m.value, m.ts FROM metric m JOIN task t"
        " ON t.id = m.task_id WHERE t.source_key = ? AND m.key = ?",
        (run, key))
    return {r[0]: (r[1], r[2]) for r in rows}


def test_three_writers_followed_while_growing(tmp_path, store, observer,
                                              python):
    pytest.importorskip("torch")
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "logs"
    logdir.mkdir()
    obs = observer("tensorboard", "--logdir", str(logdir)).start()
    writers = {
        kind: subprocess.Popen(
            [python, WRITER, kind, str(logdir / kind), str(STEPS), "10",
             "0.01"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for kind in ("torch", "tbx", "tb")}
    # While the torch writer is still writing, part of its steps must
    # already be in the store.
    seen_growing = False
    deadline = time.time() + 120
    while writers["torch"].poll() is None and time.time() < deadline:
        n = len(run_points(store, "torch", "loss"))
        if 0 < n < STEPS:
            seen_growing = True
        time.sleep(0.05)
    for kind, w in writers.items():
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, (kind, err)
    time.sleep(0.5)
    rc, out, err = obs.stop()
    assert rc == 0, err
    assert seen_growing, "no partial state seen while the file grew"
    s = summary(out)
    assert s["bad_records"] == 0 and s["bad_events"] == 0

    loss, acc, lr = expected()
    # simple_value (float32 on the wire) in torch and tensorboardX.
    for run in ("torch", "tbx"):
        got = run_points(store, run, "loss")
        assert sorted(got) == list(range(STEPS)), run
        assert all(got[s][0] == f32(loss[s]) for s in got), run
    # Tensor encodings: float tensor_content and double_val (torch), and
    # float_val (TensorBoard's own writer).
    got = run_points(store, "torch", "acc")
    assert sorted(got) == list(range(STEPS))
    assert all(got[s][0] == f32(acc[s]) for s in got)
    got = run_points(store, "torch", "lr")
    assert all(got[s][0] == lr[s] for s in got)  # exact double
    got = run_points(store, "tb", "loss")  # float_val (make_tensor_proto)
    assert sorted(got) == list(range(STEPS))
    assert all(got[s][0] == f32(loss[s]) for s in got)
    # Wall times are kept per point (ns), not one per run.
    assert len({v[1] for v in run_points(store, "tbx", "loss").values()}) > 1

    # hparams -> used (their own run directory), text -> custom, last
    # value -> generated.
    tasks = {r[0]: r[1:] for r in store.query(
        "SELECT source_key, used, generated, custom FROM task")}
    hp = [k for k in tasks if k.startswith("torch/")]
    assert hp, tasks.keys()
    used = json.loads(tasks[hp[0]][0])
    assert used == {"lr0": 0.1, "opt": "sgd", "bn": 1.0} or \
        used == {"lr0": 0.1, "opt": "sgd", "bn": True}
    gen = json.loads(tasks["torch"][1])
    assert gen["loss"] == f32(loss[STEPS - 1])
    assert json.loads(tasks["torch"][2])["note/text_summary"] == \
        "observer test"
    wf = store.query("SELECT source FROM workflow")
    assert ("tensorboard",) in wf


def write_events(python, logdir, steps):
    subprocess.run([python, WRITER, "tbx", str(logdir), str(steps)],
                   check=True, capture_output=True)
    files = list(pathlib.Path(logdir).glob("*tfevents*"))
    assert len(files) == 1
    return files[0]


def records(path):
    """Byte ranges (start, end) of the TFRecords of a file."""
    data = path.read_bytes()
    out, pos = [], 0
    while pos + 12 <= len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        out.append((pos, pos + 16 + n))
        pos += 16 + n
    return out


def test_corrupt_truncated_and_garbage_files(tmp_path, store, observer,
                                             python):
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "logs"
    src = write_events(python, tmp_path / "src", 30)
    recs = records(src)  # record 0 is file_version, 1.. are steps 0..
    data = bytearray(src.read_bytes())
    # 1. A flipped byte inside the data of the record of step 5.
    (logdir / "flipped").mkdir(parents=True)
    bad = bytearray(data)
    start, end = recs[6]
    bad[start + 14] ^= 0x40
    (logdir / "flipped" / "events.out.tfevents.1.flip").write_bytes(bad)
    # 2. A flipped byte in the length of the record of step 10: the
    # observer scans to the next good header.
    (logdir / "badlen").mkdir()
    bad = bytearray(data)
    start, end = recs[11]
    bad[start] ^= 0x01
    (logdir / "badlen" / "events.out.tfevents.1.len").write_bytes(bad)
    # 3. Truncated in the middle of the last record.
    (logdir / "cut").mkdir()
    start, end = recs[-1]
    cut_at = start + (end - start) // 2
    (logdir / "cut" / "events.out.tfevents.1.cut").write_bytes(
        data[:cut_at])
    # 4. Garbage that only has the name of an event file.
    (logdir / "junk").mkdir()
    (logdir / "junk" / "events.out.tfevents.0.junk").write_bytes(
        os.urandom(5000))

    rc, out, err = observer("tensorboard", "--logdir", str(logdir)).once()
    assert rc == 0, err
    s = summary(out)
    assert s["bad_records"] == 1            # the flipped data byte
    assert s["bad_bytes"] >= 4000           # the garbage, and the bad length
    assert "bad data checksum" in err
    assert "bad record header" in err
    assert err.count("events.out.tfevents.0.junk") == 1   # warned once
    steps = lambda run: sorted(run_points(store, run, "loss"))
    assert steps("flipped") == [s for s in range(30) if s != 5]
    assert steps("badlen") == [s for s in range(30) if s != 10]
    assert steps("cut") == list(range(29))  # the last is not written yet
    counters = dict(store.query("SELECT name, value FROM counter"))
    assert counters["observe.tensorboard.bad_records"] == 1

    # The writer finishes the cut record: the observer resumes at the
    # record's start and reads it whole.
    with open(logdir / "cut" / "events.out.tfevents.1.cut", "ab") as f:
        f.write(data[cut_at:])
    rc, out, err = observer("tensorboard", "--logdir", str(logdir)).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 1
    assert steps("cut") == list(range(30))


def test_restart_resumes_from_cursor(tmp_path, store, observer, python):
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "logs"
    write_events(python, logdir / "a", 40)
    # The Dask task that launched the training, and the campaign.
    parent = str(uuid.uuid4())
    o = observer("tensorboard", "--logdir", str(logdir))
    o.env.update(MIDA_CAMPAIGN="tb-campaign", MIDA_PARENT_TASK=parent)
    rc, out, err = o.once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 40
    task = store.query("SELECT parent_id, campaign_id FROM task"
                       " WHERE source_key = 'a'")
    campaign = store.query("SELECT id FROM campaign WHERE name ="
                           " 'tb-campaign'")
    assert task == [(parent, campaign[0][0])]
    rc, out, err = observer("tensorboard", "--logdir", str(logdir)).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 0
    cur = store.query("SELECT key, position FROM source_cursor"
                      " WHERE source = 'tensorboard'")
    assert len(cur) == 1 and int(cur[0][1]) > 0


def test_missing_logdir(tmp_path, observer):
    rc, out, err = observer("tensorboard", "--logdir",
                            str(tmp_path / "nope")).once()
    assert rc == 1
    assert "not a directory" in err


def test_usage_errors(observer):
    o = observer("tensorboard")
    rc, out, err = o.once()
    assert rc == 2 and "--logdir is required" in err


def test_waits_for_logdir_to_appear(tmp_path, store, observer, python):
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "later"
    obs = observer("tensorboard", "--logdir", str(logdir)).start()
    # The directory is made once the observer has found it missing (it
    # says so), not after a fixed time, which on a loaded machine could
    # come before the observer had looked.
    assert obs.wait_stderr("waiting for it to appear"), \
        "the observer did not say that it waits for the missing dir"
    assert obs.proc.poll() is None, "the observer gave up on a missing dir"
    write_events(python, logdir / "r", 25)
    assert store.wait_for("SELECT count(*) FROM metric", 25, timeout=60) == 25
    rc, out, err = obs.stop()
    assert rc == 0, err
    assert "waiting for it to appear" in err


def test_a_killed_observer_leaves_its_runs_as_they_were(tmp_path, store,
                                                         observer, python):
    # The runs an observer follows are the writers', not the observer's:
    # its SIGKILL (recovery marks LOST what a dead process left open) must
    # leave them RUNNING, to be ended by the observer that follows.
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "logs"
    write_events(python, logdir / "a", 10)
    obs = observer("tensorboard", "--logdir", str(logdir))
    obs.start()
    assert store.wait_for("SELECT count(*) FROM metric", 10) == 10
    obs.kill()
    rc, out, err = observer("tensorboard", "--logdir", str(logdir)).once()
    assert rc == 0, err
    assert store.query("SELECT status FROM task") == [("RUNNING",)]
    assert store.query("SELECT status FROM workflow") == [("RUNNING",)]
    last = observer("tensorboard", "--logdir", str(logdir),
                    "--end-at-stop").start()
    time.sleep(1.0)  # a SIGTERM before its handlers are set kills it
    rc, out, err = last.stop()
    assert rc == 0, err
    assert store.query("SELECT status FROM task") == [("FINISHED",)]
    assert store.count("SELECT count(*) FROM metric") == 10


def tb_points(store):
    return store.query("SELECT t.source_key, m.step FROM metric m"
                       " JOIN task t ON t.id = m.task_id")


def test_a_fast_writer_makes_a_bounded_number_of_passes(tmp_path, store,
                                                        observer, python):
    # A writer that flushes every step wakes the observer thousands of
    # times a second (inotify); each wake made a pass, rescanning and
    # rereading (~9,600 passes in 4 s). After a wake it lets the writer go
    # on for a settle time (MIDA_OBS_SETTLE_MS, 100 ms) and reads what came
    # in one pass: at most one pass per settle time, however fast the
    # writer is. The count is checked against the time the observer ran,
    # which a loaded machine only makes longer.
    steps = 3000
    logdir = tmp_path / "logs"
    logdir.mkdir()
    began = time.monotonic()
    obs = observer("tensorboard", "--logdir", str(logdir)).start(
        poll_ms=1000)
    subprocess.run([python, WRITER, "tb", str(logdir / "fast"), str(steps),
                    "1"], check=True, stdout=subprocess.DEVNULL)
    assert store.wait_for("SELECT count(*) FROM metric", steps) == steps
    rc, out, err = obs.stop()
    ran = time.monotonic() - began
    assert rc == 0, err
    passes = summary(out)["passes"]
    settle_s = 0.1
    assert passes <= 3 + ran / settle_s, (passes, ran)


def test_ctrl_c_stops_a_first_pass_and_the_next_start_goes_on(
        tmp_path, store, observer, python):
    # A first pass over a backlog (here with --once) went on to the end
    # whatever signal came. Now SIGINT stops it after the file it is
    # reading (a safe point: that file's records and its cursor are in
    # the journal), and the next start reads exactly the rest.
    logdir = tmp_path / "logs"
    for run in ("a", "b"):
        subprocess.run([python, WRITER, "tb", str(logdir / run), "50"],
                       check=True, stdout=subprocess.DEVNULL)
    first = observer("tensorboard", "--logdir", str(logdir))
    first.start(poll_ms=None, extra=["--once"], pending=[signal.SIGINT])
    rc, out, err = first.wait()
    assert rc == 0, err
    assert "stopping after the batch being read" in err
    assert summary(out)["metrics"] == 50
    assert sorted(tb_points(store)) == [("a", s) for s in range(50)]
    rc, out, err = observer("tensorboard", "--logdir", str(logdir)).once()
    assert rc == 0, err
    assert summary(out)["metrics"] == 50  # only b's: nothing twice
    assert sorted(tb_points(store)) == sorted(
        (run, s) for run in ("a", "b") for s in range(50))


def test_a_second_signal_stops_at_once(tmp_path, store, observer):
    # The first signal asks for a stop at a safe point; a second one (here
    # SIGTERM after SIGINT) stops the observer at once, by the signal: the
    # journal keeps what it had read, for the next start to ship.
    logdir = tmp_path / "logs"
    logdir.mkdir()
    obs = observer("tensorboard", "--logdir", str(logdir))
    obs.start(poll_ms=None, extra=["--once"],
              pending=[signal.SIGINT, signal.SIGTERM])
    rc, out, err = obs.wait()
    assert rc in (-signal.SIGINT, -signal.SIGTERM), (rc, err)
    assert "observed" not in out

"""TensorBoard fidelity: real PyTorch and tensorboardX writers
(tb_workload.py) under `mida run --tensorboard`, compared record by record
and exactly with TensorBoard's EventAccumulator (fidelity.py): every
scalar, histogram, image, audio clip and text at every step, what is still
not kept counted by kind, and the runs ended when the command exits. Then
runs ended by a standalone observer when their files stop growing, and the
two records that used to stop the observer: one too large for the journal,
and one whose length header claims 60 MB that never come."""

import os
import pathlib
import struct
import subprocess
import time

import pytest

from obs_support import mida_bin, observer, python, store, summary  # noqa
import fidelity

pytest.importorskip("tensorboard")
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import (  # noqa
    masked_crc32c)

HERE = pathlib.Path(__file__).resolve().parent
WORKLOAD = str(HERE / "tb_workload.py")


def test_every_record_under_mida_run(tmp_path, mida_bin, store, python):
    pytest.importorskip("torch")
    pytest.importorskip("tensorboardX")
    logdir = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp_path / "spool")
    r = subprocess.run([mida_bin, "--store", store.path, "run", "--no-dask",
                        "--no-mlflow", "--tensorboard", str(logdir), "--",
                        python, WORKLOAD, str(logdir), "8"], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    oracle = fidelity.tb_oracle(str(logdir))
    held = fidelity.tb_held(store.path)
    result = fidelity.compare(oracle, held)
    bad = {k: (v, fidelity.differences(oracle, held, k))
           for k, v in result.items() if v[1] != v[0] or v[2]}
    assert not bad
    assert {k for k, (n, _, _) in result.items() if n > 0} == {
        "scalar", "histogram", "image", "audio", "text"}
    # What is not kept is counted by kind, and `mida stats` shows it.
    skipped = fidelity.skipped_counters(store.path)
    assert skipped["graph"] == 2 and skipped["pr_curves"] == 2
    stats = subprocess.run([mida_bin, "--store", store.path, "stats"],
                           env=env, capture_output=True, text=True)
    assert "observe.tensorboard.skipped.pr_curves" in stats.stdout
    # The command exited: its runs and the log directory's workflow ended,
    # at their last events.
    rows = store.query("SELECT t.status, t.ended, w.status FROM task t"
                       " JOIN workflow w ON w.id = t.workflow_id"
                       " WHERE w.source = 'tensorboard'")
    assert len(rows) == 5
    assert all(st == "FINISHED" and ended and wst == "FINISHED"
               for st, ended, wst in rows)


def frame(data, claimed=None):
    """One TFRecord around data; claimed: the length its header says."""
    length = struct.pack("<Q", len(data) if claimed is None else claimed)
    return (length + struct.pack("<I", masked_crc32c(length)) + data +
            struct.pack("<I", masked_crc32c(data)))


def scalar(tag, step, value, wall=1700000000.0):
    e = event_pb2.Event(wall_time=wall + step, step=step,
                        summary=summary_pb2.Summary(value=[
                            summary_pb2.Summary.Value(tag=tag,
                                                      simple_value=value)]))
    return e.SerializeToString()


def test_runs_end_when_their_files_stop_growing(tmp_path, store, observer):
    logdir = tmp_path / "logs"
    (logdir / "run").mkdir(parents=True)
    path = logdir / "run" / "events.out.tfevents.1.host"
    path.write_bytes(frame(scalar("loss", 0, 1.0)))
    obs = observer("tensorboard", "--logdir", str(logdir),
                   "--end-after", "1").start(poll_ms=100)
    q = ("SELECT t.status, t.ended, w.status FROM task t JOIN workflow w"
         " ON w.id = t.workflow_id")
    deadline = time.time() + 60
    while time.time() < deadline and store.query(q) != [
            ("FINISHED", 1700000000 * 10**9, "FINISHED")]:
        time.sleep(0.1)
    assert store.query(q) == [("FINISHED", 1700000000 * 10**9, "FINISHED")]
    # The writer comes back: the new point is read and the run ends again,
    # later.
    with open(path, "ab") as f:
        f.write(frame(scalar("loss", 5, 0.5)))
    assert store.wait_for("SELECT count(*) FROM task WHERE ended ="
                          f" {1700000005 * 10**9}", 1, timeout=60) == 1
    rc, out, err = obs.stop()
    assert rc == 0, err
    assert summary(out)["ended"] == 2


def test_oversized_and_never_finished_records(tmp_path, store, observer):
    logdir = tmp_path / "logs"
    (logdir / "big").mkdir(parents=True)
    (logdir / "stall").mkdir()
    # A record too large for the journal (a 1.1 MB tag; the journal takes
    # records of a quarter of its 2 MB ring), one whose point it takes but
    # whose tag is too long for the run's JSON of last values (300 kB), and
    # one after them that is neither.
    (logdir / "big" / "events.out.tfevents.1.h").write_bytes(
        frame(scalar("t" * (1100 * 1024), 0, 1.0)) +
        frame(scalar("u" * (300 * 1024), 1, 2.0)) +
        frame(scalar("small", 2, 3.0)))
    # A record whose header claims 60 MB that its writer never wrote, and
    # two whole records after it.
    (logdir / "stall" / "events.out.tfevents.1.h").write_bytes(
        frame(scalar("a", 0, 1.0)) + frame(b"", claimed=60 << 20)[:12] +
        frame(scalar("b", 1, 2.0)) + frame(scalar("c", 2, 3.0)))
    o = observer("tensorboard", "--logdir", str(logdir))
    o.env["MIDA_JOURNAL_BYTES"] = "2M"
    rc, out, err = o.once()
    assert rc == 0, err
    assert err.count("larger than the journal takes") == 1
    assert store.count("SELECT count(*) FROM metric WHERE key = 'small'") == 1
    assert store.count("SELECT count(*) FROM metric WHERE step = 1") == 1
    # The writer may still be writing the 60 MB record: waited for.
    assert store.count("SELECT count(*) FROM metric WHERE key IN"
                       " ('a', 'b', 'c')") == 1
    # Its files stopped growing long enough ago: the run has ended, the
    # record will never be whole, so it is skipped and counted, and what
    # follows is read.
    old = time.time() - 5
    os.utime(logdir / "stall" / "events.out.tfevents.1.h", (old, old))
    rc, out, err = observer("tensorboard", "--logdir", str(logdir),
                            "--end-after", "2").once()
    assert rc == 0, err
    assert "longer than what the file holds" in err
    assert store.count("SELECT count(*) FROM metric WHERE key IN"
                       " ('a', 'b', 'c')") == 3
    counters = dict(store.query("SELECT name, max(value) FROM counter"
                                " GROUP BY name"))
    assert counters["observe.tensorboard.skipped.too_large"] == 2
    assert counters["observe.tensorboard.bad_records"] == 1
    assert store.count("SELECT count(*) FROM task WHERE source_key = 'stall'"
                       " AND status = 'FINISHED'") == 1


def hparams_event(field, message, wall=1700000000.0):
    """An Event holding one hparams plugin value, as PyTorch's add_hparams
    writes three of them: experiment, session_start_info, session_end_info
    (field of HParamsPluginData)."""
    from tensorboard.plugins.hparams import plugin_data_pb2
    content = plugin_data_pb2.HParamsPluginData(version=0)
    getattr(content, field).CopyFrom(message)
    md = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name="hparams", content=content.SerializeToString()))
    value = summary_pb2.Summary.Value(tag=f"_hparams_/{field}", metadata=md)
    return event_pb2.Event(wall_time=wall, summary=summary_pb2.Summary(
        value=[value])).SerializeToString()


def test_what_hparams_holds_beyond_its_values_is_counted(tmp_path, store,
                                                         observer):
    """The hparams values (session_start_info) are the task's used; the
    experiment (the hparams' domains) and session_end_info (a status) are
    not kept, and are counted as skipped like any other record not kept
    (they were dropped without a count)."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
    run = tmp_path / "logs" / "hp"
    run.mkdir(parents=True)
    start = plugin_data_pb2.SessionStartInfo()
    start.hparams["lr"].number_value = 0.1
    experiment = api_pb2.Experiment(hparam_infos=[
        api_pb2.HParamInfo(name="lr")])
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS)
    (run / "events.out.tfevents.1.h").write_bytes(
        frame(hparams_event("experiment", experiment)) +
        frame(hparams_event("session_start_info", start)) +
        frame(hparams_event("session_end_info", end)))
    rc, out, err = observer("tensorboard", "--logdir",
                            str(tmp_path / "logs")).once()
    assert rc == 0, err
    assert summary(out)["skipped"] == 2
    assert store.query("SELECT used FROM task") == [('{"lr":0.1}',)]
    counters = dict(store.query("SELECT name, max(value) FROM counter"
                                " GROUP BY name"))
    assert counters["observe.tensorboard.skipped.hparams_experiment"] == 1
    assert counters["observe.tensorboard.skipped.hparams_session_end"] == 1


def test_a_run_of_several_files_is_one_task(tmp_path, store, observer):
    """A run directory whose writer was restarted holds two event files:
    one task, and the summary line says one (it said a task per file)."""
    run = tmp_path / "logs" / "run"
    run.mkdir(parents=True)
    (run / "events.out.tfevents.1.h").write_bytes(frame(scalar("loss", 0, 1.0)))
    (run / "events.out.tfevents.2.h").write_bytes(frame(scalar("loss", 1, .5)))
    rc, out, err = observer("tensorboard", "--logdir",
                            str(tmp_path / "logs")).once()
    assert rc == 0, err
    s = summary(out)
    assert (s["files"], s["tasks"], s["metrics"]) == (2, 1, 2)
    assert store.count("SELECT count(*) FROM task") == 1

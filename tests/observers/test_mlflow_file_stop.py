"""Ctrl-C during the MLflow observer's walk of a large file store (mlruns):
the walk stops at its next safe point (between files, between the 1 MiB
chunks of a metric file) instead of reading the whole store first, and
the next start reads exactly what it left, from the cursors. The store is
written here as MLflow's FileStore writes it, without MLflow."""

import signal
import time
import uuid

# The fixtures are imported so that pytest finds them here.
from obs_support import (  # noqa: F401
    Observer, mida_bin, observer, store, summary)

RUNS = 3
LINES = 60000     # per metric file: about 1.6 MB, two chunks of the walk
KEYS = ("loss", "acc")
FIRST = 15000     # lines a first observer reads before the rest is written


def write_runs(root):
    """An experiment with RUNS finished runs; their metric files empty."""
    exp = root / "1"
    exp.mkdir(parents=True)
    (exp / "meta.yaml").write_text(
        f"artifact_location: file://{exp}\ncreation_time: 1700000000000\n"
        "experiment_id: '1'\nlast_update_time: 1700000000000\n"
        "lifecycle_stage: active\nname: big\n")
    files = []
    for r in range(RUNS):
        rid = uuid.UUID(int=r + 1).hex
        run = exp / rid
        (run / "metrics").mkdir(parents=True)
        (run / "meta.yaml").write_text(
            f"artifact_uri: file://{run}/artifacts\n"
            "end_time: 1700000001000\nentry_point_name: ''\n"
            "experiment_id: '1'\nlifecycle_stage: active\n"
            f"run_id: {rid}\nrun_name: r{r}\nrun_uuid: {rid}\n"
            "source_name: ''\nsource_type: 4\nsource_version: ''\n"
            "start_time: 1700000000000\nstatus: 3\ntags: []\n"
            "user_id: me\n")
        files += [run / "metrics" / key for key in KEYS]
    return files


def append_points(files, start, end):
    """Lines start..end-1 of every metric file: "<timestamp> <value>
    <step>", as MLflow's FileStore appends them."""
    for path in files:
        with open(path, "a") as f:
            f.write("".join(f"{1700000000000 + i} {i * 0.5} {i}\n"
                            for i in range(start, end)))


def test_ctrl_c_cuts_a_file_store_walk_short_and_loses_nothing(
        tmp_path, mida_bin, store, observer):
    # The walk of a file store (every file into the in-memory mirror)
    # never looked at the stop flag: on a large store Ctrl-C waited for
    # the whole walk, most of a first pass.
    mlruns = tmp_path / "mlruns"
    files = write_runs(mlruns)
    uri = f"file://{mlruns}"
    total = len(files) * LINES

    # Cursors in the middle of every metric file, from a first observer.
    append_points(files, 0, FIRST)
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    first = summary(out)["metrics"]
    assert first == len(files) * FIRST
    append_points(files, FIRST, LINES)

    # How long an uninterrupted first pass over the whole store takes here
    # (another store): the bound below is relative to it.
    began = time.monotonic()
    rc, out, err = Observer(mida_bin, str(tmp_path / "timed.db"),
                            str(tmp_path / "timed-spool"), "mlflow",
                            ["--tracking-uri", uri]).once()
    whole = time.monotonic() - began
    assert rc == 0, err
    assert summary(out)["metrics"] == total

    # Ctrl-C while the observer walks the store: it stops at a safe point.
    cut = observer("mlflow", "--tracking-uri", uri).start()
    time.sleep(whole / 10)
    asked = time.monotonic()
    cut.proc.send_signal(signal.SIGINT)
    rc, out, err = cut.wait(timeout=300)
    took = time.monotonic() - asked
    assert rc == 0, err
    assert "stopping after the batch being read" in err, err
    assert took < whole / 3, (took, whole)
    during = summary(out)["metrics"]

    # The next start reads the rest: every point once.
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert first + during + summary(out)["metrics"] == total
    assert store.count("SELECT count(*) FROM metric") == total
    assert store.count("SELECT count(*) FROM (SELECT DISTINCT task_id, key,"
                       " step FROM metric)") == total

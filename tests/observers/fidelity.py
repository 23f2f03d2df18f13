"""What a tool reports through its own API (the oracle) against what mida
holds, record kind by record kind, for the fidelity tests
(test_mlflow_fidelity.py, test_tensorboard_fidelity.py) and the fidelity
benchmark (bench/bench_fidelity.py).

Each side is a dict {kind: Counter of records}, a record being a tuple of
the fields both sides know, values compared exactly (NaN equal to NaN; an
MLflow SQL store gives +-inf back as +-DBL_MAX, which is its encoding of
them). compare() says, per kind, how many records the oracle has, how many
of them mida holds, and how many mida has that the oracle does not
(invented).
"""

import collections
import json
import math
import sqlite3
import sys

DBL_MAX = sys.float_info.max


def num(v):
    """A value as a comparable key: NaN one value, +-DBL_MAX as +-inf."""
    if v is None:
        return None
    v = float(v)
    if math.isnan(v):
        return "nan"
    if abs(v) == DBL_MAX:
        return math.copysign(math.inf, v)
    return v


def compare(oracle, held):
    """{kind: (oracle records, held of them, invented)}."""
    out = {}
    for kind in sorted(set(oracle) | set(held)):
        want = oracle.get(kind, collections.Counter())
        have = held.get(kind, collections.Counter())
        kept = sum(min(n, have[r]) for r, n in want.items())
        extra = sum(max(0, n - want[r]) for r, n in have.items())
        out[kind] = (sum(want.values()), kept, extra)
    return out


def differences(oracle, held, kind, limit=5):
    """A few records of kind that one side has and the other does not."""
    want = oracle.get(kind, collections.Counter())
    have = held.get(kind, collections.Counter())
    return {"missing": list((want - have).elements())[:limit],
            "invented": list((have - want).elements())[:limit]}


def _store(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


# ---- MLflow ----------------------------------------------------------------

# Keys that mida adds to a run's custom from the run's own columns (not
# tags): docs/observers.md.
RUN_COLUMN_KEYS = {
    "mlflow.run_name", "mlflow.user_id", "mlflow.source_name",
    "mlflow.source_type", "mlflow.source_version", "mlflow.entry_point",
    "mlflow.experiment_id", "mlflow.artifact_uri", "mlflow.lifecycle_stage",
    "mlflow.run_id"}


# Keys that mida puts in an experiment's metadata from its own columns.
EXPERIMENT_COLUMN_KEYS = {
    "mlflow.tracking_db", "mlflow.experiment_id",
    "mlflow.artifact_location", "mlflow.lifecycle_stage"}


def mlflow_oracle(uri):
    """Every record of every experiment, as MlflowClient reports them."""
    from mlflow import MlflowClient
    client = MlflowClient(tracking_uri=uri)
    o = collections.defaultdict(collections.Counter)
    for eid in [e.experiment_id for e in client.search_experiments()]:
        e = client.get_experiment(eid)
        o["experiment"][(eid, e.name)] += 1
        for k, v in e.tags.items():
            o["experiment tag"][(eid, k, v)] += 1
        # MLflow's FileStore reads the step of a run's point that names a
        # dataset as 0 (FileStore._get_metric_from_line, MLflow 3.17); the
        # same point as a logged model's metric has its step: take it.
        steps = {}
        for m in client.search_logged_models([eid]):
            for x in m.metrics or []:
                steps[(x.run_id, x.key, x.timestamp, x.value,
                       x.dataset_name)] = x.step
        for run in client.search_runs([eid], max_results=50000):
            i, rid = run.info, run.info.run_id
            o["run"][(rid, i.status, i.start_time, i.end_time,
                      i.run_name)] += 1
            for k, v in run.data.params.items():
                o["param"][(rid, k, v)] += 1
            for k, v in run.data.tags.items():
                o["tag"][(rid, k, v)] += 1
            for k, v in run.data.metrics.items():
                o["latest metric"][(rid, k, num(v))] += 1
                for m in client.get_metric_history(rid, k):
                    step = m.step
                    if m.dataset_name is not None and uri.startswith("file:"):
                        step = steps.get((rid, k, m.timestamp, m.value,
                                          m.dataset_name), step)
                    o["metric point"][(rid, k, step, m.timestamp,
                                       num(m.value))] += 1
            for d in run.inputs.dataset_inputs:
                ctx = {t.key: t.value for t in d.tags}.get(
                    "mlflow.data.context")
                o["dataset input"][(rid, d.dataset.name, d.dataset.digest,
                                    ctx)] += 1
        for m in client.search_logged_models([eid]):
            o["logged model"][(m.model_id, m.name, m.source_run_id)] += 1
            for k, v in (m.params or {}).items():
                o["model param"][(m.model_id, k, v)] += 1
            for k, v in (m.tags or {}).items():
                o["model tag"][(m.model_id, k, v)] += 1
            for x in m.metrics or []:
                o["model metric"][(m.model_id, x.key, num(x.value), x.step,
                                   x.timestamp, x.run_id, x.dataset_name,
                                   x.dataset_digest)] += 1
    return o


def mlflow_held(store_path):
    """The same records, as the mida store holds them."""
    db = _store(store_path)
    h = collections.defaultdict(collections.Counter)
    status = {"RUNNING": "RUNNING", "SUBMITTED": "SCHEDULED",
              "FINISHED": "FINISHED", "ERROR": "FAILED",
              "CANCELLED": "KILLED"}
    for meta, name in db.execute(
            "SELECT metadata, name FROM workflow WHERE source = 'mlflow'"):
        m = json.loads(meta)
        eid = m["mlflow.experiment_id"]
        h["experiment"][(eid, name)] += 1
        for k, v in m.items():
            if k not in EXPERIMENT_COLUMN_KEYS:
                h["experiment tag"][(eid, k, v)] += 1
    runs = {}
    for (tid, rid, st, started, ended, activity, used, gen,
         custom) in db.execute(
            "SELECT t.id, t.source_key, t.status, t.started, t.ended,"
            " t.activity, t.used, t.generated, t.custom FROM task t"
            " JOIN workflow w ON w.id = t.workflow_id"
            " WHERE w.source = 'mlflow'"):
        runs[tid] = rid
        h["run"][(rid, status.get(st, st),
                  started // 1000000 if started is not None else None,
                  ended // 1000000 if ended is not None else None,
                  activity)] += 1
        # A param that is a number's text is held as that number, its
        # text unchanged: read back as text, it is MLflow's string.
        for k, v in json.loads(used or "{}", parse_int=str,
                               parse_float=str).items():
            h["param"][(rid, k, v)] += 1
        for k, v in json.loads(custom or "{}").items():
            if k not in RUN_COLUMN_KEYS:
                h["tag"][(rid, k, v)] += 1
        for k, v in json.loads(gen or "{}").items():
            h["latest metric"][(rid, k, num(
                {"NaN": math.nan, "Infinity": math.inf,
                 "-Infinity": -math.inf}.get(v, v)))] += 1
    for tid, key, step, ts, value in db.execute(
            "SELECT task_id, key, step, ts, value FROM metric"):
        if tid in runs:
            # The SQLite store keeps NaN as NULL.
            h["metric point"][(runs[tid], key, step, ts // 1000000,
                               num(math.nan if value is None
                                   else value))] += 1
    # A dataset input is data kind "dataset" with MLflow's digest, or, when
    # its source is a local path, that file (kind "file") with MLflow's
    # digest in its metadata (docs/observers.md).
    for tid, name, kind, digest, meta in db.execute(
            "SELECT td.task_id, td.name, d.kind, d.digest, d.metadata"
            " FROM task_data td JOIN data d ON d.id = td.data_id"
            " WHERE td.role = 'used' AND d.kind IN ('dataset', 'file')"):
        m = json.loads(meta or "{}")
        if kind == "file":
            if tid not in runs or "mlflow.dataset_digest" not in m:
                continue  # a file a process read, not a dataset input
            digest = m["mlflow.dataset_digest"]
        h["dataset input"][(runs.get(tid), name, digest,
                            m.get("mlflow.context"))] += 1
    for meta, in db.execute("SELECT metadata FROM data WHERE kind = 'model'"
                            " AND id LIKE 'mlflow-model:%'"):
        m = json.loads(meta)
        if "mlflow.model_id" not in m:
            continue  # linked to a run, not read from logged_models
        mid = m["mlflow.model_id"]
        h["logged model"][(mid, m.get("mlflow.name"),
                           m.get("mlflow.source_run_id"))] += 1
        for k, v in m.get("params", {}).items():
            h["model param"][(mid, k, v)] += 1
        for k, v in m.get("tags", {}).items():
            h["model tag"][(mid, k, v)] += 1
        for x in m.get("metrics", []):
            h["model metric"][(mid, x["key"], num(x["value"]), x["step"],
                               x["timestamp"], x.get("run_id"),
                               x.get("dataset_name"),
                               x.get("dataset_digest"))] += 1
    db.close()
    return h


# ---- TensorBoard -----------------------------------------------------------

def tb_oracle(logdir):
    """Every scalar, histogram, image, audio clip and text of every run
    under logdir, as TensorBoard's EventAccumulator reads them."""
    import hashlib
    import os

    from tensorboard.backend.event_processing import event_accumulator as ea
    from tensorboard.util import tensor_util
    o = collections.defaultdict(collections.Counter)
    runs = sorted({os.path.relpath(d, logdir) for d, _, files in
                   os.walk(logdir) if any("tfevents" in f for f in files)})
    for run in runs:
        acc = ea.EventAccumulator(os.path.join(logdir, run),
                                  size_guidance={k: 0 for k in (
                                      ea.SCALARS, ea.HISTOGRAMS, ea.IMAGES,
                                      ea.AUDIO, ea.TENSORS,
                                      ea.COMPRESSED_HISTOGRAMS)},
                                  purge_orphaned_data=False)
        acc.Reload()
        tags = acc.Tags()
        for tag in tags["scalars"]:
            for e in acc.Scalars(tag):
                o["scalar"][(run, tag, e.step, num(e.value))] += 1
        for tag in tags["histograms"]:
            for e in acc.Histograms(tag):
                h = e.histogram_value
                buckets = tuple(
                    (lo, hi, c) for lo, hi, c in zip(
                        [-DBL_MAX] + list(h.bucket_limit[:-1]),
                        h.bucket_limit, h.bucket) if c != 0)
                o["histogram"][(run, tag, e.step, h.num, h.min, h.max,
                                h.sum, h.sum_squares, buckets)] += 1
        for tag in tags["images"]:
            for e in acc.Images(tag):
                s = e.encoded_image_string
                o["image"][(run, tag, e.step, e.width, e.height, len(s),
                            "sha256:" + hashlib.sha256(s).hexdigest())] += 1
        for tag in tags["audio"]:
            for e in acc.Audio(tag):
                s = e.encoded_audio_string
                o["audio"][(run, tag, e.step, e.content_type,
                            e.sample_rate, e.length_frames, len(s),
                            "sha256:" + hashlib.sha256(s).hexdigest())] += 1
        for tag in tags["tensors"]:
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            for e in acc.Tensors(tag):
                if plugin == "text":
                    text = e.tensor_proto.string_val[0].decode("utf-8")
                    o["text"][(run, tag, e.step, text)] += 1
                elif plugin == "scalars":  # new_style scalars
                    v = tensor_util.make_ndarray(e.tensor_proto).item()
                    o["scalar"][(run, tag, e.step, num(v))] += 1
    return o


def tb_held(store_path):
    """The same records, as the mida store holds them."""
    db = _store(store_path)
    h = collections.defaultdict(collections.Counter)
    runs = dict(db.execute(
        "SELECT t.id, t.source_key FROM task t JOIN workflow w"
        " ON w.id = t.workflow_id WHERE w.source = 'tensorboard'"))
    for tid, key, step, value in db.execute(
            "SELECT task_id, key, step, value FROM metric"):
        if tid in runs:
            h["scalar"][(runs[tid], key, step,
                         num(math.nan if value is None else value))] += 1
    for tid, name, kind, size, digest, meta in db.execute(
            "SELECT td.task_id, td.name, d.kind, d.size, d.digest,"
            " d.metadata FROM task_data td JOIN data d ON d.id = td.data_id"
            " WHERE d.id LIKE 'tensorboard:%'"):
        m = json.loads(meta)
        run = runs.get(tid)
        if kind == "histogram":
            h["histogram"][(run, name, m["step"], m["count"], m["min"],
                            m["max"], m["sum"], m.get("sum_squares"),
                            tuple(tuple(b) for b in m["buckets"]))] += 1
        elif kind == "image":
            h["image"][(run, name, m["step"], m["width"], m["height"],
                        size, digest)] += 1
        elif kind == "audio":
            h["audio"][(run, name, m["step"], m.get("content_type"),
                        m["sample_rate"], m["frames"], size, digest)] += 1
        elif kind == "text":
            h["text"][(run, name, m["step"], m["text"])] += 1
    db.close()
    return h


def skipped_counters(store_path):
    """{kind: records} of observe.tensorboard.skipped.* in the store."""
    db = _store(store_path)
    rows = db.execute("SELECT name, sum(value) FROM counter WHERE name LIKE"
                      " 'observe.tensorboard.skipped.%' GROUP BY name")
    out = {n[len("observe.tensorboard.skipped."):]: v for n, v in rows}
    db.close()
    return out

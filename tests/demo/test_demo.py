"""The demo's scenario (examples/demo.sh), shortened, run once; then the
store it leaves is checked: every source's workflows in one campaign, the
best MLflow run linked to the Dask tasks that produced its inputs, every
MLflow metric point, each run's cost on its command, and the campaign's
RO-Crate through roc-validator.

Real Dask (LocalCluster, 2 worker processes), PyTorch, MLflow (SQLite
tracking store) and TensorBoard, under the real `mida run`."""

import json
import os
import pathlib
import sqlite3
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent / "exports"))

from export_support import seed_validator_cache, validate_crate  # noqa: E402

pytest.importorskip("mlflow")
pytest.importorskip("torch")
pytest.importorskip("distributed")

CAMPAIGN = "materials-demo"
SETTINGS = ["r4-zscore:0.01:16", "r6-minmax:0.02:16"]


def build_dir():
    b = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
    return b if b.is_absolute() else ROOT / b


def preload_built():
    return any(build_dir().glob("**/libmida_preload.so"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Runs the shortened scenario once; returns (out dir, its output)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")
           and not k.startswith("MLFLOW_")}
    env.update(PYTHON=sys.executable, MIDA_SAMPLE_HZ="0",
               DEMO_VARIANTS="r4-zscore:4.0:12:zscore,"
                             "r6-minmax:6.0:16:minmax",
               DEMO_SETTINGS=" ".join(SETTINGS), DEMO_EPOCHS="5",
               DEMO_SHARDS="3", DEMO_STRUCTURES="60")
    r = subprocess.run([str(ROOT / "examples" / "demo.sh"), str(build_dir()),
                        str(out)], env=env, capture_output=True, text=True,
                       timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out, r.stdout


def query(out, sql, params=()):
    con = sqlite3.connect(f"file:{out / 'mida.db'}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def best_run(out):
    return query(out, """
        SELECT t.id, t.source_key FROM task t
        JOIN workflow w ON w.id = t.workflow_id
        JOIN metric m ON m.task_id = t.id AND m.key = 'val_loss'
        WHERE w.source = 'mlflow' GROUP BY t.id ORDER BY min(m.value)
        LIMIT 1""")[0]


def test_every_source_in_one_campaign(demo):
    out, _ = demo
    rows = query(out, """
        SELECT w.source, count(DISTINCT w.id), count(t.id)
        FROM workflow w JOIN campaign c ON c.id = w.campaign_id
        LEFT JOIN task t ON t.workflow_id = w.id
        WHERE c.name = ? GROUP BY w.source""", (CAMPAIGN,))
    got = {r[0]: (r[1], r[2]) for r in rows}
    # prepare, one command per setting, the shell step: a workflow each,
    # whose root task is the command.
    commands = 2 + len(SETTINGS)
    roots = query(out, """
        SELECT w.id, t.activity FROM workflow w
        JOIN campaign c ON c.id = w.campaign_id
        JOIN task t ON t.workflow_id = w.id AND t.parent_id IS NULL
        WHERE c.name = ? AND w.source = 'run'""", (CAMPAIGN,))
    assert got["run"][0] == commands
    assert len(roots) == commands and len({r[0] for r in roots}) == commands
    assert sorted(r[1] for r in roots) == ["python"] * (commands - 1) + ["sh"]
    if preload_built():
        # The processes each command ran are tasks of its workflow, below
        # its root (docs/run.md): the shell step's awk, sort, head.
        assert got["run"][1] > commands
        shell = query(out, """
            SELECT t.activity FROM task t JOIN task r ON r.id = t.parent_id
            JOIN workflow w ON w.id = r.workflow_id AND w.source = 'run'
            JOIN campaign c ON c.id = w.campaign_id
            WHERE c.name = ? AND r.parent_id IS NULL
              AND r.activity = 'sh'""", (CAMPAIGN,))
        assert {"awk", "sort", "head"} <= {r[0] for r in shell}, shell
    else:
        assert got["run"][1] == commands
    assert got["dask"][0] == 1 and got["dask"][1] >= 3 + 2 * 3 + 2 + 2 * 3
    assert got["mlflow"][1] == len(SETTINGS)
    assert got["tensorboard"][1] >= len(SETTINGS)
    assert not query(out, "SELECT id FROM workflow WHERE campaign_id IS NULL"
                     " OR campaign_id <> (SELECT id FROM campaign"
                     " WHERE name = ?)", (CAMPAIGN,))


def test_best_run_is_linked_to_the_dask_tasks_of_its_inputs(demo, mida_bin):
    out, stdout = demo
    best, _ = best_run(out)
    shards = query(out, """
        SELECT d.id, d.uri FROM task_data u JOIN data d ON d.id = u.data_id
        WHERE u.task_id = ? AND u.role = 'used' AND d.kind = 'file'""",
                   (best,))
    assert len(shards) == 3
    assert all(s[1].startswith("file://") and s[1].endswith(".npz")
               for s in shards)
    if preload_built():
        # The store's own link: the Dask task generated the data row the
        # run used, and `mida lineage` walks it.
        writers = query(out, """
            SELECT DISTINCT t.id FROM task_data u
            JOIN task_data g ON g.data_id = u.data_id AND g.role = 'generated'
            JOIN task t ON t.id = g.task_id
            JOIN workflow w ON w.id = t.workflow_id AND w.source = 'dask'
            WHERE u.task_id = ? AND u.role = 'used'
              AND t.activity = 'write_shard'""", (best,))
        assert len(writers) == 3
        r = subprocess.run([mida_bin, "--store", f"sqlite://{out}/mida.db",
                            "lineage", best, "--up"], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "write_shard" in r.stdout and "compute_descriptors" \
            in r.stdout and "generate_structures" in r.stdout
    else:
        # Without file capture, the shard's URI is the path the Dask task
        # returned.
        writers = query(out, """
            SELECT DISTINCT t.id FROM task t, data d
            WHERE t.activity = 'write_shard'
              AND 'file://' || json_extract(t.generated, '$.return') = d.uri
              AND d.id IN (SELECT data_id FROM task_data
                           WHERE task_id = ? AND role = 'used')""", (best,))
        assert len(writers) == 3
    # The demo's answer names the preprocessing parameters behind it.
    assert "compute_descriptors" in stdout and "fit_normaliser" in stdout
    # Each run is a child of its own training command, which measured it.
    cost = query(out, """
        SELECT w.source, json_extract(p.telemetry, '$.cpu_process_ns'),
               json_extract(p.telemetry, '$.maxrss_kb'), p.used
        FROM task t JOIN task p ON p.id = t.parent_id
        JOIN workflow w ON w.id = p.workflow_id WHERE t.id = ?""", (best,))
    assert cost[0][0] == "run" and cost[0][1] > 0 and cost[0][2] > 10000
    assert "train.py" in cost[0][3]
    parents = query(out, """
        SELECT count(DISTINCT t.parent_id) FROM task t
        JOIN workflow w ON w.id = t.workflow_id WHERE w.source = 'mlflow'""")
    assert parents == [(len(SETTINGS),)]


def test_every_mlflow_metric_point_is_in_the_store(demo):
    out, _ = demo
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=f"sqlite:///{out}/mlflow.db")
    exp = client.get_experiment_by_name("materials-energy")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == len(SETTINGS)
    total = 0
    for run in runs:
        for key in run.data.metrics:
            want = sorted((m.step, m.timestamp * 1000000, m.value)
                          for m in client.get_metric_history(run.info.run_id,
                                                             key))
            got = sorted(query(out, """
                SELECT m.step, m.ts, m.value FROM metric m
                JOIN task t ON t.id = m.task_id
                JOIN workflow w ON w.id = t.workflow_id
                WHERE w.source = 'mlflow' AND t.source_key = ?
                  AND m.key = ?""", (run.info.run_id, key)))
            assert got == want, (run.info.run_name, key)
            total += len(want)
    assert total == len(SETTINGS) * 3 * 5


def test_steering_answer_came_while_training(demo):
    _, stdout = demo
    section = stdout.split("Steering, while training runs")[1]
    section = section.split("trained ")[0]
    assert "best_val_loss" in section
    if "while training still runs" in section:
        assert "RUNNING" in section


def test_the_demos_rocrate_passes_roc_validator(demo, tmp_path):
    out, _ = demo
    crate = out / "crate"
    assert (crate / "ro-crate-metadata.json").exists()
    cache = tmp_path / "rocache"
    seed_validator_cache(cache)
    ok, report = validate_crate(crate, cache)
    assert ok, report


@pytest.fixture(scope="module")
def mida_bin():
    b = pathlib.Path(os.environ.get("MIDA_BIN",
                                    build_dir() / "src" / "cli" / "mida"))
    return str(b if b.is_absolute() else ROOT / b)

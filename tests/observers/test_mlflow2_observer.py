"""The MLflow observer against a real MLflow 2.x (the last 2.x release from
PyPI), in an environment of its own (mlflow2_env.py: .venv-mlflow2, built by
scripts/install-deps.sh test, or here when it is missing): the same runs as
with MLflow 3, every point exact."""

import math
import pathlib
import sqlite3
import subprocess
import sys

import pytest

import mlflow2_env
# The fixtures are imported so that pytest finds them here.
from obs_support import (  # noqa: F401
    ROOT, mida_bin, observer, store, summary)

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def mlflow2_python():
    if not mlflow2_env.is_ready(ROOT):
        err = mlflow2_env.build(ROOT, sys.executable)
        if err is not None:
            pytest.skip("could not install MLflow 2.x from PyPI: " +
                        err[-500:])
    return str(mlflow2_env.python(ROOT))


def test_mlflow2_every_point_exact(tmp_path, store, observer, mlflow2_python):
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    r = subprocess.run([mlflow2_python, str(HERE / "mlflow_writer.py"), uri,
                        "2", "50"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(db)
    version = con.execute("SELECT version_num FROM alembic_version"
                          ).fetchone()[0]
    mlflow_version = subprocess.run(
        [mlflow2_python, "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True, text=True).stdout.strip()
    assert mlflow_version.startswith("2."), mlflow_version
    rc, out, err = observer("mlflow", "--tracking-uri", uri).once()
    assert rc == 0, err
    assert "not one this observer was checked against" not in err, version
    rows = con.execute("SELECT run_uuid, key, step, timestamp, value, is_nan"
                       " FROM metrics").fetchall()
    assert summary(out)["metrics"] == len(rows) == 2 * 50 * 2 + 3
    have = {(r[0], r[1], r[2], r[3] // 1000000): r[4] for r in store.query(
        "SELECT t.source_key, m.key, m.step, m.ts, m.value FROM metric m"
        " JOIN task t ON t.id = m.task_id")}
    for run, key, step, ts, value, is_nan in rows:
        got = have[(run, key, step, ts)]
        if is_nan:
            assert got is None
        elif abs(value) >= sys.float_info.max:
            assert got == math.copysign(math.inf, value)
        else:
            assert got == value
    tasks = store.query("SELECT status, used FROM task")
    assert len(tasks) == 2 and all(t[0] == "FINISHED" for t in tasks)
    used = store.query("SELECT count(*) FROM task_data WHERE role = 'used'")
    assert used[0][0] == 2  # the dataset inputs (MLflow >= 2.4)

"""bench_fidelity.py MIDA_BIN -- capture fidelity: for a fixed set of real
workloads run under `mida run`, the share of the records the tool's own
API reports (the oracle) that mida holds, and how many records mida holds
that the oracle does not (invented), per record kind.

Workloads (tests/observers/):
  mlflow/sqlite   mlflow_workload.py on MLflow 3's default store
                  (./mlflow.db), oracle MlflowClient
  mlflow/mlruns   the same on a file store (./mlruns), oracle MlflowClient
  tensorboard     tb_workload.py (PyTorch and tensorboardX writers), oracle
                  TensorBoard's EventAccumulator

The comparison is tests/observers/fidelity.py's. To add rows (another
source, e.g. Dask with a scheduler plugin as its oracle), add a function
to WORKLOADS that runs its workload in a directory and returns (oracle,
held), each {kind: collections.Counter of records}.

Prints a table, then one JSON line: {"bench": "fidelity", "rows": [{source,
workload, kind, oracle, held, invented}...], "held_share", "invented"}.
Figures, not pass/fail. Needs the test venv (.venv).
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "observers"))
import fidelity  # noqa: E402

import bench_args

MIDA = bench_args.mida_program(__doc__, "[MIDA]")
bench_args.no_more("[MIDA]", 1)
PY = sys.executable
OBS = ROOT / "tests" / "observers"
MLFLOW_STEPS = os.environ.get("BENCH_MLFLOW_STEPS", "500")
TB_STEPS = os.environ.get("BENCH_TB_STEPS", "20")


def mida_run(cwd, args, **env_extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MIDA_") and k != "MLFLOW_TRACKING_URI"}
    env["MIDA_SPOOL"] = str(cwd / "spool")
    env.update(env_extra)
    r = subprocess.run([MIDA, "--store", str(cwd / "mida.db"), "run",
                        "--no-dask", *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])


def mlflow_sqlite(cwd):
    mida_run(cwd, ["--", PY, str(OBS / "mlflow_workload.py"), MLFLOW_STEPS])
    return (fidelity.mlflow_oracle(f"sqlite:///{cwd / 'mlflow.db'}"),
            fidelity.mlflow_held(str(cwd / "mida.db")))


def mlflow_mlruns(cwd):
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    import mlflow
    # An mlruns with an experiment: MLflow's default stays there.
    mlflow.MlflowClient(tracking_uri=f"file://{cwd}/mlruns") \
        .search_experiments()
    mida_run(cwd, ["--", PY, str(OBS / "mlflow_workload.py"), MLFLOW_STEPS],
             MLFLOW_ALLOW_FILE_STORE="true")
    return (fidelity.mlflow_oracle(f"file://{cwd}/mlruns"),
            fidelity.mlflow_held(str(cwd / "mida.db")))


def tensorboard(cwd):
    logs = cwd / "logs"
    mida_run(cwd, ["--no-mlflow", "--tensorboard", str(logs), "--", PY,
                   str(OBS / "tb_workload.py"), str(logs), TB_STEPS])
    return (fidelity.tb_oracle(str(logs)),
            fidelity.tb_held(str(cwd / "mida.db")))


WORKLOADS = [
    ("mlflow", "sqlite", mlflow_sqlite),
    ("mlflow", "mlruns", mlflow_mlruns),
    ("tensorboard", "torch+tensorboardX", tensorboard),
]


def main():
    rows = []
    for source, name, run in WORKLOADS:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.time()
            oracle, held = run(pathlib.Path(d))
            took = time.time() - t0
        for kind, (n, kept, extra) in fidelity.compare(oracle, held).items():
            rows.append({"source": source, "workload": name, "kind": kind,
                         "oracle": n, "held": kept, "invented": extra})
        print(f"# {source}/{name}: {took:.1f} s", file=sys.stderr)
    print(f"{'source':<12} {'workload':<19} {'record kind':<15}"
          f" {'oracle':>7} {'held':>7} {'share':>8} {'invented':>8}")
    for r in rows:
        share = r["held"] / r["oracle"] if r["oracle"] else 1.0
        print(f"{r['source']:<12} {r['workload']:<19} {r['kind']:<15}"
              f" {r['oracle']:>7} {r['held']:>7} {share:>8.2%}"
              f" {r['invented']:>8}")
    total = sum(r["oracle"] for r in rows)
    kept = sum(r["held"] for r in rows)
    invented = sum(r["invented"] for r in rows)
    print(json.dumps({"bench": "fidelity", "rows": rows,
                      "held_share": kept / total if total else 1.0,
                      "oracle_records": total, "invented": invented,
                      "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()

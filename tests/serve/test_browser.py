"""The dashboard in a real browser: tests/serve/browser.mjs drives Debian's
headless Chromium with playwright-core while a Dask pipeline and two MLflow
runs run under `mida run` (dashboard_workload.py); browser_unfinished.mjs
checks the views on tasks with no start or no end (unfinished_workload.py).
Screenshots of each page go to test-results/serve-browser*/."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from serve_support import ROOT

BUILD = pathlib.Path(os.environ.get("MIDA_BUILD", ROOT / "build"))
RESULTS = pathlib.Path(os.environ.get("MIDA_TEST_RESULTS",
                                      ROOT / "test-results"))
STEPS = 40


def need_browser():
    """Skips the test unless node, web/'s packages and chromium are here."""
    node_modules = ROOT / "web" / "node_modules" / "playwright-core"
    if shutil.which("node") is None or not node_modules.exists():
        pytest.skip("node or web/node_modules (npm ci in web/) is missing")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian's chromium is not installed")


def clean_env():
    """This environment without any MIDA_ or DASK_ setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")
            and not k.startswith("DASK_")}


def run_browser(script, env, *args):
    """Runs tests/serve/SCRIPT ARGS in node; fails the test if it fails."""
    r = subprocess.run(["node", str(ROOT / "tests" / "serve" / script),
                        *args], env=env, capture_output=True, text=True,
                       timeout=300)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_end_to_end(serve, mida_bin, tmp_path):
    need_browser()
    pytest.importorskip("mlflow")
    pytest.importorskip("distributed")
    store = tmp_path / "dash.db"
    env = clean_env()
    env.update(MIDA_STORE=f"sqlite://{store}", MIDA_SAMPLE_HZ="2",
               PYTHONPATH=str(BUILD / "python"))
    r = subprocess.run([sys.executable, "-c",
                        "import mida\nwith mida.workflow('before'): pass"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    live = serve(str(store), "--poll-ms", "100")
    # A second store, served and then overwritten (the server may hold it
    # open, so the file is changed in place): the page must say so.
    gone = tmp_path / "gone.db"
    shutil.copy(store, gone)
    dead = serve(str(gone))
    with open(gone, "r+b") as f:
        f.truncate(0)
        f.write(b"this store was overwritten " * 200)
    for p in tmp_path.glob("gone.db-*"):
        p.unlink()
    mlflow_uri = f"sqlite:///{tmp_path}/mlflow.db"
    workload = [mida_bin, "--store", str(store), "run", "--mlflow",
                mlflow_uri, "--", sys.executable,
                str(ROOT / "tests" / "serve" / "dashboard_workload.py"),
                mlflow_uri, str(STEPS)]
    shots = RESULTS / "serve-browser"
    benv = dict(env, MIDA_URL=live.url, MIDA_DEAD_URL=dead.url,
                MIDA_WORKLOAD=json.dumps(workload), MIDA_STEPS=str(STEPS),
                MIDA_SHOTS=str(shots), MIDA_WEB=str(ROOT / "web"))
    run_browser("browser.mjs", benv)
    assert len(list(shots.glob("*.png"))) >= 11


def test_tasks_without_start_or_end(serve, mida_bin, tmp_path):
    # A Dask key cancelled before it ran (an end, no start) and a task LOST
    # with its process (a start, no end), in the window of the host's
    # telemetry: no view may draw either as if it ran from the window's
    # start, or up to now.
    need_browser()
    pytest.importorskip("distributed")
    store = tmp_path / "unfinished.db"
    spool = tmp_path / "spool"
    env = clean_env()
    env.update(MIDA_STORE=f"sqlite://{store}", MIDA_SPOOL=str(spool),
               MIDA_SAMPLE_HZ="10", PYTHONPATH=str(BUILD / "python"))
    r = subprocess.run([sys.executable,
                        str(ROOT / "tests" / "serve" /
                            "unfinished_workload.py"), str(tmp_path)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == -9, r.stdout + r.stderr  # it killed itself
    ids = r.stdout.strip().splitlines()[-1]
    r = subprocess.run([mida_bin, "--store", str(store), "recover",
                        "--spool", str(spool)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    live = serve(str(store))
    shots = RESULTS / "serve-browser-unfinished"
    run_browser("browser_unfinished.mjs",
                dict(env, MIDA_URL=live.url, MIDA_SHOTS=str(shots),
                     MIDA_IDS=ids, MIDA_WEB=str(ROOT / "web")))

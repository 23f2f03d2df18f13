"""Scattered data under zero-code Dask capture, with real Dask: a value
placed with client.scatter is data, not a task. Whatever is done with it
-- used by tasks, gathered, released (del), broadcast, replicated,
published as a dataset and fetched back -- no task row is made for its
key (before, each scattered key a task used became a task that ended
CANCELLED when Dask forgot it); the tasks that use it record it as data
used (task_data, role "used", one data row per scattered key: uri
dask://<scheduler id>/<key>, kind "object", size its nbytes, name its
key, which is what the task's `used` has as {"ref": key}). A real cancel
-- a task released before it ran -- is still CANCELLED."""

import json
import subprocess
import sys
import urllib.parse

import pytest

from midapy_util import child_env, store_rows

PRELOAD = {"DASK_DISTRIBUTED__SCHEDULER__PRELOAD": "mida.dask",
           "DASK_DISTRIBUTED__WORKER__PRELOAD": "mida.dask"}

SCRIPT = """
import json, sys, time
from dask.distributed import Client, LocalCluster

def inc(x):
    return x + 1

def total(xs):
    return sum(xs)

def slow(ms):
    time.sleep(ms / 1000)
    return ms

def forgotten(client, keys):
    # Until the scheduler has forgotten them (where the old code recorded
    # its CANCELLED).
    check = lambda dask_scheduler, keys: [
        k for k in keys if k in dask_scheduler.tasks]
    deadline = time.time() + 30
    while client.run_on_scheduler(check, keys=keys):
        assert time.time() < deadline, "keys not forgotten"
        time.sleep(0.05)

if __name__ == "__main__":
    out, processes = sys.argv[1], sys.argv[2] == "processes"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                      dashboard_address=None) as c, Client(c) as client:
        exp = {"scheduler": client.scheduler_info()["id"]}
        # Used by a task, then released.
        [d] = client.scatter([41])
        assert client.submit(inc, d, key="inc-s").result() == 42
        # On every worker, used by a task through a list.
        big = client.scatter(list(range(100, 110)), broadcast=True)
        assert client.submit(total, big, key="total-b").result() == 1045
        # Gathered only: no task uses it.
        alone = client.scatter([1, 2, 3], hash=False)
        assert client.gather(alone) == [1, 2, 3]
        # Replicated, then used.
        [r] = client.scatter([7000])
        client.replicate([r])
        assert client.submit(inc, r, key="inc-r").result() == 7001
        # Scattered under a key of the user's (a space and a slash in it),
        # published, fetched back, used.
        p = client.scatter({"my data/1": 500})["my data/1"]
        client.publish_dataset(pub=p)
        q = client.get_dataset("pub")
        assert client.submit(inc, q, key="inc-p").result() == 501
        client.unpublish_dataset("pub")
        exp["used"] = {"inc-s": [d.key], "total-b": sorted(f.key for f in big),
                       "inc-r": [r.key], "inc-p": ["my data/1"]}
        exp["gathered"] = [f.key for f in alone]
        # A real cancel: inc-x is released before it runs.
        s = client.submit(slow, 1500, key="slow-1")
        x = client.submit(inc, s, key="inc-x")
        time.sleep(0.2)
        x.cancel()
        assert s.result() == 1500
        scattered = [d.key, r.key, "my data/1"] + exp["used"]["total-b"] + \\
            exp["gathered"]
        del d, big, alone, r, p, q, x
        forgotten(client, scattered + ["inc-x"])
        exp["scattered"] = scattered
    with open(out, "w") as f:
        json.dump(exp, f)
"""


@pytest.mark.parametrize("where", ["processes", "threads"])
def test_scattered_data_is_data_not_a_cancelled_task(tmp_path, where):
    store = tmp_path / "scatter.db"
    script = tmp_path / "scatter_script.py"
    script.write_text(SCRIPT)
    out = tmp_path / "expected.json"
    r = subprocess.run([sys.executable, str(script), str(out), where],
                       env=child_env(store, **PRELOAD), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    exp = json.loads(out.read_text())

    rows = store_rows(store, "SELECT id, source_key, activity, status, "
                      "used, workflow_id FROM task")
    by_key = {row["source_key"]: row for row in rows}
    # Only the keys tasks computed are tasks: no row for scattered data,
    # whatever was done with it.
    assert sorted(by_key) == ["inc-p", "inc-r", "inc-s", "inc-x", "slow-1",
                              "total-b"], rows
    assert len(rows) == len(by_key)
    assert not set(exp["scattered"]) & set(by_key)
    statuses = {k: row["status"] for k, row in by_key.items()}
    assert statuses == {"inc-p": "FINISHED", "inc-r": "FINISHED",
                        "inc-s": "FINISHED", "total-b": "FINISHED",
                        "slow-1": "FINISHED", "inc-x": "CANCELLED"}, statuses
    assert json.loads(by_key["inc-s"]["used"]) == {
        "x": {"ref": exp["used"]["inc-s"][0]}}
    wfs = store_rows(store, "SELECT status FROM workflow")
    assert wfs and all(w["status"] == "FINISHED" for w in wfs), wfs

    # The tasks that used scattered data have it among their data used.
    used = store_rows(store, "SELECT t.source_key AS task, td.role AS role, "
                      "td.name AS name, d.kind AS kind, d.uri AS uri, "
                      "d.size AS size FROM task_data td "
                      "JOIN task t ON t.id = td.task_id "
                      "JOIN data d ON d.id = td.data_id")
    got = {}
    for u in used:
        assert u["role"] == "used" and u["kind"] == "object", u
        assert u["uri"] == "dask://%s/%s" % (
            urllib.parse.quote(exp["scheduler"], safe=""),
            urllib.parse.quote(u["name"], safe="")), u
        assert u["size"] > 0, u
        got.setdefault(u["task"], []).append(u["name"])
    assert {k: sorted(v) for k, v in got.items()} == exp["used"], got
    # One data row per scattered key, however many tasks used it.
    n = store_rows(store, "SELECT count(*) AS n FROM data")
    assert n == [{"n": 13}], n

"""An export of a store that a `mida run` is still writing: each format
exits 0 and reads back valid, the run's workflow and its command are still
running (OpenLineage: a START and no end; the crate: ActiveActionStatus),
and once the run ends the next export ends them."""

import json
import os
import subprocess
import time

from export_support import openlineage_validator, validate_prov_schema


def test_each_export_while_a_run_records(mida_bin, tmp_path):
    store = str(tmp_path / "live.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env["MIDA_SPOOL"] = str(tmp_path / "spool")
    stop = tmp_path / "stop"
    # It writes files until the test makes stop, so it runs while the
    # exports read.
    script = ('i=0; until [ -e "$1" ]; do i=$((i+1)); printf x > "f $i";'
              ' cat "f $i" > /dev/null; sleep 0.05; done')
    live = subprocess.Popen(
        [mida_bin, "--store", store, "run", "--workflow-name", "live \u00e9",
         "--", "sh", "-c", script, "sh", str(stop)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)

    def export(*args):
        return subprocess.run([mida_bin, "--store", store, "export", *args],
                              env=env, cwd=tmp_path, capture_output=True,
                              timeout=120)

    def workflow_events():
        r = export("openlineage")
        if r.returncode != 0:
            return None, r
        events = [json.loads(line) for line in r.stdout.splitlines()]
        return [e for e in events if e["job"]["name"] == "live \u00e9"], r

    try:
        deadline = time.monotonic() + 60
        while True:  # until the run's workflow is in the store
            events, r = workflow_events()
            if events or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert events, r.stderr.decode()
        assert live.poll() is None
        validate = openlineage_validator()
        r = export("openlineage")
        assert r.returncode == 0, r.stderr.decode()
        for line in r.stdout.splitlines():
            validate(json.loads(line))
        assert [e["eventType"] for e in workflow_events()[0]] == ["START"]
        r = export("prov")
        assert r.returncode == 0, r.stderr.decode()
        validate_prov_schema(json.loads(r.stdout))
        crate = tmp_path / "crate"
        r = export("rocrate", str(crate))
        assert r.returncode == 0, r.stderr.decode()
        graph = json.loads((crate / "ro-crate-metadata.json").read_text())
        runs = [e for e in graph["@graph"] if e.get("name") ==
                "Run of live \u00e9"]
        assert [e["actionStatus"]["@id"] for e in runs] == [
            "http://schema.org/ActiveActionStatus"]
    finally:
        stop.touch()
        assert live.wait(timeout=120) == 0, live.stderr.read().decode()
    assert [e["eventType"] for e in workflow_events()[0]] == \
        ["START", "COMPLETE"]

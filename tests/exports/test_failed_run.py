"""The exports of a workflow that failed say why: a `mida run` whose
command exits 3, and one whose command is killed with SIGKILL, recorded
for real, then exported in each format.

The store keeps no error on a workflow, so each export said nothing of the
cause: the OpenLineage FAIL event of the workflow read "failed (no
message)", its RO-Crate run had FailedActionStatus and no error, its PROV
activity no mida:error. Each now gives its root task's error (the command's
exit status or signal), as its tasks' events already did."""

import json
import pathlib

import pytest

from export_support import openlineage_validator, validate_prov_schema

COMMANDS = {
    "exits": ("cat no-such-file 2>/dev/null; exit 3", "exit status 3"),
    "killed": ("sleep 0.1; kill -9 $$", "killed by signal 9 (KILL)"),
}


@pytest.fixture
def failed_store(run, tmp_path):
    store = str(tmp_path / "failed.db")
    for name, (command, _) in COMMANDS.items():
        r = run("run", "--workflow-name", name, "--", "sh", "-c", command,
                store_path=store)
        assert r.returncode != 0, r.stderr
    # a workflow that ended well, though one of its processes failed: no
    # error for it
    r = run("run", "--workflow-name", "recovers", "--", "sh", "-c",
            "false; true", store_path=store)
    assert r.returncode == 0, r.stderr
    return store


def test_a_failed_workflow_says_its_root_task_s_error(run, failed_store,
                                                      tmp_path):
    r = run("export", "openlineage", store_path=failed_store)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    validate = openlineage_validator()
    for e in events:
        validate(e)
    ends = {e["job"]["name"]: e for e in events
            if e["job"]["facets"]["jobType"]["jobType"] == "WORKFLOW"
            and e["eventType"] != "START"}
    for name, (_, error) in COMMANDS.items():
        assert ends[name]["eventType"] == "FAIL"
        facet = ends[name]["run"]["facets"]["errorMessage"]
        assert facet["message"] == error, facet
    assert ends["recovers"]["eventType"] == "COMPLETE"
    assert "errorMessage" not in ends["recovers"]["run"]["facets"]

    r = run("export", "prov", store_path=failed_store)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate_prov_schema(doc)
    workflows = {a["mida:name"]: a for a in doc["activity"].values()
                 if "mida:name" in a}
    for name, (_, error) in COMMANDS.items():
        assert workflows[name]["mida:error"] == error
    assert "mida:error" not in workflows["recovers"]

    crate = tmp_path / "crate"
    r = run("export", "rocrate", str(crate), store_path=failed_store)
    assert r.returncode == 0, r.stderr
    graph = json.loads((crate / "ro-crate-metadata.json").read_text())
    runs = {e["name"]: e for e in graph["@graph"]
            if e["@id"].startswith("#run-")}
    for name, (_, error) in COMMANDS.items():
        assert runs["Run of " + name]["error"] == error
        assert runs["Run of " + name]["actionStatus"]["@id"].endswith(
            "FailedActionStatus")
    assert "error" not in runs["Run of recovers"]

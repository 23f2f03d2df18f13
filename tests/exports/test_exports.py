"""`mida export prov|rocrate|openlineage` checked by independent validators
(roc-validator, the OpenLineage and PROV-JSON JSON Schemas, `prov`), on the
fixture store (which has a failed task), on an empty store, and on bad
input: no partial file is ever left behind."""

import http.server
import json
import os
import stat
import threading

import pytest

from export_support import (openlineage_validator, prov_round_trip,
                            seed_validator_cache, validate_crate,
                            validate_prov_schema)
from mida_cli_store import (CAMPAIGN, T_CLEAN, T_EVAL, T_FIT, T_LOAD, WF_PREP,
                            WF_TRAIN)

pytest.importorskip("rocrate_validator")


@pytest.fixture(scope="module")
def validator_cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("rocache") / "cache"
    seed_validator_cache(path)
    return path


def leftovers(directory):
    return sorted(p.name for p in directory.iterdir() if ".tmp-" in p.name)


def store_with(store, tmp_path, *statements):
    """A copy of the fixture store with statements ((sql, params)...) run
    on it; its path."""
    import shutil
    import sqlite3
    path = tmp_path / "changed.db"
    shutil.copy(store, path)
    db = sqlite3.connect(path)
    for sql, params in statements:
        db.execute(sql, params)
    db.commit()
    db.close()
    return str(path)


def validated_events(run, store_path, *args):
    """The OpenLineage events of the store, each checked by the schemas."""
    r = run("export", "openlineage", *args, store_path=store_path)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    validate = openlineage_validator()
    for e in events:
        validate(e)
    return events


# ---- RO-Crate --------------------------------------------------------------

def test_rocrate_directory_and_zip_pass_roc_validator(run, tmp_path,
                                                      validator_cache):
    crate, zipped = tmp_path / "crate", tmp_path / "crate.zip"
    assert run("export", "rocrate", str(crate)).returncode == 0
    assert run("export", "rocrate", str(zipped)).returncode == 0
    for c in (crate, zipped):
        ok, issues = validate_crate(c, validator_cache)
        assert ok, issues
    meta = json.loads((crate / "ro-crate-metadata.json").read_text())
    graph = {e["@id"]: e for e in meta["@graph"]}
    fit = graph[f"#task-{T_FIT}"]
    assert fit["@type"] == "CreateAction"
    assert fit["actionStatus"]["@id"].endswith("FailedActionStatus")
    assert {"@id": "#data-sha256%3Aaaa"} in fit["object"]
    params = [graph[o["@id"]] for o in fit["object"]
              if o["@id"].startswith("#task-")]
    assert {(p["name"], p["value"]) for p in params} >= {("lr", 0.01)}
    assert graph["#data-sha256%3Aaaa"]["contentSize"] == "1024"
    assert graph["file:///data/raw.csv"]["@type"] == "File"
    assert f"#workflow-{WF_PREP}" in graph
    # Each metric series of a task is a PropertyValue of its result: its
    # key, its last value, and its step, points and time as values of
    # reference (the crate held no metric at all).
    loss = graph[f"#task-{T_FIT}-metric-loss"]
    assert {"@id": loss["@id"]} in fit["result"]
    assert (loss["@type"], loss["name"], loss["value"]) == \
        ("PropertyValue", "loss", 0.25)
    assert loss["propertyID"] == "https://mida.dev/ns#metric"
    assert {graph[r["@id"]]["name"]: graph[r["@id"]]["value"]
            for r in loss["valueReference"]} == {
        "step": 2, "points": 3, "time": "2023-11-14T22:13:44.000Z"}
    assert graph[f"#task-{T_FIT}-metric-acc"]["value"] == 0.75
    # The campaign is a Project that each workflow run and each task is
    # part of (a whole-store crate did not say which workflow belonged to
    # which campaign).
    campaign = {"@id": f"#campaign-{CAMPAIGN}"}
    assert graph[campaign["@id"]] == {
        "@id": campaign["@id"], "@type": "Project", "name": "climate",
        "identifier": CAMPAIGN, "foundingDate": "2023-11-14T22:13:20.000Z",
        "description": "a campaign of mida: the workflows and tasks "
                       "recorded under one name"}
    assert graph[f"#run-{WF_PREP}"]["isPartOf"] == campaign
    assert graph[f"#run-{WF_TRAIN}"]["isPartOf"] == campaign
    assert fit["isPartOf"] == campaign
    assert leftovers(tmp_path) == []


def test_rocrate_of_one_workflow_and_campaign(run, tmp_path, validator_cache):
    one = tmp_path / "one"
    r = run("export", "rocrate", "--workflow", WF_PREP, str(one))
    assert r.returncode == 0, r.stderr
    ok, issues = validate_crate(one, validator_cache)
    assert ok, issues
    entities = {e["@id"]: e for e in json.loads(
        (one / "ro-crate-metadata.json").read_text())["@graph"]}
    assert f"#task-{T_LOAD}" in entities and f"#task-{T_FIT}" not in entities
    # The crate is named by what was selected: it read "Runs of one
    # campaign, recorded by mida", which lost the campaign's name.
    assert entities["./"]["name"] == "Run of workflow prep, recorded by mida"
    r = run("export", "rocrate", "--campaign", CAMPAIGN, str(tmp_path / "c"))
    assert r.returncode == 0, r.stderr
    root = next(e for e in json.loads(
        (tmp_path / "c" / "ro-crate-metadata.json").read_text())["@graph"]
        if e["@id"] == "./")
    assert root["name"] == "Runs of campaign climate, recorded by mida"


# ---- OpenLineage ----------------------------------------------------------

def test_openlineage_events_validate_against_the_schema(run):
    r = run("export", "openlineage")
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    validate = openlineage_validator()
    for e in events:
        validate(e)
    by_run = {}
    for e in events:
        by_run.setdefault(e["run"]["runId"], []).append(e["eventType"])
    assert by_run[T_LOAD] == ["START", "COMPLETE"]
    assert by_run[T_FIT] == ["START", "FAIL"]
    assert by_run[WF_TRAIN] == ["START"]  # still running
    fail = next(e for e in events if e["eventType"] == "FAIL")
    assert fail["run"]["facets"]["errorMessage"]["message"]
    assert fail["run"]["facets"]["parent"]["run"]["runId"] == WF_TRAIN
    clean = next(e for e in events if e["run"]["runId"] == T_CLEAN and
                 e["eventType"] == "COMPLETE")
    assert clean["inputs"] == [{"namespace": "file", "name": "/data/raw.csv",
                                "facets": clean["inputs"][0]["facets"]}]
    assert clean["outputs"][0]["facets"]["mida"]["id"] == "sha256:aaa"
    assert clean["outputs"][0]["facets"]["version"]["datasetVersion"]


def test_openlineage_carries_each_task_s_metric_series(run, store, tmp_path):
    """The metric series of a task were in no event: the end event of a
    task carries them now, in mida's custom run facet mida_metrics (its
    schema in docs/openlineage/), and a task still running that has some
    gets a RUNNING event with them, at the time of its latest point."""
    path = store_with(store, tmp_path, (
        "INSERT INTO metric VALUES (?, 'auc', NULL, ?, NULL, 'x')",
        (T_EVAL, 1_700_000_033 * 10**9)))
    events = validated_events(run, path)
    fit = [e for e in events if e["run"]["runId"] == T_FIT]
    assert [e["eventType"] for e in fit] == ["START", "FAIL"]
    assert "mida_metrics" not in fit[0]["run"]["facets"]
    facet = fit[1]["run"]["facets"]["mida_metrics"]
    assert facet["_producer"].startswith("https://mida.dev/ns#mida/")
    assert facet["metrics"] == [
        {"key": "acc", "value": 0.75, "step": 2,
         "time": "2023-11-14T22:13:44.000Z", "points": 1},
        {"key": "loss", "value": 0.25, "step": 2,
         "time": "2023-11-14T22:13:44.000Z", "points": 3}]
    ev = [e for e in events if e["run"]["runId"] == T_EVAL]
    assert [e["eventType"] for e in ev] == ["START", "RUNNING"]
    assert ev[1]["eventTime"] == "2023-11-14T22:13:53.000Z"
    assert ev[1]["run"]["facets"]["mida_metrics"]["metrics"] == [
        {"key": "auc", "value": "NaN", "time": "2023-11-14T22:13:53.000Z",
         "points": 1}]
    load = [e for e in events if e["run"]["runId"] == T_LOAD]
    assert all("mida_metrics" not in e["run"]["facets"] for e in load)


def test_openlineage_names_a_file_whose_path_is_not_utf8_by_its_escapes(
        run, store, tmp_path):
    """Two files that differ only in a byte that is not UTF-8 (caf\\xe9 and
    caf\\xe8, names in Latin-1) were one dataset, '/d/caf\\ufffd': the name
    was the decoded path, and JSON made each such byte U+FFFD. They keep
    their escapes now, in their whole URI (a decoded name starts with
    '/': '/d/caf%E9' is the file literally named so); a UTF-8 name is still
    decoded."""
    rows = [("v1", "file:///d/caf%E9"), ("v2", "file:///d/caf%E8"),
            ("v3", "file:///d/caf%C3%A9%20x")]
    stmts = []
    for data_id, uri in rows:
        stmts.append(("INSERT INTO data VALUES (?, 'file', ?, 1, NULL, NULL)",
                      (data_id, uri)))
        stmts.append(("INSERT INTO task_data(task_id, data_id, role, name)"
                      " VALUES (?, ?, 'used', NULL)", (T_LOAD, data_id)))
    events = validated_events(run, store_with(store, tmp_path, *stmts))
    names = {i["facets"]["mida"]["id"]: i["name"]
             for e in events if e["run"]["runId"] == T_LOAD
             for i in e.get("inputs", [])}
    assert names["v1"] == "file:///d/caf%E9"
    assert names["v2"] == "file:///d/caf%E8"
    assert names["v3"] == "/d/caf\u00e9 x"


class Collector(http.server.BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        Collector.bodies.append((self.path, json.loads(self.rfile.read(n))))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_openlineage_posted_to_an_http_endpoint(run, tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/v1/lineage"
        out = tmp_path / "events.jsonl"
        r = run("export", "openlineage", "--url", url, "-o", str(out))
        assert r.returncode == 0, r.stderr
        lines = out.read_text().splitlines()
        assert len(Collector.bodies) == len(lines) > 0
        assert all(p == "/api/v1/lineage" for p, _ in Collector.bodies)
        assert [b for _, b in Collector.bodies] == [json.loads(x)
                                                    for x in lines]
    finally:
        server.shutdown()
        server.server_close()
    # An endpoint that is not there: an error, no file left.
    r = run("export", "openlineage", "--url", url, "-o",
            str(tmp_path / "x.jsonl"))
    assert r.returncode == 1 and "cannot reach 127.0.0.1" in r.stderr
    assert not (tmp_path / "x.jsonl").exists() and leftovers(tmp_path) == []


# ---- PROV -----------------------------------------------------------------

def test_prov_validates_and_round_trips_through_prov(run, tmp_path):
    out = tmp_path / "prov.json"
    assert run("export", "prov", "-o", str(out)).returncode == 0
    validate_prov_schema(json.loads(out.read_text()))
    from_json, from_rdf, provn = prov_round_trip(out)
    assert from_json == from_rdf
    # 2 workflows, 5 tasks and their campaign; 4 data and 2 metric series
    assert from_json["ProvUsage"] == 4 and from_json["ProvActivity"] == 8
    assert from_json["ProvEntity"] == 6
    assert f"task-{T_EVAL}" in provn


def test_prov_names_the_campaign_and_keeps_the_metrics(run):
    """The workflows' mida:campaign named an activity that the document
    did not hold, so the campaign's name ("climate") was lost; the tasks
    said no campaign, and no metric was exported at all."""
    r = run("export", "prov", "--campaign", "climate")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate_prov_schema(doc)
    campaign = doc["activity"][f"mida:campaign-{CAMPAIGN}"]
    assert campaign["mida:name"] == "climate"
    assert campaign["mida:created"] == "2023-11-14T22:13:20.000Z"
    qn = {"$": f"mida:campaign-{CAMPAIGN}", "type": "prov:QUALIFIED_NAME"}
    assert doc["activity"][f"mida:workflow-{WF_PREP}"]["mida:campaign"] == qn
    assert doc["activity"][f"mida:task-{T_FIT}"]["mida:campaign"] == qn
    loss = doc["entity"][f"mida:metric-{T_FIT}%2Floss"]
    assert (loss["mida:key"], loss["mida:value"], loss["mida:step"],
            loss["mida:points"]) == ("loss", 0.25, 2, 3)
    assert {"prov:entity": f"mida:metric-{T_FIT}%2Floss",
            "prov:activity": f"mida:task-{T_FIT}"} in \
        doc["wasGeneratedBy"].values()


# ---- empty store, bad input ------------------------------------------------

def test_each_export_on_an_empty_store(run, empty_store, tmp_path):
    r = run("export", "prov", store_path=empty_store)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate_prov_schema(doc)
    assert doc["entity"] == {} and list(doc["agent"]) == ["mida:mida"]
    r = run("export", "openlineage", store_path=empty_store)
    assert r.returncode == 0 and r.stdout == ""
    r = run("export", "rocrate", str(tmp_path / "c"), store_path=empty_store)
    assert r.returncode == 1
    assert "nothing to export: no workflow with tasks" in r.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "spool"] or \
        not (tmp_path / "c").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["prov", "openlineage"])
def test_a_store_that_is_not_mida_s_writes_nothing_out(run, tmp_path, fmt):
    """On another program's database, `mida export prov` wrote the first
    lines of a PROV document to standard output ('{ "prefix": ...,
    "entity": {') before its error: a half document in a pipe."""
    import sqlite3
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE people(name TEXT)")
    db.commit()
    db.close()
    r = run("export", fmt, store_path=str(other))
    assert r.returncode == 1
    assert r.stdout == ""
    assert "the store is empty or is not a mida store" in r.stderr, r.stderr


@pytest.mark.parametrize("fmt", ["prov", "rocrate", "openlineage"])
def test_bad_input_is_an_error_with_nothing_left(run, tmp_path, fmt):
    out = tmp_path / "out"
    r = run("export", fmt, "--workflow", "no-such-id", "-o", str(out))
    assert r.returncode == 1 and "no workflow with id 'no-such-id'" in r.stderr
    assert not out.exists()
    r = run("export", fmt, "--campaign", "nope", "-o", str(out))
    assert r.returncode == 1 and "no campaign" in r.stderr
    # an output that exists (a file, which --force would not replace with
    # a crate's directory: said at once)
    out.write_text("keep me")
    r = run("export", fmt, "-o", str(out))
    said = ("exists and is not a directory" if fmt == "rocrate"
            else "exists (--force replaces it)")
    assert r.returncode == 1 and said in r.stderr, r.stderr
    assert out.read_text() == "keep me"
    # an output that cannot be written
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        r = run("export", fmt, "-o", str(locked / "x"))
        if os.geteuid() != 0:
            assert r.returncode == 1 and "cannot write" in r.stderr
    finally:
        os.chmod(locked, 0o700)
    r = run("export", fmt, "-o", str(tmp_path / "missing-dir" / "x"))
    assert r.returncode == 1 and "cannot write" in r.stderr
    # The prefix once: it read "mida: mida export: cannot write".
    assert r.stderr.startswith("mida: export: cannot write"), r.stderr
    assert leftovers(tmp_path) == []


def test_a_workflow_with_no_tasks_is_refused(run, tmp_path, store):
    import sqlite3
    db = sqlite3.connect(store)
    db.execute("INSERT OR IGNORE INTO workflow (id, name, source) VALUES"
               " ('0190a4c2-0000-7000-8000-0000000000ee', 'empty', 'api')")
    db.commit()
    db.close()
    for fmt in ("prov", "rocrate", "openlineage"):
        r = run("export", fmt, "--workflow",
                "0190a4c2-0000-7000-8000-0000000000ee", "-o",
                str(tmp_path / fmt))
        assert r.returncode == 1 and "has no tasks" in r.stderr, fmt
        assert not (tmp_path / fmt).exists()


def test_force_replaces_a_file_and_an_earlier_crate_only(run, tmp_path):
    f = tmp_path / "p.json"
    f.write_text("old")
    assert run("export", "prov", "-o", str(f), "--force").returncode == 0
    assert json.loads(f.read_text())["prefix"]
    crate = tmp_path / "crate"
    assert run("export", "rocrate", str(crate)).returncode == 0
    r = run("export", "rocrate", str(crate), "--force")
    assert r.returncode == 0, r.stderr
    other = tmp_path / "other"
    other.mkdir()
    (other / "precious").write_text("x")
    r = run("export", "rocrate", str(other), "--force")
    assert r.returncode == 1 and "not an earlier crate" in r.stderr
    assert (other / "precious").read_text() == "x"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["prov", "openlineage", "rocrate"])
def test_force_does_not_put_a_file_in_place_of_a_crate(run, tmp_path, fmt):
    """A file export (prov, openlineage, a zip crate) onto an earlier crate
    was refused with 'crate is a directory that is not an earlier crate',
    which it is: the message now says what is refused."""
    crate = tmp_path / "crate"
    assert run("export", "rocrate", str(crate)).returncode == 0
    out = ["rocrate", "-o"] if fmt == "rocrate" else [fmt, "-o"]
    target = crate if fmt != "rocrate" else tmp_path / "c.zip"
    if fmt == "rocrate":
        target.mkdir()
        (target / "precious").write_text("x")
    r = run("export", *out, str(target), "--force")
    assert r.returncode == 1, r.stdout
    assert "not an earlier crate" not in r.stderr
    assert r.stderr == (f"mida: export: {target} is a directory: --force "
                        "replaces a file with a file, and a directory "
                        "only with a crate\n")
    assert (crate / "ro-crate-metadata.json").exists()
    assert leftovers(tmp_path) == []


def a_link_and_a_fifo(tmp_path):
    """An empty file, a symbolic link to it and a FIFO, under tmp_path:
    outputs that --force must not replace."""
    target = tmp_path / "target"
    target.write_text("")
    link = tmp_path / "link"
    link.symlink_to(target)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return target, link, fifo


def test_force_never_replaces_a_link_a_pipe_or_a_device(run, tmp_path):
    """--force replaces a file by renaming the export over it: a symbolic
    link, a FIFO or a device in its place would become a plain file (as
    root, `-o /dev/null --force` would replace the device)."""
    target, link, fifo = a_link_and_a_fifo(tmp_path)
    for out in (link, fifo):
        r = run("export", "prov", "-o", str(out), "--force")
        assert r.returncode == 1 and "not a regular file" in r.stderr, r
    assert link.is_symlink() and target.read_text() == ""
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # (Not tried on /dev/null itself: a regression would replace it.)
    assert leftovers(tmp_path) == []


def test_without_force_what_force_cannot_replace_says_so_at_once(run,
                                                                  tmp_path):
    """An output that --force would not replace either (a link, such as
    `-o /dev/stdout`, a FIFO, a directory for a file, a directory that is
    no crate) was answered "exists (--force replaces it)"; with --force,
    the real reason came. It comes at once now."""
    target, link, fifo = a_link_and_a_fifo(tmp_path)
    folder = tmp_path / "folder"
    folder.mkdir()
    for fmt, out, why in [("prov", link, "not a regular file"),
                          ("openlineage", fifo, "not a regular file"),
                          ("prov", folder, "is a directory: --force"),
                          ("rocrate", folder, "not an earlier crate")]:
        r = run("export", fmt, "-o", str(out))
        assert r.returncode == 1, r
        assert why in r.stderr, (fmt, out, r.stderr)
        assert "--force replaces it" not in r.stderr, (fmt, out, r.stderr)
    assert link.is_symlink() and target.read_text() == ""
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["prov", "openlineage"])
@pytest.mark.parametrize("opt", ["--license", "--name"])
def test_an_option_of_the_crate_is_refused_for_another_format(run, tmp_path,
                                                              fmt, opt):
    """--url is refused for a format other than openlineage; --license and
    --name, the crate's, were dropped without a word for prov and
    openlineage, status 0."""
    out = tmp_path / "out"
    r = run("export", fmt, opt, "x", "-o", str(out))
    assert r.returncode == 2, r
    assert f"mida export: {opt} is for rocrate" in r.stderr
    assert not out.exists()


# ---- diff ---------------------------------------------------------------

def test_diff_of_two_tasks(run):
    r = run("diff", T_LOAD, T_CLEAN, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    rows = {(x["section"], x["key"]): x for x in d["rows"]}
    assert rows[("run", "activity")]["status"] == "differs"
    assert rows[("input", "file:///data/raw.csv")]["status"] == "only_b"
    assert d["differences"] == sum(x["status"] != "same" for x in d["rows"])
    text = run("diff", T_LOAD, T_CLEAN).stdout
    assert "* activity" in text and "difference(s)" in text


def test_diff_of_two_workflows_and_errors(run):
    r = run("diff", WF_PREP, WF_TRAIN, "--json")
    assert r.returncode == 0, r.stderr
    rows = {(x["section"], x["key"]): x for x in json.loads(r.stdout)["rows"]}
    assert rows[("run", "source")]["a"] == "api"
    assert rows[("run", "source")]["b"] == "mlflow"
    assert ("metric", "fit.loss") in rows
    r = run("diff", WF_PREP, T_LOAD)
    assert r.returncode == 1 and "compare two tasks or two workflows" in r.stderr
    r = run("diff", "nope", T_LOAD)
    assert r.returncode == 1 and "no task, workflow or source key 'nope'" in r.stderr


def test_a_lost_run_ends_failed_in_openlineage_and_rocrate(run, store,
                                                           tmp_path):
    """A task or workflow whose process died before it ended is LOST
    (docs/reliability.md) and never ends: OpenLineage gave it a START
    alone, a run still going for good, and the RO-Crate
    PotentialActionStatus, an action not yet begun. Each says it failed
    now, with the reason."""
    lost = store_with(
        store, tmp_path,
        ("UPDATE task SET status = 'LOST', error = 'lost: the process that"
         " ran it ended before it did' WHERE id = ?", (T_EVAL,)),
        ("UPDATE workflow SET status = 'LOST' WHERE id = ?", (WF_TRAIN,)),
        # an error kept by a task that then finished (a retry's)
        ("UPDATE task SET error = 'first try failed' WHERE id = ?",
         (T_LOAD,)))
    events = validated_events(run, lost)
    for run_id in (T_EVAL, WF_TRAIN):
        kinds = [e["eventType"] for e in events if e["run"]["runId"] == run_id]
        assert kinds == ["START", "FAIL"], (run_id, kinds)
        fail = next(e for e in events if e["run"]["runId"] == run_id and
                    e["eventType"] == "FAIL")
        assert fail["run"]["facets"]["errorMessage"]["message"].startswith(
            "lost: the process"), fail["run"]["facets"]
    crate = tmp_path / "crate"
    r = run("export", "rocrate", str(crate), store_path=lost)
    assert r.returncode == 0, r.stderr
    graph = {e["@id"]: e for e in json.loads(
        (crate / "ro-crate-metadata.json").read_text())["@graph"]}
    task = graph[f"#task-{T_EVAL}"]
    assert task["actionStatus"]["@id"].endswith("FailedActionStatus")
    assert task["error"].startswith("lost: the process")
    # The workflow's run said it failed and not why; a run that completed
    # said an error, which the profile gives a failed action only.
    wf = graph[f"#run-{WF_TRAIN}"]
    assert wf["actionStatus"]["@id"].endswith("FailedActionStatus")
    assert wf["error"] == "lost: the process that ran it ended before it did"
    load = graph[f"#task-{T_LOAD}"]
    assert load["actionStatus"]["@id"].endswith("CompletedActionStatus")
    assert "error" not in load


CAMPAIGN_SWEEP = "0190a4c2-0000-7000-8000-00000000c002"
T_PROBE = "0190a4c2-0000-7000-8000-00000000a0c2"


def test_campaign_selects_a_task_of_its_own_in_another_s_workflow(run, store,
                                                                  tmp_path):
    """A task's campaign is its own, else its workflow's (a worker's
    session may record into a workflow begun elsewhere under another
    campaign), and `mida tasks` and the API select it by its own. --campaign
    selected tasks by their workflow's only: a task of campaign sweep in a
    workflow of climate was in no export of sweep, and a crate of sweep
    was refused ("nothing to export"). Now a campaign's export holds its
    workflows' tasks and its own tasks, with their workflows."""
    store_path = store_with(
        store, tmp_path,
        ("INSERT INTO campaign VALUES (?, 'sweep', 1, NULL)",
         (CAMPAIGN_SWEEP,)),
        ("INSERT INTO task (id, workflow_id, campaign_id, activity, status,"
         " started, ended) VALUES (?,?,?,?,?,?,?)",
         (T_PROBE, WF_PREP, CAMPAIGN_SWEEP, "probe", "FINISHED",
          1_700_000_007 * 10**9, 1_700_000_008 * 10**9)))

    r = run("export", "prov", "--campaign", "sweep", store_path=store_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    validate_prov_schema(doc)
    assert f"mida:task-{T_PROBE}" in doc["activity"]
    assert f"mida:workflow-{WF_PREP}" in doc["activity"]  # its workflow
    assert f"mida:task-{T_LOAD}" not in doc["activity"]  # not of sweep
    assert doc["activity"][f"mida:task-{T_PROBE}"]["mida:campaign"]["$"] \
        == f"mida:campaign-{CAMPAIGN_SWEEP}"

    runs = {e["run"]["runId"] for e in
            validated_events(run, store_path, "--campaign", CAMPAIGN_SWEEP)}
    assert T_PROBE in runs and T_LOAD not in runs

    crate = tmp_path / "crate"
    r = run("export", "rocrate", "--campaign", "sweep", str(crate),
            store_path=store_path)
    assert r.returncode == 0, r.stderr
    graph = {e["@id"]: e for e in json.loads(
        (crate / "ro-crate-metadata.json").read_text())["@graph"]}
    probe = graph[f"#task-{T_PROBE}"]
    assert probe["instrument"]["@id"] in graph  # its tool, in its workflow
    # each says its campaign, and both campaigns are described
    assert probe["isPartOf"] == {"@id": f"#campaign-{CAMPAIGN_SWEEP}"}
    assert graph[f"#run-{WF_PREP}"]["isPartOf"] == \
        {"@id": f"#campaign-{CAMPAIGN}"}
    assert graph[f"#campaign-{CAMPAIGN_SWEEP}"]["name"] == "sweep"
    assert graph[f"#campaign-{CAMPAIGN}"]["name"] == "climate"
    assert f"#task-{T_LOAD}" not in graph

    # The campaign of the workflow keeps all of the workflow's tasks.
    r = run("export", "prov", "--campaign", "climate", store_path=store_path)
    assert r.returncode == 0, r.stderr
    assert f"mida:task-{T_PROBE}" in json.loads(r.stdout)["activity"]

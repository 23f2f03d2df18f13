"""Every OpenLineage event of a campaign says its campaign: a campaign of
two `mida run` workflows, recorded for real, exported with --campaign.

The `mida` run facet of a task's events had no campaign and no user (only
the workflows' events had them, though docs/exports.md promised them for
each run), so a consumer that selects runs by campaign found the two
workflows and none of their tasks. The facet gave the campaign's id only,
not its name (what a person selects by, and `--campaign` takes): it
gives both now, as campaign and campaignName."""

import json
import sqlite3


def test_each_task_event_of_a_campaign_names_it(run, tmp_path):
    store = str(tmp_path / "campaign.db")
    campaign = 'sweep ü "2026"'
    for name in ("first", "second"):
        r = run("run", "--campaign", campaign, "--workflow-name", name, "--",
                "sh", "-c", "echo x > out.txt; cat out.txt > /dev/null",
                store_path=store)
        assert r.returncode == 0, r.stderr
    r = run("run", "--workflow-name", "outside", "--", "true",
            store_path=store)
    assert r.returncode == 0, r.stderr
    db = sqlite3.connect(store)
    (campaign_id,) = db.execute("SELECT id FROM campaign WHERE name = ?",
                                (campaign,)).fetchone()
    (ntasks,) = db.execute("SELECT count(*) FROM task WHERE workflow_id IN"
                           " (SELECT id FROM workflow WHERE campaign_id = ?)",
                           (campaign_id,)).fetchone()
    db.close()

    r = run("export", "openlineage", "--campaign", campaign,
            store_path=store)
    assert r.returncode == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [e["job"]["facets"]["jobType"]["jobType"] for e in events]
    assert kinds.count("WORKFLOW") == 4  # START and COMPLETE of two
    tasks = {e["run"]["runId"] for e, k in zip(events, kinds) if k == "TASK"}
    assert len(tasks) == ntasks and ntasks >= 4
    user = events[0]["run"]["facets"]["mida"]["user"]
    assert user
    for e in events:
        facet = e["run"]["facets"]["mida"]
        assert facet.get("campaign") == campaign_id, (e["job"]["name"], facet)
        assert facet.get("campaignName") == campaign, (e["job"]["name"], facet)
        assert facet.get("user") == user, (e["job"]["name"], facet)
    assert all(not e["job"]["name"].startswith("outside") for e in events)

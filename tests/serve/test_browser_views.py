"""The dashboard's views as a scientist reads them, in Debian's headless
Chromium (browser_views.mjs, one check per test): the store is written by
the mida Python module (views_workload.py: a small sweep with metrics,
files and host telemetry with GPUs from the fake NVML of the tests, and
a workflow of another campaign).
Screenshots go to test-results/serve-browser-views/."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from serve_support import ROOT
from test_browser import BUILD, RESULTS, clean_env, need_browser, run_browser
from test_events import make_store
from test_keep_alive import (held_connection, refused,
                             stats_once_a_place_is_free)
from test_mlflow_api import observe_experiments

FAKE_NVML = BUILD / "tests" / "libfake_nvml_partial.so"
WORKLOAD = str(ROOT / "tests" / "serve" / "views_workload.py")


def writer_env(store):
    env = clean_env()
    env.update(MIDA_STORE=f"sqlite://{store}", MIDA_SAMPLE_HZ="10",
               PYTHONPATH=str(BUILD / "python"))
    if FAKE_NVML.exists():
        env["MIDA_NVML_LIBRARY"] = str(FAKE_NVML)
    return env


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """(store path, ids) of views_workload.py's sweep, made once."""
    d = tmp_path_factory.mktemp("views")
    store = d / "views.db"
    r = subprocess.run([sys.executable, WORKLOAD, str(d)],
                       env=writer_env(store), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return store, r.stdout.strip().splitlines()[-1]


def check(name, server, ids, **extra):
    """Runs the check NAME of browser_views.mjs against SERVER, with the
    environment variables EXTRA."""
    env = dict(clean_env(), MIDA_URL=server.url, MIDA_IDS=ids,
               MIDA_SHOTS=str(RESULTS / "serve-browser-views"),
               MIDA_WEB=str(ROOT / "web"), **extra)
    run_browser("browser_views.mjs", env, name)


def on_sweep(name, serve, sweep, gpus=False):
    """Runs the check NAME on a server of the sweep's store; GPUS: the
    check needs the GPUs of the fake NVML."""
    need_browser()
    if gpus and not FAKE_NVML.exists():
        pytest.skip("the fake NVML of tests/meson.build is not built")
    store, ids = sweep
    check(name, serve(str(store)), ids)


def on_live_store(name, serve, tmp_path, mode, *args):
    """Runs the check NAME on a new store served with a 100 ms poll, the
    check's command being views_workload.py's MODE (with ARGS) writing
    into it."""
    need_browser()
    store = tmp_path / "live.db"
    make_store(store)
    server = serve(str(store), "--poll-ms", "100")
    command = [sys.executable, WORKLOAD, str(tmp_path), mode, *args]
    check(name, server, "{}", MIDA_COMMAND=json.dumps(command),
          **writer_env(store))


def test_no_stray_null_on_task_and_compare_pages(serve, sweep):
    # A task with no error and a compare of three runs (no diff card) once
    # showed the word "null" where the missing card would be.
    on_sweep("no-null", serve, sweep)


def test_runs_begun_together_read_apart(serve, sweep):
    # UUIDv7 ids begin with the time: shown by their first 8 hex digits,
    # every task of a minute read the same.
    on_sweep("short-ids", serve, sweep)


def test_parallel_coordinates_show_whole_numbers(serve, sweep):
    # The last axis' ends were cut at the picture's right edge.
    on_sweep("pcoords", serve, sweep)


def test_a_live_task_page_keeps_the_readers_place(serve, tmp_path):
    # The task page re-renders as its run logs points; it once emptied
    # itself first, which scrolled a reader watching the plots to the top.
    on_live_store("live-scroll", serve, tmp_path, "step")


def test_running_durations_move_on(serve, tmp_path):
    # A running workflow's or task's duration was that of the moment its
    # row was drawn: "177.8 ms" on the overview four seconds into a run,
    # until an event of its own came.
    on_live_store("running-durations", serve, tmp_path, "step")


def test_host_telemetry_draws_cpu_memory_and_gpus_first(serve, sweep):
    # The view drew the first 12 numbers of a sample by name (buffers_kb,
    # cached_kb, ...): never memory, network or load, and never a GPU,
    # whose readings are an array.
    on_sweep("telemetry", serve, sweep, gpus=True)


def host_samples(store):
    """How many samples of the host (pid 0) the SQLite store at STORE
    holds; 0 while it has no telemetry table yet."""
    try:
        db = sqlite3.connect(str(store), timeout=10)
        try:
            return db.execute("SELECT count(*) FROM telemetry"
                              " WHERE pid = 0").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def sample_host_until(store, env, more_than, processes, timeout):
    """Runs PROCESSES Python processes with ENV, each a task that waits,
    its sampler running, until the store holds more than MORE_THAN host
    samples (or TIMEOUT seconds passed); returns how many it holds then.
    Each process has a spool of its own, so that each holds the host lock
    that is kept there (src/telemetry/telemetry.h) and samples the host:
    PROCESSES times as many host samples a second as one sampler."""
    waiting = [sys.executable, "-c", "import mida, sys\n"
               "with mida.workflow('sampled'):\n"
               "    mida.task(name='wait')(sys.stdin.read)()"]
    procs = [subprocess.Popen(waiting,
                              env=dict(env, MIDA_SPOOL=f"{store}.spool{i}"),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for i in range(processes)]
    deadline = time.monotonic() + timeout
    try:
        while (host_samples(store) <= more_than
               and time.monotonic() < deadline
               and all(p.poll() is None for p in procs)):
            time.sleep(0.1)
    finally:
        ended = [p.communicate("", timeout=60) for p in procs]
    for p, (_, err) in zip(procs, ended):
        assert p.returncode == 0, err
    return host_samples(store)


def test_host_telemetry_shows_the_newest_samples(serve, tmp_path):
    # A host with more than the 20,000 samples that the view reads (5.5
    # hours at the default 1 Hz; here four processes sample it at 1 kHz
    # until the store holds more, 6-8 s) showed its first 20,000, and
    # never what it did since.
    need_browser()
    store = tmp_path / "sampled.db"
    env = dict(writer_env(store), MIDA_SAMPLE_HZ="1000")
    env.pop("MIDA_NVML_LIBRARY", None)
    # A deadline well past the 22 s that one process once slept for it.
    n = sample_host_until(store, env, 20000, processes=4, timeout=120)
    assert n > 20000, n
    host = os.uname().nodename
    check("telemetry-newest", serve(str(store)), json.dumps({"host": host}))


def test_a_task_page_draws_its_hosts_telemetry(serve, sweep):
    # The page drew only its process's cpu_pct and rss_kb: a command under
    # `mida run` (whose process has no samples of its own) read "no
    # telemetry sample while it ran" on a host sampled all along.
    on_sweep("task-telemetry", serve, sweep, gpus=True)


def test_y_axis_labels_are_not_cut(serve, sweep):
    # uPlot's y axis is 50 px wide: host memory in kB (8 digits) read
    # "0,000" on every chart of it.
    on_sweep("y-labels", serve, sweep)


def test_lineage_names_files_by_their_ends(serve, sweep):
    # A data node showed the first 22 characters of its URI: every file of
    # a project read "file:///work/project/d".
    on_sweep("lineage-labels", serve, sweep)


def test_lineage_walks_as_deep_as_asked(serve, sweep):
    # The depth box was read by no one: Walk put the same address back
    # (nothing happened) and every walk went 3 steps deep.
    on_sweep("lineage-depth", serve, sweep)


def test_long_names_wrap(serve, sweep):
    # A 300-character activity made the task's page 2,355 px wide: its
    # title ran off the card and the page scrolled sideways.
    on_sweep("long-names", serve, sweep)


def test_a_reset_connection_is_tried_again(serve, sweep):
    # One connection reset (a loaded CI machine, seen once) left the
    # overview on "Failed to fetch" until the page was reloaded.
    on_sweep("reset", serve, sweep)


def test_an_empty_store_says_it_has_no_workflow(serve, tmp_path):
    # The overview of an empty store was a table of headers and no word.
    need_browser()
    store = tmp_path / "empty.db"
    env = writer_env(store)
    r = subprocess.run([sys.executable, "-c", "import mida\n"
                        "mida.query('SELECT 1')"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    server = serve(str(store), "--poll-ms", "100")
    writer = [sys.executable, str(ROOT / "tests" / "serve" /
                                  "live_writer.py"), "1", "0"]
    check("empty", server, "{}", MIDA_COMMAND=json.dumps(writer), **env)


def test_what_a_view_leaves_out_or_a_task_lacks_is_shown(serve, tmp_path):
    # One browser for several checks (browser_views.mjs "gaps"), on a store
    # of views_workload.py's gaps: the overview said "Showing the newest
    # 200." with no way to the rest; a task page drew the first 5,000 of
    # its samples and the telemetry view the spans of the first 1,000
    # tasks (of which only 48 within its drawing) without a word; a where
    # value with a comma (used.tag=a,b) was cut in two, a 400; a task
    # with no activity read "null SUBMITTED ..." when hovered; a null
    # parameter was an empty cell, as an empty string is.
    need_browser()
    store = tmp_path / "gaps.db"
    env = dict(writer_env(store), MIDA_SAMPLE_HZ="1000")
    env.pop("MIDA_NVML_LIBRARY", None)
    r = subprocess.run([sys.executable, WORKLOAD, str(tmp_path), "gaps"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    check("gaps", serve(str(store)), r.stdout.strip().splitlines()[-1])


def test_a_campaign_lists_its_workflows(serve, sweep):
    # The campaigns were text: the overview could not be narrowed to one.
    on_sweep("campaign", serve, sweep)


def test_the_status_box_offers_every_status(serve, sweep):
    # The task table's status box had no LOST (nor UNKNOWN): a reader
    # could not list what a dead process left unfinished.
    on_sweep("status-options", serve, sweep)


def test_the_activity_box_finds_part_of_a_name(serve, sweep):
    # The box sent activity=, an exact match: "train" found no
    # "train_model", and "Train" nothing at all.
    on_sweep("activity-filter", serve, sweep)


def test_experiments_read_the_status_of_their_runs(serve, mida_bin,
                                                   tmp_path):
    # Every MLflow experiment read UNKNOWN: MLflow keeps no status for one.
    need_browser()
    store, runs = observe_experiments(tmp_path, mida_bin)
    check("experiments", serve(store), json.dumps(runs))


def counted(env, *runs):
    """Runs counters_workload.py once per RUNS (its arguments) with ENV;
    returns its command line, for more."""
    count = [sys.executable, str(ROOT / "tests" / "serve" /
                                 "counters_workload.py")]
    for args in runs:
        r = subprocess.run(count + args, env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    return count


def test_counters_are_summed_over_processes(serve, tmp_path):
    # The dashboard showed no counter at all (drops, skips, retries were
    # in the SQL view only, a row per process): it shows each counter's
    # sum over processes of each one's total, overall and per host.
    need_browser()
    store = tmp_path / "counted.db"
    env = writer_env(store)
    count = counted(env, ["run.ignored_opens=2,5", "dask.telemetry_skipped=1"],
                    ["run.ignored_opens=3"])
    # A second host: this one's name in a UTS namespace of its own.
    other = "counters-node-b"
    r = subprocess.run(["unshare", "--uts", "sh", "-c",
                        'hostname "$0" && exec "$@"', other, *count,
                        "run.ignored_opens=4,7",
                        "dask.telemetry_skipped=4"],
                       env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "unshare" in r.stderr:
        pytest.skip("a second host name needs unshare --uts: " + r.stderr)
    assert r.returncode == 0, r.stderr
    check("counters", serve(str(store)), json.dumps({"host": other}))


def test_the_counters_view_shows_what_the_server_refused(serve, tmp_path):
    # The view showed the store's counters only: that the server itself
    # refused connections (or dropped events) was in /api/stats alone.
    # The limit is above the 6 connections Chromium opens to one host, so
    # that the page itself is never refused; Python holds them all.
    need_browser()
    store = tmp_path / "counted.db"
    counted(writer_env(store), ["run.ignored_opens=2"])
    limit = 8
    s = serve(str(store), "--max-clients", str(limit))
    held = [held_connection(s) for _ in range(limit)]
    assert refused(s)
    for c in held:
        c.close()
    body = stats_once_a_place_is_free(s)
    assert body["server"]["connections_refused"] >= 1, body["server"]
    check("server-counts", s, json.dumps({"refused": True}))


def test_the_task_table_keeps_the_readers_pages_live(serve, tmp_path):
    # A live update read the table's first 500 rows again: a reader who
    # had scrolled to row 700 of a 1,200-task workflow was sent back.
    on_live_store("live-table", serve, tmp_path, "grow", "1200")


def test_the_counters_view_reads_counters_again_while_shown(serve, tmp_path):
    # The view read /api/counters again only after a task or workflow
    # event: a counter raised with no task change showed at the next one.
    need_browser()
    store = tmp_path / "counted.db"
    env = writer_env(store)
    count = counted(env, ["run.ignored_opens=2"])
    check("counters-live", serve(str(store), "--poll-ms", "100"), "{}",
          MIDA_COMMAND=json.dumps(count + ["run.ignored_opens=5"]), **env)


def test_graph_timeline_and_campaigns_update_live(serve, tmp_path):
    # The task table, the overview's workflows and a task's page moved
    # with the event stream; the graph, the timeline and the campaigns
    # showed what was there when they were opened until a reload.
    on_live_store("live-views", serve, tmp_path, "grow")

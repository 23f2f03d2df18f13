"""bench_serve.py BUILD -- `mida serve` on a store of 1,000,000 tasks in
100 workflows and a 10,000,000-point metric series (bench/serve_store.py
makes it once, in bench-out/serve-bench.db):

- API latency, median and p99, with wrk (Debian's) on loopback, 1 and 50
  connections, for the task list page of a workflow, a task, lineage depth
  3, and the 10M-point series downsampled to 2,000 points on time and on
  steps (kept in the server after the first);
- the series computed cold (nothing kept): 50 requests on each axis, each
  for a different number of points (1,902 to 2,000), so that none is kept,
  median and p99 (`--series` runs only the series figures);
- task end -> the event in an open event stream (what the page applies),
  median and p99 over 50 tasks written into the big store;
- first load of the overview page in Chromium (playwright-core), median
  of 5.

Prints one JSON line at the end. Figures, not pass/fail; note the load."""

import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

import bench_args

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = bench_args.build_dir(__doc__, "[BUILD [--series]]")
MIDA = str(BUILD / "src" / "cli" / "mida")
STORE = ROOT / "bench-out" / "serve-bench.db"
SERIES_TASK = "00000000-0000-7000-8000-000000000000"
TASK = "0007a120-0000-7000-8000-00000007a120"  # task 500,000
WF = "wf-042"


def start_server():
    p = subprocess.Popen([MIDA, "--store", str(STORE), "serve", "--listen",
                          "127.0.0.1:0", "--poll-ms", "100",
                          "--connections", "16"],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    port = int(re.search(r":(\d+)/", line).group(1))
    return p, f"http://127.0.0.1:{port}"


def wrk(url, conns, secs):
    """(median ms, p99 ms, requests/s) from wrk --latency."""
    r = subprocess.run(["wrk", "-t", "2" if conns > 1 else "1", "-c",
                        str(conns), "-d", f"{secs}s", "--latency",
                        "--timeout", "10s", url],
                       capture_output=True, text=True, timeout=secs + 60)
    out = r.stdout

    def ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert errors is None, out
    return round(ms("50%"), 2), round(ms("99%"), 2), round(rps, 1)


def timed_get(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        r.read()
    return (time.perf_counter() - t) * 1000


def series_cold(url, axis, n=50):
    """(median ms, p99 ms) of n series requests that nothing kept answers:
    each asks for a different number of points."""
    times = sorted(timed_get(f"{url}/api/metrics?task={SERIES_TASK}&key=loss"
                             f"&x={axis}&points={2000 - 2 * i}")
                   for i in range(n))
    return statistics.median(times), times[max(0, -(-99 * n // 100) - 1)]


def end_to_event(url, n=50):
    """Task end -> event: writes n tasks into the store, 0.2 s apart,
    while a stream is open."""
    import http.client
    host, port = url[7:].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    conn.request("GET", "/api/events")
    resp = conn.getresponse()
    seen = {}

    def read():
        try:
            for raw in resp:
                line = raw.decode()
                if line.startswith("data: ") and '"activity"' in line:
                    now = time.time_ns()
                    for t in json.loads(line[6:]):
                        a = t.get("activity") or ""
                        if (a.startswith("live-") and
                                t["status"] == "FINISHED"):
                            seen.setdefault(a, now)
        except (AttributeError, OSError, ValueError,
                http.client.HTTPException):
            return  # the stream closed under it (conn.close() below)
    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIDA_")}
    env.update(MIDA_STORE=f"sqlite://{STORE}", MIDA_SAMPLE_HZ="0",
               PYTHONPATH=str(BUILD / "python"))
    w = subprocess.Popen([sys.executable,
                          str(ROOT / "tests" / "serve" / "live_writer.py"),
                          str(n), "0.2"], env=env, stdout=subprocess.PIPE,
                         text=True)
    ends = {}
    for line in w.stdout:
        i, t = line.split()
        ends[f"live-{i}"] = int(t)
    w.wait()
    deadline = time.time() + 10
    while len(seen) < n and time.time() < deadline:
        time.sleep(0.05)
    lags = sorted((seen[a] - ends[a]) / 1e6 for a in ends if a in seen)
    conn.close()
    return (round(statistics.median(lags), 1),
            round(lags[max(0, int(len(lags) * 0.99) - 1)], 1), len(lags))


def first_load(url):
    if not shutil.which("node") or not os.path.exists("/usr/bin/chromium"):
        return None
    script = r"""
const { createRequire } = require("node:module");
const req = createRequire(process.env.MIDA_WEB + "/package.json");
const { chromium } = req("playwright-core");
(async () => {
  const b = await chromium.launch({ executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update"] });
  const times = [];
  for (let i = 0; i < 6; i++) {
    const ctx = await b.newContext();
    const p = await ctx.newPage();
    const t = Date.now();
    await p.goto(process.env.URL + "/");
    await p.waitForFunction(() => document.querySelectorAll("tr.wf-row").length >= 100);
    if (i > 0) times.push(Date.now() - t);   // the first warms the binary's pages
    await ctx.close();
  }
  await b.close();
  console.log(JSON.stringify(times));
})();
"""
    r = subprocess.run(["node", "-e", script], capture_output=True,
                       text=True, timeout=300,
                       env=dict(os.environ, URL=url,
                                MIDA_WEB=str(ROOT / "web")))
    times = json.loads(r.stdout.strip().splitlines()[-1])
    return statistics.median(times), max(times)


def main():
    only_series = "--series" in sys.argv[2:]
    if not STORE.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" /
                                            "serve_store.py"), str(STORE),
                        MIDA], check=True)
    load = os.getloadavg()[0]
    server, url = start_server()
    result = {"bench": "serve", "tasks": 1_000_000, "workflows": 100,
              "series_points": 10_000_000, "load_before": round(load, 2)}
    try:
        series = (f"{url}/api/metrics?task={SERIES_TASK}&key=loss"
                  "&x=time&points=2000")
        result["series_cold_ms"] = round(timed_get(series), 1)
        for axis in ("time", "step"):
            med, p99 = series_cold(url, axis)
            result[f"series_cold_{axis}_ms"] = {"median": round(med, 1),
                                                "p99": round(p99, 1)}
            print("series cold", axis, med, p99, flush=True)
        targets = {
            "task_list": f"{url}/api/tasks?workflow={WF}&limit=100",
            "task_list_all": f"{url}/api/tasks?limit=100",
            "task": f"{url}/api/tasks/{TASK}",
            "lineage_depth3": f"{url}/api/lineage?id={TASK}&depth=3",
            "series_2000": series,
            "series_2000_step": series.replace("x=time", "x=step"),
            "overview_workflows": f"{url}/api/workflows?limit=200",
        }
        if only_series:
            targets = {k: v for k, v in targets.items()
                       if k.startswith("series")}
        for name, target in targets.items():
            for conns in (1, 50):
                med, p99, rps = wrk(target, conns, 8)
                result[f"{name}_c{conns}"] = {"median_ms": med,
                                               "p99_ms": p99, "rps": rps}
                print(name, conns, med, p99, rps, flush=True)
        if not only_series:
            med, p99, n = end_to_event(url)
            result["end_to_event_ms"] = {"median": med, "p99": p99,
                                         "tasks": n}
            fl = first_load(url)
            if fl:
                result["overview_first_load_ms"] = {"median": fl[0],
                                                    "max": fl[1]}
    finally:
        server.terminate()
        server.wait()
    result["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

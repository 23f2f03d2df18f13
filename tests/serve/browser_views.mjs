// browser_views.mjs CHECK -- one check of the dashboard's views in Debian's
// headless Chromium (browser_support.mjs), on the store of
// views_workload.py (test_browser_views.py runs one per test):
//
//   no-null   a task page and a compare of three runs show no stray "null"
//             where a card is left out
//   short-ids two runs begun in the same minute (UUIDv7 ids alike in their
//             first 8 hex digits) read apart: the compare legend, its diff
//             columns, the workflow's task table
//   telemetry the host's page draws its CPU, memory and GPUs first (the fake
//             NVML's two GPUs), the other series when asked for
//   telemetry-newest a host with more samples than the view reads
//             (MIDA_IDS: {"host": its name}) shows its newest, up to its
//             last, and says how many of how many
//   lineage-labels two files whose URIs differ only at their ends read apart
//             in the lineage graph, and hovering one shows its URI
//   lineage-depth the depth box and the Walk button walk as deep as
//             asked (a train run at depth 1: its shard, not "prepare"),
//             and the depth stays in the address
//   long-names a task whose activity and argument are hundreds of
//             characters without a space: its page wraps them, the page
//             is no wider than the window
//   y-labels  a chart's y axis is as wide as its labels (host memory in kB
//             has 8 digits): none is cut at the canvas' left edge
//   task-telemetry a run's page draws its host's memory and GPUs while it ran
//   pcoords   the parallel coordinates of two runs show each axis' ends
//             whole (the last loss has 16 digits)
//   live-scroll a reader scrolled down a running task's page stays there
//             when a new metric point re-renders it (MIDA_COMMAND:
//             views_workload.py's stepper)
//
//   running-durations a running workflow's and task's durations move on
//             between events (the overview's row, the workflow's header
//             and task table, the task's page), while nothing is written
//             (MIDA_COMMAND: views_workload.py's stepper, which waits)
//
//   activity-filter the workflow's activity box finds a part of a name
//             in any case ("RAIN": both train runs), and takes a glob
//
//   experiments MLflow experiments (MIDA_IDS: mlflow_experiments.py's)
//             read RUNNING while a run runs, else their newest run's
//             status, "no run yet" without one; never UNKNOWN
//
//   counters  the Counters view sums each process's total (the largest
//             value it wrote) over processes, overall and per host
//             (MIDA_IDS: {"host": the second host's name}), and that
//             its server dropped and refused nothing
//
//   server-counts the Counters view's "This server" section shows that
//             the server refused connections (MIDA_IDS: {"refused":
//             true}: the test held as many as --max-clients allows)
//
//   counters-live the Counters view shows a counter that a process
//             raises while it is open, with no task or workflow changing
//             (MIDA_COMMAND: counters_workload.py), and reads
//             /api/counters and /api/stats no more once another view is
//             shown
//
//   live-views the graph, the timeline and the overview's campaigns take
//             in what a running workflow adds, without a reload, the
//             graph keeping its scroll position and the timeline its
//             lanes (MIDA_COMMAND: views_workload.py's grower)
//
//   live-table the task table of a workflow of 1,200 tasks, scrolled to
//             its 700th row (two pages of 500 read), keeps the rows read
//             and the reader's place when a new task comes (MIDA_COMMAND:
//             views_workload.py's grower of 1,200 tasks)
//
//   status-options the task table's status box offers every status that
//             /api/tasks?status= takes (LOST was missing), and LOST
//             filters
//
//   gaps      what a view leaves out it says, or pages to, and what a task
//             lacks reads as missing (MIDA_IDS: views_workload.py's
//             gaps): the overview pages past 200 workflows; a task page
//             of more samples than it reads says how many of how many;
//             the telemetry view draws the spans of all 1,100 tasks of
//             its window (more than a page of 1,000); a where value with
//             a comma (used.tag=a,b) is one value; hovering a task with
//             no activity reads no "null"; a null parameter reads "—",
//             apart from an empty string
//
//   reset     a request of the overview's whose connection is reset (a
//             loaded machine, a server restarting) is tried again: the
//             workflows are listed, not "Failed to fetch"
//
//   campaign  clicking a campaign lists its workflows alone
//   empty     an empty store's overview says it has no workflow yet, until
//             one begins (MIDA_COMMAND: a writer of one workflow)
//
// Environment: MIDA_WEB (web/, with its node_modules), MIDA_URL (the
// server), MIDA_SHOTS (where screenshots go), MIDA_IDS (the workload's
// ids, JSON), MIDA_COMMAND (a command the check runs, a JSON array).
// Prints one line per check; exits non-zero on the first failure, with no
// script error allowed on any page.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { api, check, drive, url } from "./browser_support.mjs";

const ids = JSON.parse(process.env.MIDA_IDS || "{}");

// MIDA_COMMAND run as a child that answers lines: next() reads a line of
// its output, send(text) writes a line to it, end() closes its input and
// waits for it to exit.
function commandLines() {
  const cmd = JSON.parse(process.env.MIDA_COMMAND);
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    next: async () => (await lines.next()).value,
    send: (text) => child.stdin.write(text + "\n"),
    end: () => {
      child.stdin.end();
      return new Promise((res) => child.on("exit", res));
    },
  };
}

// The elements that hold a text node that reads "null".
function strayNulls(page) {
  return page.evaluate(() => {
    const walk = document.createTreeWalker(document.getElementById("view"), NodeFilter.SHOW_TEXT);
    const found = [];
    for (let n = walk.nextNode(); n; n = walk.nextNode())
      if (n.textContent.trim() === "null") found.push(n.parentElement.tagName);
    return found;
  });
}

// Every page of a list of the API ("workflows?limit=1000"), as one array.
async function everyPage(path) {
  let items = [], after;
  do {
    const page = await api(path + (after ? "&after=" + after : ""));
    items = items.concat(page.items);
    after = page.next;
  } while (after);
  return items;
}

const checks = {
  async gaps({ page, shot }) {
    // The overview: a page of 200 workflows, and the rest when asked for.
    const total = (await everyPage("workflows?limit=1000")).length;
    await page.goto(`${url}/#/`);
    await page.waitForSelector("#workflows .wf-row");
    const rows = () => page.$$eval("#workflows .wf-row", (r) => r.length);
    check((await rows()) === 200 && (await page.$("#more-workflows")) !== null, `the overview shows 200 of the ${total} workflows, and a button for more (${await rows()})`);
    await page.click("#more-workflows");
    await page.waitForFunction((n) => document.querySelectorAll("#workflows .wf-row").length === n, total, { timeout: 10000 }).catch(() => {});
    const shown = await page.$eval("#workflows-shown", (p) => p.textContent);
    check((await rows()) === total && (await page.$("#more-workflows")) === null, `then all ${total} (${await rows()}: ${shown})`);

    // A task page that reads 5,000 of its samples says so, and of how many.
    const samples = await api(`telemetry?task=${ids.long}&limit=5000`);
    check(samples.truncated && samples.total > 5000, `the long task has more samples than its page reads (${samples.total})`);
    await page.goto(`${url}/#/task/${ids.long}`);
    await page.waitForSelector("#telemetry .chart canvas");
    const note = await page.$eval("#task-samples-shown", (p) => p.textContent).catch(() => "(no note)");
    check(note.includes("5,000") && note.includes(samples.total.toLocaleString("en")), `its page says it shows 5,000 of ${samples.total} (${note})`);

    // The telemetry view draws a span for each task of its window.
    const host = (await api(`tasks/${ids.long}`)).task.host;
    const src = (await api("telemetry/sources")).sources.find((s) => s.host === host && s.pid === 0);
    const ran = (await everyPage(`tasks?host=${encodeURIComponent(host)}&since=${src.first}&until=${src.last + 1}&limit=1000`))
      .filter((t) => t.started !== null);
    await page.goto(`${url}/#/telemetry?host=${encodeURIComponent(host)}&pid=0`);
    await page.waitForSelector("#task-spans");
    const spans = await page.$$eval("#task-spans rect.bar", (r) => r.length);
    check(ran.length > 1000 && spans === ran.length, `the telemetry view draws the ${ran.length} tasks of its window (${spans})`);
    const visible = await page.$eval("#task-spans", (s) => s.height.baseVal.value >= s.querySelectorAll("rect.bar").length * 8);
    check(visible, "each within the drawing, none below its edge");
    const spanTitles = await page.$$eval("#task-spans title", (t) => t.map((e) => e.textContent));
    check(!spanTitles.some((t) => /\b(null|undefined)\b/.test(t)), "no span's title reads null");

    // The gaps workflow: the where box, the graph's titles.
    await page.goto(`${url}/#/workflow/${ids.gaps}`);
    await page.waitForSelector(".vt-row");
    const listed = () => page.$$eval(".vt-row", (r) => r.map((x) => x.dataset.id).sort().join(","));
    const tagged = (await everyPage(`tasks?workflow=${ids.gaps}&limit=1000&where=${encodeURIComponent("used.tag=a,b")}`)).map((t) => t.id);
    check(tagged.length === 1, `the API finds the task tagged "a,b" (${tagged})`);
    for (const typed of ["used.tag=a,b", "used.tag!=c, used.tag=a,b"]) {
      await page.fill("#where-filter", typed);
      await page.press("#where-filter", "Enter");
      await page.waitForFunction((w) => [...document.querySelectorAll(".vt-row")].map((x) => x.dataset.id).sort().join(",") === w
        || document.querySelector("#view .error"), tagged.join(","), { timeout: 10000 }).catch(() => {});
      const error = await page.$eval("#view .error", (e) => e.textContent).catch(() => "");
      check(!error && (await listed()) === tagged.join(","), `the where box "${typed}" lists that task (${error || await listed()})`);
    }
    await page.click(".tabs button[data-tab=dag]");
    await page.waitForSelector(`#dag .node[data-id="${ids.bare}"]`);
    const title = await page.$eval(`#dag .node[data-id="${ids.bare}"] title`, (t) => t.textContent);
    check(!/\b(null|undefined)\b/.test(title) && title.includes(ids.bare) && title.includes("SUBMITTED"), `a task with no activity reads no null when hovered (${title})`);
    await shot("gaps-graph");

    // A null parameter reads as missing, apart from an empty string.
    await page.goto(`${url}/#/task/${ids.nulls}`);
    await page.waitForSelector("#used table");
    const cells = await page.$$eval("#used tr, #generated tr", (r) => Object.fromEntries(r.map((x) => [x.children[0].textContent,
      [x.children[1].textContent, !!x.children[1].querySelector(".missing")]])));
    check(JSON.stringify(cells.a) === JSON.stringify(["—", true]) && JSON.stringify(cells.acc) === JSON.stringify(["—", true]),
      `a null reads as missing (${JSON.stringify(cells)})`);
    check(JSON.stringify(cells.b) === JSON.stringify(["", false]), "an empty string as itself, an empty cell");
    await shot("gaps-nulls");
  },
  async "no-null"({ page, shot }) {
    const [a, b] = ids.train;
    await page.goto(`${url}/#/task/${a}`);
    await page.waitForSelector(".metric-chart canvas");
    check((await strayNulls(page)).length === 0, "a task with no error shows no stray null");
    await page.goto(`${url}/#/compare?task=${a}&task=${b}&task=${ids.prepare}`);
    await page.waitForSelector("#compare-chart canvas");
    check((await strayNulls(page)).length === 0, "a compare of three runs shows no stray null");
    await shot("no-null");
  },
  async "short-ids"({ page, shot }) {
    const [a, b] = ids.train;
    check(a.slice(0, 8) === b.slice(0, 8), `the two runs' ids begin alike (${a}, ${b})`);
    await page.goto(`${url}/#/compare?task=${a}&task=${b}`);
    await page.waitForSelector("#compare-chart canvas");
    const legend = await page.$$eval("#compare-chart .u-series .u-label", (l) => l.slice(1).map((e) => e.textContent));
    check(legend.length === 2 && legend[0] !== legend[1], `the compare legend tells them apart (${legend})`);
    const cols = await page.$$eval("#diff tr:first-child th", (h) => h.slice(2).map((e) => e.textContent));
    check(cols.length === 2 && cols[0] !== cols[1], `so do the diff's columns (${cols})`);
    await shot("short-ids-compare");
    const wf = (await (await fetch(`${url}/api/tasks/${a}`)).json()).task.workflow_id;
    await page.goto(`${url}/#/workflow/${wf}`);
    await page.waitForSelector(".vt-row");
    const shown = await page.$$eval(".vt-row", (r) => r.map((x) => x.children[0].textContent));
    check(shown.length === 3 && new Set(shown).size === 3, `and the task table (${shown})`);
  },
  async telemetry({ page, shot }) {
    const host = (await (await fetch(`${url}/api/telemetry/sources`)).json()).sources.find((s) => s.pid === 0);
    await page.goto(`${url}/#/telemetry?host=${encodeURIComponent(host.host)}&pid=0`);
    await page.waitForSelector("#telemetry-charts canvas");
    const titles = () => page.$$eval("#telemetry-charts .u-title", (t) => t.map((e) => e.textContent));
    const shown = await titles();
    for (const want of ["cpu_busy_pct", "mem_available_kb", "gpu0.mem_used_bytes", "gpu1.power_w"])
      check(shown.includes(want), `the host's telemetry draws ${want} (${shown.slice(0, 6)}...)`);
    await shot("telemetry");
    await page.click("#more-series summary");
    await page.waitForFunction((n) => document.querySelectorAll("#telemetry-charts .u-title").length > n, shown.length);
    const all = await titles();
    check(all.includes("disk_io_ms") && all.includes("swap_free_kb"), `the other series when asked for (${all.length} in all)`);
  },
  async "telemetry-newest"({ page, shot }) {
    const source = (await api("telemetry/sources")).sources.find((s) => s.host === ids.host && s.pid === 0);
    check(source.samples > 20000, `the host has more samples than the view reads (${source.samples})`);
    const read = page.waitForResponse((r) => r.url().includes("/api/telemetry?"));
    await page.goto(`${url}/#/telemetry?host=${encodeURIComponent(ids.host)}&pid=0`);
    const got = (await (await read).json()).samples;
    check(got.length > 10000 && got.at(-1).ts === source.last, `the view reads the newest samples, up to the last (${got.length}, last ${got.at(-1).ts} of ${source.last})`);
    await page.waitForSelector("#telemetry-charts canvas");
    const note = await page.$eval("#samples-shown", (p) => p.textContent);
    const last = new Date(source.last / 1e6).toISOString().replace("T", " ").replace("Z", "");
    check(note.includes(source.samples.toLocaleString("en")) && note.includes(last) && note.includes("newest"), `and says which (${note})`);
    await shot("telemetry-newest");
  },
  async "lineage-labels"({ page, shot }) {
    await page.goto(`${url}/#/lineage/${ids.prepare}`);
    await page.waitForSelector("#lineage .node.data");
    const files = await page.$$eval("#lineage .node.data", (n) => n.map((e) => [e.querySelector("text").textContent, e.querySelector("title").textContent]));
    const texts = files.map(([t]) => t);
    check(files.length === 2 && new Set(texts).size === 2 && texts.every((t) => t.endsWith("shard-0.npz")),
      `the shard files read apart by their names (${texts})`);
    check(files.every(([, title]) => /file:\/\/\/.*shards\/[ab]\/shard-0\.npz/.test(title)), "and show their URIs when hovered");
    await shot("lineage-labels");
  },
  async "lineage-depth"({ page, shot }) {
    const labels = () => page.$$eval("#lineage .node text", (t) => t.map((e) => e.textContent).sort().join(","));
    await page.goto(`${url}/#/lineage/${ids.train[0]}`);
    await page.waitForSelector("#lineage .node.data");
    check((await labels()).includes("prepare"), `at depth 3 the run's lineage reaches prepare (${await labels()})`);
    await page.fill("#view input[type=number]", "1");
    await page.click("#view button:text-is('Walk')");
    // The walk clears the view before it draws: wait for the new drawing
    // (the run there again), not only for "prepare" gone.
    await page.waitForFunction(() => {
      const t = [...document.querySelectorAll("#lineage .node text")].map((e) => e.textContent);
      return !t.includes("prepare") && t.includes("train");
    }, null, { timeout: 10000 }).catch(() => {});
    check(!(await labels()).includes("prepare") && (await labels()).includes("train"), `Walk at depth 1 shows the run and its shard alone (${await labels()})`);
    check(/[?&]depth=1$/.test(await page.evaluate(() => location.hash)), "and the address keeps the depth");
    await page.reload();
    await page.waitForSelector("#lineage .node.data");
    const kept = await page.$eval("#view input[type=number]", (e) => e.value);
    check(kept === "1" && !(await labels()).includes("prepare"), `a reload walks at the same depth (${kept}: ${await labels()})`);
    await shot("lineage-depth");
  },
  async "long-names"({ page, shot }) {
    await page.goto(`${url}/#/task/${ids.long}`);
    await page.waitForSelector("#used table");
    const wide = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    check(wide[0] <= wide[1], `the task's page is no wider than the window (${wide[0]} px in ${wide[1]})`);
    await shot("long-names");
  },
  async "y-labels"({ page, shot }) {
    await page.goto(`${url}/#/telemetry`);
    await page.waitForSelector("#telemetry-charts canvas");
    // The first column of each chart's canvas that has ink in it: a label
    // wider than its axis is drawn from left of the canvas, cut at 0-1.
    const firstInk = await page.$$eval("#telemetry-charts .uplot", (charts) => charts.map((u) => {
      const c = u.querySelector("canvas");
      const d = c.getContext("2d").getImageData(0, 0, 12, c.height).data;
      let first = 12;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) first = Math.min(first, (i >> 2) % 12);
      return [u.querySelector(".u-title").textContent, first];
    }));
    const cut = firstInk.filter(([, x]) => x < 3);
    check(firstInk.length >= 12 && cut.length === 0, `no y label is cut (${JSON.stringify(cut)})`);
    await shot("y-labels");
  },
  async "task-telemetry"({ page, shot }) {
    await page.goto(`${url}/#/task/${ids.train[0]}`);
    await page.waitForSelector("#telemetry canvas");
    const titles = await page.$$eval("#telemetry .u-title", (t) => t.map((e) => e.textContent));
    for (const want of [/^host .*: mem_available_kb$/, /^host .*: gpu0\.mem_used_bytes$/, /^rss_kb$/])
      check(titles.some((t) => want.test(t)), `the run's page draws ${want} while it ran (${titles})`);
    await shot("task-telemetry");
  },
  async "activity-filter"({ page, shot }) {
    const wf = (await api("workflows?name=sweep")).items[0].id;
    await page.goto(`${url}/#/workflow/${wf}`);
    await page.waitForSelector(".vt-row");
    const shown = () => page.$$eval(".vt-row", (r) => r.map((x) => x.children[1].textContent).sort().join(","));
    const box = ".filters input[placeholder^='activity']";
    for (const [typed, want] of [["RAIN", "train,train"], ["tr*", "train,train"], ["pre", "prepare"], ["", "prepare,train,train"]]) {
      await page.fill(box, typed);
      await page.press(box, "Enter");
      await page.waitForFunction(([sel, w]) => [...document.querySelectorAll(sel)]
        .map((x) => x.children[1].textContent).sort().join(",") === w, [".vt-row", want], { timeout: 10000 })
        .catch(() => {});
      check((await shown()) === want, `the activity box "${typed}" lists ${want} (${await shown()})`);
    }
    await shot("activity-filter");
  },
  async experiments({ page, shot }) {
    const want = { sweep: "ERROR", tuning: "RUNNING", done: "FINISHED", Default: "no run yet" };
    const statuses = () => page.$$eval("tr.wf-row", (r) => Object.fromEntries(r.map((x) => [x.children[0].textContent, x.children[2].textContent])));
    await page.goto(`${url}/#/`);
    await page.waitForSelector("tr.wf-row");
    const shown = await statuses();
    check(JSON.stringify(shown, Object.keys(want)) === JSON.stringify(want), `the overview's experiments read ${JSON.stringify(want)} (${JSON.stringify(shown)})`);
    await shot("experiments");
    const idle = await page.$eval("tr.wf-row:has(a:text-is('Default'))", (r) => r.children[5].textContent);
    check(idle === "", `an experiment with no run has no duration (${idle})`);
    const tuning = (await api("workflows?name=tuning")).items[0].id;
    await page.goto(`${url}/#/workflow/${tuning}`);
    await page.waitForSelector(".vt-row");
    const head = await page.$eval("#view h2 .status", (e) => e.textContent);
    check(head === "RUNNING", `so does the experiment's page (${head})`);
  },
  async counters({ page, shot }) {
    await page.goto(`${url}/#/`);
    await page.click("header nav a:text-is('Counters')");
    await page.waitForSelector("#counters-total");
    const rows = (sel) => page.$$eval(`${sel} tr`, (r) => r.slice(1).map((x) => [...x.children].map((c) => c.textContent).join(" | ")));
    const total = await rows("#counters-total");
    check(JSON.stringify(total) === JSON.stringify(["dask.telemetry_skipped | 5 | 2 | 2", "run.ignored_opens | 15 | 3 | 2"]),
      `each counter's total is the sum of each process's largest value, over all hosts (${total})`);
    const heads = await page.$$eval("#counters th", (h) => h.map((e) => e.textContent));
    check(heads.includes("total over all processes") && heads.includes("total over this host's processes"), `and says so (${heads})`);
    const here = (await api("counters")).by_host.find((c) => c.host !== ids.host).host;
    const byHost = await rows("#counters-by-host");
    const want = [`${here} | dask.telemetry_skipped | 1 | 1`, `${here} | run.ignored_opens | 8 | 2`,
      `${ids.host} | dask.telemetry_skipped | 4 | 1`, `${ids.host} | run.ignored_opens | 7 | 1`].sort();
    check(JSON.stringify([...byHost].sort()) === JSON.stringify(want), `and per host (${byHost})`);
    const none = await page.$eval("#server", (e) => e.textContent);
    check(none.includes("Nothing dropped or refused by this server") && !(await page.$("#server-counts")),
      `the server's own counts, all 0, read so (${none})`);
    await shot("counters");
  },
  async "server-counts"({ page, shot }) {
    await page.goto(`${url}/#/counters`);
    await page.waitForSelector("#counters-total");
    const row = "#server-counts tr[data-name='connections_refused']";
    await page.waitForSelector(row, { timeout: 10000 }).catch(() => {});
    const cells = await page.$$eval(`${row} td`, (c) => c.map((x) => x.textContent));
    check(Number(cells[1]) >= 1, `the server's refused connections are shown (${cells.join(" | ")})`);
    check(/--max-clients/.test(cells[2] || ""), `and what they are (${cells[2]})`);
    check(!(await page.$("#server-none")), "with no line that nothing was refused");
    await shot("server-counts");
  },
  async "counters-live"({ page, shot }) {
    await page.goto(`${url}/#/counters`);
    await page.waitForSelector("#counters-total tr[data-name='run.ignored_opens']");
    const total = () => page.$eval("#counters-total tr[data-name='run.ignored_opens'] td:nth-child(2)", (c) => c.textContent);
    const first = await total();
    const cmd = JSON.parse(process.env.MIDA_COMMAND);
    const child = spawn(cmd[0], cmd.slice(1), { stdio: "inherit" });
    check((await new Promise((res) => child.on("exit", res))) === 0, "a process raised the counter");
    await page.waitForFunction((was) => document.querySelector("#counters-total tr[data-name='run.ignored_opens'] td:nth-child(2)")?.textContent !== was,
      first, { timeout: 10000 }).catch(() => {});
    const now = await total();
    check(now !== first, `the view shows it while open (${first}, then ${now})`);
    await shot("counters-live");
    await page.goto(`${url}/#/sql`);
    await page.waitForTimeout(500);
    let reads = 0;
    page.on("request", (r) => { if (/\/api\/(counters|stats)/.test(r.url())) reads++; });
    await page.waitForTimeout(5000);
    check(reads === 0, `and reads nothing once another view is shown (${reads} reads in 5 s)`);
  },
  async "live-views"({ page, shot }) {
    const { next, send, end } = commandLines();
    const wf = JSON.parse(await next()).workflow;
    const add = async (what) => { send(what); return Number(await next()); };
    const count = (sel) => page.$$eval(sel, (n) => n.length);
    const until = (sel, n) => page.waitForFunction(([s, k]) => document.querySelectorAll(s).length === k, [sel, n], { timeout: 15000 }).catch(() => {});

    await page.goto(`${url}/#/workflow/${wf}`);
    await page.waitForSelector(".vt-row");
    await page.click(".tabs button[data-tab='dag']");
    await page.waitForSelector("#dag svg");
    const first = await count("#dag .node");
    await page.$eval("#dag", (d) => (d.scrollTop = 200));
    const y = await page.$eval("#dag", (d) => d.scrollTop);
    check(y === 200, `the reader scrolled the graph of ${first} tasks (to ${y} px)`);
    let n = await add("step");
    await until("#dag .node", n);
    check((await count("#dag .node")) === n, `the graph takes in task ${n} as it comes (${await count("#dag .node")} nodes)`);
    const kept = await page.$eval("#dag", (d) => d.scrollTop);
    check(kept === y, `and leaves the reader where they were (${kept} px)`);
    await shot("live-graph");

    await page.click(".tabs button[data-tab='gantt']");
    await page.waitForSelector("#gantt svg");
    await page.selectOption(".filters select", "process");
    const lanes = await page.$eval(".filters select", (s) => s.value);
    n = await add("step");
    await until("#gantt rect.bar", n);
    check((await count("#gantt rect.bar")) === n, `the timeline takes in task ${n} (${await count("#gantt rect.bar")} bars)`);
    const still = await page.$eval(".filters select", (s) => s.value);
    check(lanes === "process" && still === lanes, `and keeps its lanes (${lanes}, then ${still})`);
    await shot("live-timeline");

    await page.goto(`${url}/#/`);
    await page.waitForSelector("tr.wf-row");
    const campaigns = () => page.$$eval("#view a[href^='#/?campaign=']", (a) => a.map((x) => x.textContent).sort().join(","));
    check((await campaigns()) === "live-a", `the overview lists the campaign (${await campaigns()})`);
    await add("campaign");
    await page.waitForFunction(() => document.querySelectorAll("#view a[href^='#/?campaign=']").length === 2, null, { timeout: 15000 }).catch(() => {});
    check((await campaigns()) === "live-a,live-b", `and the campaign a new workflow begins (${await campaigns()})`);
    await shot("live-campaigns");
    await end();
  },
  async "live-table"({ page, shot }) {
    const { next, send, end } = commandLines();
    const wf = JSON.parse(await next()).workflow;
    await page.goto(`${url}/#/workflow/${wf}`);
    await page.waitForSelector(".vt-row");
    const loaded = () => page.$eval(".vt-spacer", (s) => Math.round(parseFloat(s.style.height) / 28));
    // Scrolled to the end until a second page is read.
    for (let i = 0; i < 50 && (await loaded()) < 1000; i++) {
      await page.$eval(".vt-body", (b) => (b.scrollTop = b.scrollHeight));
      await page.waitForTimeout(100);
    }
    const before = await loaded();
    check(before >= 1000, `the reader scrolled the table to read ${before} rows`);
    await page.$eval(".vt-body", (b) => (b.scrollTop = 700 * 28));
    await page.waitForTimeout(300);
    const y = await page.$eval(".vt-body", (b) => b.scrollTop);
    const top = await page.$eval(".vt-row", (r) => r.dataset.id);
    send("step");
    const n = Number(await next());
    // Read again, the new task first (newest first): the rows in view
    // move down by one.
    await page.waitForFunction((id) => document.querySelector(".vt-row")?.dataset.id !== id, top, { timeout: 15000 }).catch(() => {});
    await page.waitForTimeout(300);
    const after = await loaded();
    check(after >= before, `a new task (${n} now) leaves the ${before} rows read (${after})`);
    const kept = await page.$eval(".vt-body", (b) => b.scrollTop);
    check(kept === y, `and the reader where they were (${y} px, then ${kept})`);
    await shot("live-table");
    await end();
  },
  async "status-options"({ page, shot }) {
    const wf = (await api("workflows?name=sweep")).items[0].id;
    await page.goto(`${url}/#/workflow/${wf}`);
    await page.waitForSelector(".vt-row");
    const offered = await page.$$eval(".filters select:first-child option", (o) => o.map((x) => x.value));
    const spec = await api("openapi.json");
    const taken = spec.paths["/api/tasks"].get.parameters.find((p) => p.name === "status").schema.enum;
    check(JSON.stringify(offered) === JSON.stringify(["", ...taken]), `the status box offers every status the API takes (${offered}; ${taken})`);
    const asked = page.waitForRequest((r) => r.url().includes("/api/tasks?") && r.url().includes("status=LOST"));
    await page.selectOption(".filters select:first-child", "LOST");
    await asked;
    await page.waitForFunction(() => document.querySelectorAll(".vt-row").length === 0, null, { timeout: 15000 }).catch(() => {});
    check((await page.$$(".vt-row")).length === 0, "LOST filters the table (no task of the sweep is LOST)");
    await shot("status-options");
  },
  async reset({ page, shot }) {
    let resets = 0;
    await page.route(/\/api\/workflows/, (route) => {
      if (resets++ < 2) return route.abort("connectionreset");
      return route.continue();
    });
    await page.goto(`${url}/#/`);
    await page.waitForSelector("tr.wf-row");
    check(resets >= 3, `the overview tried its list again after ${resets - 1} resets`);
    const said = await page.$eval("#view", (v) => v.textContent);
    check(!/Failed to fetch/.test(said), "the overview says no failure");
    await shot("reset");
  },
  async campaign({ page, shot }) {
    await page.goto(`${url}/#/`);
    await page.waitForSelector("tr.wf-row");
    const names = () => page.$$eval("tr.wf-row", (r) => r.map((x) => x.children[0].textContent).sort().join(","));
    check((await names()) === "baseline,sweep", "the overview lists every workflow");
    const paper = await page.$("#view a:text-is('paper')");
    check(paper !== null, "the campaign is a link");
    await paper.click();
    await page.waitForURL(/#\/\?campaign=/);
    await page.waitForFunction(() => /campaign paper/.test(document.querySelector("#view").textContent));
    check((await names()) === "sweep", `clicking the campaign lists its workflows alone (${await names()})`);
    await shot("campaign");
    await page.click("text=all workflows");
    await page.waitForFunction(() => document.querySelectorAll("tr.wf-row").length === 2);
  },
  async empty({ page, shot }) {
    await page.goto(`${url}/#/`);
    await page.waitForSelector("#workflows");
    const note = await page.$eval("#workflows", (e) => e.textContent);
    check(/No workflow yet/.test(note), "an empty store's overview says it has no workflow yet");
    await shot("empty");
    const cmd = JSON.parse(process.env.MIDA_COMMAND);
    const child = spawn(cmd[0], cmd.slice(1), { stdio: "ignore" });
    await new Promise((res) => child.on("exit", res));
    await page.waitForSelector("tr.wf-row");
    check((await page.$$("#no-workflows")).length === 0, "the note goes when the first workflow comes");
  },
  async pcoords({ page, shot }) {
    await page.goto(`${url}/#/compare?task=${ids.train[0]}&task=${ids.train[1]}`);
    await page.waitForSelector("#pcoords svg polyline", { state: "attached" });
    const out = await page.$eval("#pcoords svg", (root) => [...root.querySelectorAll("text")]
      .filter((t) => t.getBBox().x < 0 || t.getBBox().x + t.getBBox().width > root.width.baseVal.value)
      .map((t) => t.textContent));
    check(out.length === 0, `every label of the parallel coordinates is inside them (${out})`);
    await shot("pcoords");
  },
  async "running-durations"({ page, shot }) {
    const { next, send, end } = commandLines();
    const id = JSON.parse(await next()).watched;
    send("");
    await next(); /* a point flushed: the task and its workflow are stored */
    const wf = (await api(`tasks/${id}`)).task.workflow_id;
    // Each place that shows a running duration, read twice 2.5 s apart
    // while the stepper waits (no event comes): the second must be longer.
    const places = [
      ["#/", "the overview's row", `tr.wf-row[data-id='${wf}']`, () => page.$eval(`tr.wf-row[data-id='${wf}']`, (r) => r.children[5].textContent)],
      [`#/workflow/${wf}`, "the workflow's header", ".vt-row", () => page.$eval("#view .card p.muted", (p) => p.textContent.split(" · ").at(-1))],
      [`#/workflow/${wf}`, "the task table's row", `.vt-row[data-id='${id}']`, () => page.$eval(`.vt-row[data-id='${id}']`, (r) => r.children[4].textContent)],
      [`#/task/${id}`, "the task's page", "#metrics canvas", () => page.$eval("#view .card p.muted", (p) => p.textContent.split(" · ").at(-3))],
    ];
    const seconds = (text) => {
      const m = /^([\d.]+) (µs|ms|s|min|h)$/.exec(text.trim());
      return m ? Number(m[1]) * { "µs": 1e-6, ms: 1e-3, s: 1, min: 60, h: 3600 }[m[2]] : NaN;
    };
    for (const [hash, what, shown, read] of places) {
      await page.goto(`${url}/${hash}`);
      await page.waitForSelector(shown);
      const first = await read();
      await page.waitForTimeout(2500);
      const then = await read();
      check(seconds(then) - seconds(first) >= 1.5, `${what} moves on while the task runs (${first}, then ${then})`);
    }
    await shot("running-durations");
    await end();
  },
  async "live-scroll"({ page, shot }) {
    const { next, send, end } = commandLines();
    const id = JSON.parse(await next()).watched;
    const point = async () => { send(""); await next(); };
    await point();
    await page.goto(`${url}/#/task/${id}`);
    await page.waitForSelector(".metric-chart[data-points='1'] canvas");
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    const y = await page.evaluate(() => window.scrollY);
    check(y > 100, `the reader scrolled down the running task's page (to ${y} px)`);
    for (const n of [2, 3]) {
      await point();
      await page.waitForSelector(`.metric-chart[data-points='${n}'] canvas`);
      // Two frames on, when the page has settled.
      const now = await page.evaluate(() => new Promise((res) =>
        requestAnimationFrame(() => requestAnimationFrame(() => res(window.scrollY)))));
      check(now === y, `point ${n} re-rendered the page and left the reader at ${now} px`);
    }
    await shot("live-scroll");
    await end();
  },
};

const body = checks[process.argv[2]];
if (!body) {
  console.error("usage: node browser_views.mjs " + Object.keys(checks).join("|"));
  process.exit(2);
}
await drive(async (s) => {
  await body(s);
  check(s.problems.length === 0, "no script error " + JSON.stringify(s.problems.slice(0, 3)));
});

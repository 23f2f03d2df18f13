// browser.mjs -- the dashboard end to end in Debian's headless Chromium,
// driven by playwright-core (web/node_modules; browser_support.mjs), one
// browser session:
//
//   1. the overview is open when a Dask pipeline starts under `mida run`:
//      its workflow appears and its finished count rises, live, with no
//      reload;
//   2. clicking through reaches a task with its arguments and result;
//   3. the DAG and the Gantt view draw every task of the workflow;
//   4. an MLflow run's metric plot holds every logged point;
//   5. the compare view overlays the two runs;
//   6. a store that went away shows a page that says so.
//
// Environment: MIDA_WEB (web/, with its node_modules), MIDA_URL (the
// server), MIDA_DEAD_URL (a server whose store is gone), MIDA_WORKLOAD (the command, a JSON array), MIDA_STEPS (points
// per MLflow run), MIDA_SHOTS (where screenshots go). Prints one line per
// check; exits non-zero on the first failure.
import { spawn } from "node:child_process";
import { api, check, drive, url } from "./browser_support.mjs";

const steps = Number(process.env.MIDA_STEPS);

await drive(async ({ page, problems, shot }) => {
  // 1. Live overview.
  await page.goto(url + "/");
  await page.waitForSelector("#workflows");
  await page.evaluate(() => { window.__noReload = true; });
  const before = new Set(await page.$$eval("tr.wf-row", (rs) => rs.map((r) => r.dataset.id)));
  const cmd = JSON.parse(process.env.MIDA_WORKLOAD);
  const child = spawn(cmd[0], cmd.slice(1), { stdio: ["ignore", "inherit", "inherit"] });
  const exited = new Promise((res) => child.on("exit", (code) => res(code)));
  const dask = await page.waitForFunction((seen) => {
    const rows = [...document.querySelectorAll("tr.wf-row")];
    const r = rows.find((x) => !seen.includes(x.dataset.id) && x.children[1].textContent === "dask");
    return r ? r.dataset.id : null;
  }, [...before], { timeout: 60000 });
  const daskId = await dask.jsonValue();
  check(!!daskId, "the Dask workflow appeared on the open overview");
  const counts = new Set();
  let code = null;
  exited.then((c) => (code = c));
  while (code === null) {
    const t = await page.$eval(`tr.wf-row[data-id="${daskId}"] .c-finished`, (e) => e.textContent).catch(() => null);
    if (t) counts.add(t);
    await page.waitForTimeout(100);
  }
  check(code === 0, "the workload under mida run exited 0");
  await page.waitForTimeout(1500);
  counts.add(await page.$eval(`tr.wf-row[data-id="${daskId}"] .c-finished`, (e) => e.textContent));
  const finals = [...counts].map((t) => Number(t.replace(/[^0-9]/g, "")));
  check(finals.length >= 3 && Math.max(...finals) >= 17,
        `its finished count rose live (${[...counts].join(" -> ")})`);
  check(await page.evaluate(() => window.__noReload === true), "the overview was never reloaded");
  await shot("01-overview");

  // 2. Click through to a task with its arguments and result.
  await page.click(`tr.wf-row[data-id="${daskId}"] a`);
  await page.waitForURL(/#\/workflow\//);
  await page.waitForSelector(".vt-row");
  await shot("02-workflow-tasks");
  const row = await page.waitForSelector(".vt-row:has-text('square')");
  await row.click();
  await page.waitForSelector("#used table.kv");
  const used = await page.$eval("#used", (e) => e.textContent);
  const generated = await page.$eval("#generated", (e) => e.textContent);
  check(/n/.test(used) && /\d/.test(generated),
        `a task page shows arguments (${used.trim().slice(0, 60)}) and result (${generated.trim().slice(0, 40)})`);
  await shot("03-task");

  // 3. DAG and Gantt: every task drawn.
  const graph = await api(`workflows/${daskId}/graph`);
  await page.goto(`${url}/#/workflow/${daskId}`);
  await page.click("button[data-tab=dag]");
  await page.waitForSelector("#dag svg");
  const nodes = await page.$$eval("#dag .node", (n) => n.length);
  check(nodes === graph.nodes.length && nodes >= 17, `the DAG draws every task (${nodes} of ${graph.nodes.length})`);
  const edges = await page.$$eval("#dag .edge", (n) => n.length);
  check(edges >= 16, `with their dependencies (${edges} edges)`);
  await shot("04-dag");
  await page.click("button[data-tab=gantt]");
  await page.waitForSelector("#gantt svg");
  const bars = await page.$$eval("#gantt rect.bar", (n) => n.length);
  const started = graph.nodes.filter((t) => t.started !== null).length;
  check(bars === started && bars >= 17, `the Gantt draws every task (${bars} of ${started})`);
  await shot("05-gantt");

  // 4. An MLflow run's metric plot has every logged point.
  const ml = await api("workflows?source=mlflow&name=dashboard");
  check(ml.items.length === 1, "the MLflow experiment is a workflow");
  const runs = (await api(`tasks?workflow=${ml.items[0].id}&sort=started`)).items;
  check(runs.length === 2, "with its two runs as tasks");
  await page.goto(`${url}/#/task/${runs[0].id}`);
  const chart = await page.waitForSelector(".metric-chart[data-key=loss] canvas");
  const pts = await page.$eval(".metric-chart[data-key=loss]", (e) => Number(e.dataset.points));
  check(pts === steps, `the loss plot of a run holds every logged point (${pts} of ${steps})`);
  check(!!chart, "drawn by uPlot");
  await shot("06-mlflow-run");

  // 5. Compare overlays the two runs.
  await page.goto(`${url}/#/compare?task=${runs[0].id}&task=${runs[1].id}`);
  await page.waitForSelector("#compare-chart[data-series='2'] canvas");
  const params = await page.$eval("#params", (e) => e.textContent);
  check(/lr/.test(params) && /batch/.test(params), "compare overlays both runs and lists their parameters");
  const diff = await page.$eval("#diff", (e) => e.textContent);
  check(/lr/.test(diff) && /0\.01/.test(diff) && /0\.02/.test(diff), "with what mida diff finds between them");
  await page.waitForSelector("#pcoords svg polyline", { state: "attached" });
  const axes = await page.$$eval("#pcoords line.axis", (n) => n.length);
  check(axes === 3, `parallel coordinates of lr and batch against the last loss (${axes} axes)`);
  await shot("07-compare");

  // The other views render.
  const total = graph.nodes.find((t) => /total/.test(t.activity || ""));
  await page.goto(`${url}/#/lineage/${total.id}`);
  await page.waitForSelector("#lineage svg .node");
  check((await page.$$eval("#lineage .node", (n) => n.length)) >= 10, "lineage draws the graph upstream of the total");
  await shot("08-lineage");
  await page.goto(`${url}/#/sql`);
  await page.click("#sql-run");
  await page.waitForSelector("#sql-result table");
  check((await page.$$eval("#sql-result tr", (n) => n.length)) > 1, "the SQL console shows rows");
  await shot("09-sql");
  // A query that matches nothing: its columns, and no row.
  await page.fill("#sql-text", "SELECT id, activity AS what FROM task WHERE 0 = 1");
  await page.click("#sql-run");
  await page.waitForFunction(() => document.querySelector("#sql-result p")?.textContent === "0 rows");
  check(JSON.stringify(await page.$$eval("#sql-result th", (h) => h.map((e) => e.textContent))) === '["id","what"]',
    "the SQL console heads an empty result with its columns");
  await page.goto(`${url}/#/telemetry`);
  await page.waitForSelector("#telemetry-charts");
  await page.waitForTimeout(500);
  await shot("10-telemetry");

  check(problems.length === 0, "no script error on any page " + JSON.stringify(problems.slice(0, 3)));

  // 6. A store that went away: a page that says so.
  await page.goto(process.env.MIDA_DEAD_URL + "/");
  await page.waitForSelector("#store-error");
  const msg = await page.$eval("#store-error", (e) => e.textContent);
  check(/cannot be read/.test(msg), "a store that went away shows a page that says so");
  await shot("11-store-error");
});

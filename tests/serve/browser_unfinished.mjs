// browser_unfinished.mjs -- the dashboard, in Debian's headless Chromium
// (browser_support.mjs), on tasks and workflows that lack a start or an end
// (the store of unfinished_workload.py):
//
//   1. the telemetry view draws no span for a Dask key cancelled before it
//      ran (an end and no start), and says it left it out; the task LOST
//      with its process (a start and no end) is a mark at its start;
//   2. the Gantt view draws that LOST task as a mark, not as a bar that
//      runs on to now;
//   3. the task table, the workflow's header and the overview give the
//      LOST task and workflow no duration (theirs is unknown, not "until
//      now");
//   4. the cancelled task's page says it did not start.
//
// Environment: MIDA_WEB (web/, with its node_modules), MIDA_URL (the
// server), MIDA_SHOTS (where screenshots go), MIDA_IDS (the ids the
// workload printed: {"wf": the LOST workflow, "task": its LOST task}).
// Prints one line per check; exits non-zero on the first failure.
import { api, check, drive, url } from "./browser_support.mjs";

const ids = JSON.parse(process.env.MIDA_IDS);

await drive(async ({ page, problems, shot }) => {
  const all = (await api("tasks?limit=100")).items;
  const cancelled = all.find((t) => t.activity === "quick-cancelled");
  check(cancelled && cancelled.status === "CANCELLED" && cancelled.started === null && cancelled.ended !== null,
    "the store holds a key cancelled before it ran: an end, no start");
  const lost = all.find((t) => t.id === ids.task);
  check(lost && lost.status === "LOST" && lost.started !== null && lost.ended === null,
    "and a task LOST with its process: a start, no end");

  // 1. Telemetry: the host's samples, and the tasks in their window.
  const src = (await api("telemetry/sources")).sources.find((s) => s.pid === 0);
  const inWindow = (await api(`tasks?host=${encodeURIComponent(src.host)}&since=${src.first}&until=${src.last + 1}&limit=1000`)).items;
  check(inWindow.some((t) => t.id === cancelled.id) && inWindow.some((t) => t.id === lost.id),
    `both are in the window of the host's telemetry (${inWindow.length} tasks)`);
  await page.goto(`${url}/#/telemetry?host=${encodeURIComponent(src.host)}&pid=0`);
  await page.waitForSelector("#task-spans");
  const spans = await page.$$eval("#task-spans rect.bar", (rs) => rs.map((r) => r.getAttribute("data-id")));
  const ran = inWindow.filter((t) => t.started !== null);
  check(spans.length === ran.length && !spans.includes(cancelled.id),
    `the telemetry view draws a span for each task that started, none for the cancelled one (${spans.length} spans, ${ran.length} started, ${inWindow.length} in the window)`);
  check(/^1 task .*never started/.test(await page.$eval("#never-started", (e) => e.textContent)),
    "and says that one task never started");
  check(await page.$(`#task-spans rect.bar.no-end[data-id="${lost.id}"]`) !== null,
    "the LOST task is a mark with no end");
  await shot("01-telemetry-unfinished");

  // 2. Gantt of the LOST workflow: a mark, not a bar up to now.
  await page.goto(`${url}/#/workflow/${ids.wf}`);
  await page.waitForSelector(".vt-row");
  const duration = await page.$eval(`.vt-row[data-id="${lost.id}"]`, (r) => r.children[4].textContent);
  check(duration === "", `the task table gives the LOST task no duration ("${duration}")`);
  const header = await page.$eval(".card p.muted", (e) => e.textContent);
  check(/·\s*$/.test(header), `nor the header its LOST workflow ("${header}")`);
  await page.click("button[data-tab=gantt]");
  await page.waitForSelector("#gantt svg");
  const bar = await page.$eval(`#gantt rect.bar[data-id="${lost.id}"]`, (r) => ({ cls: r.getAttribute("class"), width: Number(r.getAttribute("width")) }));
  check(/no-end/.test(bar.cls) && bar.width <= 4, `the Gantt view draws it as a mark at its start (${JSON.stringify(bar)})`);
  await shot("02-gantt-lost");

  // 3. The overview: no duration for the LOST workflow.
  await page.goto(url + "/");
  await page.waitForSelector(`tr.wf-row[data-id="${ids.wf}"]`);
  const wfDuration = await page.$eval(`tr.wf-row[data-id="${ids.wf}"]`, (r) => r.children[5].textContent);
  check(wfDuration === "", `the overview gives the LOST workflow no duration ("${wfDuration}")`);
  await shot("03-overview-lost");

  // 4. The cancelled task's page.
  await page.goto(`${url}/#/task/${cancelled.id}`);
  await page.waitForSelector("#used");
  const line = await page.$eval(".card p.muted", (e) => e.textContent);
  check(/not started/.test(line), `the cancelled task's page says it did not start ("${line}")`);
  await shot("04-task-cancelled");

  check(problems.length === 0, "no script error on any page " + JSON.stringify(problems.slice(0, 3)));
});

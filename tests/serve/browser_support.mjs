// browser_support.mjs -- what the dashboard's browser checks (browser.mjs,
// browser_unfinished.mjs) share: Debian's headless Chromium launched by
// playwright-core (one of web/'s locked packages, found through MIDA_WEB),
// one page that records every script error, screenshots into MIDA_SHOTS,
// the API of the server at MIDA_URL, and check(), which prints one line per
// check and throws on the first failure.
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.MIDA_WEB + "/package.json");
const { chromium } = require("playwright-core");

export const url = process.env.MIDA_URL;
const shots = process.env.MIDA_SHOTS;

export function check(cond, what) {
  if (!cond) throw new Error("FAILED: " + what);
  console.log("ok: " + what);
}

export async function api(path) {
  const r = await fetch(url + "/api/" + path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

// {browser, page, problems (script errors seen), shot(name)}.
export async function openPage() {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(90000); // a loaded CI machine
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  // A request that got no answer (a connection reset) is the network's,
  // not a script error: the dashboard tries it again (api.js).
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: net::/.test(m.text()))
      problems.push(m.text());
  });
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  return { browser, page, problems, shot };
}

// Runs body(session) on a new page; on a failure, says where, leaves a
// screenshot named "failure" and exits 1.
export async function drive(body) {
  const s = await openPage();
  try {
    await body(s);
  } catch (e) {
    console.error(e.message);
    console.error("at " + s.page.url() + "; page errors: " + JSON.stringify(s.problems.slice(0, 5)));
    await s.shot("failure").catch(() => {});
    await s.browser.close();
    process.exit(1);
  }
  await s.browser.close();
}

// main.js -- the dashboard's entry: checks that the store answers (else a
// page that says why), routes #/... to one view module, and hands the live
// events to the view on screen.
import "uplot/dist/uPlot.min.css";
import "./style.css";
import * as api from "./api.js";
import { el, errorBox, tickDurations } from "./util.js";
import overview from "./views/overview.js";
import workflow from "./views/workflow.js";
import task from "./views/task.js";
import compare from "./views/compare.js";
import lineage from "./views/lineage.js";
import telemetry from "./views/telemetry.js";
import sql from "./views/sql.js";
import counters from "./views/counters.js";

const routes = [
  [/^#?\/?(?:\?(.*))?$/, overview],
  [/^#\/workflow\/([^/?]+)/, workflow],
  [/^#\/task\/([^/?]+)/, task],
  [/^#\/compare(?:\?(.*))?$/, compare],
  [/^#\/lineage(?:\/([^?]+))?(?:\?(.*))?$/, lineage],
  [/^#\/telemetry(?:\?(.*))?$/, telemetry],
  [/^#\/sql/, sql],
  [/^#\/counters/, counters],
];

let current = null; // {view, state}

function tokenPage(message) {
  const input = el("input", { type: "password", placeholder: "token", id: "token", autocomplete: "off" });
  const form = el("form", {
    class: "card",
    onsubmit: (ev) => {
      ev.preventDefault();
      api.setToken(input.value.trim());
      render();
    },
  },
    el("h2", {}, "This server needs a token"),
    el("p", {}, message),
    el("p", {}, "Paste the token from the file given to ", el("code", {}, "mida serve --token-file"), ":"),
    input, " ", el("button", { type: "submit" }, "Open"));
  document.getElementById("view").replaceChildren(form);
}

function storePage(message) {
  document.getElementById("view").replaceChildren(
    el("div", { class: "card store-error", id: "store-error" },
      el("h2", {}, "The store cannot be read"),
      el("p", {}, message),
      el("p", { class: "muted" },
        "Check the --store given to mida serve (a SQLite file that mida wrote, or a PostgreSQL database with mida's schema), then reload this page.")));
}

async function render() {
  const hash = location.hash || "#/";
  if (current && current.view.leave) current.view.leave(current.state);
  current = null;
  const root = document.getElementById("view");
  try {
    await api.get("health");
  } catch (e) {
    if (e.status === 401) return tokenPage(e.message);
    return storePage(e.message);
  }
  for (const [re, view] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    const state = { root, args: m.slice(1) };
    current = { view, state };
    root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    try {
      await view.enter(state);
    } catch (e) {
      if (e.status === 401) return tokenPage(e.message);
      if (e.status === 503) return storePage(e.message);
      root.replaceChildren(errorBox(e));
    }
    return;
  }
  root.replaceChildren(errorBox("No such page: " + hash));
}

api.takeTokenFromUrl();
// What still runs reads its duration to now, not to when it was drawn.
setInterval(() => tickDurations(document.getElementById("view")), 1000);
window.addEventListener("hashchange", render);
render();
api.events(
  (kind, data) => {
    if (current && current.view.onEvent) current.view.onEvent(current.state, kind, data);
  },
  (up) => document.getElementById("live").classList.toggle("down", !up));

// counters.js -- the store's counters (what was dropped, skipped, retried,
// refused...: docs/reliability.md). A process keeps each counter as a
// running total and the store keeps, per host and process, its largest
// value; a counter's figure here is the sum of those over processes, over
// all hosts and per host (/api/counters). Below them, what this server
// itself dropped of its event streams or refused of connections since it
// started (/api/stats' "server", docs/serve.md). Both read again every
// REFRESH_MS while shown (a counter moves with no task or workflow
// changing, which no event reports) and a second after the event stream
// reports changes; not read while the page is hidden, nor once another
// view is shown.
import * as api from "../api.js";
import { el, fill } from "../util.js";

const EXPLAIN = "Each process keeps a running total of each counter, and the store keeps the largest value it wrote " +
  "(for refused, the sum of what it wrote). A figure below is the sum of those values over processes: " +
  "over every process of every host, then over the processes of each host. One process's counters are not " +
  "added up twice however often it wrote them.";

function totalsTable(rows) {
  if (!rows.length) return el("p", { class: "muted" }, "No counter: nothing was dropped, skipped or retried.");
  return el("table", { id: "counters-total" },
    el("tr", {}, el("th", {}, "counter"), el("th", { class: "num" }, "total over all processes"),
      el("th", { class: "num" }, "processes"), el("th", { class: "num" }, "hosts")),
    rows.map((c) => el("tr", { "data-name": c.name }, el("td", {}, c.name), el("td", { class: "num" }, c.total),
      el("td", { class: "num" }, c.processes), el("td", { class: "num" }, c.hosts))));
}

function byHostTable(rows) {
  if (!rows.length) return null;
  return el("table", { id: "counters-by-host" },
    el("tr", {}, el("th", {}, "host"), el("th", {}, "counter"),
      el("th", { class: "num" }, "total over this host's processes"), el("th", { class: "num" }, "processes")),
    rows.map((c) => el("tr", { "data-host": c.host, "data-name": c.name }, el("td", {}, c.host), el("td", {}, c.name),
      el("td", { class: "num" }, c.total), el("td", { class: "num" }, c.processes))));
}

// What each of the server's own counts means (docs/serve.md's words).
const SERVER_COUNTS = {
  event_streams_closed_unread: "event streams closed because their client read nothing for the idle timeout " +
    "(a stalled tab, a tunnel that hangs)",
  event_streams_closed_failed: "event streams closed because the next event could not be written (out of memory)",
  event_streams_reset_behind: "event streams further behind than the 256 messages the server keeps, " +
    "which got a reset instead",
  events_skipped_behind: "the messages those streams missed",
  event_batches_reset: "polls whose changes were too many or too large for events, sent to every stream as a reset",
  events_unmade: "messages lost: not made (out of memory)",
  connections_refused: "connections closed unserved: the server held as many as it takes " +
    "(--max-clients, 256 by default, and 64 from one address)",
};

// The server's counts that are not 0, each with what it means; a line
// that says so when all are.
function serverTable(counts) {
  const rows = Object.entries(counts || {}).filter(([, n]) => n > 0);
  if (!rows.length) return el("p", { class: "muted", id: "server-none" },
    "Nothing dropped or refused by this server since it started.");
  return el("table", { id: "server-counts" },
    el("tr", {}, el("th", {}, "count"), el("th", { class: "num" }, "since the server started"), el("th", {}, "what it means")),
    rows.map(([name, n]) => el("tr", { "data-name": name }, el("td", {}, name), el("td", { class: "num" }, n),
      el("td", {}, SERVER_COUNTS[name] || ""))));
}

const REFRESH_MS = 2000;

async function draw(state) {
  const [r, stats] = await Promise.all([api.get("counters"), api.get("stats")]);
  if (state.gone) return;
  const cut = r.counters_truncated || r.by_host_truncated ? el("p", { class: "muted" }, "Cut at 10,000 rows.") : null;
  fill(state.body,
    el("div", { class: "card" }, el("h3", {}, "All hosts"), totalsTable(r.counters)),
    r.by_host.length ? el("div", { class: "card" }, el("h3", {}, "Per host"), byHostTable(r.by_host)) : null,
    cut,
    el("div", { class: "card", id: "server" }, el("h3", {}, "This server"),
      el("p", { class: "muted" }, "What this dashboard's server dropped of its event streams or refused of " +
        "connections, counted by the server itself (not kept in the store): back to 0 when it restarts."),
      serverTable(stats.server)));
}

// The next read in ms, then every REFRESH_MS: one timer at a time, none
// while the page is hidden (it reads at once when shown again).
function schedule(state, ms) {
  clearTimeout(state.timer);
  if (state.gone || document.hidden) return;
  state.timer = setTimeout(async () => {
    await draw(state).catch(() => {});
    schedule(state, REFRESH_MS);
  }, ms);
}

export default {
  async enter(state) {
    state.body = el("div", { id: "counters" });
    state.root.replaceChildren(
      el("div", { class: "card" }, el("h2", {}, "Counters"), el("p", { class: "muted", id: "counters-explain" }, EXPLAIN)),
      state.body);
    state.onVisible = () => schedule(state, 0);
    document.addEventListener("visibilitychange", state.onVisible);
    await draw(state);
    schedule(state, REFRESH_MS);
  },
  leave(state) {
    state.gone = true;
    clearTimeout(state.timer);
    document.removeEventListener("visibilitychange", state.onVisible);
  },
  onEvent(state) {
    schedule(state, 1000);
  },
};

// workflow.js -- one workflow: its task table (filters, sort, pages read as
// the table scrolls), its task graph laid out as a DAG (dagre), and a Gantt
// timeline of its tasks per worker or host; each drawn again as the event
// stream reports its tasks changed.
import dagre from "@dagrejs/dagre";
import * as api from "../api.js";
import { el, fill, svg, fmtTime, fmtDuration, durationOf, spanEnd, statusBadge, STATUSES, workflowSpanEnd, workflowStatus, short, virtualTable, missing, taskTitle } from "../util.js";

// The rows the task table reads at a time.
const PAGE = 500;

function header(w) {
  return el("div", { class: "card" },
    el("h2", {}, "Workflow ", w.name || short(w.id), " ", workflowStatus(w)),
    el("p", { class: "counts" },
      el("span", {}, "running " + w.running_tasks), el("span", {}, "finished " + w.finished_tasks),
      el("span", {}, "failed " + w.error_tasks), el("span", {}, "all " + w.tasks)),
    el("p", { class: "muted" }, `${w.source || ""} · ${w.host || ""} · started ${fmtTime(w.started)} · `, durationOf(w, workflowSpanEnd(w))));
}

// The activity box as the API takes it: a glob pattern ('*', '?' or '['
// in it) as `mida tasks --activity` takes one, else a part of the name in
// any case ("train" finds "train_model" and "Train-0").
function activityFilter(text) {
  const t = text.trim();
  if (!t) return {};
  return /[*?[]/.test(t) ? { activity: t } : { activity_contains: t };
}

// The where box as the API takes it: one predicate or several, separated
// by commas (used.lr>0.01, custom.tag). A comma splits only where a new
// predicate begins (a document's name and a dot after it), so that a value
// may hold one (custom.tag=a,b).
const PREDICATE_START = /\s*,\s*(?=(?:used|generated|custom|telemetry)\.)/;
export function wherePredicates(text) {
  const t = text.trim();
  return t ? t.split(PREDICATE_START) : undefined;
}

function taskTable(state) {
  const f = { status: "", activity: "", where: "", sort: "-id" };
  const table = virtualTable([
    { title: "task", width: "110px", render: (t) => short(t.id) },
    { title: "activity", width: "2fr", render: (t) => t.activity ?? missing() },
    { title: "status", width: "100px", render: (t) => statusBadge(t.status) },
    { title: "started", width: "190px", render: (t) => (t.started === null || t.started === undefined ? missing("not started") : fmtTime(t.started)) },
    { title: "duration", width: "90px", render: (t) => durationOf(t, spanEnd(t)) },
    { title: "worker", width: "1fr", render: (t) => t.worker || t.host || missing() },
    { title: "used", width: "2fr", render: (t) => (t.used ? JSON.stringify(t.used) : "") },
  ], { onClick: (t) => (location.hash = "#/task/" + t.id), onNearEnd: () => more() });
  // how: "first" (a filter changed: the first page), "more" (the next
  // page, as the reader scrolls near the end) or "live" (the tasks
  // changed: as many rows as the reader has loaded, read again from the
  // first, so that the pages they scrolled to and their place in the table
  // stay). A first or live read asked for while one loads is done after
  // it, never dropped (a first one winning over a live one); a next page
  // then is not needed.
  let next = null, loading = false, again = null, rows = [];
  async function read(after, limit) {
    return api.get("tasks", {
      workflow: state.id, limit, status: f.status, ...activityFilter(f.activity),
      where: wherePredicates(f.where), sort: f.sort, after,
    });
  }
  async function load(how) {
    if (loading) {
      if (how !== "more" && again !== "first") again = how;
      return;
    }
    loading = true;
    try {
      if (how === "more") {
        const page = await read(next, PAGE);
        rows = rows.concat(page.items);
        next = page.next;
      } else {
        const want = how === "live" ? Math.max(rows.length, PAGE) : PAGE;
        let got = [], after;
        do {
          const page = await read(after, PAGE);
          got = got.concat(page.items);
          after = next = page.next;
        } while (next && got.length < want);
        rows = got;
      }
      table.setRows(rows);
      err.replaceChildren();
    } catch (e) {
      err.replaceChildren(el("div", { class: "error" }, e.message));
    } finally {
      loading = false;
      const then = again;
      again = null;
      if (then) load(then);
    }
  }
  function more() {
    if (next) load("more");
  }
  const err = el("div", {});
  const statusSel = el("select", { onchange: (e) => { f.status = e.target.value; load("first"); } },
    ["", ...STATUSES].map((s) => el("option", { value: s }, s || "any status")));
  const sortSel = el("select", { onchange: (e) => { f.sort = e.target.value; load("first"); } },
    ["-id", "-started", "started", "-duration", "duration", "activity", "status"].map((s) => el("option", { value: s }, "sort " + s)));
  const act = el("input", { placeholder: "activity (part, or a glob)", id: "activity-filter", title: "a part of the activity's name, in any case, or a glob pattern such as train_*", onchange: (e) => { f.activity = e.target.value; load("first"); } });
  const where = el("input", { placeholder: "used.lr>0.01", size: 24, id: "where-filter", title: "predicates on the task's documents, separated by commas: used.lr>0.01, custom.tag=a", onchange: (e) => { f.where = e.target.value; load("first"); } });
  state.reloadTasks = () => load("live");
  load("first");
  return el("div", {}, el("div", { class: "filters" }, statusSel, sortSel, act, where), err, table.element);
}

function drawDag(graph) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 12, ranksep: 40 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) g.setNode(n.id, { width: 120, height: 26, task: n });
  const ids = new Set(graph.nodes.map((n) => n.id));
  graph.edges.forEach((e, i) => {
    if (ids.has(e.from) && ids.has(e.to)) g.setEdge(e.from, e.to, { kind: e.kind }, "e" + i);
  });
  dagre.layout(g);
  const W = (g.graph().width || 100) + 20, H = (g.graph().height || 50) + 20;
  const root = svg("svg", { width: W, height: H, viewBox: `-10 -10 ${W} ${H}` });
  for (const e of g.edges()) {
    const pts = g.edge(e).points.map((p) => `${p.x},${p.y}`).join(" ");
    root.append(svg("polyline", { class: "edge " + g.edge(e).kind, points: pts }));
  }
  for (const id of g.nodes()) {
    const n = g.node(id);
    const t = n.task;
    const a = svg("a", { href: "#/task/" + id, class: "node s-" + (t.status || "UNKNOWN"), "data-id": id },
      svg("rect", { x: n.x - 60, y: n.y - 13, width: 120, height: 26, rx: 4 }),
      svg("text", { x: n.x - 55, y: n.y + 4 }, (t.activity || short(id)).slice(0, 18)),
      svg("title", {}, taskTitle(t, id)));
    root.append(a);
  }
  return root;
}

// A task that never started (one cancelled before it ran has an end and no
// start) is no bar; one that is over with no end (LOST with its process) is
// a short mark at its start, class no-end, and does not stretch the time
// axis to now; one that runs on reaches now.
function drawGantt(graph, by) {
  const tasks = graph.nodes.filter((t) => t.started !== null && t.started !== undefined);
  if (!tasks.length) return el("p", { class: "muted" }, "No task has started yet.");
  const now = Date.now() * 1e6;
  const t0 = Math.min(...tasks.map((t) => t.started));
  const t1 = Math.max(...tasks.map((t) => spanEnd(t, now) ?? t.started));
  const lanesOf = new Map();
  for (const t of tasks) {
    const lane = (by === "host" ? t.host : t.worker || t.host || "?") + (by === "process" ? ":" + t.pid : "");
    if (!lanesOf.has(lane)) lanesOf.set(lane, []);
    lanesOf.get(lane).push(t);
  }
  const laneH = 22, left = 160, width = 1000;
  const scale = (x) => left + ((x - t0) / Math.max(1, t1 - t0)) * width;
  const H = lanesOf.size * laneH + 30;
  const root = svg("svg", { width: left + width + 20, height: H });
  let y = 0;
  for (const [lane, ts] of lanesOf) {
    root.append(svg("text", { x: 4, y: y + 15 }, String(lane).slice(0, 24)));
    for (const t of ts) {
      const end = spanEnd(t, now);
      const x0 = scale(t.started), x1 = end === null ? x0 + 4 : scale(end);
      const what = end === null ? "end unknown" : fmtDuration(t.started, end);
      root.append(svg("a", { href: "#/task/" + t.id },
        svg("rect", { class: "bar s-" + (t.status || "UNKNOWN") + (end === null ? " no-end" : ""), "data-id": t.id, x: x0, y: y + 3, width: Math.max(1, x1 - x0), height: laneH - 6 },
          svg("title", {}, taskTitle(t, what)))));
    }
    y += laneH;
  }
  root.append(svg("text", { x: left, y: H - 8 }, fmtTime(t0)));
  root.append(svg("text", { x: left + width - 150, y: H - 8 }, fmtTime(t1)));
  return root;
}

// Draws the Graph or the Timeline tab (state.tab) from a new read of the
// workflow's graph: at first, and again as its tasks change. Drawn again,
// it leaves the reader where they were: the drawing keeps its scroll
// position, the page its height until the next frame (so that it does not
// scroll the reader up), the timeline its lanes. A newer drawing asked for
// meanwhile wins.
async function drawGraphTab(state) {
  const which = state.tab, seq = ++state.drawn;
  const graph = await api.get(`workflows/${encodeURIComponent(state.id)}/graph`, { max_nodes: 5000 });
  if (state.gone || state.tab !== which || seq !== state.drawn) return;
  const body = state.body;
  const old = body.querySelector(".dag, .gantt");
  const at = old ? [old.scrollLeft, old.scrollTop] : null;
  const note = graph.truncated ? el("p", { class: "muted" }, "Showing the first 5,000 tasks.") : null;
  body.style.minHeight = body.offsetHeight + "px";
  let box;
  if (which === "dag") {
    box = el("div", { class: "dag", id: "dag", "data-nodes": graph.nodes.length }, drawDag(graph));
    fill(body, note, box);
  } else {
    const sel = el("select", { id: "lanes", onchange: (e) => { state.lanes = e.target.value; box.replaceChildren(drawGantt(graph, state.lanes)); } },
      ["worker", "host", "process"].map((b) => el("option", { value: b, selected: b === state.lanes }, "lanes: " + b)));
    box = el("div", { class: "gantt", id: "gantt", "data-nodes": graph.nodes.length }, drawGantt(graph, state.lanes));
    fill(body, note, el("div", { class: "filters" }, sel), box);
  }
  if (at) [box.scrollLeft, box.scrollTop] = at;
  requestAnimationFrame(() => (body.style.minHeight = ""));
}

export default {
  async enter(state) {
    state.id = decodeURIComponent(state.args[0]);
    const w = await api.get("workflows/" + encodeURIComponent(state.id));
    state.head = header(w);
    state.drawn = 0;
    state.lanes = state.lanes || "worker";
    const body = el("div", { class: "card" });
    const tabs = el("div", { class: "tabs" });
    const show = async (which) => {
      state.tab = which;
      for (const b of tabs.children) b.classList.toggle("on", b.dataset.tab === which);
      if (which === "tasks") return body.replaceChildren(taskTable(state));
      body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
      await drawGraphTab(state);
    };
    for (const [k, t] of [["tasks", "Tasks"], ["dag", "Graph"], ["gantt", "Timeline"]])
      tabs.append(el("button", { "data-tab": k, onclick: () => show(k) }, t));
    state.root.replaceChildren(state.head, tabs, body);
    state.body = body;
    await show("tasks");
  },
  leave(state) {
    state.gone = true;
    clearTimeout(state.timer);
  },
  // The header as its workflow's row changes; the tab on screen (the task
  // table, the graph or the timeline) as its tasks do, or all of it after
  // a reset.
  onEvent(state, kind, data) {
    const mine = kind === "reset" || (kind === "tasks" && data.some((t) => t.workflow_id === state.id));
    if (kind === "reset" || (kind === "workflows" && data.some((x) => x.id === state.id)))
      api.get("workflows/" + encodeURIComponent(state.id)).then((full) => {
        if (state.gone) return;
        const h = header(full);
        state.head.replaceWith(h);
        state.head = h;
      }).catch(() => {});
    if (!mine || !state.body) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      if (state.tab === "tasks") state.reloadTasks?.();
      else drawGraphTab(state).catch(() => {});
    }, 300);
  },
};

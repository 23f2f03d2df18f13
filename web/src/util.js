// util.js -- small helpers every view uses: building elements (text is
// always set as text, never parsed as HTML), formatting times, durations,
// numbers and JSON documents, and a table that renders only the rows in
// view, so that a page of 100,000 rows scrolls as fast as one of 10.

// Children as el() and fill() take them: arrays flattened, null, undefined
// and false left out (a card a page does not have), the rest as nodes.
function nodes(children) {
  return children.flat()
    .filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...nodes(children));
  return e;
}

// Replaces parent's children, as el() takes them: the DOM's own
// replaceChildren would show a null child as the text "null".
export function fill(parent, ...children) {
  parent.replaceChildren(...nodes(children));
}

export const svgNS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs, ...children) {
  const e = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {}))
    if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const c of children.flat())
    if (c !== null && c !== undefined)
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

export function fmtTime(ns) {
  if (ns === null || ns === undefined) return "";
  const d = new Date(Number(ns) / 1e6);
  return d.toISOString().replace("T", " ").replace("Z", "");
}

// The statuses after which a task or a workflow runs no more: the others
// (none, UNKNOWN, SUBMITTED, RUNNING) are not over (src/sink/schema.h,
// MIDA_SCHEMA_NOT_OVER).
const OVER = new Set(["FINISHED", "ERROR", "CANCELLED", "LOST"]);

// Where the span of a task or workflow x ({status, started, ended}) ends,
// in ns since the epoch: its end when it has one; `now` when it started and
// runs on; null when it never started, or when it is over but its end is
// unknown (a task LOST with its process has a start and no end).
export function spanEnd(x, now = Date.now() * 1e6) {
  if (x.started === null || x.started === undefined) return null;
  if (x.ended !== null && x.ended !== undefined) return x.ended;
  return OVER.has(x.status) ? null : now;
}

// A duration from startNs to endNs (ns), "" when either is unknown: pass
// spanEnd(x) as the end of something that may still run.
export function fmtDuration(startNs, endNs) {
  if (startNs === null || startNs === undefined) return "";
  if (endNs === null || endNs === undefined) return "";
  const s = (endNs - startNs) / 1e9;
  if (s < 1e-3) return (s * 1e6).toFixed(0) + " µs";
  if (s < 1) return (s * 1e3).toFixed(1) + " ms";
  if (s < 120) return s.toFixed(2) + " s";
  if (s < 7200) return (s / 60).toFixed(1) + " min";
  return (s / 3600).toFixed(1) + " h";
}

// The duration of x ({started, ended}) up to end (spanEnd(x), or
// workflowSpanEnd(x)): text when it is over, or unknown; while it runs on
// (no end yet, end being now) an element that tickDurations() moves on,
// so that a running task or workflow does not read the duration it had
// when its row was last drawn.
export function durationOf(x, end) {
  const text = fmtDuration(x.started, end);
  if (end === null || end === undefined || (x.ended !== null && x.ended !== undefined)) return text;
  return el("span", { class: "runs-on", "data-started": String(x.started) }, text);
}

// Moves on every duration of root that runs on (durationOf), to now.
export function tickDurations(root) {
  const now = Date.now() * 1e6;
  for (const e of root.querySelectorAll(".runs-on"))
    e.textContent = fmtDuration(Number(e.dataset.started), now);
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// What a cell shows for a value that is not there: an em dash, muted,
// saying why when hovered ("null", "not given"), so that it never reads as
// an empty string, whose cell is empty.
export function missing(why = "null") {
  return el("span", { class: "missing", title: why }, "—");
}

// A value as a table cell shows it: missing() for null (and for undefined,
// a key not given, with why), else fmtValue().
export function cellValue(v, why = "not given") {
  if (v === null) return missing("null");
  if (v === undefined) return missing(why);
  return fmtValue(v);
}

// What hovering a task shows: its activity, its status (UNKNOWN without
// one, as its badge reads) and id (or what the caller adds); a task
// recorded only by an update has no activity, which must not read "null".
export function taskTitle(t, rest = t.id) {
  return `${t.activity || "(no activity)"} · ${t.status || "UNKNOWN"} · ${rest}`;
}

// An id made short to tell ids apart on screen (links and titles carry the
// whole): a UUID's last 8 hex digits, since mida's ids are UUIDv7, whose
// first digits are the time (the ids of a minute all begin alike) and last
// 44 bits random; other ids (a data digest) their first 8 characters.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function short(id) {
  if (!id) return "";
  const s = String(id);
  return UUID.test(s) ? "…" + s.slice(-8) : s.slice(0, 8);
}

// Every status a store holds (src/sink/merge.h's mida__status_names), the
// values that /api/tasks?status= takes; UNKNOWN also finds the rows without
// a status, which read UNKNOWN here.
export const STATUSES = ["UNKNOWN", "SUBMITTED", "RUNNING", "FINISHED", "CANCELLED", "ERROR", "LOST"];

export function statusBadge(status) {
  return el("span", { class: "status s-" + (status || "UNKNOWN") }, status || "UNKNOWN");
}

// An MLflow experiment with no run yet: it has no status (the API gives
// an experiment the status of its runs, docs/serve.md), which is no
// UNKNOWN, and does not run.
function noRunYet(w) {
  return !w.status && w.source === "mlflow";
}

export function workflowStatus(w) {
  if (noRunYet(w)) return el("span", { class: "status muted" }, "no run yet");
  return statusBadge(w.status);
}

// spanEnd() of a workflow: none for an experiment with no run yet.
export function workflowSpanEnd(w) {
  return noRunYet(w) ? null : spanEnd(w);
}

export function link(href, text) {
  return el("a", { href }, text);
}

// A key/value table of a JSON object.
export function docTable(obj) {
  if (obj === null || obj === undefined) return el("p", { class: "muted" }, "none");
  if (typeof obj !== "object") return el("pre", {}, String(obj));
  const keys = Object.keys(obj);
  if (!keys.length) return el("p", { class: "muted" }, "none");
  return el("table", { class: "kv" },
    keys.map((k) => el("tr", {}, el("th", {}, k), el("td", {}, cellValue(obj[k])))));
}

// A table that renders only the rows in view. columns: [{title, render(row)
// -> Node|string, width}]. Returns {element, setRows(rows)}.
export function virtualTable(columns, opts = {}) {
  const rowHeight = 28;
  const head = el("div", { class: "vt-head" },
    columns.map((c) => el("div", { class: "vt-cell", style: null }, c.title)));
  const body = el("div", { class: "vt-body" });
  const spacer = el("div", { class: "vt-spacer" });
  const rowsBox = el("div", { class: "vt-rows" });
  body.append(spacer, rowsBox);
  const wrap = el("div", { class: "vt" + (opts.className ? " " + opts.className : "") }, head, body);
  const template = columns.map((c) => c.width || "1fr").join(" ");
  head.style.gridTemplateColumns = template;
  let rows = [];
  function paint() {
    const top = body.scrollTop;
    const h = body.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / rowHeight) - 5);
    const last = Math.min(rows.length, Math.ceil((top + h) / rowHeight) + 5);
    rowsBox.replaceChildren();
    rowsBox.style.transform = `translateY(${first * rowHeight}px)`;
    for (let i = first; i < last; i++) {
      const r = rows[i];
      const line = el("div", { class: "vt-row", "data-id": r.id },
        columns.map((c) => el("div", { class: "vt-cell" }, c.render(r))));
      line.style.gridTemplateColumns = template;
      if (opts.onClick) line.addEventListener("click", () => opts.onClick(r));
      rowsBox.append(line);
    }
    if (opts.onNearEnd && last >= rows.length - 10) opts.onNearEnd();
  }
  body.addEventListener("scroll", () => requestAnimationFrame(paint));
  return {
    element: wrap,
    setRows(r) {
      rows = r;
      spacer.style.height = rows.length * rowHeight + "px";
      paint();
    },
    get rows() {
      return rows;
    },
  };
}

export function errorBox(e) {
  return el("div", { class: "error" }, String(e && e.message ? e.message : e));
}

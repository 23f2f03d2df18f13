// task.js -- one task in full: inputs, outputs, metadata, error, resources,
// data in and out, dependencies, metric plots (every point, or min/max
// buckets for long series), its process's and host's telemetry while it
// ran, and its lineage.
import uPlot from "uplot";
import * as api from "../api.js";
import { fieldOf, sampleSeries } from "../samples.js";
import { el, fill, fmtTime, durationOf, spanEnd, statusBadge, docTable, short, link, cellValue } from "../util.js";

export function seriesData(s) {
  if (!s.downsampled) {
    const pts = s.points.filter((p) => typeof p.value === "number");
    const xs = pts.map((p) => (s.x === "time" ? p.ts / 1e9 : p.step));
    return { x: xs, lines: [pts.map((p) => p.value)], labels: [s.key] };
  }
  const xs = s.buckets.map((b) => (s.x === "time" ? b.x0 / 1e9 : b.x0));
  return { x: xs, lines: [s.buckets.map((b) => b.lo), s.buckets.map((b) => b.hi)], labels: [s.key + " min", s.key + " max"] };
}

// The y axis as wide as its widest label, measured in the axis' font:
// uPlot's is 50 px, which cut host memory in kB ("23,732,820") to "2,820".
// Never narrower than that, which leaves room for half of the first label
// of a time axis (a date), centred on the plot's left edge.
function yAxisSize(u, values, i, cycle) {
  const axis = u.axes[i];
  if (cycle > 1) return axis._size; /* what uPlot settled on */
  const widest = (values || []).reduce((w, v) => (String(v).length > w.length ? String(v) : w), "");
  u.ctx.font = axis.font[0];
  return Math.max(50, axis.ticks.size + axis.gap + u.ctx.measureText(widest).width / devicePixelRatio + 6);
}

export function plot(target, title, x, lines, labels, opts = {}) {
  const colors = ["#2f6fdb", "#d0461f", "#2e9a5a", "#8e44ad", "#d08a16", "#16a2b8", "#555"];
  const series = [{ label: opts.xLabel || "x" }].concat(
    lines.map((_, i) => ({ label: labels[i], stroke: colors[i % colors.length], width: 1.5, spanGaps: true })));
  const u = new uPlot({
    title, width: opts.width || Math.min(900, (target.clientWidth || 900) - 10), height: opts.height || 240,
    scales: { x: { time: !!opts.time } }, series, axes: [{}, { size: yAxisSize }],
  }, [x, ...lines], target);
  return u;
}

// Each metric's series, asked for together.
function metricSeries(task) {
  return Promise.all(task.metrics.map(async (m) => {
    const r = await api.get("metrics", { task: task.task.id, key: m.key, x: m.first_step === null || m.first_step === undefined ? "time" : "step", points: 2000 });
    return { m, s: r.series[0] };
  }));
}

function drawMetrics(box, series) {
  for (const { m, s } of series) {
    const d = seriesData(s);
    const holder = el("div", { class: "chart metric-chart", "data-key": m.key, "data-points": d.x.length });
    box.append(holder);
    plot(holder, `${m.key} (${m.points} points${s.downsampled ? ", min/max per bucket" : ""})`, d.x, d.lines, d.labels, { time: s.x === "time" });
  }
  if (!series.length) box.append(el("p", { class: "muted" }, "No metric."));
}

// What the page draws of the samples taken while the task ran: its
// process's CPU and memory, its host's CPU, memory and GPUs (a task of
// `mida run` or of a Dask worker may have only the host's).
const TASK_FIELDS = new Set(["cpu_pct", "rss_kb", "cpu_busy_pct", "mem_available_kb", "util_pct", "mem_used_bytes", "power_w"]);

// The samples drawn, of how many: the API sends at most SAMPLES_READ, and
// says how many the task has when it cuts them.
const SAMPLES_READ = 5000;

function samplesNote(answer) {
  if (!answer.truncated) return null;
  const s = answer.samples;
  return el("p", { class: "muted", id: "task-samples-shown" },
    `Showing the first ${s.length.toLocaleString("en")} of the ${(answer.total ?? "many").toLocaleString("en")} samples taken while it ran`
    + (s.length ? `, from ${fmtTime(s[0].ts)} to ${fmtTime(s.at(-1).ts)}.` : "."));
}

function drawTelemetry(box, answer) {
  const samples = answer.samples;
  const note = samplesNote(answer);
  if (note) box.append(note);
  for (const scope of ["process", "host"]) {
    const mine = samples.filter((s) => s.scope === scope && s.sample && typeof s.sample === "object");
    const { x, series } = sampleSeries(mine);
    for (const s of series.filter((s) => TASK_FIELDS.has(fieldOf(s.name)))) {
      const title = scope === "host" ? `host ${mine[0].host}: ${s.name}` : s.name;
      const holder = el("div", { class: "chart", "data-key": `${scope}.${s.name}` });
      box.append(holder);
      plot(holder, title, x, [s.values], [s.name], { time: true, height: 160 });
    }
  }
  if (!box.querySelector(".chart")) box.append(el("p", { class: "muted" }, "No telemetry sample while it ran."));
}

// Renders the page in place of the one on screen, leaving the reader where
// they were: a live update renders it again, and a page that shrank for one
// layout would scroll them back up. It keeps its height until the next
// frame, by when uPlot (which sizes a chart in a microtask) is done.
function inPlace(root, render) {
  root.style.minHeight = root.offsetHeight + "px";
  render();
  requestAnimationFrame(() => (root.style.minHeight = ""));
}

export default {
  async enter(state) {
    state.id = decodeURIComponent(state.args[0]);
    const t = await api.get("tasks/" + encodeURIComponent(state.id));
    // Everything the page shows is asked for first, and the page is put in
    // place at once, with no card empty while its data comes.
    const [series, samples] = await Promise.all([metricSeries(t), api.get("telemetry", { task: t.task.id, limit: SAMPLES_READ })]);
    if (state.gone) return; /* the reader went to another page meanwhile */
    const x = t.task;
    const dataRows = t.data.map((d) => el("tr", {}, el("td", {}, d.role), el("td", {}, cellValue(d.name)), el("td", {}, d.uri || d.id), el("td", {}, cellValue(d.kind)), el("td", { class: "num" }, cellValue(d.size))));
    const refs = (list) => list.length ? el("ul", {}, list.map((r) => el("li", {}, link("#/task/" + r.id, `${r.activity || short(r.id)} `), statusBadge(r.status)))) : el("p", { class: "muted" }, "none");
    const metrics = el("div", { id: "metrics" });
    const tele = el("div", { id: "telemetry" });
    const cards = [
      el("div", { class: "card" },
        el("h2", {}, "Task ", x.activity || "", " ", statusBadge(x.status)),
        el("p", { class: "muted" }, `${x.id} · workflow `, link("#/workflow/" + x.workflow_id, x.workflow_name || short(x.workflow_id)),
          ` · ${x.worker || x.host || ""} · pid ${x.pid ?? ""} · ${x.started === null || x.started === undefined ? "not started" : "started " + fmtTime(x.started)} · `,
          durationOf(x, spanEnd(x)), " · ",
          link("#/lineage/" + encodeURIComponent(x.id), "lineage"), " · ",
          link("#/compare?task=" + encodeURIComponent(x.id), "compare"))),
      el("div", { class: "grid2" },
        el("div", { class: "card", id: "used" }, el("h3", {}, "Inputs (used)"), docTable(x.used)),
        el("div", { class: "card", id: "generated" }, el("h3", {}, "Outputs (generated)"), docTable(x.generated))),
      x.error ? el("div", { class: "card" }, el("h3", {}, "Error"), el("pre", { id: "error" }, x.error)) : null,
      el("div", { class: "grid2" },
        el("div", { class: "card" }, el("h3", {}, "Metadata (custom)"), docTable(x.custom)),
        el("div", { class: "card" }, el("h3", {}, "Resources"), docTable(x.telemetry))),
      el("div", { class: "card" }, el("h3", {}, "Data"), t.data.length ? el("table", {}, el("tr", {}, ["role", "name", "uri", "kind", "size"].map((h) => el("th", {}, h))), dataRows) : el("p", { class: "muted" }, "none")),
      el("div", { class: "grid2" },
        el("div", { class: "card" }, el("h3", {}, "Depends on"), refs(t.upstream)),
        el("div", { class: "card" }, el("h3", {}, "Needed by / children"), refs(t.downstream.concat(t.children)))),
      el("div", { class: "card" }, el("h3", {}, "Metrics"), metrics),
      el("div", { class: "card" }, el("h3", {}, "Telemetry while it ran"), tele)];
    inPlace(state.root, () => {
      fill(state.root, cards);
      drawMetrics(metrics, series);
      drawTelemetry(tele, samples);
    });
  },
  leave(state) {
    state.gone = true;
    clearTimeout(state.timer);
  },
  onEvent(state, kind, data) {
    if (kind === "tasks" && data.some((t) => t.id === state.id)) {
      clearTimeout(state.timer);
      state.timer = setTimeout(() => this.enter(state), 300);
    }
  },
};

// compare.js -- the steering view: the same metric of several runs
// overlaid (x = step or time), their parameters side by side, and parallel
// coordinates of the numeric parameters against the last value of the
// metric.
import * as api from "../api.js";
import { el, fill, svg, fmtValue, cellValue, missing, short, link } from "../util.js";
import { plot } from "./task.js";

// A parameter as a number: MLflow keeps every parameter as text ("0.01").
function num(v) {
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v.trim())) return Number(v);
  return null;
}

function parallelCoordinates(tasks, params, metricKey, finals) {
  const axes = params.concat([metricKey]);
  const value = (t, a) => num(a === metricKey ? finals.get(t.task.id) : t.task.used?.[a]);
  const W = Math.max(300, axes.length * 140), H = 260, top = 20, bottom = 40;
  const root = svg("svg", { class: "pcoords", width: W, height: H });
  // Room on the right for the last axis' ends: 4 significant digits.
  const xs = axes.map((_, i) => 60 + i * ((W - 140) / Math.max(1, axes.length - 1)));
  const end = (v) => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : fmtValue(v));
  const ranges = axes.map((a) => {
    const v = tasks.map((t) => value(t, a)).filter((x) => typeof x === "number");
    return [Math.min(...v), Math.max(...v)];
  });
  axes.forEach((a, i) => {
    root.append(svg("line", { class: "axis", x1: xs[i], x2: xs[i], y1: top, y2: H - bottom }));
    root.append(svg("text", { x: xs[i] - 30, y: H - 20 }, a));
    root.append(svg("text", { x: xs[i] + 4, y: top }, end(ranges[i][1])));
    root.append(svg("text", { x: xs[i] + 4, y: H - bottom }, end(ranges[i][0])));
  });
  for (const t of tasks) {
    const pts = axes.map((a, i) => {
      const v = value(t, a);
      if (typeof v !== "number") return null;
      const [lo, hi] = ranges[i];
      const y = hi > lo ? H - bottom - ((v - lo) / (hi - lo)) * (H - top - bottom) : (H - top - bottom) / 2 + top;
      return `${xs[i]},${y}`;
    }).filter(Boolean);
    root.append(svg("polyline", { class: "line", points: pts.join(" ") }, svg("title", {}, `${label(t)} ${t.task.id}`)));
  }
  return root;
}

// A run as the chart's legend and the tables' columns name it.
function label(t) {
  return `${t.task.activity || ""} ${short(t.task.id)}`.trim();
}

export default {
  async enter(state) {
    const params = new URLSearchParams(state.args[0] || "");
    const ids = params.getAll("task");
    const input = el("input", { size: 80, placeholder: "task ids, separated by spaces", value: ids.join(" ") });
    const go = el("button", { onclick: () => (location.hash = "#/compare?" + input.value.trim().split(/\s+/).filter(Boolean).map((i) => "task=" + encodeURIComponent(i)).join("&")) }, "Compare");
    const head = el("div", { class: "card" }, el("h2", {}, "Compare runs"), el("div", { class: "filters" }, input, go));
    if (ids.length === 0) {
      state.root.replaceChildren(head, el("p", { class: "muted" }, "Give two or more task ids (MLflow runs, training tasks...), or open a task and follow 'compare'."));
      return;
    }
    const tasks = await Promise.all(ids.map((id) => api.get("tasks/" + encodeURIComponent(id))));
    const byId = new Map(tasks.map((t) => [t.task.id, t]));
    const keys = [...new Set(tasks.flatMap((t) => t.metrics.map((m) => m.key)))].sort();
    const key = params.get("key") || keys[0];
    const axis = params.get("x") || "step";
    const chart = el("div", { class: "chart", id: "compare-chart" });
    const keySel = el("select", { onchange: (e) => { params.set("key", e.target.value); location.hash = "#/compare?" + params; } },
      keys.map((k) => el("option", { value: k, selected: k === key }, k)));
    const axisSel = el("select", { onchange: (e) => { params.set("x", e.target.value); location.hash = "#/compare?" + params; } },
      ["step", "time"].map((k) => el("option", { value: k, selected: k === axis }, "x = " + k)));
    const usedKeys = [...new Set(tasks.flatMap((t) => Object.keys(t.task.used || {})))].sort();
    const ptable = el("table", { id: "params" },
      el("tr", {}, el("th", {}, "parameter"), tasks.map((t) => el("th", {}, link("#/task/" + t.task.id, label(t))))),
      usedKeys.map((k) => {
        // A run that was not given k, one given null and one given ""
        // differ, and read apart.
        const vals = tasks.map((t) => t.task.used?.[k]);
        const differs = new Set(vals.map((v) => (v === undefined ? "undefined" : JSON.stringify(v)))).size > 1;
        return el("tr", { class: differs ? "differs" : "" }, el("th", {}, k), vals.map((v) => el("td", {}, cellValue(v))));
      }));
    const pc = el("div", { id: "pcoords" });
    // Two runs: what `mida diff` finds between them (run, parameters,
    // environment, inputs by digest, outputs, metrics).
    let diffCard = null;
    if (ids.length === 2) {
      const d = await api.get("diff", { a: ids[0], b: ids[1] });
      const rows = d.rows.filter((r) => r.status !== "same");
      diffCard = el("div", { class: "card" }, el("h3", {}, `What differs (${rows.length})`),
        el("table", { id: "diff" }, el("tr", {}, ["", "", label(tasks[0]), label(tasks[1])].map((h) => el("th", {}, h))),
          rows.map((r) => el("tr", { class: "differs" }, el("td", { class: "muted" }, r.section), el("th", {}, r.key),
            el("td", {}, r.a ?? missing("none")), el("td", {}, r.b ?? missing("none"))))));
    }
    fill(state.root, head,
      el("div", { class: "card" }, el("div", { class: "filters" }, keySel, axisSel), chart),
      diffCard,
      el("div", { class: "card" }, el("h3", {}, "Parameters"), ptable),
      el("div", { class: "card" }, el("h3", {}, "Parameters against the last " + (key || "metric")), pc));
    if (!key) return chart.replaceChildren(el("p", { class: "muted" }, "These tasks have no metric."));
    const r = await api.get("metrics", { task: ids, key, x: axis, points: 2000 });
    // One x axis for all: the union of the runs' x values.
    const xs = [...new Set(r.series.flatMap((s) => (s.downsampled ? s.buckets.map((b) => b.x0) : s.points.map((p) => (axis === "time" ? p.ts : p.step)))))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const finals = new Map();
    const lines = r.series.map((s) => {
      const line = new Array(xs.length).fill(null);
      if (s.downsampled) s.buckets.forEach((b) => (line[index.get(b.x0)] = b.hi));
      else s.points.forEach((p) => (line[index.get(axis === "time" ? p.ts : p.step)] = p.value));
      const last = s.downsampled ? s.buckets.at(-1)?.hi : s.points.at(-1)?.value;
      finals.set(s.task, last);
      return line;
    });
    chart.dataset.series = String(r.series.length);
    plot(chart, key, axis === "time" ? xs.map((x) => x / 1e9) : xs, lines, r.series.map((s) => label(byId.get(s.task))), { time: axis === "time" });
    const numeric = usedKeys.filter((k) => tasks.every((t) => num(t.task.used?.[k]) !== null));
    pc.append(parallelCoordinates(tasks, numeric, key, finals));
  },
};

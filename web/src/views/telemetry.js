// telemetry.js -- sampled CPU, memory, GPU, network and disk use of a host
// or a process over time (samples.js), with the spans of the tasks that ran
// there.
import * as api from "../api.js";
import { el, svg, fmtTime, short, spanEnd, taskTitle } from "../util.js";
import { plot } from "./task.js";
import { sampleSeries } from "../samples.js";

const SHOWN = 12; // series drawn before the reader asks for more
const READ = 20000; // samples the view reads at most
const SPANS_READ = 5000; // tasks drawn as spans at most, read 1,000 a page

// The tasks that ran on host in [t0, t1], page after page, up to
// SPANS_READ: {items, more} (more: the window has more tasks than that).
async function tasksIn(host, t0, t1) {
  let items = [], after;
  do {
    const page = await api.get("tasks", { host, since: t0, until: t1 + 1, limit: 1000, sort: "id", after });
    items = items.concat(page.items);
    after = page.next;
  } while (after && items.length < SPANS_READ);
  return { items, more: !!after };
}

// Where the newest READ samples of a source ({samples, first, last} of
// /api/telemetry/sources) begin, about: the API reads a source from its
// oldest sample, and a host sampled for hours (by every process of a
// Dask cluster, say) has more than READ, so that its first READ were
// shown and never what it does now. Undefined when READ holds them all.
function newestSince(source) {
  if (!source || source.samples <= READ) return undefined;
  const span = source.last - source.first;
  return Math.floor(source.last - span * ((READ * 0.9) / source.samples));
}

export default {
  async enter(state) {
    const params = new URLSearchParams(state.args[0] || "");
    const src = await api.get("telemetry/sources");
    const host = params.get("host") || src.sources[0]?.host;
    const pid = params.get("pid") ?? "0";
    const sel = el("select", { onchange: (e) => (location.hash = "#/telemetry?" + e.target.value) },
      src.sources.map((s) => el("option", { value: `host=${encodeURIComponent(s.host)}&pid=${s.pid}`, selected: s.host === host && String(s.pid) === pid },
        `${s.host} ${s.pid === 0 ? "(host)" : "pid " + s.pid} · ${s.samples} samples`)));
    const charts = el("div", { id: "telemetry-charts" });
    state.root.replaceChildren(el("div", { class: "card" }, el("h2", {}, "Telemetry"), el("div", { class: "filters" }, sel)), el("div", { class: "card" }, charts));
    if (!host) return charts.replaceChildren(el("p", { class: "muted" }, "No telemetry sample yet (the sampler runs with MIDA_SAMPLE_HZ)."));
    const source = src.sources.find((s) => s.host === host && String(s.pid) === pid);
    const since = newestSince(source);
    const r = await api.get("telemetry", { host, pid, since, limit: READ });
    const samples = r.samples.filter((s) => s.sample && typeof s.sample === "object");
    if (since !== undefined || r.truncated)
      charts.append(el("p", { class: "muted", id: "samples-shown" },
        `${r.samples.length.toLocaleString("en")} of the ${source ? source.samples.toLocaleString("en") : "many"} samples, `
        + (samples.length ? `from ${fmtTime(samples[0].ts)} to ${fmtTime(samples.at(-1).ts)}` : "none with numbers")
        + (since !== undefined && !r.truncated ? " (the newest)." : ".")));
    // The first series drawn at once, the others when the reader opens
    // them (a host sample has some 30 numbers, and 8 more per GPU).
    const { x, series } = sampleSeries(samples);
    const draw = (box, list) => list.forEach((s) => {
      const holder = el("div", { class: "chart", "data-key": s.name });
      box.append(holder);
      plot(holder, s.name, x, [s.values], [s.name], { time: true, height: 150 });
    });
    draw(charts, series.slice(0, SHOWN));
    const rest = series.slice(SHOWN);
    if (rest.length) {
      const more = el("details", { id: "more-series", ontoggle: () => more.open && more.children.length === 1 && draw(more, rest) },
        el("summary", {}, `${rest.length} more series: ${rest.map((s) => s.name).join(", ")}`));
      charts.append(more);
    }
    if (!samples.length) return;
    // The tasks that ran on this host in the window, as spans. One that
    // never started (a Dask key cancelled before it ran has an end and no
    // start) did not run: it is no span, only counted below. One that runs
    // on reaches the window's end; one that is over with no end (LOST with
    // its process) is a short mark at its start, class no-end.
    const t0 = samples[0].ts, t1 = samples.at(-1).ts;
    const tasks = await tasksIn(host, t0, t1);
    const ran = tasks.items.filter((t) => t.started !== null && t.started !== undefined);
    // Every span is drawn, in a box that scrolls past 400 px (one of 8 px
    // a task: 50 of them fill it).
    const W = 900, left = 0, H = ran.length * 8 + 20;
    const spans = svg("svg", { width: W, height: H, id: "task-spans" });
    const at = (ns) => left + ((ns - t0) / Math.max(1, t1 - t0)) * W;
    ran.forEach((t, i) => {
      const end = spanEnd(t, t1);
      const x0 = at(t.started), x1 = end === null ? x0 + 4 : at(end);
      const what = end === null ? ", end unknown" : "";
      spans.append(svg("rect", { class: "bar s-" + (t.status || "UNKNOWN") + (end === null ? " no-end" : ""), "data-id": t.id, x: x0, y: i * 8, width: Math.max(1, x1 - x0), height: 6 },
        svg("title", {}, taskTitle(t, short(t.id) + what))));
    });
    const never = tasks.items.length - ran.length;
    charts.append(el("h3", {}, `Tasks on ${host} (${fmtTime(t0)} – ${fmtTime(t1)})`),
      el("p", { class: "muted", id: "spans-shown" }, tasks.more
        ? `The first ${tasks.items.length.toLocaleString("en")} tasks of this window (by id); more ran in it and are not drawn.`
        : `${tasks.items.length.toLocaleString("en")} ${tasks.items.length === 1 ? "task" : "tasks"} in this window.`),
      el("div", { class: "spans" }, spans));
    if (never) charts.append(el("p", { class: "muted", id: "never-started" },
      `${never} ${never === 1 ? "task" : "tasks"} in this window never started (cancelled, or still waiting) and ${never === 1 ? "is" : "are"} not drawn.`));
  },
};

// telemetry.js -- sampled CPU, memory, I/O and GPU use of a host or a
// process over time, with the spans of the tasks that ran there.
import * as api from "../api.js";
import { el, svg, fmtTime, short } from "../util.js";
import { plot } from "./task.js";

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
    const r = await api.get("telemetry", { host, pid, limit: 20000 });
    const samples = r.samples.filter((s) => s.sample && typeof s.sample === "object");
    const keys = [...new Set(samples.flatMap((s) => Object.keys(s.sample).filter((k) => typeof s.sample[k] === "number")))].sort();
    const x = samples.map((s) => s.ts / 1e9);
    for (const k of keys.slice(0, 12)) {
      const holder = el("div", { class: "chart" });
      charts.append(holder);
      plot(holder, k, x, [samples.map((s) => s.sample[k] ?? null)], [k], { time: true, height: 150 });
    }
    if (!samples.length) return;
    // The tasks that ran on this host in the window, as spans.
    const t0 = samples[0].ts, t1 = samples.at(-1).ts;
    const tasks = await api.get("tasks", { host, since: t0, until: t1 + 1, limit: 1000 });
    const W = 900, left = 0, H = Math.min(400, tasks.items.length * 8 + 20);
    const spans = svg("svg", { width: W, height: H, id: "task-spans" });
    tasks.items.forEach((t, i) => {
      const a = ((t.started ?? t0) - t0) / Math.max(1, t1 - t0), b = ((t.ended ?? t1) - t0) / Math.max(1, t1 - t0);
      spans.append(svg("rect", { class: "bar s-" + t.status, x: left + a * W, y: i * 8, width: Math.max(1, (b - a) * W), height: 6 }, svg("title", {}, `${t.activity} ${short(t.id)}`)));
    });
    charts.append(el("h3", {}, `Tasks on ${host} (${fmtTime(t0)} – ${fmtTime(t1)})`), spans);
  },
};

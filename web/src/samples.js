// samples.js -- telemetry samples (docs/telemetry.md) as chart series, for
// the telemetry view and the task page: every number of a sample, each
// GPU's of its "gpu" array too (gpu0.util_pct, gpu0.mem_used_bytes, ...),
// in the order a scientist looks for them: CPU, memory, GPUs, load,
// network and disk first, the rest by name.

const FIRST = ["cpu_busy_pct", "cpu_pct", "mem_available_kb", "rss_kb",
  "util_pct", "mem_used_bytes", "mem_util_pct", "power_w", "temp_c", "load1",
  "net_rx_bytes", "net_tx_bytes", "disk_read_bytes", "disk_write_bytes",
  "read_bytes", "write_bytes"];

// The numbers of one sample, by series name.
export function sampleFields(sample) {
  const out = {};
  for (const [k, v] of Object.entries(sample || {})) {
    if (typeof v === "number") out[k] = v;
    if (k !== "gpu" || !Array.isArray(v)) continue;
    v.forEach((gpu, i) => {
      for (const [gk, gv] of Object.entries(gpu || {}))
        if (typeof gv === "number" && gk !== "index") out[`gpu${gpu.index ?? i}.${gk}`] = gv;
    });
  }
  return out;
}

// A series name's field: gpu0.util_pct is a util_pct.
export function fieldOf(name) {
  return name.replace(/^gpu\d+\./, "");
}

function rank(name) {
  const i = FIRST.indexOf(fieldOf(name));
  return i < 0 ? FIRST.length : i;
}

// {x: times in s, series: [{name, values}]} of samples ({ts, sample}), in
// the order above; a sample without a series' field has null there.
export function sampleSeries(samples) {
  const rows = samples.map((s) => sampleFields(s.sample));
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  return {
    x: samples.map((s) => s.ts / 1e9),
    series: names.map((name) => ({ name, values: rows.map((r) => r[name] ?? null) })),
  };
}

// lineage.js -- the provenance graph around a task or a piece of data:
// tasks and data, across workflows, laid out with dagre; clicking a node
// walks from it (the graph grows as one follows it).
import dagre from "@dagrejs/dagre";
import * as api from "../api.js";
import { el, svg, short } from "../util.js";

// A node's text in its box: a task's activity from its start; a data
// item's URI from its end, where the file's name is (a project's files all
// begin with the same folders).
function nodeText(n) {
  const text = n.label || short(n.id);
  if (text.length <= 22) return text;
  return n.kind === "data" ? "…" + text.slice(-21) : text.slice(0, 22);
}

function draw(graph, onPick) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 50 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of graph.nodes) g.setNode(n.id, { width: 150, height: 28, n });
  for (const e of graph.edges) g.setEdge(e.from, e.to, { label: e.label });
  dagre.layout(g);
  const W = (g.graph().width || 100) + 20, H = (g.graph().height || 50) + 20;
  const root = svg("svg", { width: W, height: H, viewBox: `-10 -10 ${W} ${H}` });
  for (const e of g.edges()) {
    const pts = g.edge(e).points.map((p) => `${p.x},${p.y}`).join(" ");
    root.append(svg("polyline", { class: "edge " + g.edge(e).label, points: pts }));
  }
  for (const key of g.nodes()) {
    const v = g.node(key);
    if (!v || !v.n) continue;
    const n = v.n;
    const shape = n.kind === "data"
      ? svg("ellipse", { cx: v.x, cy: v.y, rx: 75, ry: 14 })
      : svg("rect", { x: v.x - 75, y: v.y - 14, width: 150, height: 28, rx: 4 });
    const node = svg("g", { class: "node " + (n.kind === "data" ? "data" : "s-" + (n.status || "UNKNOWN")), "data-id": n.id },
      shape, svg("text", { x: v.x - 68, y: v.y + 4 }, nodeText(n)), svg("title", {}, `${n.kind} ${n.label || ""} ${n.id} ${n.detail || ""}`));
    node.addEventListener("click", () => onPick(n));
    root.append(node);
  }
  return root;
}

// The walk's address: #/lineage/START?depth=N, so that the depth chosen
// takes effect (a hash that did not change would walk nothing again) and
// stays with a reload or a link.
function walkHash(start, depth) {
  return "#/lineage/" + encodeURIComponent(start) + "?depth=" + encodeURIComponent(depth);
}

export default {
  async enter(state) {
    const start = state.args[0] ? decodeURIComponent(state.args[0]) : "";
    const asked = Number(new URLSearchParams(state.args[1] || "").get("depth"));
    const depthValue = Number.isInteger(asked) && asked >= 1 && asked <= 20 ? asked : 3;
    const input = el("input", { size: 60, placeholder: "a task id, a data digest or URI", value: start, id: "lineage-start" });
    const depth = el("input", { type: "number", min: 1, max: 20, value: depthValue, size: 3, id: "lineage-depth" });
    const box = el("div", { class: "dag", id: "lineage" });
    const form = el("form", {
      class: "filters",
      onsubmit: (ev) => {
        ev.preventDefault();
        if (input.value.trim()) location.hash = walkHash(input.value.trim(), depth.value || 3);
      },
    }, input, "depth", depth, el("button", { type: "submit" }, "Walk"));
    state.root.replaceChildren(el("div", { class: "card" }, el("h2", {}, "Lineage"), form), box);
    if (!start) return box.replaceChildren(el("p", { class: "muted" }, "Give a task id or data to start from."));
    const graph = await api.get("lineage", { id: start, depth: depthValue, max_nodes: 500 });
    box.replaceChildren(draw(graph, (n) => {
      if (n.kind === "task") location.hash = "#/task/" + encodeURIComponent(n.id);
      else location.hash = walkHash(n.id, depthValue);
    }));
    if (graph.truncated) box.prepend(el("p", { class: "muted" }, "The graph was cut at 500 nodes."));
  },
};

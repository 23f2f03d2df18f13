// overview.js -- campaigns and workflows with their live task counts (all
// workflows, or those of the campaign clicked); the counts move as the
// event stream reports changed workflows, and the campaigns are read
// again then.
import * as api from "../api.js";
import { el, fill, fmtTime, durationOf, workflowSpanEnd, workflowStatus, link, short } from "../util.js";

function countsCell(w) {
  return el("span", { class: "counts" },
    el("span", { class: "c-running", title: "running" }, "▶ " + (w.running_tasks ?? 0)),
    el("span", { class: "c-finished", title: "finished" }, "✓ " + (w.finished_tasks ?? 0)),
    el("span", { class: "c-error", title: "failed" }, "✗ " + (w.error_tasks ?? 0)),
    el("span", { class: "c-total muted", title: "all tasks" }, "Σ " + (w.tasks ?? 0)));
}

function workflowRow(w) {
  return el("tr", { "data-id": w.id, class: "wf-row" },
    el("td", {}, link("#/workflow/" + w.id, w.name || short(w.id))),
    el("td", {}, w.source || ""),
    el("td", {}, workflowStatus(w)),
    el("td", { class: "counts-cell" }, countsCell(w)),
    el("td", {}, fmtTime(w.started)),
    el("td", {}, durationOf(w, workflowSpanEnd(w))),
    el("td", {}, w.host || ""));
}

// The campaigns with their workflow counts, the one chosen marked.
function campaignsTable(camps, chosen) {
  if (!camps.items.length) return el("p", { class: "muted" }, "No campaign yet.");
  return el("table", { id: "campaigns" }, el("tr", {}, el("th", {}, "campaign"), el("th", {}, "workflows"), el("th", {}, "created")),
    camps.items.map((c) => el("tr", { class: c.id === chosen ? "on" : "", "data-id": c.id },
      el("td", {}, link("#/?campaign=" + encodeURIComponent(c.id), c.name || c.id)), el("td", { class: "num" }, c.workflows), el("td", {}, fmtTime(c.created)))));
}

// The campaigns read again, a second after the last workflow event: a new
// workflow may begin a campaign or add to one's count. Drawn in place, the
// page held at its height meanwhile, so that the reader stays where they
// were.
function refreshCampaigns(state) {
  clearTimeout(state.timer);
  state.timer = setTimeout(async () => {
    const camps = await api.get("campaigns", { limit: 100 }).catch(() => null);
    if (!camps || state.gone) return;
    const root = state.root;
    root.style.minHeight = root.offsetHeight + "px";
    fill(state.campaignsBox, campaignsTable(camps, state.campaign));
    requestAnimationFrame(() => (root.style.minHeight = ""));
  }, 1000);
}

export default {
  async enter(state) {
    // #/?campaign=ID: the workflows of one campaign.
    state.campaign = new URLSearchParams(state.args[0] || "").get("campaign") || undefined;
    const [camps, wfs] = await Promise.all([
      api.get("campaigns", { limit: 100 }),
      api.get("workflows", { limit: 200, campaign: state.campaign }),
    ]);
    if (state.gone) return;
    state.rows = new Map();
    const tbody = el("tbody", {});
    for (const w of wfs.items) {
      const tr = workflowRow(w);
      state.rows.set(w.id, { w, tr });
      tbody.append(tr);
    }
    if (!wfs.items.length && !state.campaign)
      tbody.append(el("tr", { id: "no-workflows" }, el("td", { colspan: 7, class: "muted" },
        "No workflow yet: they appear here as they begin (", el("code", {}, "mida run -- COMMAND"),
        ", a Python script that uses mida, ", el("code", {}, "mida observe"), ").")));
    state.tbody = tbody;
    state.campaignsBox = el("div", {}, campaignsTable(camps, state.campaign));
    const chosen = camps.items.find((c) => c.id === state.campaign);
    const title = state.campaign
      ? el("h2", {}, "Workflows of campaign ", chosen ? chosen.name || chosen.id : state.campaign, " ", el("small", {}, link("#/", "all workflows")))
      : el("h2", {}, "Workflows");
    state.root.replaceChildren(
      el("div", { class: "card" }, el("h2", {}, "Campaigns"), state.campaignsBox),
      el("div", { class: "card" }, title,
        el("table", { id: "workflows" },
          el("thead", {}, el("tr", {}, ["workflow", "source", "status", "tasks", "started", "duration", "host"].map((h) => el("th", {}, h)))),
          tbody),
        wfs.next ? el("p", { class: "muted" }, "Showing the newest 200.") : null));
  },
  leave(state) {
    state.gone = true;
    clearTimeout(state.timer);
  },
  onEvent(state, kind, data) {
    if (kind === "reset") return this.enter(state);
    if (kind !== "workflows" || !state.tbody) return;
    refreshCampaigns(state);
    for (const w of data) {
      if (state.campaign && w.campaign_id !== state.campaign) continue;
      const old = state.rows.get(w.id);
      const merged = Object.assign(old ? old.w : {}, w);
      const tr = workflowRow(merged);
      if (old) old.tr.replaceWith(tr);
      else state.tbody.prepend(tr);
      state.tbody.querySelector("#no-workflows")?.remove();
      state.rows.set(w.id, { w: merged, tr });
    }
  },
};

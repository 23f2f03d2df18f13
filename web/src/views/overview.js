// overview.js -- campaigns and workflows with their live task counts (all
// workflows, or those of the campaign clicked, newest first, a page of
// PAGE at a time as the reader asks for more); the counts move as the
// event stream reports changed workflows, and the campaigns are read
// again then.
import * as api from "../api.js";
import { el, fill, fmtTime, durationOf, workflowSpanEnd, workflowStatus, link, short, missing } from "../util.js";

// The workflows read at a time.
const PAGE = 200;

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
    el("td", {}, w.source ?? missing()),
    el("td", {}, workflowStatus(w)),
    el("td", { class: "counts-cell" }, countsCell(w)),
    el("td", {}, fmtTime(w.started)),
    el("td", {}, durationOf(w, workflowSpanEnd(w))),
    el("td", {}, w.host ?? missing()));
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

// Below the table: how many workflows it shows, and, while the store has
// more, a button that reads the next page (the rows after the last one
// shown) into the table.
function pageFooter(state) {
  const shown = `Showing the newest ${state.rows.size.toLocaleString("en")} workflows`;
  if (!state.next) return state.rows.size > PAGE ? el("p", { class: "muted", id: "workflows-shown" }, shown + ", all of them.") : null;
  return el("p", { class: "muted", id: "workflows-shown" }, shown + "; there are more. ",
    el("button", { class: "plain", id: "more-workflows", onclick: () => morePages(state) }, `Show ${PAGE} more`));
}

async function morePages(state) {
  const page = await api.get("workflows", { limit: PAGE, campaign: state.campaign, after: state.next });
  if (state.gone) return;
  for (const w of page.items) {
    if (state.rows.has(w.id)) continue; /* a live event brought it first */
    const tr = workflowRow(w);
    state.rows.set(w.id, { w, tr });
    state.tbody.append(tr);
  }
  state.next = page.next;
  const footer = pageFooter(state);
  if (footer) state.footer.replaceWith(footer);
  else state.footer.remove();
  state.footer = footer;
}

export default {
  async enter(state) {
    // #/?campaign=ID: the workflows of one campaign.
    state.campaign = new URLSearchParams(state.args[0] || "").get("campaign") || undefined;
    const [camps, wfs] = await Promise.all([
      api.get("campaigns", { limit: 100 }),
      api.get("workflows", { limit: PAGE, campaign: state.campaign }),
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
    state.next = wfs.next;
    state.footer = pageFooter(state);
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
        state.footer));
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

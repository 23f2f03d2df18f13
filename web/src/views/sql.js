// sql.js -- the SQL console: one read-only statement through the API's
// guarded SQL endpoint, the result as a table, and the same as CSV.
import * as api from "../api.js";
import { el } from "../util.js";

export default {
  async enter(state) {
    const text = el("textarea", { id: "sql-text", spellcheck: "false" },
      "SELECT activity, status, count(*) AS tasks FROM task GROUP BY 1, 2 ORDER BY 3 DESC");
    const out = el("div", { id: "sql-result" });
    const run = async () => {
      out.replaceChildren(el("p", { class: "muted" }, "Running…"));
      try {
        const r = await api.get("sql", { q: text.value, limit: 1000 });
        out.replaceChildren(
          el("p", { class: "muted" }, `${r.rows.length} rows${r.truncated ? " (cut at 1,000)" : ""}`),
          el("table", {}, el("tr", {}, r.columns.map((c) => el("th", {}, c))),
            r.rows.map((row) => el("tr", {}, row.map((v) => el("td", {}, v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v)))))));
      } catch (e) {
        out.replaceChildren(el("div", { class: "error" }, e.message));
      }
    };
    const csv = async () => {
      try {
        const body = await api.getText("sql", { q: text.value, limit: 100000, format: "csv" });
        const a = el("a", { href: URL.createObjectURL(new Blob([body], { type: "text/csv" })), download: "mida-query.csv" });
        document.body.append(a);
        a.click();
        a.remove();
      } catch (e) {
        out.replaceChildren(el("div", { class: "error" }, e.message));
      }
    };
    state.root.replaceChildren(el("div", { class: "card" }, el("h2", {}, "SQL (read-only)"), text,
      el("div", { class: "filters" }, el("button", { id: "sql-run", onclick: run }, "Run"), el("button", { class: "plain", id: "sql-csv", onclick: csv }, "Download CSV"))), out);
  },
};

// Building blocks every view uses: headings, sections, grids, tables and empty notes.

import { h, humanize } from "./ui.js";

export function head(title, subtitle) {
  return h("div", { class: "view-head" }, h("h1", { text: title, tabindex: "-1" }), subtitle ? h("p", { text: subtitle }) : null);
}

export function section(title, content, ...actions) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "section", "aria-labelledby": id },
    h("div", { class: "section-head" }, h("h2", { id, text: title }), ...actions), content);
}

export function grid(cards, compact = false) {
  return cards.length ? h("div", { class: compact ? "grid compact" : "grid" }, cards) : null;
}

export function empty(text) {
  return h("p", { class: "empty", text });
}

/** A table in a scrollable region that a keyboard can reach and a screen reader can name. */
export function table(label, headers, rows) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

export function statusBadge(status) {
  const kind = /^(healthy|running|ok|up|ready|connected)$/i.test(status) ? "ok"
    : /^(disabled|pending|unavailable)$/i.test(status) ? "off" : /degraded|starting/i.test(status) ? "warn" : "danger";
  return h("span", { class: `badge badge-${kind}`, text: humanize(status) });
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

// History on the cards: a sparkline of a reading over the last hours, drawn as inline SVG from the
// server's /history, that expands to a larger chart with its range and times. No chart library.

import { fmtClock, h, isNum } from "./ui.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const WINDOW_S = 24 * 3600;
const LIMIT = 240;
let counter = 0;

function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Points [[ts, value]] as an SVG path in a width x height box (value range padded so a flat line sits mid-box). */
function pathOf(points, width, height) {
  const t0 = points[0][0];
  const t1 = points[points.length - 1][0];
  let lo = Math.min(...points.map((p) => p[1]));
  let hi = Math.max(...points.map((p) => p[1]));
  if (hi - lo < 1e-9) {
    lo -= 1;
    hi += 1;
  }
  const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * width : width);
  const y = (v) => height - 2 - ((v - lo) / (hi - lo)) * (height - 4);
  return points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join("");
}

/**
 * A sparkline of `field` of an entity, expanding to a chart. `format` writes a value with its unit.
 * Returns {el, push(ts, value)}: live values are added as they arrive.
 */
export function historyChart(entityId, field, label, format) {
  counter += 1;
  const chartId = `chart-${counter}`;
  const points = [];
  const line = svg("path", { class: "spark-line", d: "" });
  const spark = svg("svg", { viewBox: "0 0 100 24", preserveAspectRatio: "none", class: "spark", "aria-hidden": "true" });
  spark.append(line);
  const toggle = h("button", { type: "button", class: "spark-button", "aria-expanded": "false", "aria-controls": chartId },
    h("span", { class: "spark-label", text: `${label} history` }), spark);
  const bigLine = svg("path", { class: "spark-line", d: "" });
  const big = svg("svg", { viewBox: "0 0 300 120", preserveAspectRatio: "none", class: "chart", "aria-hidden": "true" });
  big.append(bigLine);
  const summary = h("p", { class: "sub chart-summary" });
  const range = h("div", { class: "chart-range" });
  const chart = h("div", { class: "chart-box", id: chartId, hidden: true }, range, big, summary);
  const el = h("div", { class: "history" }, toggle, chart);
  toggle.addEventListener("click", () => {
    const open = chart.hidden;
    chart.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
  });

  function draw() {
    const shown = points.length >= 2;
    el.classList.toggle("no-data", !shown);
    if (!shown) {
      summary.textContent = "Not enough history yet.";
      return;
    }
    line.setAttribute("d", pathOf(points, 100, 24));
    bigLine.setAttribute("d", pathOf(points, 300, 120));
    const values = points.map((p) => p[1]);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const first = points[0][0] * 1000;
    const last = points[points.length - 1][0] * 1000;
    range.textContent = `${format(hi)} high · ${format(lo)} low`;
    summary.textContent = `${label} from ${fmtClock(first)} to ${fmtClock(last)}: now ${format(values[values.length - 1])}.`;
  }

  async function load() {
    const since = Date.now() / 1000 - WINDOW_S;
    try {
      const response = await fetch(`/api/v2/entities/${encodeURIComponent(entityId)}/history?since=${since.toFixed(0)}&limit=${LIMIT}`,
        { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body = await response.json();
      const loaded = (body.samples || []).filter((s) => isNum(s.values?.[field])).map((s) => [s.ts, s.values[field]]);
      points.splice(0, 0, ...loaded.filter((p) => !points.length || p[0] < points[0][0]));
      draw();
    } catch {
      // No history (server unreachable): the sparkline stays empty and says so when opened.
    }
  }

  // Fetched when the card comes into view, not for cards the owner never scrolls to.
  const seen = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) {
      seen.disconnect();
      load();
    }
  });
  seen.observe(el);
  draw();
  return {
    el,
    field,
    push(ts, value) {
      if (!isNum(value) || !isNum(ts)) return;
      const last = points[points.length - 1];
      if (last && ts <= last[0]) return;
      points.push([ts, value]);
      if (points.length > LIMIT * 2) points.splice(0, points.length - LIMIT * 2);
      draw();
    },
  };
}

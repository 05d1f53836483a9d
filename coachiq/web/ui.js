// DOM helpers, icons and number formatting shared by every view.

/** Create an element: h("button", {class: "btn", onclick: fn, "aria-label": "x"}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && !key.includes("-") && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";

// Icon outlines (24x24, stroked). Kept as path data so icons are built with DOM calls, not innerHTML.
const ICONS = {
  light: "M9 18h6M10 21h4M12 3a6 6 0 0 0-4 10.5c.7.7 1 1.5 1 2.5h6c0-1 .3-1.8 1-2.5A6 6 0 0 0 12 3z",
  switch: "M12 3v9M6.3 6.3a8 8 0 1 0 11.4 0",
  lock: "M6 11h12v10H6zM8 11V7a4 4 0 0 1 8 0v4",
  tank: "M6 3h12v18H6zM6 13h12",
  battery: "M3 7h16v10H3zM21 10v4M7 12h4M9 10v4",
  thermostat: "M14 14.8V5a2 2 0 0 0-4 0v9.8a4 4 0 1 0 4 0zM12 9v8",
  furnace: "M12 3c3 4 5 6 5 10a5 5 0 0 1-10 0c0-2 1-3.5 2-5 .5 2 1.5 3 3 3-1-3 0-6 0-8z",
  water_heater: "M7 3h10v18H7zM10 14c0-1.5 2-3 2-4 0 1 2 2.5 2 4a2 2 0 0 1-4 0z",
  pump: "M12 3c3 4 6 7 6 11a6 6 0 0 1-12 0c0-4 3-7 6-11z",
  fan: "M12 12c0-4 1-8 4-8s2 5-4 8zm0 0c4 0 8 1 8 4s-5 2-8-4zm0 0c0 4-1 8-4 8s-2-5 4-8zm0 0c-4 0-8-1-8-4s5-2 8 4z",
  generator: "M3 8h18v11H3zM7 8V5h10v3M8 13h3l-1 3 4-4h-3l1-3",
  inverter: "M4 4h16v16H4zM7 9c1.5-2 3.5 2 5 0M7 15h5M14 15h3",
  charger: "M13 2L4 14h7l-1 8 9-12h-7z",
  transfer_switch: "M4 7h5l6 10h5M4 17h5M15 7h5",
  slide: "M3 6h18v12H3zM13 9h6v6h-6M16 12h-9M9 10l-2 2 2 2",
  awning: "M3 6h18l-2 6H5zM5 12v8M19 12v8",
  jack: "M8 3h8v6H8zM12 9v9M7 21h10",
  shade: "M4 4h16M5 4v10h14V4M12 14v4",
  chassis: "M2 16V8a2 2 0 0 1 2-2h12l4 4h1a1 1 0 0 1 1 1v5h-2M7 19a2 2 0 1 0 0-4 2 2 0 0 0 0 4zM16 19a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
  alert: "M12 3l10 18H2zM12 10v5M12 18v.5",
  check: "M5 12l5 5 9-10",
  info: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zM12 11v6M12 7.5v.5",
  minus: "M5 12h14",
  plus: "M12 5v14M5 12h14",
  left: "M15 5l-7 7 7 7",
  right: "M9 5l7 7-7 7",
  up: "M5 15l7-7 7 7",
  down: "M5 9l7 7 7-7",
  device: "M5 4h14v16H5zM9 8h6M9 12h6M9 16h3",
};

/** An inline SVG icon by name (decorative: hidden from assistive technology). */
export function icon(name, cls = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  if (cls) svg.setAttribute("class", cls);
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name] || ICONS.device);
  svg.append(path);
  return svg;
}

/** First defined, non-null value of `keys` in `obj`. */
export function pick(obj, ...keys) {
  if (!obj) return undefined;
  for (const key of keys) {
    const value = obj[key];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

// Formatting lives in units.js (one formatter per quantity); re-exported here for the views.
export {
  fmtBytes, fmtClock, fmtCurrent, fmtDateTime, fmtDuration, fmtField, fmtFrequency, fmtMinutes, fmtPct, fmtPower,
  fmtSpeed, fmtTemp, fmtVoltage, fmtVolume, fromDisplayTemp, isNum, tempStep, tempUnit, toDisplayTemp,
} from "./units.js";
import { fmtDateTime, isNum } from "./units.js";

/** A timestamp (epoch seconds, epoch ms or ISO text) as epoch milliseconds, or null. */
export function toMillis(value) {
  if (isNum(value)) return value > 1e12 ? value : value * 1000;
  if (typeof value === "string") {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

export function fmtAgo(value) {
  const ms = toMillis(value);
  if (ms === null) return "never";
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 5) return "just now";
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return fmtDateTime(ms);
}

/** "auto_heat_cool" -> "Auto heat cool". */
const LABELS = {
  ac_pass_through: "AC pass-through", auto_heat_cool: "Auto", fan_only: "Fan only", aux_heat: "Aux heat",
  lpg: "LPG", dc: "DC", ac: "AC", float: "Float", bulk: "Bulk", absorption: "Absorption",
  not_charging: "Not charging", living_room: "Living room",
};

export function humanize(text) {
  if (text === undefined || text === null) return "—";
  if (typeof text === "boolean") return text ? "Yes" : "No";
  if (LABELS[text]) return LABELS[text];
  const s = String(text).replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Replace the children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

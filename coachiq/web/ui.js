// DOM helpers, icons, number formatting and the frame of a card, shared by every view and card module.

import { controlBlockReason, store } from "./state.js";

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
  bell: "M6 16V11a6 6 0 0 1 12 0v5l2 2H4zM10 21h4",
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

// ---- the owner's preferences (units, clock, alert thresholds) and one formatter per quantity, so that a
// reading looks the same on every card and every view, always with its unit ----

const KEY = "coachiq.prefs";
const DEFAULTS = {
  temp: "C", // "C" | "F"
  volume: "L", // "L" | "gal" (US gallons)
  clock: "24", // "24" | "12"
  tankFullPct: 85, // waste tanks at or above: nearly full
  tankEmptyPct: 15, // fresh water and LPG at or below: nearly empty
  batteryLowPct: 30, // house battery state of charge at or below: low
};
const LITRES_PER_GALLON = 3.785411784;
const NNBSP = "\u202f";

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "{}");
    // An older page kept only the temperature unit under its own key.
    if (!saved.temp && localStorage.getItem("coachiq.temp_unit") === "F") saved.temp = "F";
    return { ...DEFAULTS, ...(saved && typeof saved === "object" ? saved : {}) };
  } catch {
    return { ...DEFAULTS };
  }
}

let prefs = load();
const watchers = new Set();

/** The owner's preferences. */
export function getPrefs() { return prefs; }

/** Change some preferences; every watcher (the views) redraws with them. */
export function setPrefs(changes) {
  prefs = { ...prefs, ...changes };
  localStorage.setItem(KEY, JSON.stringify(prefs));
  for (const fn of watchers) fn(prefs);
}

/** Call `fn` whenever the preferences change; returns the unsubscribe function. */
export function onPrefs(fn) {
  watchers.add(fn);
  return () => watchers.delete(fn);
}

export function isNum(v) { return typeof v === "number" && Number.isFinite(v); }

function num(v, digits) {
  // -0.0 reads oddly; trailing zeros are kept so that a column of readings lines up.
  const text = v.toFixed(digits);
  return /^-0(\.0+)?$/.test(text) ? text.slice(1) : text;
}

function withUnit(text, unit) { return `${text}${NNBSP}${unit}`; }

// ---- temperature ----
export function tempUnit() { return prefs.temp === "F" ? "F" : "C"; }
export function toDisplayTemp(c) { return tempUnit() === "F" ? c * 9 / 5 + 32 : c; }
export function fromDisplayTemp(t) { return tempUnit() === "F" ? (t - 32) * 5 / 9 : t; }
/** The step of a set point in the owner's unit: half a degree Celsius, one degree Fahrenheit. */
export function tempStep() { return tempUnit() === "F" ? 1 : 0.5; }

/**
 * A temperature (°C in) in the owner's unit. `precise` shows a set point at the precision it is set
 * with (21.5 °C, 71 °F); readings round to whole degrees.
 */
export function fmtTemp(c, { precise = false } = {}) {
  if (!isNum(c)) return "—";
  const t = toDisplayTemp(c);
  if (precise && tempUnit() === "C") {
    const half = Math.round(t * 2) / 2;
    return `${Number.isInteger(half) ? num(half, 0) : num(half, 1)}${NNBSP}°C`;
  }
  return `${num(Math.round(t), 0)}${NNBSP}°${tempUnit()}`;
}

// ---- electricity ----
export function fmtVoltage(v) { return isNum(v) ? withUnit(num(v, Math.abs(v) >= 100 ? 0 : 2), "V") : "—"; }
export function fmtCurrent(a) { return isNum(a) ? withUnit(num(a, 1), "A") : "—"; }
export function fmtPower(w) {
  if (!isNum(w)) return "—";
  return Math.abs(w) >= 10000 ? withUnit(num(w / 1000, 1), "kW") : withUnit(num(w, 0), "W");
}
export function fmtFrequency(hz) { return isNum(hz) ? withUnit(num(hz, 1), "Hz") : "—"; }

// ---- the rest ----
export function fmtPct(v) { return isNum(v) ? withUnit(num(Math.round(v), 0), "%") : "—"; }
export function fmtSpeed(kmh) { return isNum(kmh) ? withUnit(num(kmh, 0), "km/h") : "—"; }
export function fmtRpm(rpm) { return isNum(rpm) ? withUnit(num(rpm, 0), "rpm") : "—"; }
export function fmtPressure(kpa) { return isNum(kpa) ? withUnit(num(kpa, 0), "kPa") : "—"; }
export function fmtHours(h) { return isNum(h) ? withUnit(num(h, 1), "h") : "—"; }

export function volumeUnit() { return prefs.volume === "gal" ? "gal" : "L"; }
/** A volume (litres in) in the owner's unit. */
export function fmtVolume(litres) {
  if (!isNum(litres)) return "—";
  return volumeUnit() === "gal" ? withUnit(num(litres / LITRES_PER_GALLON, 0), "gal") : withUnit(num(litres, 0), "L");
}
/** A flow (litres per hour in) in the owner's unit. */
export function fmtFlow(lph) {
  if (!isNum(lph)) return "—";
  return volumeUnit() === "gal" ? withUnit(num(lph / LITRES_PER_GALLON, 1), "gal/h") : withUnit(num(lph, 1), "L/h");
}

/** A duration in minutes, for the owner: "45 min", "3 h 20 min", "2.5 days". */
export function fmtMinutes(min) {
  if (!isNum(min)) return "—";
  if (min < 90) return withUnit(num(Math.round(min), 0), "min");
  if (min < 48 * 60) {
    const hours = Math.floor(min / 60);
    const rest = Math.round(min - hours * 60);
    return rest ? `${hours}${NNBSP}h ${rest}${NNBSP}min` : withUnit(String(hours), "h");
  }
  return withUnit(num(min / 1440, 1), "days");
}

export function fmtDuration(s) { return isNum(s) ? (s < 90 ? withUnit(num(Math.round(s), 0), "s") : fmtMinutes(s / 60)) : "—"; }

export function fmtBytes(v) {
  if (!isNum(v)) return "—";
  if (v >= 1048576) return withUnit(num(v / 1048576, 1), "MiB");
  if (v >= 1024) return withUnit(num(v / 1024, 0), "KiB");
  return withUnit(String(v), "B");
}

/** A time of day (epoch ms in) on the owner's clock. */
export function fmtClock(ms) {
  if (!isNum(ms)) return "—";
  return new Date(ms).toLocaleTimeString([], { hour: "numeric", minute: "2-digit", hour12: prefs.clock === "12" });
}

/** A date and time (epoch ms in) on the owner's clock. */
export function fmtDateTime(ms) {
  if (!isNum(ms)) return "—";
  return new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short", hour12: prefs.clock === "12" });
}

// Which quantity a state field holds, by the server's field names (its schema is the contract).
const FIELD_QUANTITY = [
  [/(^|_)voltage$|_v$/, fmtVoltage],
  [/(^|_)current$|_a$/, fmtCurrent],
  [/(^|_)power$|_w$/, fmtPower],
  [/frequency$/, fmtFrequency],
  [/temperature$|setpoint$/, (v) => fmtTemp(v, { precise: true })],
  [/(^|_)(level|load|state_of_charge|fan_speed|heat_output|motor_duty|position|output_level)$/, fmtPct],
  [/_min$/, fmtMinutes],
  [/_kmh$/, fmtSpeed],
  [/rpm$/, fmtRpm],
  [/_l$/, fmtVolume],
  [/_lph$/, fmtFlow],
  [/_kpa$/, fmtPressure],
  [/_hours$/, fmtHours],
];

/** A state field's value with its unit, by the field's name; text for anything that is not a number. */
export function fmtField(key, value, humanize) {
  if (isNum(value)) {
    for (const [pattern, format] of FIELD_QUANTITY) if (pattern.test(key)) return format(value);
    return num(value, Number.isInteger(value) ? 0 : 2);
  }
  return humanize(value);
}

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

// ---- telling the owner ----

/** Say something to a screen reader through the page's one live region. */
export function announce(message) {
  const box = document.getElementById("announce");
  // Clearing first makes a repeated message heard again.
  box.textContent = "";
  setTimeout(() => { box.textContent = message; }, 50);
}

/** A short visual note (the live region says it to a screen reader). */
export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, text: message });
  box.append(el);
  announce(message);
  setTimeout(() => el.remove(), 6000);
}

// ---- the frame every card shares (each device family's card module builds into it) ----

const CONFIRMED_VISIBLE_MS = 4000;

const COMMAND_LABELS = {
  turn_on: "Turn on", turn_off: "Turn off", toggle: "Toggle", set_brightness: "Brightness", lock: "Lock",
  unlock: "Unlock", set_mode: "Mode", set_setpoint: "Set point", set_fan: "Fan", start: "Start", stop: "Stop",
  enable: "Turn on", disable: "Turn off", extend: "Extend", retract: "Retract", auto_level: "Auto level",
  retract_all: "Retract all", clear_error: "Clear error",
};

export const has = (entity, capability) => entity.capabilities.includes(capability);
export const canCommand = (entity) => store.link === "live" && entity.available && !controlBlockReason();

/** The card of an entity with no card of its own: every reading it reports. */
export function readingsCard(entity) {
  const card = frame(entity, entity.type);
  const dl = h("dl", { class: "kv" });
  card.body.append(dl);
  return {
    el: card.el,
    update(e) {
      const rows = [];
      for (const [key, value] of Object.entries(e.state)) {
        if (value === null || typeof value === "object") continue;
        rows.push(h("dt", { text: humanize(key) }), h("dd", { text: fmtField(key, value, humanize) }));
      }
      setChildren(dl, rows.length ? rows : h("dd", { text: "No readings yet." }));
      updateFrame(card, e, "");
    },
  };
}

/** The frame of a card; `el` is the article to build into (a card whose module loads later keeps its place). */
export function frame(entity, iconName, el = h("article")) {
  const badge = h("span", { class: "badge" });
  const title = h("h3", { text: entity.name });
  const head = h("div", { class: "card-head" }, icon(iconName, "card-icon"), title, badge);
  const note = h("p", { class: "sub", hidden: true });
  const body = h("div", { class: "card-body" });
  const cmd = h("p", { class: "cmd" });
  el.className = "card";
  el.dataset.entity = entity.id;
  el.dataset.type = entity.type;
  el.setAttribute("aria-label", entity.name);
  el.append(head, note, body, cmd);
  return { el, badge, note, body, cmd, clearTimer: 0, stopped: null };
}

export function updateFrame(card, entity, badgeText, badgeKind = "off") {
  card.el.classList.toggle("unavailable", !entity.available);
  if (!entity.available) {
    card.badge.className = "badge badge-danger";
    card.badge.textContent = "Unavailable";
    card.note.hidden = false;
    const known = Object.values(entity.state).some((v) => v !== null);
    card.note.textContent = entity.updated_at === null
      ? "Not heard from yet." : known
        ? `Not answering: showing what it last reported, ${fmtAgo(entity.updated_at)}.`
        : `Not answering since ${fmtAgo(entity.updated_at)}.`;
  } else {
    card.badge.className = `badge badge-${badgeKind}`;
    card.badge.textContent = badgeText || "";
    card.badge.hidden = !badgeText;
    card.note.hidden = true;
  }
  if (!entity.available) card.badge.hidden = false;
  updateCommandLine(card, entity.id);
}

/** The progress of the latest command to this entity: pending -> confirmed, timed out or refused. */
function updateCommandLine(card, entityId) {
  const c = store.commands.get(entityId);
  clearTimeout(card.clearTimer);
  // A stop by the coach (its supervisor, or a refused renewal) outranks the command that started the motion.
  if (card.stopped && (!c || card.stopped.at >= c.at)) {
    card.cmd.className = "cmd refused";
    card.cmd.dataset.status = "stopped";
    setChildren(card.cmd, icon("alert"), card.stopped.text);
    return;
  }
  if (!c) {
    card.cmd.className = "cmd";
    card.cmd.replaceChildren();
    return;
  }
  const what = COMMAND_LABELS[c.command] || humanize(c.command);
  card.cmd.className = `cmd ${c.status}`;
  card.cmd.dataset.status = c.status;
  if (c.status === "pending") {
    setChildren(card.cmd, h("span", { class: "spinner", "aria-hidden": "true" }), `${what}: waiting for the device…`);
  } else if (c.status === "confirmed") {
    const left = CONFIRMED_VISIBLE_MS - (Date.now() - c.at);
    if (left <= 0) {
      card.cmd.replaceChildren();
      return;
    }
    setChildren(card.cmd, icon("check"), `${what}: confirmed by the device.`);
    card.clearTimer = setTimeout(() => updateCommandLine(card, entityId), left + 50);
  } else if (c.status === "timed_out") {
    setChildren(card.cmd, icon("alert"), `${what}: no confirmation from the device (timed out). ${c.reason || ""}`);
  } else if (c.status === "refused" || c.status === "invalid") {
    setChildren(card.cmd, icon("alert"), `${what} refused: ${sentence(c.reason || "no reason given")}`);
  } else {
    setChildren(card.cmd, icon("alert"), `${what} not sent: ${c.reason || "error"}`);
  }
}

/** "the coach is moving" -> "The coach is moving." */
export function sentence(text) {
  const t = String(text).trim().replace(/`/g, "");
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** Sparklines of some readings (history.js loads after the first values), fed with live values as they come. */
export function historyStrip(entity, fields) {
  const slot = h("div");
  let charts = [];
  import("./history.js").then((m) => {
    charts = fields.map(([field, label, format]) => m.historyChart(entity.id, field, label, format));
    slot.replaceChildren(...charts.map((c) => c.el));
  });
  return {
    el: slot,
    push(e) {
      const ms = toMillis(e.updated_at);
      if (ms !== null) for (const c of charts) c.push(ms / 1000, e.state[c.field]);
    },
  };
}

/** Controls beyond on/off (controls.js, loaded after the first values); kept in step with the card. */
export function lateControls(entity) {
  const slot = h("div");
  let controls = null;
  let last = null;
  import("./controls.js").then((m) => {
    controls = m.deviceControls(entity);
    if (!controls) return;
    slot.replaceWith(controls.el);
    controls.update(last || store.entities.get(entity.id));
  });
  return {
    el: slot,
    update(e) {
      last = e;
      controls?.update(e);
    },
  };
}

export function stats(pairs) {
  const dl = h("dl", { class: "stats" });
  const cells = new Map();
  for (const [key, label] of pairs) {
    const dd = h("dd", { text: "—" });
    const wrap = h("div", {}, h("dt", { text: label }), dd);
    dl.append(wrap);
    cells.set(key, { dd, wrap });
  }
  return {
    el: dl,
    set(key, text) {
      const cell = cells.get(key);
      if (!cell) return;
      cell.dd.textContent = text;
      cell.wrap.hidden = text === "—";
    },
  };
}

/** Every reading the device reports, for the owner who wants the detail. */
export function readings() {
  const dl = h("dl", { class: "kv" });
  const el = h("details", {}, h("summary", { class: "sub", text: "All readings" }), dl);
  return {
    el,
    update(state) {
      if (!el.open) return;
      const rows = [];
      for (const [key, value] of Object.entries(state)) {
        if (value === null || typeof value === "object") continue;
        rows.push(h("dt", { text: humanize(key) }), h("dd", { text: fmtField(key, value, humanize) }));
      }
      setChildren(dl, rows.length ? rows : h("dd", { text: "No readings yet." }));
    },
    bind(getState) { el.addEventListener("toggle", () => this.update(getState())); },
  };
}

export function button(label, onclick, cls = "btn") {
  return h("button", { type: "button", class: cls, onclick }, label);
}


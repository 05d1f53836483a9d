// One card per entity. A card is built once and then patched in place on every update, so that a
// slider being dragged or a button being held is never replaced under the owner's finger.

import { controlBlockReason, motionBlockReason, sendCommand, store } from "./state.js";
import {
  fmtAgo, fmtCurrent, fmtField, fmtMinutes, fmtPct, fmtPower, fmtSpeed, fmtTemp, fmtVoltage, fmtVolume,
  fromDisplayTemp, getPrefs, h, humanize, icon, isNum, pick, setChildren, tempStep, toDisplayTemp, toMillis,
} from "./ui.js";

// Motion is momentary: each command moves for at most MOTION_DURATION_S and is renewed while held,
// so a lost page, a dropped Wi-Fi or a crashed phone stops the motion within that time.
const MOTION_DURATION_S = 2;
const MOTION_RENEW_MS = 700;
// A screen reader activates a button with a single click and cannot hold it: such a click moves the
// device for at most this long (renewed like a hold), and a second click or Stop ends it sooner.
const LATCH_MAX_MS = 6000;
const CONFIRMED_VISIBLE_MS = 4000;

const COMMAND_LABELS = {
  turn_on: "Turn on", turn_off: "Turn off", toggle: "Toggle", set_brightness: "Brightness", lock: "Lock",
  unlock: "Unlock", set_mode: "Mode", set_setpoint: "Set point", set_fan: "Fan", start: "Start", stop: "Stop",
  enable: "Turn on", disable: "Turn off", extend: "Extend", retract: "Retract", auto_level: "Auto level",
  retract_all: "Retract all", clear_error: "Clear error",
};

const has = (entity, capability) => entity.capabilities.includes(capability);
const canCommand = (entity) => store.link === "live" && entity.available && !controlBlockReason();

/** Whether a light or load is on (true/false), or null while the device has not said. */
export function onState(state) {
  const v = pick(state, "on", "is_on", "running", "state", "status");
  if (typeof v === "boolean") return v;
  if (typeof v === "string") return /^(on|running|active|enabled)$/i.test(v);
  const b = pick(state, "brightness", "level");
  return isNum(b) ? b > 0 : null;
}

/** Whether a light or load is known to be on. */
export function isOn(state) {
  return onState(state) === true;
}

// ---- the frame every card shares ----

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
  card.el.classList.toggle("stale", entity.stale);
  if (!entity.available) {
    card.badge.className = "badge badge-danger";
    card.badge.textContent = "Unavailable";
    card.note.hidden = false;
    const known = Object.values(entity.state).some((v) => v !== null && v !== undefined);
    card.note.textContent = entity.updated_at === null || entity.updated_at === undefined
      ? "Not heard from yet." : known
        ? `Not answering: showing what it last reported, ${fmtAgo(entity.updated_at)}.`
        : `Not answering since ${fmtAgo(entity.updated_at)}.`;
  } else if (entity.stale) {
    card.badge.className = "badge badge-warn";
    card.badge.textContent = "Last known";
    card.note.hidden = false;
    card.note.textContent = "Shown from memory: waiting for the device to report.";
  } else {
    card.badge.className = `badge badge-${badgeKind}`;
    card.badge.textContent = badgeText || "";
    card.badge.hidden = !badgeText;
    card.note.hidden = true;
  }
  if (!entity.available || entity.stale) card.badge.hidden = false;
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
function historyStrip(entity, fields) {
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
function lateControls(entity) {
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
function readings() {
  const dl = h("dl", { class: "kv" });
  const el = h("details", {}, h("summary", { class: "sub", text: "All readings" }), dl);
  return {
    el,
    update(state) {
      if (!el.open) return;
      const rows = [];
      for (const [key, value] of Object.entries(state)) {
        if (key === "instance" || value === null || value === undefined || typeof value === "object") continue;
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

// ---- lights and on/off loads ----

// The last level each dimmer was on at, so that "on" brings a light back as the owner left it.
const LEVELS_KEY = "coachiq.levels";
const lastLevels = (() => {
  try {
    return JSON.parse(localStorage.getItem(LEVELS_KEY) || "{}") || {};
  } catch {
    return {};
  }
})();

function rememberLevel(id, level) {
  if (!isNum(level) || level <= 0 || lastLevels[id] === level) return;
  lastLevels[id] = level;
  localStorage.setItem(LEVELS_KEY, JSON.stringify(lastLevels));
}

function onOffCard(entity, iconName) {
  const card = frame(entity, iconName);
  const big = h("div", { class: "big small" });
  const sw = h("button", { type: "button", class: "switch", role: "switch", "aria-checked": "false",
    "aria-label": `${entity.name}` });
  const dimmable = has(entity, "set_brightness");
  sw.addEventListener("click", () => {
    const e = store.entities.get(entity.id);
    const on = isOn(e.state);
    const level = lastLevels[e.id];
    if (!on && dimmable && has(e, "turn_on") && isNum(level)) sendCommand(e.id, "turn_on", { brightness: level });
    else sendCommand(e.id, has(e, on ? "turn_off" : "turn_on") ? (on ? "turn_off" : "turn_on") : "toggle");
  });
  const detail = h("div", { class: "sub" });
  card.body.append(h("div", { class: "row" }, h("div", { class: "grow" }, big, detail), sw));
  let slider = null;
  let dragging = false;
  // The level the owner asked for, shown until the device has answered, so the old level never flashes back.
  let wanted = null;
  if (dimmable) {
    slider = h("input", { type: "range", min: "0", max: "100", step: "1", id: `b-${entity.id}`,
      "aria-label": `Brightness of ${entity.name}` });
    slider.addEventListener("pointerdown", () => { dragging = true; });
    slider.addEventListener("input", () => { big.textContent = `On · ${fmtPct(Number(slider.value))}`; });
    slider.addEventListener("change", async () => {
      dragging = false;
      const level = Number(slider.value);
      wanted = level;
      const result = await sendCommand(entity.id, "set_brightness", { brightness: level });
      if (wanted === level) wanted = null;
      if (result.status !== "confirmed") update(store.entities.get(entity.id));
    });
    slider.addEventListener("blur", () => { dragging = false; });
    card.body.append(slider);
  }
  const more = ["water_heater", "fan", "furnace"].includes(entity.type) ? lateControls(entity) : null;
  if (more) card.body.append(more.el);
  function update(e) {
    const known = onState(e.state);
    const on = known === true;
    const b = pick(e.state, "brightness", "level");
    if (dimmable && on) rememberLevel(e.id, b);
    const level = wanted ?? b;
    card.el.classList.toggle("is-on", on || (wanted ?? 0) > 0);
    big.textContent = known === null && wanted === null ? "—"
      : on || wanted > 0 ? (slider && isNum(level) ? `On · ${fmtPct(level)}` : "On") : "Off";
    detail.textContent = loadDetail(e.state);
    more?.update(e);
    sw.setAttribute("aria-checked", String(on));
    sw.disabled = !canCommand(e);
    if (slider) {
      slider.disabled = !canCommand(e);
      if (!dragging && isNum(level)) slider.value = String(Math.round(level));
    }
    // The switch shows on/off already; the badge is left for unavailable and last-known states.
    updateFrame(card, e, "");
  }
  return { el: card.el, update };
}

/** A short line of the readings that matter for an on/off load (water temperature, fan, current). */
function loadDetail(st) {
  const parts = [];
  if (isNum(st.water_temperature)) parts.push(`Water ${fmtTemp(st.water_temperature)}`);
  if (isNum(st.setpoint)) parts.push(`set to ${fmtTemp(st.setpoint, { precise: true })}`);
  if (st.mode !== undefined && st.mode !== null && st.mode !== "off") parts.push(humanize(st.mode));
  if (isNum(st.fan_speed) && st.fan_speed > 0) parts.push(`fan ${fmtPct(st.fan_speed)}`);
  if (typeof st.dome === "string") parts.push(`dome ${humanize(st.dome).toLowerCase()}`);
  if (st.running === true) parts.push("running");
  if (st.city_water === true) parts.push("city water connected");
  if (isNum(st.current) && st.current > 0) parts.push(fmtCurrent(st.current));
  return parts.join(" · ");
}

function lockCard(entity) {
  const card = frame(entity, "lock");
  const big = h("div", { class: "big" });
  const lockBtn = button("Lock", () => sendCommand(entity.id, "lock"));
  const unlockBtn = button("Unlock", () => sendCommand(entity.id, "unlock"));
  card.body.append(big, h("div", { class: "row" }, lockBtn, unlockBtn));
  return {
    el: card.el,
    update(e) {
      const v = pick(e.state, "locked", "lock_status", "state", "status");
      const locked = v === true || v === "locked";
      big.textContent = v === undefined ? "—" : locked ? "Locked" : "Unlocked";
      lockBtn.disabled = !canCommand(e);
      unlockBtn.disabled = !canCommand(e);
      updateFrame(card, e, v === undefined ? "" : locked ? "Locked" : "Unlocked", locked ? "ok" : "warn");
    },
  };
}

// ---- tanks, batteries, power ----

function tankKind(entity) {
  const text = `${pick(entity.state, "fluid", "fluid_type", "kind") || ""} ${entity.name} ${entity.id}`.toLowerCase();
  if (/black|gr[ae]y|waste|sewage/.test(text)) return "waste";
  if (/lp|propane|gas|fuel|diesel/.test(text)) return "fuel";
  return "fresh";
}

/** Whether a tank's level is worth an alert: [kind, text] or null. Thresholds are the owner's settings. */
export function tankAlert(entity, prefs) {
  const level = pick(entity.state, "level");
  if (!isNum(level)) return null;
  const kind = tankKind(entity);
  if (kind === "waste" && level >= prefs.tankFullPct) return ["warn", "Nearly full"];
  if (kind !== "waste" && level <= prefs.tankEmptyPct) return ["danger", "Nearly empty"];
  return null;
}

function tankCard(entity, prefs) {
  const card = frame(entity, "tank");
  const big = h("div", { class: "big" });
  const sub = h("div", { class: "sub" });
  const bar = h("span");
  const meter = h("div", { class: "meter", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-label": `${entity.name} level` }, bar);
  const past = historyStrip(entity, [["level", "Level", fmtPct]]);
  card.body.append(big, sub, meter, past.el);
  return {
    el: card.el,
    update(e) {
      past.push(e);
      const level = pick(e.state, "level");
      big.textContent = fmtPct(level);
      const volume = pick(e.state, "volume_l");
      const capacity = pick(e.state, "capacity_l");
      sub.textContent = isNum(volume) && isNum(capacity) ? `${fmtVolume(volume)} of ${fmtVolume(capacity)}`
        : isNum(capacity) ? `Holds ${fmtVolume(capacity)}` : "";
      const pct = isNum(level) ? Math.max(0, Math.min(100, level)) : 0;
      bar.style.setProperty("width", `${pct}%`);
      if (isNum(level)) meter.setAttribute("aria-valuenow", String(Math.round(level)));
      const alert = tankAlert(e, prefs());
      meter.classList.toggle("low", alert?.[0] === "danger");
      meter.classList.toggle("high", alert?.[0] === "warn");
      updateFrame(card, e, alert ? alert[1] : "", alert ? alert[0] : "off");
    },
  };
}

/** A battery's time to empty (discharging) or to full, when the device reports it. */
function batteryTime(st) {
  const minutes = pick(st, "time_remaining_min");
  if (!isNum(minutes)) return "—";
  const a = pick(st, "current");
  return isNum(a) && a < 0 ? `${fmtMinutes(minutes)} to full` : `${fmtMinutes(minutes)} left`;
}

function batteryCard(entity) {
  const card = frame(entity, "battery");
  const big = h("div", { class: "big" });
  const s = stats([["soc", "Charge"], ["current", "Current"], ["power", "Power"], ["time", "Time"], ["temp", "Temperature"]]);
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  const past = historyStrip(entity, [["voltage", "Voltage", fmtVoltage], ["state_of_charge", "Charge", fmtPct]]);
  card.body.append(big, s.el, past.el, all.el);
  return {
    el: card.el,
    update(e) {
      past.push(e);
      const st = e.state;
      const v = pick(st, "voltage");
      const a = pick(st, "current");
      big.textContent = fmtVoltage(v);
      s.set("soc", fmtPct(pick(st, "state_of_charge")));
      s.set("current", fmtCurrent(a));
      s.set("power", isNum(v) && isNum(a) ? fmtPower(v * a) : "—");
      s.set("time", batteryTime(st));
      s.set("temp", fmtTemp(pick(st, "temperature")));
      all.update(st);
      // RV-C DC source current is positive out of the battery (discharge), negative into it (charge).
      const charging = isNum(a) && a < -0.5;
      const discharging = isNum(a) && a > 0.5;
      updateFrame(card, e, charging ? "Charging" : discharging ? "Discharging" : "", charging ? "ok" : "off");
    },
  };
}

const GENERATOR_WORDS = { preheat: "Preheating", cranking: "Starting", running: "Running", stopping: "Stopping",
  cooldown: "Cooling down", stopped: "Stopped", fault: "Fault" };

/** The generator's status in the owner's words, and whether it runs, starts or is stopped. */
export function generatorStatus(st) {
  const status = pick(st, "status");
  const text = typeof status === "string" ? GENERATOR_WORDS[status] || humanize(status) : st.running === true ? "Running" : "—";
  return { text, running: status === "running" || (status === undefined && st.running === true),
    starting: /^(preheat|cranking|starting|priming)$/.test(String(status)), stopped: status === "stopped",
    fault: /fault|fail|error/i.test(String(status)) };
}

function generatorCard(entity) {
  const card = frame(entity, "generator");
  const big = h("div", { class: "big" });
  const s = stats([["load", "Load"], ["hours", "Run time"], ["voltage", "Start battery"]]);
  const start = button("Start", () => sendCommand(entity.id, "start"), "btn");
  const stop = button("Stop", () => sendCommand(entity.id, "stop"), "btn");
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, s.el, h("div", { class: "row" }, has(entity, "start") ? start : null,
    has(entity, "stop") ? stop : null), all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const g = generatorStatus(st);
      big.textContent = g.text;
      const minutes = pick(st, "run_time_min");
      s.set("hours", isNum(minutes) ? fmtMinutes(minutes) : "—");
      s.set("voltage", fmtVoltage(pick(st, "start_battery_voltage")));
      // The load means something only while it runs; a stopped generator keeps its last figure for a while.
      s.set("load", g.running ? fmtPct(pick(st, "load")) : "—");
      const ok = canCommand(e);
      const busy = g.running || g.starting;
      start.disabled = !ok || busy;
      stop.disabled = !ok || g.stopped;
      start.className = busy ? "btn" : "btn btn-primary";
      stop.className = busy ? "btn btn-primary" : "btn";
      all.update(st);
      card.el.classList.toggle("is-on", g.running);
      // The big line says the status; the badge only flags what needs the owner's eye.
      updateFrame(card, e, g.fault ? "Needs attention" : "", "danger");
    },
  };
}

function powerDeviceCard(entity) {
  const card = frame(entity, entity.type === "charger" ? "charger" : "inverter");
  const big = h("div", { class: "big" });
  const s = stats([["power", "Power"], ["voltage", "Voltage"], ["current", "Current"]]);
  const onCommand = has(entity, "enable") ? "enable" : "turn_on";
  const offCommand = has(entity, "disable") ? "disable" : "turn_off";
  const enable = button("Turn on", () => sendCommand(entity.id, onCommand));
  const disable = button("Turn off", () => sendCommand(entity.id, offCommand));
  const controls = has(entity, "enable") || has(entity, "turn_on");
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, s.el, controls ? h("div", { class: "row" }, enable, disable) : null, all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const status = pick(st, "status", "state");
      const enabled = pick(st, "enabled");
      big.textContent = enabled === false ? "Off" : status !== undefined ? humanize(status) : enabled === true ? "On" : "—";
      s.set("power", fmtPower(pick(st, "power")));
      s.set("voltage", fmtVoltage(pick(st, "voltage")));
      s.set("current", fmtCurrent(pick(st, "current")));
      const ok = canCommand(e);
      // Only the button that changes something is offered; an unknown state offers both.
      enable.disabled = !ok || enabled === true;
      disable.disabled = !ok || enabled === false;
      enable.className = enabled === false ? "btn btn-primary" : "btn";
      all.update(st);
      if (st.charging === true) updateFrame(card, e, "Charging", "ok");
      else updateFrame(card, e, enabled === false ? "Off" : "", "off");
    },
  };
}

/** Where the coach's AC comes from: shore, generator, none, or "—" when not heard. */
export function acSource(st) {
  const shore = pick(st, "shore_voltage");
  const gen = pick(st, "generator_voltage");
  // The switch prefers shore power; a live input above 90 V is the one feeding the coach.
  return isNum(shore) && shore > 90 ? "Shore power" : isNum(gen) && gen > 90 ? "Generator"
    : isNum(shore) || isNum(gen) ? "No AC input" : "—";
}

function transferSwitchCard(entity) {
  const card = frame(entity, "transfer_switch");
  const big = h("div", { class: "big" });
  const s = stats([["shore", "Shore"], ["generator", "Generator"], ["output", "Output"], ["current", "Load"]]);
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, s.el, all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const source = acSource(st);
      big.textContent = source;
      s.set("shore", fmtVoltage(pick(st, "shore_voltage")));
      s.set("generator", fmtVoltage(pick(st, "generator_voltage")));
      s.set("output", fmtVoltage(pick(st, "output_voltage")));
      s.set("current", fmtCurrent(pick(st, "output_current")));
      all.update(st);
      updateFrame(card, e, source === "No AC input" ? "No AC" : "", "warn");
    },
  };
}

// ---- climate ----

const DEFAULT_MODES = ["off", "cool", "heat", "auto_heat_cool", "fan_only"];
const DEFAULT_FAN = ["auto", "on"];

function setpointStepper(label, onChange) {
  const out = h("span", { class: "value" });
  const minus = h("button", { type: "button", class: "btn", "aria-label": `Lower ${label}` }, icon("minus"));
  const plus = h("button", { type: "button", class: "btn", "aria-label": `Raise ${label}` }, icon("plus"));
  const el = h("div", { class: "field-group" }, h("div", { class: "sub", text: label }),
    h("div", { class: "stepper", role: "group", "aria-label": label }, minus, out, plus));
  minus.addEventListener("click", () => onChange(-1));
  plus.addEventListener("click", () => onChange(1));
  return { el, out, minus, plus };
}

function thermostatCard(entity) {
  const card = frame(entity, "thermostat");
  const big = h("div", { class: "big" });
  const sub = h("div", { class: "sub" });
  const modes = (Array.isArray(entity.state.modes) && entity.state.modes.length ? entity.state.modes : DEFAULT_MODES);
  const modeSel = h("select", { "aria-label": `Mode of ${entity.name}` }, modes.map((m) => h("option", { value: m, text: humanize(m) })));
  const fanSel = h("select", { "aria-label": `Fan of ${entity.name}` }, DEFAULT_FAN.map((m) => h("option", { value: m, text: humanize(m) })));
  modeSel.addEventListener("change", () => sendCommand(entity.id, "set_mode", { mode: modeSel.value }));
  fanSel.addEventListener("change", () => sendCommand(entity.id, "set_fan", { mode: fanSel.value }));
  // Clicks on the steppers move a local target; one command goes out once the owner pauses.
  let target = null;
  let sendTimer = 0;
  const step = tempStep;
  const current = () => {
    const st = store.entities.get(entity.id).state;
    return { heat: pick(st, "heat_setpoint"), cool: pick(st, "cool_setpoint") };
  };
  const nudge = (which, dir) => {
    const base = target || current();
    if (!isNum(base[which])) return;
    const shown = toDisplayTemp(base[which]) + dir * step();
    target = { ...base, [which]: Math.round(fromDisplayTemp(shown) * 100) / 100 };
    render(store.entities.get(entity.id));
    clearTimeout(sendTimer);
    sendTimer = setTimeout(async () => {
      const send = target;
      const params = {};
      if (isNum(send.heat)) params.heat = send.heat;
      if (isNum(send.cool)) params.cool = send.cool;
      await sendCommand(entity.id, "set_setpoint", params);
      if (target === send) target = null;
      render(store.entities.get(entity.id));
    }, 700);
  };
  const heat = setpointStepper("Heat to", (d) => nudge("heat", d));
  const cool = setpointStepper("Cool to", (d) => nudge("cool", d));
  const controls = h("div", { class: "row" },
    has(entity, "set_mode") ? h("label", { class: "field grow" }, "Mode", modeSel) : null,
    has(entity, "set_fan") ? h("label", { class: "field grow" }, "Fan", fanSel) : null);
  const setpoints = h("div", { class: "setpoints" }, heat.el, cool.el);
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  const past = historyStrip(entity, [["ambient_temperature", "Temperature", (c) => fmtTemp(c, { precise: true })]]);
  const more = lateControls(entity);
  card.body.append(big, sub, controls, has(entity, "set_setpoint") ? setpoints : null, more.el, past.el, all.el);

  function render(e) {
    past.push(e);
    more.update(e);
    const st = e.state;
    const ambient = pick(st, "ambient_temperature", "ambient", "indoor_temperature", "temperature");
    big.textContent = isNum(ambient) ? `${fmtTemp(ambient)} inside` : "—";
    const mode = pick(st, "mode", "operating_mode");
    // The air conditioner reports its own fan; the thermostat's fan_speed is only what it last asked for.
    const acFan = pick(st, "ac_fan_speed");
    const fanSpeed = isNum(acFan) ? acFan : pick(st, "fan_speed");
    sub.textContent = [mode !== undefined ? humanize(mode) : null,
      isNum(fanSpeed) ? `${isNum(acFan) ? "AC fan" : "fan"} ${fmtPct(fanSpeed)}` : null].filter(Boolean).join(" · ");
    if (document.activeElement !== modeSel && mode !== undefined) {
      if (![...modeSel.options].some((o) => o.value === mode)) modeSel.append(h("option", { value: mode, text: humanize(mode) }));
      modeSel.value = mode;
    }
    const fan = pick(st, "fan_mode");
    if (document.activeElement !== fanSel && fan !== undefined) {
      if (![...fanSel.options].some((o) => o.value === fan)) fanSel.append(h("option", { value: fan, text: humanize(fan) }));
      fanSel.value = fan;
    }
    const sp = target || current();
    heat.out.textContent = fmtTemp(sp.heat, { precise: true });
    cool.out.textContent = fmtTemp(sp.cool, { precise: true });
    const ok = canCommand(e);
    for (const c of [modeSel, fanSel, heat.minus, heat.plus, cool.minus, cool.plus]) c.disabled = !ok;
    heat.el.hidden = !isNum(sp.heat);
    cool.el.hidden = !isNum(sp.cool);
    all.update(st);
    const active = mode !== undefined && mode !== "off";
    card.el.classList.toggle("is-on", active);
    updateFrame(card, e, active ? humanize(mode) : mode === "off" ? "Off" : "", active ? "ok" : "off");
  }
  return { el: card.el, update: render };
}

// ---- slides, awnings, jacks, shades: hold to move ----

const activeHolds = new Set();

/** Stop every motion this page is driving (page hidden, view changed, emergency stop). */
export function stopAllMotion() {
  for (const hold of [...activeHolds]) hold.end();
}

const MOTION_LABELS = {
  slide: ["Extend", "Retract"], awning: ["Extend", "Retract"], jack: ["Lower", "Raise"], shade: ["Lower", "Raise"],
};

/** A button that moves while held: `params` go with every renewal (e.g. which jack); `name` ends its
 * accessible name (the device's name by default). */
export function holdButton(entity, command, label, iconName, onProblem, params = {}, name = entity.name) {
  // The visible words start the accessible name; the device's name follows for a screen reader's list.
  const btn = h("button", { type: "button", class: "hold", "data-command": command, "aria-pressed": "false" },
    icon(iconName), h("span", { text: `Hold to ${label.toLowerCase()}` }),
    h("span", { class: "visually-hidden", text: ` ${name}` }));
  let pointerOrKey = false;
  const hold = {
    timer: 0,
    latchTimer: 0,
    holding: false,
    btn,
    // The entity's report time when the device first confirmed this hold: a later report of "stopped"
    // means the device stopped while still held.
    confirmedStamp: undefined,
    start() {
      if (hold.holding || btn.disabled) return;
      hold.holding = true;
      hold.confirmedStamp = undefined;
      activeHolds.add(hold);
      btn.classList.add("holding");
      btn.setAttribute("aria-pressed", "true");
      hold.send(false);
      hold.timer = setInterval(() => hold.send(true), MOTION_RENEW_MS);
    },
    async send(renewal) {
      const result = await sendCommand(entity.id, command, { ...params, duration_s: MOTION_DURATION_S }, { quiet: renewal });
      if (hold.holding && result.status === "confirmed" && hold.confirmedStamp === undefined) {
        hold.confirmedStamp = store.entities.get(entity.id)?.updated_at ?? null;
      }
      if (hold.holding && ["refused", "invalid", "error", "timed_out"].includes(result.status)) {
        hold.end(false);
        onProblem(result, renewal);
      }
    },
    end(sendStop = true) {
      if (!hold.holding) return;
      hold.holding = false;
      activeHolds.delete(hold);
      clearInterval(hold.timer);
      clearTimeout(hold.latchTimer);
      btn.classList.remove("holding");
      btn.setAttribute("aria-pressed", "false");
      // Stop at once rather than waiting for the bounded duration to run out.
      if (sendStop && store.link === "live") sendCommand(entity.id, "stop", {}, { quiet: true });
    },
  };
  btn.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    pointerOrKey = true;
    btn.focus();
    try {
      btn.setPointerCapture(ev.pointerId);
    } catch {
      // Capture is a convenience: without it pointerleave still ends the hold.
    }
    hold.start();
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) btn.addEventListener(type, () => hold.end());
  btn.addEventListener("keydown", (ev) => {
    if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) {
      ev.preventDefault();
      pointerOrKey = true;
      hold.start();
    }
  });
  btn.addEventListener("keyup", (ev) => {
    if (ev.key === " " || ev.key === "Enter") {
      ev.preventDefault();
      hold.end();
    }
  });
  btn.addEventListener("blur", () => { if (!hold.latchTimer) hold.end(); });
  btn.addEventListener("contextmenu", (ev) => ev.preventDefault());
  btn.addEventListener("click", (ev) => {
    ev.preventDefault();
    // A click that follows a pointer or key hold was that hold. A click on its own (a screen reader, a
    // switch control) starts a bounded move, and a second click stops it.
    if (pointerOrKey) {
      pointerOrKey = false;
      return;
    }
    if (hold.holding) {
      hold.end();
      return;
    }
    hold.start();
    if (hold.holding) {
      hold.latchTimer = setTimeout(() => {
        hold.latchTimer = 0;
        hold.end();
      }, LATCH_MAX_MS);
    }
  });
  return hold;
}

function motionCard(entity) {
  const card = frame(entity, entity.type);
  const big = h("div", { class: "big" });
  const s = stats([["position", "Position"]]);
  const reasonText = h("span");
  const reasonId = `why-${entity.id}`;
  const reason = h("p", { class: "reason", id: reasonId, hidden: true }, icon("info"), reasonText);
  const [outLabel, inLabel] = MOTION_LABELS[entity.type] || ["Extend", "Retract"];
  let rerender = () => {};
  const stoppedByCoach = (text) => {
    card.stopped = { text: `Stopped by the coach: ${sentence(text)}`, at: Date.now() };
    rerender();
  };
  const onProblem = (result, renewal) => {
    // A refusal of the first press is the command line's to tell; a refused renewal stopped a motion.
    if (renewal) stoppedByCoach(result.reason || "it did not allow the motion to go on");
    else rerender();
  };
  const vertical = entity.type === "jack" || entity.type === "shade";
  const outHold = has(entity, "extend") ? holdButton(entity, "extend", outLabel, vertical ? "down" : "right", onProblem) : null;
  const inHold = has(entity, "retract") ? holdButton(entity, "retract", inLabel, vertical ? "up" : "left", onProblem) : null;
  const stopBtn = has(entity, "stop") ? button("Stop", () => {
    outHold?.end(false);
    inHold?.end(false);
    sendCommand(entity.id, "stop");
  }) : null;
  for (const hold of [outHold, inHold]) hold?.btn.addEventListener("pointerdown", () => { card.stopped = null; });
  card.body.append(big, s.el, h("div", { class: "row motion-row" }, inHold?.btn, stopBtn, outHold?.btn), reason);

  function render(e) {
    const st = e.state;
    const motion = pick(st, "motion");
    const position = pick(st, "position");
    const movingNow = typeof motion === "string" && /extend|retract|moving|lower|rais|up$|down$/i.test(motion);
    big.textContent = motion === undefined ? "—" : humanize(motion);
    s.set("position", isNum(position) ? fmtPct(position) : "—");
    const motionWhy = motionBlockReason(e);
    // The coach's supervisor stops the device before the page hears why: a reason that follows soon after
    // a stop is the stop's reason.
    if (motionWhy && card.stopped?.byDevice && Date.now() - card.stopped.at < 3000) {
      card.stopped = { text: `Stopped by the coach: ${sentence(motionWhy)}`, at: card.stopped.at };
    }
    // A viewer sees why they cannot move it, whatever the coach's state.
    const why = controlBlockReason() || motionWhy;
    reason.hidden = !why;
    reasonText.textContent = why || "";
    for (const hold of [outHold, inHold]) {
      if (!hold) continue;
      if (why && hold.holding) {
        hold.end(false);
        card.stopped = { text: `Stopped by the coach: ${sentence(why)}`, at: Date.now() };
      }
      hold.btn.disabled = Boolean(why);
      if (why) hold.btn.setAttribute("aria-describedby", reasonId);
      else hold.btn.removeAttribute("aria-describedby");
    }
    // Held, and the device reports it stopped by itself (end of travel, its own lock): say so, and stop asking.
    for (const hold of [outHold, inHold]) {
      if (hold?.holding && hold.confirmedStamp !== undefined && e.updated_at !== hold.confirmedStamp
          && motion === "stopped") {
        hold.end();
        card.stopped = { text: "Stopped by the device: it reports it is not moving (end of travel, or its own lock).",
          at: Date.now(), byDevice: true };
      }
    }
    if (stopBtn) stopBtn.disabled = store.link !== "live";
    updateFrame(card, e, movingNow ? "Moving" : why ? "Locked out" : "Ready", movingNow ? "warn" : why ? "off" : "ok");
  }
  rerender = () => render(store.entities.get(entity.id));
  return { el: card.el, update: render };
}

/** A card whose module is loaded when the card is first built (off the first view's path): an empty article
 * in its place at once, filled by `build(module, entity, el)` when the module arrives. */
function lateCard(entity, load, build) {
  const el = h("article", { class: "card", "data-entity": entity.id, "data-type": entity.type, "aria-label": entity.name });
  let card = null;
  let last = entity;
  load().then((m) => {
    card = build(m, last, el);
    card.update(last);
  });
  return {
    el,
    update(e) {
      last = e;
      card?.update(e);
    },
  };
}

function genericCard(entity) {
  const onOff = has(entity, "turn_on") || has(entity, "toggle");
  if (onOff) return onOffCard(entity, entity.type);
  const card = frame(entity, entity.type);
  const dl = h("dl", { class: "kv" });
  card.body.append(dl);
  return {
    el: card.el,
    update(e) {
      const rows = [];
      for (const [key, value] of Object.entries(e.state)) {
        if (key === "instance" || value === null || typeof value === "object") continue;
        rows.push(h("dt", { text: humanize(key) }), h("dd", { text: fmtField(key, value, humanize) }));
      }
      setChildren(dl, rows.length ? rows : h("dd", { text: "No readings yet." }));
      updateFrame(card, e, "");
    },
  };
}

/** Build the card for an entity, by its type. */
export function createCard(entity) {
  switch (entity.type) {
    case "light": return onOffCard(entity, "light");
    case "switch": case "pump": case "fan": case "water_heater": case "furnace":
      return has(entity, "turn_on") || has(entity, "toggle") ? onOffCard(entity, entity.type) : genericCard(entity);
    case "lock": return lockCard(entity);
    case "tank": return tankCard(entity, getPrefs);
    case "battery": return batteryCard(entity);
    case "generator": return generatorCard(entity);
    case "inverter": case "charger": return powerDeviceCard(entity);
    case "transfer_switch": return transferSwitchCard(entity);
    case "thermostat": return thermostatCard(entity);
    case "jack": return has(entity, "auto_level")
      ? lateCard(entity, () => import("./leveling.js"), (m, e, el) => m.levelingCard(e, el)) : motionCard(entity);
    case "slide": case "awning": case "shade": return motionCard(entity);
    case "chassis": return lateCard(entity, () => import("./chassis.js"), (m, e, el) => m.chassisCard(e, el));
    default: return genericCard(entity);
  }
}

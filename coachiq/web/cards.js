// One card per entity. A card is built once and then patched in place on every update, so that a
// slider being dragged or a button being held is never replaced under the owner's finger.

import { controlBlockReason } from "./access.js";
import { chassisCard } from "./chassis.js";
import { motionBlockReason, sendCommand, store } from "./state.js";
import {
  fmtAgo, fmtNum, fmtPct, fmtTemp, fromDisplayTemp, h, humanize, icon, isNum, pick, setChildren, tempUnit,
  toDisplayTemp,
} from "./ui.js";
import { levelingCard } from "./leveling.js";

// Motion is momentary: each command moves for at most MOTION_DURATION_S and is renewed while held,
// so a lost page, a dropped Wi-Fi or a crashed phone stops the motion within that time.
const MOTION_DURATION_S = 2;
const MOTION_RENEW_MS = 700;
const CONFIRMED_VISIBLE_MS = 4000;

const COMMAND_LABELS = {
  turn_on: "Turn on", turn_off: "Turn off", toggle: "Toggle", set_brightness: "Brightness", lock: "Lock",
  unlock: "Unlock", set_mode: "Mode", set_setpoint: "Set point", set_fan: "Fan", start: "Start", stop: "Stop",
  enable: "Enable", disable: "Disable", extend: "Extend", retract: "Retract", auto_level: "Auto level",
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

export function frame(entity, iconName) {
  const badge = h("span", { class: "badge" });
  const title = h("h3", { text: entity.name });
  const head = h("div", { class: "card-head" }, icon(iconName, "card-icon"), title, badge);
  const note = h("p", { class: "sub", hidden: true });
  const body = h("div", { class: "card-body" });
  const cmd = h("p", { class: "cmd", role: "status", "aria-live": "polite" });
  const el = h("article", { class: "card", "data-entity": entity.id, "data-type": entity.type,
    "aria-label": entity.name }, head, note, body, cmd);
  return { el, badge, note, body, cmd, clearTimer: 0 };
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
  } else if (c.status === "refused") {
    setChildren(card.cmd, icon("alert"), `${what} refused: ${c.reason || "no reason given"}`);
  } else {
    setChildren(card.cmd, icon("alert"), `${what} not sent: ${c.reason || "error"}`);
  }
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
        rows.push(h("dt", { text: humanize(key) }), h("dd", { text: isNum(value) ? String(Math.round(value * 100) / 100) : humanize(value) }));
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

function onOffCard(entity, iconName) {
  const card = frame(entity, iconName);
  const big = h("div", { class: "big small" });
  const sw = h("button", { type: "button", class: "switch", role: "switch", "aria-checked": "false",
    "aria-label": `${entity.name} on or off` });
  sw.addEventListener("click", () => {
    const e = store.entities.get(entity.id);
    const on = isOn(e.state);
    const command = has(e, on ? "turn_off" : "turn_on") ? (on ? "turn_off" : "turn_on") : "toggle";
    sendCommand(e.id, command);
  });
  const detail = h("div", { class: "sub" });
  card.body.append(h("div", { class: "row" }, h("div", { class: "grow" }, big, detail), sw));
  let slider = null;
  let dragging = false;
  if (has(entity, "set_brightness")) {
    const id = `b-${entity.id}`;
    slider = h("input", { type: "range", min: "0", max: "100", step: "1", id,
      "aria-label": `Brightness of ${entity.name}` });
    slider.addEventListener("pointerdown", () => { dragging = true; });
    slider.addEventListener("input", () => { big.textContent = `${slider.value}%`; });
    slider.addEventListener("change", () => {
      dragging = false;
      sendCommand(entity.id, "set_brightness", { brightness: Number(slider.value) });
    });
    slider.addEventListener("blur", () => { dragging = false; });
    card.body.append(slider);
  }
  return {
    el: card.el,
    update(e) {
      const known = onState(e.state);
      const on = known === true;
      const b = pick(e.state, "brightness", "level");
      card.el.classList.toggle("is-on", on);
      big.textContent = known === null ? "—" : on ? (slider && isNum(b) ? `On · ${Math.round(b)}%` : "On") : "Off";
      detail.textContent = loadDetail(e.state);
      sw.setAttribute("aria-checked", String(on));
      sw.disabled = !canCommand(e);
      if (slider) {
        slider.disabled = !canCommand(e);
        if (!dragging && document.activeElement !== slider && isNum(b)) slider.value = String(Math.round(b));
      }
      // The switch shows on/off already; the badge is left for unavailable and last-known states.
      updateFrame(card, e, "");
    },
  };
}

/** A short line of the readings that matter for an on/off load (water temperature, fan, current). */
function loadDetail(st) {
  const parts = [];
  if (isNum(st.water_temperature)) parts.push(`Water ${fmtTemp(st.water_temperature)}`);
  if (isNum(st.setpoint)) parts.push(`set to ${fmtTemp(st.setpoint)}`);
  if (st.mode !== undefined && st.mode !== null && st.mode !== "off") parts.push(humanize(st.mode));
  if (isNum(st.fan_speed) && st.fan_speed > 0) parts.push(`fan ${fmtPct(st.fan_speed)}`);
  if (typeof st.dome === "string") parts.push(`dome ${humanize(st.dome).toLowerCase()}`);
  if (st.running === true) parts.push("running");
  if (st.city_water === true) parts.push("city water connected");
  if (isNum(st.current) && st.current > 0) parts.push(fmtNum(st.current, 1, "A"));
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

function tankCard(entity) {
  const card = frame(entity, "tank");
  const big = h("div", { class: "big" });
  const bar = h("span");
  const meter = h("div", { class: "meter", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-label": `${entity.name} level` }, bar);
  card.body.append(big, meter);
  return {
    el: card.el,
    update(e) {
      const level = pick(e.state, "level", "level_percent", "relative_level", "percent", "fill");
      big.textContent = fmtPct(level);
      const pct = isNum(level) ? Math.max(0, Math.min(100, level)) : 0;
      bar.style.setProperty("width", `${pct}%`);
      if (isNum(level)) meter.setAttribute("aria-valuenow", String(Math.round(level)));
      const kind = tankKind(e);
      const low = kind !== "waste" && isNum(level) && level <= 15;
      const high = kind === "waste" && isNum(level) && level >= 80;
      meter.classList.toggle("low", low);
      meter.classList.toggle("high", high);
      updateFrame(card, e, low ? "Low" : high ? "Nearly full" : "", low ? "danger" : "warn");
    },
  };
}

function batteryCard(entity) {
  const card = frame(entity, "battery");
  const big = h("div", { class: "big" });
  const s = stats([["soc", "Charge"], ["current", "Current"], ["power", "Power"], ["temp", "Temperature"]]);
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, s.el, all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const v = pick(st, "voltage", "dc_voltage");
      const a = pick(st, "current", "dc_current");
      big.textContent = fmtNum(v, 2, "V");
      s.set("soc", fmtPct(pick(st, "state_of_charge", "soc", "charge_percent")));
      s.set("current", fmtNum(a, 1, "A"));
      s.set("power", isNum(v) && isNum(a) ? fmtNum(v * a, 0, "W") : "—");
      s.set("temp", fmtTemp(pick(st, "temperature", "battery_temperature")));
      all.update(st);
      // RV-C DC source current is positive out of the battery (discharge), negative into it (charge).
      const charging = isNum(a) && a < -0.5;
      const discharging = isNum(a) && a > 0.5;
      updateFrame(card, e, charging ? "Charging" : discharging ? "Discharging" : "", charging ? "ok" : "off");
    },
  };
}

function generatorCard(entity) {
  const card = frame(entity, "generator");
  const big = h("div", { class: "big" });
  const s = stats([["hours", "Run time"], ["voltage", "Start battery"], ["load", "Load"]]);
  const start = button("Start", () => sendCommand(entity.id, "start"), "btn btn-primary");
  const stop = button("Stop", () => sendCommand(entity.id, "stop"));
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, s.el, h("div", { class: "row" }, has(entity, "start") ? start : null,
    has(entity, "stop") ? stop : null), all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const status = pick(st, "status", "state", "operating_status", "running");
      const text = typeof status === "boolean" ? (status ? "Running" : "Stopped") : humanize(status ?? "—");
      big.textContent = text;
      const running = /running/i.test(text);
      const starting = /start|crank|prehe|prim/i.test(text);
      const minutes = pick(st, "run_time_min");
      s.set("hours", isNum(minutes) ? fmtNum(minutes / 60, 1, "h") : "—");
      s.set("voltage", fmtNum(pick(st, "start_battery_voltage", "voltage"), 1, "V"));
      s.set("load", fmtPct(pick(st, "load", "load_percent")));
      start.disabled = !canCommand(e);
      stop.disabled = !canCommand(e);
      all.update(st);
      card.el.classList.toggle("is-on", running);
      updateFrame(card, e, running ? "Running" : starting ? "Starting" : "", running ? "ok" : "warn");
    },
  };
}

function powerDeviceCard(entity) {
  const card = frame(entity, entity.type === "charger" ? "charger" : "inverter");
  const big = h("div", { class: "big" });
  const s = stats([["power", "Power"], ["voltage", "Voltage"], ["current", "Current"], ["mode", "Mode"]]);
  const enable = button("Turn on", () => sendCommand(entity.id, has(entity, "enable") ? "enable" : "turn_on"), "btn btn-primary");
  const disable = button("Turn off", () => sendCommand(entity.id, has(entity, "disable") ? "disable" : "turn_off"));
  const controls = has(entity, "enable") || has(entity, "turn_on");
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, s.el, controls ? h("div", { class: "row" }, enable, disable) : null, all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const status = pick(st, "state", "status", "operating_state", "enabled");
      big.textContent = typeof status === "boolean" ? (status ? "On" : "Off") : humanize(status ?? "—");
      s.set("power", fmtNum(pick(st, "power", "output_power", "ac_power"), 0, "W"));
      s.set("voltage", fmtNum(pick(st, "voltage", "output_voltage", "dc_voltage", "charge_voltage"), 1, "V"));
      s.set("current", fmtNum(pick(st, "current", "output_current", "dc_current", "charge_current"), 1, "A"));
      const mode = pick(st, "mode", "charge_mode", "algorithm");
      s.set("mode", mode === undefined ? "—" : humanize(mode));
      enable.disabled = !canCommand(e);
      disable.disabled = !canCommand(e);
      all.update(st);
      const enabled = pick(st, "enabled");
      if (st.charging === true) updateFrame(card, e, "Charging", "ok");
      else updateFrame(card, e, enabled === true ? "On" : enabled === false ? "Off" : "", enabled ? "ok" : "off");
    },
  };
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
      const shore = pick(st, "shore_voltage");
      const gen = pick(st, "generator_voltage");
      // The switch prefers shore power; a live input above 90 V is the one feeding the coach.
      const source = isNum(shore) && shore > 90 ? "Shore power" : isNum(gen) && gen > 90 ? "Generator"
        : isNum(shore) || isNum(gen) ? "No AC input" : "—";
      big.textContent = source;
      s.set("shore", fmtNum(shore, 0, "V"));
      s.set("generator", fmtNum(gen, 0, "V"));
      s.set("output", fmtNum(pick(st, "output_voltage"), 0, "V"));
      s.set("current", fmtNum(pick(st, "output_current", "shore_current", "generator_current"), 1, "A"));
      all.update(st);
      updateFrame(card, e, source === "No AC input" ? "No AC" : "", "warn");
    },
  };
}

// ---- climate ----

const DEFAULT_MODES = ["off", "cool", "heat", "auto_heat_cool", "fan_only"];
const DEFAULT_FAN = ["auto", "on"];

function setpointStepper(label, onChange) {
  const out = h("output", { "aria-live": "polite" });
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
  const step = () => (tempUnit() === "F" ? 1 : 0.5);
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
  card.body.append(big, sub, controls, has(entity, "set_setpoint") ? setpoints : null, all.el);

  function render(e) {
    const st = e.state;
    const ambient = pick(st, "ambient_temperature", "ambient", "indoor_temperature", "temperature");
    big.textContent = isNum(ambient) ? `${fmtTemp(ambient)} inside` : "—";
    const mode = pick(st, "mode", "operating_mode");
    const fanSpeed = pick(st, "fan_speed");
    sub.textContent = [mode !== undefined ? humanize(mode) : null,
      isNum(fanSpeed) ? `fan ${Math.round(fanSpeed)}%` : null].filter(Boolean).join(" · ");
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
    heat.out.textContent = fmtTemp(sp.heat);
    cool.out.textContent = fmtTemp(sp.cool);
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

/** A button that moves while held: `params` go with every renewal (e.g. which jack). */
export function holdButton(entity, command, label, iconName, onProblem, params = {}, name = entity.name) {
  const btn = h("button", { type: "button", class: "hold", "aria-label": `${label} ${name} (hold)`,
    "data-command": command }, icon(iconName), h("span", { text: `Hold to ${label.toLowerCase()}` }));
  const hold = {
    timer: 0,
    holding: false,
    btn,
    start() {
      if (hold.holding || btn.disabled) return;
      hold.holding = true;
      activeHolds.add(hold);
      btn.classList.add("holding");
      btn.setAttribute("aria-pressed", "true");
      hold.send(false);
      hold.timer = setInterval(() => hold.send(true), MOTION_RENEW_MS);
    },
    async send(renewal) {
      const result = await sendCommand(entity.id, command, { ...params, duration_s: MOTION_DURATION_S },
        { quiet: renewal });
      if (hold.holding && (result.status === "refused" || result.status === "error")) {
        hold.end(false);
        onProblem();
      }
    },
    end(sendStop = true) {
      if (!hold.holding) return;
      hold.holding = false;
      activeHolds.delete(hold);
      clearInterval(hold.timer);
      btn.classList.remove("holding");
      btn.setAttribute("aria-pressed", "false");
      // Stop at once rather than waiting for the bounded duration to run out.
      if (sendStop && store.link === "live") sendCommand(entity.id, "stop", {}, { quiet: true });
    },
  };
  btn.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
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
      hold.start();
    }
  });
  btn.addEventListener("keyup", (ev) => {
    if (ev.key === " " || ev.key === "Enter") {
      ev.preventDefault();
      hold.end();
    }
  });
  btn.addEventListener("blur", () => hold.end());
  btn.addEventListener("contextmenu", (ev) => ev.preventDefault());
  // A click without a hold (a screen reader's activation) must not start an endless motion.
  btn.addEventListener("click", (ev) => ev.preventDefault());
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
  const vertical = entity.type === "jack" || entity.type === "shade";
  const outHold = has(entity, "extend") ? holdButton(entity, "extend", outLabel, vertical ? "down" : "right", () => rerender()) : null;
  const inHold = has(entity, "retract") ? holdButton(entity, "retract", inLabel, vertical ? "up" : "left", () => rerender()) : null;
  const stopBtn = has(entity, "stop") ? button("Stop", () => {
    outHold?.end(false);
    inHold?.end(false);
    sendCommand(entity.id, "stop");
  }) : null;
  if (stopBtn) stopBtn.setAttribute("aria-label", `Stop ${entity.name}`);
  card.body.append(big, s.el, h("div", { class: "row motion-row" }, inHold?.btn, stopBtn, outHold?.btn), reason);

  function render(e) {
    const st = e.state;
    const motion = pick(st, "motion", "movement", "status", "state", "position_status");
    const position = pick(st, "position", "position_percent", "extension");
    big.textContent = motion === undefined ? "—" : humanize(motion);
    s.set("position", isNum(position) ? fmtPct(position) : position === undefined ? "—" : humanize(position));
    const why = controlBlockReason() || motionBlockReason(e);
    reason.hidden = !why;
    reasonText.textContent = why || "";
    for (const hold of [outHold, inHold]) {
      if (!hold) continue;
      if (why) hold.end();
      hold.btn.disabled = Boolean(why);
      if (why) hold.btn.setAttribute("aria-describedby", reasonId);
      else hold.btn.removeAttribute("aria-describedby");
    }
    if (stopBtn) stopBtn.disabled = store.link !== "live";
    const moving = typeof motion === "string" && /extend|retract|moving|lower|rais|up$|down$/i.test(motion);
    updateFrame(card, e, moving ? "Moving" : why ? "Locked out" : "Ready", moving ? "warn" : why ? "off" : "ok");
  }
  rerender = () => render(store.entities.get(entity.id));
  return { el: card.el, update: render };
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
        rows.push(h("dt", { text: humanize(key) }), h("dd", { text: isNum(value) ? String(Math.round(value * 100) / 100) : humanize(value) }));
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
    case "tank": return tankCard(entity);
    case "battery": return batteryCard(entity);
    case "generator": return generatorCard(entity);
    case "inverter": case "charger": return powerDeviceCard(entity);
    case "transfer_switch": return transferSwitchCard(entity);
    case "thermostat": return thermostatCard(entity);
    case "jack": return has(entity, "auto_level") ? levelingCard(entity) : motionCard(entity);
    case "slide": case "awning": case "shade": return motionCard(entity);
    case "chassis": return chassisCard(entity);
    default: return genericCard(entity);
  }
}

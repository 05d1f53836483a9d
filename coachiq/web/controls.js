// The full controls of devices that report more than on and off: water heater (set temperature, gas or
// electric), roof fans (speed, automatic, direction, lid), furnace (mode, circulation fan) and the air conditioner's fan.
// Loaded after the first values; each control shows what the device confirmed, and while a command is
// on its way, what the owner asked for (never the old value flashing back).

import { sendCommand, store } from "./state.js";
import { fmtPct, fmtTemp, fromDisplayTemp, h, humanize, icon, isNum, toDisplayTemp, tempUnit } from "./ui.js";

const WATER_MODES = [["off", "Off"], ["combustion", "Gas"], ["electric", "Electric"], ["gas_electric", "Gas and electric"],
  ["automatic", "Automatic"]];
const FURNACE_MODES = [["automatic", "Automatic"], ["manual", "Manual"]];
const ROOF_FAN_MODES = [["auto", "Automatic"], ["forced_on", "Always on"]];
const ROOF_FAN_DIRECTIONS = [["air_out", "Air out (exhaust)"], ["air_in", "Air in (intake)"]];
const ROOF_FAN_LID = [["closed", "Closed"], ["quarter_open", "¼ open"], ["half_open", "½ open"],
  ["three_quarters_open", "¾ open"], ["open", "Open"]];
const WATER_RANGE_C = [30, 75];

const canCommand = (e) => store.link === "live" && e.available;
let counter = 0;

function select(entity, label, options, command, param, field) {
  counter += 1;
  const id = `ctl-${counter}`;
  const el = h("select", { id }, options.map(([value, text]) => h("option", { value, text })));
  el.addEventListener("change", () => sendCommand(entity.id, command, { [param]: el.value }));
  return {
    el: h("label", { class: "field grow", for: id }, label, el),
    update(e) {
      const value = e.state[field];
      if (document.activeElement !== el && typeof value === "string") {
        if (![...el.options].some((o) => o.value === value)) el.append(h("option", { value, text: humanize(value) }));
        el.value = value;
      }
      el.disabled = !canCommand(e);
    },
  };
}

function slider(entity, label, command, param, field) {
  counter += 1;
  const id = `ctl-${counter}`;
  const out = h("span", { class: "value-inline" });
  const el = h("input", { id, type: "range", min: "0", max: "100", step: "5" });
  let wanted = null;
  let dragging = false;
  el.addEventListener("pointerdown", () => { dragging = true; });
  el.addEventListener("input", () => { out.textContent = fmtPct(Number(el.value)); });
  el.addEventListener("change", async () => {
    dragging = false;
    const value = Number(el.value);
    wanted = value;
    await sendCommand(entity.id, command, { [param]: value });
    if (wanted === value) wanted = null;
  });
  return {
    el: h("div", { class: "field-group" }, h("label", { class: "sub", for: id }, `${label} `, out), el),
    update(e) {
      const value = wanted ?? e.state[field];
      if (!dragging && isNum(value)) {
        el.value = String(Math.round(value));
        out.textContent = fmtPct(value);
      }
      el.disabled = !canCommand(e);
    },
  };
}

function waterStepper(entity) {
  const out = h("span", { class: "value" });
  const minus = h("button", { type: "button", class: "btn", "aria-label": "Lower water temperature" }, icon("minus"));
  const plus = h("button", { type: "button", class: "btn", "aria-label": "Raise water temperature" }, icon("plus"));
  let wanted = null;
  let timer = 0;
  const nudge = (dir) => {
    const e = store.entities.get(entity.id);
    const base = wanted ?? e.state.setpoint;
    if (!isNum(base)) return;
    const step = tempUnit() === "F" ? 2 : 1;
    const next = fromDisplayTemp(Math.round(toDisplayTemp(base)) + dir * step);
    wanted = Math.min(WATER_RANGE_C[1], Math.max(WATER_RANGE_C[0], Math.round(next * 2) / 2));
    out.textContent = fmtTemp(wanted, { precise: true });
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const send = wanted;
      await sendCommand(entity.id, "set_setpoint", { heat: send });
      if (wanted === send) wanted = null;
    }, 700);
  };
  minus.addEventListener("click", () => nudge(-1));
  plus.addEventListener("click", () => nudge(1));
  return {
    el: h("div", { class: "field-group" }, h("div", { class: "sub", text: "Water temperature" }),
      h("div", { class: "stepper", role: "group", "aria-label": "Water temperature" }, minus, out, plus)),
    update(e) {
      const value = wanted ?? e.state.setpoint;
      out.textContent = fmtTemp(value, { precise: true });
      minus.disabled = plus.disabled = !canCommand(e);
    },
  };
}

/** The extra controls for a device, by its type and capabilities; null when it has none beyond on/off. */
export function deviceControls(entity) {
  const caps = new Set(entity.capabilities);
  const parts = [];
  if (entity.type === "water_heater") {
    if (caps.has("set_setpoint")) parts.push(waterStepper(entity));
    if (caps.has("set_mode")) parts.push(select(entity, "Heat with", WATER_MODES, "set_mode", "mode", "mode"));
  } else if (entity.type === "fan" && caps.has("set_fan")) {
    parts.push(slider(entity, "Fan speed", "set_fan", "speed", "fan_speed"));
    parts.push(select(entity, "Fan", ROOF_FAN_MODES, "set_fan", "mode", "fan_mode"));
    parts.push(select(entity, "Direction", ROOF_FAN_DIRECTIONS, "set_fan", "direction", "air_direction"));
    parts.push(select(entity, "Lid", ROOF_FAN_LID, "set_fan", "dome", "dome"));
  } else if (entity.type === "furnace") {
    if (caps.has("set_mode")) parts.push(select(entity, "Mode", FURNACE_MODES, "set_mode", "mode", "mode"));
    if (caps.has("set_fan")) parts.push(slider(entity, "Circulation fan", "set_fan", "speed", "fan_speed"));
  } else if (entity.type === "thermostat" && caps.has("set_fan")) {
    // The card has the automatic/always-on choice already; the speed is what it lacked.
    parts.push(slider(entity, "Fan speed", "set_fan", "speed", "fan_speed"));
  }
  if (!parts.length) return null;
  return {
    el: h("div", { class: "controls" }, parts.map((p) => p.el)),
    update(e) { for (const p of parts) p.update(e); },
  };
}

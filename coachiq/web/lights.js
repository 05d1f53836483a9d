// Cards of lights, switches, locks and the other loads an owner turns on and off (pump, roof fan, furnace,
// water heater): the keys are those of the dimmer, relay, AC load, lock, water pump, roof fan, furnace and
// water heater state models (GET /openapi.json).

import { sendCommand, store } from "./state.js";
import {
  button, canCommand, fmtCurrent, fmtPct, fmtTemp, frame, h, has, humanize, isNum, lateControls, updateFrame,
} from "./ui.js";

/** Whether a light or load is known to be on. */
export function isOn(state) {
  return state.on === true;
}

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

/** A light or load with an on/off switch, a brightness slider for a dimmer, and more controls for some. */
export function onOffCard(entity, iconName = entity.type) {
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
    const known = e.state.on;
    const on = known === true;
    const b = dimmable ? e.state.brightness : null;
    if (on) rememberLevel(e.id, b);
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
    // The switch shows on/off already; the badge is left for unavailable states.
    updateFrame(card, e, "");
  }
  return { el: card.el, update };
}

/** A short line of the readings that matter for an on/off load (water temperature, fan, current); a key
 * the device's model does not have is simply absent. */
function loadDetail(st) {
  const parts = [];
  if (isNum(st.water_temperature)) parts.push(`Water ${fmtTemp(st.water_temperature)}`);
  if (isNum(st.setpoint)) parts.push(`set to ${fmtTemp(st.setpoint, { precise: true })}`);
  if (typeof st.mode === "string" && st.mode !== "off") parts.push(humanize(st.mode));
  if (isNum(st.fan_speed) && st.fan_speed > 0) parts.push(`fan ${fmtPct(st.fan_speed)}`);
  if (typeof st.dome === "string") parts.push(`dome ${humanize(st.dome).toLowerCase()}`);
  if (st.running === true) parts.push("running");
  if (st.city_water === true) parts.push("city water connected");
  if (isNum(st.current) && st.current > 0) parts.push(fmtCurrent(st.current));
  return parts.join(" · ");
}

/** A door lock. */
export function lockCard(entity) {
  const card = frame(entity, "lock");
  const big = h("div", { class: "big" });
  const lockBtn = button("Lock", () => sendCommand(entity.id, "lock"));
  const unlockBtn = button("Unlock", () => sendCommand(entity.id, "unlock"));
  card.body.append(big, h("div", { class: "row" }, lockBtn, unlockBtn));
  return {
    el: card.el,
    update(e) {
      const locked = e.state.locked;
      const words = locked === null ? "" : locked ? "Locked" : "Unlocked";
      big.textContent = words || "—";
      lockBtn.disabled = !canCommand(e);
      unlockBtn.disabled = !canCommand(e);
      updateFrame(card, e, words, locked ? "ok" : "warn");
    },
  };
}

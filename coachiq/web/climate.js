// Cards of the climate: thermostat zones (the keys of the thermostat state model, GET /openapi.json). The
// furnace, water heater and roof fans are on/off loads (lights.js) with more controls (controls.js).

import { sendCommand, store } from "./state.js";
import {
  canCommand, fmtPct, fmtTemp, frame, fromDisplayTemp, h, has, historyStrip, humanize, icon, isNum, lateControls,
  readings, tempStep, toDisplayTemp, updateFrame,
} from "./ui.js";

// What the menus offer; a mode the thermostat reports that is not here is added to the menu when seen.
const MODES = ["off", "cool", "heat", "auto_heat_cool", "fan_only"];
const FAN_MODES = ["auto", "on"];

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

/** A thermostat zone: mode, fan, heat and cool set points, and the air conditioner's own report. */
export function thermostatCard(entity) {
  const card = frame(entity, "thermostat");
  const big = h("div", { class: "big" });
  const sub = h("div", { class: "sub" });
  const modeSel = h("select", { "aria-label": `Mode of ${entity.name}` }, MODES.map((m) => h("option", { value: m, text: humanize(m) })));
  const fanSel = h("select", { "aria-label": `Fan of ${entity.name}` }, FAN_MODES.map((m) => h("option", { value: m, text: humanize(m) })));
  modeSel.addEventListener("change", () => sendCommand(entity.id, "set_mode", { mode: modeSel.value }));
  fanSel.addEventListener("change", () => sendCommand(entity.id, "set_fan", { mode: fanSel.value }));
  // Clicks on the steppers move a local target; one command goes out once the owner pauses.
  let target = null;
  let sendTimer = 0;
  const step = tempStep;
  const current = () => {
    const st = store.entities.get(entity.id).state;
    return { heat: st.heat_setpoint, cool: st.cool_setpoint };
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
    const ambient = st.ambient_temperature;
    big.textContent = isNum(ambient) ? `${fmtTemp(ambient)} inside` : "—";
    const mode = st.mode;
    // The air conditioner reports its own fan; the thermostat's fan_speed is only what it last asked for.
    const acFan = st.ac_fan_speed;
    const fanSpeed = isNum(acFan) ? acFan : st.fan_speed;
    sub.textContent = [mode !== null ? humanize(mode) : null,
      isNum(fanSpeed) ? `${isNum(acFan) ? "AC fan" : "fan"} ${fmtPct(fanSpeed)}` : null].filter(Boolean).join(" · ");
    if (document.activeElement !== modeSel && mode !== null) {
      if (![...modeSel.options].some((o) => o.value === mode)) modeSel.append(h("option", { value: mode, text: humanize(mode) }));
      modeSel.value = mode;
    }
    const fan = st.fan_mode;
    if (document.activeElement !== fanSel && fan !== null) {
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
    const active = mode !== null && mode !== "off";
    card.el.classList.toggle("is-on", active);
    updateFrame(card, e, active ? humanize(mode) : mode === "off" ? "Off" : "", active ? "ok" : "off");
  }
  return { el: card.el, update: render };
}

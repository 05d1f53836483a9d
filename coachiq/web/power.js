// Cards of the coach's power: batteries, the generator, the inverter and charger, the transfer switch. The
// keys are those of the DC source, generator, inverter, charger and transfer switch state models
// (GET /openapi.json).

import { acSource, generatorStatus, sendCommand, store } from "./state.js";
import {
  button, canCommand, fmtCurrent, fmtMinutes, fmtPct, fmtPower, fmtTemp, fmtVoltage, frame, h, has, historyStrip,
  humanize, isNum, readings, stats, updateFrame,
} from "./ui.js";

/** A battery's time to empty (discharging) or to full, when the device reports it. */
function batteryTime(st) {
  const minutes = st.time_remaining_min;
  if (!isNum(minutes)) return "—";
  const a = st.current;
  return isNum(a) && a < 0 ? `${fmtMinutes(minutes)} to full` : `${fmtMinutes(minutes)} left`;
}

/** A battery bank. */
export function batteryCard(entity) {
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
      const v = st.voltage;
      const a = st.current;
      big.textContent = fmtVoltage(v);
      s.set("soc", fmtPct(st.state_of_charge));
      s.set("current", fmtCurrent(a));
      s.set("power", isNum(v) && isNum(a) ? fmtPower(v * a) : "—");
      s.set("time", batteryTime(st));
      s.set("temp", fmtTemp(st.temperature));
      all.update(st);
      // RV-C DC source current is positive out of the battery (discharge), negative into it (charge).
      const charging = isNum(a) && a < -0.5;
      const discharging = isNum(a) && a > 0.5;
      updateFrame(card, e, charging ? "Charging" : discharging ? "Discharging" : "", charging ? "ok" : "off");
    },
  };
}

/** The generator, with start and stop. */
export function generatorCard(entity) {
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
      s.set("hours", isNum(st.run_time_min) ? fmtMinutes(st.run_time_min) : "—");
      s.set("voltage", fmtVoltage(st.start_battery_voltage));
      // The load means something only while it runs; a stopped generator keeps its last figure for a while.
      s.set("load", g.running ? fmtPct(st.load) : "—");
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

/** The inverter or the charger, with on and off: the inverter reports `status`, the charger `state`. */
export function powerDeviceCard(entity) {
  const charger = entity.type === "charger";
  const card = frame(entity, charger ? "charger" : "inverter");
  const big = h("div", { class: "big" });
  const s = stats([["voltage", "Voltage"], ["current", "Current"]]);
  const enable = button("Turn on", () => sendCommand(entity.id, "enable"));
  const disable = button("Turn off", () => sendCommand(entity.id, "disable"));
  const controls = has(entity, "enable");
  const all = readings();
  all.bind(() => store.entities.get(entity.id).state);
  card.body.append(big, charger ? s.el : null, controls ? h("div", { class: "row" }, enable, disable) : null, all.el);
  return {
    el: card.el,
    update(e) {
      const st = e.state;
      const status = charger ? st.state : st.status;
      // The inverter reports whether it is enabled; the charger's status carries no such flag (its state says
      // "disabled"), so both of its buttons stay offered.
      const enabled = charger ? null : st.enabled;
      big.textContent = enabled === false ? "Off" : status !== null ? humanize(status) : enabled === true ? "On" : "—";
      if (charger) {
        s.set("voltage", fmtVoltage(st.voltage));
        s.set("current", fmtCurrent(st.current));
      }
      const ok = canCommand(e);
      // Only the button that changes something is offered; an unknown state offers both.
      enable.disabled = !ok || enabled === true;
      disable.disabled = !ok || enabled === false;
      enable.className = enabled === false ? "btn btn-primary" : "btn";
      all.update(st);
      if (charger && st.charging === true) updateFrame(card, e, "Charging", "ok");
      else updateFrame(card, e, enabled === false ? "Off" : "", "off");
    },
  };
}

/** The transfer switch: where the AC comes from. */
export function transferSwitchCard(entity) {
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
      s.set("shore", fmtVoltage(st.shore_voltage));
      s.set("generator", fmtVoltage(st.generator_voltage));
      s.set("output", fmtVoltage(st.output_voltage));
      s.set("current", fmtCurrent(st.output_current));
      all.update(st);
      updateFrame(card, e, source === "No AC input" ? "No AC" : "", "warn");
    },
  };
}

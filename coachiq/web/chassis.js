// The Chassis card: road and engine speed, gear, temperatures, pressures, fuel, hours and active trouble
// codes of a chassis entity (RV-C chassis mobility status, or the chassis J1939 bus with the j1939
// feature). views.js loads it when a chassis card is first built; the home view shows it while driving.
// Readings a chassis does not report stay hidden. Field names are the server's: speed_kmh, engine_rpm,
// gear, park_brake, ignition, coolant_c, oil_pressure_kpa, fuel_level_pct, fuel_rate_lph, engine_hours,
// battery_v, trouble_codes, lamps.

import { store } from "./state.js";
import {
  fmtFlow, fmtHours, fmtPct, fmtPressure, fmtRpm, fmtSpeed, fmtTemp, fmtVoltage, h, humanize, icon, isNum, setChildren,
} from "./ui.js";

const READINGS = [
  ["speed_kmh", "Speed", fmtSpeed],
  ["gear", "Gear", (v) => (v === null || v === undefined ? "—" : humanize(String(v)))],
  ["engine_rpm", "Engine", fmtRpm],
  ["coolant_c", "Coolant", (v) => fmtTemp(v)],
  ["oil_pressure_kpa", "Oil pressure", fmtPressure],
  ["fuel_level_pct", "Fuel", fmtPct],
  ["fuel_rate_lph", "Fuel rate", fmtFlow],
  ["engine_hours", "Engine hours", fmtHours],
  ["battery_v", "Battery", fmtVoltage],
  ["park_brake", "Park brake", (v) => (v === true ? "Set" : v === false ? "Released" : "—")],
  ["ignition", "Ignition", (v) => (v === true ? "On" : v === false ? "Off" : "—")],
];

function codeText(code) {
  const count = isNum(code.occurrences) ? ` ×${code.occurrences}` : "";
  const from = isNum(code.source_address) ? ` · controller ${code.source_address}` : "";
  return `SPN ${code.spn} FMI ${code.fmi}${count}${from}`;
}

/** The card of one chassis entity, built into `el` when given; `update(entity)` patches it in place. */
export function chassisCard(entity, el = h("article")) {
  const badge = h("span", { class: "badge" });
  const big = h("div", { class: "big" });
  const stats = h("dl", { class: "stats" });
  const cells = new Map();
  for (const [key, label] of READINGS) {
    const dd = h("dd", { text: "—" });
    const wrap = h("div", { hidden: true }, h("dt", { text: label }), dd);
    stats.append(wrap);
    cells.set(key, { dd, wrap });
  }
  const codes = h("ul", { class: "codes", hidden: true, "aria-label": "Active trouble codes" });
  el.className = "card";
  Object.assign(el.dataset, { entity: entity.id, type: entity.type });
  el.setAttribute("aria-label", entity.name);
  el.append(h("div", { class: "card-head" }, icon("chassis", "card-icon"), h("h3", { text: entity.name }), badge),
    h("div", { class: "card-body" }, big, stats, codes));

  function update(e) {
    const st = e.state;
    el.classList.toggle("unavailable", !e.available);
    for (const [key, , format] of READINGS) {
      const cell = cells.get(key);
      const text = key in st ? format(st[key]) : "—";
      cell.dd.textContent = text;
      cell.wrap.hidden = text === "—";
    }
    const vehicle = store.safety?.vehicle_state;
    big.textContent = !e.available ? "Unavailable"
      : isNum(st.speed_kmh) && st.speed_kmh > 0 ? fmtSpeed(st.speed_kmh) : vehicle ? humanize(vehicle) : "—";
    const active = Array.isArray(st.trouble_codes) ? st.trouble_codes : [];
    setChildren(codes, active.map((c) => h("li", { text: codeText(c) })));
    codes.hidden = active.length === 0;
    const lamps = st.lamps && typeof st.lamps === "object" ? st.lamps : {};
    const stop = lamps.red_stop === "on";
    const warn = stop || lamps.amber_warning === "on" || lamps.malfunction === "on" || lamps.protect === "on";
    if (!e.available) {
      badge.className = "badge badge-danger";
      badge.textContent = "Unavailable";
    } else if (warn) {
      badge.className = `badge ${stop ? "badge-danger" : "badge-warn"}`;
      badge.textContent = stop ? "Stop engine" : "Check engine";
    } else {
      badge.className = `badge ${st.park_brake === true ? "badge-ok" : "badge-warn"}`;
      badge.textContent = st.park_brake === true ? "Brake set" : st.park_brake === false ? "Brake off" : "";
    }
  }

  return { el, update };
}

// The Chassis card: road and engine speed, gear, temperatures, pressures, fuel, hours and active trouble
// codes of a chassis entity (RV-C chassis mobility status, or the chassis J1939 bus with the j1939
// feature). On the home view it shows while the coach is driving. Readings a chassis does not report stay
// hidden. Field names are the server's: speed_kmh, engine_rpm, gear, park_brake, ignition, coolant_c,
// oil_pressure_kpa, fuel_level_pct, fuel_rate_lph, engine_hours, battery_v, trouble_codes, lamps.

import { store } from "./state.js";
import { fmtNum, fmtTemp, h, humanize, icon, isNum, setChildren } from "./ui.js";

const READINGS = [
  ["speed_kmh", "Speed", (v) => fmtNum(v, 0, "km/h")],
  ["gear", "Gear", (v) => (v === null || v === undefined ? "—" : humanize(String(v)))],
  ["engine_rpm", "Engine", (v) => fmtNum(v, 0, "rpm")],
  ["coolant_c", "Coolant", (v) => (isNum(v) ? fmtTemp(v) : "—")],
  ["oil_pressure_kpa", "Oil pressure", (v) => fmtNum(v, 0, "kPa")],
  ["fuel_level_pct", "Fuel", (v) => fmtNum(v, 0, "%")],
  ["fuel_rate_lph", "Fuel rate", (v) => fmtNum(v, 1, "L/h")],
  ["engine_hours", "Engine hours", (v) => fmtNum(v, 1, "h")],
  ["battery_v", "Battery", (v) => fmtNum(v, 1, "V")],
  ["park_brake", "Park brake", (v) => (v === true ? "Set" : v === false ? "Released" : "—")],
  ["ignition", "Ignition", (v) => (v === true ? "On" : v === false ? "Off" : "—")],
];

function codeText(code) {
  const count = isNum(code.occurrences) ? ` ×${code.occurrences}` : "";
  const from = isNum(code.source_address) ? ` · controller ${code.source_address}` : "";
  return `SPN ${code.spn} FMI ${code.fmi}${count}${from}`;
}

/** The card of one chassis entity; `update(entity)` patches it in place. */
export function chassisCard(entity) {
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
  const el = h("article", { class: "card", "data-entity": entity.id, "data-type": entity.type, "aria-label": entity.name },
    h("div", { class: "card-head" }, icon("chassis", "card-icon"), h("h3", { text: entity.name }), badge),
    h("div", { class: "card-body" }, big, stats, codes));

  function update(e) {
    const st = e.state || {};
    el.classList.toggle("unavailable", !e.available);
    for (const [key, , format] of READINGS) {
      const cell = cells.get(key);
      const text = key in st ? format(st[key]) : "—";
      cell.dd.textContent = text;
      cell.wrap.hidden = text === "—";
    }
    const vehicle = store.safety?.vehicle_state;
    big.textContent = !e.available ? "Unavailable"
      : isNum(st.speed_kmh) && st.speed_kmh > 0 ? fmtNum(st.speed_kmh, 0, "km/h") : vehicle ? humanize(vehicle) : "—";
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

/** Show `sectionEl` (the chassis cards of a view) only while the coach is driving. */
export function showWhileDriving(ctx, sectionEl) {
  ctx.watch(() => {
    sectionEl.hidden = store.safety?.vehicle_state !== "moving";
  });
  return sectionEl;
}

// The six views. Each view builds its cards once and is told which entities changed.

import { adminView } from "./admin.js";
import { createCard, isOn } from "./cards.js";
import { showWhileDriving } from "./chassis.js";
import { getJson, safeStateReasons, sendCommand, store } from "./state.js";
import {
  fmtBytes, fmtDuration, fmtNum, fmtPct, fmtTemp, h, humanize, icon, isNum, pick, setChildren, tempUnit,
} from "./ui.js";
import { diagnosticsView } from "./diagnostics.js";

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true });
const ofTypes = (...types) => [...store.entities.values()].filter((e) => types.includes(e.type)).sort(byName);

/** A view under construction: cards keyed by entity id so updates patch them in place. */
class ViewContext {
  constructor(main) {
    this.main = main;
    this.cards = new Map();
    this.extra = [];
    this.timers = [];
  }

  card(entity) {
    const card = createCard(entity);
    card.update(entity);
    this.cards.set(entity.id, card);
    return card.el;
  }

  /** Something to refresh on every change that is not one entity's card (summaries, counts). */
  watch(fn) {
    this.extra.push(fn);
    fn();
  }

  every(ms, fn) {
    fn();
    this.timers.push(setInterval(() => {
      if (document.visibilityState === "visible") fn();
    }, ms));
  }

  refresh(ids) {
    for (const id of ids || this.cards.keys()) {
      const card = this.cards.get(id);
      const entity = store.entities.get(id);
      if (card && entity) card.update(entity);
    }
    for (const fn of this.extra) fn();
  }

  destroy() {
    // Timers are interval ids; a function is an unsubscribe to call (a view's event listener).
    for (const t of this.timers) {
      if (typeof t === "function") t();
      else clearInterval(t);
    }
  }
}

function head(title, subtitle) {
  return h("div", { class: "view-head" }, h("h1", { text: title, tabindex: "-1" }), subtitle ? h("p", { text: subtitle }) : null);
}

function section(title, content, ...actions) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "section", "aria-labelledby": id },
    h("div", { class: "section-head" }, h("h2", { id, text: title }), ...actions), content);
}

function grid(cards, compact = false) {
  return cards.length ? h("div", { class: compact ? "grid compact" : "grid" }, cards) : null;
}

function empty(text) {
  return h("p", { class: "empty", text });
}

function noEntitiesYet() {
  return store.entities.size === 0
    ? h("p", { class: "empty", text: store.link === "live" ? "This coach has no devices mapped yet." : "Waiting for the coach…" })
    : null;
}

// ---- dashboard ----

function tile(ctx, title, iconName, href, compute) {
  const big = h("div", { class: "big" });
  const sub = h("div", { class: "sub" });
  const el = h("a", { class: "card tile", href }, h("div", { class: "card-head" }, icon(iconName, "card-icon"), h("h3", { text: title })), big, sub);
  ctx.watch(() => {
    const [value, detail] = compute();
    big.textContent = value;
    sub.textContent = detail || "";
  });
  return el;
}

function alertList(alerts) {
  if (!alerts.length) return null;
  return h("ul", { class: "alerts" }, alerts.map((a) => h("li", { class: String(a.priority || "").toLowerCase() },
    icon("alert"), h("div", {}, h("strong", { text: `${a.priority || "Alert"} · ${humanize(a.source || "")}` }),
      h("div", { text: a.message || "" })))));
}

function dashboard(ctx) {
  const alertsBox = h("div");
  ctx.every(10000, async () => {
    try {
      const health = await getJson("/health");
      setChildren(alertsBox, alertList(health.alerts || []) || empty("No active alerts."));
    } catch (err) {
      setChildren(alertsBox, empty(err.status === 503 ? "The server reports a problem: see System." : "Alerts are not available right now."));
    }
  });
  const power = [];
  for (const b of ofTypes("battery")) {
    power.push(tile(ctx, b.name, "battery", "#/power", () => {
      const e = store.entities.get(b.id);
      if (!e.available) return ["Unavailable", ""];
      const soc = pick(e.state, "state_of_charge");
      return [fmtNum(pick(e.state, "voltage"), 1, "V"), [isNum(soc) ? `${fmtPct(soc)} charged` : null,
        isNum(e.state.current) ? `${fmtNum(e.state.current, 1, "A")}` : null].filter(Boolean).join(" · ")];
    }));
  }
  for (const g of ofTypes("generator")) {
    power.push(tile(ctx, g.name, "generator", "#/power", () => {
      const e = store.entities.get(g.id);
      return e.available ? [humanize(pick(e.state, "status") ?? "—"), isNum(e.state.load) ? `Load ${fmtPct(e.state.load)}` : ""] : ["Unavailable", ""];
    }));
  }
  for (const t of ofTypes("transfer_switch")) {
    power.push(tile(ctx, t.name, "transfer_switch", "#/power", () => {
      const e = store.entities.get(t.id);
      if (!e.available) return ["Unavailable", ""];
      const shore = e.state.shore_voltage;
      const gen = e.state.generator_voltage;
      const src = isNum(shore) && shore > 90 ? "Shore power" : isNum(gen) && gen > 90 ? "Generator" : "No AC input";
      return [src, isNum(e.state.output_voltage) ? `${fmtNum(e.state.output_voltage, 0, "V")} out` : ""];
    }));
  }
  for (const i of ofTypes("inverter", "charger")) {
    power.push(tile(ctx, i.name, i.type, "#/power", () => {
      const e = store.entities.get(i.id);
      const st = pick(e.state, "state", "status");
      return e.available ? [humanize(st ?? "—"), e.state.enabled === false ? "Disabled" : ""] : ["Unavailable", ""];
    }));
  }
  const climate = ofTypes("thermostat").map((t) => tile(ctx, t.name, "thermostat", "#/climate", () => {
    const e = store.entities.get(t.id);
    if (!e.available) return ["Unavailable", ""];
    const mode = pick(e.state, "mode");
    const target = mode === "heat" ? e.state.heat_setpoint : mode === "cool" ? e.state.cool_setpoint : undefined;
    return [fmtTemp(pick(e.state, "ambient_temperature")), [humanize(mode ?? "—"), isNum(target) ? `to ${fmtTemp(target)}` : null].filter(Boolean).join(" ")];
  }));
  const lights = ofTypes("light");
  const coach = [
    lights.length ? tile(ctx, "Lights", "light", "#/lights", () => {
      const on = lights.filter((l) => isOn(store.entities.get(l.id)?.state || {})).length;
      return [on ? `${on} on` : "All off", `of ${lights.length}`];
    }) : null,
    tile(ctx, "Slides and awnings", "slide", "#/motion", () => {
      const s = store.safety;
      if (!s) return ["—", ""];
      const moving = ofTypes("slide", "awning", "jack").filter((e) => /extending|retracting/.test(String(e.state.motion))).length;
      return [humanize(s.vehicle_state || "unknown"), moving ? `${moving} moving` : s.safe_state ? "Locked out" : "Ready"];
    }),
  ].filter(Boolean);
  ctx.main.append(
    head("Your coach"),
    noEntitiesYet() || "",
    section("Alerts", alertsBox),
    section("Tanks", grid(ofTypes("tank").map((t) => ctx.card(t)), true) || empty("No tanks mapped.")),
    power.length ? section("Power", grid(power, true)) : "",
    climate.length ? section("Climate", grid(climate, true)) : "",
    section("Coach", grid(coach, true)),
    showWhileDriving(ctx, section("Chassis", grid(ofTypes("chassis").map((e) => ctx.card(e))))),
  );
}

// ---- lights ----

function lights(ctx) {
  // Fans and the water heater live on the climate view.
  const loads = ofTypes("light", "switch", "lock", "pump");
  const areas = new Map();
  for (const e of loads) {
    if (!areas.has(e.area)) areas.set(e.area, []);
    areas.get(e.area).push(e);
  }
  ctx.main.append(head("Lights", "Lights and switches by area"), noEntitiesYet() || "");
  if (store.entities.size && !loads.length) ctx.main.append(empty("No lights are mapped in this coach."));
  for (const [area, list] of [...areas.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const areaLights = list.filter((e) => e.type === "light" && (e.capabilities.includes("turn_off")));
    let allOff = null;
    if (areaLights.length > 1) {
      allOff = h("button", { type: "button", class: "btn btn-small", "aria-label": `All lights off in ${area}` }, "All off");
      allOff.addEventListener("click", () => {
        for (const l of areaLights) {
          if (isOn(store.entities.get(l.id)?.state || {})) sendCommand(l.id, "turn_off");
        }
      });
      ctx.watch(() => {
        const anyOn = areaLights.some((l) => isOn(store.entities.get(l.id)?.state || {}));
        allOff.disabled = store.link !== "live" || !anyOn;
      });
    }
    ctx.main.append(section(humanize(area), grid(list.map((e) => ctx.card(e))), allOff));
  }
}

// ---- climate ----

function climate(ctx) {
  ctx.main.append(head("Climate"), noEntitiesYet() || "");
  const zones = ofTypes("thermostat");
  ctx.main.append(section("Zones", grid(zones.map((e) => ctx.card(e))) || empty("No thermostats mapped.")));
  const heat = ofTypes("furnace", "water_heater", "fan");
  if (heat.length) ctx.main.append(section("Heating, water and fans", grid(heat.map((e) => ctx.card(e)))));
}

// ---- power ----

function power(ctx) {
  ctx.main.append(head("Power"), noEntitiesYet() || "");
  const sources = ofTypes("generator", "transfer_switch");
  if (sources.length) ctx.main.append(section("Generator and shore power", grid(sources.map((e) => ctx.card(e)))));
  const conv = ofTypes("inverter", "charger");
  if (conv.length) ctx.main.append(section("Inverter and charger", grid(conv.map((e) => ctx.card(e)))));
  const batt = ofTypes("battery");
  if (batt.length) ctx.main.append(section("Batteries", grid(batt.map((e) => ctx.card(e)))));
  if (store.entities.size && !sources.length && !conv.length && !batt.length) ctx.main.append(empty("No power devices mapped."));
}

// ---- slides, awnings, jacks ----

function motion(ctx) {
  const status = h("div", { class: "card" });
  ctx.watch(() => {
    const s = store.safety;
    if (!s) {
      setChildren(status, h("div", { class: "sub", text: "Waiting for the safety state…" }));
      return;
    }
    const reasons = safeStateReasons();
    const parked = s.vehicle_state === "parked" && s.interlocks?.slides_awnings_allowed !== false;
    setChildren(status,
      h("div", { class: "card-head" }, icon("chassis", "card-icon"), h("h3", { text: "Interlocks" }),
        h("span", { class: `badge ${s.emergency_stop ? "badge-danger" : reasons.length || !parked ? "badge-warn" : "badge-ok"}`,
          text: s.emergency_stop ? "Emergency stop" : reasons.length || !parked ? "Motion locked out" : "Motion allowed" })),
      h("dl", { class: "kv" },
        h("dt", { text: "Vehicle" }), h("dd", { text: humanize(s.vehicle_state || "unknown") }),
        h("dt", { text: "Safe state" }), h("dd", { text: reasons.length ? reasons.join("; ") : "Off" }),
        h("dt", { text: "Emergency stop" }), h("dd", { text: s.emergency_stop ? "On" : "Off" }),
        interlockRows(s.interlocks)));
  });
  ctx.main.append(head("Slides, awnings and jacks", "Hold a button to move; release to stop."), noEntitiesYet() || "",
    section("Safety", status));
  for (const [title, types] of [["Slides", ["slide"]], ["Awnings", ["awning"]], ["Leveling jacks", ["jack"]],
    ["Shades", ["shade"]], ["Vehicle", ["chassis"]]]) {
    const list = ofTypes(...types);
    if (list.length) ctx.main.append(section(title, grid(list.map((e) => ctx.card(e)))));
  }
}

const yesNo = (v, yes, no) => (v === true ? yes : v === false ? no : "Unknown");

function interlockRows(interlocks) {
  if (!interlocks || typeof interlocks !== "object") return [];
  const i = interlocks;
  const rows = [
    ["Park brake", yesNo(i.park_brake_set, "Set", "Not set")],
    ["Engine", yesNo(i.engine_off, "Off", "Running")],
    ["Speed", isNum(i.speed_kmh) ? `${Math.round(i.speed_kmh)} km/h` : "Unknown"],
    ["Slides and awnings", yesNo(i.slides_awnings_allowed, "May move", "Locked out")],
    ["Leveling jacks", yesNo(i.jacks_allowed, "May move", "Locked out")],
  ];
  if (i.source) rows.push(["Chassis data from", i.source === "j1939" ? "Chassis bus (J1939)" : "RV-C"]);
  if (i.moving_reason) rows.push(["Counts as moving", i.moving_reason]);
  return rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: v })]);
}

// ---- system ----

function table(headers, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

function statusBadge(status) {
  const kind = /^(healthy|running|ok|up|ready|connected)$/i.test(status) ? "ok"
    : /^(disabled|pending|unavailable)$/i.test(status) ? "off" : /degraded|starting/i.test(status) ? "warn" : "danger";
  return h("span", { class: `badge badge-${kind}`, text: humanize(status) });
}

function system(ctx) {
  const healthBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  const canBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  const unmappedBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  const settings = h("div", { class: "card" });
  ctx.main.append(head("System"), h("p", {}, h("a", { href: "#/diagnostics", text: "Trouble codes (Diagnostics)" })),
    section("Health", healthBox), section("CAN bus", canBox),
    section("Unmapped devices", unmappedBox), section("Display", settings));

  ctx.every(5000, async () => {
    let health;
    let info = null;
    try {
      [health, info] = await Promise.all([getJson("/health").catch((e) => e.body || Promise.reject(e)),
        getJson("/api/v2/system").catch(() => null)]);
    } catch (err) {
      setChildren(healthBox, empty(`Health is not available: ${err.message}`));
      return;
    }
    const m = health.system_metrics || {};
    const rows = (obj) => Object.entries(obj || {}).map(([name, c]) => [[h("strong", { text: name }),
      c.detail ? h("small", { text: c.detail }) : null], statusBadge(c.status)]);
    setChildren(healthBox,
      h("div", { class: "card-head" }, h("h3", { text: "Server" }), statusBadge(health.status || "unknown")),
      h("dl", { class: "kv" },
        h("dt", { text: "Version" }), h("dd", { text: health.version || info?.version || "—" }),
        info ? [h("dt", { text: "Coach" }), h("dd", { text: `${info.coach}${info.simulated ? " (simulated)" : ""}` })] : null,
        h("dt", { text: "Up" }), h("dd", { text: fmtDuration(m.uptime_s) }),
        h("dt", { text: "Memory" }), h("dd", { text: fmtBytes(m.rss_bytes) }),
        h("dt", { text: "CPU" }), h("dd", { text: isNum(m.cpu_percent) ? `${m.cpu_percent}%` : "—" }),
        h("dt", { text: "Database" }), h("dd", { text: `${fmtBytes(m.db_size_bytes)} · ${m.db_revision || "—"}` })),
      h("h3", { class: "sub", text: "Core services" }), table(["Service", "Status"], rows(health.core_services)),
      h("h3", { class: "sub", text: "Features" }), table(["Feature", "Status"], rows(health.features)),
      h("h3", { class: "sub", text: "Alerts" }), alertList(health.alerts || []) || empty("No active alerts."));
  });

  ctx.every(5000, async () => {
    try {
      const [ifaces, stats] = await Promise.all([getJson("/api/v2/can/interfaces"), getJson("/api/v2/can/statistics")]);
      const rows = (ifaces.interfaces || []).map((i) => {
        const s = stats.interfaces?.[i.name] || {};
        return [i.name, `${i.interface} ${i.channel}`, statusBadge(i.state || "unknown"), String(s.rx_frames ?? "—"),
          String(s.tx_frames ?? "—"), String(s.errors ?? "—"), isNum(s.bus_load_percent) ? `${s.bus_load_percent.toFixed(1)}%` : "—"];
      });
      setChildren(canBox, table(["Bus", "Interface", "State", "Received", "Sent", "Errors", "Load"], rows),
        h("dl", { class: "kv" }, h("dt", { text: "Decoded frames" }), h("dd", { text: String(stats.decoded_frames ?? "—") }),
          h("dt", { text: "Decode errors" }), h("dd", { text: String(stats.decode_errors ?? "—") }),
          h("dt", { text: "Unknown DGNs" }), h("dd", { text: String(Object.keys(stats.unknown_dgns || {}).length) })));
    } catch (err) {
      setChildren(canBox, empty(`CAN statistics are not available: ${err.message}`));
    }
  });

  ctx.every(10000, async () => {
    try {
      const body = await getJson("/api/v2/entities/unmapped");
      const list = body.unmapped || [];
      if (!list.length) {
        setChildren(unmappedBox, empty("Every device heard on the bus is mapped."));
        return;
      }
      setChildren(unmappedBox, h("p", { class: "sub", text: `${list.length} device(s) on the bus are not in the coach mapping.` }),
        table(["DGN", "Instance", "Source", "Frames", "Suggested entry"], list.slice(0, 100).map((u) => [
          `${u.name || ""} 0x${Number(u.dgn).toString(16).toUpperCase()}`, String(u.instance ?? "—"), String(u.source_address),
          String(u.count), h("details", {}, h("summary", { text: "Show" }),
            h("pre", { text: typeof u.suggested === "string" ? u.suggested : JSON.stringify(u.suggested, null, 2) }))])));
    } catch (err) {
      setChildren(unmappedBox, empty(`Unmapped devices are not available: ${err.message}`));
    }
  });

  const unitSel = h("select", { id: "temp-unit" }, h("option", { value: "C", text: "Celsius (°C)" }), h("option", { value: "F", text: "Fahrenheit (°F)" }));
  unitSel.value = tempUnit();
  unitSel.addEventListener("change", () => {
    localStorage.setItem("coachiq.temp_unit", unitSel.value);
    location.reload();
  });
  settings.append(h("label", { class: "field", for: "temp-unit" }, "Temperatures in", unitSel));
}

export const VIEWS = {
  dashboard: { title: "Home", build: dashboard },
  lights: { title: "Lights", build: lights },
  climate: { title: "Climate", build: climate },
  power: { title: "Power", build: power },
  motion: { title: "Slides", build: motion },
  system: { title: "System", build: system },
  admin: { title: "Admin", build: adminView },
  diagnostics: { title: "Diagnostics", build: diagnosticsView },
};

/** Mount a view into `main`; returns its context for updates. */
export function mountView(name, main) {
  const ctx = new ViewContext(main);
  main.replaceChildren();
  VIEWS[name].build(ctx);
  return ctx;
}

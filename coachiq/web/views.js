// The views. Each view builds its cards once and is told which entities changed.

import {
  acSource, emergencyStopOn, generatorStatus, getJson, motionBlockReason, safeStateReasons, sendCommand, store,
} from "./state.js";
import { tankCard } from "./tanks.js";
import {
  fmtDuration, fmtPct, fmtTemp, fmtVoltage, getPrefs, h, has, humanize, icon, isNum, readingsCard, sentence,
  setChildren,
} from "./ui.js";

// ---- building blocks every view uses (the lazily loaded views import them from here) ----

export function head(title, subtitle) {
  return h("div", { class: "view-head" }, h("h1", { text: title, tabindex: "-1" }), subtitle ? h("p", { text: subtitle }) : null);
}

export function section(title, content, ...actions) {
  const id = `s-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return h("section", { class: "section", "aria-labelledby": id },
    h("div", { class: "section-head" }, h("h2", { id, text: title }), ...actions), content);
}

export function grid(cards, compact = false) {
  return cards.length ? h("div", { class: compact ? "grid compact" : "grid" }, cards) : null;
}

export function empty(text) {
  return h("p", { class: "empty", text });
}

/** A table in a scrollable region that a keyboard can reach and a screen reader can name. */
export function table(label, headers, rows) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": label }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

export function statusBadge(status) {
  const kind = /^(healthy|running|ok|up|ready|connected)$/i.test(status) ? "ok"
    : /^(disabled|pending|unavailable)$/i.test(status) ? "off" : /degraded|starting/i.test(status) ? "warn" : "danger";
  return h("span", { class: `badge badge-${kind}`, text: humanize(status) });
}

export function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
}

// ---- cards: one module per device family ----

// The tank cards are on the first view and come with it. Every other family's module is loaded when a card
// of its family is first built, and in the background once the first values show (prefetchCards): on a slow
// link each module the first view waits for costs a round trip, and the browser fetches at most six at once.
const FAMILIES = {
  lights: () => import("./lights.js"), power: () => import("./power.js"), climate: () => import("./climate.js"),
  motion: () => import("./motion.js"), leveling: () => import("./leveling.js"), chassis: () => import("./chassis.js"),
};
const loaded = {};

function family(name) {
  return FAMILIES[name]().then((m) => {
    loaded[name] = m;
    return m;
  });
}

const ON_OFF = new Set(["light", "switch", "pump", "fan", "water_heater", "furnace"]);

/** The family module that builds an entity's card, and how: [name, build(module, entity, el)]. */
function cardMaker(entity) {
  const type = entity.type;
  if (ON_OFF.has(type)) {
    return has(entity, "turn_on") || has(entity, "toggle") ? ["lights", (m, e) => m.onOffCard(e)] : null;
  }
  switch (type) {
    case "lock": return ["lights", (m, e) => m.lockCard(e)];
    case "battery": return ["power", (m, e) => m.batteryCard(e)];
    case "generator": return ["power", (m, e) => m.generatorCard(e)];
    case "inverter": case "charger": return ["power", (m, e) => m.powerDeviceCard(e)];
    case "transfer_switch": return ["power", (m, e) => m.transferSwitchCard(e)];
    case "thermostat": return ["climate", (m, e) => m.thermostatCard(e)];
    case "jack": return has(entity, "auto_level") ? ["leveling", (m, e, el) => m.levelingCard(e, el)]
      : ["motion", (m, e) => m.motionCard(e)];
    case "slide": case "awning": case "shade": return ["motion", (m, e) => m.motionCard(e)];
    case "chassis": return ["chassis", (m, e, el) => m.chassisCard(e, el)];
    default: return null;
  }
}

/** Build the card for an entity: at once when its family's module is here, else an empty article in its
 * place, filled when the module arrives. */
export function createCard(entity) {
  if (entity.type === "tank") return tankCard(entity, getPrefs);
  const maker = cardMaker(entity);
  if (!maker) return readingsCard(entity);
  const [name, build] = maker;
  const el = h("article", { class: "card", "data-entity": entity.id, "data-type": entity.type, "aria-label": entity.name });
  if (loaded[name]) return build(loaded[name], entity, el);
  let card = null;
  let last = entity;
  family(name).then((m) => {
    card = build(m, last, el);
    if (card.el !== el) el.replaceWith(card.el);
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

/** Load every family's card module in the background (after the first values). */
export function prefetchCards() {
  for (const name of Object.keys(FAMILIES)) if (!loaded[name]) family(name);
}

/** Stop every motion this page is driving (page hidden, view changed, emergency stop). */
export function stopAllMotion() {
  loaded.motion?.stopAllMotion();
}

const isOn = (entity) => entity?.state.on === true;

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { numeric: true });
const ofTypes = (...types) => [...store.entities.values()].filter((e) => types.includes(e.type)).sort(byName);

/** A view under construction: cards keyed by entity id so updates patch them in place. */
class ViewContext {
  constructor(main) {
    this.main = main;
    this.cards = new Map();
    this.extra = [];
    this.timers = [];
    this.live = true;
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
    this.live = false;
    // Timers are interval ids; a function is an unsubscribe to call (a view's event listener).
    for (const t of this.timers) {
      if (typeof t === "function") t();
      else clearInterval(t);
    }
  }
}

/** Whether the page knows the coach's devices (a snapshot or the list arrived). */
const known = () => store.entities.size > 0;

function noEntitiesYet() {
  if (known()) return null;
  return h("p", { class: "empty", text: store.link === "live" ? "This coach has no devices mapped yet." : "Waiting for the coach…" });
}

/** An empty note only once the coach's devices are known: before that, "none" would be a guess. */
function none(text) {
  return known() ? empty(text) : null;
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

export function alertList(alerts) {
  if (!alerts.length) return null;
  return h("ul", { class: "alerts" }, alerts.map((a) => h("li", { class: String(a.priority || "").toLowerCase() },
    icon("alert"), h("div", {}, h("strong", { text: a.title || humanize(a.source || "Alert") }),
      h("div", { text: a.message || "" })))));
}

/** What the slides tile says: locked out (and why) unless the page knows motion is allowed now. */
function motionSummary() {
  const movers = ofTypes("slide", "awning", "jack");
  const moving = movers.filter((e) => /extending|retracting/.test(String(e.state.motion))).length;
  if (store.link !== "live" || !store.safety) return ["Unknown", "Not connected to the coach"];
  if (emergencyStopOn()) return ["Locked out", "Emergency stop is on"];
  // The tile speaks for slides and awnings: their interlock, not the jacks' (which also need the engine off).
  const slideOrAwning = movers.find((e) => e.type !== "jack");
  const why = slideOrAwning ? motionBlockReason(slideOrAwning) : null;
  if (moving) return ["Moving", `${moving} moving`];
  return why ? ["Locked out", why] : ["Ready", "Parked, brake set"];
}

/** The chassis cards, shown only while the coach is driving (and built then: chassis.js loads on demand). */
function chassisWhileDriving(ctx) {
  const cards = h("div", { class: "grid" });
  const el = section("Chassis", cards);
  el.hidden = true;
  ctx.watch(() => {
    const chassis = ofTypes("chassis");
    el.hidden = store.safety?.vehicle_state !== "moving" || !chassis.length;
    if (!el.hidden && !cards.childElementCount) cards.append(...chassis.map((e) => ctx.card(e)));
  });
  return el;
}

function dashboard(ctx) {
  const power = [];
  for (const b of ofTypes("battery")) {
    power.push(tile(ctx, b.name, "battery", "#/power", () => {
      const e = store.entities.get(b.id);
      if (!e.available) return ["Unavailable", ""];
      const soc = e.state.state_of_charge;
      return [fmtVoltage(e.state.voltage), isNum(soc) ? `${fmtPct(soc)} charged` : ""];
    }));
  }
  for (const g of ofTypes("generator")) {
    power.push(tile(ctx, g.name, "generator", "#/power", () => {
      const e = store.entities.get(g.id);
      if (!e.available) return ["Unavailable", ""];
      const status = generatorStatus(e.state);
      return [status.text, status.running ? `Load ${fmtPct(e.state.load)}` : ""];
    }));
  }
  for (const t of ofTypes("transfer_switch")) {
    power.push(tile(ctx, t.name, "transfer_switch", "#/power", () => {
      const e = store.entities.get(t.id);
      if (!e.available) return ["Unavailable", ""];
      return [acSource(e.state), isNum(e.state.output_voltage) ? `${fmtVoltage(e.state.output_voltage)} out` : ""];
    }));
  }
  const climate = ofTypes("thermostat").map((t) => tile(ctx, t.name, "thermostat", "#/climate", () => {
    const e = store.entities.get(t.id);
    if (!e.available) return ["Unavailable", ""];
    const mode = e.state.mode;
    const target = mode === "heat" ? e.state.heat_setpoint : mode === "cool" ? e.state.cool_setpoint : undefined;
    return [fmtTemp(e.state.ambient_temperature),
      [humanize(mode), isNum(target) ? `to ${fmtTemp(target, { precise: true })}` : null].filter(Boolean).join(" ")];
  }));
  const lightList = ofTypes("light");
  const coach = [
    lightList.length ? tile(ctx, "Lights", "light", "#/lights", () => {
      const on = lightList.filter((l) => isOn(store.entities.get(l.id))).length;
      return [on ? `${on} on` : "All off", `of ${lightList.length}`];
    }) : null,
    ofTypes("slide", "awning", "jack").length ? tile(ctx, "Slides and awnings", "slide", "#/motion", motionSummary) : null,
  ].filter(Boolean);
  const tanks = grid(ofTypes("tank").map((t) => ctx.card(t)), true);
  ctx.main.append(
    head("Your coach"),
    noEntitiesYet() || "",
    known() ? section("Tanks", tanks || none("No tanks mapped.")) : "",
    power.length ? section("Power", grid(power, true)) : "",
    climate.length ? section("Climate", grid(climate, true)) : "",
    coach.length ? section("Coach", grid(coach, true)) : "",
    chassisWhileDriving(ctx),
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
  if (known() && ofTypes("light").length) {
    // Scenes load on first use, off the first page load's path.
    const slot = h("div");
    ctx.main.append(slot);
    import("./scenes.js").then((m) => slot.replaceWith(m.scenesSection(ctx)));
  }
  if (known() && !loads.length) ctx.main.append(empty("No lights are mapped in this coach."));
  for (const [area, list] of [...areas.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const areaLights = list.filter((e) => e.type === "light" && (e.capabilities.includes("turn_off")));
    let allOff = null;
    if (areaLights.length > 1) {
      allOff = h("button", { type: "button", class: "btn btn-small", "aria-label": `All off in ${humanize(area)}` }, "All off");
      allOff.addEventListener("click", () => {
        for (const l of areaLights) {
          if (isOn(store.entities.get(l.id))) sendCommand(l.id, "turn_off");
        }
      });
      ctx.watch(() => {
        const anyOn = areaLights.some((l) => isOn(store.entities.get(l.id)));
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
  ctx.main.append(section("Zones", grid(zones.map((e) => ctx.card(e))) || none("No thermostats mapped.")));
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
  if (known() && !sources.length && !conv.length && !batt.length) ctx.main.append(empty("No power devices mapped."));
}

// ---- slides, awnings, jacks ----

const yesNo = (v, yes, no) => (v === true ? yes : v === false ? no : "Unknown");

function interlockBadge(s, live) {
  if (!live || !s) return ["badge-off", "Unknown"];
  if (emergencyStopOn()) return ["badge-danger", "Emergency stop"];
  const allowed = s.interlocks.slides_awnings_allowed;
  return allowed ? ["badge-ok", "Motion allowed"] : ["badge-warn", "Motion locked out"];
}

function motion(ctx) {
  const status = h("div", { class: "card", id: "interlocks" });
  ctx.watch(() => {
    // What the page has not heard from the coach (now) is unknown, never safe.
    const live = store.link === "live";
    const s = live ? store.safety : null;
    const [kind, text] = interlockBadge(s, live);
    const i = s?.interlocks || {};
    const reasons = s ? safeStateReasons() : [];
    setChildren(status,
      h("div", { class: "card-head" }, icon("chassis", "card-icon"), h("h3", { text: "Interlocks" }),
        h("span", { class: `badge ${kind}`, text })),
      live ? null : h("p", { class: "sub", text: "Not connected to the coach: nothing here is current." }),
      kv([
        ["Vehicle", s ? humanize(s.vehicle_state || "unknown") : "Unknown"],
        ["Safe state", s ? (reasons.length ? reasons.join("; ") : "Off") : "Unknown"],
        ["Emergency stop", s ? (emergencyStopOn() ? "On" : "Off") : "Unknown"],
        ["Park brake", yesNo(i.park_brake_set, "Set", "Not set")],
        ["Engine", yesNo(i.engine_off, "Off", "Running")],
        ["Speed", isNum(i.speed_kmh) ? `${Math.round(i.speed_kmh)} km/h` : "Unknown"],
        ["Slides and awnings", yesNo(i.slides_awnings_allowed, "May move", "Locked out")],
        ["Leveling jacks", yesNo(i.jacks_allowed, "May move", "Locked out")],
        // Why, in the safety gate's own words (the same reason a refused command gets).
        s?.motion_blocked.slide ? ["Why", sentence(s.motion_blocked.slide)] : null,
        i.source ? ["Chassis data from", i.source === "j1939" ? "Chassis bus (J1939)" : "RV-C"] : null,
        i.moving_reason ? ["Counts as moving", i.moving_reason] : null,
      ]));
  });
  ctx.main.append(head("Slides, awnings and jacks", "Hold a button to move; release to stop."), noEntitiesYet() || "",
    section("Safety", status));
  for (const [title, types] of [["Slides", ["slide"]], ["Awnings", ["awning"]], ["Leveling jacks", ["jack"]],
    ["Shades", ["shade"]], ["Vehicle", ["chassis"]]]) {
    const list = ofTypes(...types);
    if (list.length) ctx.main.append(section(title, grid(list.map((e) => ctx.card(e)))));
  }
}

// ---- system: the owner's summary (the technician's detail is on the Diagnostics view) ----

function system(ctx) {
  const coachBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  const alertsBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  ctx.main.append(head("System"), section("Coach", coachBox), section("Alerts", alertsBox),
    h("p", { class: "link-row" }, h("a", { href: "#/settings", class: "btn" }, "Settings: units and alerts"),
      h("a", { href: "#/diagnostics", class: "btn" }, "Diagnostics")));
  ctx.every(5000, async () => {
    let health = null;
    let info = null;
    try {
      [health, info] = await Promise.all([getJson("/health").catch((e) => e.body || Promise.reject(e)),
        getJson("/api/v2/system").catch(() => null)]);
    } catch (err) {
      setChildren(coachBox, empty("The coach's server cannot be reached."));
      setChildren(alertsBox, empty("Alerts are not available right now."));
      return;
    }
    const ok = /^(healthy|ok)$/i.test(String(health.status));
    setChildren(coachBox, kv([
      info ? ["Coach", `${humanize(String(info.coach).replace(/_/g, " "))}${info.simulated ? " (simulated)" : ""}`] : null,
      ["Connection", store.link === "live" ? "Connected" : "Not connected"],
      ["Server", ok ? "Working normally" : "Needs attention: see Diagnostics"],
      ["Running for", fmtDuration(health.system_metrics?.uptime_s ?? info?.uptime_s)],
      ["Version", health.version || info?.version || "—"],
    ]));
    setChildren(alertsBox, alertList(health.alerts || []) || empty("No active alerts."));
  });
}

export const VIEWS = {
  dashboard: { title: "Home", build: dashboard },
  lights: { title: "Lights", build: lights },
  climate: { title: "Climate", build: climate },
  power: { title: "Power", build: power },
  motion: { title: "Slides", build: motion },
  system: { title: "System", build: system },
  // Seldom opened: loaded when first shown, off the first page load's path.
  settings: { title: "Settings", build: (ctx) => import("./settings.js").then((m) => ctx.live && m.settings(ctx)) },
  diagnostics: { title: "Diagnostics", build: (ctx) => import("./diagnostics.js").then((m) => ctx.live && m.diagnostics(ctx)) },
  // Opened from the admin's name in the header (authentication on).
  admin: { title: "Admin", build: (ctx) => import("./admin.js").then((m) => ctx.live && m.adminView(ctx)) },
};

/** Mount a view into `main`; returns its context for updates. */
export function mountView(name, main) {
  const ctx = new ViewContext(main);
  main.replaceChildren();
  VIEWS[name].build(ctx);
  return ctx;
}

// The owner's preferences (units, clock, alert thresholds) and one formatter per quantity, so that a
// reading looks the same on every card and every view, always with its unit.

const KEY = "coachiq.prefs";
const DEFAULTS = {
  temp: "C", // "C" | "F"
  volume: "L", // "L" | "gal" (US gallons)
  clock: "24", // "24" | "12"
  tankFullPct: 85, // waste tanks at or above: nearly full
  tankEmptyPct: 15, // fresh water and LPG at or below: nearly empty
  batteryLowPct: 30, // house battery state of charge at or below: low
};
const LITRES_PER_GALLON = 3.785411784;
const NNBSP = "\u202f";

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "{}");
    // An older page kept only the temperature unit under its own key.
    if (!saved.temp && localStorage.getItem("coachiq.temp_unit") === "F") saved.temp = "F";
    return { ...DEFAULTS, ...(saved && typeof saved === "object" ? saved : {}) };
  } catch {
    return { ...DEFAULTS };
  }
}

let prefs = load();
const watchers = new Set();

/** The owner's preferences. */
export function getPrefs() { return prefs; }

/** Change some preferences; every watcher (the views) redraws with them. */
export function setPrefs(changes) {
  prefs = { ...prefs, ...changes };
  localStorage.setItem(KEY, JSON.stringify(prefs));
  for (const fn of watchers) fn(prefs);
}

/** Call `fn` whenever the preferences change; returns the unsubscribe function. */
export function onPrefs(fn) {
  watchers.add(fn);
  return () => watchers.delete(fn);
}

export function isNum(v) { return typeof v === "number" && Number.isFinite(v); }

function num(v, digits) {
  // -0.0 reads oddly; trailing zeros are kept so that a column of readings lines up.
  const text = v.toFixed(digits);
  return /^-0(\.0+)?$/.test(text) ? text.slice(1) : text;
}

function withUnit(text, unit) { return `${text}${NNBSP}${unit}`; }

// ---- temperature ----
export function tempUnit() { return prefs.temp === "F" ? "F" : "C"; }
export function toDisplayTemp(c) { return tempUnit() === "F" ? c * 9 / 5 + 32 : c; }
export function fromDisplayTemp(t) { return tempUnit() === "F" ? (t - 32) * 5 / 9 : t; }
/** The step of a set point in the owner's unit: half a degree Celsius, one degree Fahrenheit. */
export function tempStep() { return tempUnit() === "F" ? 1 : 0.5; }

/**
 * A temperature (°C in) in the owner's unit. `precise` shows a set point at the precision it is set
 * with (21.5 °C, 71 °F); readings round to whole degrees.
 */
export function fmtTemp(c, { precise = false } = {}) {
  if (!isNum(c)) return "—";
  const t = toDisplayTemp(c);
  if (precise && tempUnit() === "C") {
    const half = Math.round(t * 2) / 2;
    return `${Number.isInteger(half) ? num(half, 0) : num(half, 1)}${NNBSP}°C`;
  }
  return `${num(Math.round(t), 0)}${NNBSP}°${tempUnit()}`;
}

// ---- electricity ----
export function fmtVoltage(v) { return isNum(v) ? withUnit(num(v, Math.abs(v) >= 100 ? 0 : 2), "V") : "—"; }
export function fmtCurrent(a) { return isNum(a) ? withUnit(num(a, 1), "A") : "—"; }
export function fmtPower(w) {
  if (!isNum(w)) return "—";
  return Math.abs(w) >= 10000 ? withUnit(num(w / 1000, 1), "kW") : withUnit(num(w, 0), "W");
}
export function fmtFrequency(hz) { return isNum(hz) ? withUnit(num(hz, 1), "Hz") : "—"; }

// ---- the rest ----
export function fmtPct(v) { return isNum(v) ? withUnit(num(Math.round(v), 0), "%") : "—"; }
export function fmtSpeed(kmh) { return isNum(kmh) ? withUnit(num(kmh, 0), "km/h") : "—"; }
export function fmtRpm(rpm) { return isNum(rpm) ? withUnit(num(rpm, 0), "rpm") : "—"; }

export function volumeUnit() { return prefs.volume === "gal" ? "gal" : "L"; }
/** A volume (litres in) in the owner's unit. */
export function fmtVolume(litres) {
  if (!isNum(litres)) return "—";
  return volumeUnit() === "gal" ? withUnit(num(litres / LITRES_PER_GALLON, 0), "gal") : withUnit(num(litres, 0), "L");
}

/** A duration in minutes, for the owner: "45 min", "3 h 20 min", "2.5 days". */
export function fmtMinutes(min) {
  if (!isNum(min)) return "—";
  if (min < 90) return withUnit(num(Math.round(min), 0), "min");
  if (min < 48 * 60) {
    const hours = Math.floor(min / 60);
    const rest = Math.round(min - hours * 60);
    return rest ? `${hours}${NNBSP}h ${rest}${NNBSP}min` : withUnit(String(hours), "h");
  }
  return withUnit(num(min / 1440, 1), "days");
}

export function fmtDuration(s) { return isNum(s) ? (s < 90 ? withUnit(num(Math.round(s), 0), "s") : fmtMinutes(s / 60)) : "—"; }

export function fmtBytes(v) {
  if (!isNum(v)) return "—";
  if (v >= 1048576) return withUnit(num(v / 1048576, 1), "MiB");
  if (v >= 1024) return withUnit(num(v / 1024, 0), "KiB");
  return withUnit(String(v), "B");
}

/** A time of day (epoch ms in) on the owner's clock. */
export function fmtClock(ms) {
  if (!isNum(ms)) return "—";
  return new Date(ms).toLocaleTimeString([], { hour: "numeric", minute: "2-digit", hour12: prefs.clock === "12" });
}

/** A date and time (epoch ms in) on the owner's clock. */
export function fmtDateTime(ms) {
  if (!isNum(ms)) return "—";
  return new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short", hour12: prefs.clock === "12" });
}

// Which quantity a state field holds, by the server's field names (its schema is the contract).
const FIELD_QUANTITY = [
  [/(^|_)voltage$|_v$/, fmtVoltage],
  [/(^|_)current$|_a$/, fmtCurrent],
  [/(^|_)power$|_w$/, fmtPower],
  [/frequency$/, fmtFrequency],
  [/temperature$|setpoint$/, (v) => fmtTemp(v, { precise: true })],
  [/(^|_)(level|load|state_of_charge|fan_speed|heat_output|motor_duty|position|output_level)$/, fmtPct],
  [/_min$/, fmtMinutes],
  [/_kmh$/, fmtSpeed],
  [/rpm$/, fmtRpm],
  [/_l$/, fmtVolume],
];

/** A state field's value with its unit, by the field's name; text for anything that is not a number. */
export function fmtField(key, value, humanize) {
  if (isNum(value)) {
    for (const [pattern, format] of FIELD_QUANTITY) if (pattern.test(key)) return format(value);
    return num(value, Number.isInteger(value) ? 0 : 2);
  }
  return humanize(value);
}

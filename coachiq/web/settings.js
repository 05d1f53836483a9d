// The owner's settings: units, clock, and the thresholds of the alerts the page raises.

import { head, section } from "./views.js";
import { getPrefs, h, setPrefs } from "./ui.js";

function choice(id, label, key, options) {
  const select = h("select", { id }, options.map(([value, text]) => h("option", { value, text })));
  select.value = getPrefs()[key];
  select.addEventListener("change", () => setPrefs({ [key]: select.value }));
  return h("label", { class: "field", for: id }, label, select);
}

function percent(id, label, key) {
  const input = h("input", { id, type: "number", min: "1", max: "99", step: "1", inputmode: "numeric",
    value: String(getPrefs()[key]) });
  input.addEventListener("change", () => {
    const value = Math.round(Number(input.value));
    if (value >= 1 && value <= 99) setPrefs({ [key]: value });
    else input.value = String(getPrefs()[key]);
  });
  return h("label", { class: "field", for: id }, label, input);
}

export function settings(ctx) {
  ctx.main.append(head("Settings", "Kept on this phone or tablet."),
    section("Units", h("div", { class: "card form" },
      choice("set-temp", "Temperatures in", "temp", [["C", "Celsius (°C)"], ["F", "Fahrenheit (°F)"]]),
      choice("set-volume", "Tank volumes in", "volume", [["L", "Litres (L)"], ["gal", "US gallons (gal)"]]),
      choice("set-clock", "Clock", "clock", [["24", "24-hour (18:30)"], ["12", "12-hour (6:30 PM)"]]))),
    section("Alerts", h("div", { class: "card form" },
      percent("set-tank-full", "Waste tank nearly full at (%)", "tankFullPct"),
      percent("set-tank-empty", "Fresh water or LPG nearly empty at (%)", "tankEmptyPct"),
      percent("set-battery-low", "House battery low at (% charge)", "batteryLowPct"))));
}

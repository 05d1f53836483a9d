// Cards of tanks (fresh, grey and black water, LPG): the keys are those of the tank state model
// (GET /openapi.json). The dashboard shows these cards first, so this module is part of the first load.

import { fmtPct, fmtVolume, frame, h, historyStrip, isNum, updateFrame } from "./ui.js";

function tankKind(entity) {
  const text = `${entity.name} ${entity.id}`.toLowerCase();
  if (/black|gr[ae]y|waste|sewage/.test(text)) return "waste";
  if (/lp|propane|gas|fuel|diesel/.test(text)) return "fuel";
  return "fresh";
}

/** Whether a tank's level is worth an alert: [kind, text] or null. Thresholds are the owner's settings. */
export function tankAlert(entity, prefs) {
  const level = entity.state.level;
  if (!isNum(level)) return null;
  const kind = tankKind(entity);
  if (kind === "waste" && level >= prefs.tankFullPct) return ["warn", "Nearly full"];
  if (kind !== "waste" && level <= prefs.tankEmptyPct) return ["danger", "Nearly empty"];
  return null;
}

/** A tank: its level, what it holds, and a chart of its recent level. `prefs()` gives the alert thresholds. */
export function tankCard(entity, prefs) {
  const card = frame(entity, "tank");
  const big = h("div", { class: "big" });
  const sub = h("div", { class: "sub" });
  const bar = h("span");
  // A meter must carry a value: until the level is known the bar is a picture that says so.
  const meter = h("div", { class: "meter", role: "img", "aria-label": `${entity.name} level unknown` }, bar);
  const past = historyStrip(entity, [["level", "Level", fmtPct]]);
  card.body.append(big, sub, meter, past.el);
  return {
    el: card.el,
    update(e) {
      past.push(e);
      const { level, volume_l: volume, capacity_l: capacity } = e.state;
      big.textContent = fmtPct(level);
      sub.textContent = isNum(volume) && isNum(capacity) ? `${fmtVolume(volume)} of ${fmtVolume(capacity)}`
        : isNum(capacity) ? `Holds ${fmtVolume(capacity)}` : "";
      const pct = isNum(level) ? Math.max(0, Math.min(100, level)) : 0;
      bar.style.setProperty("width", `${pct}%`);
      if (isNum(level)) {
        for (const [name, value] of [["role", "meter"], ["aria-label", `${entity.name} level`], ["aria-valuemin", "0"],
          ["aria-valuemax", "100"], ["aria-valuenow", String(Math.round(level))]]) meter.setAttribute(name, value);
      } else {
        for (const name of ["aria-valuemin", "aria-valuemax", "aria-valuenow"]) meter.removeAttribute(name);
        meter.setAttribute("role", "img");
        meter.setAttribute("aria-label", `${entity.name} level unknown`);
      }
      const alert = tankAlert(e, prefs());
      meter.classList.toggle("low", alert?.[0] === "danger");
      meter.classList.toggle("high", alert?.[0] === "warn");
      updateFrame(card, e, alert ? alert[1] : "", alert ? alert[0] : "off");
    },
  };
}

// The leveling system card: the coach's pitch and roll, the controller's mode, each jack, and the
// controls: auto level, retract all, stop, clear error, and hold-to-move per jack or per pair.
// The values are the server's leveling entity (coachiq/entities/leveling.py): mode, motion, jacks,
// pitch, roll, level, stored, lockouts, warnings.

import { holdButton } from "./motion.js";
import { controlBlockReason, motionBlockReason, sendCommand, store } from "./state.js";
import { button, frame, h, humanize, icon, isNum, stats, updateFrame } from "./ui.js";

const JACKS = [["left_front", "Left front"], ["right_front", "Right front"], ["left_rear", "Left rear"],
  ["right_rear", "Right rear"]];
const PAIRS = [["front", "Front pair"], ["rear", "Rear pair"], ["left", "Left side"], ["right", "Right side"]];
const LOCKOUTS = { park_brake: "park brake", ignition: "ignition", low_voltage: "low voltage", other: "other lockout" };
const WARNINGS = { excessive_slope_initial: "too steep, will try again", excessive_slope_final: "too steep to level",
  master: "jacks are down" };

/** An angle in degrees (only this card shows angles, so its formatter lives here, off the first view). */
function fmtAngle(v, digits) {
  return `${v.toFixed(digits)}\u202f°`;
}

/** "Nose 1.5° high" style text for an angle, or a dash. */
function attitude(value, high, low) {
  if (!isNum(value)) return "—";
  if (Math.abs(value) < 0.005) return "Level";
  // Under a degree the second decimal matters: 0.07° is level to the eye, 0.1° reads as not quite.
  const size = Math.abs(value);
  return `${fmtAngle(size, size < 1 ? 2 : 1)} ${value > 0 ? high : low}`;
}

function jackText(jack) {
  if (!jack) return "—";
  if (jack.motion === "extending") return "Extending";
  if (jack.motion === "retracting") return "Retracting";
  if (jack.grounded) return "On the ground";
  if (jack.extended) return "Down";
  if (jack.extended === false) return "Stored";
  return "—";
}

/** The leveling card for a jack entity that has the leveling commands, built into `el` (views.js makes it). */
export function levelingCard(entity, el) {
  const card = frame(entity, "jack", el);
  const big = h("div", { class: "big" });
  const s = stats([["pitch", "Pitch"], ["roll", "Roll"], ["mode", "Mode"]]);
  const reasonText = h("span");
  const reasonId = `why-${entity.id}`;
  const reason = h("p", { class: "reason", id: reasonId, hidden: true }, icon("info"), reasonText);
  const controller = h("p", { class: "reason", hidden: true });
  let rerender = () => {};
  const holds = [];
  const blocked = () => rerender();
  const endHolds = () => { for (const hold of holds) hold.end(false); };

  const auto = button("Auto level", () => { endHolds(); sendCommand(entity.id, "auto_level"); });
  const store_ = button("Retract all", () => { endHolds(); sendCommand(entity.id, "retract_all"); });
  const stop = button("Stop", () => { endHolds(); sendCommand(entity.id, "stop"); }, "btn btn-danger");
  const clear = button("Clear error", () => sendCommand(entity.id, "clear_error"));
  for (const [el, label] of [[auto, "Auto level"], [store_, "Retract all jacks"], [stop, "Stop the leveling jacks"],
    [clear, "Clear error of the leveling jacks"]]) el.setAttribute("aria-label", label);
  const gated = [auto, store_, clear];

  const tiles = new Map();
  const jackGrid = h("div", { class: "jack-grid" });
  for (const [key, label] of JACKS) {
    const state = h("span", { class: "jack-state", text: "—" });
    const name = `${label.toLowerCase()} jack`;
    const down = holdButton(entity, "extend", "Extend", "down", blocked, { jack: key }, name);
    const up = holdButton(entity, "retract", "Retract", "up", blocked, { jack: key }, name);
    holds.push(down, up);
    const tile = h("div", { class: "jack-tile", "data-jack": key }, h("strong", { text: label }), state,
      h("div", { class: "row" }, up.btn, down.btn));
    tiles.set(key, { tile, state });
    jackGrid.append(tile);
  }
  const pairRows = PAIRS.map(([key, label]) => {
    const name = label.toLowerCase();
    const down = holdButton(entity, "extend", "Extend", "down", blocked, { pair: key }, name);
    const up = holdButton(entity, "retract", "Retract", "up", blocked, { pair: key }, name);
    holds.push(down, up);
    return h("div", { class: "row pair-row", "data-pair": key }, h("span", { text: label }), up.btn, down.btn);
  });
  const manual = h("details", { class: "manual" }, h("summary", { text: "Manual control (hold to move)" }),
    h("p", { class: "sub", text: "Extending a jack raises that corner of the coach." }), jackGrid,
    h("p", { class: "sub", text: "Pairs" }), ...pairRows);

  card.body.append(big, s.el, h("div", { class: "row motion-row" }, auto, store_, stop, clear), controller, reason,
    manual);

  function render(e) {
    const st = e.state;
    const moving = st.motion === "extending" || st.motion === "retracting";
    big.textContent = moving ? (st.motion === "retracting" ? "Retracting…" : "Leveling…")
      : st.level === true ? "Level" : st.level === false ? "Not level" : "—";
    s.set("pitch", attitude(st.pitch, "nose high", "nose low"));
    s.set("roll", attitude(st.roll, "driver side high", "driver side low"));
    s.set("mode", st.mode ? humanize(st.mode) : "—");
    for (const [key] of JACKS) tiles.get(key).state.textContent = jackText(st.jacks?.[key]);
    const lockouts = Array.isArray(st.lockouts) ? st.lockouts.map((k) => LOCKOUTS[k] || humanize(k)) : [];
    const warnings = Array.isArray(st.warnings) ? st.warnings.map((k) => WARNINGS[k] || humanize(k)) : [];
    const said = [lockouts.length ? `Controller locked out: ${lockouts.join(", ")}.` : "",
      warnings.length ? `Warning: ${warnings.join("; ")}.` : ""].filter(Boolean).join(" ");
    controller.hidden = !said;
    controller.textContent = said;
    clear.hidden = !warnings.some((w) => w !== WARNINGS.master);
    const why = controlBlockReason() || motionBlockReason(e);
    reason.hidden = !why;
    reasonText.textContent = why || "";
    for (const el of [...gated, ...holds.map((hold) => hold.btn)]) {
      el.disabled = Boolean(why);
      if (why) el.setAttribute("aria-describedby", reasonId);
      else el.removeAttribute("aria-describedby");
    }
    if (why) endHolds();
    stop.disabled = store.link !== "live";
    updateFrame(card, e, moving ? "Moving" : why ? "Locked out" : st.stored ? "Stored" : "Ready",
      moving ? "warn" : why ? "off" : "ok");
  }
  rerender = () => render(store.entities.get(entity.id));
  return { el: card.el, update: render };
}

// Cards of what moves: slides, awnings, shades and jacks, moved while a button is held (the keys of the
// motor pair, awning and shade state models, GET /openapi.json). Whether one may move now is the server's
// to say (state.js motionBlockReason); the page never works the interlocks out itself.

import { controlBlockReason, motionBlockReason, sendCommand, store } from "./state.js";
import { button, fmtPct, frame, h, has, humanize, icon, isNum, sentence, stats, updateFrame } from "./ui.js";

// Motion is momentary: each command moves for at most MOTION_DURATION_S and is renewed while held,
// so a lost page, a dropped Wi-Fi or a crashed phone stops the motion within that time.
const MOTION_DURATION_S = 2;
const MOTION_RENEW_MS = 700;
// A screen reader activates a button with a single click and cannot hold it: such a click moves the
// device for at most this long (renewed like a hold), and a second click or Stop ends it sooner.
const LATCH_MAX_MS = 6000;

const activeHolds = new Set();

/** Stop every motion this page is driving (page hidden, view changed, emergency stop). */
export function stopAllMotion() {
  for (const hold of [...activeHolds]) hold.end();
}

const MOTION_LABELS = {
  slide: ["Extend", "Retract"], awning: ["Extend", "Retract"], jack: ["Lower", "Raise"], shade: ["Lower", "Raise"],
};

/** A button that moves while held: `params` go with every renewal (e.g. which jack); `name` ends its
 * accessible name (the device's name by default). */
export function holdButton(entity, command, label, iconName, onProblem, params = {}, name = entity.name) {
  // The visible words start the accessible name; the device's name follows for a screen reader's list.
  const btn = h("button", { type: "button", class: "hold", "data-command": command, "aria-pressed": "false" },
    icon(iconName), h("span", { text: `Hold to ${label.toLowerCase()}` }),
    h("span", { class: "visually-hidden", text: ` ${name}` }));
  let pointerOrKey = false;
  const hold = {
    timer: 0,
    latchTimer: 0,
    holding: false,
    btn,
    // The entity's report time when the device first confirmed this hold: a later report of "stopped"
    // means the device stopped while still held.
    confirmedStamp: undefined,
    start() {
      if (hold.holding || btn.disabled) return;
      hold.holding = true;
      hold.confirmedStamp = undefined;
      activeHolds.add(hold);
      btn.classList.add("holding");
      btn.setAttribute("aria-pressed", "true");
      hold.send(false);
      hold.timer = setInterval(() => hold.send(true), MOTION_RENEW_MS);
    },
    async send(renewal) {
      const result = await sendCommand(entity.id, command, { ...params, duration_s: MOTION_DURATION_S }, { quiet: renewal });
      if (hold.holding && result.status === "confirmed" && hold.confirmedStamp === undefined) {
        hold.confirmedStamp = store.entities.get(entity.id)?.updated_at ?? null;
      }
      if (hold.holding && ["refused", "invalid", "error", "timed_out"].includes(result.status)) {
        hold.end(false);
        onProblem(result, renewal);
      }
    },
    end(sendStop = true) {
      if (!hold.holding) return;
      hold.holding = false;
      activeHolds.delete(hold);
      clearInterval(hold.timer);
      clearTimeout(hold.latchTimer);
      btn.classList.remove("holding");
      btn.setAttribute("aria-pressed", "false");
      // Stop at once rather than waiting for the bounded duration to run out.
      if (sendStop && store.link === "live") sendCommand(entity.id, "stop", {}, { quiet: true });
    },
  };
  btn.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    ev.preventDefault();
    pointerOrKey = true;
    btn.focus();
    try {
      btn.setPointerCapture(ev.pointerId);
    } catch {
      // Capture is a convenience: without it pointerleave still ends the hold.
    }
    hold.start();
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) btn.addEventListener(type, () => hold.end());
  btn.addEventListener("keydown", (ev) => {
    if ((ev.key === " " || ev.key === "Enter") && !ev.repeat) {
      ev.preventDefault();
      pointerOrKey = true;
      hold.start();
    }
  });
  btn.addEventListener("keyup", (ev) => {
    if (ev.key === " " || ev.key === "Enter") {
      ev.preventDefault();
      hold.end();
    }
  });
  btn.addEventListener("blur", () => { if (!hold.latchTimer) hold.end(); });
  btn.addEventListener("contextmenu", (ev) => ev.preventDefault());
  btn.addEventListener("click", (ev) => {
    ev.preventDefault();
    // A click that follows a pointer or key hold was that hold. A click on its own (a screen reader, a
    // switch control) starts a bounded move, and a second click stops it.
    if (pointerOrKey) {
      pointerOrKey = false;
      return;
    }
    if (hold.holding) {
      hold.end();
      return;
    }
    hold.start();
    if (hold.holding) {
      hold.latchTimer = setTimeout(() => {
        hold.latchTimer = 0;
        hold.end();
      }, LATCH_MAX_MS);
    }
  });
  return hold;
}

/** A slide, awning, shade or jack moved by holding a button; the server says why it may not move now. */
export function motionCard(entity) {
  const card = frame(entity, entity.type);
  const big = h("div", { class: "big" });
  const s = stats([["position", "Position"]]);
  const reasonText = h("span");
  const reasonId = `why-${entity.id}`;
  const reason = h("p", { class: "reason", id: reasonId, hidden: true }, icon("info"), reasonText);
  const [outLabel, inLabel] = MOTION_LABELS[entity.type] || ["Extend", "Retract"];
  let rerender = () => {};
  const stoppedByCoach = (text) => {
    card.stopped = { text: `Stopped by the coach: ${sentence(text)}`, at: Date.now() };
    rerender();
  };
  const onProblem = (result, renewal) => {
    // A refusal of the first press is the command line's to tell; a refused renewal stopped a motion.
    if (renewal) stoppedByCoach(result.reason || "it did not allow the motion to go on");
    else rerender();
  };
  const vertical = entity.type === "jack" || entity.type === "shade";
  const outHold = has(entity, "extend") ? holdButton(entity, "extend", outLabel, vertical ? "down" : "right", onProblem) : null;
  const inHold = has(entity, "retract") ? holdButton(entity, "retract", inLabel, vertical ? "up" : "left", onProblem) : null;
  const stopBtn = has(entity, "stop") ? button("Stop", () => {
    outHold?.end(false);
    inHold?.end(false);
    sendCommand(entity.id, "stop");
  }) : null;
  for (const hold of [outHold, inHold]) hold?.btn.addEventListener("pointerdown", () => { card.stopped = null; });
  card.body.append(big, s.el, h("div", { class: "row motion-row" }, inHold?.btn, stopBtn, outHold?.btn), reason);

  function render(e) {
    const st = e.state;
    // Every family of these reports `motion`; an awning with its own controller also its `position`.
    const { motion, position } = st;
    const movingNow = motion === "extending" || motion === "retracting";
    big.textContent = humanize(motion);
    s.set("position", isNum(position) ? fmtPct(position) : "—");
    const motionWhy = motionBlockReason(e);
    // The coach's supervisor stops the device before the page hears why: a reason that follows soon after
    // a stop is the stop's reason.
    if (motionWhy && card.stopped?.byDevice && Date.now() - card.stopped.at < 3000) {
      card.stopped = { text: `Stopped by the coach: ${sentence(motionWhy)}`, at: card.stopped.at };
    }
    // A viewer sees why they cannot move it, whatever the coach's state.
    const why = controlBlockReason() || motionWhy;
    reason.hidden = !why;
    reasonText.textContent = why || "";
    for (const hold of [outHold, inHold]) {
      if (!hold) continue;
      if (why && hold.holding) {
        hold.end(false);
        card.stopped = { text: `Stopped by the coach: ${sentence(why)}`, at: Date.now() };
      }
      hold.btn.disabled = Boolean(why);
      if (why) hold.btn.setAttribute("aria-describedby", reasonId);
      else hold.btn.removeAttribute("aria-describedby");
    }
    // Held, and the device reports it stopped by itself (end of travel, its own lock): say so, and stop asking.
    for (const hold of [outHold, inHold]) {
      if (hold?.holding && hold.confirmedStamp !== undefined && e.updated_at !== hold.confirmedStamp
          && motion === "stopped") {
        hold.end();
        card.stopped = { text: "Stopped by the device: it reports it is not moving (end of travel, or its own lock).",
          at: Date.now(), byDevice: true };
      }
    }
    if (stopBtn) stopBtn.disabled = store.link !== "live";
    updateFrame(card, e, movingNow ? "Moving" : why ? "Locked out" : "Ready", movingNow ? "warn" : why ? "off" : "ok");
  }
  rerender = () => render(store.entities.get(entity.id));
  return { el: card.el, update: render };
}

// The owner's alerts on the page: tanks nearly full or empty, a low house battery, shore power lost, a
// generator fault. Worked out here from the live values and the thresholds in Settings; shown as a bell
// with a count and a list. (Sending them off the coach is the notifications feature's work.)

import { acSource, generatorStatus, on, store } from "./state.js";
import { tankAlert } from "./tanks.js";
import { fmtPct, getPrefs, h, icon, isNum, onPrefs, setChildren, toast } from "./ui.js";

let current = [];
let sawShore = false;

/** The alerts that hold now, each {key, text, kind}. */
export function activeAlerts(prefs = getPrefs()) {
  const out = [];
  for (const e of store.entities.values()) {
    if (!e.available) continue;
    if (e.type === "tank") {
      const a = tankAlert(e, prefs);
      if (a) out.push({ key: `tank:${e.id}`, kind: a[0], text: `${e.name}: ${a[1].toLowerCase()} (${fmtPct(e.state.level)}).` });
    } else if (e.type === "battery" && !/chassis|start/i.test(`${e.id} ${e.name}`)) {
      const soc = e.state.state_of_charge;
      if (isNum(soc) && soc <= prefs.batteryLowPct) {
        out.push({ key: `battery:${e.id}`, kind: "danger", text: `${e.name} is low (${fmtPct(soc)} charged).` });
      }
    } else if (e.type === "transfer_switch") {
      const source = acSource(e.state);
      if (source === "Shore power") sawShore = true;
      else if (sawShore && source !== "—" && source !== "Shore power") {
        out.push({ key: `shore:${e.id}`, kind: "danger",
          text: source === "Generator" ? "Shore power lost: the generator is feeding the coach." : "Shore power lost." });
      }
    } else if (e.type === "generator" && generatorStatus(e.state).fault) {
      out.push({ key: `generator:${e.id}`, kind: "danger", text: `${e.name} reports a fault.` });
    }
  }
  return out;
}

function render(bell, count, list) {
  count.textContent = current.length ? String(current.length) : "";
  count.hidden = !current.length;
  bell.classList.toggle("has-alerts", current.length > 0);
  bell.setAttribute("aria-label", current.length ? `Alerts: ${current.length}` : "Alerts: none");
  setChildren(list, current.length
    ? h("ul", { class: "alerts" }, current.map((a) => h("li", { class: a.kind === "danger" ? "p1" : "" }, icon("alert"),
      h("div", { text: a.text }))))
    : h("p", { class: "empty", text: "No alerts. You are told here when a tank is nearly full or empty, the house battery is low, shore power is lost or the generator reports a fault." }));
}

/** Put the bell in the header and keep its list current; a new alert is shown and announced once. */
export function startAlerts() {
  const count = h("span", { class: "bell-count", hidden: true });
  const bell = h("button", { type: "button", id: "alerts-bell", class: "icon-link bell", "aria-haspopup": "dialog",
    "aria-controls": "alerts-dialog" }, icon("bell"), count);
  const list = h("div", { id: "alerts-list" });
  const close = h("button", { type: "button", class: "btn" }, "Close");
  const dialog = h("dialog", { id: "alerts-dialog", "aria-labelledby": "alerts-title" },
    h("h2", { id: "alerts-title", text: "Alerts" }), list, h("div", { class: "dialog-actions" }, close));
  close.addEventListener("click", () => dialog.close());
  bell.addEventListener("click", () => dialog.showModal());
  document.body.append(dialog);
  document.getElementById("estop").before(bell);
  let frame = 0;
  const update = () => {
    frame = 0;
    const next = activeAlerts();
    const before = new Set(current.map((a) => a.key));
    for (const a of next) if (!before.has(a.key)) toast(a.text, "alert");
    current = next;
    render(bell, count, list);
  };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(update); };
  for (const event of ["entities", "values", "entity"]) on(event, schedule);
  onPrefs(schedule);
  update();
}

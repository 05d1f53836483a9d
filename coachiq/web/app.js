// Entry point: routing between views, the header (link state, emergency stop) and the banners.

import { startAccess } from "./access.js";
import { stopAllMotion } from "./cards.js";
import {
  clearEmergencyStop, connect, emergencyStop, emergencyStopOn, loadEntities, on, reconnectNow,
  safeStateReasons, store,
} from "./state.js";
import { h } from "./ui.js";
import { VIEWS, mountView } from "./views.js";

const main = document.getElementById("main");
let current = null;
let currentName = "";
let pendingIds = new Set();
let fullRefresh = false;
let frame = 0;

function viewFromHash() {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return name in VIEWS ? name : "dashboard";
}

function show(name, { focus = false } = {}) {
  // Leaving a view releases any hold: its buttons are about to disappear.
  stopAllMotion();
  current?.destroy();
  currentName = name;
  current = mountView(name, main);
  document.title = `${VIEWS[name].title} · CoachIQ`;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (focus) main.querySelector("h1")?.focus();
}

// Updates are applied once per animation frame, however many arrive.
function schedule(id) {
  if (id === undefined) fullRefresh = true;
  else pendingIds.add(id);
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  if (!current) return;
  const ids = fullRefresh ? null : pendingIds;
  fullRefresh = false;
  pendingIds = new Set();
  current.refresh(ids);
}

function renderLink() {
  const box = document.getElementById("link-status");
  const text = box.querySelector(".link-text");
  box.classList.toggle("live", store.link === "live");
  box.classList.toggle("down", store.link === "down");
  text.textContent = store.link === "live" ? "Live" : store.link === "down" ? "Offline" : "Connecting…";
  const banner = document.getElementById("conn-banner");
  banner.hidden = store.link !== "down";
  if (store.link === "down") {
    const s = Math.max(0, Math.ceil((store.nextRetryAt - Date.now()) / 1000));
    document.getElementById("conn-banner-text").textContent =
      `Disconnected from the coach. What you see may be out of date. Reconnecting${s > 0 ? ` in ${s} s` : ""}…`;
  }
}

function renderSafety() {
  const estopOn = emergencyStopOn();
  document.getElementById("estop-banner").hidden = !estopOn;
  document.getElementById("estop").setAttribute("aria-pressed", String(estopOn));
  const safe = document.getElementById("safe-banner");
  const reasons = estopOn ? [] : safeStateReasons();
  safe.hidden = reasons.length === 0;
  safe.textContent = reasons.length ? `Slides, awnings and jacks are locked out: ${reasons.join("; ")}.` : "";
}

export function toast(message, kind = "") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text: message });
  box.append(el);
  setTimeout(() => el.remove(), 6000);
}

function confirmDialog(title, text, okLabel) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

function wire() {
  document.getElementById("estop").addEventListener("click", async () => {
    // No confirmation: an emergency stop must take one press.
    stopAllMotion();
    const error = await emergencyStop();
    if (error) toast(`Emergency stop failed: ${error}`, "error");
    else toast("Emergency stop sent: everything that moves was told to stop.");
  });
  document.getElementById("estop-clear").addEventListener("click", async () => {
    const ok = await confirmDialog("Clear emergency stop?",
      "Slides, awnings and jacks can be moved again once the coach is parked. Make sure everyone is clear.",
      "Clear emergency stop");
    if (!ok) return;
    const error = await clearEmergencyStop();
    toast(error ? `Could not clear: ${error}` : "Emergency stop cleared.", error ? "error" : "");
  });
  document.getElementById("reconnect-now").addEventListener("click", reconnectNow);
  window.addEventListener("hashchange", () => show(viewFromHash(), { focus: true }));
  // A hidden page cannot hold a button: stop any motion it drives.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") stopAllMotion();
  });
  window.addEventListener("pagehide", stopAllMotion);

  on("entities", () => show(currentName || viewFromHash()));
  on("values", () => schedule());
  on("entity", (id) => schedule(id));
  on("command", (id) => {
    schedule(id);
    // The card says it too, but the card may be scrolled away or on another view.
    const c = store.commands.get(id);
    const name = store.entities.get(id)?.name || id;
    if (c?.status === "refused") toast(`${name}: refused. ${c.reason}`, "refused");
    else if (c?.status === "timed_out") toast(`${name}: no confirmation from the device.`, "error");
    else if (c && ["invalid", "not_found", "busy", "error", "forbidden"].includes(c.status)) toast(`${name}: ${c.reason || c.status}`, "error");
  });
  on("safety", () => {
    renderSafety();
    schedule();
  });
  on("link", () => {
    renderLink();
    schedule();
  });
  // The retry countdown and the "last heard" times move on their own.
  setInterval(() => {
    if (store.link === "down") renderLink();
  }, 1000);
  setInterval(() => schedule(), 15000);
}

// With authentication on, nothing of the coach loads before sign-in.
if (await startAccess(main)) {
  wire();
  show(viewFromHash());
  renderLink();
  loadEntities({ initial: true });
  connect();
}

// Entry point: routing between views, the header (link state, emergency stop) and the banners.

import {
  access, accessAtStart, clearEmergencyStop, connect, emergencyStop, emergencyStopOn, loadEntities, on, reconnectNow,
  safeStateReasons, store,
} from "./state.js";
import { announce, onPrefs, toast } from "./ui.js";
import { VIEWS, mountView, prefetchCards, stopAllMotion } from "./views.js";

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
  main.dataset.view = name;
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
  markFirstValues();
}

// The moment the owner first sees the coach's values (measured by the browser tests against the budget).
function markFirstValues() {
  if (store.entities.size && !performance.getEntriesByName("coachiq:first-values").length) {
    performance.mark("coachiq:first-values");
    // The alerts bell and the other views' card modules follow the first values, off the first load's path.
    import("./alerts.js").then((m) => m.startAlerts());
    prefetchCards();
  }
}

function renderLink() {
  const box = document.getElementById("link-status");
  const text = box.querySelector(".link-text");
  box.classList.toggle("live", store.link === "live");
  box.classList.toggle("down", store.link === "down");
  text.textContent = store.link === "live" ? "Live" : store.link === "down" ? "Offline" : "Connecting…";
  const banner = document.getElementById("conn-banner");
  banner.hidden = store.link !== "down";
  // The saved copy of the page (service worker) opened without the coach: say so first.
  document.getElementById("offline-banner").hidden =
    store.link === "live" || !document.documentElement.hasAttribute("data-offline-copy");
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

async function sendEmergencyStop() {
  // No confirmation: an emergency stop must take one press.
  stopAllMotion();
  const failed = document.getElementById("estop-failed");
  const error = await emergencyStop();
  failed.hidden = !error;
  document.getElementById("estop-failed-why").textContent = error ? `(${error})` : "";
  if (!error) toast("Emergency stop sent: everything that moves was told to stop.");
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
  document.getElementById("estop").addEventListener("click", sendEmergencyStop);
  document.getElementById("estop-retry").addEventListener("click", sendEmergencyStop);
  document.getElementById("estop-clear").addEventListener("click", async () => {
    const ok = await confirmDialog("Clear emergency stop?",
      "Slides, awnings and jacks can be moved again once the coach is parked. Make sure everyone is clear.",
      "Clear emergency stop");
    if (!ok) return;
    const error = await clearEmergencyStop();
    toast(error ? `The emergency stop is still on: the clear did not reach the coach. ${error}` : "Emergency stop cleared.",
      error ? "error" : "");
  });
  document.getElementById("reconnect-now").addEventListener("click", reconnectNow);
  // Units and thresholds apply everywhere at once: the view is drawn again with them.
  onPrefs(() => show(currentName));
  // Keyboard focus never rests under the sticky header or the bottom tab bar.
  document.addEventListener("focusin", (ev) => {
    const el = ev.target;
    if (!(el instanceof Element) || el.closest(".top, .tabs")) return;
    const r = el.getBoundingClientRect();
    const top = document.querySelector(".top").getBoundingClientRect().bottom;
    const tabs = document.querySelector(".tabs").getBoundingClientRect();
    const bottom = tabs.top > top ? Math.min(tabs.top, window.innerHeight) : window.innerHeight;
    if (r.bottom > bottom - 8) window.scrollBy(0, r.bottom - bottom + 16);
    else if (r.top < top + 8) window.scrollBy(0, r.top - top - 16);
  });
  window.addEventListener("hashchange", () => show(viewFromHash(), { focus: true }));
  // A hidden page cannot hold a button: stop any motion it drives.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") stopAllMotion();
  });
  window.addEventListener("pagehide", stopAllMotion);

  on("entities", () => {
    show(currentName || viewFromHash());
    markFirstValues();
  });
  on("values", () => schedule());
  on("entity", (id) => schedule(id));
  on("command", (id) => {
    schedule(id);
    const c = store.commands.get(id);
    if (!c || c.status === "pending") return;
    const name = store.entities.get(id)?.name || id;
    const text = c.status === "confirmed" ? `${name}: done.`
      : c.status === "timed_out" ? `${name}: no confirmation from the device.`
        : c.status === "refused" || c.status === "invalid" ? `${name}: refused. ${c.reason || ""}`
          : `${name}: not sent. ${c.reason || c.status}`;
    // The card tells it where the owner is looking; a toast only when the card is on another view.
    if (c.status !== "confirmed" && !current?.cards.has(id)) toast(text, c.status === "refused" ? "refused" : "error");
    else announce(text);
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

function startCoach() {
  wire();
  show(viewFromHash());
  renderLink();
  loadEntities({ initial: true });
  connect();
}

// Who is using the page: carried by the page itself, so the first view waits for no request. With
// authentication on, nothing of the coach loads before sign-in: the sign-in view (access.js) instead.
const who = await accessAtStart();
if (who?.authentication) {
  access.enabled = true;
  access.user = who.user ?? null;
}
if (who?.authentication && !who.user) {
  import("./access.js").then((m) => m.startAccess(main, who));
} else {
  startCoach();
  // The account in the header is not needed for the first values: it follows them.
  if (who?.authentication) import("./access.js").then((m) => m.startAccess(main, who));
  if (!who) import("./access.js").then((m) => m.recheckWhenReachable());
}
// The saved copy for the home screen (service workers need https or the device itself, not plain http).
if ("serviceWorker" in navigator && window.isSecureContext) {
  window.addEventListener("load", () => navigator.serviceWorker.register("/sw.js")
    .catch((err) => console.warn("the page cannot be kept for offline use:", err)));
}

// The page's model of the coach: entities, safety, the WebSocket link and command progress.
// Everything the views show comes from here; the views never talk to the server themselves.

// Anything else the server might send first (an acknowledgement) leaves the command pending.
const FINAL = new Set(["confirmed", "timed_out", "refused", "invalid", "not_found", "busy", "error"]);
// The server answers a command within its own confirmation timeout; this only catches a lost answer.
const CLIENT_TIMEOUT_MS = 15000;
const RECONNECT_MAX_MS = 3000;

export const store = {
  /** id -> the entity as GET /api/v2/entities gives it: {id, name, type, device, position_critical, area,
   * capabilities, state, available, updated_at}; `state` has every key of its device's model (null: unknown). */
  entities: new Map(),
  safety: null,
  /** "connecting" | "live" | "down" */
  link: "connecting",
  nextRetryAt: 0,
  /** entity id -> {command, status, reason, at} of the latest command sent to it */
  commands: new Map(),
};

const listeners = new Map();

/**
 * Subscribe to "entities" (the set changed), "values" (every entity may have changed), "entity" (id),
 * "safety", "link", "command" (entity id).
 */
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  return () => listeners.get(event).delete(fn);
}

function emit(event, arg) {
  for (const fn of listeners.get(event) || []) {
    try {
      fn(arg);
    } catch (err) {
      console.warn("view update failed", err);
    }
  }
}

function replaceEntities(list) {
  const next = new Map();
  for (const entity of list) next.set(entity.id, { ...entity, state: { ...entity.state } });
  const same = next.size === store.entities.size && [...next.keys()].every((id) => store.entities.has(id));
  if (same) {
    // A fresh snapshot of the same coach (reconnect, resync): patch the cards in place, so that a
    // slider or a held button under the owner's finger is not rebuilt away.
    for (const [id, entity] of next) Object.assign(store.entities.get(id), entity);
    emit("values");
    return;
  }
  store.entities = next;
  emit("entities");
}

function applyUpdate(msg) {
  const entity = store.entities.get(msg.entity_id);
  if (!entity) {
    // An entity the snapshot did not have (mapping reloaded): fetch the list again.
    scheduleEntityRefresh();
    return;
  }
  // The server says when an entity becomes (un)available with an "available" value in the update:
  // {"available": false} alone when it falls silent, the whole state plus true when it is heard again.
  const { available, ...values } = msg.values;
  Object.assign(entity.state, values);
  if (typeof available === "boolean") entity.available = available;
  else if (Object.keys(values).length) entity.available = true;
  entity.updated_at = msg.timestamp;
  emit("entity", entity.id);
}

let refreshTimer = 0;
function scheduleEntityRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    loadEntities();
  }, 500);
}

/** GET /api/v2/entities: the first paint does not wait for the WebSocket, and new entities are picked up. */
export async function loadEntities({ initial = false } = {}) {
  // The server puts the list as it was when it sent the page into the page itself: no wait for a request.
  const embedded = initial ? document.getElementById("entity-snapshot") : null;
  if (embedded) {
    embedded.remove();
    try {
      replaceEntities(JSON.parse(embedded.textContent).entities);
      return;
    } catch {
      // A damaged block: fetch the list instead.
    }
  }
  try {
    const body = await getJson("/api/v2/entities");
    // The first load must not overwrite a WebSocket snapshot that arrived before it.
    if (!initial || store.link !== "live") replaceEntities(body.entities);
  } catch {
    // The WebSocket snapshot fills the page; the link banner tells the owner when both fail.
  }
}

/** GET a JSON document; throws an Error with the server's problem detail when it is not 2xx. */
export async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  return readJson(response);
}

/** POST a JSON body and return the parsed answer; `timeoutMs` gives up on a server that does not answer. */
export async function postJson(path, body = {}, { timeoutMs = 0 } = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined,
  });
  return readJson(response);
}

// An emergency stop that has not arrived by then has failed: the owner must use the coach's own switches.
const ESTOP_TIMEOUT_MS = 3000;
const CLEAR_TIMEOUT_MS = 5000;

async function readJson(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    // Problem details (RFC 9457): `detail` says what went wrong and what to do.
    const err = new Error(body?.detail || body?.title || `HTTP ${response.status}`);
    err.status = response.status;
    err.body = body;
    throw err;
  }
  return body;
}

// ---- safety ----

// Pushed by the server: in the WebSocket snapshot, then a "safety" message on every change.

function setSafety(doc) {
  const { type: _ignored, ...safety } = doc;
  store.safety = safety;
  emit("safety");
}

/** True when emergency stop is set. */
export function emergencyStopOn() {
  return store.safety?.emergency_stop === true;
}

/** The list of reasons the coach is in its safe state (empty when it is not). */
export function safeStateReasons() {
  const s = store.safety;
  return s?.safe_state ? s.reasons : [];
}

/**
 * Why a motion control of `entity` must not be used now, or null when it may be. The interlocks are the
 * server's: it sends, for each kind of position-critical device, why it may not move now.
 */
export function motionBlockReason(entity) {
  if (store.link !== "live") return "Not connected to the coach.";
  if (!entity.available) return "The device is not answering.";
  if (!entity.position_critical) return null;
  const s = store.safety;
  if (!s) return "Waiting for the coach's safety state.";
  const why = s.motion_blocked[entity.type];
  return why ? sentence(why) : null;
}

function sentence(text) {
  const t = String(text).trim();
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

// ---- what a power device's state means, for the dashboard, the power cards and the alerts ----

const GENERATOR_WORDS = { preheat: "Preheating", cranking: "Starting", running: "Running", stopping: "Stopping",
  cooldown: "Cooling down", stopped: "Stopped", fault: "Fault" };

/** The generator's status in the owner's words, and whether it runs, starts, is stopped or has a fault. */
export function generatorStatus(st) {
  const status = st.status;
  const words = String(status).replace(/_/g, " ");
  return { text: status === null ? "—" : GENERATOR_WORDS[status] || words.charAt(0).toUpperCase() + words.slice(1),
    running: st.running === true, starting: status === "preheat" || status === "cranking" || status === "priming",
    stopped: status === "stopped", fault: status === "fault" };
}

/** Where the coach's AC comes from (transfer switch state): shore, generator, none, or "—" when not heard. */
export function acSource(st) {
  const shore = st.shore_voltage;
  const gen = st.generator_voltage;
  const known = (v) => typeof v === "number";
  // The switch prefers shore power; a live input above 90 V is the one feeding the coach.
  return known(shore) && shore > 90 ? "Shore power" : known(gen) && gen > 90 ? "Generator"
    : known(shore) || known(gen) ? "No AC input" : "—";
}

// ---- the WebSocket link ----

let socket = null;
let attempt = 0;
let retryTimer = 0;
let commandCounter = 0;
let heartbeat = 0;
let lastMessageAt = 0;
const PING_MS = 10000;
const SILENCE_MS = 25000;
const pending = new Map();

function wsUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/api/v2/ws`;
}

function setLink(state) {
  if (store.link === state) return;
  store.link = state;
  emit("link");
}

/** Open the WebSocket; it reconnects by itself with a short back-off. */
export function connect() {
  clearTimeout(retryTimer);
  if (socket && socket.readyState <= WebSocket.OPEN) return;
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "subscribe", all: true }));
    lastMessageAt = Date.now();
    clearInterval(heartbeat);
    // A Wi-Fi link that dies silently never closes the socket: ping, and give up on a silent server.
    heartbeat = setInterval(() => {
      if (socket !== ws) return;
      if (Date.now() - lastMessageAt > SILENCE_MS) lost(ws);
      else ws.send(JSON.stringify({ type: "ping" }));
    }, PING_MS);
  });
  ws.addEventListener("message", (event) => {
    lastMessageAt = Date.now();
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch {
      return;
    }
    handleMessage(msg);
  });
  ws.addEventListener("close", () => lost(ws));
  // An error is always followed by close, which does the work.
  ws.addEventListener("error", () => {});
}

function lost(ws) {
  if (socket !== ws) return;
  socket = null;
  clearInterval(heartbeat);
  failPending("The connection closed before the coach answered.");
  setLink("down");
  scheduleReconnect();
  if (ws.readyState <= WebSocket.OPEN) ws.close();
}

function scheduleReconnect() {
  const delay = Math.min(RECONNECT_MAX_MS, 500 * 2 ** attempt) * (0.8 + Math.random() * 0.4);
  attempt = Math.min(attempt + 1, 6);
  store.nextRetryAt = Date.now() + delay;
  emit("link");
  retryTimer = setTimeout(connect, delay);
}

/** Reconnect at once (the "Retry now" button). */
export function reconnectNow() {
  attempt = 0;
  connect();
}

function handleMessage(msg) {
  switch (msg.type) {
    case "snapshot":
      attempt = 0;
      replaceEntities(msg.entities);
      setSafety(msg.safety);
      setLink("live");
      break;
    case "update":
      applyUpdate(msg);
      break;
    case "command_result":
      settleCommand(msg.id, msg);
      break;
    case "safety":
      setSafety(msg);
      break;
    case "diagnostics":
      emit("diagnostics", msg);
      break;
    case "error":
      if (msg.id && pending.has(msg.id)) settleCommand(msg.id, { status: "refused", reason: msg.reason });
      break;
    default:
      break;
  }
}

function failPending(reason) {
  for (const id of [...pending.keys()]) settleCommand(id, { status: "error", reason });
}

function settleCommand(id, msg) {
  const entry = pending.get(id);
  if (!entry) return;
  const status = msg.status || "error";
  if (!FINAL.has(status)) {
    // An intermediate acknowledgement (accepted, sent): still pending.
    return;
  }
  pending.delete(id);
  clearTimeout(entry.timer);
  const result = { status, reason: msg.reason || "", state: msg.state || null };
  // The confirmed state is not applied here: the status that confirmed the command also comes as an
  // update, in order with the device's later reports, while a result applied late would put back a state
  // the device has already left (a shade that confirmed "extending" and then stopped).
  if (!entry.quiet || status !== "confirmed") recordCommand(entry.entityId, entry.command, result);
  entry.resolve(result);
}

function recordCommand(entityId, command, result) {
  store.commands.set(entityId, { command, status: result.status, reason: result.reason, at: Date.now() });
  emit("command", entityId);
}

/**
 * Send a command over the WebSocket; resolves with {status, reason, state} once the coach answers.
 * `quiet` keeps routine renewals (hold-to-move) from flashing the progress line.
 */
export function sendCommand(entityId, command, params = {}, { quiet = false } = {}) {
  return new Promise((resolve) => {
    if (!socket || socket.readyState !== WebSocket.OPEN || store.link !== "live") {
      const result = { status: "error", reason: "Not connected to the coach.", state: null };
      recordCommand(entityId, command, result);
      resolve(result);
      return;
    }
    commandCounter += 1;
    // crypto.randomUUID needs a secure context, which plain http on the coach's network is not.
    const id = `web-${Date.now().toString(36)}-${commandCounter}-${Math.random().toString(36).slice(2, 8)}`;
    const timer = setTimeout(() => settleCommand(id, { status: "timed_out", reason: "No answer from the server." }),
      CLIENT_TIMEOUT_MS);
    pending.set(id, { resolve, entityId, command, quiet, timer });
    if (!quiet) recordCommand(entityId, command, { status: "pending", reason: "" });
    socket.send(JSON.stringify({ type: "command", id, entity_id: entityId, command, ...params }));
  });
}

/** POST emergency stop; returns null or the error message. */
export async function emergencyStop() {
  try {
    const body = await postJson("/api/v2/safety/emergency-stop", {}, { timeoutMs: ESTOP_TIMEOUT_MS });
    if (body && typeof body === "object" && "emergency_stop" in body) setSafety(body);
    return null;
  } catch (err) {
    return err.name === "TimeoutError" ? "The server did not answer in time." : err.message || "The server did not answer.";
  }
}

/** POST emergency-stop/clear; returns null or the error message. */
export async function clearEmergencyStop() {
  try {
    const body = await postJson("/api/v2/safety/emergency-stop/clear", {}, { timeoutMs: CLEAR_TIMEOUT_MS });
    if (body && typeof body === "object" && "emergency_stop" in body) setSafety(body);
    return null;
  } catch (err) {
    return err.message || "The server did not answer.";
  }
}

// ---- who is using the page (authentication): known before the first view, without a request ----

export const access = { enabled: false, user: null };

const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };

/** Whether the signed-in user has at least `role` (always true with authentication off). */
export function hasRole(role) {
  if (!access.enabled) return true;
  return Boolean(access.user) && ROLE_RANK[access.user.role] >= ROLE_RANK[role];
}

/** Why this user may not control devices, or null when they may. */
export function controlBlockReason() {
  if (hasRole("operator")) return null;
  return `Signed in as ${access.user?.name || "a viewer"} with the viewer role: you can see the coach but not ` +
    "control it. Ask an admin for the operator role.";
}

/**
 * GET /api/v2/access as the server answered it when it sent the page (a data block in the page), or asked
 * now when the page does not carry it. Null when the server cannot be reached.
 */
export async function accessAtStart() {
  const embedded = document.getElementById("access-snapshot");
  if (embedded) {
    embedded.remove();
    try {
      return JSON.parse(embedded.textContent);
    } catch {
      // A damaged block: ask the server.
    }
  }
  try {
    return await getJson("/api/v2/access");
  } catch {
    return null;
  }
}

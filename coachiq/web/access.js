// Who is using the page: sign-in, pairing with a code, the first admin, sign-out and the account in the
// header. Loaded only with the server's authentication feature on (app.js imports it when the page says
// so); what the first view needs to know about the user (the role) lives in state.js.

import { access, controlBlockReason, getJson, hasRole, on, postJson, store } from "./state.js";
import { h, setChildren } from "./ui.js";

export { access };

let styles = null;

/** The access views' styles (access.css, not needed with authentication off), once loaded. */
function withStyles() {
  styles ??= new Promise((resolve) => {
    const link = h("link", { rel: "stylesheet", href: "access.css" });
    link.addEventListener("load", resolve);
    link.addEventListener("error", resolve);
    document.head.append(link);
  });
  return styles;
}

/** DELETE, or a POST whose answer may be empty (204); throws with the server's reason. */
export async function send(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body === undefined ? { Accept: "application/json" } : { "Content-Type": "application/json", Accept: "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.ok) return response.status === 204 ? null : response.json();
  let detail = `HTTP ${response.status}`;
  try {
    const problem = await response.json();
    detail = problem.detail || problem.title || detail;
  } catch {
    // not JSON: keep the status
  }
  const retry = response.headers.get("Retry-After");
  throw new Error(retry ? `${detail} (wait ${retry} s)` : detail);
}

function field(label, attrs) {
  const id = `f-${attrs.name}`;
  return h("div", { class: "field" }, h("label", { for: id, text: label }), h("input", { id, required: true, ...attrs }));
}

function form(title, intro, fields, submitLabel, onsubmit) {
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const button = h("button", { class: "btn btn-primary", type: "submit", text: submitLabel });
  const el = h("form", { class: "card access-form", novalidate: false }, h("h2", { text: title }),
    intro ? h("p", { class: "sub", text: intro }) : null, ...fields, error, h("div", { class: "row" }, button));
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    try {
      await onsubmit(new FormData(el));
    } catch (err) {
      error.textContent = err.message || "The server did not answer.";
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

function signedIn() {
  // A fresh start with the session cookie: entities, WebSocket and views all load as the signed-in user.
  history.replaceState(null, "", location.pathname + "#/dashboard");
  location.reload();
}

function pairingCodeFromHash() {
  const match = /(?:^#|[#&])pair=(\d{6})/.exec(location.hash);
  return match ? match[1] : null;
}

function showSignIn(main, session) {
  document.querySelector(".tabs")?.setAttribute("hidden", "");
  document.getElementById("estop")?.setAttribute("hidden", "");
  document.getElementById("link-status")?.setAttribute("hidden", "");
  document.title = "Sign in · CoachIQ";
  const views = [];
  if (session.setup_needed) {
    views.push(form("Create the first admin", "No one can sign in yet. This computer is the coach's own, so you can " +
      "create the first admin here; everyone else signs in or pairs their phone.", [
      field("Name", { name: "name", autocomplete: "username", maxlength: 64 }),
      field("Password (at least 8 characters)", { name: "password", type: "password", autocomplete: "new-password", minlength: 8 }),
    ], "Create admin", async (data) => {
      await postJson("/api/v2/auth/setup", { name: data.get("name"), password: data.get("password") });
      signedIn();
    }));
  }
  const code = pairingCodeFromHash();
  const pairForm = form("Pair this device", "Ask an admin for a 6-digit pairing code (or scan its QR code).", [
    field("Pairing code", { name: "code", inputmode: "numeric", pattern: "[0-9]{6}", maxlength: 6,
      autocomplete: "one-time-code", value: code || undefined }),
    field("Name of this device (optional)", { name: "device", maxlength: 64, required: false, placeholder: "annas-phone" }),
  ], "Pair", async (data) => {
    const device = String(data.get("device") || "").trim();
    await postJson("/api/v2/auth/pair", { code: String(data.get("code")).trim(), ...(device ? { device } : {}) });
    signedIn();
  });
  pairForm.id = "pair-form";
  const signInForm = form("Sign in", null, [
    field("Name", { name: "name", autocomplete: "username", maxlength: 64 }),
    field("Password", { name: "password", type: "password", autocomplete: "current-password" }),
  ], "Sign in", async (data) => {
    await postJson("/api/v2/auth/sign-in", { name: data.get("name"), password: data.get("password") });
    signedIn();
  });
  signInForm.id = "sign-in-form";
  views.push(...(code ? [pairForm, signInForm] : [signInForm, pairForm]));
  setChildren(main, h("div", { class: "view access-view" }, h("h1", { tabindex: -1, text: "CoachIQ" }), ...views));
  // A scanned QR code opens the page with the code: pair at once (also when the page was already open).
  if (code) pairForm.requestSubmit();
  window.addEventListener("hashchange", () => {
    if (pairingCodeFromHash()) location.reload();
  });
}

function accountMenu() {
  const bar = document.querySelector(".topbar");
  if (!bar || !access.user) return;
  const signOut = h("button", { class: "btn btn-small", type: "button", text: "Sign out", id: "sign-out" });
  signOut.addEventListener("click", async () => {
    try {
      await send("POST", "/api/v2/auth/sign-out");
    } finally {
      location.reload();
    }
  });
  // An admin's name opens the admin view (users, tokens, pairing).
  const admin = hasRole("admin");
  const who = h(admin ? "a" : "span", { class: "account-name", id: "account-name", href: admin ? "#/admin" : undefined,
    title: admin ? "Admin: users, API tokens and pairing" : undefined, text: `${access.user.name} · ${access.user.role}` });
  bar.insertBefore(h("div", { class: "account" }, who, access.user.kind === "session" ? signOut : null),
    document.getElementById("estop"));
  const notice = controlBlockReason();
  if (notice) {
    const banner = h("div", { class: "banner banner-info", role: "status", id: "role-banner" }, h("span", { text: notice }));
    document.getElementById("banners")?.append(banner);
    const clear = document.getElementById("estop-clear");
    if (clear) {
      clear.disabled = true;
      clear.title = "Clearing the emergency stop needs the operator role.";
    }
  }
}

/**
 * With authentication on: `state` is GET /api/v2/access. Signed in, the account goes into the header and
 * an ended session shows the sign-in view again; not signed in, the sign-in view replaces the coach.
 */
export async function startAccess(main, state) {
  await withStyles();
  if (!state?.user) {
    let session = { setup_needed: false };
    try {
      session = await getJson("/api/v2/auth/session");
    } catch {
      // authentication is not running yet: sign-in will say so
    }
    showSignIn(main, session);
    return;
  }
  accountMenu();
  // A session that ends (signed out elsewhere, revoked, expired) shows the sign-in view again.
  on("link", async () => {
    if (store.link !== "down") return;
    try {
      const now = await getJson("/api/v2/access");
      if (!now.user) location.reload();
    } catch {
      // the server is away: the link banner says so
    }
  });
}

/**
 * A page that could not learn who is using it (the saved copy opened without the coach): once the
 * server answers, a server with sign-in gets the page afresh, which then knows.
 */
export function recheckWhenReachable() {
  let settled = false;
  on("link", async () => {
    if (settled) return;
    let now;
    try {
      now = await getJson("/api/v2/access");
    } catch {
      return;
    }
    settled = true;
    if (now.authentication) location.reload();
  });
}

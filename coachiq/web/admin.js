// The admin view: pair a phone with a one-time code (digits and QR code), users, API tokens.

import { access, send } from "./access.js";
import { h, setChildren } from "./ui.js";

function section(title, ...children) {
  return h("section", { class: "section" }, h("h2", { text: title }), ...children);
}

function errorLine() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function showError(el, err) {
  el.textContent = err ? err.message || String(err) : "";
  el.hidden = !err;
}

function select(name, options, value) {
  const el = h("select", { name, id: `f-${name}` });
  for (const option of options) el.append(h("option", { value: option, text: option, selected: option === value }));
  return el;
}

function labelled(label, control) {
  return h("div", { class: "field" }, h("label", { for: control.id, text: label }), control);
}

function pairing(box) {
  const role = select("pair-role", ["viewer", "operator", "admin"], "operator");
  const result = h("div", { class: "pairing-result", id: "pairing-result", "aria-live": "polite" });
  const error = errorLine();
  let timer = 0;
  const make = h("button", { class: "btn btn-primary", type: "button", text: "Get a pairing code", id: "pair-make" });
  make.addEventListener("click", async () => {
    showError(error, null);
    clearInterval(timer);
    try {
      const made = await send("POST", "/api/v2/auth/pairing", { role: role.value });
      const expires = Date.parse(made.expires_at);
      const left = h("p", { class: "sub" });
      const tick = () => {
        const s = Math.max(0, Math.round((expires - Date.now()) / 1000));
        left.textContent = s > 0 ? `Valid once, for ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")} more, ` +
          `as ${made.role}.` : "This code has expired: get a new one.";
        if (s <= 0) clearInterval(timer);
      };
      tick();
      timer = setInterval(tick, 1000);
      setChildren(result,
        h("p", { class: "pairing-code", id: "pairing-code", text: made.code, "aria-label": `Pairing code ${made.code.split("").join(" ")}` }),
        h("img", { class: "pairing-qr", src: made.qr_svg, alt: `QR code of the pairing code ${made.code}`, width: 200, height: 200 }),
        left,
        h("p", { class: "sub", text: "On the phone: open this page's address and enter the code, or scan the QR code." }));
    } catch (err) {
      showError(error, err);
    }
  });
  setChildren(box, h("div", { class: "row" }, labelled("Role of the paired device", role), make), error, result);
  return () => clearInterval(timer);
}

async function users(box) {
  const error = errorLine();
  const list = h("ul", { class: "admin-list", id: "user-list" });
  const name = h("input", { id: "f-user-name", name: "name", required: true, maxlength: 64, autocomplete: "off" });
  const password = h("input", { id: "f-user-password", name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password" });
  const role = select("user-role", ["viewer", "operator", "admin"], "viewer");
  const add = h("form", { class: "row wrap" }, labelled("Name", name), labelled("Role", role), labelled("Password", password),
    h("button", { class: "btn", type: "submit", text: "Add user" }));
  async function load() {
    try {
      const rows = await send("GET", "/api/v2/auth/users");
      setChildren(list, rows.map((u) => {
        const remove = h("button", { class: "btn btn-small", type: "button", text: "Remove", disabled: u.name === access.user?.name });
        remove.addEventListener("click", async () => {
          try {
            await send("DELETE", `/api/v2/auth/users/${encodeURIComponent(u.name)}`);
            await load();
          } catch (err) {
            showError(error, err);
          }
        });
        const signOut = h("button", { class: "btn btn-small", type: "button", text: "Sign out everywhere" });
        signOut.addEventListener("click", async () => {
          try {
            await send("POST", `/api/v2/auth/users/${encodeURIComponent(u.name)}/sign-out`);
            if (u.name === access.user?.name) location.reload();
          } catch (err) {
            showError(error, err);
          }
        });
        return h("li", {}, h("strong", { text: u.name }), h("span", { class: "badge", text: u.role }),
          u.paired ? h("small", { text: "paired device" }) : null, h("span", { class: "spacer" }), signOut, remove);
      }));
    } catch (err) {
      showError(error, err);
    }
  }
  add.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, null);
    try {
      await send("POST", "/api/v2/auth/users", { name: name.value.trim(), role: role.value, password: password.value });
      name.value = "";
      password.value = "";
      await load();
    } catch (err) {
      showError(error, err);
    }
  });
  setChildren(box, list, add, error);
  await load();
}

async function tokens(box) {
  const error = errorLine();
  const list = h("ul", { class: "admin-list", id: "token-list" });
  const shown = h("div", { class: "token-shown", "aria-live": "polite" });
  const name = h("input", { id: "f-token-name", name: "name", required: true, maxlength: 64, autocomplete: "off", placeholder: "homeassistant" });
  const scope = select("token-scope", ["read", "control", "admin"], "read");
  const create = h("form", { class: "row wrap" }, labelled("Name", name), labelled("Scope", scope),
    h("button", { class: "btn", type: "submit", text: "Create token" }));
  async function load() {
    try {
      const rows = await send("GET", "/api/v2/auth/tokens");
      setChildren(list, rows.length ? rows.map((t) => {
        const revoke = h("button", { class: "btn btn-small", type: "button", text: "Revoke" });
        revoke.addEventListener("click", async () => {
          try {
            await send("DELETE", `/api/v2/auth/tokens/${t.id}`);
            await load();
          } catch (err) {
            showError(error, err);
          }
        });
        return h("li", {}, h("strong", { text: t.name }), h("span", { class: "badge", text: t.scope }),
          h("small", { text: t.last_used_at ? `last used ${new Date(t.last_used_at).toLocaleString()}` : "never used" }),
          h("span", { class: "spacer" }), revoke);
      }) : [h("li", { class: "sub", text: "No API tokens." })]);
    } catch (err) {
      showError(error, err);
    }
  }
  create.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, null);
    try {
      const made = await send("POST", "/api/v2/auth/tokens", { name: name.value.trim(), scope: scope.value });
      name.value = "";
      setChildren(shown, h("p", { text: `Token for ${made.name} (${made.scope}). It is shown only now: copy it into the ` +
        "program that will use it, as Authorization: Bearer <token>." }), h("code", { class: "token-value", text: made.token }));
      await load();
    } catch (err) {
      showError(error, err);
    }
  });
  setChildren(box, list, create, shown, error);
  await load();
}

/** The admin view (views.js mounts it like the others). */
export function adminView(ctx) {
  const pairBox = h("div", { class: "card" });
  const userBox = h("div", { class: "card" });
  const tokenBox = h("div", { class: "card" });
  ctx.main.append(h("div", { class: "view-head" }, h("h1", { tabindex: -1, text: "Admin" })),
    section("Pair a phone or tablet", pairBox), section("Users", userBox), section("API tokens", tokenBox));
  if (!access.user || access.user.role !== "admin") {
    setChildren(pairBox, h("p", { class: "sub", text: "Only admins manage users, tokens and pairing." }));
    return;
  }
  const stop = pairing(pairBox);
  const destroy = ctx.destroy.bind(ctx);
  ctx.destroy = () => {
    stop();
    destroy();
  };
  users(userBox);
  tokens(tokenBox);
}

// Trouble codes grouped by the device (node) that reports them: a section of the Diagnostics view,
// loaded only when the diagnostics feature runs. Data: GET /api/v2/diagnostics; refreshed when the
// WebSocket says a code changed ({"type": "diagnostics"}) and every 15 s in case a message was missed.

import { getJson, on, postJson } from "./state.js";
import { h, toast } from "./ui.js";

const STATUS_TEXT = { active: "Active", previously_active: "Previously active", cleared: "Cleared" };
const STATUS_BADGE = { active: "danger", previously_active: "warn", cleared: "off" };

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "—";
}

function codeRow(code) {
  const spn = code.spn_description ? `${code.spn_description} (SPN ${code.spn})` : `SPN ${code.spn}`;
  const fmi = code.fmi_description ? `${code.fmi_description} (FMI ${code.fmi})` : `FMI ${code.fmi}`;
  const lamp = code.red_lamp ? "red lamp" : code.yellow_lamp ? "yellow lamp" : null;
  return h("li", { class: "dtc", "data-code": code.id, "data-status": code.status },
    h("div", { class: "card-head" },
      h("strong", { text: spn }),
      h("span", { class: `badge badge-${STATUS_BADGE[code.status] || "off"}`, text: STATUS_TEXT[code.status] || code.status })),
    h("p", { class: "sub", text: [fmi, lamp].filter(Boolean).join(" · ") }),
    h("dl", { class: "kv" },
      h("dt", { text: "First seen" }), h("dd", { text: when(code.first_seen) }),
      h("dt", { text: "Last seen" }), h("dd", { text: when(code.last_seen) }),
      h("dt", { text: "Times active" }), h("dd", { text: String(code.count) }),
      code.occurrence_count !== null ? [h("dt", { text: "Node's count" }), h("dd", { text: String(code.occurrence_count) })] : null));
}

function deviceCard(device, codes) {
  const title = device.dsa_name || (device.protocol === "j1939" ? "J1939 node" : "Node");
  const details = [`address 0x${device.source_address.toString(16).toUpperCase().padStart(2, "0")}`];
  if (device.product) details.push(device.product);
  if (device.entities.length) details.push(device.entities.join(", "));
  return h("article", { class: "card", "data-device": `${device.protocol}:${device.source_address}` },
    h("div", { class: "card-head" }, h("h3", { text: title }),
      device.class !== "other" ? h("span", { class: "badge badge-warn", text: device.class === "chassis" ? "Chassis" : "Moves" }) : null),
    h("p", { class: "sub", text: details.join(" · ") }),
    h("ul", { class: "dtc-list" }, codes.map(codeRow)));
}

/** Build the trouble codes into `slot` (ctx: the page's ViewContext, for its timers). */
export function troubleCodes(ctx, slot) {
  const body = h("div", { class: "diagnostics" }, h("p", { class: "sub", text: "Loading…" }));
  const clear = h("button", { class: "btn btn-small", type: "button", text: "Clear history" });
  let armed = false;
  clear.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      clear.textContent = "Confirm: clear past codes";
      return;
    }
    armed = false;
    clear.textContent = "Clear history";
    try {
      await postJson("/api/v2/diagnostics/clear-history", {});
    } catch (err) {
      toast(`Could not clear the history: ${err.message}`);
    }
    load();
  });
  slot.replaceChildren(h("section", { class: "section", "aria-labelledby": "s-trouble-codes" },
    h("div", { class: "section-head" }, h("h2", { id: "s-trouble-codes", text: "Trouble codes by device" }), clear),
    body));

  let loading = null;
  async function load() {
    if (loading) return loading;
    loading = (async () => {
      let data;
      try {
        data = await getJson("/api/v2/diagnostics");
      } catch (err) {
        body.replaceChildren(h("p", { class: "empty", text: err.status === 404
          ? "Diagnostics is not enabled on this server (feature “diagnostics”)."
          : `Diagnostics are not available: ${err.message}` }));
        return;
      }
      const byId = new Map([...data.active, ...data.history].map((c) => [c.id, c]));
      const cards = data.devices.map((d) => deviceCard(d, d.codes.map((id) => byId.get(id)).filter(Boolean)));
      body.replaceChildren(...(cards.length ? cards : [h("p", { class: "empty", text: "No trouble codes reported." })]));
    })().finally(() => { loading = null; });
    return loading;
  }
  ctx.every(15000, load);
  ctx.timers.push(on("diagnostics", () => load()));
}

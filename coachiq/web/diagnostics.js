// The technician's view: trouble codes by device (when the diagnostics feature runs), server health in
// detail, the CAN bus, and devices heard but not mapped. Kept off the owner's views; reached from System.

import { empty, head, kv, section, statusBadge, table } from "./views.js";
import { getJson } from "./state.js";
import { fmtBytes, fmtDuration, h, isNum, setChildren } from "./ui.js";

function alertRows(alerts) {
  return alerts.length ? table("Active alerts", ["Priority", "Source", "Message"],
    alerts.map((a) => [String(a.priority || ""), String(a.source || ""), String(a.message || "")])) : empty("No active alerts.");
}

export function diagnostics(ctx) {
  const healthBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  const canBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  const unmappedBox = h("div", { class: "card" }, h("p", { class: "sub", text: "Loading…" }));
  // Filled by troublecodes.js, which is fetched only once the server says the diagnostics feature runs.
  const codesSlot = h("div");
  let codesLoaded = false;
  ctx.main.append(head("Diagnostics", "For a technician: trouble codes, the server, the CAN bus and unmapped devices."),
    codesSlot, section("Server", healthBox), section("CAN bus", canBox), section("Unmapped devices", unmappedBox));

  ctx.every(5000, async () => {
    let health;
    let info = null;
    try {
      [health, info] = await Promise.all([getJson("/health").catch((e) => e.body || Promise.reject(e)),
        getJson("/api/v2/system").catch(() => null)]);
    } catch (err) {
      setChildren(healthBox, empty(`Health is not available: ${err.message}`));
      return;
    }
    if (!codesLoaded && health.features?.diagnostics?.status === "running") {
      codesLoaded = true;
      import("./troublecodes.js").then((mod) => ctx.live && mod.troubleCodes(ctx, codesSlot));
    }
    const m = health.system_metrics || {};
    const rows = (obj) => Object.entries(obj || {}).map(([name, c]) => [[h("strong", { text: name }),
      c.detail ? h("small", { text: c.detail }) : null], statusBadge(c.status)]);
    setChildren(healthBox,
      h("div", { class: "card-head" }, h("h3", { text: "Server" }), statusBadge(health.status || "unknown")),
      kv([
        ["Version", health.version || info?.version || "—"],
        info ? ["Coach mapping", `${info.coach}${info.simulated ? " (simulated)" : ""}`] : null,
        ["Up", fmtDuration(m.uptime_s)],
        ["Memory", fmtBytes(m.rss_bytes)],
        ["CPU", isNum(m.cpu_percent) ? `${m.cpu_percent}\u202f%` : "—"],
        ["Database", `${fmtBytes(m.db_size_bytes)} · ${m.db_revision || "—"}`],
      ]),
      h("h3", { class: "sub", text: "Core services" }), table("Core services", ["Service", "Status"], rows(health.core_services)),
      h("h3", { class: "sub", text: "Features" }), table("Features", ["Feature", "Status"], rows(health.features)),
      h("h3", { class: "sub", text: "Alerts" }), alertRows(health.alerts || []));
  });

  ctx.every(5000, async () => {
    try {
      const [ifaces, stats] = await Promise.all([getJson("/api/v2/can/interfaces"), getJson("/api/v2/can/statistics")]);
      const rows = (ifaces.interfaces || []).map((i) => {
        const s = stats.interfaces?.[i.name] || {};
        return [i.name, `${i.interface} ${i.channel}`, statusBadge(i.state || "unknown"), String(s.rx_frames ?? "—"),
          String(s.tx_frames ?? "—"), String(s.errors ?? "—"), isNum(s.bus_load_percent) ? `${s.bus_load_percent.toFixed(1)}\u202f%` : "—"];
      });
      setChildren(canBox, table("CAN interfaces", ["Bus", "Interface", "State", "Received", "Sent", "Errors", "Load"], rows),
        kv([["Decoded frames", String(stats.decoded_frames ?? "—")], ["Decode errors", String(stats.decode_errors ?? "—")],
          ["Unknown DGNs", String(Object.keys(stats.unknown_dgns || {}).length)]]));
    } catch (err) {
      setChildren(canBox, empty(`CAN statistics are not available: ${err.message}`));
    }
  });

  ctx.every(10000, async () => {
    try {
      const body = await getJson("/api/v2/entities/unmapped");
      const list = body.unmapped || [];
      if (!list.length) {
        setChildren(unmappedBox, empty("Every device heard on the bus is mapped."));
        return;
      }
      setChildren(unmappedBox, h("p", { class: "sub", text: `${list.length} device(s) on the bus are not in the coach mapping.` }),
        table("Unmapped devices", ["DGN", "Instance", "Source", "Frames", "Suggested entry"], list.slice(0, 100).map((u) => [
          `${u.name || ""} 0x${Number(u.dgn).toString(16).toUpperCase()}`, String(u.instance ?? "—"), String(u.source_address),
          String(u.count), h("details", {}, h("summary", { text: "Show" }),
            h("pre", { text: typeof u.suggested === "string" ? u.suggested : JSON.stringify(u.suggested, null, 2) }))])));
    } catch (err) {
      setChildren(unmappedBox, empty(`Unmapped devices are not available: ${err.message}`));
    }
  });
}

// "All lights off" and lighting scenes: saved on the coach's server from the current lights, run with one tap.

import { empty, section } from "./views.js";
import { getJson, postJson, sendCommand, store } from "./state.js";
import { h, isNum, setChildren, toast as say } from "./ui.js";

const lights = () => [...store.entities.values()].filter((e) => e.type === "light");
const isLightOn = (e) => e.state.on === true;

/** Turn off every light of the coach that is on; resolves with how many did not confirm. */
export async function allLightsOff() {
  const on = lights().filter(isLightOn);
  const results = await Promise.all(on.map((e) => sendCommand(e.id, "turn_off")));
  return results.filter((r) => r.status !== "confirmed").length;
}

/** The current lights as a scene body: each on (at its level, for a dimmer) or off. */
function currentLights() {
  const out = {};
  for (const e of lights()) {
    const b = e.state.brightness;
    const dimmable = e.capabilities.includes("set_brightness");
    out[e.id] = isLightOn(e) && dimmable && isNum(b) && b >= 1 ? { on: true, brightness: Math.round(b) } : { on: isLightOn(e) };
  }
  return out;
}

/** The section with "All lights off", the saved scenes and a way to save the current lights as one. */
export function scenesSection(ctx) {
  const list = h("div", { class: "scene-list" }, empty("Loading scenes…"));
  const off = h("button", { type: "button", class: "btn btn-primary", id: "all-lights-off" }, "All lights off");
  off.addEventListener("click", async () => {
    const failed = await allLightsOff();
    say(failed ? `${failed} light(s) did not confirm they are off.` : "All lights are off.");
  });
  ctx.watch(() => {
    off.disabled = store.link !== "live" || !lights().some(isLightOn);
  });
  const name = h("input", { id: "scene-name", type: "text", maxlength: "40", autocomplete: "off",
    placeholder: "Night, Away, Arrive…" });
  const save = h("button", { type: "submit", class: "btn" }, "Save current lights");
  const form = h("form", { class: "row scene-form" },
    h("label", { class: "field grow", for: "scene-name" }, "New scene from the lights as they are now", name), save);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = name.value.trim();
    if (!text) return;
    try {
      await postJson("/api/v2/scenes", { name: text, lights: currentLights() }, { timeoutMs: 8000 });
      name.value = "";
      say(`Scene “${text}” saved.`);
      await load();
    } catch (err) {
      say(`The scene was not saved: ${err.message}`);
    }
  });

  async function run(scene) {
    try {
      const body = await postJson(`/api/v2/scenes/${encodeURIComponent(scene.id)}/run`, {}, { timeoutMs: 15000 });
      const failed = Object.values(body.results || {}).filter((r) => r !== "confirmed").length;
      say(failed ? `${scene.name}: ${failed} light(s) did not confirm.` : `${scene.name}: done.`);
    } catch (err) {
      say(`${scene.name} did not run: ${err.message}`);
    }
  }

  async function remove(scene) {
    try {
      const response = await fetch(`/api/v2/scenes/${encodeURIComponent(scene.id)}`, { method: "DELETE" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      say(`Scene “${scene.name}” deleted.`);
      await load();
    } catch (err) {
      say(`The scene was not deleted: ${err.message}`);
    }
  }

  async function load() {
    try {
      const body = await getJson("/api/v2/scenes");
      const scenes = body.scenes || [];
      setChildren(list, scenes.length ? h("ul", { class: "scenes" }, scenes.map((s) => h("li", {},
        h("button", { type: "button", class: "btn scene", "data-scene": s.id, onclick: () => run(s) }, s.name),
        h("button", { type: "button", class: "btn", "aria-label": `Delete ${s.name}`, onclick: () => remove(s) }, "Delete"))))
        : empty("No scenes yet: set the lights as you like them and save them as a scene."));
    } catch {
      setChildren(list, empty("Scenes are not available right now."));
    }
  }
  load();
  return section("Scenes", h("div", { class: "card" }, off, list, form));
}

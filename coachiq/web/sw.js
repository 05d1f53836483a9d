// The service worker: keeps a copy of the page so that, installed on a phone's home screen, it opens
// without the coach and says it is offline. Live data (/api, /health, the WebSocket) is never cached.

const CACHE = "coachiq-shell-v4";
const SHELL = "/";
const FILES = ["/app.js", "/state.js", "/ui.js", "/views.js", "/tanks.js", "/lights.js", "/power.js", "/climate.js",
  "/motion.js", "/controls.js", "/history.js", "/styles.css", "/scenes.js", "/settings.js", "/diagnostics.js",
  "/access.js", "/leveling.js", "/chassis.js", "/icon.svg", "/manifest.webmanifest"];
const LIVE = /^\/(api|health|healthz|readyz|metrics)(\/|$)/;

// The server's security headers go with the saved copy: it runs under the same policy as the page.
const KEPT_HEADERS = ["Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
  "Cross-Origin-Resource-Policy"];

/**
 * The page without what it carried when it was fetched (the coach's values, who was signed in), marked as
 * the saved copy.
 */
async function shellFrom(response) {
  const text = (await response.text())
    .replace(/<script type="application\/json" id="(entity|access)-snapshot">[\s\S]*?<\/script>\n?/g, "")
    .replace("<html lang=\"en\">", "<html lang=\"en\" data-offline-copy>");
  const headers = new Headers({ "Content-Type": "text/html; charset=utf-8" });
  for (const name of KEPT_HEADERS) if (response.headers.has(name)) headers.set(name, response.headers.get(name));
  return new Response(text, { headers });
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // The browser revalidates these against its own cache: after a page load they cost a 304 each.
    await cache.addAll(FILES.map((f) => new Request(f, { cache: "no-cache" })));
    const page = await fetch(SHELL, { cache: "no-cache" });
    if (page.ok) await cache.put(SHELL, await shellFrom(page));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || LIVE.test(url.pathname)) return;
  // Network first: the coach's page is always the newest; the saved copy only when the coach is out of reach.
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) {
        if (request.mode === "navigate") await cache.put(SHELL, await shellFrom(response.clone()));
        else await cache.put(request, response.clone());
      }
      return response;
    } catch (err) {
      const saved = await cache.match(request.mode === "navigate" ? SHELL : request, { ignoreSearch: true });
      if (saved) return saved;
      throw err;
    }
  })());
});
